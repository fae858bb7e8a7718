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
    /// Working directory (default: <workspace>/.demo); emptied first.
    #[arg(long)]
    work: Option<PathBuf>,
}

type Res<T> = Result<T, Box<dyn std::error::Error>>;

fn main() -> ExitCode {
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
    for (k, v) in env.command(["env"]).get_envs() {
        if let (Some(k), Some(v)) = (k.to_str(), v.and_then(|v| v.to_str())) {
            cfg.go.env.insert(k.to_string(), v.to_string());
        }
    }
    cfg.sources = sources
        .iter()
        .map(|s| SourceConfig::parse_spec(s))
        .collect::<Result<_, _>>()?;
    Ok(Engine::new(cfg)?)
}

fn secs(d: Duration) -> String {
    format!("{:.2} s", d.as_secs_f64())
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
    let cold_env = GoEnv::new(&pod).goproxy(proxy.url());
    let bin = work.join("bin/program");
    let cold = go_build(&program, &cold_env, &bin)?;

    step("bake: gowarm fetches, verifies, installs, builds and exports a warm cache");
    empty(&pod.gomodcache)?;
    empty(&pod.gocache)?;
    let t = Instant::now();
    let bake = engine(&GoEnv::new(&pod), vec![proxy.url()])?.bake(
        &BakeRequest {
            targets: vec![program.clone()],
            out: warm.clone(),
        },
        None,
    )?;
    let bake_time = t.elapsed();

    step("new pod: empty caches, then gowarm warm from the baked directory");
    empty(&pod.gomodcache)?;
    empty(&pod.gocache)?;
    let env = GoEnv::new(&pod);
    let eng = engine(&env, vec![format!("dir:{}", warm.display())])?;
    let plan = eng.detect(&program)?;
    let cold_modules = plan.cold_modules().count();
    let (_, report) = eng.warm(&program, None)?;
    if report.outcome != Outcome::Warm {
        return Err(format!("warm did not finish warm:\n{}", report.to_human()).into());
    }

    step("first build after warm: offline, -mod=readonly");
    let after = go_build(&program, &GoEnv::new(&pod).goflags("-mod=readonly"), &bin)?;

    step("rebuild on the same warm cache (baseline)");
    let again = go_build(&program, &GoEnv::new(&pod).goflags("-mod=readonly"), &bin)?;

    println!();
    println!("gowarm main job on {}", program.display());
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
        "| gowarm warm ({} cold modules, {} entries) | {} | | {} |",
        cold_modules,
        report.entries.installed,
        secs(Duration::from_millis(report.duration_ms)),
        human_bytes(report.bytes_installed)
    );
    println!(
        "| first build after warm | {} | {} | |",
        secs(after.elapsed),
        after.compiles
    );
    println!(
        "| rebuild on warm cache (baseline) | {} | {} | |",
        secs(again.elapsed),
        again.compiles
    );
    println!();
    println!(
        "first build after warm / cold build = {:.2}; packages compiled after warm: {}",
        after.elapsed.as_secs_f64() / cold.elapsed.as_secs_f64().max(1e-9),
        after.compiles
    );
    if after.compiles != 0 {
        return Err(format!(
            "{} packages compiled after warm (expected 0)",
            after.compiles
        )
        .into());
    }
    Ok(())
}
