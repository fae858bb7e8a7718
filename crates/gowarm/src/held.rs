//! Held: the Manifest of what a pod's own caches hold, which `gowarm serve` offers its
//! siblings. The warm sets are the ones the pod's hook warmed (recorded beside its
//! GOCACHE), narrowed to what is still complete; entries the pod's own builds added are
//! offered in a set `pod` of their own.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::time::{SystemTime, UNIX_EPOCH};

use gowarm_gocache::{BuildCache, EntryState};
use gowarm_gomod::modcache::{ModCache, TreeState};
use gowarm_gomod::ModuleVersion;

use crate::engine::{Engine, Environment};
use crate::error::Result;
use crate::manifest::{EntryRecord, Manifest, WarmSet, FORMAT};

/// The file in a GOCACHE where the hook records the Manifest it warmed from.
pub const RECORDED_MANIFEST: &str = "gowarm-manifest.json";

/// The warm set holding entries no recorded set lists (the pod's own builds).
pub const POD_SET: &str = "pod";

/// Where the recorded Manifest of the GOCACHE `gocache` lives.
pub fn recorded_manifest_path(gocache: &Path) -> PathBuf {
    gocache.join(RECORDED_MANIFEST)
}

impl Engine {
    /// The Manifest of what this engine's caches hold now (see the module docs).
    pub fn held_manifest(&self) -> Result<Manifest> {
        let env = self.environment(&std::env::temp_dir())?;
        held_manifest_in(&env)
    }
}

/// [`Engine::held_manifest`] in a resolved environment.
pub fn held_manifest_in(env: &Environment) -> Result<Manifest> {
    let build = BuildCache::at(&env.gocache);
    let modcache = ModCache::new(&env.gomodcache);
    let mut entries = Vec::new();
    if env.gocache.is_dir() {
        for (action, e) in build.entries()? {
            // `go run`/`go tool` executables (`-d` directories): builds never read them.
            if build.output_path(&e.output_id).is_dir() {
                continue;
            }
            if matches!(build.entry_state(&action)?, EntryState::Complete(_)) {
                entries.push(EntryRecord {
                    action: action.to_string(),
                    output: e.output_id.to_string(),
                    size: e.size,
                });
            }
        }
    }
    entries.sort_by(|a, b| a.action.cmp(&b.action));
    let present: BTreeSet<&str> = entries.iter().map(|e| e.action.as_str()).collect();
    let recorded = Manifest::read(&recorded_manifest_path(&env.gocache)).ok();
    let mut modules = Vec::new();
    let mut sets = Vec::new();
    let mut listed: BTreeSet<String> = BTreeSet::new();
    if let Some(rec) = &recorded {
        let mut kept_modules = BTreeSet::new();
        for m in &rec.modules {
            let mv = ModuleVersion::new(m.path.clone(), m.version.clone());
            let st = modcache.state(&mv)?;
            let complete = st.has_mod
                && match (&m.h1, &st.tree) {
                    (None, _) => true,
                    (Some(h1), TreeState::Complete { ziphash }) => ziphash == h1,
                    _ => false,
                };
            if complete {
                kept_modules.insert(m.key());
                modules.push(m.clone());
            }
        }
        for s in &rec.warm_sets {
            let entries: Vec<String> = s
                .entries
                .iter()
                .filter(|a| present.contains(a.as_str()))
                .cloned()
                .collect();
            listed.extend(entries.iter().cloned());
            sets.push(WarmSet {
                entries,
                modules: s
                    .modules
                    .iter()
                    .filter(|k| kept_modules.contains(*k))
                    .cloned()
                    .collect(),
                ..s.clone()
            });
        }
    }
    let own: Vec<String> = entries
        .iter()
        .filter(|e| !listed.contains(&e.action))
        .map(|e| e.action.clone())
        .collect();
    if !own.is_empty() || sets.is_empty() {
        sets.push(WarmSet {
            name: POD_SET.into(),
            targets: Vec::new(),
            sdk_modules: Vec::new(),
            modules: Vec::new(),
            entries: own,
            inputs: String::new(),
        });
    }
    Ok(Manifest {
        format: FORMAT,
        created_by: concat!("gowarm ", env!("CARGO_PKG_VERSION")).into(),
        created_at: SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map(|d| d.as_secs())
            .unwrap_or(0),
        profile: env.profile.clone(),
        warm_sets: sets,
        modules,
        entries,
    })
}
