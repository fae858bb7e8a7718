//! Engine: the one entry point the CLI and the C ABI call.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use gowarm_gocache::BuildCache;
use gowarm_gomod::modcache::ModCache;

use crate::analyze::analyze;
use crate::config::Config;
use crate::error::{Error, Result};
use crate::git::{Checkout, GitCache, GitRequest};
use crate::goenv::GoEnv;
use crate::plan::{detect, first_manifest, Plan, SetChoice};
use crate::profile::BuildProfile;
use crate::report::Report;
use crate::source::{build_sources, Source};
use crate::warm::{execute, Cancel, NoProgress, Progress, WarmOptions};

/// How one warm call runs: which warm sets' entries, where progress goes, what stops it.
#[derive(Clone, Default)]
pub struct WarmControl {
    /// The warm sets whose build-cache entries to take.
    pub choice: SetChoice,
    /// Progress receiver.
    pub progress: Option<Arc<dyn Progress>>,
    /// Cancellation and deadline.
    pub cancel: Cancel,
}

impl std::fmt::Debug for WarmControl {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("WarmControl")
            .field("choice", &self.choice)
            .field("cancel", &self.cancel)
            .finish()
    }
}

/// The Go environment a request runs in.
#[derive(Debug, Clone)]
pub struct Environment {
    /// The `go` binary.
    pub go: PathBuf,
    /// Variables every `go` command of this environment gets (`[go] env` and the cache paths).
    pub env: Vec<(String, String)>,
    /// `go env -json` as run for the request.
    pub goenv: GoEnv,
    /// The BuildProfile of builds in this environment.
    pub profile: BuildProfile,
    /// The ModCache root.
    pub gomodcache: PathBuf,
    /// The BuildCache root.
    pub gocache: PathBuf,
}

impl Environment {
    /// A `go` command in this environment.
    pub fn go_command(&self) -> std::process::Command {
        let mut cmd = std::process::Command::new(&self.go);
        cmd.envs(self.env.iter().map(|(k, v)| (k, v)))
            .env("GOMODCACHE", &self.gomodcache)
            .env("GOCACHE", &self.gocache);
        cmd
    }
}

/// A configured gowarm: its configuration, its sources and the runtime that drives them.
///
/// Its methods block the calling thread (they drive the engine's own tokio runtime), so
/// they are for threads of the caller's (the CLI, C ABI callers), not for async tasks.
/// One Engine may be used from many threads at once.
///
/// ```no_run
/// use std::path::Path;
/// use gowarm::{Config, Engine, Outcome};
///
/// // A warm image mounted at /mnt/warm, then the upstream proxy.
/// let config = Config::from_toml(
///     r#"
/// [[source]]
/// kind = "dir"
/// path = "/mnt/warm"
/// [[source]]
/// kind = "goproxy"
/// url = "https://proxy.golang.org"
/// "#,
///     "inline",
/// )?;
/// let engine = Engine::new(config)?;
/// let (plan, report) = engine.warm(Path::new("/jobs/42/program"), None)?;
/// println!("{} modules were cold", plan.cold_modules().count());
/// if report.outcome != Outcome::Warm {
///     eprintln!("{}", report.to_human());
/// }
/// # Ok::<(), gowarm::Error>(())
/// ```
pub struct Engine {
    config: Config,
    sources: Vec<Arc<dyn Source>>,
    /// Why configured sources were left out.
    source_warnings: Vec<String>,
    runtime: tokio::runtime::Runtime,
    /// Recent `go env` results by [`crate::goenv::dir_key`].
    env_cache:
        std::sync::Mutex<std::collections::HashMap<String, (std::time::Instant, Environment)>>,
}

impl std::fmt::Debug for Engine {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Engine")
            .field("config", &self.config)
            .field("sources", &self.sources)
            .finish()
    }
}

impl Engine {
    /// Creates an engine for `config`, opening its sources.
    pub fn new(config: Config) -> Result<Engine> {
        let (sources, source_warnings) = build_sources(&config.sources)?;
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .enable_all()
            .thread_name("gowarm")
            .build()
            .map_err(|e| Error::io("starting the async runtime", "", e))?;
        Ok(Engine {
            config,
            sources,
            source_warnings,
            runtime,
            env_cache: Default::default(),
        })
    }

    /// The configuration.
    pub fn config(&self) -> &Config {
        &self.config
    }

    /// Runs `fut` on the engine's runtime, blocking this thread.
    pub(crate) fn block_on<F: std::future::Future>(&self, fut: F) -> F::Output {
        self.runtime.block_on(fut)
    }

