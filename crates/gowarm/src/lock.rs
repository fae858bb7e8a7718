//! OutputLock: one bake at a time per output directory.
//!
//! The lock is an exclusive `flock` on `.<name>.lock` beside the output (not inside it:
//! the output is swapped whole). The file records the holder's pid for the message a
//! second bake prints; the lock itself dies with the process, so a killed bake never
//! leaves a stale lock. The file is never deleted (deleting a lock file races with a
//! process about to lock it).

use std::fs::File;
use std::io::{Read, Seek, Write};
use std::path::{Path, PathBuf};
use std::time::Instant;

use fs4::fs_std::FileExt;

use crate::error::{Error, Result};

/// An exclusive lock on an output directory, released on drop.
#[derive(Debug)]
pub struct OutputLock {
    file: File,
    path: PathBuf,
    waited_ms: u64,
}

impl OutputLock {
    /// The lock file of `out`.
    pub fn path_for(out: &Path) -> PathBuf {
        let name = out
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_else(|| "warm".into());
        out.parent()
            .filter(|p| !p.as_os_str().is_empty())
            .unwrap_or(Path::new("."))
            .join(format!(".{name}.lock"))
    }

    /// Locks `out`; with `wait` false, fails at once when another process holds it.
    pub fn acquire(out: &Path, wait: bool) -> Result<OutputLock> {
        let path = Self::path_for(out);
        if let Some(parent) = path.parent() {
            std::fs::create_dir_all(parent).map_err(|e| Error::io("creating", parent, e))?;
        }
        let mut file = std::fs::OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .open(&path)
            .map_err(|e| Error::io("opening the lock file", &path, e))?;
        let t0 = Instant::now();
        let got = FileExt::try_lock_exclusive(&file).map_err(|e| Error::io("locking", &path, e))?;
        if !got {
            let holder = holder(&mut file);
            if !wait {
                return Err(Error::Locked(format!(
                    "another bake{holder} is writing {}; wait for it (drop --no-wait) or bake to another --out (lock: {})",
                    out.display(),
                    path.display()
                )));
            }
            tracing::info!(
                "waiting for another bake{holder} of {} to finish (lock: {})",
                out.display(),
                path.display()
            );
            FileExt::lock_exclusive(&file).map_err(|e| Error::io("locking", &path, e))?;
        }
        let pid = std::process::id();
        let written = file
            .set_len(0)
            .and_then(|_| file.rewind())
            .and_then(|_| writeln!(file, "{pid}"));
        if let Err(e) = written {
            tracing::debug!("cannot record the pid in {}: {e}", path.display());
        }
        Ok(OutputLock {
            file,
            path,
            waited_ms: t0.elapsed().as_millis() as u64,
        })
    }

    /// How long acquiring waited (ms).
    pub fn waited_ms(&self) -> u64 {
        self.waited_ms
    }

    /// The lock file.
    pub fn path(&self) -> &Path {
        &self.path
    }
}

impl Drop for OutputLock {
    fn drop(&mut self) {
        let _ = FileExt::unlock(&self.file);
    }
}

/// " (pid N)" from the lock file's content, or "".
fn holder(file: &mut File) -> String {
    let mut s = String::new();
    let _ = file.rewind().and_then(|_| file.read_to_string(&mut s));
    match s.trim().parse::<u32>() {
        Ok(pid) => format!(" (pid {pid})"),
        Err(_) => String::new(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn second_lock_fails_at_once_without_wait_and_names_the_holder() {
        let t = tempfile::tempdir().unwrap();
        let out = t.path().join("merged-cache");
        let first = OutputLock::acquire(&out, false).unwrap();
        // flock locks belong to open file descriptions: a second open in this process
        // conflicts like another process would.
        let e = OutputLock::acquire(&out, false).unwrap_err().to_string();
        assert!(e.contains("another bake"), "{e}");
        assert!(e.contains(&format!("pid {}", std::process::id())), "{e}");
        assert!(e.contains("--no-wait"), "{e}");
        drop(first);
        let again = OutputLock::acquire(&out, false).unwrap();
        assert_eq!(again.path(), t.path().join(".merged-cache.lock"));
    }

    #[test]
    fn waiting_lock_gets_it_when_the_holder_lets_go() {
        let t = tempfile::tempdir().unwrap();
        let out = t.path().join("o");
        let first = OutputLock::acquire(&out, true).unwrap();
        let out2 = out.clone();
        let waiter =
            std::thread::spawn(move || OutputLock::acquire(&out2, true).map(|l| l.waited_ms()));
        std::thread::sleep(std::time::Duration::from_millis(300));
        drop(first);
        let waited = waiter.join().unwrap().unwrap();
        assert!(waited >= 200, "waited {waited} ms");
    }
}
