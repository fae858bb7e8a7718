//! A GOCACHE directory tree: reading, writing, touching and copying entries.
//!
//! Layout (cmd/go/internal/cache/cache.go `fileName`): `<root>/<2 hex>/<64 hex>-a` action
//! entries and `<root>/<2 hex>/<64 hex>-d` outputs, the subdirectory being the first byte of
//! the ID. An output is normally a file; an executable cached by `go run`/`go tool` is a
//! `-d` directory holding exactly one file (cache.go `OutputFile`, `copyFile`).
//!
//! Writes go to a temporary file in the same subdirectory and are renamed into place, so a
//! concurrent `go` command sees either nothing or the whole file. Temporary names start with
//! `.gowarm-` and end in `.tmp`: never `-a`/`-d`, so Go's trim and our listing ignore them.
//! Nothing is fsynced, as Go does not either: after a crash a short file is a miss for Go
//! (length and size checks), never a wrong hit.

use std::ffi::OsString;
use std::fs::{self, File};
use std::io::{self, Read, Write};
use std::path::{Path, PathBuf};
use std::time::SystemTime;

use filetime::FileTime;
use sha2::{Digest, Sha256};

use crate::entry::{
    format_action_entry, parse_action_entry_for, ActionEntry, EntryError, ENTRY_LEN,
};
use crate::error::CacheError;
use crate::id::{Id, HEX_SIZE};
use crate::trim::{format_trim_txt, parse_trim_txt, TRIM_TXT};

const TMP_PREFIX: &str = ".gowarm-";
const TMP_SUFFIX: &str = ".tmp";
const COPY_BUF: usize = 256 * 1024;

/// A Go build cache (GOCACHE) directory.
#[derive(Debug, Clone)]
pub struct BuildCache {
    root: PathBuf,
}

/// Whether an action's entry can give Go a hit (cache.go `GetFile`'s checks).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EntryState {
    /// The action entry is well formed and its output exists with the recorded size.
    Complete(ActionEntry),
    /// No action entry, or one Go would not read (a miss; Go overwrites it).
    Missing,
    /// The action entry is fine but its output is absent or has the wrong size.
    Incomplete(ActionEntry),
}

/// How [`BuildCache::copy_entry_from`] copies.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct CopyOptions {
    /// Hash the output while copying and refuse it unless it matches its output ID.
    pub verify_output: bool,
}

/// What [`BuildCache::copy_entry_from`] did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct CopyOutcome {
    /// Bytes written into this cache (output plus action entry; 0 when already present).
    pub bytes: u64,
    /// The entry and its output were already here; only their mtimes were refreshed.
    pub already_present: bool,
}

/// The state of an action entry file as read from disk.
enum ActionFile {
    Absent,
    Malformed(EntryError),
    Ok(ActionEntry),
}

/// An output located on disk.
struct OutputFile {
    /// The file holding the bytes (inside the `-d` directory for executables).
    data: PathBuf,
    /// For an executable entry, the name of the file inside the `-d` directory.
    executable_name: Option<OsString>,
    len: u64,
}

impl BuildCache {
    /// Opens the cache at `root`, creating it and its 256 subdirectories if missing,
    /// as `go` does on first use (default.go `initDefaultCache`, cache.go `Open`).
    pub fn open(root: impl Into<PathBuf>) -> Result<Self, CacheError> {
        let root = root.into();
        match fs::metadata(&root) {
            Ok(meta) if !meta.is_dir() => return Err(CacheError::NotADirectory { path: root }),
            Ok(_) => {}
            Err(e) if e.kind() == io::ErrorKind::NotFound => {
                fs::create_dir_all(&root).map_err(CacheError::io("create directory", &root))?;
            }
            Err(e) => return Err(CacheError::io("stat", root)(e)),
        }
        for i in 0..=255u8 {
            let sub = root.join(format!("{i:02x}"));
            fs::create_dir_all(&sub).map_err(CacheError::io("create directory", &sub))?;
        }
        Ok(BuildCache { root })
    }

    /// The cache at `root` as it is, creating nothing: for reading a cache that may be
    /// read-only (a mounted warm image) or not exist yet (a fresh pod, when only asking).
    pub fn at(root: impl Into<PathBuf>) -> Self {
        BuildCache { root: root.into() }
    }

    /// Removes temporary files of gowarm writes (`.gowarm-*.tmp`) older than `age`,
    /// which a killed process leaves behind and Go never trims; returns how many.
    pub fn remove_stale_temps(&self, age: std::time::Duration) -> Result<u64, CacheError> {
        let cutoff = SystemTime::now() - age;
        let mut removed = 0;
        for i in 0..=255u8 {
            let sub = self.root.join(format!("{i:02x}"));
            let entries = match fs::read_dir(&sub) {
                Ok(e) => e,
                Err(e) if e.kind() == io::ErrorKind::NotFound => continue,
                Err(e) => return Err(CacheError::io("read directory", &sub)(e)),
            };
            for e in entries.flatten() {
                let name = e.file_name();
                let name = name.to_string_lossy();
                if !(name.starts_with(TMP_PREFIX) && name.ends_with(TMP_SUFFIX)) {
                    continue;
                }
                let old = e
                    .metadata()
                    .and_then(|m| m.modified())
                    .is_ok_and(|t| t < cutoff);
                if old && fs::remove_file(e.path()).is_ok() {
                    removed += 1;
                }
            }
        }
        Ok(removed)
    }

    /// The cache's root directory.
    pub fn root(&self) -> &Path {
        &self.root
    }

    /// Path of the action entry file for `id` (`<root>/<xx>/<hex>-a`).
    pub fn action_path(&self, id: &Id) -> PathBuf {
        self.file_name(id, "a")
    }

