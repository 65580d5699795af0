//! Progress on a terminal: one bar for images, with the bytes moved and the rate. Drawn on
//! stderr only when it is a terminal (indicatif hides itself otherwise), cleared at the end so
//! the result lines on stdout stay the record.

use crate::report::human_bytes;
use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

pub struct Progress {
    bar: ProgressBar,
    ticker: Option<tokio::task::JoinHandle<()>>,
}

impl Progress {
    /// A bar over `images`, reading `bytes` (the engine's counter) ten times a second. Hidden
    /// when `visible` is false or stderr is not a terminal.
    pub fn start(images: u64, bytes: Arc<AtomicU64>, visible: bool) -> Progress {
        let target = if visible {
            ProgressDrawTarget::stderr()
        } else {
            ProgressDrawTarget::hidden()
        };
        let bar = ProgressBar::with_draw_target(Some(images), target);
        bar.set_style(
            ProgressStyle::with_template(
                "{spinner} [{elapsed_precise}] {bar:30} {pos}/{len} images  {msg}",
            )
            .unwrap_or_else(|_| ProgressStyle::default_bar()),
        );
        let ticker = (!bar.is_hidden()).then(|| {
            let bar = bar.clone();
            tokio::spawn(async move {
                let t0 = Instant::now();
                loop {
                    tokio::time::sleep(Duration::from_millis(100)).await;
                    let moved = bytes.load(Ordering::Relaxed);
                    let secs = t0.elapsed().as_secs_f64().max(0.001);
                    bar.set_message(format!(
                        "{} moved, {}/s",
                        human_bytes(moved),
                        human_bytes((moved as f64 / secs) as u64)
                    ));
                    bar.tick();
                }
            })
        });
        Progress { bar, ticker }
    }

    /// One more image finished.
    pub fn image_done(&self) {
        self.bar.inc(1);
    }

    /// Remove the bar.
    pub fn finish(self) {
        if let Some(t) = &self.ticker {
            t.abort();
        }
        self.bar.finish_and_clear();
    }
}
