//! `plan --shards N`: the GitHub Actions matrix that splits a run.

use crate::input::read::read_list;
use crate::usage::UsageError;
use std::io::Write;

/// `plan --shards N`: the matrix, on stdout and (under Actions) in the step output `matrix`.
pub(crate) fn plan(cmd: crate::cli::PlanCmd) -> Result<u8, UsageError> {
    let images = if let Some(path) = &cmd.config {
        let file = path.display().to_string();
        let text = crate::bounded::read_to_string(path, &crate::bounded::CONFIG)?;
        let config = crate::input::config::parse(&file, &text)
            .map_err(|e| UsageError::new(e.to_string()))?;
        let mut total = Some(0usize);
        for job in config
            .jobs
            .iter()
            .filter(|j| cmd.job.is_empty() || cmd.job.contains(&j.name))
        {
            match &job.images {
                Some(list) => {
                    let n = crate::input::list::parse(&list.lines().join("\n"), 10_000)
                        .map_err(|e| {
                            UsageError::new(format!(
                                "{file}: job `{}`: {}",
                                job.name,
                                e.to_string().trim_end()
                            ))
                        })?
                        .entries
                        .len();
                    total = total.map(|t| t + n);
                }
                // A sync job's tag count is only known after listing: every shard runs.
                None => total = None,
            }
        }
        total
    } else if cmd.list.file.is_some() || !cmd.list.images.is_empty() {
        let text = read_list(&cmd.list.source())?;
        let list = crate::input::list::parse(&text, cmd.list.max_images)
            .map_err(|e| UsageError::new(e.to_string().trim_end().to_string()))?;
        Some(list.entries.len())
    } else {
        None
    };
    let matrix = crate::plan::shard::matrix(cmd.shards as usize, images);
    crate::output::line(&matrix.to_string());
    if crate::report::actions::enabled() {
        if let Some(path) = crate::env::var(crate::env::GITHUB_OUTPUT) {
            std::fs::OpenOptions::new()
                .create(true)
                .append(true)
                .open(&path)
                .and_then(|mut f| writeln!(f, "matrix={matrix}"))
                .map_err(|e| UsageError::new(format!("cannot append to `GITHUB_OUTPUT`: {e}")))?;
        }
    }
    Ok(0)
}
