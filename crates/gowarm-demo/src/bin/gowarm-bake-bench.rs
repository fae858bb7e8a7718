//! `gowarm-bake-bench`: bake and warm-set timings on real SDK code (Debian's aws-sdk-go,
//! Google API client and godo sources, the testkit's `aws`, `google` and `digitalocean`
//! warm-set programs), all measured in one run and printed as one markdown table:
//!
//! - full bake of the three sets in a cold bake environment (a new CI runner);
//! - no-op re-bake of the same sets into the same output, on another new runner;
//! - bake after adding one set: `aws` + `digitalocean` baked into a second output, then
//!   `aws` + `digitalocean` + `google` into it on a new runner (the second bake is timed);
//! - warm of the `digitalocean` set alone vs warm of all three sets, from the same baked
//!   directory into new pods (time, `sync` writeback, bytes), alternating, medians;
//! - `Engine::verify` (what `gowarm verify` runs) on one program of each warmed pod.
//!
//! Every bake and warm uses `-trimpath`, so bake environments and pods live at any path.

use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::{Duration, Instant};

use clap::Parser;
use gowarm::bake::SetAction;
use gowarm::config::{Config, SourceConfig};
use gowarm::manifest::MANIFEST_FILE;
use gowarm::record::CacheProg;
use gowarm::report::human_bytes;
use gowarm::{BakeReport, BakeRequest, Engine, Manifest, Outcome, Report, SetRequest};
use gowarm_testkit::{
    cached_corpus, go_binary, go_build, make_tree_writable, write_warm_set_programs, GoDirs, GoEnv,
    ProxyDir, TempGoDirs, WrittenWarmSet,
};

/// Bake and warm-set timings on the Debian SDK corpus.
#[derive(Debug, Parser)]
#[command(name = "gowarm-bake-bench")]
struct Args {
    /// Working directory (default: `$TMPDIR/gowarm-bake-bench`); emptied first. Keep it
    /// outside any git checkout: Go stamps the checkout's revision and dirty flag into main
    /// packages, so a commit during a bake changes their action IDs and fails its verify.
    #[arg(long)]
    work: Option<PathBuf>,
    /// Repeat the warm measurements (one set vs all sets) this many times (medians).
    #[arg(long, default_value_t = 3)]
    runs: usize,
}

type Res<T> = Result<T, Box<dyn std::error::Error>>;

const TRIM: &str = "-trimpath";

