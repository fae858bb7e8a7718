//! The Go package `crates/gowarm-ffi/go` (cgo over `libgowarm_ffi.a`): gofmt, `go vet`, and
//! its `go test` against fixtures built here: the embedded example, whose caches it warms
//! from a warm-cache directory baked here (an offline `go build` then compiles nothing); a
//! real SDK program (aws-sdk-go services and godo from the Debian corpus) baked with
//! `-trimpath`, which the Go tests warm into fresh pods and build with 0 compiles; and the
//! environment the Go tests make their own cold pods with (stalling sources, Git).

mod common;

use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::time::Instant;

use common::{config_toml, quote, staticlib, Example};
use gowarm::config::{Config, SourceConfig};
use gowarm::{BakeRequest, Engine};
use gowarm_testkit::{
    cached_corpus, go_binary, go_build, make_tree_writable, tidy, write_program, GoDirs, GoEnv,
    TempGoDirs, AWS_SMALL_SERVICE_IMPORTS, GODO_IMPORT,
};

/// The Go package's directory.
fn package_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("go")
}

/// Bakes a warm cache of `program` from the source `source` into `warm`, building with the
/// environment `env` (its GOMODCACHE and GOCACHE: a pod with exactly these paths, or any
/// pod when `env` has `-trimpath`, gets build-cache hits), then empties those caches.
fn bake(program: &Path, env: &GoEnv, source: &str, warm: &Path) {
    let mut cfg = Config::default();
    cfg.go.binary = go_binary();
    cfg.go.env.extend(env.vars());
    cfg.sources = vec![SourceConfig::parse_spec(source).expect("source spec")];
    let report = Engine::new(cfg)
        .expect("engine")
        .bake(
            &BakeRequest::targets(
                vec![program.to_path_buf()],
                warm.to_path_buf(),
                gowarm::record::CacheProg::new(
                    std::env::current_exe().expect("test binary"),
                    &["cacheprog"],
                ),
            ),
            None,
        )
        .unwrap_or_else(|e| panic!("bake {}: {e}", program.display()));
    eprintln!(
        "baked {}: {} modules, {} entries",
        program.display(),
        report.modules,
        report.entries
    );
    for cache in [&env.dirs.gomodcache, &env.dirs.gocache] {
        if cache.exists() {
            make_tree_writable(cache);
            std::fs::remove_dir_all(cache).expect("empty a runtime cache");
        }
    }
}

/// A file:// URL of a local directory (as the testkit's proxies write them).
fn file_url(dir: &Path) -> String {
    let text = dir.display().to_string();
    let mut url = String::from("file://");
    for c in text.chars() {
        match c {
            ' ' => url.push_str("%20"),
            '%' => url.push_str("%25"),
            '#' => url.push_str("%23"),
            c => url.push(c),
        }
    }
    url
}

/// Writes a small real-SDK program under `root` (three aws-sdk-go services and godo), tidies
/// it against the Debian corpus and bakes it with GOFLAGS=-trimpath; returns the program
/// and the warm-cache directory.
fn bake_sdk(root: &Path) -> (PathBuf, PathBuf) {
    let t0 = Instant::now();
    let corpus = cached_corpus().expect("the Debian SDK corpus (run scripts/test)");
    // Read only: the cached proxy tree is shared with other tests.
    let proxy = file_url(corpus.cached_proxy());
    let requires = ["github.com/aws/aws-sdk-go", "github.com/digitalocean/godo"].map(|m| {
        corpus
            .module(m)
            .unwrap_or_else(|| panic!("{m} in the corpus"))
            .clone()
    });
    let mut imports = AWS_SMALL_SERVICE_IMPORTS.to_vec();
    imports.push(GODO_IMPORT);
    let program = root.join("program");
    write_program(&program, "example.com/sdkprog", &requires, &imports).expect("SDK program");
    // go.sum from `go mod tidy` in throwaway caches, so the bake fetches everything itself.
    let scratch = TempGoDirs::new().expect("scratch go dirs");
    tidy(&program, &proxy, &*scratch).expect("tidy the SDK program");
    let warm = root.join("warm");
    let env = GoEnv::new(GoDirs::under(&root.join("runtime"))).goflags("-trimpath");
    bake(&program, &env, &proxy, &warm);
    eprintln!("SDK fixture ready in {:.1?}", t0.elapsed());
    (program, warm)
}

/// The environment of isolated `go` commands, without what each Go test's pod sets itself,
/// as a JSON object (`GOWARM_TEST_GOENV`).
fn base_goenv(dirs: &GoDirs) -> String {
    let vars: serde_json::Map<String, serde_json::Value> = GoEnv::new(dirs)
        .vars()
        .into_iter()
        .filter(|(k, _)| {
            !["HOME", "GOPATH", "GOMODCACHE", "GOCACHE", "GOFLAGS"].contains(&k.as_str())
        })
        .map(|(k, v)| (k, serde_json::Value::String(v)))
        .collect();
    serde_json::Value::Object(vars).to_string()
}

/// `go <args>` in the package directory with cgo on, linking the staticlib in `libdir`, and
/// caches of its own (the package has no dependencies: GOPROXY=off).
fn go_in_package(dirs: &TempGoDirs, libdir: &Path, args: &[&str]) -> Command {
    let mut cmd = GoEnv::new(dirs).goflags("-mod=mod").command(args);
    cmd.current_dir(package_dir())
        .env("CGO_ENABLED", "1")
        .env("CGO_LDFLAGS", format!("-L{}", libdir.display()));
    if let Some(cc) = std::env::var_os("CC") {
        cmd.env("CC", cc);
    }
    cmd
}

