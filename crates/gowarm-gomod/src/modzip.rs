//! Module zip files: creating them from a directory and checking them before use.
//!
//! The rules are golang.org/x/mod/zip/zip.go's (`CreateFromDir`, `checkFiles`,
//! `checkZip`, `Unzip`), so a zip made here hashes like the one the Go proxy serves and
//! a zip accepted here is one Go would extract. [`check_zip`] adds three refusals Go
//! does not make explicitly, because gowarm extracts zips from less trusted sources:
//! symbolic-link (or other special) entries, absolute names, and `..` components.

use std::collections::HashMap;
use std::fs::File;
use std::io::{self, Read, Seek, Write};
use std::path::{Path, PathBuf};

use sha2::{Digest, Sha256};
use unicode_properties::UnicodeGeneralCategory as _;

use crate::dirhash::{DirHashError, Hash1};
use crate::gomod;
use crate::modpath::{self, PathError};
use crate::version::ModuleVersion;

/// The largest module zip, and the largest total uncompressed content, Go accepts.
pub const MAX_ZIP_FILE: u64 = 500 << 20;
/// The largest go.mod file Go accepts in a module zip.
pub const MAX_GO_MOD: u64 = 16 << 20;
/// The largest LICENSE file Go accepts in a module zip.
pub const MAX_LICENSE: u64 = 16 << 20;

/// Size limits applied to a module zip; [`Limits::GO`] are Go's.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// Limit on the zip file and on the total uncompressed size.
    pub max_zip_file: u64,
    /// Limit on the root go.mod.
    pub max_go_mod: u64,
    /// Limit on the root LICENSE.
    pub max_license: u64,
}

impl Limits {
    /// Go's limits (x/mod/zip `MaxZipFile`, `MaxGoMod`, `MaxLICENSE`).
    pub const GO: Limits = Limits {
        max_zip_file: MAX_ZIP_FILE,
        max_go_mod: MAX_GO_MOD,
        max_license: MAX_LICENSE,
    };
}

/// A module zip that cannot be created, read or trusted.
#[derive(Debug, thiserror::Error)]
pub enum ZipError {
    /// The module path or version is not one Go would put in a zip.
    #[error("module {module}: {source}")]
    Module {
        /// `path@version`.
        module: String,
        /// What is wrong with it.
        source: PathError,
    },
    /// Reading or writing a file failed.
    #[error("{path}: {source}")]
    Io {
        /// The file involved.
        path: PathBuf,
        /// The underlying error.
        source: io::Error,
    },
    /// The file is not a readable zip archive (often: truncated by an interrupted
    /// download); fetch it again.
    #[error("{zip}: not a valid zip archive (truncated or corrupt?): {source}")]
    Format {
        /// The zip file.
        zip: PathBuf,
        /// What the zip reader reported.
        source: zip::result::ZipError,
    },
    /// An entry breaks a module zip rule.
    #[error("{zip}: entry {entry:?}: {rule}")]
    InvalidEntry {
        /// The zip file.
        zip: PathBuf,
        /// The entry's full name in the archive.
        entry: String,
        /// The rule it breaks.
        rule: String,
    },
    /// The zip file, or its content, is larger than Go allows.
    #[error("{zip}: {what} is too large ({size} bytes; limit is {limit} bytes)")]
    TooLarge {
        /// The zip file.
        zip: PathBuf,
        /// "module zip file" or "total uncompressed size of module contents".
        what: &'static str,
        /// The size found.
        size: u64,
        /// The limit.
        limit: u64,
    },
    /// An entry decompressed to a different size than its header declares.
    #[error(
        "{zip}: entry {entry:?}: uncompressed size differs from the declared {declared} bytes"
    )]
    SizeMismatch {
        /// The zip file.
        zip: PathBuf,
        /// The entry's full name.
        entry: String,
        /// The size its header declares.
        declared: u64,
    },
    /// A file in the source directory cannot go into a module zip.
    #[error("{dir}: file {file:?}: {rule}")]
    InvalidFile {
        /// The module directory.
        dir: PathBuf,
        /// The file's slash-separated path relative to the directory.
        file: String,
        /// The rule it breaks.
        rule: String,
    },
    /// The module directory's files add up to more than Go allows.
    #[error("{dir}: module source tree too large (max size is {limit} bytes)")]
    TreeTooLarge {
        /// The module directory.
        dir: PathBuf,
        /// The limit.
        limit: u64,
    },
    /// Writing the zip archive failed.
    #[error("writing module zip for {dir}: {source}")]
    Write {
        /// The module directory.
        dir: PathBuf,
        /// The underlying error.
        source: zip::result::ZipError,
    },
    /// A file name cannot be hashed.
    #[error(transparent)]
    Hash(#[from] DirHashError),
}

