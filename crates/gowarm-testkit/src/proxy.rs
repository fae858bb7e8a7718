//! A `file://` GOPROXY tree built from module source directories.
//!
//! Layout (the GOPROXY protocol, cmd/go/internal/modfetch/proxy.go):
//! `<escaped path>/@v/list`, `<escaped version>.info` (`{"Version","Time"}`), `.mod`, `.zip`.

use std::fs;
use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};

use gowarm_gomod::ModuleVersion;

use crate::error::{Result, TestkitError};

/// The `.info` time for a release version (Go shows it in `go list -m`, nothing checks it).
const RELEASE_TIME: &str = "2023-01-01T00:00:00Z";

/// The go.sum hashes of a module as the proxy serves it.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct ModuleHashes {
    /// `h1:` hash of the module zip's files.
    pub h1: String,
    /// `h1:` hash of the module's go.mod (the `/go.mod` line).
    pub gomod_h1: String,
}

impl ModuleHashes {
    /// The two go.sum lines for `m`, each ending in a newline.
    pub fn go_sum_lines(&self, m: &ModuleVersion) -> String {
        format!(
            "{p} {v} {h}\n{p} {v}/go.mod {g}\n",
            p = m.path,
            v = m.version,
            h = self.h1,
            g = self.gomod_h1
        )
    }
}

/// A directory laid out as a GOPROXY, to be used as `GOPROXY=file://…`.
#[derive(Debug)]
pub struct ProxyDir {
    root: PathBuf,
    served: Vec<(ModuleVersion, ModuleHashes)>,
    _temp: Option<tempfile::TempDir>,
}

impl ProxyDir {
    /// A proxy rooted at `root` (created if missing; existing modules stay served).
    pub fn new(root: impl Into<PathBuf>) -> Result<ProxyDir> {
        let root = root.into();
        fs::create_dir_all(&root).map_err(TestkitError::io("create directory", &root))?;
        let root = fs::canonicalize(&root).map_err(TestkitError::io("resolve", &root))?;
        Ok(ProxyDir {
            root,
            served: Vec::new(),
            _temp: None,
        })
    }

    /// A proxy in a fresh temporary directory, removed on drop.
    pub fn temp() -> Result<ProxyDir> {
        let temp = tempfile::Builder::new()
            .prefix("gowarm-proxy-")
            .tempdir()
            .map_err(TestkitError::io(
                "create temporary directory",
                std::env::temp_dir(),
            ))?;
        let mut proxy = ProxyDir::new(temp.path())?;
        proxy._temp = Some(temp);
        Ok(proxy)
    }

    /// The proxy's root directory.
    pub fn root(&self) -> &Path {
        &self.root
    }

    /// The GOPROXY value for this directory: `file:///…`.
    pub fn url(&self) -> String {
        file_url(&self.root)
    }

    /// The modules added through this value, with their hashes, in the order added.
    pub fn served(&self) -> &[(ModuleVersion, ModuleHashes)] {
        &self.served
    }

    /// The hashes of `m` if this value added it.
    pub fn hashes(&self, m: &ModuleVersion) -> Option<&ModuleHashes> {
        self.served.iter().find(|(s, _)| s == m).map(|(_, h)| h)
    }

    /// Path of the `@v` directory of module `path`.
    pub fn version_dir(&self, path: &str) -> Result<PathBuf> {
        let esc = gowarm_gomod::escape::escape_path(path)
            .map_err(TestkitError::module(&path, "escape path"))?;
        Ok(self.root.join(esc).join("@v"))
    }

    /// Path of the file `<escaped version>.<ext>` (`info`, `mod`, `zip`) of `m`.
    pub fn file_path(&self, m: &ModuleVersion, ext: &str) -> Result<PathBuf> {
        let v = gowarm_gomod::escape::escape_version(&m.version)
            .map_err(TestkitError::module(m, "escape version"))?;
        Ok(self.version_dir(&m.path)?.join(format!("{v}.{ext}")))
    }

    /// Serves the tree `src_dir` as module `path@version`: writes `.info`, `.mod`, `.zip`
    /// and adds the version to `list`. The go.mod served (in `.mod` and in the zip) is
    /// `go_mod_override` when given, else `src_dir/go.mod`, else `module <path>` as Go
    /// synthesizes for modules without one. Symbolic links in `src_dir` are followed.
    pub fn add_module(
        &mut self,
        path: &str,
        version: &str,
        src_dir: &Path,
        go_mod_override: Option<String>,
    ) -> Result<ModuleHashes> {
        let m = ModuleVersion::new(path, version);
        let vdir = self.version_dir(path)?;
        fs::create_dir_all(&vdir).map_err(TestkitError::io("create directory", &vdir))?;

        let src_gomod = src_dir.join("go.mod");
        let gomod: Vec<u8> = match &go_mod_override {
            Some(text) => text.clone().into_bytes(),
            None => match fs::read(&src_gomod) {
                Ok(b) => b,
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                    format!("module {path}\n").into_bytes()
                }
                Err(e) => return Err(TestkitError::io("read", src_gomod)(e)),
            },
        };

