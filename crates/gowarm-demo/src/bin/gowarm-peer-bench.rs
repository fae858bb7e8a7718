//! `gowarm-peer-bench`: warming a pod from sibling pods (`gowarm serve` and the `peer`
//! source) on real SDK code (Debian's aws-sdk-go, the testkit's `aws` warm set), all measured
//! in one run and printed as one markdown table:
//!
//! - the `aws` set is baked once (`-trimpath`); pods A and B are warmed from the baked
//!   directory by `gowarm hook --set aws`, and each serves its caches with `gowarm serve` on a
//!   loopback port, with a token file;
//! - then, `--runs N` times, each row in a new empty pod, rows rotated from run to run, each
//!   followed by a timed `sync`: `gowarm warm --set aws` from one peer (A), from two peers
//!   (A, B), a `tar c | tar x` of pod A's GOMODCACHE and GOCACHE into the pod, plain
//!   `go mod download` of an aws program's modules from the corpus's file:// proxy, and the
//!   same from peer A's GOPROXY endpoint (`/auth/<token>/mod`);
//! - peak RSS of each `gowarm serve` (VmHWM after the runs) and of each client `gowarm warm`
//!   (`/usr/bin/time -v`, "Maximum resident set size");
//! - an offline `go build -x` of the aws programs in the peer-warmed pods must compile 0
//!   packages, so the warm measured is a complete one.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitCode, Stdio};
use std::time::{Duration, Instant};

use clap::Parser;
use gowarm::config::{Config, SourceConfig};
use gowarm::record::CacheProg;
use gowarm::report::human_bytes;
use gowarm::{BakeRequest, Engine, SetRequest};
use gowarm_testkit::{
    cached_corpus, go_binary, go_build, make_tree_writable, write_warm_set_programs, GoDirs, GoEnv,
    ProxyDir, TempGoDirs,
};

/// Peer warm timings on the Debian SDK corpus (the aws warm set).
#[derive(Debug, Parser)]
#[command(name = "gowarm-peer-bench")]
struct Args {
    /// The `gowarm` binary to run as server, hook and client (a release build).
    #[arg(long)]
    gowarm: PathBuf,
    /// Working directory (default: `$TMPDIR/gowarm-peer-bench`); emptied first. Keep it
    /// outside any git checkout (Go stamps the checkout's state into main packages).
    #[arg(long)]
    work: Option<PathBuf>,
    /// Repeat the measured rows this many times (medians).
    #[arg(long, default_value_t = 3)]
    runs: usize,
}

type Res<T> = Result<T, Box<dyn std::error::Error>>;

const TRIM: &str = "-trimpath";
const TOKEN: &str = "peer-bench-token";
const TIME: &str = "/usr/bin/time";

fn main() -> ExitCode {
    // The bake runs `go` with this program as its GOCACHEPROG recorder.
    if let Some(code) = gowarm::record::cacheprog_main_if_invoked() {
        return code;
    }
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| "gowarm=warn".into()),
        )
        .with_writer(std::io::stderr)
        .init();
    match run(Args::parse()) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("gowarm-peer-bench: {e}");
            ExitCode::FAILURE
        }
    }
}

fn step(msg: &str) {
    eprintln!("==> {msg}");
}

fn secs(d: Duration) -> String {
    format!("{:.2} s", d.as_secs_f64())
}

fn ratio(a: Duration, b: Duration) -> f64 {
    a.as_secs_f64() / b.as_secs_f64().max(1e-9)
}

fn median<T: Ord + Copy + Default>(mut v: Vec<T>) -> T {
    v.sort();
    v.get(v.len() / 2).copied().unwrap_or_default()
}

fn mib(kib: u64) -> String {
    format!("{:.1} MiB", kib as f64 / 1024.0)
}

fn empty(dir: &Path) -> Res<()> {
    if dir.exists() {
        make_tree_writable(dir);
        std::fs::remove_dir_all(dir).map_err(|e| format!("removing {}: {e}", dir.display()))?;
    }
    Ok(())
}

/// Flushes dirty pages to disk (`sync`), timed.
fn sync() -> Res<Duration> {
    let t = Instant::now();
    let status = Command::new("sync").status()?;
    if !status.success() {
        return Err(format!("sync failed: {status}").into());
    }
    Ok(t.elapsed())
}

