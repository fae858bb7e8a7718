//! Bake: warm from upstream and the previous bake, build every warm set's targets while
//! recording exactly the build-cache entries they read or wrote, verify each rebuilt set
//! against the staged output, and swap the output in with a Manifest.
//!
//! Incremental: a warm set whose inputs digest (targets' files, SDK list) and profile are
//! unchanged is kept from the previous output without building; a bake where every set
//! is kept and none was dropped touches nothing.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Instant, SystemTime, UNIX_EPOCH};

use gowarm_gocache::{BuildCache, CopyOptions, EntryState, Id};
use gowarm_gomod::modcache::{ModCache, TreeState};
use gowarm_gomod::ModuleVersion;
use serde::Serialize;

use crate::analyze::Need;
use crate::config::{Config, SourceConfig, SourceKind};
use crate::engine::{Engine, Environment, WarmControl};
use crate::error::{Error, Result};
use crate::lock::OutputLock;
use crate::manifest::{
    EntryRecord, Manifest, ModuleRecord, Target, WarmSet, FORMAT, MANIFEST_FILE,
};
use crate::plan::SetChoice;
use crate::record::{used_entries, CacheProg};
use crate::report::{Outcome, Report};
use crate::source::dir::{DirSource, BUILDCACHE_DIR, MODCACHE_DIR};
use crate::source::Source;
use crate::verify::{run_go_offline, verify_in, VerifyReport};
use crate::warm::{Cancel, Progress};

/// The name of the one warm set of a bake given plain target directories.
pub const DEFAULT_SET: &str = "all";

/// One warm set to bake.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SetRequest {
    /// Its name.
    pub name: String,
    /// Its module directories (absolute).
    pub targets: Vec<PathBuf>,
    /// Module paths that select it at run time (empty: computed from the targets).
    pub sdk: Vec<String>,
}

/// What to bake.
#[derive(Debug, Clone)]
pub struct BakeRequest {
    /// The warm sets.
    pub sets: Vec<SetRequest>,
    /// The warm cache directory to write.
    pub out: PathBuf,
    /// The previous bake's output (default: `out`).
    pub previous: Option<PathBuf>,
    /// Wait for another bake of `out` to finish (false: fail at once).
    pub wait: bool,
    /// The GOCACHEPROG program that records entries.
    pub cacheprog: CacheProg,
    /// Hit ratio each rebuilt set's verify build must reach (0: skip the step).
    pub min_hit_ratio: f64,
    /// Variables of the pods' runtime layout (GOMODCACHE, GOCACHE, GOFLAGS, CGO_ENABLED).
    pub layout: Vec<(String, String)>,
    /// The Go version the pods run; another toolchain is refused.
    pub go_version: Option<String>,
    /// Give the output to this owner (the pods' user).
    pub owner: Option<crate::owner::Owner>,
}

impl SetRequest {
    /// A set `name` of module directories `targets`, selected by computed SDK modules.
    pub fn new(name: impl Into<String>, targets: Vec<PathBuf>) -> SetRequest {
        SetRequest {
            name: name.into(),
            targets,
            sdk: Vec::new(),
        }
    }
}

impl BakeRequest {
    /// A bake of `sets` into `out` with the defaults: wait for the lock, verify to 100%,
    /// the environment's own layout.
    pub fn new(sets: Vec<SetRequest>, out: impl Into<PathBuf>, cacheprog: CacheProg) -> Self {
        BakeRequest {
            sets,
            out: out.into(),
            previous: None,
            wait: true,
            cacheprog,
            min_hit_ratio: 1.0,
            layout: Vec::new(),
            go_version: None,
            owner: None,
        }
    }

    /// A bake of one set [`DEFAULT_SET`] of module directories `targets` into `out`.
    pub fn targets(targets: Vec<PathBuf>, out: impl Into<PathBuf>, cacheprog: CacheProg) -> Self {
        Self::new(vec![SetRequest::new(DEFAULT_SET, targets)], out, cacheprog)
    }

