//! `gowarm-demo`: runs gowarm's main job end to end on the embedded example (or, with
//! `--sdk`, on real AWS SDK + godo sources from Debian) and prints what it measured.
//!
//! Steps: build a local GOPROXY, build the program cold (plain Go from the proxy), bake a
//! warm cache, empty the pod caches, warm them with gowarm from the baked directory, build
//! again offline, and print a table.

use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::{Duration, Instant};

use clap::Parser;
use gowarm::config::{Config, SourceConfig};
use gowarm::report::human_bytes;
use gowarm::{BakeRequest, Engine, Outcome};
use gowarm_testkit::{
    aws_program_imports, copy_example_program, debian_corpus, example_proxy, go_binary, go_build,
    make_tree_writable, tidy, write_program, GoDirs, GoEnv, ProxyDir, TempGoDirs, GODO_IMPORT,
};

/// Run gowarm's main job on an example program and print the timings.
#[derive(Debug, Parser)]
#[command(name = "gowarm-demo")]
struct Args {
    /// Use a program importing N real aws-sdk-go services plus godo (Debian's sources)
    /// instead of the small embedded example.
    #[arg(long, value_name = "N", num_args = 0..=1, default_missing_value = "30")]
    sdk: Option<usize>,
    /// Working directory (default: `<workspace>/.demo`); emptied first.
    #[arg(long)]
    work: Option<PathBuf>,
    /// Repeat the tar / warm / first-build measurements this many times (medians).
    #[arg(long, default_value_t = 1)]
    runs: usize,
}

type Res<T> = Result<T, Box<dyn std::error::Error>>;

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
            eprintln!("gowarm-demo: {e}");
            ExitCode::FAILURE
        }
    }
}

fn step(msg: &str) {
    eprintln!("==> {msg}");
}

fn empty(dir: &Path) -> Res<()> {
    if dir.exists() {
        make_tree_writable(dir);
        std::fs::remove_dir_all(dir).map_err(|e| format!("removing {}: {e}", dir.display()))?;
    }
    Ok(())
}

fn engine(env: &GoEnv, sources: Vec<String>) -> Res<Engine> {
    let mut cfg = Config::default();
    cfg.go.binary = go_binary();
    cfg.go.env.extend(env.vars());
    cfg.sources = sources
        .iter()
        .map(|s| SourceConfig::parse_spec(s))
        .collect::<Result<_, _>>()?;
    Ok(Engine::new(cfg)?)
}

/// What a plain image copy does: `tar -c | tar -x` of the warm cache's `go-mod/` into the
/// pod's GOMODCACHE and `go-build/` into its GOCACHE, timed.
fn tar_copy(warm: &Path, pod: &GoDirs) -> Res<Duration> {
    std::fs::create_dir_all(&pod.gomodcache)?;
    std::fs::create_dir_all(&pod.gocache)?;
    let t = Instant::now();
    let status = std::process::Command::new("sh")
        .arg("-c")
        .arg("tar -C \"$1/go-mod\" -cf - . | tar -C \"$2\" -xf - && tar -C \"$1/go-build\" -cf - . | tar -C \"$3\" -xf -")
        .arg("tar-copy")
        .arg(warm)
        .arg(&pod.gomodcache)
        .arg(&pod.gocache)
        .status()?;
    if !status.success() {
        return Err(format!("tar copy failed: {status}").into());
    }
    Ok(t.elapsed())
}

/// Flushes dirty pages to disk (`sync`), timed.
fn sync() -> Res<Duration> {
    let t = Instant::now();
    let status = std::process::Command::new("sync").status()?;
    if !status.success() {
        return Err(format!("sync failed: {status}").into());
    }
    Ok(t.elapsed())
}

fn secs(d: Duration) -> String {
    format!("{:.2} s", d.as_secs_f64())
}

