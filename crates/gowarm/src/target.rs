//! Target: the module directories a bake builds, found from paths or glob patterns, and the
//! digest of their inputs that lets an incremental bake keep a warm set.

use std::collections::BTreeSet;
use std::io::Read;
use std::path::{Path, PathBuf};

use globset::{GlobBuilder, GlobMatcher};
use sha2::{Digest, Sha256};

use crate::error::{Error, Result};

/// Directory names never searched for targets: VCS data, vendored and JS dependencies.
const SKIP_DIRS: &[&str] = &[".git", ".hg", ".svn", "vendor", "node_modules"];

/// Whether `spec` is a glob pattern rather than a path.
fn is_pattern(spec: &str) -> bool {
    spec.contains(['*', '?', '[', '{'])
}

/// Resolves target specs (module directories, or glob patterns such as
/// `apis/**/provider/aws/**/iac/pulumi`) against `root` into absolute module directories,
/// sorted and deduplicated. Every path must hold a go.mod and every pattern must match one.
pub fn resolve(specs: &[String], root: &Path) -> Result<Vec<PathBuf>> {
    let root = std::path::absolute(root).map_err(|e| Error::io("resolving", root, e))?;
    let mut found = BTreeSet::new();
    let mut patterns: Vec<(String, GlobMatcher)> = Vec::new();
    for spec in specs {
        if is_pattern(spec) {
            let glob = GlobBuilder::new(spec.trim_start_matches("./"))
                .literal_separator(true)
                .build()
                .map_err(|e| Error::Config {
                    origin: format!("target pattern {spec:?}"),
                    message: e.to_string(),
                })?;
            patterns.push((spec.clone(), glob.compile_matcher()));
            continue;
        }
        let dir = root.join(spec);
        if !dir.join("go.mod").is_file() {
            return Err(Error::Bake(format!(
                "target {}: no go.mod there; a target is a Go module directory (or a glob pattern matching some)",
                dir.display()
            )));
        }
        found.insert(std::path::absolute(&dir).map_err(|e| Error::io("resolving", &dir, e))?);
    }
    if !patterns.is_empty() {
        let mut matched = vec![false; patterns.len()];
        let walk = walkdir::WalkDir::new(&root)
            .follow_links(false)
            .into_iter()
            .filter_entry(|e| {
                e.depth() == 0
                    || !(e.file_type().is_dir()
                        && e.file_name()
                            .to_str()
                            .is_some_and(|n| SKIP_DIRS.contains(&n)))
            });
        for entry in walk {
            let entry =
                entry.map_err(|e| Error::Bake(format!("searching {}: {e}", root.display())))?;
            if !entry.file_type().is_dir() || !entry.path().join("go.mod").is_file() {
                continue;
            }
            let Ok(rel) = entry.path().strip_prefix(&root) else {
                continue;
            };
            for (i, (_, m)) in patterns.iter().enumerate() {
                if m.is_match(rel) {
                    matched[i] = true;
                    found.insert(entry.path().to_path_buf());
                }
            }
        }
        if let Some(i) = matched.iter().position(|m| !m) {
            return Err(Error::Bake(format!(
                "target pattern {:?} matches no module directory (a directory holding go.mod) under {}",
                patterns[i].0,
                root.display()
            )));
        }
    }
    Ok(found.into_iter().collect())
}

/// A digest of the files of the module directories `dirs` (nested modules and VCS data
/// left out) and of `extra`: equal digests mean an equal build, given an equal profile.
pub fn inputs_digest(dirs: &[PathBuf], extra: &[String]) -> Result<String> {
    let mut h = Sha256::new();
    for line in extra {
        h.update(format!("extra {line}\n"));
    }
    let mut dirs = dirs.to_vec();
    dirs.sort();
    for dir in &dirs {
        h.update(format!("dir {}\n", dir.display()));
        let mut files = Vec::new();
        let walk = walkdir::WalkDir::new(dir)
            .follow_links(false)
            .into_iter()
            .filter_entry(|e| {
                if e.depth() == 0 || !e.file_type().is_dir() {
                    return true;
                }
                let vcs = e
                    .file_name()
                    .to_str()
                    .is_some_and(|n| matches!(n, ".git" | ".hg" | ".svn"));
                // A nested module is another module: `go build ./...` does not enter it.
                !vcs && !e.path().join("go.mod").exists()
            });
        for entry in walk {
            let entry =
                entry.map_err(|e| Error::Bake(format!("reading {}: {e}", dir.display())))?;
            if entry.file_type().is_dir() {
                continue;
            }
            let rel = entry
                .path()
                .strip_prefix(dir)
                .unwrap_or(entry.path())
                .to_string_lossy()
                .into_owned();
            files.push((
                rel,
                entry.path().to_path_buf(),
                entry.file_type().is_symlink(),
            ));
        }
        files.sort();
        for (rel, path, symlink) in files {
            let digest = if symlink {
                let target =
                    std::fs::read_link(&path).map_err(|e| Error::io("reading link", &path, e))?;
                hex::encode(Sha256::digest(target.to_string_lossy().as_bytes()))
            } else {
                file_sha256(&path)?
            };
            h.update(format!("{digest}  {rel}\n"));
        }
    }
    Ok(hex::encode(h.finalize()))
}