    /// The request `config`'s `[bake]` section describes. `targets` (from the command
    /// line) replace the configured sets with one set [`DEFAULT_SET`]; `out` replaces
    /// `[bake] out`.
    pub fn from_config(
        config: &Config,
        targets: &[PathBuf],
        out: Option<PathBuf>,
        cacheprog: CacheProg,
    ) -> Result<BakeRequest> {
        let bake = &config.bake;
        let cwd = std::env::current_dir().map_err(|e| Error::io("reading", ".", e))?;
        let base = config.base_dir.clone().unwrap_or_else(|| cwd.clone());
        let root = match &bake.root {
            Some(r) => base.join(r),
            None => base.clone(),
        };
        let as_specs = |t: &[PathBuf]| -> Vec<String> {
            t.iter().map(|p| p.to_string_lossy().into_owned()).collect()
        };
        let sets = if !targets.is_empty() {
            vec![SetRequest {
                name: DEFAULT_SET.into(),
                targets: crate::target::resolve(&as_specs(targets), &cwd)?,
                sdk: Vec::new(),
            }]
        } else if !bake.sets.is_empty() {
            let mut sets = Vec::new();
            for s in &bake.sets {
                let mut targets = if s.targets.is_empty() {
                    Vec::new()
                } else {
                    crate::target::resolve(&s.targets, &root)?
                };
                if !s.git.is_empty() {
                    let cache = crate::git::GitCache::from_config(&config.git)?;
                    for g in &s.git {
                        let mut req = crate::git::GitRequest::new(g.url.clone(), g.rev.clone());
                        req.subdir = g.subdir.clone();
                        let checkout = cache.checkout(&req)?;
                        tracing::info!(set = %s.name, dir = %checkout.dir.display(), commit = %checkout.commit, "bake: git target");
                        targets.push(checkout.dir);
                    }
                }
                sets.push(SetRequest {
                    name: s.name.clone(),
                    targets,
                    sdk: s.sdk.clone(),
                });
            }
            sets
        } else if !bake.targets.is_empty() {
            vec![SetRequest {
                name: DEFAULT_SET.into(),
                targets: crate::target::resolve(&as_specs(&bake.targets), &root)?,
                sdk: Vec::new(),
            }]
        } else {
            return Err(Error::Bake(
                "no targets: pass module directories (gowarm bake DIR…) or add [[bake.set]] with targets to gowarm.toml".into(),
            ));
        };
        let out = out
            .or_else(|| bake.out.as_ref().map(|o| base.join(o)))
            .ok_or_else(|| Error::Bake("no output: pass --out DIR or set [bake] out".into()))?;
        let mut layout = Vec::new();
        if let Some(p) = &bake.gomodcache {
            layout.push(("GOMODCACHE".to_string(), p.display().to_string()));
        }
        if let Some(p) = &bake.gocache {
            layout.push(("GOCACHE".to_string(), base.join(p).display().to_string()));
        }
        if let Some(f) = &bake.goflags {
            layout.push(("GOFLAGS".to_string(), f.clone()));
        }
        if let Some(c) = bake.cgo_enabled {
            layout.push(("CGO_ENABLED".to_string(), if c { "1" } else { "0" }.into()));
        }
        Ok(BakeRequest {
            sets,
            out,
            previous: bake.previous.as_ref().map(|p| base.join(p)),
            wait: true,
            cacheprog,
            min_hit_ratio: bake.min_hit_ratio,
            layout,
            go_version: bake.go_version.clone(),
            owner: bake.owner,
        })
    }
}

/// What a bake did with one warm set.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum SetAction {
    /// Built now (new, or its inputs or the profile changed).
    Built,
    /// Kept from the previous output: inputs unchanged.
    Kept,
    /// In the previous output, no longer configured: dropped.
    Dropped,
}

/// One warm set's part of a bake.
#[derive(Debug, Clone, Serialize)]
pub struct SetBake {
    /// The set's name.
    pub name: String,
    /// What was done.
    pub action: SetAction,
    /// Why (for a rebuilt set: what changed).
    pub reason: String,
    /// Its targets.
    pub targets: Vec<PathBuf>,
    /// Module versions it needs.
    pub modules: u64,
    /// Build-cache entries it needs.
    pub entries: u64,
    /// Packages its builds compiled (build-cache misses): 0 when every entry came warm.
    pub compiled: u64,
    /// Entries its builds wrote (compiles, links, module index data).
    pub written: u64,
    /// Wall time of its builds (ms).
    pub build_ms: u64,
    /// The verify build of its first target against the staged output.
    pub verify: Option<VerifyReport>,
}

/// What a bake did.
#[derive(Debug, Clone, Serialize)]
pub struct BakeReport {
    /// The warm cache directory written.
    pub out: PathBuf,
    /// True when nothing changed and the output was left as it was.
    pub up_to_date: bool,
    /// Per warm set.
    pub sets: Vec<SetBake>,
    /// The warm of each rebuilt target.
    pub warms: Vec<Report>,
    /// Module items (`.mod` files and trees, counted apart) fetched from sources other
    /// than the previous output.
    pub modules_fetched: u64,
    /// Modules in the output.
    pub modules: u64,
    /// Bytes of module trees in the output.
    pub module_bytes: u64,
    /// Build-cache entries in the output.
    pub entries: u64,
    /// Bytes of build-cache entries in the output.
    pub entry_bytes: u64,
    /// Waited for another bake's lock (ms).
    pub lock_wait_ms: u64,
    /// Total wall time (ms).
    pub duration_ms: u64,
}

/// Name of the source the previous output is read through.
const PREVIOUS_SOURCE: &str = "previous bake";

