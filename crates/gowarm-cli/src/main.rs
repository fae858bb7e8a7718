//! `gowarm`: parses arguments, calls the engine, prints. The library decides.

mod progress;

use std::io::IsTerminal;
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;

use clap::{Args, Parser, Subcommand};
use gowarm::bake::SetAction;
use gowarm::config::{BuildCacheMode, SourceConfig};
use gowarm::record::CacheProg;
use gowarm::{BakeRequest, Config, Engine, Outcome, Plan, SetChoice};

/// Exit codes, documented in `--help` and docs/cli.md.
mod exit {
    /// Success: warm (detect), or everything installed (warm, bake).
    pub const OK: u8 = 0;
    /// An error stopped the command (bad input, I/O, Go failed).
    pub const ERROR: u8 = 1;
    /// detect: something required is cold.
    pub const COLD: u8 = 3;
    /// warm: some required items could not be fetched or verified from any source.
    pub const INCOMPLETE: u8 = 4;
    /// warm: modules installed, build-cache entries skipped (BuildProfile mismatch).
    pub const PROFILE_MISMATCH: u8 = 5;
    /// verify: the build-cache hit ratio is below --min-hit-ratio.
    pub const BELOW_RATIO: u8 = 6;
    /// warm: stopped at --deadline before everything was installed.
    pub const STOPPED: u8 = 7;
}

const AFTER_HELP: &str = "\
Exit codes:
  0  success (detect: everything is warm)
  1  error (bad go.mod/go.sum, unusable source, I/O, go failed)
  2  usage error
  3  detect: something required is cold
  4  warm: some required items could not be fetched or verified from any source
  5  warm: modules warm, build-cache entries skipped because the warm cache's BuildProfile
     cannot hit here (the message says which field differs and how to fix it)
  6  verify: the build-cache hit ratio is below --min-hit-ratio
  7  warm: --deadline passed before everything was installed (what was installed is whole)

Sources (--from, tried in the order given, per item):
  /mnt/warm  or  dir:/mnt/warm        a warm cache directory (go-mod/, go-build/, manifest)
  https://proxy.golang.org           a module proxy (also goproxy:URL, file:///path)

Environment: GOWARM_CONFIG (config file), GOWARM_GO, GOWARM_GOMODCACHE, GOWARM_GOCACHE,
GOWARM_JOBS, GOWARM_BUILD_CACHE, GOWARM_OWNER, RUST_LOG (log filter, e.g. gowarm=debug).";

