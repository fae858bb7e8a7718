//! Manifest: what a warm cache holds, written by bake and read by every consumer.

use std::collections::{BTreeSet, HashMap};
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};
use crate::profile::BuildProfile;

/// The manifest's file name inside a warm cache directory.
pub const MANIFEST_FILE: &str = "gowarm-manifest.json";

/// The manifest format this build writes and reads (2: warm sets list their own modules
/// and entries).
pub const FORMAT: u32 = 2;

/// What a warm cache holds: its BuildProfile, warm sets, modules and build-cache entries.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Manifest {
    /// Format version; readers refuse one they do not know.
    pub format: u32,
    /// The gowarm version that wrote it.
    pub created_by: String,
    /// When it was written (unix seconds).
    pub created_at: u64,
    /// The profile the build-cache entries were made under.
    pub profile: BuildProfile,
    /// Named groups of targets.
    pub warm_sets: Vec<WarmSet>,
    /// Every module in the warm cache's ModCache.
    pub modules: Vec<ModuleRecord>,
    /// Every build-cache entry in the warm cache's BuildCache.
    pub entries: Vec<EntryRecord>,
}

/// A named group of targets whose builds the warm cache serves.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct WarmSet {
    /// The set's name (`all` for a bake without sets).
    pub name: String,
    /// The packages built for it.
    pub targets: Vec<Target>,
    /// Module paths whose presence in a program's module graph selects this set.
    #[serde(default)]
    pub sdk_modules: Vec<String>,
    /// The modules its targets need (`path@version`, keys into [`Manifest::modules`]).
    #[serde(default)]
    pub modules: Vec<String>,
    /// The action IDs its targets' builds read or wrote (keys into [`Manifest::entries`]).
    #[serde(default)]
    pub entries: Vec<String>,
    /// A digest of everything its builds depend on besides the profile (targets' files,
    /// their go.mod/go.sum): an unchanged digest lets an incremental bake keep the set.
    #[serde(default)]
    pub inputs: String,
}

/// A module directory the bake built.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Target {
    /// The module directory (part of the main packages' action IDs without `-trimpath`).
    pub dir: PathBuf,
    /// Its module path.
    pub module: String,
}

impl ModuleRecord {
    /// The `path@version` key warm sets use.
    pub fn key(&self) -> String {
        format!("{}@{}", self.path, self.version)
    }
}

/// One module version in the warm cache.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ModuleRecord {
    /// Module path.
    pub path: String,
    /// Version.
    pub version: String,
    /// go.sum hash of the tree, when the tree is present.
    pub h1: Option<String>,
    /// go.sum hash of the go.mod file.
    pub gomod_h1: Option<String>,
    /// Bytes of the extracted tree (0 when only the .mod is present).
    pub bytes: u64,
}

/// One build-cache action entry and its output.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct EntryRecord {
    /// Action ID (hex).
    pub action: String,
    /// Output ID (hex), the SHA-256 of the output.
    pub output: String,
    /// Output size in bytes.
    pub size: u64,
}

/// A Manifest in brief: what `gowarm manifest show` prints.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Summary {
    /// The gowarm that wrote it and when (unix seconds).
    pub created_by: String,
    /// When it was written (unix seconds).
    pub created_at: u64,
    /// The profile its build-cache entries need.
    pub profile: BuildProfile,
    /// Per warm set: name, targets, sizes.
    pub warm_sets: Vec<SetSummary>,
    /// Module versions (trees and `.mod`-only).
    pub modules: u64,
    /// Module versions with a tree.
    pub module_trees: u64,
    /// Bytes of module trees.
    pub module_bytes: u64,
    /// Build-cache entries.
    pub entries: u64,
    /// Bytes of build-cache entries (outputs + 175-byte action entries).
    pub entry_bytes: u64,
    /// Bytes of entries and module trees that more than one warm set uses (stored once).
    pub shared_bytes: u64,
}

