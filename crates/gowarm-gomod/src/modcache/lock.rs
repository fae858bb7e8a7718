//! Go's per-module-version lock, `<download dir>/<v>.lock`.
//!
//! cmd/go takes this lock (modfetch/cache.go `lockVersion`, via lockedfile.MutexAt:
//! open O_RDWR|O_CREATE 0666, then an exclusive flock on Linux) around extracting a
//! module and writing its `.zip`/`.ziphash`. Taking the same lock the same way makes
//! gowarm and a concurrent `go` command exclude each other.

use std::fs::{File, OpenOptions};
use std::io;
use std::path::Path;
use std::time::{Duration, Instant};

use fs4::fs_std::FileExt;

use super::{io_err, InstallError};

/// A held version lock; dropping it closes the file, which releases the flock.
#[derive(Debug)]
pub(crate) struct VersionLock {
    _file: File,
}

/// Takes the exclusive lock on `path`, creating it (and its directory) if needed;
/// waits at most `timeout` when one is given, forever otherwise (as Go does).
pub(crate) fn lock(path: &Path, timeout: Option<Duration>) -> Result<VersionLock, InstallError> {
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir).map_err(io_err(dir))?;
    }
    let mut opts = OpenOptions::new();
    opts.read(true).write(true).create(true).truncate(false);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        opts.mode(0o666);
    }
    let file = opts.open(path).map_err(io_err(path))?;
    match timeout {
        None => loop {
            match FileExt::lock_exclusive(&file) {
                Ok(()) => break,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => return Err(io_err(path)(e)),
            }
        },
        Some(timeout) => {
            let start = Instant::now();
            loop {
                match FileExt::try_lock_exclusive(&file) {
                    Ok(true) => break,
                    Ok(false) => {}
                    Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                    Err(e) => return Err(io_err(path)(e)),
                }
                let waited = start.elapsed();
                if waited >= timeout {
                    return Err(InstallError::Locked {
                        lock_file: path.to_path_buf(),
                        waited,
                    });
                }
                std::thread::sleep(Duration::from_millis(20).min(timeout - waited));
            }
        }
    }
    tracing::trace!(lock = %path.display(), "took module version lock");
    Ok(VersionLock { _file: file })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn second_lock_times_out_until_first_is_dropped() {
        let tmp = tempfile::tempdir().unwrap();
        let path = tmp.path().join("a/@v/v1.0.0.lock");
        let first = lock(&path, None).unwrap();
        let e = lock(&path, Some(Duration::from_millis(60))).unwrap_err();
        match e {
            InstallError::Locked { lock_file, waited } => {
                assert_eq!(lock_file, path);
                assert!(waited >= Duration::from_millis(60));
            }
            other => panic!("expected Locked, got {other:?}"),
        }
        drop(first);
        lock(&path, Some(Duration::from_millis(60))).unwrap();
    }
}