/// Put exactly the module-cache and build-cache content a Go program needs in place
/// before its first build, from the nearest verified source.
#[derive(Debug, Parser)]
#[command(name = "gowarm", version, after_help = AFTER_HELP)]
struct Cli {
    /// Configuration file (default: $GOWARM_CONFIG, else ./gowarm.toml if present).
    #[arg(long, global = true, value_name = "FILE")]
    config: Option<PathBuf>,
    /// The GOMODCACHE to use (default: [cache] gomodcache, else `go env GOMODCACHE`).
    #[arg(long, global = true, value_name = "DIR")]
    gomodcache: Option<PathBuf>,
    /// The GOCACHE to use (default: [cache] gocache, else `go env GOCACHE`).
    #[arg(long, global = true, value_name = "DIR")]
    gocache: Option<PathBuf>,
    /// Print the result as JSON on stdout.
    #[arg(long, global = true)]
    json: bool,
    /// More log output (-v info, -vv debug); RUST_LOG overrides.
    #[arg(short, long, global = true, action = clap::ArgAction::Count)]
    verbose: u8,
    /// No progress bars.
    #[arg(short, long, global = true)]
    quiet: bool,
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// List what is cold for a module: its missing modules and build-cache entries.
    #[command(
        after_help = "Examples:\n  gowarm detect                       # the module in the current directory\n  gowarm detect ./program --from /mnt/warm --json\n\nExit code 0 when everything is warm, 3 when something required is cold."
    )]
    Detect(Target),
    /// Fetch, verify and install what a module's build needs.
    #[command(
        after_help = "Examples:\n  gowarm warm --from /mnt/warm --from https://proxy.golang.org\n  gowarm warm ./program --from dir:/mnt/warm --build-cache skip\n\nExit code 0 when warm, 4 when items failed, 5 when the build cache was skipped."
    )]
    Warm(WarmArgs),
    /// Build warm caches for target programs: fetch their modules, `go build` each, and
    /// write a warm cache directory (go-mod/, go-build/, gowarm-manifest.json).
    #[command(
        after_help = "Examples:\n  gowarm bake ./programs/aws ./programs/gcp --out /tmp/merged-cache --from https://proxy.golang.org\n\nThe bake builds under the GOMODCACHE/GOCACHE paths the pods will use: without -trimpath, Go's\nbuild-cache keys contain the module cache path, so bake and pod must agree (GOFLAGS=-trimpath\nmakes the cache path-independent)."
    )]
    Bake(BakeArgs),
    /// Prove the build cache hits: build a module offline (`go build -x ./...`) and report
    /// the share of packages served from GOCACHE and which were compiled.
    #[command(
        after_help = "Examples:\n  gowarm verify ./program                  # fails unless every package hits\n  gowarm verify ./program --min-hit-ratio 0.9 --json\n\nExit code 0 at or above the ratio, 6 below it. The build fills the cache with what it compiled."
    )]
    Verify(VerifyArgs),
    /// Show configuration.
    #[command(subcommand)]
    Config(ConfigCommand),
    /// Inspect a warm cache's Manifest.
    #[command(subcommand)]
    Manifest(ManifestCommand),
    /// Pod startup: warm the warm sets this pod needs within a deadline, then write the
    /// ready file a readiness probe looks for.
    #[command(
        after_help = "Examples:\n  gowarm hook --deadline 120                       # every set of the warm image\n  gowarm hook --set aws,gcp --deadline 90 --owner 1001:1001\n  gowarm hook --deadline 60 --best-effort --ready-file /var/run/gowarm/ready.json\n\nThe ready file (JSON: the sets and the Report) is written only when the warm ends warm, or\nalways with --best-effort; a stale one is removed first. Exit code 0 warm, 7 deadline passed,\n4 items failed, 5 build cache skipped (profile); with --best-effort 0 unless an error stops it."
    )]
    Hook(HookArgs),
    /// Serve this pod's caches to sibling pods (read-only): the GOPROXY protocol under
    /// /mod/, build-cache entries and the Manifest under /build/, /healthz, /metrics.
    #[command(
        after_help = "Examples:\n  gowarm serve --token-file /var/run/secrets/gowarm/token\n  gowarm serve --listen [::]:7070 --token-env GOWARM_TOKEN\n  GOPROXY=http://10.0.0.5:7070/auth/$TOKEN/mod go mod download   # plain go as a client\n\nEvery request but /healthz needs the token: `Authorization: Bearer <token>`, Basic auth\nwith the token as password (plain go sends that only over https), or a path starting\n/auth/<token>/ (what plain go can use over http). Stops on SIGTERM or ctrl-c, letting\nin-flight responses finish."
    )]
    Serve(ServeArgs),
    /// The GOCACHEPROG server bake runs `go` with (started by go, not by hand).
    #[command(hide = true)]
    Cacheprog {
        /// The build cache to serve.
        #[arg(long, value_name = "DIR")]
        gocache: PathBuf,
        /// Append the entries go reads and writes here.
        #[arg(long, value_name = "FILE")]
        record: Option<PathBuf>,
    },
}

#[derive(Debug, Args)]
struct Target {
    /// The module directory (the one with go.mod; default: the current directory, or
    /// none when --set is given).
    dir: Option<PathBuf>,
    /// A source, tried in the order given; replaces the configured [[source]] list.
    #[arg(long = "from", value_name = "SOURCE")]
    from: Vec<String>,
    /// Take the build-cache entries of these warm sets (comma-separated) instead of the
    /// ones chosen from go.mod; without a directory, warm just these sets.
    #[arg(long = "set", value_name = "NAMES", value_delimiter = ',')]
    sets: Vec<String>,
    /// Check the program out of this Git repository first (into the [git] cache, at a
    /// path stable per repository and commit) and work on that checkout.
    #[arg(long, value_name = "URL", conflicts_with = "dir")]
    git: Option<String>,
    /// The revision for --git: branch, tag, commit id (7+ hex digits) or HEAD.
    #[arg(long, value_name = "REV", requires = "git")]
    rev: Option<String>,
    /// The module's directory inside the repository for --git.
    #[arg(long, value_name = "PATH", requires = "git")]
    subdir: Option<PathBuf>,
}

