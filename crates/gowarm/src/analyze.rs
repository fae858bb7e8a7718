//! Analyze: the modules a module directory's build needs, with their go.sum hashes.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use gowarm_gomod::gomod::{self, Resolved};
use gowarm_gomod::gosum;
use gowarm_gomod::ModuleVersion;
use serde::Serialize;

use crate::error::{Error, Result};
use crate::manifest::{Manifest, WarmSet};

/// What the build of a module directory needs from the module cache.
#[derive(Debug, Clone, Serialize)]
pub struct Analysis {
    /// The module directory (empty for a warm-set request).
    pub dir: PathBuf,
    /// Its module path (empty for a warm-set request).
    pub module: String,
    /// Its `go` line.
    pub go_version: Option<String>,
    /// Modules to have in the ModCache, sorted.
    pub modules: Vec<NeededModule>,
    /// Requirements replaced by local directories (never fetched): (module path, directory).
    pub local_replaces: Vec<(String, String)>,
    /// True when `vendor/modules.txt` exists: Go builds from `vendor/` unless `-mod=mod`.
    pub vendored: bool,
    /// Problems the build will hit that gowarm cannot fix (a local replace with no go.mod).
    pub warnings: Vec<String>,
}

/// One module version the build needs, and how much of it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct NeededModule {
    /// The module version (after replace).
    pub module: ModuleVersion,
    /// go.sum hash of the tree.
    pub h1: Option<String>,
    /// go.sum hash of its go.mod.
    pub gomod_h1: Option<String>,
    /// What of it is needed.
    pub need: Need,
}

/// How much of a module a build needs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Need {
    /// A build-list module that provides packages: `.mod`, `.ziphash` and the extracted tree.
    Tree,
    /// A build-list module whose packages the build does not import (go.sum has only its
    /// `/go.mod` line): just the `.mod`.
    GoMod,
    /// A module-graph entry of go.sum (not in go.mod): its `.mod` may be read while loading
    /// the graph. Optional: a source that lacks it is a warning, not a failure.
    GraphGoMod,
}