impl Engine {
    /// Bakes the warm cache directory `req.out`: the warm sets whose inputs changed are
    /// warmed (from the previous output, then the configured sources), built with their
    /// entries recorded, verified, and exported with the kept sets; then swapped in.
    pub fn bake(
        &self,
        req: &BakeRequest,
        progress: Option<Arc<dyn Progress>>,
    ) -> Result<BakeReport> {
        let t0 = Instant::now();
        if req.sets.is_empty() || req.sets.iter().any(|s| s.targets.is_empty()) {
            return Err(Error::Bake(
                "no targets: pass module directories (gowarm bake DIR…) or set [[bake.set]] targets"
                    .into(),
            ));
        }
        let out = std::path::absolute(&req.out).map_err(|e| Error::io("resolving", &req.out, e))?;
        let all_targets: Vec<PathBuf> = req.sets.iter().flat_map(|s| s.targets.clone()).collect();
        check_output(&out, &all_targets, &[])?;
        let lock = OutputLock::acquire(&out, req.wait)?;
        let lock_wait_ms = lock.waited_ms();
        sweep_staging(&out);

        // One environment per target (go env runs in its directory), all of one profile.
        let mut envs: BTreeMap<PathBuf, Environment> = BTreeMap::new();
        for dir in &all_targets {
            let env = self.environment_with(dir, &req.layout)?;
            check_output(&out, &[], &[&env.gomodcache, &env.gocache])?;
            if let Some(want) = &req.go_version {
                if &env.profile.go_version != want {
                    return Err(Error::Bake(format!(
                        "the pods run {want} ([bake] go_version) but {} is {}: entries baked with another Go version never hit; bake with the pods' toolchain ([go] binary / GOWARM_GO)",
                        env.go.display(),
                        env.profile.go_version
                    )));
                }
            }
            if let Some((first_dir, first)) = envs.iter().next() {
                let diffs = first.profile.compare(&env.profile);
                if let Some(d) = diffs.first() {
                    return Err(Error::Bake(format!(
                        "target {} builds under another BuildProfile than {}: {d}",
                        dir.display(),
                        first_dir.display()
                    )));
                }
            }
            envs.insert(dir.clone(), env);
        }
        let env0 = envs
            .values()
            .next()
            .cloned()
            .ok_or_else(|| Error::Bake("no target".into()))?;

        // The previous output: a source for this bake, and the sets it may keep.
        let prev_dir = req.previous.clone().unwrap_or_else(|| out.clone());
        let previous = read_previous(&prev_dir);
        let prev_source: Option<Arc<dyn Source>> = match &previous {
            Some(_) => {
                let cfg = SourceConfig {
                    name: PREVIOUS_SOURCE.into(),
                    kind: SourceKind::Dir,
                    path: Some(prev_dir.clone()),
                    trusted: Some(true),
                    ..SourceConfig::default()
                };
                match DirSource::open(&cfg) {
                    Ok(s) => Some(Arc::new(s)),
                    Err(e) => {
                        tracing::warn!(
                            "the previous output cannot be read, baking from scratch: {e}"
                        );
                        None
                    }
                }
            }
            None => None,
        };
        let previous = previous.filter(|_| prev_source.is_some());
        let profile_diff = previous
            .as_ref()
            .and_then(|p| p.profile.compare(&env0.profile).into_iter().next());

        let mut sets_out: Vec<SetBake> = Vec::new();
        let mut plans: Vec<(SetRequest, String, Option<&WarmSet>)> = Vec::new();
        for set in &req.sets {
            let mut extra = vec![format!("format {FORMAT}")];
            extra.extend(set.sdk.iter().map(|m| format!("sdk {m}")));
            extra.push(format!("layout {:?}", req.layout));
            let inputs = crate::target::inputs_digest(&set.targets, &extra)?;
            let prev_set = previous.as_ref().and_then(|p| p.warm_set(&set.name));
            plans.push((set.clone(), inputs, prev_set));
        }
        let keep = |inputs: &str, prev: Option<&WarmSet>| -> std::result::Result<(), String> {
            match (prev, &profile_diff) {
                (None, _) => Err("new".into()),
                (Some(_), Some(d)) => Err(format!("the profile changed: {d}")),
                (Some(p), None) if p.inputs != inputs => {
                    Err("its targets' files or settings changed".into())
                }
                (Some(_), None) => Ok(()),
            }
        };
        let dropped: Vec<&WarmSet> = previous
            .iter()
            .flat_map(|p| p.warm_sets.iter())
            .filter(|ps| !req.sets.iter().any(|s| s.name == ps.name))
            .collect();
        let all_kept = plans.iter().all(|(_, i, p)| keep(i, *p).is_ok());
        if all_kept && dropped.is_empty() {
            if let Some(prev) = &previous {
                if prev_dir == out {
                    tracing::info!(
                        "bake: every warm set is up to date; {} left as it is",
                        out.display()
                    );
                    let summary = prev.summary();
                    return Ok(BakeReport {
                        out,
                        up_to_date: true,
                        sets: summary
                            .warm_sets
                            .iter()
                            .map(|s| SetBake {
                                name: s.name.clone(),
                                action: SetAction::Kept,
                                reason: "inputs unchanged".into(),
                                targets: s.targets.iter().map(|t| t.dir.clone()).collect(),
                                modules: s.modules,
                                entries: s.entries,
                                compiled: 0,
                                written: 0,
                                build_ms: 0,
                                verify: None,
                            })
                            .collect(),
                        warms: Vec::new(),
                        modules_fetched: 0,
                        modules: summary.modules,
                        module_bytes: summary.module_bytes,
                        entries: summary.entries,
                        entry_bytes: summary.entry_bytes,
                        lock_wait_ms,
                        duration_ms: t0.elapsed().as_millis() as u64,
                    });
                }
            }
        }

        let mut sources: Vec<Arc<dyn Source>> = prev_source.iter().cloned().collect();
        sources.extend(self.sources().iter().cloned());
        let mut warms = Vec::new();
        let mut modules: BTreeMap<String, ModuleRecord> = BTreeMap::new();
        let mut entries: BTreeMap<String, EntryRecord> = BTreeMap::new();
        let mut warm_sets: Vec<WarmSet> = Vec::new();
        let mut modules_fetched = 0;
        let mut verify_targets: Vec<(usize, PathBuf)> = Vec::new();
        let record_dir = tempfile::Builder::new()
            .prefix("gowarm-record-")
            .tempdir()
            .map_err(|e| Error::io("creating a temporary directory in", std::env::temp_dir(), e))?;
        for (set, inputs, prev_set) in &plans {
            let targets: Vec<Target> = set
                .targets
                .iter()
                .map(|d| Target {
                    dir: d.clone(),
                    module: module_path(d).unwrap_or_default(),
                })
                .collect();
            match (keep(inputs, *prev_set), previous.as_ref(), prev_set) {
                (Ok(()), Some(prev), Some(ps)) => {
                    for m in prev.modules_of(&[ps]) {
                        modules.entry(m.key()).or_insert_with(|| m.clone());
                    }
                    for e in prev.entries_of(&[ps]) {
                        entries.entry(e.action.clone()).or_insert_with(|| e.clone());
                    }
                    sets_out.push(SetBake {
                        name: set.name.clone(),
                        action: SetAction::Kept,
                        reason: "inputs unchanged".into(),
                        targets: set.targets.clone(),
                        modules: ps.modules.len() as u64,
                        entries: ps.entries.len() as u64,
                        compiled: 0,
                        written: 0,
                        build_ms: 0,
                        verify: None,
                    });
                    warm_sets.push(WarmSet {
                        targets,
                        ..(*ps).clone()
                    });
                }
                (why, _, _) => {
                    let reason = why.err().unwrap_or_default();
                    tracing::info!(set = %set.name, "bake: building ({reason})");
                    let mut set_modules = BTreeSet::new();
                    let mut set_entries = BTreeSet::new();
                    let (mut compiled, mut written, mut build_ms) = (0, 0, 0);
                    for dir in &set.targets {
                        let env = envs.get(dir).ok_or_else(|| {
                            Error::Bake(format!("no environment for {}", dir.display()))
                        })?;
                        tracing::info!(target = %dir.display(), "bake: fetching modules");
                        let ctl = WarmControl {
                            choice: SetChoice::Auto,
                            progress: progress.clone(),
                            cancel: Cancel::new(),
                        };
                        let (plan, report) = self.warm_in(Some(dir), env, &sources, &ctl)?;
                        if report.outcome == Outcome::Incomplete {
                            let first = report
                                .failures
                                .iter()
                                .rev()
                                .find(|f| f.source.is_none())
                                .map(|f| format!("{}: {}", f.item, f.error))
                                .unwrap_or_default();
                            return Err(Error::Bake(format!(
                                "target {}: {} modules could not be fetched from any source (first: {first}); check the sources and go.sum",
                                dir.display(),
                                report.modules.failed
                            )));
                        }
                        modules_fetched += report
                            .sources
                            .iter()
                            .filter(|(n, _)| n.as_str() != PREVIOUS_SOURCE)
                            .map(|(_, s)| s.items)
                            .sum::<u64>();
                        let modcache = ModCache::new(&env.gomodcache);
                        for m in &plan.modules {
                            let n = &m.needed;
                            if n.need == Need::GraphGoMod && !modcache.state(&n.module)?.has_mod {
                                continue; // an optional graph entry no source had
                            }
                            let rec = ModuleRecord {
                                path: n.module.path.clone(),
                                version: n.module.version.clone(),
                                h1: if n.need == Need::Tree {
                                    n.h1.clone()
                                } else {
                                    None
                                },
                                gomod_h1: n.gomod_h1.clone(),
                                bytes: 0,
                            };
                            let key = rec.key();
                            let slot = modules.entry(key.clone()).or_insert_with(|| rec.clone());
                            if slot.h1.is_none() && rec.h1.is_some() {
                                slot.h1 = rec.h1.clone();
                            }
                            set_modules.insert(key);
                        }
                        warms.push(report);
                        tracing::info!(target = %dir.display(), "bake: go build (recording entries)");
                        let record = record_dir.path().join(format!(
                            "{}-{}.rec",
                            set.name,
                            set_entries.len()
                        ));
                        let build = build_recorded(env, dir, &req.cacheprog, &record)?;
                        build_ms += build.ms;
                        compiled += build.compiled.len() as u64;
                        if !build.compiled.is_empty() {
                            tracing::info!(target = %dir.display(), "bake: compiled {}", build.compiled.join(" "));
                        }
                        for (action, u) in build.used {
                            written += u64::from(u.put);
                            let key = action.to_string();
                            entries.insert(
                                key.clone(),
                                EntryRecord {
                                    action: key.clone(),
                                    output: u.output.to_string(),
                                    size: u.size,
                                },
                            );
                            set_entries.insert(key);
                        }
                    }
                    verify_targets.push((warm_sets.len(), set.targets[0].clone()));
                    sets_out.push(SetBake {
                        name: set.name.clone(),
                        action: SetAction::Built,
                        reason,
                        targets: set.targets.clone(),
                        modules: set_modules.len() as u64,
                        entries: set_entries.len() as u64,
                        compiled,
                        written,
                        build_ms,
                        verify: None,
                    });
                    warm_sets.push(WarmSet {
                        name: set.name.clone(),
                        targets,
                        sdk_modules: set.sdk.clone(),
                        modules: set_modules.into_iter().collect(),
                        entries: set_entries.into_iter().collect(),
                        inputs: inputs.clone(),
                    });
                }
            }
        }
        for d in &dropped {
            sets_out.push(SetBake {
                name: d.name.clone(),
                action: SetAction::Dropped,
                reason: "no longer configured".into(),
                targets: d.targets.iter().map(|t| t.dir.clone()).collect(),
                modules: d.modules.len() as u64,
                entries: d.entries.len() as u64,
                compiled: 0,
                written: 0,
                build_ms: 0,
                verify: None,
            });
        }
        compute_sdk_modules(&mut warm_sets, &req.sets)?;

        let staging = Staging::create(&out)?;
        let prev_roots = previous.as_ref().map(|_| prev_dir.as_path());
        let manifest = export(
            &env0,
            prev_roots,
            modules,
            entries,
            warm_sets,
            staging.path(),
        )?;

        // Verify each rebuilt set against what will ship: its entries alone in an empty
        // GOCACHE, the staged module trees (or, without -trimpath, the pods' GOMODCACHE
        // path, which the bake's own module cache is).
        if req.min_hit_ratio > 0.0 {
            for (i, dir) in &verify_targets {
                let set = &manifest.warm_sets[*i];
                let env = envs
                    .get(dir)
                    .ok_or_else(|| Error::Bake(format!("no environment for {}", dir.display())))?;
                let report = verify_set(env, &manifest, set, dir, staging.path(), &out)?;
                let name = set.name.clone();
                if let Some(s) = sets_out.iter_mut().find(|s| s.name == name) {
                    s.verify = Some(report.clone());
                }
                if report.hit_ratio < req.min_hit_ratio {
                    let shown: Vec<&str> =
                        report.compiled.iter().take(8).map(String::as_str).collect();
                    return Err(Error::Bake(format!(
                        "warm set {name}: verify build of {} hit {:.1}% of {} packages, below {:.1}% ([bake] min_hit_ratio); compiled: {}{}; the output was not replaced",
                        dir.display(),
                        report.hit_ratio * 100.0,
                        report.packages,
                        req.min_hit_ratio * 100.0,
                        shown.join(", "),
                        if report.compiled.len() > shown.len() { ", …" } else { "" }
                    )));
                }
            }
        }

        if let Some(owner) = req.owner {
            let changed = owner.give(staging.path())?;
            tracing::info!(%owner, changed, "gave the output to its owner");
        }
        staging.swap_into(&out)?;
        drop(lock);
        Ok(BakeReport {
            out,
            up_to_date: false,
            sets: sets_out,
            warms,
            modules_fetched,
            modules: manifest.modules.len() as u64,
            module_bytes: manifest.module_bytes(),
            entries: manifest.entries.len() as u64,
            entry_bytes: manifest.entry_bytes(),
            lock_wait_ms,
            duration_ms: t0.elapsed().as_millis() as u64,
        })
    }
}

