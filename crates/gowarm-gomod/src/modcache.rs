//! [`ModCache`]: a GOMODCACHE tree, read the way Go reads it and written the way Go
//! can safely share.
//!
//! Layout (cmd/go/internal/modfetch/cache.go): `cache/download/<esc path>/@v/<esc
//! version>.{mod,info,zip,ziphash,lock,partial}` and the extracted tree
//! `<esc path>@<esc version>/`. Go counts a tree as present only when the directory
//! exists, no `.partial` marker exists and `.ziphash` exists (`DownloadDir`); it never
//! re-hashes an extracted tree, so installs here verify before anything becomes
//! visible and publish `.ziphash` last.

mod install;
pub use install::remove_tree;
mod lock;

use std::io::{self, Write};
use std::path::{Path, PathBuf};
use std::time::Duration;

use crate::dirhash::{self, DirHashError};
use crate::escape::{self, EscapeError};
use crate::gosum;
use crate::modpath::PathError;
use crate::modzip::ZipError;
use crate::version::ModuleVersion;

/// A Go module cache (GOMODCACHE) rooted at a directory.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ModCache {
    root: PathBuf,
    /// How long an install waits for Go's per-version lock; `None` waits like Go does.
    lock_timeout: Option<Duration>,
}

/// What the cache holds for one module version.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ModuleState {
    /// Whether `<v>.mod` exists.
    pub has_mod: bool,
    /// The state of the extracted source tree.
    pub tree: TreeState,
}

/// The state of a module's extracted tree, as Go's `DownloadDir` judges it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TreeState {
    /// The tree exists, no `.partial` marker exists, and `.ziphash` holds this hash.
    Complete {
        /// The `h1:` hash recorded in `.ziphash`.
        ziphash: String,
    },
    /// Something is there that Go would not use: a tree without `.ziphash`, a
    /// `.partial` marker, a non-directory in the tree's place, or an unreadable
    /// `.ziphash`. Installing replaces it.
    Incomplete,
    /// No tree.
    Absent,
}

/// What an install did.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct InstallStats {
    /// Files written (0 when already present).
    pub files: u64,
    /// Bytes written (0 when already present).
    pub bytes: u64,
    /// Whether a complete tree with the expected hash was already there (possibly
    /// installed by a concurrent process while this one waited for the lock).
    pub already_present: bool,
}

/// A failure to read the module cache.
#[derive(Debug, thiserror::Error)]
pub enum ModCacheError {
    /// The module path or version has no file-system form.
    #[error(transparent)]
    Escape(#[from] EscapeError),
    /// A file-system operation failed.
    #[error("module cache: {path}: {source}")]
    Io {
        /// The file or directory involved.
        path: PathBuf,
        /// The underlying error.
        source: io::Error,
    },
}

/// A failure to install into the module cache. Whatever the error, nothing that Go
/// would use was left behind.
#[derive(Debug, thiserror::Error)]
pub enum InstallError {
    /// The module version is not one Go would cache (invalid path, non-canonical version).
    #[error("cannot install {module}: {source}")]
    InvalidModule {
        /// `path@version`.
        module: String,
        /// What is wrong.
        source: PathError,
    },
    /// The expected hash is not a well-formed `h1:` hash.
    #[error("cannot install {module}: expected hash {hash:?} is malformed: {reason}")]
    InvalidHash {
        /// `path@version`.
        module: String,
        /// The hash given.
        hash: String,
        /// Why it is malformed.
        reason: String,
    },
    /// The module path or version has no file-system form.
    #[error(transparent)]
    Escape(#[from] EscapeError),
    /// The source's content hashes differently from what go.sum expects.
    #[error("{source_desc}: content of {module} does not match go.sum (expected {expected}, got {actual}); nothing was installed")]
    HashMismatch {
        /// `path@version` (or `path@version/go.mod`).
        module: String,
        /// The hash from go.sum.
        expected: String,
        /// The hash of the source's content.
        actual: String,
        /// Which source was read (a zip file, a directory, "go.mod content").
        source_desc: String,
    },
    /// The cache already holds a complete tree whose `.ziphash` disagrees with go.sum;
    /// Go would refuse it, and gowarm does not replace a tree other processes may use.
    #[error("{tree}: cached {module} has hash {cached}, but go.sum expects {expected}; remove the tree and its .ziphash (or run 'go clean -modcache') and retry")]
    CachedMismatch {
        /// `path@version`.
        module: String,
        /// The hash in `.ziphash`.
        cached: String,
        /// The expected hash.
        expected: String,
        /// The cached tree.
        tree: PathBuf,
    },
    /// The zip failed the module zip checks or could not be read.
    #[error(transparent)]
    BadZip(#[from] ZipError),
    /// A file name cannot be hashed.
    #[error(transparent)]
    Hash(#[from] DirHashError),
    /// The source tree holds something other than regular files and directories.
    #[error(
        "{path}: source tree contains a {kind}, which module trees must not; nothing was installed"
    )]
    SourceNotRegular {
        /// The offending entry.
        path: PathBuf,
        /// "symbolic link" or "special file".
        kind: &'static str,
    },
    /// A source tree file whose name Go would not allow in a module.
    #[error("{path}: {reason}; nothing was installed")]
    InvalidSourceName {
        /// The offending file.
        path: PathBuf,
        /// Which rule it breaks.
        reason: String,
    },
    /// A file-system operation failed.
    #[error("module cache: {path}: {source}")]
    Io {
        /// The file or directory involved.
        path: PathBuf,
        /// The underlying error.
        source: io::Error,
    },
    /// Go's per-version lock stayed held by another process for the whole timeout.
    #[error("{lock_file}: still locked by another process after {waited:?} (a concurrent 'go' download?); retry later")]
    Locked {
        /// The lock file.
        lock_file: PathBuf,
        /// How long this install waited.
        waited: Duration,
    },
}

impl From<ModCacheError> for InstallError {
    fn from(e: ModCacheError) -> Self {
        match e {
            ModCacheError::Escape(e) => InstallError::Escape(e),
            ModCacheError::Io { path, source } => InstallError::Io { path, source },
        }
    }
}

pub(crate) fn io_err(path: &Path) -> impl FnOnce(io::Error) -> InstallError + '_ {
    move |source| InstallError::Io {
        path: path.to_path_buf(),
        source,
    }
}

impl ModCache {
    /// A module cache rooted at `root` (what `go env GOMODCACHE` prints).
    pub fn new(root: impl Into<PathBuf>) -> Self {
        Self {
            root: root.into(),
            lock_timeout: None,
        }
    }