/// One warm set in brief.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct SetSummary {
    /// The set's name.
    pub name: String,
    /// Its targets.
    pub targets: Vec<Target>,
    /// Module paths that select it.
    pub sdk_modules: Vec<String>,
    /// Module versions it needs.
    pub modules: u64,
    /// Bytes of their trees.
    pub module_bytes: u64,
    /// Build-cache entries it needs.
    pub entries: u64,
    /// Bytes of those entries.
    pub entry_bytes: u64,
    /// Of its bytes, those another set uses too.
    pub shared_bytes: u64,
}

impl Manifest {
    /// The manifest in brief.
    pub fn summary(&self) -> Summary {
        let module_bytes: HashMap<String, u64> =
            self.modules.iter().map(|m| (m.key(), m.bytes)).collect();
        let entry_bytes: HashMap<&str, u64> = self
            .entries
            .iter()
            .map(|e| (e.action.as_str(), e.size + gowarm_gocache::ENTRY_LEN as u64))
            .collect();
        let mut uses: HashMap<&str, u32> = HashMap::new();
        for set in &self.warm_sets {
            for k in set.modules.iter().chain(&set.entries) {
                *uses.entry(k.as_str()).or_default() += 1;
            }
        }
        let bytes_of = |k: &str| {
            module_bytes
                .get(k)
                .or_else(|| entry_bytes.get(k))
                .copied()
                .unwrap_or(0)
        };
        let shared = |k: &str| uses.get(k).copied().unwrap_or(0) > 1;
        let warm_sets = self
            .warm_sets
            .iter()
            .map(|set| SetSummary {
                name: set.name.clone(),
                targets: set.targets.clone(),
                sdk_modules: set.sdk_modules.clone(),
                modules: set.modules.len() as u64,
                module_bytes: set.modules.iter().map(|k| bytes_of(k)).sum(),
                entries: set.entries.len() as u64,
                entry_bytes: set.entries.iter().map(|k| bytes_of(k)).sum(),
                shared_bytes: set
                    .modules
                    .iter()
                    .chain(&set.entries)
                    .filter(|k| shared(k))
                    .map(|k| bytes_of(k))
                    .sum(),
            })
            .collect();
        let shared_bytes = uses
            .iter()
            .filter(|(_, n)| **n > 1)
            .map(|(k, _)| bytes_of(k))
            .sum();
        Summary {
            created_by: self.created_by.clone(),
            created_at: self.created_at,
            profile: self.profile.clone(),
            warm_sets,
            shared_bytes,
            modules: self.modules.len() as u64,
            module_trees: self.modules.iter().filter(|m| m.h1.is_some()).count() as u64,
            module_bytes: self.module_bytes(),
            entries: self.entries.len() as u64,
            entry_bytes: self.entry_bytes(),
        }
    }

    /// Reads the manifest at `path`.
    pub fn read(path: &Path) -> Result<Manifest> {
        let data = std::fs::read(path).map_err(|e| Error::io("reading manifest", path, e))?;
        let bad = |message: String| Error::Manifest {
            path: path.to_path_buf(),
            message,
        };
        // The format first: a newer manifest may not parse as this one.
        #[derive(Deserialize)]
        struct Format {
            format: u32,
        }
        let f: Format = serde_json::from_slice(&data)
            .map_err(|e| bad(format!("not a gowarm manifest: {e}")))?;
        if f.format != FORMAT {
            return Err(bad(format!(
                "format {} is not supported by this gowarm (it reads format {FORMAT}); use the gowarm that baked it or re-bake",
                f.format
            )));
        }
        let m: Manifest = serde_json::from_slice(&data)
            .map_err(|e| bad(format!("not a gowarm manifest: {e}")))?;
        m.check().map_err(bad)?;
        Ok(m)
    }