        // Module zips hold only regular files (golang.org/x/mod/zip skips symlinks), and
        // the override must replace the tree's go.mod: build from a staging tree of hard
        // links (copies across file systems) when either applies.
        let staging;
        let zip_src = if go_mod_override.is_some() || has_symlinks(src_dir)? {
            let stage = tempfile::Builder::new()
                .prefix(".stage-")
                .tempdir_in(&self.root)
                .map_err(TestkitError::io(
                    "create temporary directory in",
                    &self.root,
                ))?;
            // Hard links are safe here: the staging tree is only read, then deleted.
            link_tree(
                src_dir,
                stage.path(),
                go_mod_override.is_some(),
                Placement::Link,
            )?;
            if go_mod_override.is_some() {
                let p = stage.path().join("go.mod");
                fs::write(&p, &gomod).map_err(TestkitError::io("write", &p))?;
            }
            staging = stage;
            staging.path().to_path_buf()
        } else {
            src_dir.to_path_buf()
        };

        let zip_path = self.file_path(&m, "zip")?;
        let mut tmp = temp_in(&vdir)?;
        {
            let mut out = BufWriter::with_capacity(1 << 20, tmp.as_file_mut());
            gowarm_gomod::modzip::create_from_dir(&mut out, &m, &zip_src)
                .map_err(TestkitError::module(&m, "create zip"))?;
            out.flush().map_err(TestkitError::io("write", &zip_path))?;
        }
        persist(tmp, &zip_path)?;

        let h1 = gowarm_gomod::dirhash::hash_zip(&zip_path)
            .map_err(TestkitError::module(&m, "hash zip"))?;
        let gomod_h1 = gowarm_gomod::dirhash::hash_gomod(&gomod);

        write_atomic(&self.file_path(&m, "mod")?, &gomod)?;
        let info = serde_json::json!({ "Version": version, "Time": info_time(version) });
        write_atomic(&self.file_path(&m, "info")?, info.to_string().as_bytes())?;
        add_to_list(&vdir.join("list"), version)?;

        let hashes = ModuleHashes { h1, gomod_h1 };
        self.record(m, hashes.clone());
        Ok(hashes)
    }

    /// Serves every module of another proxy tree `src_root` too, by copying its files
    /// (`list` files are merged). Copies, not hard links: a test that corrupts a served file
    /// on purpose must not corrupt the shared cached corpus.
    pub(crate) fn merge_from(
        &mut self,
        src_root: &Path,
        served: &[(ModuleVersion, ModuleHashes)],
    ) -> Result<()> {
        for entry in walkdir::WalkDir::new(src_root).min_depth(1) {
            let entry = entry.map_err(|e| walk_error(src_root, e))?;
            let rel = entry
                .path()
                .strip_prefix(src_root)
                .map_err(|_| TestkitError::BadData {
                    path: entry.path().to_path_buf(),
                    message: "outside the proxy tree".into(),
                })?;
            let dst = self.root.join(rel);
            if entry.file_type().is_dir() {
                fs::create_dir_all(&dst).map_err(TestkitError::io("create directory", &dst))?;
            } else if entry.file_name() == "list" {
                let text = fs::read_to_string(entry.path())
                    .map_err(TestkitError::io("read", entry.path()))?;
                for v in text.lines().filter(|l| !l.trim().is_empty()) {
                    add_to_list(&dst, v.trim())?;
                }
            } else {
                place(entry.path(), &dst, Placement::Copy)?;
            }
        }
        for (m, h) in served {
            self.record(m.clone(), h.clone());
        }
        Ok(())
    }

    fn record(&mut self, m: ModuleVersion, h: ModuleHashes) {
        if let Some(slot) = self.served.iter_mut().find(|(s, _)| *s == m) {
            slot.1 = h;
        } else {
            self.served.push((m, h));
        }
    }
}

/// `file://` URL of an absolute path, percent-encoding what a URL cannot hold literally.
pub(crate) fn file_url(path: &Path) -> String {
    let mut url = String::from("file://");
    let text = path.to_string_lossy().replace('\\', "/");
    if !text.starts_with('/') {
        url.push('/');
    }
    for c in text.chars() {
        match c {
            ' ' => url.push_str("%20"),
            '%' => url.push_str("%25"),
            '#' => url.push_str("%23"),
            '?' => url.push_str("%3F"),
            c => url.push(c),
        }
    }
    url
}

/// The `.info` time: a pseudo-version's own timestamp (`vX.Y.Z-…yyyymmddhhmmss-hash`),
/// else a fixed date so that proxies are reproducible.
fn info_time(version: &str) -> String {
    let stamp = version
        .rsplit_once('-')
        .and_then(|(head, _hash)| head.rsplit(['-', '.']).next())
        .filter(|s| s.len() == 14 && s.bytes().all(|b| b.is_ascii_digit()));
    match stamp {
        Some(s) => format!(
            "{}-{}-{}T{}:{}:{}Z",
            &s[0..4],
            &s[4..6],
            &s[6..8],
            &s[8..10],
            &s[10..12],
            &s[12..14]
        ),
        None => RELEASE_TIME.to_owned(),
    }
}

