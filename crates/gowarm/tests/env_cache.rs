//! `go env -json` results are reused for modules whose go.mod has the same `go` and
//! `toolchain` lines, for `[go] env_cache_secs`; a different go line runs it again.

mod common;

use std::path::Path;

use gowarm::Engine;
use gowarm_testkit::{copy_example_program, go_binary, GoEnv, TempGoDirs};

/// A `go` that logs each `env` run to `log`, then runs the real one.
fn counting_go(dir: &Path, log: &Path) -> std::path::PathBuf {
    use std::os::unix::fs::PermissionsExt;
    let script = dir.join("go");
    std::fs::write(
        &script,
        format!(
            "#!/bin/sh\n[ \"$1\" = env ] && echo env >> '{}'\nexec '{}' \"$@\"\n",
            log.display(),
            go_binary().display()
        ),
    )
    .expect("script");
    std::fs::set_permissions(&script, std::fs::Permissions::from_mode(0o755)).expect("chmod");
    script
}

fn runs(log: &Path) -> usize {
    std::fs::read_to_string(log)
        .map(|s| s.lines().count())
        .unwrap_or(0)
}

#[test]
fn go_env_is_reused_per_go_line_and_not_when_disabled() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let log = tmp.path().join("go-env.log");
    let go = counting_go(tmp.path(), &log);
    let a = tmp.path().join("a");
    let b = tmp.path().join("b");
    copy_example_program(&a).expect("program");
    copy_example_program(&b).expect("program");
    let pod = TempGoDirs::new().expect("pod");
    let warm = tmp.path().join("warm");
    std::fs::create_dir_all(warm.join("go-mod")).expect("warm");
    let mut cfg = common::config(&GoEnv::new(&*pod), &[format!("dir:{}", warm.display())]);
    cfg.go.binary = go.clone();
    let engine = Engine::new(cfg.clone()).expect("engine");
    engine.detect(&a).expect("detect a");
    engine.detect(&a).expect("detect a again");
    engine.detect(&b).expect("detect b (same go line)");
    assert_eq!(runs(&log), 1);
    let gomod = b.join("go.mod");
    let text = std::fs::read_to_string(&gomod).expect("go.mod");
    std::fs::write(&gomod, text.replace("go 1.22", "go 1.23")).expect("write");
    engine.detect(&b).expect("detect b (new go line)");
    assert_eq!(runs(&log), 2);

    cfg.go.env_cache_secs = 0;
    let uncached = Engine::new(cfg).expect("engine");
    uncached.detect(&a).expect("detect");
    uncached.detect(&a).expect("detect");
    assert_eq!(runs(&log), 4);
}