/// The previous output's Manifest, if it has a readable one.
fn read_previous(dir: &Path) -> Option<Manifest> {
    let path = dir.join(MANIFEST_FILE);
    if !path.is_file() {
        return None;
    }
    match Manifest::read(&path) {
        Ok(m) => Some(m),
        Err(e) => {
            tracing::warn!("baking from scratch: {e}");
            None
        }
    }
}

/// The module path in `dir/go.mod`.
fn module_path(dir: &Path) -> Result<String> {
    let path = dir.join("go.mod");
    let text = std::fs::read_to_string(&path).map_err(|e| Error::io("reading", &path, e))?;
    let gm = gowarm_gomod::gomod::parse(&path, &text)?;
    Ok(gm.module.unwrap_or_default())
}

/// Fills in the SDK modules of sets configured without them: the modules their targets
/// require directly that no other set's targets require at all (directly or not: a
/// program selects a set by any module of its go.mod, so a module another set's programs
/// merely depend on would pull this set into their warms).
fn compute_sdk_modules(sets: &mut [WarmSet], requests: &[SetRequest]) -> Result<()> {
    let mut direct: Vec<BTreeSet<String>> = Vec::new();
    let mut all: Vec<BTreeSet<String>> = Vec::new();
    for set in sets.iter() {
        let (mut reqs, mut any) = (BTreeSet::new(), BTreeSet::new());
        for t in &set.targets {
            let path = t.dir.join("go.mod");
            let text =
                std::fs::read_to_string(&path).map_err(|e| Error::io("reading", &path, e))?;
            let gm = gowarm_gomod::gomod::parse(&path, &text)?;
            for r in &gm.require {
                if !r.indirect {
                    reqs.insert(r.path.clone());
                }
                any.insert(r.path.clone());
            }
        }
        direct.push(reqs);
        all.push(any);
    }
    for i in 0..sets.len() {
        let configured = requests
            .iter()
            .find(|r| r.name == sets[i].name)
            .map(|r| r.sdk.clone())
            .unwrap_or_default();
        sets[i].sdk_modules = if configured.is_empty() {
            direct[i]
                .iter()
                .filter(|m| {
                    all.iter()
                        .enumerate()
                        .all(|(j, other)| j == i || !other.contains(*m))
                })
                .cloned()
                .collect()
        } else {
            configured
        };
    }
    Ok(())
}