fn file_sha256(path: &Path) -> Result<String> {
    let mut f = std::fs::File::open(path).map_err(|e| Error::io("reading", path, e))?;
    let mut h = Sha256::new();
    let mut buf = vec![0u8; 64 * 1024];
    loop {
        let n = f
            .read(&mut buf)
            .map_err(|e| Error::io("reading", path, e))?;
        if n == 0 {
            break;
        }
        h.update(&buf[..n]);
    }
    Ok(hex::encode(h.finalize()))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn module(root: &Path, rel: &str) {
        let d = root.join(rel);
        std::fs::create_dir_all(&d).unwrap();
        std::fs::write(d.join("go.mod"), format!("module example.com/{rel}\n")).unwrap();
        std::fs::write(d.join("main.go"), "package main\nfunc main() {}\n").unwrap();
    }

    #[test]
    fn patterns_match_module_directories_only() {
        let t = tempfile::tempdir().unwrap();
        let r = t.path();
        module(r, "apis/a/provider/aws/x/iac/pulumi");
        module(r, "apis/b/provider/aws/iac/pulumi");
        module(r, "apis/c/provider/gcp/iac/pulumi");
        std::fs::create_dir_all(r.join("apis/d/provider/aws/iac/pulumi")).unwrap(); // no go.mod
        module(r, "apis/e/provider/aws/vendor/iac/pulumi");
        let got = resolve(&["apis/**/provider/aws/**/iac/pulumi".into()], r).unwrap();
        let rel: Vec<_> = got
            .iter()
            .map(|p| p.strip_prefix(r).unwrap().to_string_lossy().into_owned())
            .collect();
        assert_eq!(
            rel,
            [
                "apis/a/provider/aws/x/iac/pulumi",
                "apis/b/provider/aws/iac/pulumi"
            ]
        );
    }

    #[test]
    fn errors_name_the_spec_and_the_fix() {
        let t = tempfile::tempdir().unwrap();
        module(t.path(), "p");
        let e = resolve(&["q".into()], t.path()).unwrap_err().to_string();
        assert!(e.contains("no go.mod there"), "{e}");
        let e = resolve(&["apis/**/nothing".into()], t.path())
            .unwrap_err()
            .to_string();
        assert!(
            e.contains("\"apis/**/nothing\" matches no module directory"),
            "{e}"
        );
        let e = resolve(&["a/[".into()], t.path()).unwrap_err().to_string();
        assert!(e.contains("a/["), "{e}");
        assert_eq!(
            resolve(&["p".into(), "./p".into()], t.path())
                .unwrap()
                .len(),
            1
        );
    }

    #[test]
    fn digest_follows_sources_not_nested_modules() {
        let t = tempfile::tempdir().unwrap();
        module(t.path(), "p");
        let dir = vec![t.path().join("p")];
        let d1 = inputs_digest(&dir, &[]).unwrap();
        assert_eq!(d1, inputs_digest(&dir, &[]).unwrap());
        module(t.path(), "p/nested");
        std::fs::create_dir_all(t.path().join("p/.git")).unwrap();
        std::fs::write(t.path().join("p/.git/HEAD"), "x").unwrap();
        assert_eq!(d1, inputs_digest(&dir, &[]).unwrap());
        assert_ne!(d1, inputs_digest(&dir, &["sdk x".into()]).unwrap());
        std::fs::write(
            t.path().join("p/main.go"),
            "package main\nfunc main() {println()}\n",
        )
        .unwrap();
        assert_ne!(d1, inputs_digest(&dir, &[]).unwrap());
    }
}
