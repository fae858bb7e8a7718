//! The Go package `crates/gowarm-ffi/go` (cgo over `libgowarm_ffi.a`): gofmt, `go vet`, and
//! its `go test` against the embedded example, whose caches it warms from a warm-cache
//! directory baked here; then an offline `go build` of the example compiles nothing.

mod common;

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use common::{config_toml, quote, staticlib, Example};
use gowarm::config::{Config, SourceConfig};
use gowarm::{BakeRequest, Engine};
use gowarm_testkit::{go_binary, go_build, make_tree_writable, GoDirs, GoEnv, TempGoDirs};

/// The Go package's directory.
fn package_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("go")
}

/// Bakes a warm cache of the example program into `warm`, building under `runtime` (so a pod
/// with exactly these paths gets build-cache hits), then empties `runtime`'s caches.
fn bake(ex: &Example, runtime: &GoDirs, warm: &Path) {
    let mut cfg = Config::default();
    cfg.go.binary = go_binary();
    cfg.go.env.extend(GoEnv::new(runtime).vars());
    cfg.sources = vec![SourceConfig::parse_spec(&ex.proxy.url()).expect("proxy source spec")];
    let _report = Engine::new(cfg)
        .expect("engine")
        .bake(
            &BakeRequest::targets(
                vec![ex.program.clone()],
                warm.to_path_buf(),
                gowarm::record::CacheProg::new(
                    std::env::current_exe().expect("test binary"),
                    &["cacheprog"],
                ),
            ),
            None,
        )
        .expect("bake the example");
    for cache in [&runtime.gomodcache, &runtime.gocache] {
        if cache.exists() {
            make_tree_writable(cache);
            std::fs::remove_dir_all(cache).expect("empty a runtime cache");
        }
    }
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
    bake(&ex, &runtime, &warm);
    let gotest_dirs = TempGoDirs::new().expect("go dirs for go test");

    let (test, text) = output(
        go_in_package(&gotest_dirs, libdir, &["test", "-count=1", "-v", "./..."])
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
            .env("GOWARM_TEST_PROGRAM", &ex.program),
        "go test",
    );
    assert!(test.status.success(), "go test failed:\n{text}");
    eprintln!("go test:\n{text}");
    for expected in [
        "--- PASS: TestDetectWarmDetectConcurrentWarm",
        "--- PASS: TestOpenBadTOMLNamesTheKey",
        "--- PASS: TestCloseTwiceAndUseAfterClose",
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
