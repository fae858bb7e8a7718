//! Fetch, verify and install a Plan: sources in order per item, in parallel.

use std::collections::BTreeMap;
use std::future::Future;
use std::path::{Path, PathBuf};
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Instant, SystemTime};

use futures::StreamExt;
use gowarm_gocache::{BuildCache, Id};
use gowarm_gomod::modcache::{InstallError, ModCache};
use serde::Serialize;

use crate::analyze::Need;
use crate::error::Result;
use crate::manifest::EntryRecord;
use crate::plan::{ModuleItem, Plan};
use crate::report::{Failure, Outcome, Report, SourceStats};
use crate::scratch::Scratch;
use crate::source::{ItemRef, ModuleBody, Source, SourceError};

/// The phases a warm reports progress for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub enum Phase {
    /// Module `.mod` files and trees.
    Modules,
    /// Build-cache entries.
    Entries,
}

/// Receives progress of long work (the CLI draws bars; the C ABI forwards a callback).
/// Phases run at the same time, so every call names its phase.
pub trait Progress: Send + Sync {
    /// A phase starts with `items` items of `bytes` bytes in all (0 when unknown).
    fn begin(&self, phase: Phase, items: u64, bytes: u64);
    /// One item of `phase` is done, with `bytes` installed.
    fn advance(&self, phase: Phase, bytes: u64);
    /// `phase` is over.
    fn end(&self, phase: Phase);
}

/// A [`Progress`] that ignores everything.
#[derive(Debug, Default)]
pub struct NoProgress;

impl Progress for NoProgress {
    fn begin(&self, _: Phase, _: u64, _: u64) {}
    fn advance(&self, _: Phase, _: u64) {}
    fn end(&self, _: Phase) {}
}

/// Stops a warm from another thread: on request ([`Cancel::cancel`]) or at a deadline.
/// Items not yet started are skipped, items waiting on a source are abandoned; an install
/// already under way finishes (installs are atomic), so nothing half-written remains.
#[derive(Debug, Clone, Default)]
pub struct Cancel {
    inner: Arc<CancelInner>,
}

#[derive(Debug, Default)]
struct CancelInner {
    cancelled: AtomicBool,
    deadline: Option<Instant>,
    notify: tokio::sync::Notify,
    /// A token whose stop stops this one too.
    parent: Option<Cancel>,
}

impl Cancel {
    /// A token that stops only when cancelled.
    pub fn new() -> Cancel {
        Cancel::default()
    }

    /// A token that also stops at `deadline`.
    pub fn with_deadline(deadline: Instant) -> Cancel {
        Cancel {
            inner: Arc::new(CancelInner {
                deadline: Some(deadline),
                ..CancelInner::default()
            }),
        }
    }

    /// A token that stops when this one does, or at `deadline`.
    pub fn child(&self, deadline: Option<Instant>) -> Cancel {
        Cancel {
            inner: Arc::new(CancelInner {
                deadline,
                parent: Some(self.clone()),
                ..CancelInner::default()
            }),
        }
    }

    /// Asks the warm to stop.
    pub fn cancel(&self) {
        self.inner.cancelled.store(true, Ordering::SeqCst);
        self.inner.notify.notify_waiters();
    }

    /// Whether the warm must stop now (cancelled or past the deadline).
    pub fn is_stopped(&self) -> bool {
        self.inner.cancelled.load(Ordering::SeqCst)
            || self.inner.deadline.is_some_and(|d| Instant::now() >= d)
            || self.inner.parent.as_ref().is_some_and(Cancel::is_stopped)
    }

    /// Why it stopped, if it did.
    pub fn reason(&self) -> Option<&'static str> {
        if self.inner.cancelled.load(Ordering::SeqCst) {
            Some("cancelled")
        } else if let Some(why) = self.inner.parent.as_ref().and_then(Cancel::reason) {
            Some(why)
        } else if self.is_stopped() {
            Some("the deadline passed")
        } else {
            None
        }
    }

    /// Completes when the warm must stop.
    pub fn stopped(&self) -> Pin<Box<dyn Future<Output = ()> + Send + '_>> {
        // Boxed: a child waits on its parent, so the future is recursive.
        Box::pin(async move {
            let notified = self.inner.notify.notified();
            tokio::pin!(notified);
            notified.as_mut().enable();
            if self.is_stopped() {
                return;
            }
            let deadline = async {
                match self.inner.deadline {
                    Some(d) => tokio::time::sleep_until(d.into()).await,
                    None => std::future::pending().await,
                }
            };
            let parent = async {
                match &self.inner.parent {
                    Some(p) => p.stopped().await,
                    None => std::future::pending().await,
                }
            };
            tokio::select! {
                _ = notified => {}
                _ = deadline => {}
                _ = parent => {}
            }
        })
    }
}