/// A recorded build.
struct RecordedBuild {
    ms: u64,
    used: BTreeMap<Id, crate::record::UsedEntry>,
    compiled: Vec<String>,
}

/// Runs `go build -x` of every package in `dir` offline, with `cacheprog` serving the
/// environment's GOCACHE and recording into `record`.
fn build_recorded(
    env: &Environment,
    dir: &Path,
    cacheprog: &CacheProg,
    record: &Path,
) -> Result<RecordedBuild> {
    let t0 = Instant::now();
    BuildCache::open(&env.gocache)?;
    let value = cacheprog.env_value(&env.gocache, record)?;
    // `-o DIR/`: executables go to a scratch directory, not into the target.
    let bin = tempfile::Builder::new()
        .prefix("gowarm-bake-bin-")
        .tempdir()
        .map_err(|e| Error::io("creating a temporary directory in", std::env::temp_dir(), e))?;
    let o = format!("{}/", bin.path().display());
    let out = run_go_offline(
        env,
        dir,
        &["build", "-x", "-o", &o, "./..."],
        &[("GOCACHEPROG", &value)],
    )?;
    Ok(RecordedBuild {
        ms: t0.elapsed().as_millis() as u64,
        used: used_entries(record)?,
        compiled: crate::verify::compiled_packages(&String::from_utf8_lossy(&out.stderr)),
    })
}

