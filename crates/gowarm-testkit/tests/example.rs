//! The committed example program matches what the example proxy serves, and builds.

use std::collections::BTreeSet;
use std::fs;

use gowarm_testkit::{
    copy_example_program, example_program_dir, example_proxy, go_build, run, tidy, GoEnv, ProxyDir,
    TempGoDirs,
};

#[test]
fn committed_go_sum_matches_served_hashes() {
    let mut proxy = ProxyDir::temp().unwrap();
    let served = example_proxy(&mut proxy).unwrap();
    let want: BTreeSet<String> = served
        .iter()
        .flat_map(|(m, h)| {
            h.go_sum_lines(m)
                .lines()
                .map(str::to_owned)
                .collect::<Vec<_>>()
        })
        .collect();
    let path = example_program_dir().join("go.sum");
    let got: BTreeSet<String> = fs::read_to_string(&path)
        .unwrap()
        .lines()
        .map(str::to_owned)
        .collect();
    assert_eq!(
        got,
        want,
        "{} is out of date: regenerate it with \
         `cargo test -p gowarm-testkit --test example -- --ignored regenerate_example_go_sum`",
        path.display()
    );
}

/// Rewrites the committed go.mod/go.sum of the example program with `go mod tidy` against
/// the example proxy. Run by hand after changing testdata/example/modules.
#[test]
#[ignore = "rewrites testdata; run by hand"]
fn regenerate_example_go_sum() {
    let mut proxy = ProxyDir::temp().unwrap();
    example_proxy(&mut proxy).unwrap();
    let dirs = TempGoDirs::new().unwrap();
    let prog = dirs.root().join("program");
    fs::create_dir_all(&prog).unwrap();
    for name in ["go.mod", "main.go"] {
        fs::copy(example_program_dir().join(name), prog.join(name)).unwrap();
    }
    tidy(&prog, &proxy.url(), &dirs).unwrap();
    for name in ["go.mod", "go.sum"] {
        fs::copy(prog.join(name), example_program_dir().join(name)).unwrap();
    }
}

#[test]
fn escaped_paths_are_served() {
    let mut proxy = ProxyDir::temp().unwrap();
    example_proxy(&mut proxy).unwrap();
    let root = proxy.root();
    assert!(root
        .join("example.com/!big!co/widgets/@v/v1.2.0.zip")
        .is_file());
    assert!(root
        .join("example.com/!big!co/widgets/@v/v1.2.0.mod")
        .is_file());
    assert!(root
        .join("example.com/tools/textutil/@v/v0.3.0-!r!c.1.zip")
        .is_file());
    let list = fs::read_to_string(root.join("example.com/greet/@v/list")).unwrap();
    assert_eq!(list, "v1.1.0\n");
    let info = fs::read_to_string(root.join("example.com/greet/@v/v1.1.0.info")).unwrap();
    let info: serde_json::Value = serde_json::from_str(&info).unwrap();
    assert_eq!(info["Version"], "v1.1.0");
    assert!(info["Time"].is_string());
}

#[test]
fn example_program_builds_cold_then_warm() {
    let mut proxy = ProxyDir::temp().unwrap();
    example_proxy(&mut proxy).unwrap();
    let dirs = TempGoDirs::new().unwrap();
    let prog = dirs.root().join("program");
    copy_example_program(&prog).unwrap();

    // Default -mod=readonly: the build fails if the committed go.sum is incomplete.
    let env = GoEnv::new(&dirs).goproxy(proxy.url());
    let cold = go_build(&prog, &env, &dirs.root().join("bin-cold")).unwrap();
    eprintln!(
        "example cold build: {} compiles in {:?}",
        cold.compiles, cold.elapsed
    );
    assert!(cold.compiles > 0);
    let warm = go_build(&prog, &env, &dirs.root().join("bin-warm")).unwrap();
    eprintln!(
        "example warm build: {} compiles in {:?}",
        warm.compiles, warm.elapsed
    );
    assert_eq!(warm.compiles, 0, "warm build compiled:\n{}", warm.stderr);

    let out = run(&mut std::process::Command::new(&warm.binary)).unwrap();
    assert_eq!(
        String::from_utf8_lossy(&out.stdout),
        "Hello, widget owner! You have 3 widgets (12 parts).\ngowarm\n"
    );
    // The module cache uses the same escaping as the proxy.
    assert!(dirs
        .gomodcache
        .join("example.com/!big!co/widgets@v1.2.0/parts/parts.go")
        .is_file());
    assert!(dirs
        .gomodcache
        .join("cache/download/example.com/tools/textutil/@v/v0.3.0-!r!c.1.ziphash")
        .is_file());
}