/// Reads `dir/go.mod` and `dir/go.sum` and lists what the build needs.
pub fn analyze(dir: &Path) -> Result<Analysis> {
    let gomod_path = dir.join("go.mod");
    let text = match std::fs::read_to_string(&gomod_path) {
        Ok(t) => t,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            return Err(Error::Analyze(format!(
                "{}: no go.mod here; point gowarm at a Go module directory (the one with go.mod)",
                gomod_path.display()
            )))
        }
        Err(e) => return Err(Error::io("reading", &gomod_path, e)),
    };
    let gm = gomod::parse(&gomod_path, &text)?;
    let module = gm.module.clone().ok_or_else(|| {
        Error::Analyze(format!(
            "{}: no `module` line; add `module example.com/your/program` at the top",
            gomod_path.display()
        ))
    })?;

    let gosum_path = dir.join("go.sum");
    let sum = match std::fs::read_to_string(&gosum_path) {
        Ok(t) => gosum::parse(&gosum_path, &t)?,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            let has_remote = gm
                .require
                .iter()
                .any(|r| matches!(gm.resolve(&r.path, &r.version), Resolved::Module(_)));
            if has_remote {
                return Err(Error::Analyze(format!(
                    "{}: missing, but go.mod requires modules; run `go mod tidy` in {} and commit go.sum",
                    gosum_path.display(),
                    dir.display()
                )));
            }
            gosum::parse(&gosum_path, "")?
        }
        Err(e) => return Err(Error::io("reading", &gosum_path, e)),
    };

    let mut needed: BTreeMap<ModuleVersion, NeededModule> = BTreeMap::new();
    let mut local_replaces = Vec::new();
    let mut warnings = Vec::new();
    for req in &gm.require {
        let mv = match gm.resolve(&req.path, &req.version) {
            Resolved::Local(p) => {
                let local = dir.join(&p);
                if !local.join("go.mod").is_file() {
                    warnings.push(format!(
                        "{}:{}: {} is replaced by {p}, but {} has no go.mod: go will fail to load it",
                        gomod_path.display(),
                        req.line,
                        req.path,
                        local.display()
                    ));
                }
                local_replaces.push((req.path.clone(), p));
                continue;
            }
            Resolved::Module(mv) => mv,
        };
        let entry = sum.get(&mv.path, &mv.version);
        let (h1, gomod_h1) = entry
            .map(|e| (e.h1.clone(), e.gomod_h1.clone()))
            .unwrap_or((None, None));
        let need = match (&h1, &gomod_h1) {
            (Some(_), _) => Need::Tree,
            (None, Some(_)) => Need::GoMod,
            (None, None) => {
                let replaced = if mv.path != req.path || mv.version != req.version {
                    format!(" (replaced by {mv})")
                } else {
                    String::new()
                };
                return Err(Error::Analyze(format!(
                    "{}:{}: {}@{}{replaced} has no line in {}; run `go mod tidy` (or `go mod download {}`) and commit go.sum",
                    gomod_path.display(),
                    req.line,
                    req.path,
                    req.version,
                    gosum_path.display(),
                    mv.path
                )));
            }
        };
        let item = NeededModule {
            module: mv.clone(),
            h1,
            gomod_h1,
            need,
        };
        needed
            .entry(mv)
            .and_modify(|e| {
                if item.need < e.need {
                    *e = item.clone();
                }
            })
            .or_insert(item);
    }
    for (mv, e) in sum.iter() {
        if needed.contains_key(mv) {
            continue;
        }
        if let Some(h) = &e.gomod_h1 {
            needed.insert(
                mv.clone(),
                NeededModule {
                    module: mv.clone(),
                    h1: None,
                    gomod_h1: Some(h.clone()),
                    need: Need::GraphGoMod,
                },
            );
        }
    }
    Ok(Analysis {
        dir: dir.to_path_buf(),
        module,
        go_version: gm.go.clone(),
        modules: needed.into_values().collect(),
        local_replaces,
        vendored: dir.join("vendor").join("modules.txt").is_file(),
        warnings,
    })
}

/// What warming the warm sets `sets` of `manifest` needs, with no program: their modules
/// (a tree where the manifest has its hash, else the `.mod`). `dir` and `module` are empty.
pub fn from_warm_sets(manifest: &Manifest, sets: &[&WarmSet]) -> Analysis {
    let modules = manifest
        .modules_of(sets)
        .into_iter()
        .map(|m| NeededModule {
            module: ModuleVersion::new(m.path.clone(), m.version.clone()),
            h1: m.h1.clone(),
            gomod_h1: m.gomod_h1.clone(),
            need: if m.h1.is_some() {
                Need::Tree
            } else {
                Need::GoMod
            },
        })
        .collect();
    Analysis {
        dir: PathBuf::new(),
        module: String::new(),
        go_version: None,
        modules,
        local_replaces: Vec::new(),
        vendored: false,
        warnings: Vec::new(),
    }
}