fn main() -> ExitCode {
    // The bakes run `go` with this program as their GOCACHEPROG recorder.
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
            eprintln!("gowarm-bake-bench: {e}");
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

fn ms(ms: u64) -> String {
    secs(Duration::from_millis(ms))
}

fn ratio(a: f64, b: f64) -> f64 {
    a / b.max(1e-9)
}

fn median(mut v: Vec<Duration>) -> Duration {
    v.sort();
    v.get(v.len() / 2).copied().unwrap_or_default()
}

fn empty(dir: &Path) -> Res<()> {
    if dir.exists() {
        make_tree_writable(dir);
        std::fs::remove_dir_all(dir).map_err(|e| format!("removing {}: {e}", dir.display()))?;
    }
    Ok(())
}

/// Flushes dirty pages to disk (`sync`), timed: a warm leaves its bytes as dirty pages,
/// whose writeback the next build would otherwise pay for.
fn sync() -> Res<Duration> {
    let t = Instant::now();
    let status = std::process::Command::new("sync").status()?;
    if !status.success() {
        return Err(format!("sync failed: {status}").into());
    }
    Ok(t.elapsed())
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

/// Where the work happens, and the fresh directories each step takes from it. Nothing is
/// deleted before the end: right after thousands of deletions ext4 creates files several
/// times slower, which would skew the next measurement (docs/benchmarks.md).
struct Work {
    root: PathBuf,
    next: usize,
    cacheprog: CacheProg,
    proxy_url: String,
}

impl Work {
    /// New, empty GOPATH/GOMODCACHE/GOCACHE directories: a new CI runner or a new pod.
    fn fresh_dirs(&mut self, what: &str) -> GoDirs {
        self.next += 1;
        GoDirs::under(&self.root.join("envs").join(format!("{}-{what}", self.next)))
    }

    /// Bakes `sets` into `out` on a new runner, timed.
    fn bake(&mut self, sets: &[&WrittenWarmSet], out: &Path) -> Res<(BakeReport, Duration)> {
        let dirs = self.fresh_dirs("bake");
        let eng = engine(
            &GoEnv::new(&dirs).goflags(TRIM),
            std::slice::from_ref(&self.proxy_url),
        )?;
        let req = BakeRequest::new(
            sets.iter()
                .map(|s| SetRequest::new(s.set, s.dirs.clone()))
                .collect(),
            out,
            self.cacheprog.clone(),
        );
        let t = Instant::now();
        let report = eng.bake(&req, None)?;
        Ok((report, t.elapsed()))
    }
}

/// One pod warm of named sets, with its writeback.
struct PodWarm {
    dirs: GoDirs,
    report: Report,
    time: Duration,
    sync: Duration,
}

fn warm_pod(work: &mut Work, warm: &Path, sets: &[&str]) -> Res<PodWarm> {
    let dirs = work.fresh_dirs(&format!("pod-{}", sets.join("-")));
    let eng = engine(
        &GoEnv::new(&dirs).goflags(TRIM),
        &[format!("dir:{}", warm.display())],
    )?;
    let names: Vec<String> = sets.iter().map(|s| s.to_string()).collect();
    let t = Instant::now();
    let (_, report) = eng.warm_sets(&names, None)?;
    let time = t.elapsed();
    let sync = sync()?;
    if report.outcome != Outcome::Warm {
        return Err(format!(
            "warm of {} did not finish warm:\n{}",
            sets.join(", "),
            report.to_human()
        )
        .into());
    }
    Ok(PodWarm {
        dirs,
        report,
        time,
        sync,
    })
}

/// `Engine::verify` (`gowarm verify`) of `program` in a warmed pod; it must hit 100%.
fn verify(pod: &GoDirs, warm: &Path, program: &Path) -> Res<(gowarm::VerifyReport, Duration)> {
    let eng = engine(
        &GoEnv::new(pod).goflags(TRIM),
        &[format!("dir:{}", warm.display())],
    )?;
    let t = Instant::now();
    let v = eng.verify(program)?;
    let time = t.elapsed();
    if v.hit_ratio < 1.0 {
        return Err(format!(
            "verify of {} in a warmed pod hit {:.1}%: compiled {}",
            program.display(),
            v.hit_ratio * 100.0,
            v.compiled.join(", ")
        )
        .into());
    }
    Ok((v, time))
}

fn check_bake(what: &str, r: &BakeReport) -> Res<()> {
    for s in &r.sets {
        if let Some(v) = &s.verify {
            if v.hit_ratio < 1.0 {
                return Err(format!(
                    "{what}: set {} verified at {:.1}%",
                    s.name,
                    v.hit_ratio * 100.0
                )
                .into());
            }
        }
    }
    Ok(())
}

fn actions(r: &BakeReport) -> String {
    r.sets
        .iter()
        .map(|s| {
            let a = match s.action {
                SetAction::Built => "built",
                SetAction::Kept => "kept",
                SetAction::Dropped => "dropped",
            };
            format!("{} {a}", s.name)
        })
        .collect::<Vec<_>>()
        .join(", ")
}

/// Rows under a bake's row: each set it built (its programs' builds, its verify build)
/// and the rest of its wall time (go env, fetch and install, export, swap, verify's go list).
fn set_rows(r: &BakeReport) {
    let mut accounted = 0;
    for s in r.sets.iter().filter(|s| s.action == SetAction::Built) {
        let v = s.verify.as_ref();
        accounted += s.build_ms + v.map(|v| v.build_ms).unwrap_or(0);
        println!(
            "| · set {}: go build of its {} programs + verify build | {} + {} | | {} compiled, {} modules, {} entries; verify {:.0}% of {} packages |",
            s.name,
            s.targets.len(),
            ms(s.build_ms),
            v.map(|v| ms(v.build_ms)).unwrap_or_default(),
            s.compiled,
            s.modules,
            s.entries,
            v.map(|v| v.hit_ratio * 100.0).unwrap_or_default(),
            v.map(|v| v.packages).unwrap_or_default()
        );
    }
    println!(
        "| · rest: go env, fetch + verify + install, export, swap | {} | | |",
        ms(r.duration_ms.saturating_sub(accounted))
    );
}

fn compiled(r: &BakeReport) -> u64 {
    r.sets.iter().map(|s| s.compiled).sum()
}

fn set_of<'s>(sets: &'s [WrittenWarmSet], name: &str) -> Res<&'s WrittenWarmSet> {
    sets.iter()
        .find(|s| s.set == name)
        .ok_or_else(|| format!("no warm set {name}").into())
}

fn program<'s>(sets: &'s [WrittenWarmSet], set: &str, i: usize) -> Res<&'s Path> {
    sets.iter()
        .find(|s| s.set == set)
        .and_then(|s| s.dirs.get(i))
        .map(PathBuf::as_path)
        .ok_or_else(|| format!("no program {i} in warm set {set}").into())
}

