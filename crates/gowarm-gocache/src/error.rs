//! Errors of build-cache operations; each names the file it is about.

use std::io;
use std::path::PathBuf;

use crate::entry::EntryError;
use crate::id::Id;

/// A failed build-cache operation.
#[derive(Debug, thiserror::Error)]
pub enum CacheError {
    /// A file-system call failed.
    #[error("{op} {}: {source}", path.display())]
    Io {
        /// What was being done ("create directory", "read", "rename", …).
        op: &'static str,
        /// The file or directory it was done to.
        path: PathBuf,
        /// The operating system's error.
        #[source]
        source: io::Error,
    },
    /// The cache root exists but is not a directory.
    #[error("build cache {}: not a directory", path.display())]
    NotADirectory {
        /// The path given as the cache root.
        path: PathBuf,
    },
    /// The action entry that an operation needs is absent.
    #[error("build cache action entry {}: not found", path.display())]
    MissingEntry {
        /// Path of the `-a` file.
        path: PathBuf,
    },
    /// The action entry that an operation needs is not one Go would read.
    #[error("build cache action entry {}: {source}", path.display())]
    MalformedEntry {
        /// Path of the `-a` file.
        path: PathBuf,
        /// What is wrong with it.
        #[source]
        source: EntryError,
    },
    /// The output an action entry names is absent.
    #[error("build cache output {}: not found", path.display())]
    MissingOutput {
        /// Path of the `-d` file.
        path: PathBuf,
    },
    /// Content does not hash to the output ID it is meant to have.
    #[error("{}: content hashes to {actual}, want {expected}", path.display())]
    HashMismatch {
        /// The file whose content was hashed.
        path: PathBuf,
        /// The output ID it should have had.
        expected: Id,
        /// What it hashed to.
        actual: Id,
    },
    /// Content does not have the size its action entry records.
    #[error("{}: {actual} bytes, want {expected}", path.display())]
    SizeMismatch {
        /// The file that was measured.
        path: PathBuf,
        /// The size it should have had.
        expected: u64,
        /// The size it had (for a longer source, at least this).
        actual: u64,
    },
    /// An executable output directory (`-d` dir) does not hold exactly one file.
    #[error("build cache output {}: invalid executable entry", path.display())]
    InvalidExecutableEntry {
        /// Path of the `-d` directory.
        path: PathBuf,
    },
    /// An entry to be written cannot be written in Go's format.
    #[error("action entry for {action_id}: {source}")]
    InvalidEntry {
        /// The action the entry was for.
        action_id: Id,
        /// Why it cannot be written.
        #[source]
        source: EntryError,
    },
}

impl CacheError {
    /// Wraps an I/O error with the operation and the path it concerned.
    pub(crate) fn io(op: &'static str, path: impl Into<PathBuf>) -> impl FnOnce(io::Error) -> Self {
        let path = path.into();
        move |source| CacheError::Io { op, path, source }
    }

    /// True when content was refused because it is not what it claims to be (wrong
    /// hash or size), as opposed to an I/O failure.
    pub fn is_mismatch(&self) -> bool {
        matches!(
            self,
            CacheError::HashMismatch { .. } | CacheError::SizeMismatch { .. }
        )
    }

    /// The file or directory the error is about, when there is one.
    pub fn path(&self) -> Option<&std::path::Path> {
        match self {
            CacheError::Io { path, .. }
            | CacheError::NotADirectory { path }
            | CacheError::MissingEntry { path }
            | CacheError::MalformedEntry { path, .. }
            | CacheError::MissingOutput { path }
            | CacheError::HashMismatch { path, .. }
            | CacheError::SizeMismatch { path, .. }
            | CacheError::InvalidExecutableEntry { path } => Some(path),
            CacheError::InvalidEntry { .. } => None,
        }
    }
}
