//! `examples/c/warm.c`, compiled with the system C compiler against `libgowarm_ffi.a` and the
//! committed header, warms the embedded example.

mod common;

use std::path::PathBuf;
use std::process::Command;

use common::{json, staticlib, Example};

#[test]
fn c_example_warms_the_example_program() {
    let lib = staticlib();
    let ex = Example::new();
    let crate_dir = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    let exe = ex.root.path().join("warm");
    let cc = std::env::var_os("CC").unwrap_or_else(|| "cc".into());
    let out = Command::new(cc)
        .args(["-std=c11", "-Wall", "-Wextra", "-Werror", "-I"])
        .arg(crate_dir.join("include"))
        .arg(crate_dir.join("examples/c/warm.c"))
        .arg(&lib)
        // What `cargo rustc --print native-static-libs` lists: OpenSSL and zlib come from
        // git2's HTTPS transport (Debian's libssl-dev / zlib1g-dev; docs/c-abi.md).
        .args(["-lssl", "-lcrypto", "-lz", "-lpthread", "-ldl", "-lm", "-o"])
        .arg(&exe)
        .output()
        .expect("run cc");
    assert!(
        out.status.success(),
        "cc failed:\n{}",
        String::from_utf8_lossy(&out.stderr)
    );

    let config = ex.root.path().join("gowarm.toml");
    std::fs::write(&config, ex.toml()).expect("write gowarm.toml");
    let mut cmd = Command::new(&exe);
    cmd.arg(&config).arg(&ex.program);
    // gowarm_engine_new_from_file applies GOWARM_* overrides (Config::load); the
    // developer's or CI's must not point this pod's caches elsewhere.
    for var in [
        "GOWARM_CONFIG",
        "GOWARM_GO",
        "GOWARM_GOMODCACHE",
        "GOWARM_GOCACHE",
        "GOWARM_JOBS",
        "GOWARM_BUILD_CACHE",
        "GOWARM_LOG",
    ] {
        cmd.env_remove(var);
    }
    let run = cmd.output().expect("run the C example");
    let stdout = String::from_utf8_lossy(&run.stdout);
    let stderr = String::from_utf8_lossy(&run.stderr);
    assert_eq!(
        run.status.code(),
        Some(0),
        "stdout:\n{stdout}\nstderr:\n{stderr}"
    );
    assert_eq!(json(&stdout)["outcome"], "warm", "{stdout}");
    assert!(stderr.contains("progress modules:"), "{stderr}");
}
