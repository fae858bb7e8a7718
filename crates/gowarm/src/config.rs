//! Configuration: `gowarm.toml`, `GOWARM_*` overrides, every key defaulted.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};

/// The file looked for in the working directory when no path is given.
pub const DEFAULT_FILE: &str = "gowarm.toml";

/// The whole configuration.
///
/// ```
/// use gowarm::config::{BuildCacheMode, Config, SourceKind};
///
/// let cfg = Config::from_toml(
///     "[warm]\nbuild_cache = \"skip\"\n[[source]]\nkind = \"dir\"\npath = \"/mnt/warm\"\n",
///     "gowarm.toml",
/// )?;
/// assert_eq!(cfg.warm.build_cache, BuildCacheMode::Skip);
/// assert_eq!(cfg.sources[0].kind, SourceKind::Dir);
/// assert_eq!(cfg.sources[0].name, "dir:/mnt/warm");
/// // Unknown keys are errors that name the file and the key.
/// let e = Config::from_toml("[warm]\njbos = 2\n", "gowarm.toml").unwrap_err();
/// assert!(e.to_string().contains("jbos"));
/// # Ok::<(), gowarm::Error>(())
/// ```
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Config {
    /// The Go toolchain.
    #[serde(default)]
    pub go: GoConfig,
    /// Cache locations (default: what `go env` says).
    #[serde(default)]
    pub cache: CacheConfig,
    /// Warm behaviour.
    #[serde(default)]
    pub warm: WarmConfig,
    /// Ordered sources.
    #[serde(default, rename = "source", skip_serializing_if = "Vec::is_empty")]
    pub sources: Vec<SourceConfig>,
    /// Bake settings.
    #[serde(default)]
    pub bake: BakeConfig,
    /// The Git checkout cache (`warm --git`).
    #[serde(default)]
    pub git: crate::git::GitConfig,
    /// The pod startup hook (`gowarm hook`).
    #[serde(default)]
    pub hook: HookConfig,
    /// The directory of the file the configuration came from (relative paths in `[bake]`
    /// start there).
    #[serde(skip)]
    pub base_dir: Option<PathBuf>,
}

/// `[go]`: the toolchain gowarm runs for `go env` and builds.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct GoConfig {
    /// The `go` binary (a path or a name looked up on PATH). Env: `GOWARM_GO`.
    #[serde(default = "default_go")]
    pub binary: PathBuf,
    /// Environment variables set for every `go` command gowarm runs (`go env`, bake's
    /// builds), on top of gowarm's own environment: e.g. `GOFLAGS = "-trimpath"`.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub env: BTreeMap<String, String>,
    /// Seconds a `go env -json` result is reused for modules with the same `go` and
    /// `toolchain` lines and go.work situation (0: run it for every request). It is most
    /// of a detect's time; `go env -w` changes show up after this long.
    #[serde(default = "default_env_cache_secs")]
    pub env_cache_secs: u64,
}

impl Default for GoConfig {
    fn default() -> Self {
        GoConfig {
            binary: default_go(),
            env: BTreeMap::new(),
            env_cache_secs: default_env_cache_secs(),
        }
    }
}

fn default_env_cache_secs() -> u64 {
    30
}

fn default_go() -> PathBuf {
    PathBuf::from("go")
}

/// `[cache]`: where the ModCache and BuildCache are; unset means Go's own GOMODCACHE/GOCACHE.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CacheConfig {
    /// GOMODCACHE override. Env: `GOWARM_GOMODCACHE`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub gomodcache: Option<PathBuf>,
    /// GOCACHE override. Env: `GOWARM_GOCACHE`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub gocache: Option<PathBuf>,
}

/// What to do with build-cache entries a source offers.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum BuildCacheMode {
    /// Copy them unless the BuildProfile guard says they cannot hit.
    #[default]
    Auto,
    /// Never copy them (modules only).
    Skip,
    /// Copy them even when the guard says they cannot hit.
    Force,
}

