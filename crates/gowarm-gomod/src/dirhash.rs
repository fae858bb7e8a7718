//! The `h1:` directory hash that go.sum records (golang.org/x/mod/sumdb/dirhash).
//!
//! Hash1 sorts the file names, writes one line `"<hex sha256 of content>  <name>\n"`
//! per file, and returns `"h1:"` plus the standard base64 of the SHA-256 of those lines.
//! Names are `path@version/<file>` for module trees and zips, and just `go.mod` for
//! the `/go.mod` hash.

use std::fs::File;
use std::io::{self, Read};
use std::path::{Path, PathBuf};

use base64::Engine as _;
use sha2::{Digest, Sha256};

/// A failure to compute a directory hash.
#[derive(Debug, thiserror::Error)]
pub enum DirHashError {
    /// Go's Hash1 cannot represent a file name containing a newline.
    #[error("dirhash: file name {0:?} contains a newline, which h1 hashes cannot represent")]
    NewlineInName(String),
    /// A file name that is not valid UTF-8 (Go module file names always are).
    #[error("dirhash: file name {0:?} is not valid UTF-8")]
    NonUtf8Name(PathBuf),
    /// Reading a file or directory failed.
    #[error("dirhash: reading {path}: {source}")]
    Io {
        /// The file or directory being read.
        path: PathBuf,
        /// The underlying error.
        source: io::Error,
    },
    /// The path given as a directory is not one.
    #[error("dirhash: {0} is not a directory")]
    NotADirectory(PathBuf),
    /// The zip lists some name more than once; Go would hash each copy, gowarm refuses.
    #[error("dirhash: zip {zip} lists {listed} entries but only {distinct} distinct names; it is not a valid module zip")]
    DuplicateEntries {
        /// The zip file.
        zip: PathBuf,
        /// Entries in the central directory.
        listed: usize,
        /// Distinct names among them.
        distinct: usize,
    },
    /// Reading the zip archive failed.
    #[error("dirhash: reading zip {path}: {source}")]
    Zip {
        /// The zip file.
        path: PathBuf,
        /// The underlying error.
        source: zip::result::ZipError,
    },
}

/// Builds a Hash1 from file names and the SHA-256 of each file's content, in any order.
#[derive(Debug, Clone, Default)]
pub struct Hash1 {
    files: Vec<(String, [u8; 32])>,
}

impl Hash1 {
    /// Starts an empty hash.
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds one file by its full hashed name and the SHA-256 of its content.
    pub fn add(&mut self, name: &str, content_sha256: [u8; 32]) -> Result<(), DirHashError> {
        if name.contains('\n') {
            return Err(DirHashError::NewlineInName(name.into()));
        }
        self.files.push((name.to_string(), content_sha256));
        Ok(())
    }

    /// The number of files added so far.
    pub fn len(&self) -> usize {
        self.files.len()
    }

    /// Whether no file has been added.
    pub fn is_empty(&self) -> bool {
        self.files.is_empty()
    }

    /// Sorts the files by name (byte order, like Go's `slices.Sort`) and returns `h1:...`.
    pub fn finish(mut self) -> String {
        self.files.sort_by(|a, b| a.0.cmp(&b.0));
        let mut h = Sha256::new();
        for (name, sum) in &self.files {
            h.update(hex::encode(sum));
            h.update(b"  ");
            h.update(name.as_bytes());
            h.update(b"\n");
        }
        format!(
            "h1:{}",
            base64::engine::general_purpose::STANDARD.encode(h.finalize())
        )
    }
}

/// The go.sum `/go.mod` hash: Hash1 over the single file named `go.mod`.
pub fn hash_gomod(content: &[u8]) -> String {
    let mut h = Hash1::new();
    // "go.mod" contains no newline, so add cannot fail.
    h.files
        .push(("go.mod".into(), Sha256::digest(content).into()));
    h.finish()
}

/// SHA-256 of everything `r` yields.
pub fn sha256_reader(mut r: impl Read) -> io::Result<[u8; 32]> {
    let mut h = Sha256::new();
    let mut buf = vec![0u8; 64 * 1024];
    loop {
        let n = match r.read(&mut buf) {
            Ok(0) => return Ok(h.finalize().into()),
            Ok(n) => n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(e),
        };
        h.update(&buf[..n]);
    }
}

/// Hashes the files under `dir` as Go's `dirhash.HashDir(dir, prefix, Hash1)`: each
/// file is named `prefix/<relative path>`.
///
/// Like Go's `filepath.Walk`, symbolic links are not followed while walking but are
/// hashed as files through their targets (so a link to a directory is an error).
pub fn hash_dir(dir: &Path, prefix: &str) -> Result<String, DirHashError> {
    let io_err = |path: &Path, source| DirHashError::Io {
        path: path.to_path_buf(),
        source,
    };
    let meta = std::fs::metadata(dir).map_err(|e| io_err(dir, e))?;
    if !meta.is_dir() {
        return Err(DirHashError::NotADirectory(dir.to_path_buf()));
    }
    let mut h = Hash1::new();
    for entry in walkdir::WalkDir::new(dir).follow_links(false) {
        let entry = entry.map_err(|e| {
            let path = e.path().unwrap_or(dir).to_path_buf();
            DirHashError::Io {
                path,
                source: e.into(),
            }
        })?;
        if entry.file_type().is_dir() {
            continue;
        }
        let rel = entry
            .path()
            .strip_prefix(dir)
            .ok()
            .and_then(|r| r.to_str())
            .ok_or_else(|| DirHashError::NonUtf8Name(entry.path().to_path_buf()))?;
        let name = format!("{prefix}/{}", rel.replace(std::path::MAIN_SEPARATOR, "/"));
        if name.contains('\n') {
            return Err(DirHashError::NewlineInName(name));
        }
        let f = File::open(entry.path()).map_err(|e| io_err(entry.path(), e))?;
        let sum = sha256_reader(f).map_err(|e| io_err(entry.path(), e))?;
        h.add(&name, sum)?;
    }
    Ok(h.finish())
}

