//! Installing extracted module trees so that a process killed at any point, or a
//! concurrent `go` command, never sees a tree Go would use with unverified content.
//!
//! The protocol, under Go's per-version lock (see `lock.rs`):
//! 1. re-check the state: another process may have finished the same install;
//! 2. remove stale `<tree>.tmp-*` directories and any incomplete tree (Go's own
//!    `unzip` in modfetch/fetch.go does the same, and only the lock holder may);
//! 3. write every file into `<tree>.tmp-<random>` next to the tree, hashing each file
//!    while writing it, and compare the resulting `h1:` with go.sum;
//! 4. on a match make files 0444 and directories 0555 (what Go leaves without
//!    `-modcacherw`), rename the directory into place, remove a stale `.partial`,
//!    and write `.ziphash` last (temp file + rename, the hash with no newline, as
//!    fetch.go `hashZip` writes it).
//!
//! Go treats a tree without `.ziphash` as absent (cache.go `DownloadDir`), so until
//! step 4 ends nothing is visible to Go.

use std::fs::{File, OpenOptions};
use std::io::{self, Read, Write};
use std::path::{Path, PathBuf};

use sha2::{Digest, Sha256};

use super::{check_hash, check_module, io_err, lock, set_mode, write_atomic};
use super::{InstallError, InstallStats, ModCache, TreeState};
use crate::dirhash::{self, Hash1};
use crate::modpath;
use crate::modzip::{self, DeclaredSizeReader, Limits, ZipContents, ZipError};
use crate::version::ModuleVersion;

/// What filling a temporary tree produced.
struct Filled {
    h1: String,
    files: u64,
    bytes: u64,
}

impl ModCache {
    /// Installs `m`'s tree from a module zip after checking the zip (module zip rules)
    /// and verifying its content against `expected_h1` (go.sum's hash).
    pub fn install_from_zip(
        &self,
        m: &ModuleVersion,
        zip: &Path,
        expected_h1: &str,
    ) -> Result<InstallStats, InstallError> {
        check_module(m)?;
        check_hash(m, expected_h1)?;
        if let Some(done) = self.already_installed(m, expected_h1)? {
            return Ok(done);
        }
        let (mut archive, contents) = modzip::open_checked(zip, m, &Limits::GO)?;
        let desc = format!("zip file {}", zip.display());
        self.install_locked(m, expected_h1, &desc, |tmp| {
            extract_zip(&mut archive, &contents, zip, tmp)
        })
    }

    /// Installs `m`'s tree by copying an already extracted module directory (for
    /// example a read-only warm image), verifying the copy against `expected_h1`.
    ///
    /// The source must hold only regular files and directories. Its hash is Go's
    /// `HashDir`, which equals the zip's hash unless the zip had directory entries.
    pub fn install_from_tree(
        &self,
        m: &ModuleVersion,
        tree: &Path,
        expected_h1: &str,
    ) -> Result<InstallStats, InstallError> {
        check_module(m)?;
        check_hash(m, expected_h1)?;
        if let Some(done) = self.already_installed(m, expected_h1)? {
            return Ok(done);
        }
        let meta = std::fs::metadata(tree).map_err(io_err(tree))?;
        if !meta.is_dir() {
            return Err(InstallError::Io {
                path: tree.to_path_buf(),
                source: io::Error::new(io::ErrorKind::NotADirectory, "not a directory"),
            });
        }
        let desc = format!("directory {}", tree.display());
        let prefix = format!("{}@{}", m.path, m.version);
        self.install_locked(m, expected_h1, &desc, |tmp| copy_tree(tree, &prefix, tmp))
    }

    /// `Some` when a complete tree with `expected_h1` is there; an error when a complete
    /// tree with another hash is.
    fn already_installed(
        &self,
        m: &ModuleVersion,
        expected_h1: &str,
    ) -> Result<Option<InstallStats>, InstallError> {
        match self.tree_state(m)? {
            TreeState::Complete { ziphash } if ziphash == expected_h1 => Ok(Some(InstallStats {
                already_present: true,
                ..InstallStats::default()
            })),
            TreeState::Complete { ziphash } => Err(InstallError::CachedMismatch {
                module: m.to_string(),
                cached: ziphash,
                expected: expected_h1.into(),
                tree: self.tree_dir(m)?,
            }),
            TreeState::Incomplete | TreeState::Absent => Ok(None),
        }
    }