impl Target {
    /// --rev and --subdir only mean something with --git: a usage error (exit 2) otherwise.
    fn check(&self) {
        if self.git.is_none() && (self.rev.is_some() || self.subdir.is_some()) {
            use clap::CommandFactory;
            Cli::command()
                .error(
                    clap::error::ErrorKind::MissingRequiredArgument,
                    "--rev and --subdir need --git URL (for a local module, pass its directory)",
                )
                .exit();
        }
    }

    /// The module directory, or None for a warm-set request.
    fn dir(&self) -> gowarm::Result<Option<PathBuf>> {
        match (&self.dir, self.sets.is_empty()) {
            (Some(d), _) => absolute(d).map(Some),
            (None, true) => absolute(std::path::Path::new(".")).map(Some),
            (None, false) => Ok(None),
        }
    }

    /// The Git checkout --git asks for.
    fn git_request(&self) -> Option<gowarm::git::GitRequest> {
        self.git.as_ref().map(|url| gowarm::git::GitRequest {
            url: url.clone(),
            rev: self.rev.clone().unwrap_or_else(|| "HEAD".into()),
            subdir: self.subdir.clone(),
        })
    }

    fn choice(&self) -> SetChoice {
        if self.sets.is_empty() {
            SetChoice::Auto
        } else {
            SetChoice::Named(self.sets.clone())
        }
    }
}

#[derive(Debug, Args)]
struct WarmArgs {
    #[command(flatten)]
    target: Target,
    /// Build-cache entries: auto (copy unless the profile cannot hit), skip, force.
    #[arg(long, value_name = "MODE")]
    build_cache: Option<BuildCacheMode>,
    /// Items fetched and installed at once.
    #[arg(long, short, value_parser = clap::value_parser!(u16).range(1..))]
    jobs: Option<u16>,
    /// Give the warmed caches to UID:GID (e.g. 1001:1001, the runner user) when warming
    /// as root; module trees stay read-only, GOCACHE writable by that user.
    #[arg(long, value_name = "UID:GID")]
    owner: Option<gowarm::owner::Owner>,
    /// Stop after this many seconds (fractions allowed): items not started are skipped,
    /// nothing is left half-written, and the exit code is 7.
    #[arg(long, value_name = "SECONDS", value_parser = parse_seconds)]
    deadline: Option<std::time::Duration>,
}

fn parse_seconds(s: &str) -> Result<std::time::Duration, String> {
    let n = s.strip_suffix('s').unwrap_or(s);
    match n.parse::<f64>() {
        Ok(v) if v.is_finite() && v > 0.0 => Ok(std::time::Duration::from_secs_f64(v)),
        _ => Err(format!(
            "{s:?} is not a positive number of seconds (e.g. 90 or 2.5)"
        )),
    }
}

#[derive(Debug, Args)]
struct BakeArgs {
    /// Module directories to build as one warm set `all` (default: the [[bake.set]]s).
    targets: Vec<PathBuf>,
    /// The warm cache directory to write (default: [bake] out).
    #[arg(long, value_name = "DIR")]
    out: Option<PathBuf>,
    /// The previous bake's output, for an incremental bake (default: [bake] previous,
    /// else --out itself).
    #[arg(long, value_name = "DIR")]
    previous: Option<PathBuf>,
    /// Fail at once if another bake is writing the same output (default: wait for it).
    #[arg(long)]
    no_wait: bool,
    /// Give the output to UID:GID (the pods' user), so the image copy keeps that owner.
    #[arg(long, value_name = "UID:GID")]
    owner: Option<gowarm::owner::Owner>,
    /// Upstream source (usually a module proxy), tried in order.
    #[arg(long = "from", value_name = "SOURCE")]
    from: Vec<String>,
    /// Items fetched and installed at once.
    #[arg(long, short, value_parser = clap::value_parser!(u16).range(1..))]
    jobs: Option<u16>,
}

