//! The `dir` source: a warm cache directory, as a mounted warm image or volume holds it.
//!
//! Layout (what bake writes): `go-mod/` a GOMODCACHE tree, `go-build/` a GOCACHE tree,
//! `gowarm-manifest.json` the Manifest.

use std::path::{Path, PathBuf};

use async_trait::async_trait;
use gowarm_gocache::{BuildCache, Id};
use gowarm_gomod::modcache::{ModCache, TreeState};
use gowarm_gomod::ModuleVersion;

use super::{Fetch, LocalFile, ModuleBody, Source, SourceError};
use crate::config::SourceConfig;
use crate::error::{Error, Result};
use crate::manifest::{Manifest, MANIFEST_FILE};

/// The ModCache directory inside a warm cache directory.
pub const MODCACHE_DIR: &str = "go-mod";
/// The BuildCache directory inside a warm cache directory.
pub const BUILDCACHE_DIR: &str = "go-build";

/// A warm cache directory on local disk.
#[derive(Debug)]
pub struct DirSource {
    name: String,
    trusted: bool,
    root: PathBuf,
    modcache: ModCache,
    buildcache: BuildCache,
    manifest: Option<Manifest>,
}

impl DirSource {
    /// Opens the warm cache directory a `dir` source config names.
    pub fn open(cfg: &SourceConfig) -> Result<DirSource> {
        let root = cfg.path.clone().unwrap_or_default();
        let err = |message: String| Error::Source {
            name: cfg.name.clone(),
            message,
        };
        match std::fs::metadata(&root) {
            Ok(m) if m.is_dir() => {}
            Ok(_) => {
                return Err(err(format!(
                    "{} is not a directory; a dir source is a warm cache directory (go-mod/, go-build/, {MANIFEST_FILE})",
                    root.display()
                )))
            }
            Err(e) => {
                return Err(err(format!(
                    "{}: {e}; mount the warm image there or fix the source path",
                    root.display()
                )))
            }
        }
        let has_mod = root.join(MODCACHE_DIR).is_dir();
        let has_build = root.join(BUILDCACHE_DIR).is_dir();
        let manifest_path = root.join(MANIFEST_FILE);
        if !has_mod && !has_build && !manifest_path.exists() {
            return Err(err(format!(
                "{} holds none of {MODCACHE_DIR}/, {BUILDCACHE_DIR}/, {MANIFEST_FILE}: it is not a warm cache directory (make one with `gowarm bake --out {}`)",
                root.display(),
                root.display()
            )));
        }
        let manifest = if manifest_path.exists() {
            Some(Manifest::read(&manifest_path)?)
        } else {
            None
        };
        Ok(DirSource {
            name: cfg.name.clone(),
            trusted: cfg.is_trusted(),
            modcache: ModCache::new(root.join(MODCACHE_DIR)),
            buildcache: BuildCache::at(root.join(BUILDCACHE_DIR)),
            root,
            manifest,
        })
    }

    /// The warm cache directory.
    pub fn root(&self) -> &Path {
        &self.root
    }

    fn tree(&self, m: &ModuleVersion) -> Option<PathBuf> {
        match self.modcache.state(m) {
            Ok(s) if matches!(s.tree, TreeState::Complete { .. }) => self.modcache.tree_dir(m).ok(),
            _ => None,
        }
    }

    fn download_file(&self, m: &ModuleVersion, ext: &str) -> Fetch<PathBuf> {
        let p = self
            .modcache
            .cache_file(m, ext)
            .map_err(|e| SourceError::new(e.to_string()))?;
        Ok(p.is_file().then_some(p))
    }

    fn read(path: Option<PathBuf>) -> Fetch<Vec<u8>> {
        match path {
            None => Ok(None),
            Some(p) => match std::fs::read(&p) {
                Ok(b) => Ok(Some(b)),
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
                Err(e) => Err(SourceError::new(format!("reading {}: {e}", p.display()))),
            },
        }
    }
}

#[async_trait]
impl Source for DirSource {
    fn name(&self) -> &str {
        &self.name
    }

    fn trusted(&self) -> bool {
        self.trusted
    }

    async fn has_module(&self, m: &ModuleVersion, tree: bool) -> Option<bool> {
        Some(if tree {
            self.tree(m).is_some() || matches!(self.download_file(m, "zip"), Ok(Some(_)))
        } else {
            matches!(self.download_file(m, "mod"), Ok(Some(_)))
        })
    }

    async fn gomod(&self, m: &ModuleVersion) -> Fetch<Vec<u8>> {
        Self::read(self.download_file(m, "mod")?)
    }

    async fn module(&self, m: &ModuleVersion, _scratch: &Path) -> Fetch<ModuleBody> {
        if let Some(t) = self.tree(m) {
            return Ok(Some(ModuleBody::Tree(t)));
        }
        Ok(self
            .download_file(m, "zip")?
            .map(|p| ModuleBody::Zip(LocalFile::borrowed(p))))
    }

    async fn info(&self, m: &ModuleVersion) -> Fetch<Vec<u8>> {
        Self::read(self.download_file(m, "info")?)
    }

    async fn manifest(&self) -> Fetch<Manifest> {
        Ok(self.manifest.clone())
    }

    async fn action(&self, id: &Id) -> Fetch<Vec<u8>> {
        Self::read(Some(self.buildcache.action_path(id)))
    }

    async fn output(&self, id: &Id, _scratch: &Path) -> Fetch<LocalFile> {
        let p = self.buildcache.output_path(id);
        Ok(p.is_file().then(|| LocalFile::borrowed(p)))
    }
}