/// What [`create_from_dir`] wrote.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CreateStats {
    /// Number of files in the zip.
    pub files: u64,
    /// Total uncompressed bytes.
    pub bytes: u64,
    /// The zip's `h1:` hash, computed while writing it.
    pub h1: String,
    /// Files left out and why (vendored, submodule, VCS directory, irregular file…).
    pub omitted: Vec<OmittedFile>,
}

/// A file or directory [`create_from_dir`] left out of the zip on purpose.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OmittedFile {
    /// Slash-separated path relative to the module directory.
    pub path: String,
    /// Go's reason.
    pub reason: &'static str,
}

/// The entries of a checked module zip.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ZipContents {
    /// Every entry, in archive order; directory entries included because Go's
    /// `HashZip` hashes them too.
    pub entries: Vec<ZipEntry>,
    /// Total declared uncompressed size of the files.
    pub total_size: u64,
}

/// One entry of a checked module zip.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ZipEntry {
    /// Index in the archive.
    pub index: usize,
    /// Full name as stored (`path@version/...`).
    pub name: String,
    /// Path relative to the module root, without a trailing slash; "" for the root.
    pub path: String,
    /// Whether this is a directory entry (its name ends in `/`).
    pub is_dir: bool,
    /// Declared uncompressed size.
    pub size: u64,
}

impl ZipContents {
    /// The file (non-directory) entries.
    pub fn files(&self) -> impl Iterator<Item = &ZipEntry> {
        self.entries.iter().filter(|e| !e.is_dir)
    }
}

/// Writes the module zip for `m` from the files in `dir` to `out`, selecting files
/// exactly as x/mod/zip `CreateFromDir` does.
///
/// Left out: `.bzr`, `.git`, `.hg` and `.svn` directories, subdirectories holding a
/// go.mod (other modules), files of vendored packages (with x/mod's go-version
/// dependent `isVendoredPackage` rules), `.hg_archival.txt`, and anything that is
/// not a regular file. Files are written in lexical walk order, so output is
/// deterministic.
pub fn create_from_dir<W: Write + Seek>(
    out: W,
    m: &ModuleVersion,
    dir: &Path,
) -> Result<CreateStats, ZipError> {
    create_from_dir_limited(out, m, dir, &Limits::GO)
}