#[derive(Debug, Args)]
struct HookArgs {
    /// Warm sets to warm (comma-separated; default: [hook] sets, else every set of the
    /// first warm cache's Manifest).
    #[arg(long = "set", value_name = "NAMES", value_delimiter = ',')]
    sets: Vec<String>,
    /// Sources, tried in order; replace the configured [[source]] list.
    #[arg(long = "from", value_name = "SOURCE")]
    from: Vec<String>,
    /// Give up after this many seconds (default: [hook] deadline_secs, else none).
    #[arg(long, value_name = "SECONDS", value_parser = parse_seconds)]
    deadline: Option<std::time::Duration>,
    /// The ready file (default: [hook] ready_file, else /var/run/gowarm/ready.json).
    #[arg(long, value_name = "PATH")]
    ready_file: Option<PathBuf>,
    /// Mark the pod ready and exit 0 even when the warm did not finish.
    #[arg(long)]
    best_effort: bool,
    /// Give the warmed caches to UID:GID (the runner user).
    #[arg(long, value_name = "UID:GID")]
    owner: Option<gowarm::owner::Owner>,
}

#[derive(Debug, Args)]
struct ServeArgs {
    /// Address to listen on (`[::]:7070` for dual stack).
    #[arg(long, default_value = "0.0.0.0:7070", value_name = "ADDR")]
    listen: std::net::SocketAddr,
    /// A file holding the bearer token (a mounted Kubernetes Secret).
    #[arg(long, value_name = "PATH", conflicts_with_all = ["token_env", "no_auth"])]
    token_file: Option<PathBuf>,
    /// An environment variable holding the bearer token.
    #[arg(long, value_name = "VAR", conflicts_with = "no_auth")]
    token_env: Option<String>,
    /// Serve without a token (only on a network where every client is trusted).
    #[arg(long)]
    no_auth: bool,
    /// Requests worked on at once.
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u16).range(1..))]
    max_in_flight: Option<u16>,
    /// Close a connection idle this many seconds.
    #[arg(long, value_name = "SECONDS", value_parser = parse_seconds)]
    idle_timeout: Option<std::time::Duration>,
}

#[derive(Debug, Args)]
struct VerifyArgs {
    /// The module directory (the one with go.mod).
    #[arg(default_value = ".")]
    dir: PathBuf,
    /// Lowest acceptable share of packages served from the build cache (0.0 to 1.0).
    #[arg(long, default_value_t = 1.0, value_parser = parse_ratio)]
    min_hit_ratio: f64,
}

fn parse_ratio(s: &str) -> Result<f64, String> {
    match s.parse::<f64>() {
        Ok(r) if (0.0..=1.0).contains(&r) => Ok(r),
        _ => Err(format!("{s:?} is not a number from 0.0 to 1.0")),
    }
}

#[derive(Debug, Subcommand)]
enum ManifestCommand {
    /// Print a warm cache's profile, warm sets, module and entry counts and sizes.
    #[command(
        after_help = "Examples:\n  gowarm manifest show /mnt/warm\n  gowarm manifest show /mnt/warm/gowarm-manifest.json --json"
    )]
    Show {
        /// A warm cache directory, or its gowarm-manifest.json.
        path: PathBuf,
    },
}

#[derive(Debug, Subcommand)]
enum ConfigCommand {
    /// Print the effective configuration (file, GOWARM_* overrides and flags applied).
    Show,
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    init_logging(cli.verbose);
    let json = cli.json;
    match run(cli) {
        Ok(code) => ExitCode::from(code),
        Err(e) => {
            let mut message = e.to_string();
            eprintln!("gowarm: {message}");
            // Print causes the message does not already include.
            let mut src = std::error::Error::source(&e);
            while let Some(s) = src {
                let cause = s.to_string();
                if !message.contains(&cause) {
                    eprintln!("  caused by: {cause}");
                    message.push_str(&format!(": {cause}"));
                }
                src = s.source();
            }
            if json {
                println!("{}", serde_json::json!({ "error": message }));
            }
            ExitCode::from(if matches!(e, gowarm::Error::Stopped(_)) {
                exit::STOPPED
            } else {
                exit::ERROR
            })
        }
    }
}