    /// Makes installs give up with [`InstallError::Locked`] after waiting `timeout` for
    /// Go's per-version lock, instead of waiting as long as it takes.
    pub fn with_lock_timeout(mut self, timeout: Duration) -> Self {
        self.lock_timeout = Some(timeout);
        self
    }

    /// The cache's root directory.
    pub fn root(&self) -> &Path {
        &self.root
    }

    /// `<root>/cache/download/<escaped path>/@v`, where `.mod`, `.info`, `.zip`,
    /// `.ziphash` and `.lock` files live.
    pub fn download_dir(&self, m: &ModuleVersion) -> Result<PathBuf, EscapeError> {
        let esc = escape::escape_path(&m.path)?;
        Ok(self.root.join("cache/download").join(esc).join("@v"))
    }

    /// `<root>/<escaped path>@<escaped version>`, the extracted source tree.
    pub fn tree_dir(&self, m: &ModuleVersion) -> Result<PathBuf, EscapeError> {
        let esc = escape::escape_path(&m.path)?;
        let ver = escape::escape_version(&m.version)?;
        Ok(self.root.join(format!("{esc}@{ver}")))
    }

    /// `<download dir>/<escaped version>.<suffix>` (Go's `CachePath`).
    pub fn cache_file(&self, m: &ModuleVersion, suffix: &str) -> Result<PathBuf, EscapeError> {
        let ver = escape::escape_version(&m.version)?;
        Ok(self.download_dir(m)?.join(format!("{ver}.{suffix}")))
    }

    /// Reports what the cache holds for `m`, judging the tree as Go's `DownloadDir` does.
    pub fn state(&self, m: &ModuleVersion) -> Result<ModuleState, ModCacheError> {
        let mod_file = self.cache_file(m, "mod")?;
        let has_mod = match std::fs::metadata(&mod_file) {
            Ok(meta) => meta.is_file(),
            Err(e) if e.kind() == io::ErrorKind::NotFound => false,
            Err(source) => {
                return Err(ModCacheError::Io {
                    path: mod_file,
                    source,
                })
            }
        };
        Ok(ModuleState {
            has_mod,
            tree: self.tree_state(m)?,
        })
    }