/// [`create_from_dir`] with explicit size limits.
pub fn create_from_dir_limited<W: Write + Seek>(
    out: W,
    m: &ModuleVersion,
    dir: &Path,
    limits: &Limits,
) -> Result<CreateStats, ZipError> {
    check_module(m)?;
    let (files, mut omitted) = list_files_in_dir(dir)?;
    let valid = check_files(dir, files, &mut omitted, limits)?;

    let prefix = m.zip_prefix();
    let mut zw = zip::ZipWriter::new(out);
    let options = zip::write::SimpleFileOptions::default()
        .compression_method(zip::CompressionMethod::Deflated)
        .unix_permissions(0o644);
    let write_err = |source| ZipError::Write {
        dir: dir.to_path_buf(),
        source,
    };
    let mut hash = Hash1::new();
    let mut bytes = 0u64;
    let mut buf = vec![0u8; 64 * 1024];
    for f in &valid {
        let name = format!("{prefix}{}", f.slash_path);
        let io_err = |source| ZipError::Io {
            path: f.file_path.clone(),
            source,
        };
        let src = File::open(&f.file_path).map_err(io_err)?;
        zw.start_file(name.as_str(), options).map_err(write_err)?;
        // Like x/mod's addFile: read at most one byte past the size seen while
        // listing, so a file growing underneath is an error, not a silent change.
        let mut limited = src.take(f.size + 1);
        let mut h = Sha256::new();
        let mut n = 0u64;
        loop {
            let k = match limited.read(&mut buf) {
                Ok(0) => break,
                Ok(k) => k,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => return Err(io_err(e)),
            };
            n += k as u64;
            if n > f.size {
                return Err(ZipError::InvalidFile {
                    dir: dir.to_path_buf(),
                    file: f.slash_path.clone(),
                    rule: "file is larger than its size when listed (changed while zipping?)"
                        .into(),
                });
            }
            h.update(&buf[..k]);
            zw.write_all(&buf[..k]).map_err(|e| ZipError::Write {
                dir: dir.to_path_buf(),
                source: e.into(),
            })?;
        }
        hash.add(&name, h.finalize().into())?;
        bytes += n;
    }
    zw.finish().map_err(write_err)?;
    Ok(CreateStats {
        files: valid.len() as u64,
        bytes,
        h1: hash.finish(),
        omitted,
    })
}

/// Checks a module zip as x/mod/zip `CheckZip` does, plus gowarm's refusals of
/// symbolic links, absolute names and `..` components.
pub fn check_zip(zip: &Path, m: &ModuleVersion) -> Result<ZipContents, ZipError> {
    open_checked(zip, m, &Limits::GO).map(|(_, contents)| contents)
}

/// [`check_zip`] with explicit size limits.
pub fn check_zip_limited(
    zip: &Path,
    m: &ModuleVersion,
    limits: &Limits,
) -> Result<ZipContents, ZipError> {
    open_checked(zip, m, limits).map(|(_, contents)| contents)
}