fn init_logging(verbose: u8) {
    let default = match verbose {
        0 => "gowarm=warn",
        1 => "gowarm=info",
        _ => "gowarm=debug",
    };
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(default));
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(std::io::stderr().is_terminal() && std::env::var_os("NO_COLOR").is_none())
        .with_target(false)
        .init();
}

fn load_config(cli: &Cli, from: &[String]) -> gowarm::Result<Config> {
    let (mut cfg, path) = Config::load(cli.config.as_deref())?;
    if let Some(p) = &path {
        tracing::info!("configuration from {}", p.display());
    }
    if let Some(p) = &cli.gomodcache {
        cfg.cache.gomodcache = Some(absolute(p)?);
    }
    if let Some(p) = &cli.gocache {
        cfg.cache.gocache = Some(absolute(p)?);
    }
    if !from.is_empty() {
        cfg.sources = from
            .iter()
            .map(|s| SourceConfig::parse_spec(s))
            .collect::<gowarm::Result<_>>()?;
    }
    Ok(cfg)
}

/// `p` made absolute against the working directory, and canonical when it exists (so
/// reports name `/src/prog`, not `/src/x/../prog`).
fn absolute(p: &std::path::Path) -> gowarm::Result<PathBuf> {
    let abs = std::path::absolute(p).map_err(|e| gowarm::Error::io("resolving", p, e))?;
    Ok(std::fs::canonicalize(&abs).unwrap_or(abs))
}

fn progress(cli: &Cli) -> Option<Arc<dyn gowarm::Progress>> {
    (!cli.quiet && !cli.json && std::io::stderr().is_terminal())
        .then(|| Arc::new(progress::Bars::default()) as Arc<dyn gowarm::Progress>)
}

