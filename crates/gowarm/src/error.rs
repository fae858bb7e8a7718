//! The engine's error type.

use std::path::PathBuf;

/// Everything that can stop an engine call; per-item source failures are not errors but
/// are counted in the [`Report`](crate::Report).
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The configuration file or an override is invalid.
    #[error("configuration {origin}: {message}")]
    Config {
        /// Where the bad value came from (a file path or an environment variable).
        origin: String,
        /// What is wrong and how to fix it.
        message: String,
    },
    /// `go` could not be run or printed something unexpected.
    #[error("running `{command}`: {message}")]
    Go {
        /// The command line that failed.
        command: String,
        /// What went wrong, including Go's own stderr where there is one.
        message: String,
    },
    /// The module directory cannot be analyzed (missing or invalid go.mod/go.sum).
    #[error("{0}")]
    Analyze(String),
    /// A source specification or source root is unusable.
    #[error("source {name}: {message}")]
    Source {
        /// The source's configured name.
        name: String,
        /// What is wrong and how to fix it.
        message: String,
    },
    /// A go.mod could not be parsed.
    #[error(transparent)]
    GoMod(#[from] gowarm_gomod::gomod::GoModError),
    /// A go.sum could not be parsed.
    #[error(transparent)]
    GoSum(#[from] gowarm_gomod::gosum::GoSumError),
    /// The module cache could not be read or written.
    #[error(transparent)]
    ModCache(#[from] gowarm_gomod::modcache::ModCacheError),
    /// The build cache could not be read or written.
    #[error(transparent)]
    BuildCache(#[from] gowarm_gocache::CacheError),
    /// The GOCACHEPROG recorder failed or its record is unreadable.
    #[error(transparent)]
    CacheProg(#[from] gowarm_gocache::cacheprog::CacheProgError),
    /// A manifest could not be read or written.
    #[error("manifest {path}: {message}")]
    Manifest {
        /// The manifest file.
        path: PathBuf,
        /// What is wrong.
        message: String,
    },
    /// A filesystem operation failed.
    #[error("{action} {path}: {source}")]
    Io {
        /// What was being done ("reading", "creating", …).
        action: &'static str,
        /// The path it was done to.
        path: PathBuf,
        /// The underlying error.
        #[source]
        source: std::io::Error,
    },
    /// A bake step failed.
    #[error("bake: {0}")]
    Bake(String),
    /// A Git repository could not be fetched, or a revision or module in it was not found.
    #[error("git {url}: {message}")]
    Git {
        /// The repository URL, credentials removed.
        url: String,
        /// What failed, what was tried, and how to fix it.
        message: String,
    },
    /// The request cannot be served as asked (an unknown warm set, say).
    #[error("{0}")]
    Request(String),
    /// Files could not be given to the configured owner.
    #[error("{0}")]
    Owner(String),
    /// The sibling server failed (bind, I/O).
    #[error("serve: {0}")]
    Serve(String),
    /// The call was cancelled or its deadline passed before it could start its work.
    #[error("stopped: {0}")]
    Stopped(String),
    /// Another process holds a lock and the caller asked not to wait.
    #[error("{0}")]
    Locked(String),
}

impl Error {
    /// An [`Error::Io`] for `action` on `path`.
    pub fn io(action: &'static str, path: impl Into<PathBuf>, source: std::io::Error) -> Self {
        Error::Io {
            action,
            path: path.into(),
            source,
        }
    }
}

/// Describes a command that exited unsuccessfully: its status and what it printed.
pub(crate) fn failed_command(out: &std::process::Output) -> String {
    let stderr = String::from_utf8_lossy(&out.stderr);
    let stderr = stderr.trim();
    if stderr.is_empty() {
        format!("{} (it printed nothing on stderr)", out.status)
    } else {
        format!("{}:\n{stderr}", out.status)
    }
}

/// The engine's result type.
pub type Result<T, E = Error> = std::result::Result<T, E>;
