//! Scratch: a warm's private download directory, and the removal of ones that killed
//! warms left behind.
//!
//! Each warm holds an exclusive `flock` on `<scratch>/.lock` while it runs; a scratch
//! directory whose lock can be taken belongs to a dead process and is removed.

use std::fs::File;
use std::path::{Path, PathBuf};

use fs4::fs_std::FileExt;

use crate::error::{Error, Result};

const PREFIX: &str = "gowarm-tmp-";
const LOCK: &str = ".lock";

/// A locked scratch directory, removed on drop.
#[derive(Debug)]
pub struct Scratch {
    dir: tempfile::TempDir,
    _lock: File,
}

impl Scratch {
    /// Creates a scratch directory under `parent` (on the cache's filesystem), first
    /// removing any that dead warms left there.
    pub fn create(parent: &Path) -> Result<Scratch> {
        std::fs::create_dir_all(parent).map_err(|e| Error::io("creating", parent, e))?;
        remove_abandoned(parent);
        let dir = tempfile::Builder::new()
            .prefix(PREFIX)
            .tempdir_in(parent)
            .map_err(|e| Error::io("creating a scratch directory in", parent, e))?;
        let lock_path = dir.path().join(LOCK);
        let lock = File::create(&lock_path).map_err(|e| Error::io("creating", &lock_path, e))?;
        FileExt::lock_exclusive(&lock).map_err(|e| Error::io("locking", &lock_path, e))?;
        Ok(Scratch { dir, _lock: lock })
    }

    /// The directory.
    pub fn path(&self) -> &Path {
        self.dir.path()
    }
}

/// Removes scratch directories under `parent` whose lock nobody holds (best effort).
fn remove_abandoned(parent: &Path) {
    let Ok(entries) = std::fs::read_dir(parent) else {
        return;
    };
    for e in entries.flatten() {
        let name = e.file_name();
        if !name.to_string_lossy().starts_with(PREFIX) {
            continue;
        }
        let dir: PathBuf = e.path();
        let abandoned = match File::open(dir.join(LOCK)) {
            // Locked by a live warm: leave it. Lockable: its warm died.
            Ok(f) => matches!(FileExt::try_lock_exclusive(&f), Ok(true)),
            // No lock file: a warm killed between creating the directory and its lock.
            Err(_) => true,
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
        let other = parent.path().join("download");
        std::fs::create_dir(&other).unwrap();

        let live = Scratch::create(parent.path()).unwrap();
        assert!(!dead.exists() && !no_lock.exists());
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