fn run(cli: Cli) -> gowarm::Result<u8> {
    match &cli.command {
        Command::Detect(t) => {
            t.check();
            let cfg = load_config(&cli, &t.from)?;
            let engine = Engine::new(cfg)?;
            let plan = match (t.git_request(), t.dir()?) {
                (Some(req), _) => {
                    let checkout = engine.checkout_git(&req)?;
                    if !cli.json {
                        print!("{}", describe_checkout(&checkout));
                    }
                    engine.detect_with(&checkout.dir, &t.choice())?
                }
                (None, Some(dir)) => engine.detect_with(&dir, &t.choice())?,
                (None, None) => engine.detect_sets(&t.sets)?,
            };
            if cli.json {
                println!("{}", to_json(&plan));
            } else {
                print!("{}", describe_plan(&plan));
            }
            Ok(if plan.is_warm() { exit::OK } else { exit::COLD })
        }
        Command::Warm(w) => {
            w.target.check();
            let mut cfg = load_config(&cli, &w.target.from)?;
            if let Some(m) = w.build_cache {
                cfg.warm.build_cache = m;
            }
            if let Some(j) = w.jobs {
                cfg.warm.jobs = usize::from(j);
            }
            if let Some(o) = w.owner {
                cfg.warm.owner = Some(o);
            }
            let engine = Engine::new(cfg)?;
            let ctl = gowarm::WarmControl {
                choice: w.target.choice(),
                progress: progress(&cli),
                cancel: match w.deadline {
                    Some(d) => gowarm::Cancel::with_deadline(std::time::Instant::now() + d),
                    None => gowarm::Cancel::new(),
                },
            };
            let report = match w.target.git_request() {
                Some(req) => {
                    let (checkout, _plan, report) = engine.warm_git(&req, &ctl)?;
                    if cli.json {
                        println!(
                            "{}",
                            to_json(&serde_json::json!({ "checkout": checkout, "report": report }))
                        );
                    } else {
                        print!("{}{}", describe_checkout(&checkout), report.to_human());
                    }
                    report
                }
                None => {
                    let (_plan, report) =
                        engine.warm_controlled(w.target.dir()?.as_deref(), &ctl)?;
                    if cli.json {
                        println!("{}", report.to_json());
                    } else {
                        print!("{}", report.to_human());
                    }
                    report
                }
            };
            Ok(match report.outcome {
                Outcome::Warm => exit::OK,
                Outcome::Incomplete => exit::INCOMPLETE,
                Outcome::ProfileMismatch => exit::PROFILE_MISMATCH,
                Outcome::Stopped => exit::STOPPED,
            })
        }
        Command::Bake(b) => {
            let mut cfg = load_config(&cli, &b.from)?;
            if let Some(j) = b.jobs {
                cfg.warm.jobs = usize::from(j);
            }
            let exe = std::env::current_exe()
                .map_err(|e| gowarm::Error::io("locating the running gowarm", "", e))?;
            let out = b.out.as_deref().map(absolute).transpose()?;
            let mut req = BakeRequest::from_config(
                &cfg,
                &b.targets,
                out,
                CacheProg::new(exe, &["cacheprog"]),
            )?;
            if let Some(p) = &b.previous {
                req.previous = Some(absolute(p)?);
            }
            req.wait = !b.no_wait;
            if let Some(o) = b.owner {
                req.owner = Some(o);
            }
            let engine = Engine::new(cfg)?;
            let report = engine.bake(&req, progress(&cli))?;
            if cli.json {
                println!("{}", to_json(&report));
            } else {
                print!("{}", describe_bake(&report));
            }
            Ok(exit::OK)
        }
        Command::Hook(h) => {
            let mut cfg = load_config(&cli, &h.from)?;
            if let Some(o) = h.owner {
                cfg.warm.owner = Some(o);
            }
            let req = gowarm::hook::HookRequest {
                sets: if h.sets.is_empty() {
                    cfg.hook.sets.clone()
                } else {
                    h.sets.clone()
                },
                deadline: h
                    .deadline
                    .or(cfg.hook.deadline_secs.map(std::time::Duration::from_secs)),
                ready_file: match &h.ready_file {
                    Some(p) => absolute(p)?,
                    None => cfg
                        .hook
                        .ready_file
                        .clone()
                        .unwrap_or_else(|| PathBuf::from(gowarm::hook::DEFAULT_READY_FILE)),
                },
                best_effort: h.best_effort,
            };
            let engine = Engine::new(cfg)?;
            let out = engine.hook(&req, progress(&cli))?;
            if cli.json {
                println!("{}", to_json(&out));
            } else {
                print!("{}", out.report.to_human());
                println!(
                    "  warm sets: {}; ready file {}: {}",
                    out.sets.join(", "),
                    out.ready_file.display(),
                    if out.ready { "written" } else { "not written" }
                );
            }
            Ok(match (h.best_effort, out.report.outcome) {
                (true, _) | (false, Outcome::Warm) => exit::OK,
                (false, Outcome::Incomplete) => exit::INCOMPLETE,
                (false, Outcome::ProfileMismatch) => exit::PROFILE_MISMATCH,
                (false, Outcome::Stopped) => exit::STOPPED,
            })
        }
        Command::Verify(v) => {
            let cfg = load_config(&cli, &[])?;
            let engine = Engine::new(cfg)?;
            let report = engine.verify(&absolute(&v.dir)?)?;
            if cli.json {
                println!("{}", to_json(&report));
            } else {
                println!(
                    "{}: {:.1}% of {} packages from the build cache ({} compiled) in {:.1}s",
                    report.dir.display(),
                    report.hit_ratio * 100.0,
                    report.packages,
                    report.compiled.len(),
                    report.build_ms as f64 / 1000.0
                );
                for p in report.compiled.iter().take(30) {
                    println!("  compiled {p}");
                }
                if report.compiled.len() > 30 {
                    println!("  … {} more (see --json)", report.compiled.len() - 30);
                }
            }
            Ok(if report.hit_ratio + 1e-9 >= v.min_hit_ratio {
                exit::OK
            } else {
                exit::BELOW_RATIO
            })
        }
        Command::Manifest(ManifestCommand::Show { path }) => {
            let file = if path.is_dir() {
                path.join(gowarm::manifest::MANIFEST_FILE)
            } else {
                path.clone()
            };
            let summary = gowarm::Manifest::read(&file)?.summary();
            if cli.json {
                println!("{}", to_json(&summary));
            } else {
                print!("{}", describe_manifest(&file, &summary));
            }
            Ok(exit::OK)
        }
        Command::Serve(s) => {
            let cfg = load_config(&cli, &[])?;
            let token = match (&s.token_file, &s.token_env, s.no_auth) {
                (Some(p), _, _) => gowarm::serve::TokenSource::File(absolute(p)?),
                (None, Some(v), _) => gowarm::serve::TokenSource::Env(v.clone()),
                (None, None, true) => gowarm::serve::TokenSource::None,
                (None, None, false) => {
                    return Err(gowarm::Error::Config {
                        origin: "serve".into(),
                        message: "no token: pass --token-file PATH (a mounted Secret) or --token-env VAR, or --no-auth on a trusted network".into(),
                    })
                }
            };
            let engine = Engine::new(cfg)?;
            let summary = engine.serve(&gowarm::serve::ServeRequest {
                listen: s.listen,
                token,
                max_in_flight: s.max_in_flight.map(usize::from),
                idle_timeout: s.idle_timeout,
            })?;
            if cli.json {
                println!(
                    "{}",
                    serde_json::json!({
                        "requests": summary.requests,
                        "bytes": summary.bytes,
                        "errors": summary.errors,
                        "connections": summary.connections,
                        "cut_at_shutdown": summary.cut_at_shutdown,
                    })
                );
            } else {
                println!(
                    "served {} requests ({}), {} errors, {} connections; {} cut at shutdown",
                    summary.requests,
                    gowarm::report::human_bytes(summary.bytes),
                    summary.errors,
                    summary.connections,
                    summary.cut_at_shutdown
                );
            }
            Ok(exit::OK)
        }
        Command::Cacheprog { gocache, record } => {
            gowarm::record::serve_stdio(gocache, record.as_deref())?;
            Ok(exit::OK)
        }
        Command::Config(ConfigCommand::Show) => {
            let cfg = load_config(&cli, &[])?;
            if cli.json {
                println!("{}", to_json(&cfg));
            } else {
                print!("{}", cfg.to_toml());
            }
            Ok(exit::OK)
        }
    }
}

