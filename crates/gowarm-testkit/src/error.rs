//! Errors of test-support operations; each names the file, module or command concerned.

use std::io;
use std::path::PathBuf;

/// Result of a testkit operation.
pub type Result<T, E = TestkitError> = std::result::Result<T, E>;

/// A failed test-support operation.
#[derive(Debug, thiserror::Error)]
pub enum TestkitError {
    /// A file-system call failed.
    #[error("{op} {}: {source}", path.display())]
    Io {
        /// What was being done.
        op: &'static str,
        /// The file or directory concerned.
        path: PathBuf,
        /// The operating system's error.
        #[source]
        source: io::Error,
    },
    /// A command could not be started.
    #[error("cannot run {command}: {source}")]
    Spawn {
        /// The command line.
        command: String,
        /// Why it did not start.
        #[source]
        source: io::Error,
    },
    /// A command exited unsuccessfully.
    #[error("{command} failed ({status}):\n{stderr}")]
    CommandFailed {
        /// The command line.
        command: String,
        /// How it exited.
        status: String,
        /// What it printed on stderr.
        stderr: String,
    },
    /// A module could not be escaped, zipped or hashed.
    #[error("module {module}: {what}: {source}")]
    Module {
        /// `path@version`.
        module: String,
        /// The step that failed.
        what: &'static str,
        /// The underlying error.
        #[source]
        source: Box<dyn std::error::Error + Send + Sync>,
    },
    /// A module source tree that the corpus needs is not installed.
    #[error("{} is missing: install Debian package {package} (scripts/test does)", path.display())]
    MissingSource {
        /// The directory that should hold the sources.
        path: PathBuf,
        /// The Debian package providing it.
        package: &'static str,
    },
    /// Test data is inconsistent with itself (a cached corpus, a committed go.sum).
    #[error("{}: {message}", path.display())]
    BadData {
        /// The file that is wrong.
        path: PathBuf,
        /// What is wrong with it.
        message: String,
    },
}

impl TestkitError {
    /// Wraps an I/O error with the operation and path it concerned.
    pub(crate) fn io(op: &'static str, path: impl Into<PathBuf>) -> impl FnOnce(io::Error) -> Self {
        let path = path.into();
        move |source| TestkitError::Io { op, path, source }
    }

    /// Wraps a module-level failure.
    pub(crate) fn module<E>(
        module: &impl std::fmt::Display,
        what: &'static str,
    ) -> impl FnOnce(E) -> Self
    where
        E: std::error::Error + Send + Sync + 'static,
    {
        let module = module.to_string();
        move |source| TestkitError::Module {
            module,
            what,
            source: Box::new(source),
        }
    }
}