/// A staging directory beside the output, removed unless swapped in.
struct Staging {
    dir: Option<tempfile::TempDir>,
}

/// The prefix of staging directories beside an output called `name`.
fn staging_prefix(name: &str) -> String {
    format!(".{name}.tmp-")
}

fn output_name(out: &Path) -> String {
    out.file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_else(|| "warm".into())
}

fn output_parent(out: &Path) -> &Path {
    out.parent()
        .filter(|p| !p.as_os_str().is_empty())
        .unwrap_or(Path::new("."))
}

/// The prefix of a bake's verify GOCACHEs beside an output called `name`.
fn verify_prefix(name: &str) -> String {
    format!(".{name}.verify-")
}

/// Removes staging directories and verify caches of killed bakes (the caller holds the
/// output lock, so no live bake owns them).
fn sweep_staging(out: &Path) {
    let name = output_name(out);
    let prefixes = [staging_prefix(&name), verify_prefix(&name)];
    let Ok(rd) = std::fs::read_dir(output_parent(out)) else {
        return;
    };
    for e in rd.flatten() {
        let file_name = e.file_name().to_string_lossy().into_owned();
        if prefixes.iter().any(|p| file_name.starts_with(p.as_str())) {
            tracing::info!(dir = %e.path().display(), "removing a killed bake's staging directory");
            if let Err(err) = gowarm_gomod::modcache::remove_tree(&e.path()) {
                tracing::warn!(dir = %e.path().display(), "cannot remove: {err}");
            }
        }
    }
}

impl Staging {
    fn create(out: &Path) -> Result<Staging> {
        let parent = output_parent(out);
        std::fs::create_dir_all(parent).map_err(|e| Error::io("creating", parent, e))?;
        let dir = tempfile::Builder::new()
            .prefix(&staging_prefix(&output_name(out)))
            .tempdir_in(parent)
            .map_err(|e| Error::io("creating a staging directory in", parent, e))?;
        // A warm image is read by the pods' user, not the bake's: tempfile makes it 0700.
        set_mode(dir.path(), 0o755)?;
        Ok(Staging { dir: Some(dir) })
    }

    fn path(&self) -> &Path {
        self.dir.as_ref().map(|d| d.path()).unwrap_or(Path::new(""))
    }

    /// Puts the staged directory at `out` in one step: the old output (if any) stays
    /// whole until then and is removed after.
    fn swap_into(mut self, out: &Path) -> Result<()> {
        let Some(dir) = self.dir.take() else {
            return Ok(());
        };
        let staged = dir.keep();
        if std::fs::symlink_metadata(out).is_ok() {
            exchange(&staged, out)?;
            // `staged` now holds the previous output.
            gowarm_gomod::modcache::remove_tree(&staged)
                .map_err(|e| Error::io("removing the previous output", &staged, e))?;
        } else {
            std::fs::rename(&staged, out).map_err(|e| Error::io("renaming into place", out, e))?;
        }
        Ok(())
    }
}

impl Drop for Staging {
    fn drop(&mut self) {
        if let Some(dir) = self.dir.take() {
            let path = dir.keep();
            if let Err(e) = gowarm_gomod::modcache::remove_tree(&path) {
                tracing::warn!(dir = %path.display(), "cannot remove the staging directory: {e}");
            }
        }
    }
}

