//! Bake: warm from upstream, build every target, and export the caches with a Manifest.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Instant, SystemTime, UNIX_EPOCH};

use gowarm_gocache::{BuildCache, CopyOptions};
use gowarm_gomod::modcache::ModCache;
use gowarm_gomod::ModuleVersion;
use serde::Serialize;

use crate::analyze::Need;
use crate::engine::{Engine, Environment};
use crate::error::{Error, Result};
use crate::manifest::{
    EntryRecord, Manifest, ModuleRecord, Target, WarmSet, FORMAT, MANIFEST_FILE,
};
use crate::report::{Outcome, Report};
use crate::source::dir::{BUILDCACHE_DIR, MODCACHE_DIR};
use crate::warm::Progress;

/// What to bake.
#[derive(Debug, Clone)]
pub struct BakeRequest {
    /// Module directories to build.
    pub targets: Vec<PathBuf>,
    /// The warm cache directory to write.
    pub out: PathBuf,
}

/// One target's build during a bake.
#[derive(Debug, Clone, Serialize)]
pub struct TargetBuild {
    /// The module directory.
    pub dir: PathBuf,
    /// Its module path.
    pub module: String,
    /// Wall time of `go build` (ms).
    pub build_ms: u64,
}

/// What a bake did.
#[derive(Debug, Clone, Serialize)]
pub struct BakeReport {
    /// The warm cache directory written.
    pub out: PathBuf,
    /// The install part, per target.
    pub warms: Vec<Report>,
    /// The builds.
    pub builds: Vec<TargetBuild>,
    /// Modules in the output.
    pub modules: u64,
    /// Bytes of module trees in the output.
    pub module_bytes: u64,
    /// Build-cache entries in the output.
    pub entries: u64,
    /// Bytes of build-cache entries in the output.
    pub entry_bytes: u64,
    /// Total wall time (ms).
    pub duration_ms: u64,
}

impl Engine {
    /// Bakes a warm cache directory for `req.targets` (sources: the configured ones, usually
    /// the upstream proxy), through the same plan, fetch, verify and install as a warm.
    pub fn bake(
        &self,
        req: &BakeRequest,
        progress: Option<Arc<dyn Progress>>,
    ) -> Result<BakeReport> {
        let t0 = Instant::now();
        if req.targets.is_empty() {
            return Err(Error::Bake(
                "no targets: pass module directories (gowarm bake DIR…) or set [bake] targets"
                    .into(),
            ));
        }
        let out = std::path::absolute(&req.out).map_err(|e| Error::io("resolving", &req.out, e))?;
        check_output(&out, &req.targets, &[])?;
        let mut warms = Vec::new();
        let mut builds = Vec::new();
        let mut modules: BTreeMap<ModuleVersion, (Option<String>, Option<String>, bool)> =
            BTreeMap::new();
        let mut targets = Vec::new();
        let mut first_env: Option<Environment> = None;
        for dir in &req.targets {
            let dir = std::path::absolute(dir).map_err(|e| Error::io("resolving", dir, e))?;
            let env = self.environment(&dir)?;
            check_output(&out, &[], &[&env.gomodcache, &env.gocache])?;
            if let Some(first) = &first_env {
                let diffs = first.profile.compare(&env.profile);
                if !diffs.is_empty() {
                    return Err(Error::Bake(format!(
                        "target {} builds under another BuildProfile than {}: {}",
                        dir.display(),
                        req.targets[0].display(),
                        diffs[0]
                    )));
                }
            }
            tracing::info!(target = %dir.display(), "bake: fetching modules");
            let (plan, report) = self.warm_in(&dir, &env, progress.clone())?;
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
            for m in &plan.modules {
                let e = modules.entry(m.needed.module.clone()).or_insert((
                    m.needed.h1.clone(),
                    m.needed.gomod_h1.clone(),
                    false,
                ));
                e.2 |= m.needed.need == Need::Tree;
            }
            warms.push(report);
            tracing::info!(target = %dir.display(), "bake: go build");
            let build_ms = go_build(&env, &dir)?;
            builds.push(TargetBuild {
                dir: dir.clone(),
                module: plan.analysis.module.clone(),
                build_ms,
            });
            targets.push(Target {
                dir,
                module: plan.analysis.module,
            });
            first_env.get_or_insert(env);
        }
        let env = first_env.ok_or_else(|| Error::Bake("no target was built".into()))?;
        let manifest = export(&env, &modules, targets, &out)?;
        Ok(BakeReport {
            out,
            warms,
            builds,
            modules: manifest.modules.len() as u64,
            module_bytes: manifest.module_bytes(),
            entries: manifest.entries.len() as u64,
            entry_bytes: manifest.entry_bytes(),
            duration_ms: t0.elapsed().as_millis() as u64,
        })
    }
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
            if empty || out.join(MANIFEST_FILE).is_file() {
                Ok(())
            } else {
                refuse(format!(
                    "it holds files but no {MANIFEST_FILE}, so it is not a warm cache directory"
                ))
            }
        }
    }
}