/// Opens and checks a module zip, returning the open archive for extraction, so the
/// archive checked is the archive extracted.
pub(crate) fn open_checked(
    zip_path: &Path,
    m: &ModuleVersion,
    limits: &Limits,
) -> Result<(zip::ZipArchive<File>, ZipContents), ZipError> {
    check_module(m)?;
    let io_err = |source| ZipError::Io {
        path: zip_path.to_path_buf(),
        source,
    };
    let file = File::open(zip_path).map_err(io_err)?;
    let zip_size = file.metadata().map_err(io_err)?.len();
    if zip_size > limits.max_zip_file {
        return Err(ZipError::TooLarge {
            zip: zip_path.to_path_buf(),
            what: "module zip file",
            size: zip_size,
            limit: limits.max_zip_file,
        });
    }
    let mut scan = file.try_clone().map_err(io_err)?;
    let mut archive = zip::ZipArchive::new(file).map_err(|source| ZipError::Format {
        zip: zip_path.to_path_buf(),
        source,
    })?;
    check_no_duplicate_names(&mut scan, zip_path, &archive)?;

    let prefix = m.zip_prefix();
    let mut collisions = CollisionChecker::default();
    let mut entries = Vec::with_capacity(archive.len());
    let mut total: u64 = 0;
    for index in 0..archive.len() {
        let zf = archive
            .by_index_raw(index)
            .map_err(|source| ZipError::Format {
                zip: zip_path.to_path_buf(),
                source,
            })?;
        let invalid = |entry: &str, rule: String| ZipError::InvalidEntry {
            zip: zip_path.to_path_buf(),
            entry: entry.to_string(),
            rule,
        };
        let Ok(name) = std::str::from_utf8(zf.name_raw()) else {
            let lossy = String::from_utf8_lossy(zf.name_raw()).into_owned();
            return Err(invalid(&lossy, "name is not valid UTF-8".into()));
        };
        let name = name.to_string();
        if let Some(mode) = zf.unix_mode() {
            match mode & 0o170000 {
                0 | 0o100000 | 0o040000 => {}
                0o120000 => {
                    return Err(invalid(
                        &name,
                        "symbolic link entries are not allowed in module zips".into(),
                    ))
                }
                other => {
                    return Err(invalid(
                        &name,
                        format!("irregular file type {other:o} is not allowed in module zips"),
                    ))
                }
            }
        }
        if name.starts_with('/') || name.starts_with('\\') || has_drive_letter(&name) {
            return Err(invalid(&name, "absolute file names are not allowed".into()));
        }
        if name.split(['/', '\\']).any(|c| c == "..") {
            return Err(invalid(
                &name,
                "\"..\" path components are not allowed".into(),
            ));
        }
        let Some(rest) = name.strip_prefix(&prefix) else {
            return Err(invalid(
                &name,
                format!("path does not have prefix {prefix:?}"),
            ));
        };
        let size = zf.size();
        if rest.is_empty() {
            entries.push(ZipEntry {
                index,
                name: name.clone(),
                path: String::new(),
                is_dir: true,
                size,
            });
            continue;
        }
        let (rel, is_dir) = match rest.strip_suffix('/') {
            Some(r) => (r, true),
            None => (rest, false),
        };
        if go_path_clean(rel) != rel {
            return Err(invalid(&name, "file path is not clean".into()));
        }
        modpath::check_file_path(rel).map_err(|e| invalid(&name, e.to_string()))?;
        collisions
            .check(rel, is_dir)
            .map_err(|rule| invalid(&name, rule))?;
        if !is_dir {
            let base = rel.rsplit('/').next().unwrap_or(rel);
            if base.eq_ignore_ascii_case("go.mod") {
                if base != rel {
                    return Err(invalid(
                        &name,
                        "go.mod file not in module root directory".into(),
                    ));
                }
                if rel != "go.mod" {
                    return Err(invalid(
                        &name,
                        "go.mod files must have lowercase names".into(),
                    ));
                }
            }
            total = total.saturating_add(size);
            if total > limits.max_zip_file {
                return Err(ZipError::TooLarge {
                    zip: zip_path.to_path_buf(),
                    what: "total uncompressed size of module contents",
                    size: total,
                    limit: limits.max_zip_file,
                });
            }
            if rel == "go.mod" && size > limits.max_go_mod {
                return Err(invalid(
                    &name,
                    format!(
                        "go.mod file too large (max size is {} bytes)",
                        limits.max_go_mod
                    ),
                ));
            }
            if rel == "LICENSE" && size > limits.max_license {
                return Err(invalid(
                    &name,
                    format!(
                        "LICENSE file too large (max size is {} bytes)",
                        limits.max_license
                    ),
                ));
            }
        }
        entries.push(ZipEntry {
            index,
            name: name.clone(),
            path: rel.to_string(),
            is_dir,
            size,
        });
    }
    Ok((
        archive,
        ZipContents {
            entries,
            total_size: total,
        },
    ))
}

/// Fails when the central directory lists a name twice.
///
/// The zip crate keys entries by name and silently keeps one of each duplicate, while
/// Go's archive/zip keeps every entry (and x/mod's checkZip then rejects the zip with
/// "multiple entries for file"). So the raw central directory is scanned here: a
/// duplicate must be an error, not a hidden entry that changes what the hash covers.
fn check_no_duplicate_names(
    file: &mut File,
    zip_path: &Path,
    archive: &zip::ZipArchive<File>,
) -> Result<(), ZipError> {
    let names =
        central_directory_names(file, archive.central_directory_start()).map_err(|source| {
            ZipError::Io {
                path: zip_path.to_path_buf(),
                source,
            }
        })?;
    let mut seen = std::collections::HashSet::with_capacity(names.len());
    for name in &names {
        if !seen.insert(name.as_slice()) {
            let entry = String::from_utf8_lossy(name).into_owned();
            return Err(ZipError::InvalidEntry {
                zip: zip_path.to_path_buf(),
                rule: format!("multiple entries for file {entry:?}"),
                entry,
            });
        }
    }
    if names.len() != archive.len() {
        return Err(ZipError::InvalidEntry {
            zip: zip_path.to_path_buf(),
            entry: String::new(),
            rule: format!(
                "central directory has {} entries but only {} distinct names after decoding",
                names.len(),
                archive.len()
            ),
        });
    }
    Ok(())
}