/// Bytes of the regular files under `root` (symlinks not followed).
fn tree_bytes(root: &Path) -> u64 {
    let Ok(rd) = std::fs::read_dir(root) else {
        return 0;
    };
    rd.flatten()
        .map(|e| match e.file_type() {
            Ok(t) if t.is_dir() => tree_bytes(&e.path()),
            Ok(t) if t.is_file() => e.metadata().map(|m| m.len()).unwrap_or(0),
            _ => 0,
        })
        .sum()
}

fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

/// The number after `"key":` at or after `from` in a JSON text, and where it ended.
fn json_u64(json: &str, from: usize, key: &str) -> Option<(u64, usize)> {
    let needle = format!("\"{key}\"");
    let at = from + json.get(from..)?.find(&needle)? + needle.len();
    let rest = json.get(at..)?.trim_start().strip_prefix(':')?.trim_start();
    let digits: String = rest.chars().take_while(char::is_ascii_digit).collect();
    let end = json.len() - rest.len() + digits.len();
    digits.parse().ok().map(|n| (n, end))
}

/// The string after `"key":` in a JSON text.
fn json_str<'j>(json: &'j str, key: &str) -> Option<&'j str> {
    let needle = format!("\"{key}\"");
    let at = json.find(&needle)? + needle.len();
    let rest = json.get(at..)?.trim_start().strip_prefix(':')?.trim_start();
    let rest = rest.strip_prefix('"')?;
    rest.get(..rest.find('"')?)
}

/// What a `gowarm warm --json` Report says, as far as the table needs it.
#[derive(Debug, Clone, Copy, Default)]
struct WarmCounts {
    modules: u64,
    entries: u64,
    bytes: u64,
    plan_ms: u64,
}

fn warm_counts(json: &str) -> Res<WarmCounts> {
    let bad = || format!("unexpected gowarm warm report: {json}");
    if json_str(json, "outcome") != Some("warm") {
        return Err(format!("the peer warm did not end warm:\n{json}").into());
    }
    let modules_at = json.find("\"modules\"").ok_or_else(bad)?;
    let (modules, _) = json_u64(json, modules_at, "installed").ok_or_else(bad)?;
    let entries_at = json.find("\"entries\"").ok_or_else(bad)?;
    let (entries, _) = json_u64(json, entries_at, "installed").ok_or_else(bad)?;
    let (bytes, _) = json_u64(json, 0, "bytes_installed").ok_or_else(bad)?;
    let (plan_ms, _) = json_u64(json, 0, "plan_ms").ok_or_else(bad)?;
    Ok(WarmCounts {
        modules,
        entries,
        bytes,
        plan_ms,
    })
}

/// "Maximum resident set size (kbytes): N" from `/usr/bin/time -v`.
fn time_v_max_rss_kib(stderr: &str) -> Option<u64> {
    stderr
        .lines()
        .find_map(|l| l.trim().strip_prefix("Maximum resident set size (kbytes):"))
        .and_then(|v| v.trim().parse().ok())
}

/// VmHWM (peak resident set) of a live process, in KiB.
fn vm_hwm_kib(pid: u32) -> Option<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
}

/// A `gowarm` command with only the pod's Go environment (as a pod's container has).
fn gowarm_cmd(gowarm: &Path, env: &GoEnv, args: &[&str]) -> Command {
    let mut cmd = Command::new(gowarm);
    cmd.env_clear().envs(env.vars());
    cmd.env("GOWARM_GO", go_binary()).args(args);
    cmd
}

fn engine(env: &GoEnv, sources: &[String]) -> Res<Engine> {
    let mut cfg = Config::default();
    cfg.go.binary = go_binary();
    cfg.go.env.extend(env.vars());
    cfg.sources = sources
        .iter()
        .map(|s| SourceConfig::parse_spec(s))
        .collect::<Result<_, _>>()?;
    Ok(Engine::new(cfg)?)
}

/// `GET path` on loopback; the status code (0 when nothing answered).
fn get_status(port: u16, path: &str) -> u16 {
    let Ok(mut s) = TcpStream::connect(("127.0.0.1", port)) else {
        return 0;
    };
    let req = format!("GET {path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n");
    if s.write_all(req.as_bytes()).is_err() {
        return 0;
    }
    let mut buf = Vec::new();
    let _ = s.read_to_end(&mut buf);
    text(&buf)
        .split_whitespace()
        .nth(1)
        .and_then(|c| c.parse().ok())
        .unwrap_or(0)
}