/// How a warm runs.
#[derive(Clone)]
pub struct WarmOptions {
    /// Items in flight at once.
    pub jobs: usize,
    /// Where progress goes.
    pub progress: Arc<dyn Progress>,
    /// Stops it.
    pub cancel: Cancel,
}

impl std::fmt::Debug for WarmOptions {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("WarmOptions")
            .field("jobs", &self.jobs)
            .finish()
    }
}

/// Shared state of one warm.
struct Ctx {
    modcache: ModCache,
    buildcache: BuildCache,
    sources: Vec<Arc<dyn Source>>,
    scratch: PathBuf,
    stats: Mutex<BTreeMap<String, SourceStats>>,
    failures: Mutex<Vec<Failure>>,
    progress: Arc<dyn Progress>,
    cancel: Cancel,
}

/// What happened to one item.
enum ItemResult {
    /// Installed now, with this many bytes.
    Installed(u64),
    /// Another process installed it first.
    AlreadyPresent,
    /// No source could supply it (required item).
    Failed,
    /// No source had it (optional item).
    OptionalMissing,
    /// Not done: the warm was stopped.
    Stopped,
}

/// How one source's attempt at an item ended.
enum Attempt {
    Done(u64, bool),
    Miss,
    Rejected(String),
    Error(String),
    /// The local cache refused the write: no other source can help.
    Local(String),
}

impl Ctx {
    fn record(&self, source: &str, f: impl FnOnce(&mut SourceStats)) {
        if let Ok(mut s) = self.stats.lock() {
            f(s.entry(source.to_string()).or_default());
        }
    }

    fn fail(&self, item: String, source: Option<&str>, error: String) {
        tracing::warn!(item, source, "{error}");
        if let Ok(mut f) = self.failures.lock() {
            f.push(Failure {
                item,
                source: source.map(str::to_string),
                error,
            });
        }
    }

    /// Tries each source in order until one attempt succeeds.
    async fn first_success<F, Fut>(
        &self,
        item: &str,
        what: ItemRef<'_>,
        sources: &[Arc<dyn Source>],
        attempt: F,
    ) -> Option<(u64, bool)>
    where
        F: Fn(Arc<dyn Source>) -> Fut,
        Fut: std::future::Future<Output = Attempt>,
    {
        for s in sources {
            let t0 = Instant::now();
            let outcome = attempt(s.clone()).await;
            let ms = t0.elapsed().as_millis() as u64;
            let name = s.name();
            match outcome {
                Attempt::Done(bytes, already) => {
                    self.record(name, |st| {
                        st.busy_ms += ms;
                        if !already {
                            st.items += 1;
                            st.bytes += bytes;
                        }
                    });
                    return Some((bytes, already));
                }
                Attempt::Miss => self.record(name, |st| {
                    st.misses += 1;
                    st.busy_ms += ms;
                }),
                Attempt::Rejected(e) => {
                    self.record(name, |st| {
                        st.rejected += 1;
                        st.busy_ms += ms;
                    });
                    s.rejected(what);
                    self.fail(item.to_string(), Some(name), e);
                }
                Attempt::Error(e) => {
                    self.record(name, |st| {
                        st.errors += 1;
                        st.busy_ms += ms;
                    });
                    self.fail(item.to_string(), Some(name), e);
                }
                Attempt::Local(e) => {
                    self.fail(item.to_string(), None, e);
                    return None;
                }
            }
        }
        None
    }
}

/// Turns the outcome of a module install run by [`blocking`] into an [`Attempt`].
fn install_attempt(
    r: std::result::Result<
        std::result::Result<gowarm_gomod::modcache::InstallStats, InstallError>,
        String,
    >,
    root: &Path,
) -> Attempt {
    match r {
        Ok(Ok(st)) => Attempt::Done(st.bytes, st.already_present),
        Ok(Err(e)) => classify_install_error(e, root),
        Err(e) => Attempt::Local(e),
    }
}

