//! Module zips built on demand from extracted trees, kept in the server's own temporary
//! directory (the pod's GOMODCACHE is read-only to the server).
//!
//! A pod warmed by gowarm holds trees but no `.zip` (Go needs only the tree), so a
//! `.zip` request is answered with the zip x/mod/zip `CreateFromDir` would make from the
//! tree. The zip's `h1:` is computed while it is written and must equal the tree's
//! `.ziphash` (the go.sum value), or nothing is served: a tree changed on disk would
//! otherwise reach every peer as a zip that fails verification.

use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::Instant;

use gowarm_gomod::modcache::{ModCache, TreeState};
use gowarm_gomod::ModuleVersion;
use sha2::{Digest, Sha256};

use crate::metrics::Metrics;

/// Built zips, at most `max_bytes` of them (least recently used removed first).
pub(crate) struct ZipCache {
    dir: tempfile::TempDir,
    max_bytes: u64,
    /// One lock per module version, so concurrent requests build a zip once.
    building: Mutex<HashMap<String, Arc<tokio::sync::Mutex<()>>>>,
    lru: Mutex<Lru>,
}

#[derive(Default)]
struct Lru {
    tick: u64,
    /// key -> (last use, size)
    entries: HashMap<String, (u64, u64)>,
    total: u64,
}

/// Why no zip can be served for a module.
#[derive(Debug)]
pub(crate) enum ZipMiss {
    /// The module cache has no complete tree (no `.ziphash`, as Go judges it).
    NoTree,
    /// Building failed or the tree does not match its `.ziphash`.
    Failed(String),
}

impl ZipCache {
    pub(crate) fn new(parent: Option<&Path>, max_bytes: u64) -> std::io::Result<ZipCache> {
        let mut b = tempfile::Builder::new();
        b.prefix("gowarm-serve-zips-");
        let dir = match parent {
            Some(p) => b.tempdir_in(p)?,
            None => b.tempdir()?,
        };
        Ok(ZipCache {
            dir,
            max_bytes,
            building: Mutex::new(HashMap::new()),
            lru: Mutex::new(Lru::default()),
        })
    }

    pub(crate) fn dir(&self) -> &Path {
        self.dir.path()
    }

    fn key(m: &ModuleVersion) -> String {
        hex::encode(Sha256::digest(m.to_string().as_bytes()))
    }

    fn touch(&self, key: &str, size: u64) {
        if let Ok(mut l) = self.lru.lock() {
            l.tick += 1;
            let t = l.tick;
            if let Some(old) = l.entries.insert(key.to_string(), (t, size)) {
                l.total -= old.1;
            }
            l.total += size;
        }
    }

    /// Removes least recently used zips until the total fits, keeping `keep`. A removed
    /// file being streamed keeps streaming: its descriptor is open.
    fn evict(&self, keep: &str) {
        let victims: Vec<String> = {
            let Ok(mut l) = self.lru.lock() else { return };
            let mut order: BTreeMap<u64, String> = l
                .entries
                .iter()
                .filter(|(k, _)| k.as_str() != keep)
                .map(|(k, (t, _))| (*t, k.clone()))
                .collect();
            let mut out = Vec::new();
            while l.total > self.max_bytes {
                let Some((_, k)) = order.pop_first() else {
                    break;
                };
                if let Some((_, size)) = l.entries.remove(&k) {
                    l.total -= size;
                }
                out.push(k);
            }
            out
        };
        for k in victims {
            let _ = std::fs::remove_file(self.dir.path().join(format!("{k}.zip")));
        }
    }

    /// The zip of `m` built from its tree in `modcache` (built now if not already here).
    pub(crate) async fn get(
        &self,
        modcache: &ModCache,
        m: &ModuleVersion,
        metrics: &Metrics,
    ) -> Result<PathBuf, ZipMiss> {
        let key = Self::key(m);
        let lock = {
            let mut b = self
                .building
                .lock()
                .map_err(|_| ZipMiss::Failed("zip cache lock poisoned".into()))?;
            b.entry(key.clone()).or_default().clone()
        };
        let result = self.get_locked(&key, &lock, modcache, m, metrics).await;
        if let Ok(mut b) = self.building.lock() {
            // The map holds one reference and this call another: no one else waits.
            if Arc::strong_count(&lock) <= 2 {
                b.remove(&key);
            }
        }
        result
    }

    async fn get_locked(
        &self,
        key: &str,
        lock: &tokio::sync::Mutex<()>,
        modcache: &ModCache,
        m: &ModuleVersion,
        metrics: &Metrics,
    ) -> Result<PathBuf, ZipMiss> {
        let _guard = lock.lock().await;
        let path = self.dir.path().join(format!("{key}.zip"));
        if let Ok(meta) = tokio::fs::metadata(&path).await {
            self.touch(key, meta.len());
            return Ok(path);
        }
        let modcache = modcache.clone();
        let m2 = m.clone();
        let dir = self.dir.path().to_path_buf();
        let final_path = path.clone();
        let t0 = Instant::now();
        let built = tokio::task::spawn_blocking(move || build(&modcache, &m2, &dir, &final_path))
            .await
            .map_err(|e| ZipMiss::Failed(format!("zip task failed: {e}")))??;
        metrics.zip_built(t0.elapsed());
        tracing::debug!(module = %m, bytes = built, ms = t0.elapsed().as_millis() as u64, "built module zip from its tree");
        self.touch(key, built);
        self.evict(key);
        Ok(path)
    }
}

/// Builds the zip of `m` from its tree into `dir`, renaming it to `dest` once its hash
/// is checked against `.ziphash`; returns its size.
fn build(modcache: &ModCache, m: &ModuleVersion, dir: &Path, dest: &Path) -> Result<u64, ZipMiss> {
    let state = modcache
        .state(m)
        .map_err(|e| ZipMiss::Failed(e.to_string()))?;
    let TreeState::Complete { ziphash } = state.tree else {
        return Err(ZipMiss::NoTree);
    };
    let tree = modcache
        .tree_dir(m)
        .map_err(|e| ZipMiss::Failed(e.to_string()))?;
    // In link mode the tree is a symlink into a warm image: zip what it points to.
    let tree = std::fs::canonicalize(&tree).unwrap_or(tree);
    let mut tmp = tempfile::NamedTempFile::new_in(dir)
        .map_err(|e| ZipMiss::Failed(format!("creating a zip in {}: {e}", dir.display())))?;
    let stats =
        gowarm_gomod::modzip::create_from_dir(tmp.as_file_mut(), m, &tree).map_err(|e| {
            ZipMiss::Failed(format!(
                "building the zip of {m} from {}: {e}",
                tree.display()
            ))
        })?;
    if stats.h1 != ziphash {
        return Err(ZipMiss::Failed(format!(
            "{}: the tree of {m} hashes to {}, its .ziphash says {ziphash}; not serving it (was the tree changed?)",
            tree.display(),
            stats.h1
        )));
    }
    let size = tmp
        .as_file()
        .metadata()
        .map_err(|e| ZipMiss::Failed(format!("{}: {e}", tmp.path().display())))?
        .len();
    tmp.persist(dest)
        .map_err(|e| ZipMiss::Failed(format!("{}: {e}", dest.display())))?;
    Ok(size)
}