impl std::str::FromStr for BuildCacheMode {
    type Err = String;
    fn from_str(s: &str) -> std::result::Result<Self, String> {
        match s {
            "auto" => Ok(Self::Auto),
            "skip" => Ok(Self::Skip),
            "force" => Ok(Self::Force),
            _ => Err(format!("{s:?} is not one of auto, skip, force")),
        }
    }
}

/// `[warm]`: how a warm runs.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WarmConfig {
    /// Items fetched and installed at once. Env: `GOWARM_JOBS`.
    #[serde(default = "default_jobs")]
    pub jobs: usize,
    /// Build-cache handling. Env: `GOWARM_BUILD_CACHE` (auto | skip | force).
    #[serde(default)]
    pub build_cache: BuildCacheMode,
    /// Give the warmed caches to this `UID:GID` (a warm run as root for the runner user).
    /// Env: `GOWARM_OWNER`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub owner: Option<crate::owner::Owner>,
}

impl Default for WarmConfig {
    fn default() -> Self {
        WarmConfig {
            jobs: default_jobs(),
            build_cache: BuildCacheMode::Auto,
            owner: None,
        }
    }
}

fn default_jobs() -> usize {
    // Installs are dominated by hashing and small-file writes; two per core keeps both
    // the CPU and the disk queue busy.
    std::thread::available_parallelism()
        .map(|n| n.get() * 2)
        .unwrap_or(4)
}

/// `[[source]]`: one place warm content can come from.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SourceConfig {
    /// A name for logs and the Report (default: the kind and location).
    #[serde(default)]
    pub name: String,
    /// `dir` or `goproxy`.
    pub kind: SourceKind,
    /// For `dir`: the warm cache directory (`go-mod/`, `go-build/`, the Manifest).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub path: Option<PathBuf>,
    /// For `goproxy`: the proxy URL (`https://…`, `http://…`, `file:///…`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub url: Option<String>,
    /// For `peer`: sibling pods' `gowarm serve` addresses (`http://10.0.0.5:7070`).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub peers: Vec<String>,
    /// For `peer`: a DNS name and port whose A/AAAA records are the pods (a headless
    /// Service: `gowarm-peers.ci.svc.cluster.local:7070`), resolved at every warm; this
    /// pod's own addresses are left out.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub dns: Option<String>,
    /// For `peer`: a file holding the bearer token (a mounted Kubernetes Secret).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub token_file: Option<PathBuf>,
    /// For `peer`: an environment variable holding the bearer token.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub token_env: Option<String>,
    /// For `peer`: connect timeout in seconds.
    #[serde(default = "default_connect_timeout")]
    pub connect_timeout_secs: u64,
    /// May this source supply build-cache action entries (which cannot be verified by
    /// content)? Default: true for `dir`, which is the operator's own image.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub trusted: Option<bool>,
    /// Per-request timeout in seconds.
    #[serde(default = "default_timeout")]
    pub timeout_secs: u64,
}

fn default_timeout() -> u64 {
    60
}

fn default_connect_timeout() -> u64 {
    2
}

impl Default for SourceConfig {
    fn default() -> Self {
        SourceConfig {
            name: String::new(),
            kind: SourceKind::Dir,
            path: None,
            url: None,
            peers: Vec::new(),
            dns: None,
            token_file: None,
            token_env: None,
            connect_timeout_secs: default_connect_timeout(),
            trusted: None,
            timeout_secs: default_timeout(),
        }
    }
}

/// The kinds of built-in source.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SourceKind {
    /// A warm cache directory (a mounted warm image or volume).
    Dir,
    /// A GOPROXY-protocol module proxy.
    Goproxy,
    /// Sibling pods running `gowarm serve`.
    Peer,
}

/// Checks a goproxy URL: `http://`, `https://` or `file:///` with something after it.
fn check_proxy_url(url: &str) -> std::result::Result<(), String> {
    let rest = ["http://", "https://", "file://"]
        .iter()
        .find_map(|p| url.strip_prefix(p));
    match rest {
        Some(r) if !r.trim_matches('/').is_empty() => Ok(()),
        Some(_) => Err(format!("{url:?} has no host or path")),
        None => Err(format!(
            "{url:?} is not an http://, https:// or file:// URL"
        )),
    }
}

