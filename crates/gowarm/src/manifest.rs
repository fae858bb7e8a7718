//! Manifest: what a warm cache holds, written by bake and read by every consumer.

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};
use crate::profile::BuildProfile;

/// The manifest's file name inside a warm cache directory.
pub const MANIFEST_FILE: &str = "gowarm-manifest.json";

/// The manifest format this build writes and reads.
pub const FORMAT: u32 = 1;

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
}

/// A module directory the bake built.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Target {
    /// The module directory (part of the main packages' action IDs without `-trimpath`).
    pub dir: PathBuf,
    /// Its module path.
    pub module: String,
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
    /// Per warm set: name, targets.
    pub warm_sets: Vec<WarmSet>,
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
}

impl Manifest {
    /// The manifest in brief.
    pub fn summary(&self) -> Summary {
        Summary {
            created_by: self.created_by.clone(),
            created_at: self.created_at,
            profile: self.profile.clone(),
            warm_sets: self.warm_sets.clone(),
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
        let m: Manifest = serde_json::from_slice(&data).map_err(|e| Error::Manifest {
            path: path.to_path_buf(),
            message: format!("not a gowarm manifest: {e}"),
        })?;
        if m.format != FORMAT {
            return Err(Error::Manifest {
                path: path.to_path_buf(),
                message: format!(
                    "format {} is not supported by this gowarm (it reads format {FORMAT}); use the gowarm that baked it or re-bake",
                    m.format
                ),
            });
        }
        Ok(m)
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