    fn install_locked(
        &self,
        m: &ModuleVersion,
        expected_h1: &str,
        source_desc: &str,
        fill: impl FnOnce(&Path) -> Result<Filled, InstallError>,
    ) -> Result<InstallStats, InstallError> {
        let tree = self.tree_dir(m)?;
        let lock = lock::lock(&self.cache_file(m, "lock")?, self.lock_timeout)?;
        if let Some(done) = self.already_installed(m, expected_h1)? {
            tracing::debug!(module = %m, "installed by another process while waiting for the lock");
            return Ok(done);
        }
        let (parent, name) = split_tree_path(&tree)?;
        std::fs::create_dir_all(parent).map_err(io_err(parent))?;
        remove_stale_temps(parent, name);
        remove_existing(&tree)?;

        let tmp = TempTree::create(parent, name)?;
        let filled = fill(tmp.path())?;
        if filled.h1 != expected_h1 {
            tracing::warn!(module = %m, source = source_desc, expected = expected_h1, actual = %filled.h1, "hash mismatch; nothing installed");
            return Err(InstallError::HashMismatch {
                module: m.to_string(),
                expected: expected_h1.into(),
                actual: filled.h1,
                source_desc: source_desc.into(),
            });
        }
        make_dirs_read_only(tmp.path())?;
        tmp.rename_to(&tree)?;

        let partial = self.cache_file(m, "partial")?;
        match std::fs::remove_file(&partial) {
            Ok(()) => {}
            Err(e) if e.kind() == io::ErrorKind::NotFound => {}
            Err(e) => return Err(io_err(&partial)(e)),
        }
        write_atomic(&self.cache_file(m, "ziphash")?, expected_h1.as_bytes())?;
        drop(lock);
        tracing::debug!(module = %m, files = filled.files, bytes = filled.bytes, source = source_desc, "installed module tree");
        Ok(InstallStats {
            files: filled.files,
            bytes: filled.bytes,
            already_present: false,
        })
    }
}

fn split_tree_path(tree: &Path) -> Result<(&Path, &str), InstallError> {
    let parent = tree.parent();
    let name = tree.file_name().and_then(|n| n.to_str());
    match (parent, name) {
        (Some(p), Some(n)) => Ok((p, n)),
        _ => Err(InstallError::Io {
            path: tree.to_path_buf(),
            source: io::Error::new(io::ErrorKind::InvalidInput, "tree path has no parent"),
        }),
    }
}

/// Best-effort removal of `<name>.tmp-*` left by killed installs (gowarm's or Go
/// before 1.16); safe only because the caller holds the version lock.
fn remove_stale_temps(parent: &Path, name: &str) {
    let prefix = format!("{name}.tmp-");
    let Ok(entries) = std::fs::read_dir(parent) else {
        return;
    };
    for entry in entries.flatten() {
        if entry
            .file_name()
            .to_str()
            .is_some_and(|n| n.starts_with(&prefix))
        {
            let path = entry.path();
            if let Err(e) = remove_tree(&path) {
                tracing::warn!(path = %path.display(), error = %e, "could not remove stale temporary tree");
            }
        }
    }
}

/// Removes whatever is at the tree's path (an incomplete tree, a file, a dangling link).
fn remove_existing(tree: &Path) -> Result<(), InstallError> {
    match std::fs::symlink_metadata(tree) {
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(()),
        Err(e) => Err(io_err(tree)(e)),
        Ok(meta) if meta.is_dir() => {
            tracing::info!(tree = %tree.display(), "removing incomplete module tree");
            remove_tree(tree).map_err(io_err(tree))
        }
        Ok(_) => std::fs::remove_file(tree).map_err(io_err(tree)),
    }
}

/// Removes a directory tree, first making its directories writable (module trees are 0555).
pub fn remove_tree(dir: &Path) -> io::Result<()> {
    for entry in walkdir::WalkDir::new(dir).follow_links(false) {
        let Ok(entry) = entry else { continue };
        if entry.file_type().is_dir() {
            set_path_mode(entry.path(), 0o755)?;
        }
    }
    std::fs::remove_dir_all(dir)
}

/// Makes every directory under (and including) `dir` 0555, children before parents.
fn make_dirs_read_only(dir: &Path) -> Result<(), InstallError> {
    for entry in walkdir::WalkDir::new(dir)
        .follow_links(false)
        .contents_first(true)
    {
        let entry = entry.map_err(|e| InstallError::Io {
            path: e.path().unwrap_or(dir).to_path_buf(),
            source: e.into(),
        })?;
        if entry.file_type().is_dir() {
            set_path_mode(entry.path(), 0o555).map_err(io_err(entry.path()))?;
        }
    }
    Ok(())
}

#[cfg(unix)]
fn set_path_mode(path: &Path, mode: u32) -> io::Result<()> {
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode))
}