/// The raw names of the central directory headers starting at `start` (APPNOTE 4.3.12:
/// a 46-byte fixed part with the name, extra and comment lengths at offsets 28, 30, 32).
pub(crate) fn central_directory_names(file: &mut File, start: u64) -> io::Result<Vec<Vec<u8>>> {
    const CENTRAL_HEADER_SIG: u32 = 0x0201_4b50;
    file.seek(io::SeekFrom::Start(start))?;
    let mut r = io::BufReader::new(file);
    let mut names = Vec::new();
    loop {
        let mut fixed = [0u8; 46];
        match r.read_exact(&mut fixed[..4]) {
            Ok(()) => {}
            Err(e) if e.kind() == io::ErrorKind::UnexpectedEof => break,
            Err(e) => return Err(e),
        }
        if u32::from_le_bytes([fixed[0], fixed[1], fixed[2], fixed[3]]) != CENTRAL_HEADER_SIG {
            break;
        }
        r.read_exact(&mut fixed[4..])?;
        let le16 = |i: usize| u64::from(u16::from_le_bytes([fixed[i], fixed[i + 1]]));
        let (name_len, extra_len, comment_len) = (le16(28), le16(30), le16(32));
        let mut name = vec![0u8; name_len as usize];
        r.read_exact(&mut name)?;
        io::copy(&mut (&mut r).take(extra_len + comment_len), &mut io::sink())?;
        names.push(name);
    }
    Ok(names)
}

/// Wraps an entry reader so that content longer or shorter than the declared size is
/// an error, like x/mod's `Unzip` (which uses a LimitedReader of size+1) and Go's
/// archive/zip (which checks the size at EOF).
pub(crate) struct DeclaredSizeReader<R> {
    inner: R,
    declared: u64,
    read: u64,
}

impl<R: Read> DeclaredSizeReader<R> {
    /// Wraps `inner`, which should yield exactly `declared` bytes.
    pub(crate) fn new(inner: R, declared: u64) -> Self {
        Self {
            inner,
            declared,
            read: 0,
        }
    }
}

impl<R: Read> Read for DeclaredSizeReader<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.read += n as u64;
        if self.read > self.declared {
            return Err(io::Error::new(
                io::ErrorKind::InvalidData,
                format!(
                    "uncompressed content is larger than the declared size ({} bytes)",
                    self.declared
                ),
            ));
        }
        if n == 0 && !buf.is_empty() && self.read != self.declared {
            return Err(io::Error::new(
                io::ErrorKind::UnexpectedEof,
                format!(
                    "uncompressed content is {} bytes, declared size is {} bytes",
                    self.read, self.declared
                ),
            ));
        }
        Ok(n)
    }
}

fn check_module(m: &ModuleVersion) -> Result<(), ZipError> {
    m.check().map_err(|source| ZipError::Module {
        module: m.to_string(),
        source,
    })
}

fn has_drive_letter(name: &str) -> bool {
    let b = name.as_bytes();
    b.len() >= 2 && b[0].is_ascii_alphabetic() && b[1] == b':'
}

/// A regular file found while listing a module directory.
struct DirFile {
    file_path: PathBuf,
    slash_path: String,
    size: u64,
    /// Whether the name is valid UTF-8 (`slash_path` is lossy when it is not).
    utf8: bool,
}