fn to_json<T: serde::Serialize>(v: &T) -> String {
    serde_json::to_string_pretty(v).unwrap_or_else(|e| format!("{{\"error\":\"{e}\"}}"))
}

fn describe_manifest(file: &std::path::Path, m: &gowarm::manifest::Summary) -> String {
    use gowarm::report::human_bytes;
    use std::fmt::Write as _;
    let mut s = String::new();
    let p = &m.profile;
    let _ = writeln!(
        s,
        "{} (written by {} at unix {})",
        file.display(),
        m.created_by,
        m.created_at
    );
    let _ = writeln!(
        s,
        "  profile: {} {}/{} cgo={} trimpath={} GOMODCACHE={} flags=[{}] GOEXPERIMENT={}",
        p.go_version,
        p.goos,
        p.goarch,
        p.cgo_enabled,
        p.trimpath,
        p.gomodcache.display(),
        p.build_flags.join(" "),
        p.goexperiment
    );
    let _ = writeln!(
        s,
        "  modules: {} ({} trees, {})",
        m.modules,
        m.module_trees,
        human_bytes(m.module_bytes)
    );
    let _ = writeln!(
        s,
        "  build cache: {} entries, {}",
        m.entries,
        human_bytes(m.entry_bytes)
    );
    let _ = writeln!(
        s,
        "  shared by more than one warm set: {} (stored once)",
        human_bytes(m.shared_bytes)
    );
    for set in &m.warm_sets {
        let _ = writeln!(
            s,
            "  warm set {}: {} targets, {} modules ({}), {} entries ({}), shared {}",
            set.name,
            set.targets.len(),
            set.modules,
            human_bytes(set.module_bytes),
            set.entries,
            human_bytes(set.entry_bytes),
            human_bytes(set.shared_bytes)
        );
        if !set.sdk_modules.is_empty() {
            let _ = writeln!(s, "    selected by: {}", set.sdk_modules.join(", "));
        }
        for t in &set.targets {
            let _ = writeln!(s, "    {} ({})", t.module, t.dir.display());
        }
    }
    s
}