/// Decides whether an install error is the source's content's fault (try the next
/// source) or the local cache's (no source can help).
fn classify_install_error(e: InstallError, root: &Path) -> Attempt {
    match &e {
        InstallError::Io { path, .. } if path.starts_with(root) => Attempt::Local(e.to_string()),
        InstallError::Io { .. } => Attempt::Error(e.to_string()),
        _ => Attempt::Rejected(e.to_string()),
    }
}

fn source_error(e: SourceError) -> Attempt {
    Attempt::Error(e.message)
}

async fn blocking<T: Send + 'static>(
    f: impl FnOnce() -> T + Send + 'static,
) -> std::result::Result<T, String> {
    tokio::task::spawn_blocking(f)
        .await
        .map_err(|e| format!("install task failed: {e}"))
}

async fn warm_module(ctx: Arc<Ctx>, item: ModuleItem) -> ItemResult {
    let m = item.module().clone();
    let optional = item.needed.need == Need::GraphGoMod;
    let mut bytes = 0;
    let mut already = true;

    if item.gomod_cold {
        let expected = item.needed.gomod_h1.clone();
        // A .mod without a go.sum hash can only be taken on trust.
        let sources: Vec<_> = ctx
            .sources
            .iter()
            .filter(|s| expected.is_some() || s.trusted())
            .cloned()
            .collect();
        let label = format!("{m} .mod");
        let got = ctx
            .first_success(&label, ItemRef::GoMod(&m), &sources, |s| {
                let ctx = ctx.clone();
                let m = m.clone();
                let expected = expected.clone();
                async move {
                    let data = match s.gomod(&m).await {
                        Ok(Some(d)) => d,
                        Ok(None) => return Attempt::Miss,
                        Err(e) => return source_error(e),
                    };
                    let root = ctx.modcache.root().to_path_buf();
                    let r = blocking(move || {
                        ctx.modcache
                            .install_gomod(&m, &data, expected.as_deref())
                            .map(|n| gowarm_gomod::modcache::InstallStats {
                                files: 1,
                                bytes: n,
                                already_present: false,
                            })
                    })
                    .await;
                    install_attempt(r, &root)
                }
            })
            .await;
        match got {
            Some((n, a)) => {
                bytes += n;
                already &= a;
            }
            None if optional => return ItemResult::OptionalMissing,
            None => {
                ctx.fail(label, None, "no source could supply a verified .mod".into());
                return ItemResult::Failed;
            }
        }
    }

    if item.tree_cold {
        let Some(h1) = item.needed.h1.clone() else {
            // analyze only marks a tree cold when go.sum has its hash; guard anyway.
            ctx.fail(
                m.to_string(),
                None,
                "go.sum has no hash for its tree".into(),
            );
            return ItemResult::Failed;
        };
        let label = m.to_string();
        let sources = ctx.sources.clone();
        let got = ctx
            .first_success(&label, ItemRef::Module(&m), &sources, |s| {
                let ctx = ctx.clone();
                let m = m.clone();
                let h1 = h1.clone();
                async move {
                    let body = match s.module(&m, &ctx.scratch).await {
                        Ok(Some(b)) => b,
                        Ok(None) => return Attempt::Miss,
                        Err(e) => return source_error(e),
                    };
                    let root = ctx.modcache.root().to_path_buf();
                    let r = blocking(move || match &body {
                        ModuleBody::Zip(f) => ctx.modcache.install_from_zip(&m, f.path(), &h1),
                        ModuleBody::Tree(t) => ctx.modcache.install_from_tree(&m, t, &h1),
                    })
                    .await;
                    install_attempt(r, &root)
                }
            })
            .await;
        match got {
            Some((n, a)) => {
                bytes += n;
                already &= a;
            }
            None => {
                ctx.fail(
                    label,
                    None,
                    "no source could supply a verified module tree".into(),
                );
                return ItemResult::Failed;
            }
        }
    }
    if already {
        ItemResult::AlreadyPresent
    } else {
        ItemResult::Installed(bytes)
    }
}

