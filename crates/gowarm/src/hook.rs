//! Hook: the pod startup warm. Warm the warm sets a pod will need from the configured
//! sources within a deadline, then mark the pod ready by writing the Report to a file.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use serde::Serialize;

use crate::engine::{Engine, WarmControl};
use crate::error::{Error, Result};
use crate::plan::{first_manifest, SetChoice};
use crate::report::{Outcome, Report};
use crate::warm::{Cancel, Progress};

/// Where the ready file goes unless configured.
pub const DEFAULT_READY_FILE: &str = "/var/run/gowarm/ready.json";

/// What a startup hook does.
#[derive(Debug, Clone)]
pub struct HookRequest {
    /// Warm sets to warm; empty: every set of the first trusted source's Manifest.
    pub sets: Vec<String>,
    /// Stop after this long (items not started are skipped; nothing is half-written).
    pub deadline: Option<Duration>,
    /// Written (atomically) with the Report when the warm ends warm, or always with
    /// `best_effort`; removed at the start, so a stale one never marks a pod ready.
    pub ready_file: PathBuf,
    /// Mark the pod ready whatever the outcome (a cold build is slower, not wrong).
    pub best_effort: bool,
}

/// What a startup hook did.
#[derive(Debug, Clone, Serialize)]
pub struct HookReport {
    /// The warm sets warmed.
    pub sets: Vec<String>,
    /// The warm's Report.
    pub report: Report,
    /// Whether the ready file was written.
    pub ready: bool,
    /// The ready file.
    pub ready_file: PathBuf,
}

impl Engine {
    /// Runs the pod startup hook: warm `req.sets` within `req.deadline`, then write the
    /// ready file.
    pub fn hook(
        &self,
        req: &HookRequest,
        progress: Option<std::sync::Arc<dyn Progress>>,
    ) -> Result<HookReport> {
        let t0 = Instant::now();
        remove_stale(&req.ready_file)?;
        let cancel = match req.deadline {
            Some(d) => Cancel::with_deadline(t0 + d),
            None => Cancel::new(),
        };
        let (source, manifest) = self
            .block_on(first_manifest(self.sources()))
            .ok_or_else(|| {
                Error::Request(
                    "no trusted source has a manifest to take warm sets from: add the warm image (a dir source) or a trusted peer".into(),
                )
            })?;
        let sets = if req.sets.is_empty() {
            let names: Vec<String> = manifest.warm_sets.iter().map(|s| s.name.clone()).collect();
            tracing::info!(%source, sets = %names.join(","), "hook: warming every warm set");
            names
        } else {
            req.sets.clone()
        };
        let ctl = WarmControl {
            choice: SetChoice::Named(sets.clone()),
            progress,
            cancel,
        };
        let (plan, report) = self.warm_controlled(None, &ctl)?;
        // What this pod now holds, for `gowarm serve` to offer its siblings by set.
        let mut recorded = manifest.clone();
        recorded.warm_sets.retain(|s| sets.contains(&s.name));
        let gocache = plan.gocache.clone();
        if gocache.is_dir() {
            if let Err(e) = recorded.write(&crate::held::recorded_manifest_path(&gocache)) {
                tracing::warn!("cannot record the warmed sets for serve: {e}");
            }
        }
        let ready = report.outcome == Outcome::Warm || req.best_effort;
        let out = HookReport {
            sets,
            report,
            ready,
            ready_file: req.ready_file.clone(),
        };
        if ready {
            write_ready(&req.ready_file, &out)?;
        }
        Ok(out)
    }
}

fn remove_stale(path: &Path) -> Result<()> {
    match std::fs::remove_file(path) {
        Ok(()) => {
            tracing::info!(file = %path.display(), "hook: removed the previous ready file");
            Ok(())
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
        Err(e) => Err(Error::io("removing the stale ready file", path, e)),
    }
}

/// Writes the ready file whole or not at all (a readiness probe may look at any time).
fn write_ready(path: &Path, report: &HookReport) -> Result<()> {
    let dir = path
        .parent()
        .filter(|p| !p.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    std::fs::create_dir_all(dir).map_err(|e| Error::io("creating", dir, e))?;
    let mut tmp = tempfile::NamedTempFile::new_in(dir)
        .map_err(|e| Error::io("creating a temporary file in", dir, e))?;
    serde_json::to_writer_pretty(&mut tmp, report)
        .map_err(|e| Error::io("writing", path, std::io::Error::other(e)))?;
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        tmp.as_file()
            .set_permissions(std::fs::Permissions::from_mode(0o644))
            .map_err(|e| Error::io("setting permissions of", tmp.path(), e))?;
    }
    tmp.persist(path)
        .map_err(|e| Error::io("writing the ready file", path, e.error))?;
    Ok(())
}