/// x/mod/zip `listFilesInDir`: walks `dir` in lexical order without following links.
fn list_files_in_dir(dir: &Path) -> Result<(Vec<DirFile>, Vec<OmittedFile>), ZipError> {
    let io_err = |path: &Path, source| ZipError::Io {
        path: path.to_path_buf(),
        source,
    };
    // listFilesInDir reads the root go.mod with os.ReadFile, which follows links.
    let new_vendor_rules = match std::fs::read(dir.join("go.mod")) {
        Ok(data) => go_at_least_1_24(&data),
        Err(_) => false,
    };
    let mut files = Vec::new();
    let mut omitted = Vec::new();
    let mut walk = walkdir::WalkDir::new(dir)
        .follow_links(false)
        .sort_by_file_name()
        .into_iter();
    while let Some(entry) = walk.next() {
        let entry = entry.map_err(|e| {
            let path = e.path().unwrap_or(dir).to_path_buf();
            io_err(&path, e.into())
        })?;
        let rel = entry.path().strip_prefix(dir).unwrap_or(entry.path());
        // Go compares names as bytes; a non-UTF-8 name is an error only if the file
        // is not omitted anyway, so the lossy form is used for the omission rules.
        let utf8 = rel.to_str().is_some();
        let rel_str = rel.to_string_lossy();
        let slash_path = if rel_str.is_empty() {
            ".".to_string()
        } else {
            rel_str.replace(std::path::MAIN_SEPARATOR, "/")
        };
        let ft = entry.file_type();
        if is_vendored_package(&slash_path, new_vendor_rules) {
            omitted.push(OmittedFile {
                path: slash_path,
                reason: "file is in vendor directory",
            });
            continue;
        }
        if ft.is_dir() {
            if entry.depth() == 0 {
                continue;
            }
            let base = entry.file_name().to_str().unwrap_or_default();
            if matches!(base, ".bzr" | ".git" | ".hg" | ".svn") {
                omitted.push(OmittedFile {
                    path: slash_path,
                    reason: "directory is a version control repository",
                });
                walk.skip_current_dir();
                continue;
            }
            if let Ok(meta) = std::fs::symlink_metadata(entry.path().join("go.mod")) {
                if !meta.is_dir() {
                    omitted.push(OmittedFile {
                        path: slash_path,
                        reason: "directory is in another module",
                    });
                    walk.skip_current_dir();
                }
            }
            continue;
        }
        if !ft.is_file() {
            omitted.push(OmittedFile {
                path: slash_path,
                reason: "not a regular file",
            });
            continue;
        }
        let meta = entry
            .metadata()
            .map_err(|e| io_err(entry.path(), e.into()))?;
        files.push(DirFile {
            file_path: entry.path().to_path_buf(),
            slash_path,
            size: meta.len(),
            utf8,
        });
    }
    Ok((files, omitted))
}

/// x/mod/zip `checkFiles` for files listed from a directory: returns the files that
/// belong in the zip, or the first rule broken.
fn check_files(
    dir: &Path,
    files: Vec<DirFile>,
    omitted: &mut Vec<OmittedFile>,
    limits: &Limits,
) -> Result<Vec<DirFile>, ZipError> {
    let invalid = |file: &str, rule: String| ZipError::InvalidFile {
        dir: dir.to_path_buf(),
        file: file.to_string(),
        rule,
    };
    // Directories holding a file named go.mod in any case are other modules; checkFiles
    // takes the go version from the listed root go.mod (a regular file).
    let mut have_go_mod: std::collections::HashSet<String> = Default::default();
    let mut new_vendor_rules = false;
    for f in &files {
        let (d, base) = split_dir_base(&f.slash_path);
        if base.eq_ignore_ascii_case("go.mod") {
            have_go_mod.insert(d.to_string());
            if base == "go.mod" && d.is_empty() {
                new_vendor_rules = std::fs::read(&f.file_path)
                    .map(|data| go_at_least_1_24(&data))
                    .unwrap_or(false);
            }
        }
    }
    let in_submodule = |p: &str| {
        let mut p = p;
        loop {
            let (d, _) = split_dir_base(p);
            if d.is_empty() {
                return false;
            }
            if have_go_mod.contains(d) {
                return true;
            }
            p = &d[..d.len() - 1];
        }
    };

    let mut collisions = CollisionChecker::default();
    let mut remaining = limits.max_zip_file;
    let mut valid = Vec::with_capacity(files.len());
    for f in files {
        let p = f.slash_path.as_str();
        if go_path_clean(p) != p {
            return Err(invalid(p, "file path is not clean".into()));
        }
        if p.starts_with('/') {
            return Err(invalid(p, "file path is not relative".into()));
        }
        let reason = if is_vendored_package(p, new_vendor_rules) {
            Some("file is in vendor directory")
        } else if in_submodule(p) {
            Some("file is in another module")
        } else if p == ".hg_archival.txt" {
            // Inserted by 'hg archive'; Go drops it whatever the VCS.
            Some("file is inserted by 'hg archive' and is always omitted")
        } else {
            None
        };
        if let Some(reason) = reason {
            omitted.push(OmittedFile {
                path: f.slash_path,
                reason,
            });
            continue;
        }
        if !f.utf8 {
            return Err(invalid(p, "file name is not valid UTF-8".into()));
        }
        modpath::check_file_path(p).map_err(|e| invalid(p, e.to_string()))?;
        if p.eq_ignore_ascii_case("go.mod") && p != "go.mod" {
            return Err(invalid(p, "go.mod files must have lowercase names".into()));
        }
        collisions
            .check(p, false)
            .map_err(|rule| invalid(p, rule))?;
        if f.size <= remaining {
            remaining -= f.size;
        } else {
            return Err(ZipError::TreeTooLarge {
                dir: dir.to_path_buf(),
                limit: limits.max_zip_file,
            });
        }
        if p == "go.mod" && f.size > limits.max_go_mod {
            return Err(invalid(
                p,
                format!(
                    "go.mod file too large (max size is {} bytes)",
                    limits.max_go_mod
                ),
            ));
        }
        if p == "LICENSE" && f.size > limits.max_license {
            return Err(invalid(
                p,
                format!(
                    "LICENSE file too large (max size is {} bytes)",
                    limits.max_license
                ),
            ));
        }
        valid.push(f);
    }
    Ok(valid)
}