async fn warm_entry(ctx: Arc<Ctx>, rec: EntryRecord) -> ItemResult {
    let label = format!("entry {}", rec.action);
    let (Ok(action), Ok(output)) = (rec.action.parse::<Id>(), rec.output.parse::<Id>()) else {
        ctx.fail(label, None, "manifest has a malformed entry ID".into());
        return ItemResult::Failed;
    };
    // The action → output mapping cannot be verified by content, so it is taken from the
    // trusted source's Manifest that offered the entry, never from a source's action file;
    // the output is named by its SHA-256, so any source may supply it.
    let entry = gowarm_gocache::ActionEntry {
        output_id: output,
        size: rec.size,
        time_nanos: SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_nanos() as i64)
            .unwrap_or(0),
    };
    let sources = ctx.sources.clone();
    let got = ctx
        .first_success(&label, ItemRef::Output(&output), &sources, |s| {
            let ctx = ctx.clone();
            let size = rec.size;
            async move {
                let file = match s.output(&output, &ctx.scratch).await {
                    Ok(Some(f)) => f,
                    Ok(None) => return Attempt::Miss,
                    Err(e) => return source_error(e),
                };
                let root = ctx.buildcache.root().to_path_buf();
                let r = blocking(
                    move || -> std::result::Result<u64, gowarm_gocache::CacheError> {
                        let n = ctx
                            .buildcache
                            .install_output_from(file.path(), &output, size)?;
                        ctx.buildcache.write_action(&action, &entry)?;
                        Ok(n + gowarm_gocache::ENTRY_LEN as u64)
                    },
                )
                .await;
                match r {
                    Ok(Ok(n)) => Attempt::Done(n, false),
                    Ok(Err(e)) if e.is_mismatch() => Attempt::Rejected(e.to_string()),
                    Ok(Err(e)) if e.path().is_some_and(|p| p.starts_with(&root)) => {
                        Attempt::Local(e.to_string())
                    }
                    Ok(Err(e)) => Attempt::Error(e.to_string()),
                    Err(e) => Attempt::Local(e),
                }
            }
        })
        .await;
    match got {
        Some((n, false)) => ItemResult::Installed(n),
        Some((_, true)) => ItemResult::AlreadyPresent,
        None => {
            ctx.fail(
                label,
                None,
                "no source could supply a verified output".into(),
            );
            ItemResult::Failed
        }
    }
}

/// Runs `work` on every item of one phase with `jobs` in flight, reporting progress.
async fn run_phase<T, F, Fut>(
    ctx: Arc<Ctx>,
    phase: Phase,
    items: Vec<T>,
    bytes: u64,
    jobs: usize,
    work: F,
) -> Vec<ItemResult>
where
    F: Fn(Arc<Ctx>, T) -> Fut,
    Fut: std::future::Future<Output = ItemResult>,
{
    if items.is_empty() {
        return Vec::new();
    }
    ctx.progress.begin(phase, items.len() as u64, bytes);
    let results = futures::stream::iter(items)
        .map(|item| {
            let ctx = ctx.clone();
            let fut = work(ctx.clone(), item);
            async move {
                if ctx.cancel.is_stopped() {
                    return ItemResult::Stopped;
                }
                // An item waiting on a slow source is abandoned when the warm stops; an
                // install in progress runs to its end on its blocking thread.
                let r = tokio::select! {
                    r = fut => r,
                    _ = ctx.cancel.stopped() => ItemResult::Stopped,
                };
                ctx.progress.advance(
                    phase,
                    match r {
                        ItemResult::Installed(n) => n,
                        _ => 0,
                    },
                );
                r
            }
        })
        .buffer_unordered(jobs)
        .collect()
        .await;
    ctx.progress.end(phase);
    results
}