#[cfg(not(unix))]
fn set_path_mode(path: &Path, mode: u32) -> io::Result<()> {
    let mut perms = std::fs::metadata(path)?.permissions();
    perms.set_readonly(mode & 0o222 == 0);
    std::fs::set_permissions(path, perms)
}

/// A `<tree>.tmp-<random>` directory that is removed on drop unless renamed into place.
struct TempTree {
    path: PathBuf,
    armed: bool,
}

impl TempTree {
    fn create(parent: &Path, name: &str) -> Result<Self, InstallError> {
        let dir = tempfile::Builder::new()
            .prefix(&format!("{name}.tmp-"))
            .tempdir_in(parent)
            .map_err(io_err(parent))?;
        Ok(Self {
            path: dir.keep(),
            armed: true,
        })
    }

    fn path(&self) -> &Path {
        &self.path
    }

    fn rename_to(mut self, dest: &Path) -> Result<(), InstallError> {
        std::fs::rename(&self.path, dest).map_err(io_err(dest))?;
        self.armed = false;
        Ok(())
    }
}

impl Drop for TempTree {
    fn drop(&mut self) {
        if self.armed {
            if let Err(e) = remove_tree(&self.path) {
                tracing::warn!(path = %self.path.display(), error = %e, "could not remove temporary tree");
            }
        }
    }
}

/// Creates `dest` read-only (its directory must exist) and copies `src` into it,
/// returning the SHA-256 of what was written and its length. Read errors are reported
/// through `read_err`, write errors name `dest`.
fn write_hashed(
    mut src: impl Read,
    dest: &Path,
    read_err: impl FnOnce(io::Error) -> InstallError,
) -> Result<([u8; 32], u64), InstallError> {
    let mut opts = OpenOptions::new();
    opts.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        // Like x/mod's Unzip: created 0444 and written through the open descriptor.
        opts.mode(0o444);
    }
    let mut out = opts.open(dest).map_err(io_err(dest))?;
    let mut h = Sha256::new();
    let mut n = 0u64;
    let mut buf = vec![0u8; 64 * 1024];
    loop {
        let k = match src.read(&mut buf) {
            Ok(0) => break,
            Ok(k) => k,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(read_err(e)),
        };
        h.update(&buf[..k]);
        out.write_all(&buf[..k]).map_err(io_err(dest))?;
        n += k as u64;
    }
    // The umask may have cleared bits of 0444; the pod's user must be able to read.
    set_mode(&out, 0o444).map_err(io_err(dest))?;
    Ok((h.finalize().into(), n))
}

/// Directories already created under a temporary tree, so each is made once: a
/// `create_dir_all` per file costs a failing `mkdir` per file and its parents.
#[derive(Default)]
struct Dirs(std::collections::HashSet<PathBuf>);

impl Dirs {
    fn ensure_parent(&mut self, file: &Path) -> Result<(), InstallError> {
        if let Some(dir) = file.parent() {
            if !self.0.contains(dir) {
                std::fs::create_dir_all(dir).map_err(io_err(dir))?;
                self.0.insert(dir.to_path_buf());
            }
        }
        Ok(())
    }
}

/// Extracts a checked zip into `tmp`, hashing every entry as `dirhash.HashZip` does
/// (directory entries included) while streaming each one from the archive.
fn extract_zip(
    archive: &mut zip::ZipArchive<File>,
    contents: &ZipContents,
    zip_path: &Path,
    tmp: &Path,
) -> Result<Filled, InstallError> {
    let mut hash = Hash1::new();
    let (mut files, mut bytes) = (0u64, 0u64);
    let mut dirs = Dirs::default();
    for e in &contents.entries {
        let entry_err = |err: &dyn std::fmt::Display| {
            InstallError::BadZip(ZipError::InvalidEntry {
                zip: zip_path.to_path_buf(),
                entry: e.name.clone(),
                rule: format!("cannot read entry: {err}"),
            })
        };
        let zf = archive.by_index(e.index).map_err(|err| entry_err(&err))?;
        let reader = DeclaredSizeReader::new(zf, e.size);
        if e.is_dir {
            // Go's Unzip creates no empty directories, but HashZip hashes the entry.
            let sum = dirhash::sha256_reader(reader).map_err(|err| entry_err(&err))?;
            hash.add(&e.name, sum)?;
            continue;
        }
        // check_zip guarantees a clean relative path without "..", so this stays in tmp.
        let dest = tmp.join(&e.path);
        dirs.ensure_parent(&dest)?;
        let (sum, n) = write_hashed(reader, &dest, |err| entry_err(&err))?;
        hash.add(&e.name, sum)?;
        files += 1;
        bytes += n;
    }
    Ok(Filled {
        h1: hash.finish(),
        files,
        bytes,
    })
}

