//! Scratch: a warm's private download directory, and the removal of ones that killed
//! warms left behind.
//!
//! Each warm holds an exclusive `flock` on `<scratch>/.lock` while it runs; a scratch
//! directory whose lock can be taken belongs to a dead process and is removed. The
//! directory is made under a name the sweep ignores and renamed into the swept namespace
//! only once its lock is held (a `flock` follows the inode through the rename), so a
//! concurrent warm never sees a live scratch directory without its lock.

use std::fs::File;
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime};

use fs4::fs_std::FileExt;

use crate::error::{Error, Result};

const PREFIX: &str = "gowarm-tmp-";
const NEW_PREFIX: &str = ".gowarm-new-";
const LOCK: &str = ".lock";
/// A directory of the sweep's namespace without a lock, or a half-made one, older than
/// this was left by a process killed while making it.
const STALE: Duration = Duration::from_secs(3600);

/// A locked scratch directory, removed on drop.
#[derive(Debug)]
pub struct Scratch {
    path: PathBuf,
    _lock: File,
}

impl Scratch {
    /// Creates a scratch directory under `parent` (on the cache's filesystem), first
    /// removing any that dead warms left there.
    pub fn create(parent: &Path) -> Result<Scratch> {
        std::fs::create_dir_all(parent).map_err(|e| Error::io("creating", parent, e))?;
        remove_abandoned(parent);
        let made = tempfile::Builder::new()
            .prefix(NEW_PREFIX)
            .tempdir_in(parent)
            .map_err(|e| Error::io("creating a scratch directory in", parent, e))?;
        let lock_path = made.path().join(LOCK);
        let lock = File::create(&lock_path).map_err(|e| Error::io("creating", &lock_path, e))?;
        FileExt::lock_exclusive(&lock).map_err(|e| Error::io("locking", &lock_path, e))?;
        let suffix = made
            .path()
            .file_name()
            .and_then(|n| n.to_str())
            .and_then(|n| n.strip_prefix(NEW_PREFIX))
            .unwrap_or("x")
            .to_string();
        let path = parent.join(format!("{PREFIX}{suffix}"));
        std::fs::rename(made.path(), &path)
            .map_err(|e| Error::io("renaming into place", &path, e))?;
        // The TempDir no longer owns anything at its old path; Scratch's Drop removes `path`.
        let _ = made.keep();
        Ok(Scratch { path, _lock: lock })
    }

    /// The directory.
    pub fn path(&self) -> &Path {
        &self.path
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        if let Err(e) = std::fs::remove_dir_all(&self.path) {
            tracing::warn!(dir = %self.path.display(), "cannot remove scratch directory: {e}");
        }
    }
}

fn older_than(p: &Path, age: Duration) -> bool {
    std::fs::metadata(p)
        .and_then(|m| m.modified())
        .is_ok_and(|t| SystemTime::now().duration_since(t).is_ok_and(|d| d > age))
}

/// Removes scratch directories under `parent` whose warm is gone (best effort).
fn remove_abandoned(parent: &Path) {
    let Ok(entries) = std::fs::read_dir(parent) else {
        return;
    };
    for e in entries.flatten() {
        let name = e.file_name();
        let name = name.to_string_lossy();
        let dir: PathBuf = e.path();
        let abandoned = if name.starts_with(PREFIX) {
            match File::open(dir.join(LOCK)) {
                // Locked by a live warm: leave it. Lockable: its warm died.
                Ok(f) => matches!(FileExt::try_lock_exclusive(&f), Ok(true)),
                // Never made by `create` (which renames only after locking): old or foreign.
                Err(_) => older_than(&dir, STALE),
            }
        } else if name.starts_with(NEW_PREFIX) {
            // Killed between making the directory and renaming it.
            older_than(&dir, STALE)
        } else {
            false
        };
        if abandoned {
            match std::fs::remove_dir_all(&dir) {
                Ok(()) => {
                    tracing::info!(dir = %dir.display(), "removed a killed warm's scratch directory")
                }
                Err(e) => {
                    tracing::warn!(dir = %dir.display(), "cannot remove abandoned scratch directory: {e}")
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn abandoned_scratch_is_removed_live_one_kept() {
        let parent = tempfile::tempdir().unwrap();
        let dead = parent.path().join(format!("{PREFIX}dead"));
        std::fs::create_dir(&dead).unwrap();
        std::fs::write(dead.join(LOCK), "").unwrap();
        std::fs::write(dead.join("half.zip"), "partial").unwrap();
        let no_lock = parent.path().join(format!("{PREFIX}nolock"));
        std::fs::create_dir(&no_lock).unwrap();
        let old = filetime::FileTime::from_system_time(SystemTime::now() - 2 * STALE);
        filetime::set_file_mtime(&no_lock, old).unwrap();
        let fresh_half_made = parent.path().join(format!("{NEW_PREFIX}fresh"));
        std::fs::create_dir(&fresh_half_made).unwrap();
        let other = parent.path().join("download");
        std::fs::create_dir(&other).unwrap();

        let live = Scratch::create(parent.path()).unwrap();
        assert!(!dead.exists() && !no_lock.exists());
        assert!(
            fresh_half_made.exists(),
            "a scratch being made right now is left alone"
        );
        assert!(other.exists(), "only scratch directories are touched");
        let second = Scratch::create(parent.path()).unwrap();
        assert!(
            live.path().exists(),
            "a live warm's scratch survives another warm"
        );
        drop(second);
        let p = live.path().to_path_buf();
        drop(live);
        assert!(!p.exists());
    }
}