impl SourceConfig {
    /// Parses a command-line source: `dir:PATH`, `goproxy:URL`, a bare URL (goproxy) or a bare path (dir).
    pub fn parse_spec(spec: &str) -> Result<SourceConfig> {
        let bad = |message: String| Error::Config {
            origin: format!("source {spec:?}"),
            message,
        };
        let (kind, rest) = if let Some(p) = spec.strip_prefix("dir:") {
            (SourceKind::Dir, p)
        } else if let Some(u) = spec.strip_prefix("goproxy:") {
            (SourceKind::Goproxy, u)
        } else if let Some(p) = spec.strip_prefix("peer:") {
            (SourceKind::Peer, p)
        } else if spec.contains("://") {
            (SourceKind::Goproxy, spec)
        } else if let Some((kind, _)) = spec.split_once(':').filter(|(k, _)| {
            !k.is_empty() && !k.contains('/') && k.chars().all(|c| c.is_ascii_alphanumeric())
        }) {
            // `peer:…`, `oci:…` and typos must not silently become a directory named so.
            return Err(bad(format!(
                "unknown source kind {kind:?}; the kinds are dir:PATH, goproxy:URL and peer:URL[,URL…] or peer:dns=NAME:PORT (write ./{spec} for a directory of that name)"
            )));
        } else {
            (SourceKind::Dir, spec)
        };
        if rest.is_empty() {
            return Err(bad(
                "empty location; write dir:/path/to/warm-cache or goproxy:https://proxy.example"
                    .into(),
            ));
        }
        let mut cfg = SourceConfig {
            kind,
            ..SourceConfig::default()
        };
        match kind {
            SourceKind::Dir => cfg.path = Some(PathBuf::from(rest)),
            SourceKind::Goproxy => {
                check_proxy_url(rest).map_err(bad)?;
                cfg.url = Some(rest.trim_end_matches('/').to_string());
            }
            SourceKind::Peer => match rest.strip_prefix("dns=") {
                Some(name) => cfg.dns = Some(name.to_string()),
                None => {
                    cfg.peers = rest
                        .split(',')
                        .map(|p| p.trim().trim_end_matches('/').to_string())
                        .filter(|p| !p.is_empty())
                        .collect()
                }
            },
        }
        cfg.name = cfg.default_name();
        cfg.validate(&format!("source {spec:?}"))?;
        Ok(cfg)
    }

    /// The name used when none is configured.
    pub fn default_name(&self) -> String {
        match self.kind {
            SourceKind::Dir => format!(
                "dir:{}",
                self.path.as_deref().unwrap_or(Path::new("")).display()
            ),
            SourceKind::Goproxy => format!("goproxy:{}", self.url.as_deref().unwrap_or("")),
            SourceKind::Peer => match &self.dns {
                Some(d) => format!("peer:{d}"),
                None => format!("peer:{}", self.peers.join(",")),
            },
        }
    }

    /// Whether the source may supply action entries.
    pub fn is_trusted(&self) -> bool {
        self.trusted.unwrap_or(self.kind == SourceKind::Dir)
    }