/// Fetches, verifies and installs everything `plan` says is cold.
pub async fn execute(
    plan: &Plan,
    modcache: ModCache,
    buildcache: BuildCache,
    sources: &[Arc<dyn Source>],
    opts: &WarmOptions,
) -> Result<Report> {
    let t0 = Instant::now();
    let dir = &plan.analysis.dir;
    let mut report = Report::new((!dir.as_os_str().is_empty()).then(|| dir.clone()));
    report.warm_sets = plan.entries.sets.clone();
    report.warnings.extend(plan.warnings.iter().cloned());
    report.profile_diffs = plan.entries.diffs.clone();

    // Sources that resolve their members per warm (peers behind a DNS name) do it now.
    futures::future::join_all(sources.iter().map(|s| s.prepare())).await;
    let scratch = Scratch::create(&modcache.root().join("cache"))?;
    if !plan.entries.cold.is_empty() && plan.entries.skipped.is_none() {
        // Outputs a killed warm was writing; Go's trim never removes them (they are
        // neither -a nor -d files). An hour is far longer than any one file's copy.
        match buildcache.remove_stale_temps(std::time::Duration::from_secs(3600)) {
            Ok(0) => {}
            Ok(n) => tracing::info!(files = n, "removed temporary files of killed warms"),
            Err(e) => tracing::warn!("cannot sweep old temporary files: {e}"),
        }
    }

    let ctx = Arc::new(Ctx {
        modcache,
        buildcache,
        sources: sources.to_vec(),
        scratch: scratch.path().to_path_buf(),
        stats: Mutex::new(BTreeMap::new()),
        failures: Mutex::new(Vec::new()),
        progress: opts.progress.clone(),
        cancel: opts.cancel.clone(),
    });

    // Modules and build-cache entries are independent: install them at the same time, so
    // one large module tree does not leave the entry copies waiting.
    let cold: Vec<ModuleItem> = plan.cold_modules().cloned().collect();
    report.modules.needed = plan.modules.len() as u64;
    report.modules.already_warm = (plan.modules.len() - cold.len()) as u64;
    report.entries.needed = plan.entries.offered;
    report.entries.already_warm = plan.entries.offered - plan.entries.cold.len() as u64;
    let cold_entries = if plan.entries.skipped.is_none() {
        plan.entries.cold.clone()
    } else {
        Vec::new()
    };
    let jobs = opts.jobs.max(1);
    let modules_phase = run_phase(ctx.clone(), Phase::Modules, cold, 0, jobs, warm_module);
    let entries_phase = run_phase(
        ctx.clone(),
        Phase::Entries,
        cold_entries,
        plan.entries.cold_bytes,
        jobs,
        warm_entry,
    );
    let (module_results, entry_results) = futures::join!(modules_phase, entries_phase);
    for r in module_results {
        match r {
            ItemResult::Installed(n) => {
                report.modules.installed += 1;
                report.bytes_installed += n;
            }
            ItemResult::AlreadyPresent => report.modules.already_warm += 1,
            ItemResult::Failed => report.modules.failed += 1,
            ItemResult::OptionalMissing => report.modules.optional_missing += 1,
            ItemResult::Stopped => report.modules.stopped += 1,
        }
    }
    if report.modules.optional_missing > 0 {
        report.warnings.push(format!(
            "{} go.sum graph entries (.mod files of modules outside the build list) were in no source; go may not need them",
            report.modules.optional_missing
        ));
    }
    for r in entry_results {
        match r {
            ItemResult::Installed(n) => {
                report.entries.installed += 1;
                report.bytes_installed += n;
            }
            ItemResult::AlreadyPresent => report.entries.already_warm += 1,
            ItemResult::Failed | ItemResult::OptionalMissing => report.entries.failed += 1,
            ItemResult::Stopped => report.entries.stopped += 1,
        }
    }
    if let Some(why) = &plan.entries.skipped {
        if !plan.entries.cold.is_empty() {
            report.warnings.push(format!(
                "{} build-cache entries ({}) not copied: {why}",
                plan.entries.cold.len(),
                crate::report::human_bytes(plan.entries.cold_bytes)
            ));
        }
    }
    // Go trims entries older than five days once a day, judged by trim.txt: a fresh
    // trim.txt keeps the first `go` command in the pod from trimming what we just copied.
    if report.entries.installed > 0 {
        ctx.buildcache.write_trim_txt(SystemTime::now())?;
    }

    for s in sources {
        report.warnings.extend(s.notes());
    }
    report.sources = ctx.stats.lock().map(|s| s.clone()).unwrap_or_default();
    report.failures = ctx.failures.lock().map(|f| f.clone()).unwrap_or_default();
    if let Some(why) = opts.cancel.reason() {
        if report.modules.stopped + report.entries.stopped > 0 {
            report.warnings.push(format!(
                "stopped: {why}; {} modules and {} entries not done",
                report.modules.stopped, report.entries.stopped
            ));
        }
    }
    report.outcome = if report.modules.stopped > 0 || report.entries.stopped > 0 {
        Outcome::Stopped
    } else if report.modules.failed > 0 || report.entries.failed > 0 {
        Outcome::Incomplete
    } else if plan.entries.skipped.is_some() && !plan.entries.cold.is_empty() {
        Outcome::ProfileMismatch
    } else {
        Outcome::Warm
    };
    report.duration_ms = t0.elapsed().as_millis() as u64;
    drop(scratch);
    Ok(report)
}