/// Runs `go build ./...` in `dir` offline: the warm just installed everything it needs.
fn go_build(env: &Environment, dir: &Path) -> Result<u64> {
    let t0 = Instant::now();
    let goflags = format!("{} -mod=readonly", env.goenv.get("GOFLAGS"));
    let mut cmd = env.go_command();
    cmd.args(["build", "./..."])
        .current_dir(dir)
        .env("GOFLAGS", goflags.trim())
        .env("GOPROXY", "off");
    let command = format!("go build ./... (in {})", dir.display());
    let out = cmd.output().map_err(|e| Error::Go {
        command: command.clone(),
        message: e.to_string(),
    })?;
    if !out.status.success() {
        return Err(Error::Go {
            command,
            message: crate::error::failed_command(&out),
        });
    }
    Ok(t0.elapsed().as_millis() as u64)
}

/// Writes the warm cache directory `out` from the environment's caches, atomically:
/// a killed bake leaves the previous `out` in place.
fn export(
    env: &Environment,
    modules: &BTreeMap<ModuleVersion, (Option<String>, Option<String>, bool)>,
    targets: Vec<Target>,
    out: &Path,
) -> Result<Manifest> {
    let parent = out
        .parent()
        .filter(|p| !p.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    std::fs::create_dir_all(parent).map_err(|e| Error::io("creating", parent, e))?;
    let name = out
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_else(|| "warm".into());
    let staging = tempfile::Builder::new()
        .prefix(&format!(".{name}.tmp-"))
        .tempdir_in(parent)
        .map_err(|e| Error::io("creating a staging directory in", parent, e))?;
    // A warm image is read by the pods' user, not the bake's: tempfile makes it 0700.
    set_mode(staging.path(), 0o755)?;

    let src_mod = ModCache::new(&env.gomodcache);
    let dst_mod = ModCache::new(staging.path().join(MODCACHE_DIR));
    let mut records = Vec::new();
    for (m, (h1, gomod_h1, tree)) in modules {
        let mod_file = src_mod
            .cache_file(m, "mod")
            .map_err(|e| Error::Bake(format!("{m}: {e}")))?;
        let data = match std::fs::read(&mod_file) {
            Ok(d) => d,
            // Optional graph entries no source had: nothing to export.
            Err(e) if e.kind() == std::io::ErrorKind::NotFound && !tree => continue,
            Err(e) => return Err(Error::io("reading", &mod_file, e)),
        };
        dst_mod
            .install_gomod(m, &data, gomod_h1.as_deref())
            .map_err(|e| Error::Bake(format!("exporting {m}: {e}")))?;
        let mut bytes = 0;
        if *tree {
            let h1 = h1.as_deref().unwrap_or_default();
            let src_tree = src_mod
                .tree_dir(m)
                .map_err(|e| Error::Bake(format!("{m}: {e}")))?;
            bytes = dst_mod
                .install_from_tree(m, &src_tree, h1)
                .map_err(|e| Error::Bake(format!("exporting {m}: {e}")))?
                .bytes;
        }
        records.push(ModuleRecord {
            path: m.path.clone(),
            version: m.version.clone(),
            h1: if *tree { h1.clone() } else { None },
            gomod_h1: gomod_h1.clone(),
            bytes,
        });
    }

    let src_build = BuildCache::open(&env.gocache)?;
    let dst_build = BuildCache::open(staging.path().join(BUILDCACHE_DIR))?;
    let mut entries = Vec::new();
    for (action, entry) in src_build.entries()? {
        // `go run` / `go tool` cache executables as `-d` directories; builds never read
        // them, and a warm cache holds what builds read.
        if src_build.output_path(&entry.output_id).is_dir() {
            continue;
        }
        match dst_build.copy_entry_from(
            &src_build,
            &action,
            CopyOptions {
                verify_output: true,
            },
        ) {
            Ok(_) => entries.push(EntryRecord {
                action: action.to_string(),
                output: entry.output_id.to_string(),
                size: entry.size,
            }),
            // Go writes outputs it does not keep (and may be trimming): an entry whose
            // output is gone or wrong is a miss, as Go would treat it; leave it out.
            Err(e) => tracing::debug!(entry = %action, "not exported: {e}"),
        }
    }
    entries.sort_by(|a, b| a.action.cmp(&b.action));

    let manifest = Manifest {
        format: FORMAT,
        created_by: concat!("gowarm ", env!("CARGO_PKG_VERSION")).into(),
        created_at: SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map(|d| d.as_secs())
            .unwrap_or(0),
        profile: env.profile.clone(),
        warm_sets: vec![WarmSet {
            name: "all".into(),
            targets,
        }],
        modules: records,
        entries,
    };
    manifest.write(&staging.path().join(MANIFEST_FILE))?;

    // Swap into place: the old output stays whole until the rename of the new one.
    let staged = staging.keep();
    let old = parent.join(format!(".{name}.old-{}", std::process::id()));
    if out.exists() {
        std::fs::rename(out, &old).map_err(|e| Error::io("moving aside", out, e))?;
    }
    std::fs::rename(&staged, out).map_err(|e| Error::io("renaming into place", out, e))?;
    if old.exists() {
        gowarm_gomod::modcache::remove_tree(&old)
            .map_err(|e| Error::io("removing the previous output", &old, e))?;
    }
    Ok(manifest)
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