fn has_symlinks(dir: &Path) -> Result<bool> {
    for entry in walkdir::WalkDir::new(dir) {
        let entry = entry.map_err(|e| walk_error(dir, e))?;
        if entry.path_is_symlink() {
            return Ok(true);
        }
    }
    Ok(false)
}

/// How [`link_tree`] places each file.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Placement {
    /// Hard link (copy across file systems): only for trees nobody writes to.
    Link,
    /// Independent copy.
    Copy,
}

/// Recreates `src` under `dst` with the regular files linked or copied, following symbolic
/// links (to files and to directories); the top-level go.mod is left out if `skip_gomod`.
pub(crate) fn link_tree(src: &Path, dst: &Path, skip_gomod: bool, how: Placement) -> Result<()> {
    for entry in walkdir::WalkDir::new(src).follow_links(true).min_depth(1) {
        let entry = entry.map_err(|e| walk_error(src, e))?;
        let rel = entry
            .path()
            .strip_prefix(src)
            .map_err(|_| TestkitError::BadData {
                path: entry.path().to_path_buf(),
                message: "outside the source tree".into(),
            })?;
        if skip_gomod && rel == Path::new("go.mod") {
            continue;
        }
        let target = dst.join(rel);
        if entry.file_type().is_dir() {
            fs::create_dir_all(&target).map_err(TestkitError::io("create directory", &target))?;
        } else if entry.file_type().is_file() {
            // link(2) does not follow a symlink: link to what it points at.
            let real = if entry.path_is_symlink() {
                fs::canonicalize(entry.path()).map_err(TestkitError::io("resolve", entry.path()))?
            } else {
                entry.path().to_path_buf()
            };
            place(&real, &target, how)?;
        }
    }
    Ok(())
}

fn place(src: &Path, dst: &Path, how: Placement) -> Result<()> {
    if let Some(parent) = dst.parent() {
        fs::create_dir_all(parent).map_err(TestkitError::io("create directory", parent))?;
    }
    if fs::symlink_metadata(dst).is_ok() {
        fs::remove_file(dst).map_err(TestkitError::io("remove", dst))?;
    }
    if how == Placement::Link && fs::hard_link(src, dst).is_ok() {
        return Ok(());
    }
    fs::copy(src, dst)
        .map(|_| ())
        .map_err(TestkitError::io("copy into", dst))
}

pub(crate) fn walk_error(root: &Path, e: walkdir::Error) -> TestkitError {
    let path = e.path().unwrap_or(root).to_path_buf();
    match e.into_io_error() {
        Some(source) => TestkitError::Io {
            op: "walk",
            path,
            source,
        },
        None => TestkitError::BadData {
            path,
            message: "symbolic link loop".into(),
        },
    }
}

fn temp_in(dir: &Path) -> Result<tempfile::NamedTempFile> {
    tempfile::Builder::new()
        .prefix(".tmp-")
        .tempfile_in(dir)
        .map_err(TestkitError::io("create temporary file in", dir))
}

fn persist(tmp: tempfile::NamedTempFile, path: &Path) -> Result<()> {
    tmp.persist(path)
        .map(|_| ())
        .map_err(|e| TestkitError::io("rename into", path)(e.error))
}

/// Writes a file by temporary file and rename, so a concurrent `go` never reads half of it.
pub(crate) fn write_atomic(path: &Path, data: &[u8]) -> Result<()> {
    let dir = path.parent().unwrap_or(Path::new("."));
    let mut tmp = temp_in(dir)?;
    tmp.write_all(data)
        .map_err(TestkitError::io("write", tmp.path()))?;
    persist(tmp, path)
}

fn add_to_list(list: &Path, version: &str) -> Result<()> {
    let existing = match fs::read_to_string(list) {
        Ok(s) => s,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => String::new(),
        Err(e) => return Err(TestkitError::io("read", list)(e)),
    };
    if existing.lines().any(|l| l.trim() == version) {
        return Ok(());
    }
    let mut text = existing;
    if !text.is_empty() && !text.ends_with('\n') {
        text.push('\n');
    }
    text.push_str(version);
    text.push('\n');
    write_atomic(list, text.as_bytes())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn info_times() {
        assert_eq!(info_time("v1.2.3"), RELEASE_TIME);
        assert_eq!(
            info_time("v0.0.0-20230102150405-abcdefabcdef"),
            "2023-01-02T15:04:05Z"
        );
        assert_eq!(
            info_time("v1.2.4-0.20230102150405-abcdefabcdef"),
            "2023-01-02T15:04:05Z"
        );
        assert_eq!(
            info_time("v1.2.3-pre.0.20230102150405-abcdefabcdef"),
            "2023-01-02T15:04:05Z"
        );
        assert_eq!(info_time("v1.0.0-rc.1"), RELEASE_TIME);
    }

    #[test]
    fn urls() {
        assert_eq!(file_url(Path::new("/tmp/a b%")), "file:///tmp/a%20b%25");
    }
}