/// Swaps two directory entries atomically (Linux `renameat2(RENAME_EXCHANGE)`), so a
/// killed bake never leaves the output missing.
#[cfg(target_os = "linux")]
fn exchange(a: &Path, b: &Path) -> Result<()> {
    use std::ffi::CString;
    use std::os::unix::ffi::OsStrExt;
    let ca = CString::new(a.as_os_str().as_bytes())
        .map_err(|e| Error::io("swapping", a, std::io::Error::other(e)))?;
    let cb = CString::new(b.as_os_str().as_bytes())
        .map_err(|e| Error::io("swapping", b, std::io::Error::other(e)))?;
    // SAFETY: both are valid NUL-terminated paths; AT_FDCWD resolves them as given.
    let rc = unsafe {
        libc::renameat2(
            libc::AT_FDCWD,
            ca.as_ptr(),
            libc::AT_FDCWD,
            cb.as_ptr(),
            libc::RENAME_EXCHANGE,
        )
    };
    if rc == 0 {
        Ok(())
    } else {
        Err(Error::io(
            "swapping the new output into place at",
            b,
            std::io::Error::last_os_error(),
        ))
    }
}

/// Without an atomic exchange: move the old output aside, then the new one in.
#[cfg(not(target_os = "linux"))]
fn exchange(a: &Path, b: &Path) -> Result<()> {
    let aside = a.with_extension("old");
    std::fs::rename(b, &aside).map_err(|e| Error::io("moving aside", b, e))?;
    std::fs::rename(a, b).map_err(|e| Error::io("renaming into place", b, e))?;
    std::fs::rename(&aside, a).map_err(|e| Error::io("renaming", &aside, e))
}

/// Refuses an output that bake must not replace: bake swaps its output directory whole, so
/// `out` must be new, empty, or a previous bake's output, and must not hold (or be inside)
/// a target or a cache the bake uses.
fn check_output(out: &Path, targets: &[PathBuf], caches: &[&PathBuf]) -> Result<()> {
    let refuse = |why: String| {
        Err(Error::Bake(format!(
            "refusing to write {}: {why}; choose a new directory (or a previous bake's output) for --out",
            out.display()
        )))
    };
    let real = |p: &Path| std::fs::canonicalize(p).unwrap_or_else(|_| p.to_path_buf());
    let out_real = real(out);
    for t in targets {
        let t = real(&std::path::absolute(t).unwrap_or_else(|_| t.clone()));
        if t.starts_with(&out_real) || out_real.starts_with(&t) {
            return refuse(format!("it overlaps the target {}", t.display()));
        }
    }
    for c in caches {
        let c = real(c);
        if c.starts_with(&out_real) || out_real.starts_with(&c) {
            return refuse(format!(
                "it overlaps the cache {} the bake builds in",
                c.display()
            ));
        }
    }
    match std::fs::symlink_metadata(out) {
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
        Err(e) => Err(Error::io("inspecting", out, e)),
        Ok(m) if !m.is_dir() => refuse("it exists and is not a directory".into()),
        Ok(_) => {
            let empty = std::fs::read_dir(out)
                .map_err(|e| Error::io("reading", out, e))?
                .next()
                .is_none();
            if empty {
                return Ok(());
            }
            if !out.join(MANIFEST_FILE).is_file() {
                return refuse(format!(
                    "it holds files but no {MANIFEST_FILE}, so it is not a warm cache directory"
                ));
            }
            // The output is replaced whole: anything else in it would be lost.
            let foreign: Vec<String> = std::fs::read_dir(out)
                .map_err(|e| Error::io("reading", out, e))?
                .filter_map(|e| e.ok())
                .map(|e| e.file_name().to_string_lossy().into_owned())
                .filter(|n| ![MODCACHE_DIR, BUILDCACHE_DIR, MANIFEST_FILE].contains(&n.as_str()))
                .collect();
            if foreign.is_empty() {
                Ok(())
            } else {
                refuse(format!(
                    "it is a warm cache directory but also holds {} that a bake (which replaces the directory whole) would delete; move them out",
                    foreign.join(", ")
                ))
            }
        }
    }
}