    fn validate(&mut self, origin: &str) -> Result<()> {
        if self.name.is_empty() {
            self.name = self.default_name();
        }
        let bad = |message: String| Error::Config {
            origin: origin.to_string(),
            message,
        };
        match self.kind {
            SourceKind::Dir if self.path.is_none() => {
                return Err(bad(format!(
                    "[[source]] {:?} of kind dir needs `path = \"/warm\"`",
                    self.name
                )))
            }
            SourceKind::Goproxy if self.url.is_none() => {
                return Err(bad(format!(
                    "[[source]] {:?} of kind goproxy needs `url = \"https://…\"`",
                    self.name
                )))
            }
            SourceKind::Goproxy => {
                let url = self.url.as_deref().unwrap_or_default();
                check_proxy_url(url)
                    .map_err(|e| bad(format!("[[source]] {:?}: url {e}", self.name)))?;
            }
            SourceKind::Peer if self.peers.is_empty() && self.dns.is_none() => {
                return Err(bad(format!(
                    "[[source]] {:?} of kind peer needs `peers = [\"http://10.0.0.5:7070\"]` or `dns = \"gowarm-peers.ns.svc:7070\"`",
                    self.name
                )))
            }
            SourceKind::Peer => {
                for p in &self.peers {
                    if !(p.starts_with("http://") || p.starts_with("https://")) {
                        return Err(bad(format!(
                            "[[source]] {:?}: peer {p:?} is not an http:// or https:// address",
                            self.name
                        )));
                    }
                }
                if self.connect_timeout_secs == 0 {
                    return Err(bad(format!(
                        "[[source]] {:?}: connect_timeout_secs must be at least 1",
                        self.name
                    )));
                }
            }
            SourceKind::Dir => {}
        }
        if self.timeout_secs == 0 {
            return Err(bad(format!(
                "[[source]] {:?}: timeout_secs must be at least 1",
                self.name
            )));
        }
        Ok(())
    }
}

/// `[hook]`: what `gowarm hook` warms at pod start.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct HookConfig {
    /// Warm sets to warm (default: every set of the first warm cache's Manifest).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub sets: Vec<String>,
    /// Seconds the hook may take (default: no deadline).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub deadline_secs: Option<u64>,
    /// The ready file (default `/var/run/gowarm/ready.json`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ready_file: Option<PathBuf>,
}

/// `[bake]`: what an offline bake builds, under which runtime layout, and where it writes.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BakeConfig {
    /// Output directory (`go-mod/`, `go-build/`, the Manifest), as the Dockerfile copies it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub out: Option<PathBuf>,
    /// The previous bake's output, for an incremental bake (default: `out` itself).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub previous: Option<PathBuf>,
    /// Module directories of an unnamed warm set `all` (kept for bakes without sets).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub targets: Vec<PathBuf>,
    /// The directory relative target paths and patterns start from (default: the
    /// configuration file's directory, else the working directory).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub root: Option<PathBuf>,
    /// Warm sets: `[[bake.set]]`.
    #[serde(default, rename = "set", skip_serializing_if = "Vec::is_empty")]
    pub sets: Vec<WarmSetConfig>,
    /// The GOMODCACHE path the pods will use; the bake builds there, because without
    /// `-trimpath` that path is part of every dependency's action ID.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub gomodcache: Option<PathBuf>,
    /// The GOCACHE path the bake builds in (any path: action IDs do not contain it).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub gocache: Option<PathBuf>,
    /// GOFLAGS of the pods' builds; `-trimpath` is recommended (entries then hit under any
    /// GOMODCACHE and checkout path).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub goflags: Option<String>,
    /// CGO_ENABLED of the pods' builds (`true`/`false`; default: Go's).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cgo_enabled: Option<bool>,
    /// The Go version the pods run (`go1.25.5`): the bake refuses another toolchain,
    /// since a different version misses every entry.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub go_version: Option<String>,
    /// Build-cache hit ratio the last step's `verify` must reach per warm set (0 turns
    /// the step off).
    #[serde(default = "default_min_hit_ratio")]
    pub min_hit_ratio: f64,
    /// Give the output to this `UID:GID` (the pods' user), so an image copy keeps it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub owner: Option<crate::owner::Owner>,
}

impl Default for BakeConfig {
    fn default() -> Self {
        BakeConfig {
            out: None,
            previous: None,
            targets: Vec::new(),
            root: None,
            sets: Vec::new(),
            gomodcache: None,
            gocache: None,
            goflags: None,
            cgo_enabled: None,
            go_version: None,
            min_hit_ratio: default_min_hit_ratio(),
            owner: None,
        }
    }
}

