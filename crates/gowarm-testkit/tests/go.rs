//! The toolchain is found and `go` commands are isolated.

use gowarm_testkit::{go_binary, go_command, go_version, run, GoEnv, TempGoDirs};

#[test]
fn toolchain_is_found() {
    assert!(go_version().starts_with("go1."), "{}", go_version());
    let out = run(std::process::Command::new(go_binary()).arg("version")).unwrap();
    assert!(String::from_utf8_lossy(&out.stdout).contains(&go_version()));
}

#[test]
fn go_env_is_isolated() {
    let dirs = TempGoDirs::new().unwrap();
    let out = run(&mut go_command(["env", "-json"], &dirs)).unwrap();
    let env: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let get = |k: &str| env[k].as_str().unwrap_or_default().to_owned();
    assert_eq!(get("GOPROXY"), "off");
    assert_eq!(get("GOSUMDB"), "off");
    assert_eq!(get("GOTOOLCHAIN"), "local");
    assert_eq!(get("GOFLAGS"), "");
    assert_eq!(get("CGO_ENABLED"), "0");
    assert_eq!(get("GONOSUMDB"), "");
    assert_eq!(get("GOPRIVATE"), "");
    assert_eq!(get("GOCACHE"), dirs.gocache.to_string_lossy());
    assert_eq!(get("GOMODCACHE"), dirs.gomodcache.to_string_lossy());
    assert_eq!(get("GOPATH"), dirs.gopath.to_string_lossy());
    assert_eq!(get("GOTELEMETRY"), "off");

    let out = run(&mut GoEnv::new(&dirs)
        .goproxy("file:///nonexistent")
        .goflags("-trimpath")
        .command(["env", "GOPROXY", "GOFLAGS"]))
    .unwrap();
    assert_eq!(
        String::from_utf8_lossy(&out.stdout),
        "file:///nonexistent\n-trimpath\n"
    );
}
