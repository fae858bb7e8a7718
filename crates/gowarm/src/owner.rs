//! Owner: the user and group the files of a warm or a bake are given to (`--owner 1001:1001`),
//! for a warm run as root in an init container whose caches the runner user then builds in.
//!
//! Modes stay as installed: module trees read-only (Go's 0555/0444), GOCACHE entries and
//! every directory writable by their owner, so the runner can add entries and modules.

use std::path::Path;

use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};

/// A numeric user and group.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct Owner {
    /// User ID.
    pub uid: u32,
    /// Group ID.
    pub gid: u32,
}

impl std::str::FromStr for Owner {
    type Err = String;
    fn from_str(s: &str) -> std::result::Result<Owner, String> {
        let bad = || {
            format!(
                "{s:?} is not UID:GID (numbers, as Kubernetes' runAsUser/runAsGroup: 1001:1001)"
            )
        };
        let (u, g) = s.split_once(':').ok_or_else(bad)?;
        Ok(Owner {
            uid: u.trim().parse().map_err(|_| bad())?,
            gid: g.trim().parse().map_err(|_| bad())?,
        })
    }
}

impl TryFrom<String> for Owner {
    type Error = String;
    fn try_from(s: String) -> std::result::Result<Owner, String> {
        s.parse()
    }
}

impl From<Owner> for String {
    fn from(o: Owner) -> String {
        o.to_string()
    }
}

impl std::fmt::Display for Owner {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}:{}", self.uid, self.gid)
    }
}

impl Owner {
    /// Gives `root` and everything under it (symlinks themselves, not their targets) to
    /// this owner; returns how many entries changed. Entries already owned are left alone,
    /// so a second call on a warm cache is a walk without writes.
    #[cfg(unix)]
    pub fn give(&self, root: &Path) -> Result<u64> {
        use std::os::unix::fs::MetadataExt;
        if !root.exists() {
            return Ok(0);
        }
        let mut changed = 0;
        for entry in walkdir::WalkDir::new(root).follow_links(false) {
            let entry = entry.map_err(|e| {
                Error::io(
                    "walking",
                    root,
                    e.into_io_error()
                        .unwrap_or_else(|| std::io::Error::other("walk failed")),
                )
            })?;
            let meta = entry
                .metadata()
                .map_err(|e| Error::io("inspecting", entry.path(), std::io::Error::other(e)))?;
            if meta.uid() == self.uid && meta.gid() == self.gid {
                continue;
            }
            std::os::unix::fs::lchown(entry.path(), Some(self.uid), Some(self.gid)).map_err(
                |e| {
                    let hint = if e.kind() == std::io::ErrorKind::PermissionDenied {
                        " (giving files to another user needs root or CAP_CHOWN: run the warm in the init container as root, or drop --owner)"
                    } else {
                        ""
                    };
                    Error::Owner(format!(
                        "cannot give {} to {self}: {e}{hint}",
                        entry.path().display()
                    ))
                },
            )?;
            changed += 1;
        }
        Ok(changed)
    }

    /// Ownership cannot be given on this platform.
    #[cfg(not(unix))]
    pub fn give(&self, root: &Path) -> Result<u64> {
        Err(Error::Owner(format!(
            "cannot give {} to {self}: ownership is a Unix feature",
            root.display()
        )))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_uid_gid_and_says_what_is_wrong() {
        assert_eq!(
            "1001:1001".parse::<Owner>(),
            Ok(Owner {
                uid: 1001,
                gid: 1001
            })
        );
        assert_eq!(
            "0:5".parse::<Owner>().map(|o| o.to_string()),
            Ok("0:5".into())
        );
        for bad in ["1001", "runner:runner", ":1", "1:", "-1:2"] {
            let e = bad.parse::<Owner>().unwrap_err();
            assert!(e.contains("UID:GID"), "{bad}: {e}");
        }
    }

    #[test]
    fn give_to_self_changes_nothing() {
        use std::os::unix::fs::MetadataExt;
        let t = tempfile::tempdir().unwrap();
        std::fs::write(t.path().join("f"), "x").unwrap();
        let meta = std::fs::metadata(t.path()).unwrap();
        let me = Owner {
            uid: meta.uid(),
            gid: meta.gid(),
        };
        assert_eq!(me.give(t.path()).unwrap(), 0);
    }
}