/// Writes the warm cache into `staging`: every module and entry the sets name, each
/// copied (verified) from the bake's own caches, else from the previous output.
fn export(
    env: &Environment,
    previous: Option<&Path>,
    modules: BTreeMap<String, ModuleRecord>,
    entries: BTreeMap<String, EntryRecord>,
    mut warm_sets: Vec<WarmSet>,
    staging: &Path,
) -> Result<Manifest> {
    let bake_mod = ModCache::new(&env.gomodcache);
    let prev_mod = previous.map(|p| ModCache::new(p.join(MODCACHE_DIR)));
    let dst_mod = ModCache::new(staging.join(MODCACHE_DIR));
    let mut records = Vec::new();
    for (_, mut rec) in modules {
        let m = ModuleVersion::new(rec.path.clone(), rec.version.clone());
        let tree = rec.h1.is_some();
        let has = |c: &ModCache| -> Result<bool> {
            let st = c.state(&m)?;
            let tree_ok = match (&st.tree, &rec.h1) {
                (TreeState::Complete { ziphash }, Some(h1)) => ziphash == h1,
                (_, None) => true,
                _ => false,
            };
            Ok(st.has_mod && tree_ok)
        };
        let src = if has(&bake_mod)? {
            &bake_mod
        } else {
            match &prev_mod {
                Some(p) if has(p)? => p,
                _ => {
                    return Err(Error::Bake(format!(
                        "{m} is in neither {} nor the previous output; re-run the bake",
                        bake_mod.root().display()
                    )))
                }
            }
        };
        let mod_file = src
            .cache_file(&m, "mod")
            .map_err(|e| Error::Bake(format!("{m}: {e}")))?;
        let data = std::fs::read(&mod_file).map_err(|e| Error::io("reading", &mod_file, e))?;
        dst_mod
            .install_gomod(&m, &data, rec.gomod_h1.as_deref())
            .map_err(|e| Error::Bake(format!("exporting {m}: {e}")))?;
        rec.bytes = 0;
        if tree {
            let h1 = rec.h1.as_deref().unwrap_or_default();
            let src_tree = src
                .tree_dir(&m)
                .map_err(|e| Error::Bake(format!("{m}: {e}")))?;
            rec.bytes = dst_mod
                .install_from_tree(&m, &src_tree, h1)
                .map_err(|e| Error::Bake(format!("exporting {m}: {e}")))?
                .bytes;
        }
        records.push(rec);
    }

    let bake_build = BuildCache::open(&env.gocache)?;
    let prev_build = previous.map(|p| BuildCache::at(p.join(BUILDCACHE_DIR)));
    let dst_build = BuildCache::open(staging.join(BUILDCACHE_DIR))?;
    let mut exported = Vec::new();
    let mut missing = BTreeSet::new();
    for (key, _) in entries {
        let Ok(action) = key.parse::<Id>() else {
            missing.insert(key);
            continue;
        };
        let mut done = None;
        for src in std::iter::once(&bake_build).chain(prev_build.iter()) {
            if !matches!(src.entry_state(&action)?, EntryState::Complete(_)) {
                continue;
            }
            match dst_build.copy_entry_from(
                src,
                &action,
                CopyOptions {
                    verify_output: true,
                },
            ) {
                Ok(_) => {
                    done = dst_build.read_action(&action)?;
                    break;
                }
                Err(e) => {
                    tracing::warn!(entry = %action, source = %src.root().display(), "not exported: {e}")
                }
            }
        }
        match done {
            Some(e) => exported.push(EntryRecord {
                action: key,
                output: e.output_id.to_string(),
                size: e.size,
            }),
            None => {
                tracing::warn!(entry = %key, "recorded but in neither cache: left out");
                missing.insert(key);
            }
        }
    }
    if !missing.is_empty() {
        for set in &mut warm_sets {
            set.entries.retain(|e| !missing.contains(e));
        }
    }
    exported.sort_by(|a, b| a.action.cmp(&b.action));

    let manifest = Manifest {
        format: FORMAT,
        created_by: concat!("gowarm ", env!("CARGO_PKG_VERSION")).into(),
        created_at: SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map(|d| d.as_secs())
            .unwrap_or(0),
        profile: env.profile.clone(),
        warm_sets,
        modules: records,
        entries: exported,
    };
    manifest
        .check()
        .map_err(|e| Error::Bake(format!("internal: the manifest is inconsistent: {e}")))?;
    manifest.write(&staging.join(MANIFEST_FILE))?;
    Ok(manifest)
}

/// Builds `dir` offline with a GOCACHE holding only `set`'s staged entries and reports
/// the hit ratio.
fn verify_set(
    env: &Environment,
    manifest: &Manifest,
    set: &WarmSet,
    dir: &Path,
    staging: &Path,
    out: &Path,
) -> Result<VerifyReport> {
    let parent = staging.parent().unwrap_or(Path::new("."));
    let tmp = tempfile::Builder::new()
        .prefix(&verify_prefix(&output_name(out)))
        .tempdir_in(parent)
        .map_err(|e| Error::io("creating a temporary directory in", parent, e))?;
    let src = BuildCache::at(staging.join(BUILDCACHE_DIR));
    let dst = BuildCache::open(tmp.path())?;
    for e in manifest.entries_of(&[set]) {
        let id: Id = e
            .action
            .parse()
            .map_err(|_| Error::Bake(format!("bad action ID {} in the manifest", e.action)))?;
        dst.copy_entry_from(
            &src,
            &id,
            CopyOptions {
                verify_output: false,
            },
        )?;
    }
    let mut env = env.clone();
    env.gocache = tmp.path().to_path_buf();
    if env.profile.trimpath {
        // With -trimpath the module cache's path is in no action ID: build from the
        // staged trees themselves.
        env.gomodcache = staging.join(MODCACHE_DIR);
    }
    tracing::info!(set = %set.name, target = %dir.display(), "bake: verify");
    verify_in(&env, dir)
}

#[cfg(unix)]
fn set_mode(path: &Path, mode: u32) -> Result<()> {
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode))
        .map_err(|e| Error::io("setting permissions of", path, e))
}

#[cfg(not(unix))]
fn set_mode(_path: &Path, _mode: u32) -> Result<()> {
    Ok(())
}