fn output(cmd: &mut Command, what: &str) -> (Output, String) {
    let out = cmd.output().unwrap_or_else(|e| panic!("run {what}: {e}"));
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    (out, text)
}

/// The Go binary's gofmt (`$GOROOT/bin/gofmt`).
fn gofmt() -> PathBuf {
    let beside = go_binary().with_file_name("gofmt");
    if beside.is_file() {
        return beside;
    }
    let out = Command::new(go_binary())
        .args(["env", "GOROOT"])
        .env("GOTOOLCHAIN", "local")
        .output()
        .expect("go env GOROOT");
    PathBuf::from(String::from_utf8_lossy(&out.stdout).trim()).join("bin/gofmt")
}

/// A plain `main` (harness = false): the bake runs `go` with this very binary as its
/// GOCACHEPROG recorder (`<test binary> cacheprog …`), which libtest's argument parser
/// would refuse.
fn main() -> std::process::ExitCode {
    if let Some(code) = gowarm::record::cacheprog_main_if_invoked() {
        return code;
    }
    eprintln!("test go_package_is_formatted_and_vetted_and_its_tests_pass ...");
    go_package_is_formatted_and_vetted_and_its_tests_pass();
    eprintln!("test go_package_is_formatted_and_vetted_and_its_tests_pass ... ok");
    std::process::ExitCode::SUCCESS
}

fn go_package_is_formatted_and_vetted_and_its_tests_pass() {
    let (fmt, text) = output(Command::new(gofmt()).arg("-l").arg(package_dir()), "gofmt");
    assert!(fmt.status.success(), "gofmt failed:\n{text}");
    assert!(
        fmt.stdout.is_empty(),
        "not gofmt'ed (run gofmt -w):\n{text}"
    );

    let lib = staticlib();
    let libdir = lib.parent().expect("the staticlib has a directory");
    let ex = Example::new();
    let runtime = GoDirs::under(&ex.root.path().join("runtime"));
    let warm = ex.root.path().join("warm");
    bake(&ex.program, &GoEnv::new(&runtime), &ex.proxy.url(), &warm);
    let (sdk_program, sdk_warm) = bake_sdk(&ex.root.path().join("sdk"));
    let gotest_dirs = TempGoDirs::new().expect("go dirs for go test");

    let t0 = Instant::now();
    let (test, text) = output(
        go_in_package(
            &gotest_dirs,
            libdir,
            &["test", "-count=1", "-v", "-timeout=15m", "./..."],
        )
        .env(
            "GOWARM_TEST_CONFIG",
            config_toml(
                &runtime,
                &format!(
                    "kind = \"dir\"\npath = {}",
                    quote(&warm.display().to_string())
                ),
            ),
        )
        .env("GOWARM_TEST_PROGRAM", &ex.program)
        .env("GOWARM_TEST_GO", go_binary())
        .env("GOWARM_TEST_GOENV", base_goenv(&ex.dirs))
        .env("GOWARM_TEST_PROXY", ex.proxy.url())
        .env("GOWARM_TEST_SDK_PROGRAM", &sdk_program)
        .env("GOWARM_TEST_SDK_WARM", &sdk_warm),
        "go test",
    );
    assert!(test.status.success(), "go test failed:\n{text}");
    eprintln!("go test ({:.1?}):\n{text}", t0.elapsed());
    for expected in [
        "--- PASS: TestDetectWarmDetectConcurrentWarm",
        "--- PASS: TestSDKProgramWarmsWithProgressAndBuildsWithZeroCompiles",
        "--- PASS: TestWarmSetsWarmsTheSDKSetAndTheProgramBuildsWithZeroCompiles",
        "--- PASS: TestWarmSetsUnknownNameListsTheSetsTheWarmCacheHas",
        "--- PASS: TestCancelStopsAWarmWaitingOnAStallingSource",
        "--- PASS: TestDeadlineStopsAWarmWaitingOnAStallingSource",
        "--- PASS: TestWarmGitClonesThenReusesTheStablePath",
        "--- PASS: TestProgressPanicIsRaisedInTheCallerAfterTheWarm",
        "--- PASS: TestOpenBadTOMLNamesTheKey",
        "--- PASS: TestCloseTwiceAndUseAfterClose",
        "--- PASS: TestCanceledContextIsNotCalled",
        "--- PASS: TestDetectOfADirectoryWithoutGoModIsAnError",
        "ok  \tgithub.com/gowarm/gowarm/crates/gowarm-ffi/go",
    ] {
        assert!(text.contains(expected), "no {expected:?} in:\n{text}");
    }

    // The Go test warmed the runtime's caches: an offline build compiles nothing.
    let out = tempfile::tempdir().expect("tempdir");
    let run = go_build(
        &ex.program,
        &GoEnv::new(&runtime).goflags("-mod=readonly"),
        &out.path().join("program"),
    )
    .expect("offline go build of the warmed example");
    assert_eq!(run.compiles, 0, "{}", run.stderr);

    let (vet, text) = output(
        &mut go_in_package(&gotest_dirs, libdir, &["vet", "./..."]),
        "go vet",
    );
    assert!(vet.status.success(), "go vet failed:\n{text}");
}