    /// The sources, in the order they are tried.
    pub fn sources(&self) -> &[Arc<dyn Source>] {
        &self.sources
    }

    /// Resolves the Go environment for a module directory (runs `go env -json` there).
    pub fn environment(&self, dir: &Path) -> Result<Environment> {
        let ttl = std::time::Duration::from_secs(self.config.go.env_cache_secs);
        let key = (!ttl.is_zero() && dir.is_dir())
            .then(|| crate::goenv::dir_key(dir))
            .flatten();
        if let Some(k) = &key {
            if let Ok(cache) = self.env_cache.lock() {
                if let Some((at, env)) = cache.get(k) {
                    if at.elapsed() < ttl {
                        return Ok(env.clone());
                    }
                }
            }
        }
        let env = self.environment_with(dir, &[])?;
        if let (Some(k), Ok(mut cache)) = (key, self.env_cache.lock()) {
            cache.retain(|_, (at, _)| at.elapsed() < ttl);
            cache.insert(k, (std::time::Instant::now(), env.clone()));
        }
        Ok(env)
    }

    /// [`Engine::environment`] with `extra` variables set last (a bake's runtime layout).
    pub fn environment_with(&self, dir: &Path, extra: &[(String, String)]) -> Result<Environment> {
        if !dir.is_dir() {
            return Err(Error::Analyze(format!(
                "{}: not a directory; pass the module directory (the one holding go.mod)",
                dir.display()
            )));
        }
        let mut overrides: Vec<(String, String)> = self
            .config
            .go
            .env
            .iter()
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect();
        if let Some(p) = &self.config.cache.gomodcache {
            overrides.push(("GOMODCACHE".to_string(), p.display().to_string()));
        }
        if let Some(p) = &self.config.cache.gocache {
            overrides.push(("GOCACHE".to_string(), p.display().to_string()));
        }
        overrides.extend(extra.iter().cloned());
        let goenv = GoEnv::load(&self.config.go.binary, dir, &overrides)?;
        Ok(Environment {
            go: self.config.go.binary.clone(),
            env: overrides,
            profile: BuildProfile::from_env(&goenv),
            gomodcache: goenv.gomodcache()?,
            gocache: goenv.gocache()?,
            goenv,
        })
    }

    /// Detects what is cold for the module in `dir` and which source would supply it.
    pub fn detect(&self, dir: &Path) -> Result<Plan> {
        self.detect_with(dir, &SetChoice::Auto)
    }

    /// [`Engine::detect`], taking build-cache entries of the warm sets `choice` picks.
    pub fn detect_with(&self, dir: &Path, choice: &SetChoice) -> Result<Plan> {
        let env = self.environment(dir)?;
        self.plan(Some(dir), &env, &self.sources, choice)
    }

    /// Detects what is cold of the named warm sets (modules and entries), with no program.
    pub fn detect_sets(&self, names: &[String]) -> Result<Plan> {
        let env = self.environment(&std::env::temp_dir())?;
        self.plan(None, &env, &self.sources, &SetChoice::Named(names.to_vec()))
    }

    /// Plans a request: a module directory, or (with `dir` None) the warm sets `choice` names.
    pub(crate) fn plan(
        &self,
        dir: Option<&Path>,
        env: &Environment,
        sources: &[Arc<dyn Source>],
        choice: &SetChoice,
    ) -> Result<Plan> {
        let analysis = match dir {
            Some(dir) => analyze(dir)?,
            None => {
                let SetChoice::Named(names) = choice else {
                    return Err(Error::Request(
                        "name the warm sets to warm (--set aws,gcp) or pass a module directory"
                            .into(),
                    ));
                };
                let (_, manifest) = self.runtime.block_on(first_manifest(sources)).ok_or_else(|| {
                    Error::Request(format!(
                        "warm sets {} were asked for, but no trusted source has a manifest; add the warm image as a dir source",
                        names.join(", ")
                    ))
                })?;
                let sets = manifest.warm_sets_named(names).map_err(Error::Request)?;
                crate::analyze::from_warm_sets(&manifest, &sets)
            }
        };
        let modcache = ModCache::new(&env.gomodcache);
        let buildcache = BuildCache::at(&env.gocache);
        let mut plan = self.runtime.block_on(detect(
            analysis,
            env.profile.clone(),
            &modcache,
            &buildcache,
            sources,
            self.config.warm.build_cache,
            choice,
        ))?;
        plan.warnings
            .splice(0..0, self.source_warnings.iter().cloned());
        Ok(plan)
    }