    /// Path of the output for `id` (`<root>/<xx>/<hex>-d`; a directory for executables).
    pub fn output_path(&self, id: &Id) -> PathBuf {
        self.file_name(id, "d")
    }

    /// Path of the `trim.txt` file.
    pub fn trim_txt_path(&self) -> PathBuf {
        self.root.join(TRIM_TXT)
    }

    fn file_name(&self, id: &Id, kind: &str) -> PathBuf {
        self.root.join(id.subdir()).join(format!("{id}-{kind}"))
    }

    /// Reads the action entry for `id`; `None` is a miss (absent, or malformed as Go treats it).
    ///
    /// Unlike Go's `get` this does not refresh the entry's mtime: use [`BuildCache::touch`].
    pub fn read_action(&self, id: &Id) -> Result<Option<ActionEntry>, CacheError> {
        Ok(match self.load_action(id)? {
            ActionFile::Ok(e) => Some(e),
            ActionFile::Absent => None,
            ActionFile::Malformed(err) => {
                tracing::debug!(path = %self.action_path(id).display(), error = %err, "malformed action entry");
                None
            }
        })
    }

    fn load_action(&self, id: &Id) -> Result<ActionFile, CacheError> {
        let path = self.action_path(id);
        let data = match read_prefix(&path, ENTRY_LEN + 1) {
            Ok(data) => data,
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(ActionFile::Absent),
            Err(e) => return Err(CacheError::io("read", path)(e)),
        };
        Ok(match parse_action_entry_for(id, &data) {
            Ok(e) => ActionFile::Ok(e),
            Err(e) => ActionFile::Malformed(e),
        })
    }

    /// Whether the entry for `action_id` would give Go a hit: Complete, Missing or Incomplete.
    pub fn entry_state(&self, action_id: &Id) -> Result<EntryState, CacheError> {
        let Some(entry) = self.read_action(action_id)? else {
            return Ok(EntryState::Missing);
        };
        Ok(match self.locate_output(&entry.output_id) {
            Ok(Some(out)) if out.len == entry.size => EntryState::Complete(entry),
            Ok(_) => EntryState::Incomplete(entry),
            // Go's OutputFile returns "DO NOT USE - invalid binary cache entry": a miss.
            Err(CacheError::InvalidExecutableEntry { .. }) => EntryState::Incomplete(entry),
            Err(e) => return Err(e),
        })
    }

    /// The file holding the bytes of output `id` (inside the `-d` directory for an
    /// executable), like Go's `OutputFile`; `None` if absent.
    pub fn output_file(&self, id: &Id) -> Result<Option<PathBuf>, CacheError> {
        Ok(self.locate_output(id)?.map(|o| o.data))
    }

    fn locate_output(&self, id: &Id) -> Result<Option<OutputFile>, CacheError> {
        let path = self.output_path(id);
        let meta = match fs::metadata(&path) {
            Ok(m) => m,
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(None),
            Err(e) => return Err(CacheError::io("stat", path)(e)),
        };
        if !meta.is_dir() {
            return Ok(Some(OutputFile {
                data: path,
                executable_name: None,
                len: meta.len(),
            }));
        }
        // An executable entry: Go requires exactly one file inside (cache.go `OutputFile`).
        let mut names = Vec::new();
        for item in fs::read_dir(&path).map_err(CacheError::io("read directory", &path))? {
            let item = item.map_err(CacheError::io("read directory", &path))?;
            names.push(item.file_name());
        }
        if names.len() != 1 {
            return Err(CacheError::InvalidExecutableEntry { path });
        }
        let name = names.remove(0);
        let data = path.join(&name);
        let meta = fs::metadata(&data).map_err(CacheError::io("stat", &data))?;
        Ok(Some(OutputFile {
            data,
            executable_name: Some(name),
            len: meta.len(),
        }))
    }

    /// Writes the action entry for `id` atomically (temporary file in the same directory,
    /// then rename), with mtime now.
    pub fn write_action(&self, id: &Id, e: &ActionEntry) -> Result<(), CacheError> {
        let bytes = format_action_entry(id, e).map_err(|source| CacheError::InvalidEntry {
            action_id: *id,
            source,
        })?;
        let path = self.action_path(id);
        let mut tmp = self.temp_file(&path)?;
        tmp.write_all(&bytes)
            .map_err(CacheError::io("write", tmp.path()))?;
        persist(tmp, &path)
    }

    /// Stores `data` as an output, named by its SHA-256, and returns that output ID.
    /// An identical output already present is kept and its mtime refreshed.
    pub fn put_output(&self, data: &[u8]) -> Result<Id, CacheError> {
        let id = Id::of_content(data);
        if self.output_matches(&id, data.len() as u64, true)? {
            self.set_mtime_now(&self.output_path(&id))?;
            return Ok(id);
        }
        self.write_output(
            data,
            Path::new("<memory>"),
            &id,
            data.len() as u64,
            false,
            None,
        )?;
        Ok(id)
    }

    /// Installs the file at `src` as output `expected` of `size` bytes, hashing while
    /// copying; on a hash or size mismatch nothing is left in the cache. Returns the bytes
    /// written (0 when an identical output was already present; its mtime is refreshed).
    pub fn install_output_from(
        &self,
        src: &Path,
        expected: &Id,
        size: u64,
    ) -> Result<u64, CacheError> {
        if self.output_matches(expected, size, true)? {
            self.set_mtime_now(&self.output_path(expected))?;
            return Ok(0);
        }
        let file = File::open(src).map_err(CacheError::io("open", src))?;
        self.write_output(file, src, expected, size, true, None)
    }

