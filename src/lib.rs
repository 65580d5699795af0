//! registry-mirror: mirror container images between registries with a native Registry V2 / OCI
//! engine. The binary calls [`app::main`]; everything else is internal (`pub(crate)`), so the
//! compiler reports what is unused. `docs/ARCHITECTURE.md` walks the layers:
//!
//! - `cli`, `app`, `commands`: the command line, dispatch and exit codes, one module a command;
//! - `settings`: flags, environment and config file resolved once into typed settings, with the
//!   per-host table (insecure, CA, endpoint, credentials);
//! - `input`: what users write (lists, the issue form, the config file, tag filters);
//! - `plan`: inputs become a run plan (naming, sync listings, shards);
//! - `pipeline`: one `execute(plan, settings)` owning the engine, progress, state, report,
//!   outputs, notifications and the exit code;
//! - `copy`: the engine (one image, many images; sources and targets: registries, layouts);
//! - `registry`, `layout`: the Registry V2 client and OCI layouts on disk;
//! - `report`, `notify`, `github`, `render`: what a run tells (JSON, job summary, GitHub
//!   Actions conventions, chat messages, issue comments, templates and escaping);
//! - leaves used everywhere: `reference` (the reference grammar), `digest` (content digests), `suggest` (nearest names), `untrusted` (outside text made
//!   inert), `bounded` (bounded file reads), `retry`, `hints`, `env`, `output`, `usage`.

pub mod app;
pub(crate) mod bounded;
pub(crate) mod cli;
pub(crate) mod commands;
pub(crate) mod copy;
pub(crate) mod digest;
pub(crate) mod env;
pub(crate) mod github;
pub(crate) mod hints;
pub(crate) mod input;
pub(crate) mod layout;
pub(crate) mod notify;
pub(crate) mod output;
pub(crate) mod pipeline;
pub(crate) mod plan;
pub(crate) mod progress;
pub(crate) mod reference;
pub(crate) mod registry;
pub(crate) mod render;
pub(crate) mod report;
pub(crate) mod retry;
pub(crate) mod settings;
pub(crate) mod suggest;
pub(crate) mod untrusted;
pub(crate) mod usage;