fn default_min_hit_ratio() -> f64 {
    1.0
}

/// `[[bake.set]]`: one warm set, usually one provider.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WarmSetConfig {
    /// The set's name (`aws`), as `gowarm warm --set aws` names it.
    pub name: String,
    /// Module directories, or glob patterns over the bake root that match module
    /// directories (`apis/**/provider/aws/**/iac/pulumi`).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub targets: Vec<String>,
    /// Module paths whose presence in a program's go.mod/go.sum selects this set at run
    /// time (default: the modules its targets require that no other set's targets require).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub sdk: Vec<String>,
    /// Programs in Git repositories, checked out through the `[git]` cache.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub git: Vec<GitTargetConfig>,
}

/// A target in a Git repository: `{ url = "…", rev = "v1.2.0", subdir = "iac/pulumi" }`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct GitTargetConfig {
    /// The repository URL.
    pub url: String,
    /// Branch, tag or commit id.
    #[serde(default = "default_rev")]
    pub rev: String,
    /// The module's directory in the repository.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub subdir: Option<PathBuf>,
}

fn default_rev() -> String {
    "HEAD".into()
}

impl Config {
    /// Loads the configuration: `path`, else `$GOWARM_CONFIG`, else `./gowarm.toml` if it
    /// exists, else the defaults; then applies `GOWARM_*` overrides.
    pub fn load(path: Option<&Path>) -> Result<(Config, Option<PathBuf>)> {
        let env_path = std::env::var_os("GOWARM_CONFIG").map(PathBuf::from);
        let chosen = match (path, env_path) {
            (Some(p), _) => Some(p.to_path_buf()),
            (None, Some(p)) => Some(p),
            (None, None) => {
                let p = PathBuf::from(DEFAULT_FILE);
                p.is_file().then_some(p)
            }
        };
        let mut cfg = match &chosen {
            Some(p) => {
                let text = std::fs::read_to_string(p)
                    .map_err(|e| Error::io("reading configuration", p, e))?;
                let mut cfg = Config::from_toml(&text, &p.display().to_string())?;
                cfg.base_dir = std::path::absolute(p)
                    .ok()
                    .and_then(|p| p.parent().map(Path::to_path_buf));
                cfg
            }
            None => Config::default(),
        };
        cfg.apply_env(|k| std::env::var(k).ok())?;
        Ok((cfg, chosen))
    }

    /// Parses TOML text; `origin` names it in errors.
    pub fn from_toml(text: &str, origin: &str) -> Result<Config> {
        let mut cfg: Config = toml::from_str(text).map_err(|e| Error::Config {
            origin: origin.to_string(),
            message: e.to_string(),
        })?;
        for s in &mut cfg.sources {
            s.validate(origin)?;
        }
        cfg.check(origin)?;
        Ok(cfg)
    }

    /// Applies `GOWARM_*` overrides read through `get`.
    pub fn apply_env(&mut self, get: impl Fn(&str) -> Option<String>) -> Result<()> {
        if let Some(v) = get("GOWARM_GO").filter(|v| !v.is_empty()) {
            self.go.binary = PathBuf::from(v);
        }
        for (var, slot) in [
            ("GOWARM_GOMODCACHE", &mut self.cache.gomodcache),
            ("GOWARM_GOCACHE", &mut self.cache.gocache),
        ] {
            if let Some(v) = get(var).filter(|v| !v.is_empty()) {
                if !Path::new(&v).is_absolute() {
                    return Err(Error::Config {
                        origin: var.into(),
                        message: format!(
                            "{v:?} must be an absolute path (Go rejects relative cache paths)"
                        ),
                    });
                }
                *slot = Some(PathBuf::from(v));
            }
        }
        if let Some(v) = get("GOWARM_JOBS").filter(|v| !v.is_empty()) {
            self.warm.jobs = v.parse().map_err(|_| Error::Config {
                origin: "GOWARM_JOBS".into(),
                message: format!("{v:?} is not a whole number"),
            })?;
        }
        if let Some(v) = get("GOWARM_OWNER").filter(|v| !v.is_empty()) {
            self.warm.owner = Some(v.parse().map_err(|message| Error::Config {
                origin: "GOWARM_OWNER".into(),
                message,
            })?);
        }
        if let Some(v) = get("GOWARM_BUILD_CACHE").filter(|v| !v.is_empty()) {
            self.warm.build_cache = v.parse().map_err(|message| Error::Config {
                origin: "GOWARM_BUILD_CACHE".into(),
                message,
            })?;
        }
        self.check("environment")
    }