    /// Whether output `id` is present and its content hashes to `id`.
    pub fn verify_output(&self, id: &Id) -> Result<bool, CacheError> {
        let out = match self.locate_output(id) {
            Ok(Some(out)) => out,
            Ok(None) | Err(CacheError::InvalidExecutableEntry { .. }) => return Ok(false),
            Err(e) => return Err(e),
        };
        let file = match File::open(&out.data) {
            Ok(f) => f,
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(false),
            Err(e) => return Err(CacheError::io("open", out.data)(e)),
        };
        let (actual, _) = hash_reader(file, &out.data)?;
        Ok(actual == *id)
    }

    /// Sets the mtime of the action entry `id` and of its output to now, so Go's trim keeps
    /// them for another 5 days.
    pub fn touch(&self, id: &Id) -> Result<(), CacheError> {
        let entry = match self.load_action(id)? {
            ActionFile::Ok(e) => e,
            ActionFile::Absent => {
                return Err(CacheError::MissingEntry {
                    path: self.action_path(id),
                })
            }
            ActionFile::Malformed(source) => {
                return Err(CacheError::MalformedEntry {
                    path: self.action_path(id),
                    source,
                })
            }
        };
        let output = self.output_path(&entry.output_id);
        if !output.exists() {
            return Err(CacheError::MissingOutput { path: output });
        }
        self.set_mtime_now(&self.action_path(id))?;
        self.set_mtime_now(&output)
    }

    /// Writes `trim.txt` as Go does after a trim at `now`, so the next `go` command does not
    /// trim for a day. `now` must be the real time: Go trims anyway when the file is over
    /// an hour in the future.
    pub fn write_trim_txt(&self, now: SystemTime) -> Result<(), CacheError> {
        let path = self.trim_txt_path();
        let mut tmp = self.temp_file(&path)?;
        tmp.write_all(format_trim_txt(now).as_bytes())
            .map_err(CacheError::io("write", tmp.path()))?;
        persist(tmp, &path)
    }

    /// Reads `trim.txt` as Go does; `None` if absent or unparsable (Go then trims at once).
    pub fn read_trim_txt(&self) -> Result<Option<SystemTime>, CacheError> {
        let path = self.trim_txt_path();
        match read_prefix(&path, 64) {
            Ok(data) => Ok(parse_trim_txt(&data)),
            Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(CacheError::io("read", path)(e)),
        }
    }

    /// Every well-formed action entry, sorted by action ID; malformed ones are logged and
    /// skipped, as Go would ignore them.
    pub fn entries(&self) -> Result<Vec<(Id, ActionEntry)>, CacheError> {
        let mut out = Vec::new();
        for i in 0..=255u8 {
            let sub = self.root.join(format!("{i:02x}"));
            let listing = match fs::read_dir(&sub) {
                Ok(l) => l,
                Err(e) if e.kind() == io::ErrorKind::NotFound => continue,
                Err(e) => return Err(CacheError::io("read directory", sub)(e)),
            };
            for item in listing {
                let item = item.map_err(CacheError::io("read directory", &sub))?;
                let Some(id) = action_file_id(&item.file_name(), i) else {
                    continue;
                };
                match self.load_action(&id)? {
                    ActionFile::Ok(e) => out.push((id, e)),
                    // Trimmed by a concurrent `go` command between listing and reading.
                    ActionFile::Absent => {}
                    ActionFile::Malformed(err) => {
                        tracing::warn!(path = %item.path().display(), error = %err, "skipping malformed action entry");
                    }
                }
            }
        }
        out.sort_by_key(|(id, _)| *id);
        Ok(out)
    }

    /// Copies the entry for `action_id` from `other`: first its output (verified against its
    /// ID when asked), then the action entry, so a reader never sees an entry whose output is
    /// missing; both end with mtime now. The entry's recorded time is kept (`go test` compares
    /// it with testexpire.txt).
    pub fn copy_entry_from(
        &self,
        other: &BuildCache,
        action_id: &Id,
        opts: CopyOptions,
    ) -> Result<CopyOutcome, CacheError> {
        let src_entry = match other.load_action(action_id)? {
            ActionFile::Ok(e) => e,
            ActionFile::Absent => {
                return Err(CacheError::MissingEntry {
                    path: other.action_path(action_id),
                })
            }
            ActionFile::Malformed(source) => {
                return Err(CacheError::MalformedEntry {
                    path: other.action_path(action_id),
                    source,
                })
            }
        };
        let out_id = src_entry.output_id;

        let have_output = self.output_matches(&out_id, src_entry.size, opts.verify_output)?;
        let have_entry = matches!(
            self.load_action(action_id)?,
            ActionFile::Ok(e) if e.output_id == out_id && e.size == src_entry.size
        );
        if have_output && have_entry {
            self.set_mtime_now(&self.output_path(&out_id))?;
            self.set_mtime_now(&self.action_path(action_id))?;
            return Ok(CopyOutcome {
                bytes: 0,
                already_present: true,
            });
        }

        let mut bytes = 0;
        if have_output {
            self.set_mtime_now(&self.output_path(&out_id))?;
        } else {
            let src = other
                .locate_output(&out_id)?
                .ok_or_else(|| CacheError::MissingOutput {
                    path: other.output_path(&out_id),
                })?;
            // Checked before copying so a truncated source fails fast and names itself.
            if src.len != src_entry.size {
                return Err(CacheError::SizeMismatch {
                    path: src.data,
                    expected: src_entry.size,
                    actual: src.len,
                });
            }
            let file = File::open(&src.data).map_err(CacheError::io("open", &src.data))?;
            bytes += self.write_output(
                file,
                &src.data,
                &out_id,
                src_entry.size,
                opts.verify_output,
                src.executable_name.as_deref(),
            )?;
        }
        self.write_action(action_id, &src_entry)?;
        bytes += ENTRY_LEN as u64;
        Ok(CopyOutcome {
            bytes,
            already_present: false,
        })
    }