    /// Warms the caches for the module in `dir` from the sources, and reports what it did.
    pub fn warm(&self, dir: &Path, progress: Option<Arc<dyn Progress>>) -> Result<(Plan, Report)> {
        self.warm_with(dir, &SetChoice::Auto, progress)
    }

    /// [`Engine::warm`], taking build-cache entries of the warm sets `choice` picks.
    pub fn warm_with(
        &self,
        dir: &Path,
        choice: &SetChoice,
        progress: Option<Arc<dyn Progress>>,
    ) -> Result<(Plan, Report)> {
        let ctl = WarmControl {
            choice: choice.clone(),
            progress,
            cancel: Cancel::new(),
        };
        self.warm_controlled(Some(dir), &ctl)
    }

    /// Warms the named warm sets (their modules and entries), with no program.
    pub fn warm_sets(
        &self,
        names: &[String],
        progress: Option<Arc<dyn Progress>>,
    ) -> Result<(Plan, Report)> {
        let ctl = WarmControl {
            choice: SetChoice::Named(names.to_vec()),
            progress,
            cancel: Cancel::new(),
        };
        self.warm_controlled(None, &ctl)
    }

    /// Checks `req` out of the Git cache (`[git]`): a fetch when the repository is cached,
    /// a clone when not, nothing when the commit's checkout exists; the checkout's path is
    /// stable per repository and commit, so build-cache keys repeat across jobs.
    pub fn checkout_git(&self, req: &GitRequest) -> Result<Checkout> {
        GitCache::from_config(&self.config.git)?.checkout(req)
    }

    /// Checks `req` out ([`Engine::checkout_git`]) and warms the module there.
    pub fn warm_git(
        &self,
        req: &GitRequest,
        ctl: &WarmControl,
    ) -> Result<(Checkout, Plan, Report)> {
        if ctl.cancel.is_stopped() {
            return Err(Error::Stopped(format!(
                "{} before checking out {}",
                ctl.cancel.reason().unwrap_or("stopped"),
                crate::git::redact_url(&req.url)
            )));
        }
        let checkout = self.checkout_git(req)?;
        let (plan, report) = self.warm_controlled(Some(&checkout.dir), ctl)?;
        Ok((checkout, plan, report))
    }

    /// The general warm: the module in `dir` (or, with None, the warm sets `ctl.choice`
    /// names), with progress and a [`Cancel`] token that can stop it from another thread
    /// or at a deadline (the Report's outcome is then [`crate::Outcome::Stopped`]).
    pub fn warm_controlled(&self, dir: Option<&Path>, ctl: &WarmControl) -> Result<(Plan, Report)> {
        let env = match dir {
            Some(d) => self.environment(d)?,
            None => self.environment(&std::env::temp_dir())?,
        };
        self.warm_in(dir, &env, &self.sources, ctl)
    }

    /// A warm in an already resolved environment, from `sources`.
    pub(crate) fn warm_in(
        &self,
        dir: Option<&Path>,
        env: &Environment,
        sources: &[Arc<dyn Source>],
        ctl: &WarmControl,
    ) -> Result<(Plan, Report)> {
        let t0 = std::time::Instant::now();
        if sources.is_empty() {
            return Err(Error::Config {
                origin: "sources".into(),
                message:
                    "no source configured: pass --from DIR|URL or add [[source]] to gowarm.toml"
                        .into(),
            });
        }
        let plan = self.plan(dir, env, sources, &ctl.choice)?;
        let plan_ms = t0.elapsed().as_millis() as u64;
        let modcache = ModCache::new(&env.gomodcache);
        let buildcache = BuildCache::open(&env.gocache)?;
        let opts = WarmOptions {
            jobs: self.config.warm.jobs,
            progress: ctl.progress.clone().unwrap_or_else(|| Arc::new(NoProgress)),
            cancel: ctl.cancel.clone(),
        };
        let mut report = self
            .runtime
            .block_on(execute(&plan, modcache, buildcache, sources, &opts))?;
        report.plan_ms = plan_ms;
        if let Some(owner) = self.config.warm.owner {
            let mut changed = 0;
            for root in [&env.gomodcache, &env.gocache] {
                changed += owner.give(root)?;
            }
            tracing::info!(%owner, changed, "gave the caches to their owner");
        }
        report.duration_ms = t0.elapsed().as_millis() as u64;
        Ok((plan, report))
    }
}