/// Go's `path.Split`: the directory part keeps its trailing slash.
fn split_dir_base(p: &str) -> (&str, &str) {
    match p.rfind('/') {
        Some(i) => (&p[..=i], &p[i + 1..]),
        None => ("", p),
    }
}

/// Whether the go.mod declares a language version of at least 1.24, which switches
/// x/mod's vendored-package rules (`version.Compare(vers, "go1.24") >= 0`). An
/// unreadable go.mod or one without a `go` line counts as older, as in Go.
fn go_at_least_1_24(gomod_data: &[u8]) -> bool {
    let Ok(text) = std::str::from_utf8(gomod_data) else {
        return false;
    };
    let Ok(parsed) = gomod::parse_lax(Path::new("go.mod"), text) else {
        return false;
    };
    let Some(go) = parsed.go else { return false };
    let mut parts = go.split(|c: char| !c.is_ascii_digit());
    let major: u64 = parts.next().and_then(|s| s.parse().ok()).unwrap_or(0);
    let minor: u64 = parts.next().and_then(|s| s.parse().ok()).unwrap_or(0);
    (major, minor) >= (1, 24)
}

/// x/mod/zip `isVendoredPackage`: whether `name` is inside a package whose import
/// path contains (but does not end with) a `vendor` element.
///
/// Before go 1.24 the `/vendor/` case skipped only `len("/vendor/")` bytes from the
/// start of the name instead of from the match (golang.org/issue/37397), so e.g.
/// `pkg/vendor/vendor.go` counts as vendored; that quirk is kept because changing it
/// would change the hashes of existing module versions. From go 1.24 on,
/// `vendor/modules.txt` is also omitted.
fn is_vendored_package(name: &str, go_1_24: bool) -> bool {
    if go_1_24 && name == "vendor/modules.txt" {
        return true;
    }
    let i = if name.starts_with("vendor/") {
        "vendor/".len()
    } else if let Some(j) = name.find("/vendor/") {
        if go_1_24 {
            j + "/vendor/".len()
        } else {
            "/vendor/".len()
        }
    } else {
        return false;
    };
    name.get(i..).is_some_and(|rest| rest.contains('/'))
}

/// x/mod/zip `collisionChecker`: case-insensitive name collisions and names used as
/// both a file and a directory.
#[derive(Default)]
struct CollisionChecker {
    seen: HashMap<String, (String, bool)>,
}