    /// Total size in bytes of the regular files under the cache root.
    pub fn size_on_disk(&self) -> Result<u64, CacheError> {
        dir_size(&self.root)
    }

    /// Whether output `id` is present with `size` bytes (and, if `verify`, hashes to `id`).
    fn output_matches(&self, id: &Id, size: u64, verify: bool) -> Result<bool, CacheError> {
        match self.locate_output(id) {
            Ok(Some(out)) if out.len == size => {
                if !verify {
                    return Ok(true);
                }
                let file = File::open(&out.data).map_err(CacheError::io("open", &out.data))?;
                Ok(hash_reader(file, &out.data)?.0 == *id)
            }
            Ok(_) => Ok(false),
            // A broken executable directory is replaced, not reported.
            Err(CacheError::InvalidExecutableEntry { .. }) => Ok(false),
            Err(e) => Err(e),
        }
    }

    /// Streams `src` into output `id`, checking its size (and hash when `verify`), then
    /// renames it into place. Returns the bytes written.
    fn write_output(
        &self,
        src: impl Read,
        src_path: &Path,
        id: &Id,
        size: u64,
        verify: bool,
        executable_name: Option<&std::ffi::OsStr>,
    ) -> Result<u64, CacheError> {
        let target = self.output_path(id);
        match executable_name {
            None => {
                let mut tmp = self.temp_file(&target)?;
                let tmp_path = tmp.path().to_path_buf();
                copy_checked(
                    src,
                    src_path,
                    tmp.as_file_mut(),
                    &tmp_path,
                    id,
                    size,
                    verify,
                )?;
                persist(tmp, &target)?;
            }
            Some(name) => {
                // Go keeps executables as `<hex>-d/<name>` with mode 0777 (cache.go `copyFile`).
                let dir = self.temp_dir(&target)?;
                let inner = dir.path().join(name);
                let mut file = create_with_mode(&inner, 0o777)?;
                copy_checked(src, src_path, &mut file, &inner, id, size, verify)?;
                drop(file);
                replace_with(dir.path(), &target)?;
                // Renamed away: nothing is left for TempDir to clean up.
                let _ = dir.keep();
            }
        }
        Ok(size)
    }

    fn temp_file(&self, target: &Path) -> Result<tempfile::NamedTempFile, CacheError> {
        let dir = target.parent().unwrap_or(&self.root);
        let mut b = tempfile::Builder::new();
        b.prefix(TMP_PREFIX).suffix(TMP_SUFFIX);
        set_mode(&mut b, 0o666);
        b.tempfile_in(dir)
            .map_err(CacheError::io("create temporary file in", dir))
    }

    fn temp_dir(&self, target: &Path) -> Result<tempfile::TempDir, CacheError> {
        let dir = target.parent().unwrap_or(&self.root);
        let mut b = tempfile::Builder::new();
        b.prefix(TMP_PREFIX).suffix(TMP_SUFFIX);
        set_mode(&mut b, 0o777);
        b.tempdir_in(dir)
            .map_err(CacheError::io("create temporary directory in", dir))
    }

    fn set_mtime_now(&self, path: &Path) -> Result<(), CacheError> {
        let now = FileTime::now();
        // Go sets both times (`os.Chtimes(file, now, now)` in cache.go `markUsed`).
        filetime::set_file_times(path, now, now).map_err(CacheError::io("set times of", path))
    }
}

/// The action ID named by a `<64 lower hex>-a` file in subdirectory `sub`; `None` for any
/// other file (outputs, temporary files, a misfiled entry Go would never look up).
fn action_file_id(name: &std::ffi::OsStr, sub: u8) -> Option<Id> {
    let name = name.to_str()?;
    let hex = name.strip_suffix("-a")?;
    // Go names files with `%x` (lower case); an upper-case name is never looked up.
    if hex.len() != HEX_SIZE || hex.bytes().any(|b| b.is_ascii_uppercase()) {
        return None;
    }
    let id = Id::from_hex(hex).ok()?;
    (id.0[0] == sub).then_some(id)
}

/// Reads at most `limit` bytes of `path` (Go reads `entrySize+1` to detect long entries).
fn read_prefix(path: &Path, limit: usize) -> io::Result<Vec<u8>> {
    let mut data = Vec::with_capacity(limit);
    File::open(path)?
        .take(limit as u64)
        .read_to_end(&mut data)?;
    Ok(data)
}

/// Copies exactly `size` bytes from `src` to `dst`, failing if `src` is shorter or longer,
/// and (when `verify`) if the bytes do not hash to `id`.
fn copy_checked(
    src: impl Read,
    src_path: &Path,
    dst: &mut File,
    dst_path: &Path,
    id: &Id,
    size: u64,
    verify: bool,
) -> Result<(), CacheError> {
    // One extra byte tells a longer source from an exact one without reading it all.
    let mut src = src.take(size.saturating_add(1));
    let mut hasher = Sha256::new();
    let mut buf = vec![0u8; COPY_BUF];
    let mut copied: u64 = 0;
    loop {
        let n = match src.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(CacheError::io("read", src_path)(e)),
        };
        copied += n as u64;
        if copied > size {
            return Err(CacheError::SizeMismatch {
                path: src_path.to_path_buf(),
                expected: size,
                actual: copied,
            });
        }
        if verify {
            hasher.update(&buf[..n]);
        }
        dst.write_all(&buf[..n])
            .map_err(CacheError::io("write", dst_path))?;
    }
    if copied != size {
        return Err(CacheError::SizeMismatch {
            path: src_path.to_path_buf(),
            expected: size,
            actual: copied,
        });
    }
    if verify {
        let actual = Id(hasher.finalize().into());
        if actual != *id {
            return Err(CacheError::HashMismatch {
                path: src_path.to_path_buf(),
                expected: *id,
                actual,
            });
        }
    }
    dst.flush().map_err(CacheError::io("write", dst_path))
}