    fn check(&self, origin: &str) -> Result<()> {
        let bad = |message: String| Error::Config {
            origin: origin.into(),
            message,
        };
        let mut names = std::collections::BTreeSet::new();
        for set in &self.bake.sets {
            let valid = !set.name.is_empty()
                && set
                    .name
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'));
            if !valid {
                return Err(bad(format!(
                    "[[bake.set]] name {:?}: use letters, digits, '-', '_' or '.' (it is typed in `--set`)",
                    set.name
                )));
            }
            if set.name == "all" && (!self.bake.targets.is_empty() || self.bake.sets.len() > 1) {
                return Err(bad(
                    "[[bake.set]] name \"all\" is what [bake] targets are called; pick another name"
                        .into(),
                ));
            }
            if !names.insert(set.name.as_str()) {
                return Err(bad(format!("[[bake.set]] {:?} is defined twice", set.name)));
            }
            if set.targets.is_empty() && set.git.is_empty() {
                return Err(bad(format!(
                    "[[bake.set]] {:?} has no targets; add `targets = [\"path/to/program\"]`",
                    set.name
                )));
            }
        }
        if self.hook.deadline_secs == Some(0) {
            return Err(bad(
                "[hook] deadline_secs = 0 would stop every hook at once; use at least 1 (or leave it out for no deadline)".into(),
            ));
        }
        if !(0.0..=1.0).contains(&self.bake.min_hit_ratio) {
            return Err(bad(format!(
                "[bake] min_hit_ratio = {} must be between 0 and 1",
                self.bake.min_hit_ratio
            )));
        }
        if let Some(p) = &self.bake.gomodcache {
            if !p.is_absolute() {
                return Err(bad(format!(
                    "[bake] gomodcache = {:?} must be an absolute path (it is the pods' GOMODCACHE)",
                    p.display()
                )));
            }
        }
        if self.warm.jobs == 0 {
            return Err(Error::Config {
                origin: origin.into(),
                message: "[warm] jobs must be at least 1".into(),
            });
        }
        for (key, p) in [
            ("gomodcache", &self.cache.gomodcache),
            ("gocache", &self.cache.gocache),
        ] {
            if let Some(p) = p {
                if !p.is_absolute() {
                    return Err(Error::Config {
                        origin: origin.into(),
                        message: format!(
                            "[cache] {key} = {:?} must be an absolute path (Go rejects relative cache paths)",
                            p.display()
                        ),
                    });
                }
            }
        }
        Ok(())
    }