impl CollisionChecker {
    fn check(&mut self, p: &str, is_dir: bool) -> Result<(), String> {
        let fold = str_to_fold(p);
        if let Some((other, other_dir)) = self.seen.get(&fold) {
            if p != other {
                return Err(format!(
                    "case-insensitive file name collision: {other:?} and {p:?}"
                ));
            }
            if is_dir != *other_dir {
                return Err(format!("entry {p:?} is both a file and a directory"));
            }
            if !is_dir {
                return Err(format!("multiple entries for file {p:?}"));
            }
            // The same directory is checked once per file inside it.
        } else {
            self.seen.insert(fold, (p.to_string(), is_dir));
        }
        match p.rfind('/') {
            Some(i) => self.check(&p[..i], true),
            None => Ok(()),
        }
    }
}

/// A key equal for two strings exactly when Go's `strings.EqualFold` says they are
/// equal: each rune is mapped to the smallest rune in its simple case-folding orbit.
fn str_to_fold(s: &str) -> String {
    if s.bytes().all(|c| c.is_ascii() && !c.is_ascii_uppercase()) {
        return s.to_string();
    }
    s.chars().map(fold_rune).collect()
}

/// The smallest rune equivalent to `r` under simple case folding. Rust has no
/// `unicode.SimpleFold`; the orbit of a rune is approximated by its single-rune
/// lower- and upper-case mappings (and theirs), which covers the orbits Go's tables
/// hold for letters, including three-member ones such as k/K/KELVIN SIGN.
fn fold_rune(r: char) -> char {
    if r.is_ascii() {
        return r.to_ascii_lowercase();
    }
    if !matches!(
        r.general_category_group(),
        unicode_properties::GeneralCategoryGroup::Letter
    ) {
        return r;
    }
    let mut orbit = vec![r];
    let mut i = 0;
    while i < orbit.len() {
        let c = orbit[i];
        for m in [single(c.to_lowercase()), single(c.to_uppercase())]
            .into_iter()
            .flatten()
        {
            if !orbit.contains(&m) {
                orbit.push(m);
            }
        }
        i += 1;
    }
    // Go's strToFold maps the orbit's minimum, then A-Z to a-z (the ASCII fast path).
    orbit.into_iter().min().unwrap_or(r).to_ascii_lowercase()
}

fn single(mut it: impl Iterator<Item = char>) -> Option<char> {
    let c = it.next()?;
    it.next().is_none().then_some(c)
}

/// Go's `path.Clean` (lexical: `.` and `..` elements, repeated and trailing slashes).
fn go_path_clean(path: &str) -> String {
    if path.is_empty() {
        return ".".into();
    }
    let p = path.as_bytes();
    let n = p.len();
    let rooted = p[0] == b'/';
    let mut out: Vec<u8> = Vec::with_capacity(n);
    let (mut r, mut dotdot) = (0usize, 0usize);
    if rooted {
        out.push(b'/');
        r = 1;
        dotdot = 1;
    }
    while r < n {
        if p[r] == b'/' || (p[r] == b'.' && (r + 1 == n || p[r + 1] == b'/')) {
            // An empty or "." element.
            r += 1;
        } else if p[r] == b'.' && p.get(r + 1) == Some(&b'.') && (r + 2 == n || p[r + 2] == b'/') {
            r += 2;
            if out.len() > dotdot {
                out.pop();
                while out.len() > dotdot && out[out.len() - 1] != b'/' {
                    out.pop();
                }
                if out.len() > dotdot {
                    out.pop();
                }
            } else if !rooted {
                if !out.is_empty() {
                    out.push(b'/');
                }
                out.extend_from_slice(b"..");
                dotdot = out.len();
            }
        } else {
            if (rooted && out.len() != 1) || (!rooted && !out.is_empty()) {
                out.push(b'/');
            }
            while r < n && p[r] != b'/' {
                out.push(p[r]);
                r += 1;
            }
        }
    }
    if out.is_empty() {
        return ".".into();
    }
    // Only whole UTF-8 sequences are copied, so this cannot fail.
    String::from_utf8(out).unwrap_or_else(|e| String::from_utf8_lossy(e.as_bytes()).into_owned())
}

#[cfg(test)]
mod tests;