/// Moves a directory out of the way without deleting it. Deleting thousands of files just
/// before a measurement slows the next file creations on ext4 (its allocator avoids
/// recently freed inodes), which would skew every comparison; deletion waits for the end.
fn set_aside(dir: &Path, trash: &Path) -> Res<()> {
    if dir.exists() {
        std::fs::create_dir_all(trash)?;
        let n = std::fs::read_dir(trash)?.count();
        std::fs::rename(dir, trash.join(format!("{n}")))
            .map_err(|e| format!("moving {} aside: {e}", dir.display()))?;
    }
    Ok(())
}

fn median(mut v: Vec<Duration>) -> Duration {
    v.sort();
    v.get(v.len() / 2).copied().unwrap_or_default()
}

fn run(args: Args) -> Res<()> {
    let work = args
        .work
        .unwrap_or_else(|| gowarm_testkit::workspace_root().join(".demo"));
    empty(&work)?;
    std::fs::create_dir_all(&work)?;
    let work = std::fs::canonicalize(&work)?;
    let program = work.join("src/program");
    let pod = GoDirs::under(&work.join("pod"));
    let warm = work.join("warm");
    let trash = work.join("trash");
    let bin = |name: &str| work.join("bin").join(name);

    step("building a local module proxy");
    let mut proxy = ProxyDir::new(work.join("proxy"))?;
    match args.sdk {
        None => {
            example_proxy(&mut proxy)?;
            copy_example_program(&program)?;
        }
        Some(n) => {
            let corpus = debian_corpus(&mut proxy)?;
            let mut imports = aws_program_imports(n.min(30));
            imports.push(GODO_IMPORT);
            let requires: Vec<_> = ["github.com/aws/aws-sdk-go", "github.com/digitalocean/godo"]
                .iter()
                .filter_map(|p| corpus.module(p).cloned())
                .collect();
            write_program(&program, "example.com/sdkprogram", &requires, &imports)?;
            let scratch = TempGoDirs::new()?;
            tidy(&program, &proxy.url(), &*scratch)?;
        }
    }

    step("cold build: plain `go build` in an empty pod, modules from the proxy");
    let cold = go_build(
        &program,
        &GoEnv::new(&pod).goproxy(proxy.url()),
        &bin("cold"),
    )?;

    step("bake: gowarm fetches, verifies, installs, builds and exports a warm cache");
    set_aside(&pod.gomodcache, &trash)?;
    set_aside(&pod.gocache, &trash)?;
    let t = Instant::now();
    let bake = engine(&GoEnv::new(&pod), vec![proxy.url()])?.bake(
        &BakeRequest::targets(
            vec![program.clone()],
            warm.clone(),
            gowarm::record::CacheProg::new(
                std::env::current_exe().map_err(|e| format!("locating gowarm-demo: {e}"))?,
                &["cacheprog"],
            ),
        ),
        None,
    )?;
    let bake_time = t.elapsed();

    sync()?;
    step("baseline: first build of the program on the bake's own warm cache");
    let offline = || GoEnv::new(&pod).goflags("-mod=readonly");
    let baseline = go_build(&program, &offline(), &bin("baseline"))?;

    let runs = args.runs.max(1);
    let (mut tars, mut warms, mut firsts, mut seconds) =
        (Vec::new(), Vec::new(), Vec::new(), Vec::new());
    let (mut tar_syncs, mut warm_syncs, mut tar_firsts) = (Vec::new(), Vec::new(), Vec::new());
    let mut last = None;
    for i in 0..runs {
        step(&format!(
            "run {}/{runs}: new pod, tar copy of the warm caches, first build",
            i + 1
        ));
        set_aside(&pod.gomodcache, &trash)?;
        set_aside(&pod.gocache, &trash)?;
        tars.push(tar_copy(&warm, &pod)?);
        tar_syncs.push(sync()?);
        let after_tar = go_build(&program, &offline(), &bin(&format!("after-tar-{i}")))?;
        tar_firsts.push(after_tar.elapsed);

        step(&format!(
            "run {}/{runs}: new pod, gowarm warm from the baked directory",
            i + 1
        ));
        set_aside(&pod.gomodcache, &trash)?;
        set_aside(&pod.gocache, &trash)?;
        let eng = engine(&GoEnv::new(&pod), vec![format!("dir:{}", warm.display())])?;
        let t = Instant::now();
        let (plan, report) = eng.warm(&program, None)?;
        warms.push(t.elapsed());
        // Both copies leave ~all their bytes as dirty pages; writing them back competes with
        // the next build's own writes, so it is measured apart (and equally for tar).
        warm_syncs.push(sync()?);
        if report.outcome != Outcome::Warm {
            return Err(format!("warm did not finish warm:\n{}", report.to_human()).into());
        }

        step(&format!(
            "run {}/{runs}: first build after warm, offline",
            i + 1
        ));
        let after = go_build(&program, &offline(), &bin(&format!("after-{i}")))?;
        if after.compiles != 0 {
            return Err(format!(
                "{} packages compiled after warm (expected 0)",
                after.compiles
            )
            .into());
        }
        firsts.push(after.elapsed);
        // The same build again in the same pod, side by side with the first: a build on a
        // warm cache measured under the same conditions (page cache, writeback, disk).
        let again = go_build(&program, &offline(), &bin(&format!("again-{i}")))?;
        seconds.push(again.elapsed);
        last = Some((plan.cold_modules().count(), report, after.compiles));
    }
    let Some((cold_modules, report, compiles)) = last else {
        return Err("no run".into());
    };
    let (tar_time, warm_time, first, second) =
        (median(tars), median(warms), median(firsts), median(seconds));
    let (tar_sync, warm_sync, tar_first) =
        (median(tar_syncs), median(warm_syncs), median(tar_firsts));

    println!();
    println!(
        "gowarm main job on {} (median of {runs} runs where repeated)",
        program.display()
    );
    println!("| step | time | packages compiled | bytes |");
    println!("| --- | ---: | ---: | ---: |");
    println!(
        "| cold build (empty pod, local proxy) | {} | {} | |",
        secs(cold.elapsed),
        cold.compiles
    );
    println!(
        "| bake (fetch + build + export) | {} | | {} modules, {} entries |",
        secs(bake_time),
        human_bytes(bake.module_bytes),
        human_bytes(bake.entry_bytes)
    );
    println!(
        "| tar c \\| tar x of the warm caches into the pod | {} | | |",
        secs(tar_time)
    );
    println!("| sync after tar (writeback) | {} | | |", secs(tar_sync));
    println!(
        "| first build after tar (and sync) | {} | | |",
        secs(tar_first)
    );
    println!(
        "| gowarm warm ({} cold modules, {} entries, verified) | {} | | {} |",
        cold_modules,
        report.entries.installed,
        secs(warm_time),
        human_bytes(report.bytes_installed)
    );
    println!("| sync after warm (writeback) | {} | | |", secs(warm_sync));
    println!(
        "| first build after warm (and sync) | {} | {} | |",
        secs(first),
        compiles
    );
    println!(
        "| second build in the warmed pod | {} | 0 | |",
        secs(second)
    );
    println!(
        "| first build on the bake's own warm cache (baseline) | {} | {} | |",
        secs(baseline.elapsed),
        baseline.compiles
    );
    println!();
    let ratio = |a: Duration, b: Duration| a.as_secs_f64() / b.as_secs_f64().max(1e-9);
    println!(
        "(gowarm warm + sync) / (tar + sync) = {:.2}",
        ratio(warm_time + warm_sync, tar_time + tar_sync)
    );
    println!(
        "gowarm warm / tar copy            = {:.2}",
        ratio(warm_time, tar_time)
    );
    println!(
        "first build after warm / baseline = {:.2}",
        ratio(first, baseline.elapsed)
    );
    println!(
        "first build after warm / second   = {:.2}",
        ratio(first, second)
    );
    println!(
        "first build after warm / after tar = {:.2}",
        ratio(first, tar_first)
    );
    println!(
        "first build after warm / cold     = {:.2}",
        ratio(first, cold.elapsed)
    );
    println!("packages compiled after warm      = {compiles}");
    step(&format!(
        "removing the caches set aside (results stay in {})",
        work.display()
    ));
    empty(&trash)?;
    Ok(())
}