fn run(args: Args) -> Res<()> {
    let work_dir = args
        .work
        .unwrap_or_else(|| std::env::temp_dir().join("gowarm-bake-bench"));
    empty(&work_dir)?;
    std::fs::create_dir_all(&work_dir)?;
    let work_dir = std::fs::canonicalize(&work_dir)?;
    let exe = std::env::current_exe().map_err(|e| format!("locating gowarm-bake-bench: {e}"))?;

    step("Debian corpus proxy and the warm-set programs (go mod tidy)");
    let corpus = cached_corpus()?;
    let proxy_url = ProxyDir::new(corpus.cached_proxy())?.url();
    let sets = {
        // go.sum from throwaway caches: every bake fetches for itself.
        let tidy = TempGoDirs::new()?;
        write_warm_set_programs(&work_dir.join("src"), &corpus, &proxy_url, &tidy)?
    };
    let (aws, google, digitalocean) = (
        set_of(&sets, "aws")?,
        set_of(&sets, "google")?,
        set_of(&sets, "digitalocean")?,
    );
    let all = [aws, google, digitalocean];
    let mut work = Work {
        root: work_dir.clone(),
        next: 0,
        cacheprog: CacheProg::new(exe, &["cacheprog"]),
        proxy_url,
    };
    let warm = work_dir.join("warm");
    let warm2 = work_dir.join("warm-added");

    step("full bake: aws + google + digitalocean on a new runner");
    let (full, full_time) = work.bake(&all, &warm)?;
    check_bake("full bake", &full)?;
    sync()?;

    step("no-op re-bake of the same sets into the same output, on a new runner");
    let (noop, noop_time) = work.bake(&all, &warm)?;
    if !noop.up_to_date || noop.modules_fetched != 0 {
        return Err(format!(
            "the re-bake of unchanged inputs was not a no-op: {}, {} modules fetched",
            actions(&noop),
            noop.modules_fetched
        )
        .into());
    }

    step("bake of aws + digitalocean into a second output (the 'before' of adding a set)");
    let (before_add, before_add_time) = work.bake(&[aws, digitalocean], &warm2)?;
    check_bake("aws + digitalocean bake", &before_add)?;
    sync()?;
    step("bake after adding google: aws + digitalocean + google into it, on a new runner");
    let (added, added_time) = work.bake(&[aws, digitalocean, google], &warm2)?;
    check_bake("bake after adding google", &added)?;
    sync()?;

    let manifest = Manifest::read(&warm.join(MANIFEST_FILE))?;
    let whole = manifest.module_bytes() + manifest.entry_bytes();

    let runs = args.runs.max(1);
    let (mut one_times, mut one_syncs, mut all_times, mut all_syncs) =
        (Vec::new(), Vec::new(), Vec::new(), Vec::new());
    let mut last = None;
    for i in 0..runs {
        step(&format!(
            "run {}/{runs}: new pod, warm of the digitalocean set alone",
            i + 1
        ));
        let one = warm_pod(&mut work, &warm, &["digitalocean"])?;
        step(&format!(
            "run {}/{runs}: new pod, warm of all three sets",
            i + 1
        ));
        let every = warm_pod(&mut work, &warm, &["aws", "google", "digitalocean"])?;
        one_times.push(one.time);
        one_syncs.push(one.sync);
        all_times.push(every.time);
        all_syncs.push(every.sync);
        last = Some((one, every));
    }
    let Some((one, every)) = last else {
        return Err("no warm run".into());
    };
    let (one_time, one_sync, all_time, all_sync) = (
        median(one_times),
        median(one_syncs),
        median(all_times),
        median(all_syncs),
    );

    step("verify (Engine::verify) of one program in each warmed pod");
    let godo = program(&sets, "digitalocean", 1)?;
    let (v_one, v_one_time) = verify(&one.dirs, &warm, godo)?;
    let aws_prog = program(&sets, "aws", 0)?;
    let (v_all, v_all_time) = verify(&every.dirs, &warm, aws_prog)?;

    step("a godo program in the digitalocean pod: plain go build, offline");
    let godo_basic = program(&sets, "digitalocean", 0)?;
    let build = go_build(
        godo_basic,
        &GoEnv::new(&one.dirs).goflags("-trimpath -mod=readonly"),
        &work_dir.join("bin/godo-basic"),
    )?;
    if build.compiles != 0 {
        return Err(format!(
            "{} packages compiled in the digitalocean pod (expected 0)",
            build.compiles
        )
        .into());
    }

    // Which sets a pod takes on its own (auto selection) for one program of each set.
    let mut auto = Vec::new();
    {
        let dirs = work.fresh_dirs("pod-detect");
        let eng = engine(
            &GoEnv::new(&dirs).goflags(TRIM),
            &[format!("dir:{}", warm.display())],
        )?;
        for s in &all {
            let dir = program(&sets, s.set, 0)?;
            let plan = eng.detect(dir)?;
            auto.push((
                dir.file_name()
                    .map(|n| n.to_string_lossy().into_owned())
                    .unwrap_or_default(),
                plan.entries.sets.clone(),
                plan.entries.sets_reason.clone(),
            ));
        }
    }

    let module_trees = manifest.modules.iter().filter(|m| m.h1.is_some()).count();
    let summary = manifest.summary();

    println!();
    println!(
        "gowarm bake and warm sets on Debian's SDK sources (aws, google, digitalocean; 2 programs each; -trimpath); warms: median of {runs} runs"
    );
    println!("| step | time | bytes | detail |");
    println!("| --- | ---: | ---: | --- |");
    println!(
        "| full bake, new runner (aws + google + digitalocean) | {} | {} modules, {} entries | {} modules ({module_trees} trees), {} entries; {} packages compiled; {} items fetched |",
        secs(full_time),
        human_bytes(full.module_bytes),
        human_bytes(full.entry_bytes),
        full.modules,
        full.entries,
        compiled(&full),
        full.modules_fetched
    );
    set_rows(&full);
    println!(
        "| no-op re-bake, new runner | {} | | {}; {} fetched |",
        secs(noop_time),
        actions(&noop),
        noop.modules_fetched
    );
    println!(
        "| (bake of aws + digitalocean, new runner) | {} | {} modules, {} entries | {} packages compiled |",
        secs(before_add_time),
        human_bytes(before_add.module_bytes),
        human_bytes(before_add.entry_bytes),
        compiled(&before_add)
    );
    set_rows(&before_add);
    println!(
        "| bake after adding google, new runner | {} | {} modules, {} entries | {}; {} packages compiled; {} items fetched from the proxy |",
        secs(added_time),
        human_bytes(added.module_bytes),
        human_bytes(added.entry_bytes),
        actions(&added),
        compiled(&added),
        added.modules_fetched
    );
    set_rows(&added);
    println!(
        "| warm of digitalocean alone, new pod | {} (+ sync {}) | {} | {} modules, {} entries |",
        secs(one_time),
        secs(one_sync),
        human_bytes(one.report.bytes_installed),
        one.report.modules.installed,
        one.report.entries.installed
    );
    println!(
        "| warm of all three sets, new pod | {} (+ sync {}) | {} | {} modules, {} entries |",
        secs(all_time),
        secs(all_sync),
        human_bytes(every.report.bytes_installed),
        every.report.modules.installed,
        every.report.entries.installed
    );
    println!(
        "| verify {} in the digitalocean pod | {} | | {:.0}% of {} packages hit; build {} |",
        godo.file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default(),
        secs(v_one_time),
        v_one.hit_ratio * 100.0,
        v_one.packages,
        ms(v_one.build_ms)
    );
    println!(
        "| verify {} in the all-sets pod | {} | | {:.0}% of {} packages hit; build {} |",
        aws_prog
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default(),
        secs(v_all_time),
        v_all.hit_ratio * 100.0,
        v_all.packages,
        ms(v_all.build_ms)
    );
    println!(
        "| go build godo-basic in the digitalocean pod, offline | {} | | {} compiles |",
        secs(build.elapsed),
        build.compiles
    );
    println!();
    println!("| ratio | measured |");
    println!("| --- | ---: |");
    println!(
        "| no-op re-bake / full bake | {:.3} |",
        ratio(noop_time.as_secs_f64(), full_time.as_secs_f64())
    );
    println!(
        "| bake after adding google / full bake | {:.2} |",
        ratio(added_time.as_secs_f64(), full_time.as_secs_f64())
    );
    println!(
        "| digitalocean warm / all-sets warm, time | {:.2} |",
        ratio(one_time.as_secs_f64(), all_time.as_secs_f64())
    );
    println!(
        "| digitalocean warm / all-sets warm, bytes | {:.2} |",
        ratio(
            one.report.bytes_installed as f64,
            every.report.bytes_installed as f64
        )
    );
    println!(
        "| digitalocean warm bytes / whole cache ({}) | {:.2} |",
        human_bytes(whole),
        ratio(one.report.bytes_installed as f64, whole as f64)
    );
    println!(
        "| shared between sets, stored once / whole cache | {:.2} |",
        ratio(summary.shared_bytes as f64, whole as f64)
    );
    println!();
    for (prog, chosen, why) in &auto {
        println!("auto selection for {prog}: {} ({why})", chosen.join(", "));
    }
    step(&format!(
        "removing the work directory's caches (results stay in {})",
        work_dir.display()
    ));
    empty(&work_dir.join("envs"))?;
    Ok(())
}