    /// Checks that every warm set names only modules and entries the manifest lists.
    pub fn check(&self) -> std::result::Result<(), String> {
        let modules: BTreeSet<String> = self.modules.iter().map(ModuleRecord::key).collect();
        let entries: BTreeSet<&str> = self.entries.iter().map(|e| e.action.as_str()).collect();
        let mut names = BTreeSet::new();
        for set in &self.warm_sets {
            if !names.insert(set.name.as_str()) {
                return Err(format!("warm set {:?} is listed twice", set.name));
            }
            if let Some(m) = set.modules.iter().find(|k| !modules.contains(*k)) {
                return Err(format!(
                    "warm set {:?} names module {m}, which the manifest does not list",
                    set.name
                ));
            }
            if let Some(e) = set.entries.iter().find(|k| !entries.contains(k.as_str())) {
                return Err(format!(
                    "warm set {:?} names entry {e}, which the manifest does not list",
                    set.name
                ));
            }
        }
        Ok(())
    }

    /// Writes the manifest to `path` atomically.
    pub fn write(&self, path: &Path) -> Result<()> {
        let dir = path.parent().unwrap_or(Path::new("."));
        let mut tmp = tempfile::NamedTempFile::new_in(dir)
            .map_err(|e| Error::io("creating a temporary file in", dir, e))?;
        serde_json::to_writer_pretty(&mut tmp, self).map_err(|e| Error::Manifest {
            path: path.to_path_buf(),
            message: e.to_string(),
        })?;
        // tempfile creates 0600; the manifest is read by the pods' user, not the writer.
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            tmp.as_file()
                .set_permissions(std::fs::Permissions::from_mode(0o644))
                .map_err(|e| Error::io("setting permissions of", tmp.path(), e))?;
        }
        tmp.persist(path)
            .map_err(|e| Error::io("writing manifest", path, e.error))?;
        Ok(())
    }

    /// The warm set called `name`.
    pub fn warm_set(&self, name: &str) -> Option<&WarmSet> {
        self.warm_sets.iter().find(|s| s.name == name)
    }

    /// The warm sets called `names`, or an error that lists the ones there are.
    pub fn warm_sets_named(&self, names: &[String]) -> Result<Vec<&WarmSet>, String> {
        names
            .iter()
            .map(|n| {
                self.warm_set(n).ok_or_else(|| {
                    let known: Vec<&str> = self.warm_sets.iter().map(|s| s.name.as_str()).collect();
                    format!(
                        "no warm set {n:?} in this warm cache; it has: {}",
                        if known.is_empty() {
                            "none".to_string()
                        } else {
                            known.join(", ")
                        }
                    )
                })
            })
            .collect()
    }

    /// The entries of `sets` (each once), in manifest order.
    pub fn entries_of(&self, sets: &[&WarmSet]) -> Vec<&EntryRecord> {
        let wanted: BTreeSet<&str> = sets
            .iter()
            .flat_map(|s| s.entries.iter().map(String::as_str))
            .collect();
        self.entries
            .iter()
            .filter(|e| wanted.contains(e.action.as_str()))
            .collect()
    }

    /// The modules of `sets` (each once), in manifest order.
    pub fn modules_of(&self, sets: &[&WarmSet]) -> Vec<&ModuleRecord> {
        let wanted: BTreeSet<&str> = sets
            .iter()
            .flat_map(|s| s.modules.iter().map(String::as_str))
            .collect();
        self.modules
            .iter()
            .filter(|m| wanted.contains(m.key().as_str()))
            .collect()
    }

    /// Total bytes of module trees.
    pub fn module_bytes(&self) -> u64 {
        self.modules.iter().map(|m| m.bytes).sum()
    }

    /// Total bytes of build-cache outputs (action entries add 175 bytes each).
    pub fn entry_bytes(&self) -> u64 {
        self.entries
            .iter()
            .map(|e| e.size + gowarm_gocache::ENTRY_LEN as u64)
            .sum()
    }
}
