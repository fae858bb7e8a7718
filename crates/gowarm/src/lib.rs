//! The gowarm engine: analyze a Go module, detect what is cold in its ModCache and
//! BuildCache, fetch it from ordered sources, verify it, and install it atomically; and
//! bake the warm caches those sources serve.
//!
//! The CLI and the C ABI are thin layers over [`Engine`].

pub mod analyze;
pub mod bake;
pub mod config;
pub mod engine;
pub mod error;
pub mod git;
pub mod goenv;
pub mod held;
pub mod hook;
pub mod lock;
pub mod manifest;
pub mod owner;
pub mod plan;
pub mod profile;
pub mod record;
pub mod report;
pub mod scratch;
pub mod serve;
pub mod source;
pub mod target;
pub mod verify;
pub mod warm;

pub use bake::{BakeReport, BakeRequest, SetRequest};
pub use config::Config;
pub use engine::{Engine, Environment, WarmControl};
pub use error::{Error, Result};
pub use manifest::Manifest;
pub use plan::{Plan, SetChoice};
pub use profile::BuildProfile;
pub use report::{Outcome, Report};
pub use source::Source;
pub use verify::VerifyReport;
pub use warm::{Cancel, Phase, Progress};