/// One file's copy: its SHA-256 and length.
type Copied = Result<([u8; 32], u64), InstallError>;

/// Copies the regular files of `src` into `tmp`, hashing them as `dirhash.HashDir`
/// with `prefix` does; refuses links and special files.
///
/// Files are copied by several threads: a warm is bound by the kernel's file-creation
/// cost, and one large module (aws-sdk-go: 170 MB in 2,600 files) would otherwise keep
/// all but one core idle while it installs.
fn copy_tree(src: &Path, prefix: &str, tmp: &Path) -> Result<Filled, InstallError> {
    let mut work: Vec<(PathBuf, String, PathBuf)> = Vec::new();
    for entry in walkdir::WalkDir::new(src)
        .follow_links(false)
        .sort_by_file_name()
    {
        let entry = entry.map_err(|e| InstallError::Io {
            path: e.path().unwrap_or(src).to_path_buf(),
            source: e.into(),
        })?;
        let ft = entry.file_type();
        let rel = entry
            .path()
            .strip_prefix(src)
            .ok()
            .and_then(Path::to_str)
            .ok_or_else(|| InstallError::InvalidSourceName {
                path: entry.path().to_path_buf(),
                reason: "file name is not valid UTF-8".into(),
            })?;
        if ft.is_dir() {
            // WalkDir yields a directory before its contents: one mkdir each.
            if !rel.is_empty() {
                let d = tmp.join(rel);
                std::fs::create_dir(&d).map_err(io_err(&d))?;
            }
            continue;
        }
        if ft.is_symlink() || !ft.is_file() {
            return Err(InstallError::SourceNotRegular {
                path: entry.path().to_path_buf(),
                kind: if ft.is_symlink() {
                    "symbolic link"
                } else {
                    "special file"
                },
            });
        }
        let slash = rel.replace(std::path::MAIN_SEPARATOR, "/");
        modpath::check_file_path(&slash).map_err(|e| InstallError::InvalidSourceName {
            path: entry.path().to_path_buf(),
            reason: e.to_string(),
        })?;
        work.push((entry.path().to_path_buf(), slash, tmp.join(rel)));
    }

    let copy_one = |(from, _, to): &(PathBuf, String, PathBuf)| {
        let input = File::open(from).map_err(io_err(from))?;
        write_hashed(input, to, io_err(from))
    };
    let threads = std::thread::available_parallelism()
        .map(|n| n.get())
        .unwrap_or(1)
        .min(work.len() / 64 + 1);
    let results: Vec<Copied> = if threads <= 1 {
        work.iter().map(copy_one).collect()
    } else {
        let next = std::sync::atomic::AtomicUsize::new(0);
        let failed = std::sync::atomic::AtomicBool::new(false);
        let mut slots: Vec<Option<Copied>> = (0..work.len()).map(|_| None).collect();
        let done: Vec<Vec<(usize, Copied)>> = std::thread::scope(|scope| {
            let workers: Vec<_> = (0..threads)
                .map(|_| {
                    scope.spawn(|| {
                        let mut mine = Vec::new();
                        loop {
                            use std::sync::atomic::Ordering::Relaxed;
                            let i = next.fetch_add(1, Relaxed);
                            if i >= work.len() || failed.load(Relaxed) {
                                break;
                            }
                            let r = copy_one(&work[i]);
                            if r.is_err() {
                                failed.store(true, Relaxed);
                            }
                            mine.push((i, r));
                        }
                        mine
                    })
                })
                .collect();
            workers
                .into_iter()
                .map(|w| w.join().unwrap_or_default())
                .collect()
        });
        for (i, r) in done.into_iter().flatten() {
            slots[i] = Some(r);
        }
        // A worker that panicked leaves its slots empty; report that instead of a hash.
        slots
            .into_iter()
            .zip(&work)
            .map(|(r, (from, _, _))| {
                r.unwrap_or_else(|| {
                    Err(io_err(from)(io::Error::other(
                        "copy stopped before this file (another file failed)",
                    )))
                })
            })
            .collect()
    };

    let mut hash = Hash1::new();
    let (mut files, mut bytes) = (0u64, 0u64);
    for ((_, slash, _), r) in work.iter().zip(results) {
        let (sum, n) = r?;
        hash.add(&format!("{prefix}/{slash}"), sum)?;
        files += 1;
        bytes += n;
    }
    Ok(Filled {
        h1: hash.finish(),
        files,
        bytes,
    })
}