fn hash_reader(mut r: impl Read, path: &Path) -> Result<(Id, u64), CacheError> {
    let mut hasher = Sha256::new();
    let mut buf = vec![0u8; COPY_BUF];
    let mut total = 0u64;
    loop {
        let n = match r.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(CacheError::io("read", path)(e)),
        };
        hasher.update(&buf[..n]);
        total += n as u64;
    }
    Ok((Id(hasher.finalize().into()), total))
}

/// Renames a finished temporary file over `target`, replacing a directory there if needed
/// (a broken executable entry where a plain output belongs).
fn persist(tmp: tempfile::NamedTempFile, target: &Path) -> Result<(), CacheError> {
    match tmp.persist(target) {
        Ok(_) => Ok(()),
        Err(e) if target.is_dir() => {
            fs::remove_dir_all(target).map_err(CacheError::io("remove", target))?;
            e.file
                .persist(target)
                .map(|_| ())
                .map_err(|e| CacheError::io("rename into", target)(e.error))
        }
        Err(e) => Err(CacheError::io("rename into", target)(e.error)),
    }
}

/// Renames directory `from` to `target`, first removing whatever is at `target`
/// (rename cannot replace a non-empty directory).
fn replace_with(from: &Path, target: &Path) -> Result<(), CacheError> {
    match fs::symlink_metadata(target) {
        Ok(m) if m.is_dir() => {
            fs::remove_dir_all(target).map_err(CacheError::io("remove", target))?
        }
        Ok(_) => fs::remove_file(target).map_err(CacheError::io("remove", target))?,
        Err(e) if e.kind() == io::ErrorKind::NotFound => {}
        Err(e) => return Err(CacheError::io("stat", target)(e)),
    }
    fs::rename(from, target).map_err(CacheError::io("rename into", target))
}

fn create_with_mode(path: &Path, mode: u32) -> Result<File, CacheError> {
    let mut opts = fs::OpenOptions::new();
    opts.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        opts.mode(mode);
    }
    #[cfg(not(unix))]
    let _ = mode;
    opts.open(path).map_err(CacheError::io("create", path))
}

/// Asks for Go's creation modes (0666 files, 0777 executables and directories), which the
/// umask then narrows, instead of tempfile's private 0600: GOCACHE is often shared by a pod's
/// init container and its runner, which may not be the same user.
fn set_mode(b: &mut tempfile::Builder<'_, '_>, mode: u32) {
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        b.permissions(fs::Permissions::from_mode(mode));
    }
    #[cfg(not(unix))]
    let _ = (b, mode);
}