/// Hashes the entries of a zip file as Go's `dirhash.HashZip(zip, Hash1)`: every entry,
/// directory entries included, named exactly as stored.
pub fn hash_zip(zip: &Path) -> Result<String, DirHashError> {
    let zip_err = |source| DirHashError::Zip {
        path: zip.to_path_buf(),
        source,
    };
    let io_err = |source| DirHashError::Io {
        path: zip.to_path_buf(),
        source,
    };
    let f = File::open(zip).map_err(io_err)?;
    let mut scan = f.try_clone().map_err(io_err)?;
    let mut archive = zip::ZipArchive::new(f).map_err(zip_err)?;
    // The zip crate keeps one entry per name; Go hashes every central directory entry.
    // Such a zip is invalid anyway (x/mod checkZip), so refuse rather than differ.
    let names =
        crate::modzip::central_directory_names(&mut scan, archive.central_directory_start())
            .map_err(io_err)?;
    if names.len() != archive.len() {
        return Err(DirHashError::DuplicateEntries {
            zip: zip.to_path_buf(),
            listed: names.len(),
            distinct: archive.len(),
        });
    }
    let mut h = Hash1::new();
    for i in 0..archive.len() {
        let entry = archive.by_index(i).map_err(zip_err)?;
        let name = String::from_utf8(entry.name_raw().to_vec()).map_err(|_| {
            DirHashError::NonUtf8Name(PathBuf::from(
                String::from_utf8_lossy(entry.name_raw()).into_owned(),
            ))
        })?;
        let sum = sha256_reader(entry).map_err(|e| DirHashError::Io {
            path: zip.join(&name),
            source: e,
        })?;
        h.add(&name, sum)?;
    }
    Ok(h.finish())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Known answer from go1.25.5 `go mod download -json` for a go.mod with exactly
    /// this content (GoModSum); see the modcache tests for the full module.
    #[test]
    fn gomod_hash_known_answer() {
        assert_eq!(
            hash_gomod(b"module example.com/Tiny\n\ngo 1.21\n"),
            "h1:hJpAmkWztnRToKz8QUbkCvkFCyS/bkGDqXGL9375TpE="
        );
    }

    /// The `sha256sum $(find . -type f | sort) | sha256sum` definition, written out.
    #[test]
    fn hash1_is_order_independent_and_matches_definition() {
        let a = Sha256::digest(b"a").into();
        let b = Sha256::digest(b"b").into();
        let mut h = Hash1::new();
        h.add("m@v1/z", a).unwrap();
        h.add("m@v1/a", b).unwrap();
        let summary = format!("{}  m@v1/a\n{}  m@v1/z\n", hex::encode(b), hex::encode(a));
        let want = format!(
            "h1:{}",
            base64::engine::general_purpose::STANDARD.encode(Sha256::digest(summary))
        );
        assert_eq!(h.finish(), want);
        let mut h2 = Hash1::new();
        h2.add("m@v1/a", b).unwrap();
        h2.add("m@v1/z", a).unwrap();
        assert_eq!(h2.finish(), want);
        // The empty hash is the hash of no lines at all.
        assert_eq!(
            Hash1::new().finish(),
            "h1:47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU="
        );
    }

    #[test]
    fn rejects_newlines_in_names() {
        let mut h = Hash1::new();
        assert!(matches!(
            h.add("a\nb", [0; 32]),
            Err(DirHashError::NewlineInName(_))
        ));
        assert!(h.is_empty());
    }

    #[test]
    fn hash_zip_refuses_duplicate_entries() {
        use crate::testutil::{raw_zip, RawEntry};
        let tmp = tempfile::tempdir().unwrap();
        let path = tmp.path().join("dup.zip");
        let e = RawEntry::file("m@v1.0.0/a", b"a");
        std::fs::write(&path, raw_zip(&[e.clone(), e])).unwrap();
        let err = hash_zip(&path).unwrap_err();
        assert!(
            matches!(
                err,
                DirHashError::DuplicateEntries {
                    listed: 2,
                    distinct: 1,
                    ..
                }
            ),
            "{err}"
        );
        let ok = tmp.path().join("ok.zip");
        std::fs::write(&ok, raw_zip(&[RawEntry::file("m@v1.0.0/a", b"a")])).unwrap();
        let mut h = Hash1::new();
        h.add("m@v1.0.0/a", Sha256::digest(b"a").into()).unwrap();
        assert_eq!(hash_zip(&ok).unwrap(), h.finish());
    }

    #[test]
    fn hash_dir_errors_name_the_path() {
        let tmp = tempfile::tempdir().unwrap();
        let file = tmp.path().join("f");
        std::fs::write(&file, b"x").unwrap();
        assert!(matches!(
            hash_dir(&file, "m@v1"),
            Err(DirHashError::NotADirectory(p)) if p == file
        ));
        let missing = tmp.path().join("missing");
        let e = hash_dir(&missing, "m@v1").unwrap_err();
        assert!(e.to_string().contains("missing"), "{e}");
    }
}