impl Analysis {
    /// The modules whose extracted trees the build reads.
    pub fn trees(&self) -> impl Iterator<Item = &NeededModule> {
        self.modules.iter().filter(|m| m.need == Need::Tree)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn write(dir: &Path, gomod: &str, gosum: Option<&str>) {
        std::fs::write(dir.join("go.mod"), gomod).unwrap();
        if let Some(s) = gosum {
            std::fs::write(dir.join("go.sum"), s).unwrap();
        }
    }

    const H: &str = "h1:47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU=";

    #[test]
    fn classifies_requires_and_graph_lines() {
        let d = tempfile::tempdir().unwrap();
        write(
            d.path(),
            "module example.com/p\n\ngo 1.22\n\nrequire (\n\texample.com/a v1.0.0\n\texample.com/b v1.1.0 // indirect\n\texample.com/loc v0.0.0\n\texample.com/old v1.0.0\n)\n\nreplace example.com/loc => ../loc\nreplace example.com/old v1.0.0 => example.com/new v2.0.0\n",
            Some(&format!(
                "example.com/a v1.0.0 {H}\nexample.com/a v1.0.0/go.mod {H}\nexample.com/b v1.1.0/go.mod {H}\nexample.com/c v0.9.0/go.mod {H}\nexample.com/new v2.0.0 {H}\nexample.com/new v2.0.0/go.mod {H}\n"
            )),
        );
        let a = analyze(d.path()).unwrap();
        assert_eq!(a.module, "example.com/p");
        let got: Vec<_> = a
            .modules
            .iter()
            .map(|m| (m.module.to_string(), m.need))
            .collect();
        assert_eq!(
            got,
            [
                ("example.com/a@v1.0.0".to_string(), Need::Tree),
                ("example.com/b@v1.1.0".to_string(), Need::GoMod),
                ("example.com/c@v0.9.0".to_string(), Need::GraphGoMod),
                ("example.com/new@v2.0.0".to_string(), Need::Tree),
            ]
        );
        assert_eq!(
            a.local_replaces,
            [("example.com/loc".to_string(), "../loc".to_string())]
        );
        assert_eq!(
            a.warnings.len(),
            1,
            "../loc has no go.mod: {:?}",
            a.warnings
        );
        assert!(a.warnings[0].contains("go.mod:8"), "{:?}", a.warnings);
    }

    #[test]
    fn require_without_gosum_line_names_file_line_and_fix() {
        let d = tempfile::tempdir().unwrap();
        write(
            d.path(),
            "module example.com/p\n\nrequire example.com/a v1.0.0\n",
            Some(""),
        );
        let e = analyze(d.path()).unwrap_err().to_string();
        assert!(e.contains("go.mod:3"), "{e}");
        assert!(e.contains("example.com/a@v1.0.0"), "{e}");
        assert!(e.contains("go mod tidy"), "{e}");
    }

    #[test]
    fn missing_files() {
        let d = tempfile::tempdir().unwrap();
        let e = analyze(d.path()).unwrap_err().to_string();
        assert!(e.contains("no go.mod here"), "{e}");
        write(
            d.path(),
            "module example.com/p\nrequire example.com/a v1.0.0\n",
            None,
        );
        let e = analyze(d.path()).unwrap_err().to_string();
        assert!(e.contains("go.sum: missing"), "{e}");
        write(d.path(), "go 1.22\n", None);
        let e = analyze(d.path()).unwrap_err().to_string();
        assert!(e.contains("no `module` line"), "{e}");
    }

    #[test]
    fn realworld_monorepo() {
        let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../../shared/realworld");
        let d = tempfile::tempdir().unwrap();
        std::fs::copy(
            root.join("planton-monorepo.go.mod"),
            d.path().join("go.mod"),
        )
        .unwrap();
        std::fs::copy(
            root.join("planton-monorepo.go.sum"),
            d.path().join("go.sum"),
        )
        .unwrap();
        let a = analyze(d.path()).unwrap();
        assert_eq!(a.module, "github.com/plantonhq/project-planton");
        assert_eq!(a.go_version.as_deref(), Some("1.25.0"));
        // go.mod requires 165 modules, all with source hashes in go.sum. go.sum has 121
        // module versions outside go.mod with `/go.mod` lines (22 of them with source
        // hashes too, kept for `go test all`): those are optional graph entries.
        assert_eq!(a.trees().count(), 165);
        let graph = a
            .modules
            .iter()
            .filter(|m| m.need == Need::GraphGoMod)
            .count();
        assert_eq!(graph, 121);
        assert_eq!(
            a.local_replaces.len(),
            0,
            "the ./app/backend replace is not required"
        );
    }
}