    fn tree_state(&self, m: &ModuleVersion) -> Result<TreeState, ModCacheError> {
        let tree = self.tree_dir(m)?;
        let io = |path: &Path| {
            let path = path.to_path_buf();
            move |source| ModCacheError::Io { path, source }
        };
        // os.Stat follows links: a tree that is a symlink into a warm image counts.
        match std::fs::metadata(&tree) {
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(TreeState::Absent),
            Err(e) => return Err(io(&tree)(e)),
            Ok(meta) if !meta.is_dir() => return Ok(TreeState::Incomplete),
            Ok(_) => {}
        }
        let partial = self.cache_file(m, "partial")?;
        match std::fs::metadata(&partial) {
            Ok(_) => return Ok(TreeState::Incomplete),
            Err(e) if e.kind() == io::ErrorKind::NotFound => {}
            Err(e) => return Err(io(&partial)(e)),
        }
        let ziphash = self.cache_file(m, "ziphash")?;
        match std::fs::read(&ziphash) {
            Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(TreeState::Incomplete),
            Err(e) => Err(io(&ziphash)(e)),
            Ok(data) => {
                // Go trims space and would re-create a malformed ziphash from the zip
                // (fetch.go checkMod); gowarm treats it as incomplete and reinstalls.
                let text = String::from_utf8_lossy(&data).trim().to_string();
                if gosum::check_h1(&text).is_ok() {
                    Ok(TreeState::Complete { ziphash: text })
                } else {
                    Ok(TreeState::Incomplete)
                }
            }
        }
    }

    /// Whether `.ziphash` for `m` exists and records exactly `h1`.
    pub fn ziphash_matches(&self, m: &ModuleVersion, h1: &str) -> Result<bool, ModCacheError> {
        let path = self.cache_file(m, "ziphash")?;
        match std::fs::read(&path) {
            Ok(data) => Ok(String::from_utf8_lossy(&data).trim() == h1),
            Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(false),
            Err(source) => Err(ModCacheError::Io { path, source }),
        }
    }

    /// Verifies go.mod content against its go.sum `/go.mod` hash (when given) and writes
    /// `<v>.mod` atomically; returns the bytes written.
    pub fn install_gomod(
        &self,
        m: &ModuleVersion,
        content: &[u8],
        expected_gomod_h1: Option<&str>,
    ) -> Result<u64, InstallError> {
        check_module(m)?;
        if let Some(expected) = expected_gomod_h1 {
            check_hash(m, expected)?;
            let actual = dirhash::hash_gomod(content);
            if actual != expected {
                return Err(InstallError::HashMismatch {
                    module: format!("{m}/go.mod"),
                    expected: expected.into(),
                    actual,
                    source_desc: "go.mod content".into(),
                });
            }
        }
        let path = self.cache_file(m, "mod")?;
        write_atomic(&path, content)?;
        Ok(content.len() as u64)
    }

    /// Writes `<v>.info` (the proxy's JSON version info) atomically.
    pub fn install_info(&self, m: &ModuleVersion, content: &[u8]) -> Result<(), InstallError> {
        check_module(m)?;
        let path = self.cache_file(m, "info")?;
        write_atomic(&path, content)
    }
}

pub(crate) fn check_module(m: &ModuleVersion) -> Result<(), InstallError> {
    m.check().map_err(|source| InstallError::InvalidModule {
        module: m.to_string(),
        source,
    })
}

pub(crate) fn check_hash(m: &ModuleVersion, h1: &str) -> Result<(), InstallError> {
    gosum::check_h1(h1).map_err(|reason| InstallError::InvalidHash {
        module: m.to_string(),
        hash: h1.into(),
        reason,
    })
}

/// Writes `path` by writing a temporary file in the same directory and renaming it
/// over `path`, so readers see the old content or the new, never a part (Go's
/// `writeDiskCache` does the same, with `<name><random>.tmp` names).
pub(crate) fn write_atomic(path: &Path, content: &[u8]) -> Result<(), InstallError> {
    let dir = path.parent().unwrap_or(Path::new("."));
    std::fs::create_dir_all(dir).map_err(io_err(dir))?;
    let base = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let mut tmp = tempfile::Builder::new()
        .prefix(&base)
        .suffix(".tmp")
        .tempfile_in(dir)
        .map_err(io_err(dir))?;
    tmp.write_all(content).map_err(io_err(tmp.path()))?;
    set_mode(tmp.as_file(), 0o644).map_err(io_err(path))?;
    tmp.persist(path).map_err(|e| InstallError::Io {
        path: path.to_path_buf(),
        source: e.error,
    })?;
    Ok(())
}

#[cfg(unix)]
pub(crate) fn set_mode(f: &std::fs::File, mode: u32) -> io::Result<()> {
    use std::os::unix::fs::PermissionsExt;
    f.set_permissions(std::fs::Permissions::from_mode(mode))
}

#[cfg(not(unix))]
pub(crate) fn set_mode(f: &std::fs::File, mode: u32) -> io::Result<()> {
    let mut perms = f.metadata()?.permissions();
    perms.set_readonly(mode & 0o222 == 0);
    f.set_permissions(perms)
}

#[cfg(test)]
mod tests;