    /// The effective configuration as TOML.
    pub fn to_toml(&self) -> String {
        toml::to_string_pretty(self).unwrap_or_else(|e| format!("# cannot render: {e}\n"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn empty_file_is_all_defaults() {
        let cfg = Config::from_toml("", "t").unwrap();
        assert_eq!(cfg.go.binary, PathBuf::from("go"));
        assert!(cfg.warm.jobs >= 1);
        assert_eq!(cfg.warm.build_cache, BuildCacheMode::Auto);
    }

    #[test]
    fn full_file_round_trips() {
        let text = r#"
[go]
binary = "/opt/go/bin/go"
env = { GOFLAGS = "-trimpath" }
[cache]
gomodcache = "/var/cache/go-mod"
[warm]
jobs = 3
build_cache = "skip"
[[source]]
kind = "dir"
path = "/warm"
[[source]]
name = "upstream"
kind = "goproxy"
url = "https://proxy.example"
timeout_secs = 5
"#;
        let cfg = Config::from_toml(text, "t").unwrap();
        assert_eq!(cfg.sources.len(), 2);
        assert_eq!(
            cfg.go.env.get("GOFLAGS").map(String::as_str),
            Some("-trimpath")
        );
        assert_eq!(cfg.sources[0].name, "dir:/warm");
        assert!(cfg.sources[0].is_trusted());
        assert!(!cfg.sources[1].is_trusted());
        let again = Config::from_toml(&cfg.to_toml(), "t2").unwrap();
        assert_eq!(again, cfg);
    }

    #[test]
    fn errors_name_the_problem() {
        let e = Config::from_toml("[warm]\njbos = 3\n", "g.toml")
            .unwrap_err()
            .to_string();
        assert!(e.contains("g.toml") && e.contains("jbos"), "{e}");
        let e = Config::from_toml("[[source]]\nkind = \"dir\"\n", "g.toml")
            .unwrap_err()
            .to_string();
        assert!(e.contains("needs `path"), "{e}");
        let e = Config::from_toml("[cache]\ngocache = \"rel\"\n", "g.toml")
            .unwrap_err()
            .to_string();
        assert!(e.contains("absolute"), "{e}");
    }

    #[test]
    fn env_overrides() {
        let mut cfg = Config::default();
        cfg.apply_env(|k| match k {
            "GOWARM_JOBS" => Some("7".into()),
            "GOWARM_BUILD_CACHE" => Some("force".into()),
            "GOWARM_GOCACHE" => Some("/c".into()),
            _ => None,
        })
        .unwrap();
        assert_eq!(cfg.warm.jobs, 7);
        assert_eq!(cfg.warm.build_cache, BuildCacheMode::Force);
        assert_eq!(cfg.cache.gocache, Some(PathBuf::from("/c")));
        let e = cfg
            .apply_env(|k| (k == "GOWARM_JOBS").then(|| "many".into()))
            .unwrap_err()
            .to_string();
        assert!(e.contains("GOWARM_JOBS"), "{e}");
    }

    #[test]
    fn source_specs() {
        let d = SourceConfig::parse_spec("/warm").unwrap();
        assert_eq!(d.kind, SourceKind::Dir);
        let g = SourceConfig::parse_spec("http://127.0.0.1:3000/").unwrap();
        assert_eq!(g.kind, SourceKind::Goproxy);
        assert_eq!(g.url.as_deref(), Some("http://127.0.0.1:3000"));
        assert!(SourceConfig::parse_spec("goproxy:ftp://x").is_err());
        assert!(SourceConfig::parse_spec("dir:").is_err());
        let e = SourceConfig::parse_spec("gopher:foo")
            .unwrap_err()
            .to_string();
        assert!(e.contains("unknown source kind \"gopher\""), "{e}");
        assert_eq!(
            SourceConfig::parse_spec("./gopher:foo").unwrap().kind,
            SourceKind::Dir
        );
    }

    #[test]
    fn file_sources_are_checked_like_command_line_ones() {
        for url in ["ftp://x", "not a url", "https://"] {
            let text = format!("[[source]]\nkind = \"goproxy\"\nurl = {url:?}\n");
            let e = Config::from_toml(&text, "g.toml").unwrap_err().to_string();
            assert!(e.contains("g.toml") && e.contains("url"), "{url}: {e}");
        }
        let e = Config::from_toml("[[source]]\nkind = \"dir\"\n", "g.toml")
            .unwrap_err()
            .to_string();
        assert!(
            !e.contains("\"\""),
            "an unnamed source is named by its default: {e}"
        );
    }

    #[test]
    fn relative_env_cache_path_names_the_variable() {
        let mut cfg = Config::default();
        let e = cfg
            .apply_env(|k| (k == "GOWARM_GOMODCACHE").then(|| "rel/m".into()))
            .unwrap_err()
            .to_string();
        assert!(e.starts_with("configuration GOWARM_GOMODCACHE"), "{e}");
    }
}