fn dir_size(dir: &Path) -> Result<u64, CacheError> {
    let listing = match fs::read_dir(dir) {
        Ok(l) => l,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(0),
        Err(e) => return Err(CacheError::io("read directory", dir)(e)),
    };
    let mut total = 0;
    for item in listing {
        let item = item.map_err(CacheError::io("read directory", dir))?;
        let path = item.path();
        let meta = match fs::symlink_metadata(&path) {
            Ok(m) => m,
            // Removed by a concurrent trim while we walked.
            Err(e) if e.kind() == io::ErrorKind::NotFound => continue,
            Err(e) => return Err(CacheError::io("stat", path)(e)),
        };
        if meta.is_dir() {
            total += dir_size(&path)?;
        } else if meta.is_file() {
            total += meta.len();
        }
    }
    Ok(total)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    fn cache() -> (tempfile::TempDir, BuildCache) {
        let dir = tempfile::tempdir().unwrap();
        let cache = BuildCache::open(dir.path().join("gocache")).unwrap();
        (dir, cache)
    }

    fn entry_for(cache: &BuildCache, action: u8, content: &[u8]) -> (Id, ActionEntry) {
        let output_id = cache.put_output(content).unwrap();
        let id = Id([action; 32]);
        let e = ActionEntry {
            output_id,
            size: content.len() as u64,
            time_nanos: 1_700_000_000_123_456_789,
        };
        cache.write_action(&id, &e).unwrap();
        (id, e)
    }

    fn mtime(path: &Path) -> SystemTime {
        fs::metadata(path).unwrap().modified().unwrap()
    }

    fn age(path: &Path) -> Duration {
        SystemTime::now()
            .duration_since(mtime(path))
            .unwrap_or(Duration::ZERO)
    }

    fn make_old(path: &Path) {
        let old = FileTime::from_system_time(SystemTime::now() - Duration::from_secs(10 * 86400));
        filetime::set_file_times(path, old, old).unwrap();
    }

    /// Names in a cache subdirectory, to check that failed writes leave nothing behind.
    fn names_in(dir: &Path) -> Vec<String> {
        let mut v: Vec<String> = fs::read_dir(dir)
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        v.sort();
        v
    }

    #[test]
    fn stale_temporary_files_are_swept_fresh_ones_kept() {
        let dir = tempfile::tempdir().unwrap();
        let cache = BuildCache::open(dir.path().join("gocache")).unwrap();
        let old = cache.root().join("ab").join(".gowarm-old.tmp");
        let fresh = cache.root().join("ab").join(".gowarm-new.tmp");
        let entry = cache.root().join("ab").join("ab00-d");
        for p in [&old, &fresh, &entry] {
            fs::write(p, b"x").unwrap();
        }
        let ten_days = filetime::FileTime::from_system_time(
            SystemTime::now() - std::time::Duration::from_secs(10 * 86400),
        );
        filetime::set_file_times(&old, ten_days, ten_days).unwrap();
        filetime::set_file_times(&entry, ten_days, ten_days).unwrap();
        let n = cache
            .remove_stale_temps(std::time::Duration::from_secs(3600))
            .unwrap();
        assert_eq!(n, 1);
        assert!(!old.exists());
        assert!(fresh.exists(), "a live write's temp file is kept");
        assert!(entry.exists(), "cache entries are Go's to trim");
    }

    #[test]
    fn open_creates_layout() {
        let (_dir, cache) = cache();
        for i in 0..=255u8 {
            assert!(cache.root().join(format!("{i:02x}")).is_dir());
        }
        // Opening again is fine.
        BuildCache::open(cache.root()).unwrap();
    }

    #[test]
    fn open_errors_name_the_path() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("file");
        fs::write(&file, b"x").unwrap();
        match BuildCache::open(&file) {
            Err(CacheError::NotADirectory { path }) => assert_eq!(path, file),
            other => panic!("want NotADirectory, got {other:?}"),
        }
        let under_file = file.join("cache");
        let err = BuildCache::open(&under_file).unwrap_err();
        assert!(
            err.to_string().contains(&*under_file.to_string_lossy()),
            "{err}"
        );
    }

    #[test]
    fn paths_follow_go_layout() {
        let (_dir, cache) = cache();
        let id = Id([0xab; 32]);
        let hex = id.to_hex();
        assert_eq!(
            cache.action_path(&id),
            cache.root().join("ab").join(format!("{hex}-a"))
        );
        assert_eq!(
            cache.output_path(&id),
            cache.root().join("ab").join(format!("{hex}-d"))
        );
    }

    #[test]
    fn action_round_trip_and_misses() {
        let (_dir, cache) = cache();
        let (id, e) = entry_for(&cache, 1, b"hello");
        assert_eq!(cache.read_action(&id).unwrap(), Some(e));
        assert_eq!(fs::read(cache.action_path(&id)).unwrap().len(), ENTRY_LEN);

        let absent = Id([2; 32]);
        assert_eq!(cache.read_action(&absent).unwrap(), None);

        // Malformed content is a miss, not an error.
        fs::write(cache.action_path(&absent), b"v1 garbage\n").unwrap();
        assert_eq!(cache.read_action(&absent).unwrap(), None);

        // An entry copied under another action's name is a miss ("mismatched ID" in Go).
        let other = Id([3; 32]);
        fs::copy(cache.action_path(&id), cache.action_path(&other)).unwrap();
        assert_eq!(cache.read_action(&other).unwrap(), None);
        assert_eq!(cache.entry_state(&other).unwrap(), EntryState::Missing);
    }

    #[test]
    fn entry_states() {
        let (_dir, cache) = cache();
        let (id, e) = entry_for(&cache, 1, b"some output");
        assert_eq!(cache.entry_state(&id).unwrap(), EntryState::Complete(e));

        // Wrong size: Go's GetFile says "file incomplete".
        fs::write(cache.output_path(&e.output_id), b"some").unwrap();
        assert_eq!(cache.entry_state(&id).unwrap(), EntryState::Incomplete(e));

        fs::remove_file(cache.output_path(&e.output_id)).unwrap();
        assert_eq!(cache.entry_state(&id).unwrap(), EntryState::Incomplete(e));
        assert_eq!(
            cache.entry_state(&Id([9; 32])).unwrap(),
            EntryState::Missing
        );
    }

    #[test]
    fn write_action_refuses_unreadable_values() {
        let (_dir, cache) = cache();
        let id = Id([1; 32]);
        let e = ActionEntry {
            output_id: Id([2; 32]),
            size: u64::MAX,
            time_nanos: 0,
        };
        assert!(matches!(
            cache.write_action(&id, &e),
            Err(CacheError::InvalidEntry { .. })
        ));
        assert!(!cache.action_path(&id).exists());
    }

    #[test]
    fn put_output_is_content_addressed_and_idempotent() {
        let (_dir, cache) = cache();
        let id = cache.put_output(b"abc").unwrap();
        assert_eq!(
            id.to_hex(),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
        assert_eq!(fs::read(cache.output_path(&id)).unwrap(), b"abc");
        make_old(&cache.output_path(&id));
        assert_eq!(cache.put_output(b"abc").unwrap(), id);
        assert!(age(&cache.output_path(&id)) < Duration::from_secs(60));
        assert!(cache.verify_output(&id).unwrap());

        // A corrupted output of the right size is rewritten.
        fs::write(cache.output_path(&id), b"abd").unwrap();
        assert!(!cache.verify_output(&id).unwrap());
        cache.put_output(b"abc").unwrap();
        assert!(cache.verify_output(&id).unwrap());

        let empty = cache.put_output(b"").unwrap();
        assert_eq!(fs::metadata(cache.output_path(&empty)).unwrap().len(), 0);
    }

    #[test]
    fn install_output_from_checks_hash_and_size() {
        let (dir, cache) = cache();
        let data = vec![7u8; 600_000];
        let id = Id::of_content(&data);
        let src = dir.path().join("src");
        fs::write(&src, &data).unwrap();
        let sub = cache.root().join(id.subdir());

        // Wrong id: refused, nothing left behind (no output, no temporary file).
        let wrong = Id([0x55; 32]);
        let wrong_sub = cache.root().join(wrong.subdir());
        match cache.install_output_from(&src, &wrong, data.len() as u64) {
            Err(CacheError::HashMismatch {
                expected,
                actual,
                path,
            }) => {
                assert_eq!(expected, wrong);
                assert_eq!(actual, id);
                assert_eq!(path, src);
            }
            other => panic!("want HashMismatch, got {other:?}"),
        }
        assert!(names_in(&wrong_sub).is_empty());

        // Source shorter or longer than the size asked for: refused.
        for size in [data.len() as u64 + 1, data.len() as u64 - 1] {
            assert!(matches!(
                cache.install_output_from(&src, &id, size),
                Err(CacheError::SizeMismatch { .. })
            ));
            assert!(names_in(&sub).is_empty());
        }

        assert_eq!(
            cache
                .install_output_from(&src, &id, data.len() as u64)
                .unwrap(),
            data.len() as u64
        );
        assert!(cache.verify_output(&id).unwrap());
        assert_eq!(names_in(&sub), vec![format!("{id}-d")]);
        // Already there: nothing written.
        assert_eq!(
            cache
                .install_output_from(&src, &id, data.len() as u64)
                .unwrap(),
            0
        );

        let missing = dir.path().join("missing");
        let err = cache.install_output_from(&missing, &id, 1).unwrap_err();
        assert!(err.to_string().contains("missing"), "{err}");
    }

    #[test]
    fn verify_output_absent_is_false() {
        let (_dir, cache) = cache();
        assert!(!cache.verify_output(&Id([1; 32])).unwrap());
    }

    #[test]
    fn touch_refreshes_both_mtimes() {
        let (_dir, cache) = cache();
        let (id, e) = entry_for(&cache, 4, b"touch me");
        let (a, d) = (cache.action_path(&id), cache.output_path(&e.output_id));
        make_old(&a);
        make_old(&d);
        assert!(age(&a) > Duration::from_secs(9 * 86400));
        cache.touch(&id).unwrap();
        assert!(age(&a) < Duration::from_secs(60));
        assert!(age(&d) < Duration::from_secs(60));
        assert!(!crate::trim::expired(mtime(&a), SystemTime::now()));

        assert!(matches!(
            cache.touch(&Id([5; 32])),
            Err(CacheError::MissingEntry { .. })
        ));
        fs::remove_file(&d).unwrap();
        assert!(matches!(
            cache.touch(&id),
            Err(CacheError::MissingOutput { .. })
        ));
    }

    #[test]
    fn trim_txt_is_what_go_reads() {
        let (_dir, cache) = cache();
        assert_eq!(cache.read_trim_txt().unwrap(), None);
        let now = SystemTime::UNIX_EPOCH
            + Duration::from_secs(1_796_298_373)
            + Duration::from_millis(250);
        cache.write_trim_txt(now).unwrap();
        assert_eq!(fs::read(cache.trim_txt_path()).unwrap(), b"1796298373");
        let read = cache.read_trim_txt().unwrap().unwrap();
        assert_eq!(
            read,
            SystemTime::UNIX_EPOCH + Duration::from_secs(1_796_298_373)
        );
        assert!(!crate::trim::trim_due(Some(read), now));
        assert!(crate::trim::trim_due(
            Some(read),
            now + Duration::from_secs(86400)
        ));
    }

    #[test]
    fn entries_lists_well_formed_only() {
        let (_dir, cache) = cache();
        let (id1, e1) = entry_for(&cache, 0xab, b"one");
        let (id2, e2) = entry_for(&cache, 0x02, b"two");
        // Noise Go ignores: malformed entry, misfiled entry, temp file, upper-case name.
        let bad = Id([0x30; 32]);
        fs::write(cache.action_path(&bad), b"nope").unwrap();
        let misfiled = cache.root().join("00").join(format!("{id1}-a"));
        fs::copy(cache.action_path(&id1), &misfiled).unwrap();
        fs::write(cache.root().join("ab").join(".gowarm-x.tmp"), b"").unwrap();
        let upper = cache
            .root()
            .join("ab")
            .join(format!("{}-a", id1.to_hex().to_uppercase()));
        fs::copy(cache.action_path(&id1), upper).unwrap();
        fs::write(cache.trim_txt_path(), b"1").unwrap();

        assert_eq!(cache.entries().unwrap(), vec![(id2, e2), (id1, e1)]);
    }

    #[test]
    fn copy_entry_from_copies_output_then_entry() {
        let (_d1, src) = cache();
        let (_d2, dst) = cache();
        let (id, e) = entry_for(&src, 7, b"compiled package");
        make_old(&src.action_path(&id));
        make_old(&src.output_path(&e.output_id));

        let opts = CopyOptions {
            verify_output: true,
        };
        let out = dst.copy_entry_from(&src, &id, opts).unwrap();
        assert_eq!(
            out,
            CopyOutcome {
                bytes: e.size + ENTRY_LEN as u64,
                already_present: false
            }
        );
        assert_eq!(dst.entry_state(&id).unwrap(), EntryState::Complete(e));
        assert_eq!(
            fs::read(dst.action_path(&id)).unwrap(),
            fs::read(src.action_path(&id)).unwrap()
        );
        // Copies get mtime now, not the source's old one: Go would trim those at once.
        assert!(age(&dst.action_path(&id)) < Duration::from_secs(60));
        assert!(age(&dst.output_path(&e.output_id)) < Duration::from_secs(60));

        make_old(&dst.action_path(&id));
        let again = dst.copy_entry_from(&src, &id, opts).unwrap();
        assert_eq!(
            again,
            CopyOutcome {
                bytes: 0,
                already_present: true
            }
        );
        assert!(age(&dst.action_path(&id)) < Duration::from_secs(60));

        // Output present but entry missing: only the entry is written.
        fs::remove_file(dst.action_path(&id)).unwrap();
        let entry_only = dst.copy_entry_from(&src, &id, opts).unwrap();
        assert_eq!(entry_only.bytes, ENTRY_LEN as u64);
        assert!(!entry_only.already_present);
    }

    #[test]
    fn copy_entry_from_refuses_bad_sources() {
        let (_d1, src) = cache();
        let (_d2, dst) = cache();
        let (id, e) = entry_for(&src, 7, b"compiled package");
        // Same size, different bytes: only verification catches it.
        fs::write(src.output_path(&e.output_id), b"compiled packagf").unwrap();
        let verify = CopyOptions {
            verify_output: true,
        };
        assert!(matches!(
            dst.copy_entry_from(&src, &id, verify),
            Err(CacheError::HashMismatch { .. })
        ));
        assert!(!dst.action_path(&id).exists());
        assert!(!dst.output_path(&e.output_id).exists());
        assert!(names_in(&dst.root().join(e.output_id.subdir())).is_empty());

        fs::write(src.output_path(&e.output_id), b"short").unwrap();
        assert!(matches!(
            dst.copy_entry_from(&src, &id, CopyOptions::default()),
            Err(CacheError::SizeMismatch { .. })
        ));
        fs::remove_file(src.output_path(&e.output_id)).unwrap();
        assert!(matches!(
            dst.copy_entry_from(&src, &id, CopyOptions::default()),
            Err(CacheError::MissingOutput { .. })
        ));
        assert!(matches!(
            dst.copy_entry_from(&src, &Id([1; 32]), CopyOptions::default()),
            Err(CacheError::MissingEntry { .. })
        ));
        assert!(!dst.action_path(&id).exists());
    }

    #[test]
    fn executable_entries_are_directories() {
        // `go run`/`go tool` cache binaries as `<hex>-d/<name>` (cache.go PutExecutable).
        let (_d1, src) = cache();
        let (_d2, dst) = cache();
        let binary = b"\x7fELF fake binary";
        let out_id = Id::of_content(binary);
        let dir = src.output_path(&out_id);
        fs::create_dir(&dir).unwrap();
        fs::write(dir.join("stringer"), binary).unwrap();
        let id = Id([0x42; 32]);
        let e = ActionEntry {
            output_id: out_id,
            size: binary.len() as u64,
            time_nanos: 1,
        };
        src.write_action(&id, &e).unwrap();
        assert_eq!(src.entry_state(&id).unwrap(), EntryState::Complete(e));
        assert!(src.verify_output(&out_id).unwrap());
        assert_eq!(
            src.output_file(&out_id).unwrap(),
            Some(dir.join("stringer"))
        );

        let out = dst
            .copy_entry_from(
                &src,
                &id,
                CopyOptions {
                    verify_output: true,
                },
            )
            .unwrap();
        assert!(!out.already_present);
        let copied = dst.output_path(&out_id).join("stringer");
        assert_eq!(fs::read(&copied).unwrap(), binary);
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = fs::metadata(&copied).unwrap().permissions().mode();
            assert_eq!(mode & 0o100, 0o100, "executable bit kept: {mode:o}");
        }
        assert_eq!(dst.entry_state(&id).unwrap(), EntryState::Complete(e));

        // Two files inside: Go calls it an invalid binary cache entry, a miss.
        fs::write(dir.join("extra"), b"").unwrap();
        assert_eq!(src.entry_state(&id).unwrap(), EntryState::Incomplete(e));
        assert!(!src.verify_output(&out_id).unwrap());
        assert!(matches!(
            src.output_file(&out_id),
            Err(CacheError::InvalidExecutableEntry { .. })
        ));
        // Copying over it replaces the broken directory.
        fs::write(dst.output_path(&out_id).join("extra"), b"").unwrap();
        fs::remove_file(src.output_path(&out_id).join("extra")).unwrap();
        let again = dst
            .copy_entry_from(
                &src,
                &id,
                CopyOptions {
                    verify_output: true,
                },
            )
            .unwrap();
        assert!(!again.already_present);
        assert_eq!(dst.entry_state(&id).unwrap(), EntryState::Complete(e));
        assert!(!dst.output_path(&out_id).join("extra").exists());
    }

    #[cfg(target_os = "linux")]
    #[test]
    fn files_get_go_modes() {
        use std::os::unix::fs::PermissionsExt;
        // The process umask, from /proc (reading it any other way would change it).
        let Some(umask) = fs::read_to_string("/proc/self/status").ok().and_then(|s| {
            s.lines()
                .find_map(|l| l.strip_prefix("Umask:"))
                .and_then(|v| u32::from_str_radix(v.trim(), 8).ok())
        }) else {
            return;
        };
        let (_dir, cache) = cache();
        let (id, e) = entry_for(&cache, 1, b"mode");
        for path in [cache.action_path(&id), cache.output_path(&e.output_id)] {
            let mode = fs::metadata(&path).unwrap().permissions().mode() & 0o777;
            assert_eq!(mode, 0o666 & !umask, "{}", path.display());
        }
    }

    #[test]
    fn size_on_disk_sums_files() {
        let (_dir, cache) = cache();
        assert_eq!(cache.size_on_disk().unwrap(), 0);
        entry_for(&cache, 1, &[0u8; 1000]);
        cache.write_trim_txt(SystemTime::now()).unwrap();
        let trim_len = fs::metadata(cache.trim_txt_path()).unwrap().len();
        assert_eq!(
            cache.size_on_disk().unwrap(),
            1000 + ENTRY_LEN as u64 + trim_len
        );
    }
}