fn describe_checkout(c: &gowarm::git::Checkout) -> String {
    let how = match c.fetch {
        gowarm::git::FetchKind::Clone => "cloned",
        gowarm::git::FetchKind::Fetch => "fetched",
        gowarm::git::FetchKind::Reused => "cached",
    };
    format!(
        "checkout {} at {} ({how}, {}, {:.2}s)\n",
        c.dir.display(),
        &c.commit[..c.commit.len().min(12)],
        gowarm::report::human_bytes(c.received_bytes),
        c.duration_ms as f64 / 1000.0
    )
}

fn describe_bake(r: &gowarm::BakeReport) -> String {
    use gowarm::report::human_bytes;
    use std::fmt::Write as _;
    let mut s = String::new();
    let verdict = if r.up_to_date { "up to date" } else { "baked" };
    let _ = writeln!(
        s,
        "{verdict}: {} in {:.1}s: {} modules ({}), {} build-cache entries ({}); {} modules fetched",
        r.out.display(),
        r.duration_ms as f64 / 1000.0,
        r.modules,
        human_bytes(r.module_bytes),
        r.entries,
        human_bytes(r.entry_bytes),
        r.modules_fetched
    );
    for set in &r.sets {
        let action = match set.action {
            SetAction::Built => "built",
            SetAction::Kept => "kept",
            SetAction::Dropped => "dropped",
        };
        let _ = write!(
            s,
            "  {action} {} ({}): {} targets, {} modules, {} entries",
            set.name,
            set.reason,
            set.targets.len(),
            set.modules,
            set.entries
        );
        if set.action == SetAction::Built {
            let _ = write!(
                s,
                ", {} packages compiled, builds {:.1}s",
                set.compiled,
                set.build_ms as f64 / 1000.0
            );
        }
        if let Some(v) = &set.verify {
            let _ = write!(
                s,
                "; verify {:.1}% of {} packages",
                v.hit_ratio * 100.0,
                v.packages
            );
        }
        s.push('\n');
    }
    s
}

fn describe_plan(plan: &Plan) -> String {
    use std::fmt::Write as _;
    let mut s = String::new();
    let cold: Vec<_> = plan.cold_modules().collect();
    let trees = plan.analysis.trees().count();
    let what = if plan.analysis.module.is_empty() {
        format!("warm sets {}", plan.entries.sets.join(", "))
    } else {
        format!("{} ({})", plan.analysis.module, plan.analysis.dir.display())
    };
    let _ = writeln!(
        s,
        "{what}: {} modules needed ({} with packages), {} cold",
        plan.modules.len(),
        trees,
        cold.len()
    );
    let _ = writeln!(s, "  GOMODCACHE {}", plan.gomodcache.display());
    let _ = writeln!(s, "  GOCACHE    {}", plan.gocache.display());
    for m in &cold {
        let what = match (m.tree_cold, m.gomod_cold) {
            (true, _) => "tree",
            (false, true) => ".mod",
            _ => "",
        };
        let _ = writeln!(
            s,
            "  cold {what:4} {}  <- {}",
            m.module(),
            m.source.as_deref().unwrap_or("no source has it")
        );
    }
    let e = &plan.entries;
    match &e.source {
        Some(src) => {
            let _ = writeln!(
                s,
                "  build cache: {} of {} entries offered by {src} are cold ({})",
                e.cold.len(),
                e.offered,
                gowarm::report::human_bytes(e.cold_bytes)
            );
            if !e.sets.is_empty() {
                let _ = writeln!(s, "  warm sets: {} ({})", e.sets.join(", "), e.sets_reason);
            }
        }
        None => {
            let _ = writeln!(
                s,
                "  build cache: no trusted source with a manifest offers entries"
            );
        }
    }
    for d in &e.diffs {
        let _ = writeln!(s, "  profile {:?}: {d}", d.severity);
    }
    if let Some(why) = &e.skipped {
        let _ = writeln!(s, "  build cache will be skipped: {why}");
    }
    for w in &plan.warnings {
        let _ = writeln!(s, "  warning: {w}");
    }
    let _ = writeln!(s, "{}", if plan.is_warm() { "warm" } else { "cold" });
    s
}