/// A `gowarm serve` process serving one pod's caches; SIGTERM on [`Server::stop`].
struct Server {
    child: Option<Child>,
    port: u16,
    log: PathBuf,
}

impl Server {
    fn start(gowarm: &Path, env: &GoEnv, token_file: &Path, log: PathBuf) -> Res<Server> {
        let port = std::net::TcpListener::bind("127.0.0.1:0")?
            .local_addr()?
            .port();
        let listen = format!("127.0.0.1:{port}");
        let token = token_file.to_str().ok_or("token file path is not UTF-8")?;
        let out = std::fs::File::create(&log)?;
        let err = out.try_clone()?;
        let child = gowarm_cmd(
            gowarm,
            env,
            &["serve", "--listen", &listen, "--token-file", token],
        )
        .stdout(Stdio::from(out))
        .stderr(Stdio::from(err))
        .spawn()
        .map_err(|e| format!("starting {} serve: {e}", gowarm.display()))?;
        let mut server = Server {
            child: Some(child),
            port,
            log,
        };
        let t0 = Instant::now();
        while get_status(port, "/healthz") != 200 {
            if let Some(c) = server.child.as_mut() {
                if let Ok(Some(status)) = c.try_wait() {
                    return Err(format!(
                        "gowarm serve exited ({status}): {}",
                        std::fs::read_to_string(&server.log).unwrap_or_default()
                    )
                    .into());
                }
            }
            if t0.elapsed() > Duration::from_secs(20) {
                return Err(format!("gowarm serve on port {port} did not come up").into());
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        Ok(server)
    }

    fn url(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    fn pid(&self) -> Option<u32> {
        self.child.as_ref().map(Child::id)
    }

    /// SIGTERM to this server's pid, then its exit status and what it printed.
    fn stop(mut self) -> Res<String> {
        let Some(mut child) = self.child.take() else {
            return Ok(String::new());
        };
        let status = Command::new("kill")
            .args(["-TERM", &child.id().to_string()])
            .status()?;
        if !status.success() {
            return Err(format!("kill -TERM {} failed", child.id()).into());
        }
        let status = child.wait()?;
        let printed = std::fs::read_to_string(&self.log).unwrap_or_default();
        if !status.success() {
            return Err(format!("gowarm serve exited with {status}: {printed}").into());
        }
        Ok(printed)
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

/// One measured row of one run.
#[derive(Debug, Clone, Copy, Default)]
struct Sample {
    time: Duration,
    sync: Duration,
    bytes: u64,
    /// Peak RSS of the client process (KiB), where measured.
    rss_kib: Option<u64>,
    /// Peers whose Manifest the client did not merge ("another BuildProfile").
    unmerged: usize,
    counts: Option<WarmCounts>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Row {
    OnePeer,
    OnePeerJobs8,
    TwoPeers,
    LocalDir,
    Tar,
    ModDownloadProxy,
    ModDownloadPeer,
}

const ROWS: [Row; 7] = [
    Row::OnePeer,
    Row::OnePeerJobs8,
    Row::TwoPeers,
    Row::LocalDir,
    Row::Tar,
    Row::ModDownloadProxy,
    Row::ModDownloadPeer,
];

struct Bench {
    gowarm: PathBuf,
    root: PathBuf,
    next: usize,
    pod_a: GoDirs,
    one_peer_config: PathBuf,
    two_peer_config: PathBuf,
    proxy_url: String,
    warm_dir: PathBuf,
    peer_goproxy: String,
    aws_program: PathBuf,
}

impl Bench {
    /// A new, empty pod (never a reused or deleted directory; docs/benchmarks.md).
    fn fresh_pod(&mut self, what: &str) -> GoDirs {
        self.next += 1;
        GoDirs::under(&self.root.join("envs").join(format!("{}-{what}", self.next)))
    }

    /// `gowarm --config <config> warm --set aws --json` in a new pod, under `time -v`.
    fn peer_warm(&mut self, config: &Path, what: &str) -> Res<(GoDirs, Sample)> {
        let config = config.to_str().ok_or("config path is not UTF-8")?;
        self.gowarm_warm(&["--config", config], what)
    }

    /// `gowarm warm --set aws --json <extra>` in a new pod, under `time -v`.
    fn gowarm_warm(&mut self, extra: &[&str], what: &str) -> Res<(GoDirs, Sample)> {
        let pod = self.fresh_pod(what);
        let env = GoEnv::new(&pod).goflags(TRIM);
        let gowarm = self.gowarm.to_str().ok_or("gowarm path is not UTF-8")?;
        let mut args = vec!["-v", gowarm, "--quiet", "warm", "--set", "aws", "--json"];
        args.extend_from_slice(extra);
        let mut cmd = gowarm_cmd(Path::new(TIME), &env, &args);
        // Info logs show whether a peer's Manifest was left out of the merge.
        cmd.env("RUST_LOG", "gowarm=info");
        cmd.current_dir(&self.root);
        let t = Instant::now();
        let out = cmd.output()?;
        let time = t.elapsed();
        let sync = sync()?;
        let stdout = text(&out.stdout);
        let stderr = text(&out.stderr);
        if !out.status.success() {
            return Err(format!(
                "gowarm warm ({what}) failed: {}\n{stdout}{stderr}",
                out.status
            )
            .into());
        }
        let counts = warm_counts(&stdout)?;
        Ok((
            pod,
            Sample {
                time,
                sync,
                bytes: counts.bytes,
                rss_kib: time_v_max_rss_kib(&stderr),
                unmerged: stderr
                    .lines()
                    .filter(|l| l.contains("another BuildProfile"))
                    .count(),
                counts: Some(counts),
            },
        ))
    }

    /// `tar -C A -c gomodcache gocache | tar -C pod -x`: pod A's caches into a new pod.
    fn tar(&mut self) -> Res<(GoDirs, Sample)> {
        let pod = self.fresh_pod("tar");
        let root = pod.gocache.parent().ok_or("pod has no root")?.to_path_buf();
        std::fs::create_dir_all(&root)?;
        let src = self.pod_a.gocache.parent().ok_or("pod A has no root")?;
        let t = Instant::now();
        let status = Command::new("bash")
            .args([
                "-o",
                "pipefail",
                "-c",
                "tar -C \"$1\" -c gomodcache gocache | tar -C \"$2\" -x",
                "tar",
            ])
            .arg(src)
            .arg(&root)
            .status()?;
        let time = t.elapsed();
        let sync = sync()?;
        if !status.success() {
            return Err(format!("tar copy of pod A failed: {status}").into());
        }
        let bytes = tree_bytes(&pod.gomodcache) + tree_bytes(&pod.gocache);
        Ok((
            pod,
            Sample {
                time,
                sync,
                bytes,
                rss_kib: None,
                unmerged: 0,
                counts: None,
            },
        ))
    }

    /// Plain `go mod download` of the aws program's modules into a new pod's empty
    /// GOMODCACHE, from `goproxy`.
    fn mod_download(&mut self, goproxy: &str, what: &str) -> Res<(GoDirs, Sample)> {
        let pod = self.fresh_pod(what);
        let env = GoEnv::new(&pod).goproxy(goproxy).goflags("-mod=mod");
        let mut cmd = env.command(["mod", "download"]);
        cmd.current_dir(&self.aws_program);
        let t = Instant::now();
        let out = cmd.output()?;
        let time = t.elapsed();
        let sync = sync()?;
        if !out.status.success() {
            return Err(format!("go mod download ({what}) failed: {}", text(&out.stderr)).into());
        }
        let bytes = tree_bytes(&pod.gomodcache);
        Ok((
            pod,
            Sample {
                time,
                sync,
                bytes,
                rss_kib: None,
                unmerged: 0,
                counts: None,
            },
        ))
    }
}

/// Deletes a measured pod, then `sync`s.
fn discard(pod: &GoDirs) -> Res<()> {
    if let Some(root) = pod.gocache.parent() {
        empty(root)?;
    }
    sync()?;
    Ok(())
}

/// `go build -x` offline in a warmed pod; the compile count.
fn offline_build(pod: &GoDirs, program: &Path, bin: &Path) -> Res<(usize, Duration)> {
    let run = go_build(
        program,
        &GoEnv::new(pod).goflags("-trimpath -mod=readonly"),
        bin,
    )?;
    Ok((run.compiles, run.elapsed))
}

fn run(args: Args) -> Res<()> {
    let gowarm = std::fs::canonicalize(&args.gowarm)
        .map_err(|e| format!("the gowarm binary {}: {e}", args.gowarm.display()))?;
    if !Path::new(TIME).is_file() {
        return Err(
            format!("{TIME} is needed for the client's peak RSS (apt-get install time)").into(),
        );
    }
    let work_dir = args
        .work
        .unwrap_or_else(|| std::env::temp_dir().join("gowarm-peer-bench"));
    empty(&work_dir)?;
    std::fs::create_dir_all(&work_dir)?;
    let work_dir = std::fs::canonicalize(&work_dir)?;
    let exe = std::env::current_exe().map_err(|e| format!("locating gowarm-peer-bench: {e}"))?;

    step("Debian corpus proxy and the aws warm-set programs (go mod tidy)");
    let corpus = cached_corpus()?;
    let proxy_url = ProxyDir::new(corpus.cached_proxy())?.url();
    let sets = {
        let tidy = TempGoDirs::new()?;
        write_warm_set_programs(&work_dir.join("src"), &corpus, &proxy_url, &tidy)?
    };
    let aws = sets
        .iter()
        .find(|s| s.set == "aws")
        .ok_or("no aws warm set")?;
    let aws_program = aws
        .dirs
        .first()
        .ok_or("the aws set has no program")?
        .clone();

    step("bake of the aws set (-trimpath) on a new runner");
    let warm = work_dir.join("warm");
    let bake_dirs = GoDirs::under(&work_dir.join("envs/0-bake"));
    let bake_time = {
        let eng = engine(
            &GoEnv::new(&bake_dirs).goflags(TRIM),
            std::slice::from_ref(&proxy_url),
        )?;
        let req = BakeRequest::new(
            vec![SetRequest::new(aws.set, aws.dirs.clone())],
            &warm,
            CacheProg::new(exe, &["cacheprog"]),
        );
        let t = Instant::now();
        let report = eng.bake(&req, None)?;
        for s in &report.sets {
            if let Some(v) = &s.verify {
                if v.hit_ratio < 1.0 {
                    return Err(format!(
                        "bake: set {} verified at {:.1}%",
                        s.name,
                        v.hit_ratio * 100.0
                    )
                    .into());
                }
            }
        }
        t.elapsed()
    };
    sync()?;

    let token_file = work_dir.join("token");
    std::fs::write(&token_file, format!("{TOKEN}\n"))?;
    let mut pods = Vec::new();
    for name in ["A", "B"] {
        step(&format!(
            "pod {name}: gowarm hook --set aws from the baked directory"
        ));
        let pod = GoDirs::under(&work_dir.join(format!("envs/0-pod-{name}")));
        let env = GoEnv::new(&pod).goflags(TRIM);
        let ready = work_dir.join(format!("ready-{name}.json"));
        let from = format!("dir:{}", warm.display());
        let ready_arg = ready.to_str().ok_or("work path is not UTF-8")?;
        let out = gowarm_cmd(
            &gowarm,
            &env,
            &[
                "--quiet",
                "hook",
                "--set",
                "aws",
                "--from",
                &from,
                "--ready-file",
                ready_arg,
            ],
        )
        .output()?;
        if !out.status.success() {
            return Err(format!(
                "gowarm hook for pod {name} failed: {}\n{}{}",
                out.status,
                text(&out.stdout),
                text(&out.stderr)
            )
            .into());
        }
        pods.push((pod, env));
    }
    sync()?;
    let [(pod_a, env_a), (_, env_b)] = <[_; 2]>::try_from(pods).map_err(|_| "two pods")?;

    step("gowarm serve for pod A and pod B on loopback, with a token file");
    let server_a = Server::start(&gowarm, &env_a, &token_file, work_dir.join("serve-a.log"))?;
    let server_b = Server::start(&gowarm, &env_b, &token_file, work_dir.join("serve-b.log"))?;
    let peer_config = |path: PathBuf, peers: &[String]| -> Res<PathBuf> {
        let list = peers
            .iter()
            .map(|p| format!("\"{p}\""))
            .collect::<Vec<_>>()
            .join(", ");
        std::fs::write(
            &path,
            format!(
                "[[source]]\nkind = \"peer\"\npeers = [{list}]\ntoken_file = \"{}\"\ntrusted = true\ntimeout_secs = 30\n",
                token_file.display()
            ),
        )?;
        Ok(path)
    };
    let one_peer_config = peer_config(work_dir.join("one-peer.toml"), &[server_a.url()])?;
    let two_peer_config = peer_config(
        work_dir.join("two-peers.toml"),
        &[server_a.url(), server_b.url()],
    )?;
    let mut bench = Bench {
        gowarm: gowarm.clone(),
        root: work_dir.clone(),
        next: 0,
        pod_a: pod_a.clone(),
        one_peer_config,
        two_peer_config,
        proxy_url: proxy_url.clone(),
        warm_dir: warm.clone(),
        peer_goproxy: gowarm_peer_goproxy(&server_a.url()),
        aws_program: aws_program.clone(),
    };

    // A pod warmed by gowarm holds module trees, no zips: a server builds each `.zip` from
    // its tree at the first request (and keeps it). The first warm from each server pays
    // for that; it is its own row, and the measured runs below see built zips.
    step("first warm from peer A alone, then from peer B alone (servers build module zips)");
    let (pod, first_a) = bench.peer_warm(&bench.one_peer_config.clone(), "first-a")?;
    discard(&pod)?;
    let b_only_config = peer_config(work_dir.join("b-only.toml"), &[server_b.url()])?;
    let (pod, first_b) = bench.peer_warm(&b_only_config, "first-b")?;
    discard(&pod)?;

    let runs = args.runs.max(1);
    let mut samples: Vec<Vec<Sample>> = vec![Vec::new(); ROWS.len()];
    let mut builds = Vec::new();
    for i in 0..runs {
        for k in 0..ROWS.len() {
            // Rotate the order so no row always runs first (or right after another).
            let idx = (i + k) % ROWS.len();
            let row = ROWS[idx];
            step(&format!("run {}/{runs}: {row:?}", i + 1));
            sync()?;
            let (pod, sample) = match row {
                Row::OnePeer => {
                    let cfg = bench.one_peer_config.clone();
                    bench.peer_warm(&cfg, "one-peer")?
                }
                Row::TwoPeers => {
                    let cfg = bench.two_peer_config.clone();
                    bench.peer_warm(&cfg, "two-peers")?
                }
                Row::OnePeerJobs8 => {
                    let cfg = bench.one_peer_config.clone();
                    let cfg = cfg.to_str().ok_or("config path is not UTF-8")?;
                    bench.gowarm_warm(&["--config", cfg, "--jobs", "8"], "one-peer-j8")?
                }
                Row::LocalDir => {
                    let from = format!("dir:{}", bench.warm_dir.display());
                    bench.gowarm_warm(&["--from", &from], "dir")?
                }
                Row::Tar => bench.tar()?,
                Row::ModDownloadProxy => {
                    let url = bench.proxy_url.clone();
                    bench.mod_download(&url, "moddl-proxy")?
                }
                Row::ModDownloadPeer => {
                    let url = bench.peer_goproxy.clone();
                    bench.mod_download(&url, "moddl-peer")?
                }
            };
            samples[idx].push(sample);
            // The last run's peer-warmed pods must build offline with 0 compiles.
            let what = match row {
                Row::OnePeer => Some("one-peer pod"),
                Row::TwoPeers => Some("two-peer pod"),
                _ => None,
            };
            if let (Some(what), true) = (what, i + 1 == runs) {
                for dir in &aws.dirs {
                    let name = dir
                        .file_name()
                        .map(|n| n.to_string_lossy().into_owned())
                        .unwrap_or_default();
                    let (compiles, elapsed) =
                        offline_build(&pod, dir, &work_dir.join(format!("bin/{name}")))?;
                    builds.push((format!("{name} in the {what}"), compiles, elapsed));
                }
            }
            // Every pod is deleted after its row (the disk would not hold them all), and
            // synced, so each row starts in the same state: right after a deletion.
            discard(&pod)?;
        }
    }
    let hwm_a = server_a.pid().and_then(vm_hwm_kib);
    let hwm_b = server_b.pid().and_then(vm_hwm_kib);

    let served_a = server_a.stop()?;
    let served_b = server_b.stop()?;

    // Per row: median time and sync, the last run's bytes and counts, the largest RSS.
    let med = |row: Row| -> Res<Sample> {
        let idx = ROWS.iter().position(|r| *r == row).ok_or("row")?;
        let v = &samples[idx];
        Ok(Sample {
            time: median(v.iter().map(|s| s.time).collect()),
            sync: median(v.iter().map(|s| s.sync).collect()),
            bytes: v.last().map(|s| s.bytes).unwrap_or(0),
            rss_kib: v.iter().filter_map(|s| s.rss_kib).max(),
            unmerged: v.iter().map(|s| s.unmerged).max().unwrap_or(0),
            counts: v.last().and_then(|s| s.counts),
        })
    };
    let one = med(Row::OnePeer)?;
    let two = med(Row::TwoPeers)?;
    let tar = med(Row::Tar)?;
    let j8 = med(Row::OnePeerJobs8)?;
    let dir = med(Row::LocalDir)?;
    let dlp = med(Row::ModDownloadProxy)?;
    let dlg = med(Row::ModDownloadPeer)?;
    let (one_t, one_s, one_b, one_rss, one_c) =
        (one.time, one.sync, one.bytes, one.rss_kib, one.counts);
    let (two_t, two_s, two_b, two_rss, two_c) =
        (two.time, two.sync, two.bytes, two.rss_kib, two.counts);
    let (tar_t, tar_s, tar_b) = (tar.time, tar.sync, tar.bytes);
    let (dlp_t, dlp_s, dlp_b) = (dlp.time, dlp.sync, dlp.bytes);
    let (dlg_t, dlg_s, dlg_b) = (dlg.time, dlg.sync, dlg.bytes);
    let counts = |c: Option<WarmCounts>| {
        c.map(|c| {
            format!(
                "{} modules, {} entries; plan {} ms (last run)",
                c.modules, c.entries, c.plan_ms
            )
        })
        .unwrap_or_default()
    };
    let rss = |k: Option<u64>| k.map(mib).unwrap_or_else(|| "n/a".into());
    let aws_name = aws_program
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();

    println!();
    println!(
        "gowarm peer warm of the aws warm set (Debian aws-sdk-go, 2 programs, -trimpath) over loopback; bake {}; median of {runs} runs, rows rotated",
        secs(bake_time)
    );
    println!("| step | time | bytes | vs tar | peak RSS | detail |");
    println!("| --- | ---: | ---: | ---: | ---: | --- |");
    println!(
        "| gowarm warm --set aws from one peer (A) | {} (+ sync {}) | {} | {:.2} | client {} | {} |",
        secs(one_t),
        secs(one_s),
        human_bytes(one_b),
        ratio(one_t, tar_t),
        rss(one_rss),
        counts(one_c)
    );
    for (what, first) in [("A", &first_a), ("B", &first_b)] {
        println!(
            "| first gowarm warm --set aws from peer {what} after it started (it builds module zips) | {} (+ sync {}) | {} | {:.2} | client {} | once, not in the median |",
            secs(first.time),
            secs(first.sync),
            human_bytes(first.bytes),
            ratio(first.time, tar_t),
            rss(first.rss_kib)
        );
    }
    println!(
        "| gowarm warm --set aws from two peers (A, B) | {} (+ sync {}) | {} | {:.2} | client {} | {} |",
        secs(two_t),
        secs(two_s),
        human_bytes(two_b),
        ratio(two_t, tar_t),
        rss(two_rss),
        counts(two_c)
    );
    for (what, s) in [
        ("from one peer (A), --jobs 8", &j8),
        ("from the baked directory (dir:, no peer)", &dir),
    ] {
        println!(
            "| gowarm warm --set aws {what} | {} (+ sync {}) | {} | {:.2} | client {} | {} |",
            secs(s.time),
            secs(s.sync),
            human_bytes(s.bytes),
            ratio(s.time, tar_t),
            rss(s.rss_kib),
            counts(s.counts)
        );
    }
    println!(
        "| tar c \\| tar x of pod A's GOMODCACHE + GOCACHE | {} (+ sync {}) | {} | 1.00 | | unverified copy |",
        secs(tar_t),
        secs(tar_s),
        human_bytes(tar_b)
    );
    println!(
        "| go mod download ({aws_name}) from the file:// corpus proxy | {} (+ sync {}) | {} | {:.2} | | modules only, no build cache |",
        secs(dlp_t),
        secs(dlp_s),
        human_bytes(dlp_b),
        ratio(dlp_t, tar_t)
    );
    println!(
        "| go mod download ({aws_name}) from peer A (GOPROXY=…/auth/<token>/mod) | {} (+ sync {}) | {} | {:.2} | | modules only, no build cache |",
        secs(dlg_t),
        secs(dlg_s),
        human_bytes(dlg_b),
        ratio(dlg_t, tar_t)
    );
    println!(
        "| gowarm serve, pod A (VmHWM after all runs) | | | | {} | |",
        rss(hwm_a)
    );
    println!(
        "| gowarm serve, pod B (VmHWM after all runs) | | | | {} | |",
        rss(hwm_b)
    );
    for (what, compiles, elapsed) in &builds {
        println!(
            "| go build -x {what}, offline | {} | | | | {compiles} compiles |",
            secs(*elapsed)
        );
    }
    println!();
    let goal = 1.2;
    let rss_goal_kib = 64 * 1024;
    let met = |ok: bool| if ok { "met" } else { "NOT met" };
    let worst_peer = ratio(one_t, tar_t).max(ratio(two_t, tar_t));
    let fastest = |row: Row| {
        ROWS.iter()
            .position(|r| *r == row)
            .and_then(|i| samples[i].iter().map(|s| s.time).min())
            .unwrap_or_default()
    };
    println!(
        "goal peer warm <= 1.2 x tar (medians, zips built): one peer {:.2}, two peers {:.2} — {}",
        ratio(one_t, tar_t),
        ratio(two_t, tar_t),
        met(worst_peer <= goal)
    );
    println!(
        "fastest runs: one peer {}, two peers {}, tar {}: peer / tar {:.2} and {:.2}",
        secs(fastest(Row::OnePeer)),
        secs(fastest(Row::TwoPeers)),
        secs(fastest(Row::Tar)),
        ratio(fastest(Row::OnePeer), fastest(Row::Tar)),
        ratio(fastest(Row::TwoPeers), fastest(Row::Tar))
    );
    let rss_all = [
        one_rss,
        two_rss,
        first_a.rss_kib,
        first_b.rss_kib,
        j8.rss_kib,
        hwm_a,
        hwm_b,
    ];
    let worst_rss = rss_all.iter().flatten().max().copied().unwrap_or(0);
    println!(
        "goal RSS <= 64 MB: client max {}, servers {} / {} — {}",
        rss(rss_all[..5].iter().flatten().max().copied()),
        rss(hwm_a),
        rss(hwm_b),
        met(rss_all.iter().all(Option::is_some) && worst_rss <= rss_goal_kib)
    );
    println!("(client RSS: /usr/bin/time -v Maximum resident set size, max over runs; server RSS: VmHWM from /proc/<pid>/status)");
    println!(
        "two-peer warms: {} client log lines \"its caches were built under another BuildProfile; not merging its manifest\" per warm (at most, over the runs; 0 = both peers merged)",
        two.unmerged
    );
    for (row, v) in ROWS.iter().zip(&samples) {
        let times: Vec<String> = v.iter().map(|s| secs(s.time)).collect();
        println!("runs {row:?}: {}", times.join(", "));
    }
    for (name, printed) in [("A", served_a), ("B", served_b)] {
        if let Some(line) = printed.lines().rev().find(|l| l.contains("served")) {
            println!("server {name}: {}", line.trim());
        }
    }
    if builds.iter().any(|(_, c, _)| *c != 0) {
        return Err(
            "a program compiled packages after the peer warm: the warm was not complete".into(),
        );
    }
    step(&format!(
        "removing the pods (results stay in {})",
        work_dir.display()
    ));
    empty(&work_dir.join("envs"))?;
    Ok(())
}

fn gowarm_peer_goproxy(base: &str) -> String {
    format!("{}/auth/{TOKEN}/mod", base.trim_end_matches('/'))
}
