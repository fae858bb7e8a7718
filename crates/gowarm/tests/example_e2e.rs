//! The engine on the small embedded example: fall-through between sources, bad content,
//! bad input and local failures. Nothing unverified, and nothing partial, reaches a cache.

mod common;

use common::Baked;

use std::io::{Read, Write};
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::sync::OnceLock;
use std::time::{Duration, SystemTime};

use gowarm::{BakeRequest, Engine, Outcome};
use gowarm_gomod::modcache::{ModCache, TreeState};
use gowarm_gomod::ModuleVersion;
use gowarm_testkit::{
    copy_example_program, example_proxy, go_build, make_tree_writable, GoDirs, GoEnv, ProxyDir,
    TempGoDirs,
};

fn baked() -> &'static Baked {
    static BAKED: OnceLock<Baked> = OnceLock::new();
    BAKED.get_or_init(|| {
        let root = tempfile::tempdir().expect("tempdir");
        gowarm_testkit::remove_at_exit(root.path());
        let mut proxy = ProxyDir::new(root.path().join("proxy")).expect("proxy");
        example_proxy(&mut proxy).expect("example proxy");
        let program = root.path().join("src/program");
        copy_example_program(&program).expect("program");
        Baked::new(root, proxy, program)
    })
}

fn widgets() -> ModuleVersion {
    ModuleVersion::new("example.com/BigCo/widgets", "v1.2.0")
}

fn dir(p: &Path) -> String {
    format!("dir:{}", p.display())
}

/// A copy of the baked warm directory with one byte of one module file changed.
fn corrupt_copy(name: &str) -> PathBuf {
    let b = baked();
    let dst = b.root.path().join(name);
    copy_tree(&b.warm, &dst);
    make_tree_writable(&dst);
    let tree = ModCache::new(dst.join("go-mod"))
        .tree_dir(&widgets())
        .expect("tree dir");
    let file = std::fs::read_dir(&tree)
        .expect("read tree")
        .filter_map(|e| e.ok())
        .map(|e| e.path())
        .find(|p| p.extension().is_some_and(|e| e == "go"))
        .expect("a .go file");
    let mut data = std::fs::read(&file).expect("read");
    data[0] ^= 0x20;
    std::fs::write(&file, data).expect("write");
    dst
}

fn copy_tree(src: &Path, dst: &Path) {
    let out = std::process::Command::new("cp")
        .arg("-a")
        .arg(src)
        .arg(dst)
        .output()
        .expect("cp");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

#[test]
fn mismatching_tree_falls_through_to_the_next_source() {
    let b = baked();
    let bad = corrupt_copy("warm-corrupt-1");
    let pod = TempGoDirs::new().expect("pod");
    let engine = common::engine(&GoEnv::new(&*pod), &[dir(&bad), b.proxy.url()]);
    let (_, report) = engine.warm(&b.program, None).expect("warm");
    // The pod's GOMODCACHE differs from the bake's: modules only.
    assert_eq!(report.modules.failed, 0, "{}", report.to_human());
    assert_eq!(
        report.sources[&dir(&bad)].rejected,
        1,
        "{}",
        report.to_human()
    );
    let proxy = format!("goproxy:{}", b.proxy.url());
    assert_eq!(report.sources[&proxy].items, 1, "{}", report.to_human());
    let f = report
        .failures
        .iter()
        .find(|f| f.item == widgets().to_string())
        .expect("the mismatch is reported");
    assert_eq!(f.source.as_deref(), Some(dir(&bad).as_str()));
    let state = ModCache::new(&pod.gomodcache)
        .state(&widgets())
        .expect("state");
    assert!(matches!(state.tree, TreeState::Complete { .. }));

    // Modules only (the pod's GOMODCACHE differs from the bake's): verify builds, and names
    // the misses.
    let v = engine.verify(&b.program).expect("verify");
    assert!(v.hit_ratio < 0.5, "{v:?}");
    for pkg in ["example.com/greet", "example.com/BigCo/widgets", "fmt"] {
        assert!(
            v.compiled.iter().any(|c| c == pkg),
            "{pkg} not in {:?}",
            v.compiled
        );
    }
}

#[test]
fn mismatching_tree_with_no_other_source_installs_nothing() {
    let b = baked();
    let bad = corrupt_copy("warm-corrupt-2");
    let pod = TempGoDirs::new().expect("pod");
    let engine = common::engine(&GoEnv::new(&*pod), &[dir(&bad)]);
    let (_, report) = engine.warm(&b.program, None).expect("warm");
    assert_eq!(report.outcome, Outcome::Incomplete);
    assert_eq!(report.modules.failed, 1, "{}", report.to_human());
    let mc = ModCache::new(&pod.gomodcache);
    assert!(matches!(
        mc.state(&widgets()).expect("state").tree,
        TreeState::Absent
    ));
    let tree = mc.tree_dir(&widgets()).expect("tree dir");
    let parent = tree.parent().expect("parent");
    let leftovers: Vec<_> = std::fs::read_dir(parent)
        .map(|d| d.filter_map(|e| e.ok()).map(|e| e.file_name()).collect())
        .unwrap_or_default();
    assert!(
        leftovers
            .iter()
            .all(|n| !n.to_string_lossy().starts_with("widgets@")),
        "partial tree left behind: {leftovers:?}"
    );
    assert!(
        engine
            .detect(&b.program)
            .expect("detect")
            .cold_modules()
            .count()
            >= 1
    );
}

/// Serves `root` over HTTP on loopback, truncating every `.zip` body to half its length
/// while announcing the full Content-Length.
fn truncating_proxy(root: PathBuf) -> String {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
    let addr = listener.local_addr().expect("addr");
    std::thread::spawn(move || {
        for conn in listener.incoming().take(200) {
            let Ok(mut conn) = conn else { continue };
            let root = root.clone();
            std::thread::spawn(move || {
                let mut buf = [0u8; 4096];
                let n = conn.read(&mut buf).unwrap_or(0);
                let req = String::from_utf8_lossy(&buf[..n]);
                let path = req.split_whitespace().nth(1).unwrap_or("/").to_string();
                let file = root.join(path.trim_start_matches('/'));
                match std::fs::read(&file) {
                    Ok(body) => {
                        let send = if path.ends_with(".zip") {
                            &body[..body.len() / 2]
                        } else {
                            &body[..]
                        };
                        let _ = write!(
                            conn,
                            "HTTP/1.1 200 OK\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
                            body.len()
                        );
                        let _ = conn.write_all(send);
                    }
                    Err(_) => {
                        let _ = conn.write_all(
                            b"HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\nConnection: close\r\n\r\n",
                        );
                    }
                }
            });
        }
    });
    format!("http://{addr}")
}

#[test]
fn truncated_download_is_rejected_and_the_next_source_supplies() {
    let b = baked();
    let url = truncating_proxy(b.proxy.root().to_path_buf());
    let pod = TempGoDirs::new().expect("pod");
    let engine = common::engine(&GoEnv::new(&*pod), &[url.clone(), b.proxy.url()]);
    let (_, report) = engine.warm(&b.program, None).expect("warm");
    assert_eq!(report.modules.failed, 0, "{}", report.to_human());
    let http = &report.sources[&format!("goproxy:{url}")];
    assert_eq!(
        http.items,
        3,
        ".mod files come from the HTTP source: {}",
        report.to_human()
    );
    assert_eq!(http.errors + http.rejected, 3, "{}", report.to_human());
    assert!(
        report
            .failures
            .iter()
            .any(|f| f.error.contains("truncated")),
        "{}",
        report.to_human()
    );
}

#[test]
fn missing_source_directory_is_a_clear_error() {
    let pod = TempGoDirs::new().expect("pod");
    let cfg = common::config(&GoEnv::new(&*pod), &["dir:/nonexistent/warm-image".into()]);
    let e = Engine::new(cfg).expect_err("must fail").to_string();
    assert!(
        e.contains("/nonexistent/warm-image") && e.contains("mount"),
        "{e}"
    );
}

#[test]
fn unwritable_module_cache_is_a_clear_error() {
    let b = baked();
    let tmp = tempfile::tempdir().expect("tempdir");
    let file = tmp.path().join("a-file");
    std::fs::write(&file, "not a directory").expect("write");
    let dirs = GoDirs {
        gopath: tmp.path().join("gopath"),
        gomodcache: file.join("gomodcache"),
        gocache: tmp.path().join("gocache"),
    };
    let engine = common::engine(&GoEnv::new(&dirs), &[dir(&b.warm)]);
    let e = engine
        .warm(&b.program, None)
        .expect_err("must fail")
        .to_string();
    assert!(e.contains(&file.display().to_string()), "{e}");
}

#[test]
fn malformed_gosum_names_file_and_line() {
    let b = baked();
    let tmp = tempfile::tempdir().expect("tempdir");
    let program = tmp.path().join("program");
    copy_example_program(&program).expect("program");
    let sum = program.join("go.sum");
    let mut text = std::fs::read_to_string(&sum).expect("go.sum");
    text.push_str("example.com/broken v1.0.0 not-a-hash\n");
    std::fs::write(&sum, &text).expect("write");
    let pod = TempGoDirs::new().expect("pod");
    let engine = common::engine(&GoEnv::new(&*pod), &[dir(&b.warm)]);
    let e = engine.detect(&program).expect_err("must fail").to_string();
    let line = text.lines().count();
    assert!(e.contains(&format!("go.sum:{line}")), "{e}");
}

#[test]
fn warm_copies_old_entries_with_fresh_mtimes_and_trim_txt_then_builds_with_zero_compiles() {
    let b = baked();
    // Make every file of a copy of the warm cache ten days old, as an image layer would be.
    let old = b.root.path().join("warm-old");
    copy_tree(&b.warm, &old);
    let ten_days_ago = SystemTime::now() - Duration::from_secs(10 * 24 * 3600);
    for e in walkdir::WalkDir::new(old.join("go-build"))
        .into_iter()
        .filter_map(|e| e.ok())
    {
        if e.file_type().is_file() {
            filetime::set_file_mtime(e.path(), filetime::FileTime::from_system_time(ten_days_ago))
                .expect("set mtime");
        }
    }
    common::remove_cache(&b.runtime.gomodcache);
    common::remove_cache(&b.runtime.gocache);
    let engine = common::engine(&GoEnv::new(&b.runtime), &[dir(&old)]);
    let started = SystemTime::now() - Duration::from_secs(2);
    let (_, report) = engine.warm(&b.program, None).expect("warm");
    assert_eq!(report.outcome, Outcome::Warm, "{}", report.to_human());
    assert!(report.entries.installed > 0);
    let trim = std::fs::read_to_string(b.runtime.gocache.join("trim.txt")).expect("trim.txt");
    let t: u64 = trim.trim().parse().expect("unix time");
    assert!(
        t + 60
            >= started
                .duration_since(SystemTime::UNIX_EPOCH)
                .expect("now")
                .as_secs()
    );
    for e in walkdir::WalkDir::new(&b.runtime.gocache)
        .into_iter()
        .filter_map(|e| e.ok())
    {
        if e.file_type().is_file() && e.file_name() != "README" {
            let m = e.metadata().expect("metadata").modified().expect("mtime");
            assert!(m >= started, "{} kept an old mtime", e.path().display());
        }
    }
    let out = tempfile::tempdir().expect("tempdir");
    let run = go_build(
        &b.program,
        &GoEnv::new(&b.runtime).goflags("-mod=readonly"),
        &out.path().join("prog"),
    )
    .expect("go build");
    assert_eq!(run.compiles, 0, "{}", run.stderr);
}

#[test]
fn concurrent_warms_of_one_pod_all_succeed() {
    let b = baked();
    let pod = TempGoDirs::new().expect("pod");
    let env = GoEnv::new(&*pod);
    let sources = [dir(&b.warm)];
    // Two engines (two processes' worth) and six threads sharing a third, all at once.
    let shared = common::engine(&env, &sources);
    let reports: Vec<_> = std::thread::scope(|s| {
        let mut hs: Vec<_> = (0..2)
            .map(|_| s.spawn(|| common::engine(&env, &sources).warm(&b.program, None)))
            .collect();
        hs.extend((0..6).map(|_| s.spawn(|| shared.warm(&b.program, None))));
        hs.into_iter().map(|h| h.join().expect("thread")).collect()
    });
    for r in reports {
        let (_, report) = r.expect("warm");
        assert_eq!(report.modules.failed, 0, "{}", report.to_human());
    }
    let mc = ModCache::new(&pod.gomodcache);
    assert!(matches!(
        mc.state(&widgets()).expect("state").tree,
        TreeState::Complete { .. }
    ));
}

#[test]
fn with_trimpath_on_both_sides_another_gomodcache_path_still_hits() {
    let b = baked();
    let tmp = tempfile::tempdir().expect("tempdir");
    let bake_dirs = GoDirs::under(&tmp.path().join("bake"));
    let warm = tmp.path().join("warm-trimpath");
    common::engine(
        &GoEnv::new(&bake_dirs).goflags("-trimpath"),
        &[b.proxy.url()],
    )
    .bake(
        &BakeRequest::targets(vec![b.program.clone()], warm.clone(), common::cacheprog()),
        None,
    )
    .expect("bake with -trimpath");

    let pod = TempGoDirs::new().expect("pod");
    let env = GoEnv::new(&*pod).goflags("-trimpath");
    let engine = common::engine(&env, &[dir(&warm)]);
    let plan = engine.detect(&b.program).expect("detect");
    assert!(plan.entries.diffs.is_empty(), "{:?}", plan.entries.diffs);
    let (_, report) = engine.warm(&b.program, None).expect("warm");
    assert_eq!(report.outcome, Outcome::Warm, "{}", report.to_human());
    let run = go_build(
        &b.program,
        &GoEnv::new(&*pod).goflags("-trimpath -mod=readonly"),
        &tmp.path().join("prog"),
    )
    .expect("go build");
    assert_eq!(run.compiles, 0, "{}", run.stderr);
    let v = engine.verify(&b.program).expect("verify");
    assert_eq!((v.hit_ratio, v.compiled.len()), (1.0, 0), "{v:?}");
    assert!(v.packages > 10, "{v:?}");

    // The same cache is useless without -trimpath, and the guard says so.
    let plain = TempGoDirs::new().expect("pod");
    let plan = common::engine(&GoEnv::new(&*plain), &[dir(&warm)])
        .detect(&b.program)
        .expect("detect");
    assert!(plan.entries.diffs.iter().any(|d| d.field == "trimpath"));
    assert!(plan.entries.skipped.is_some());
}

#[test]
fn a_source_that_cannot_be_opened_is_skipped_with_a_warning() {
    let b = baked();
    let pod = TempGoDirs::new().expect("pod");
    let engine = common::engine(
        &GoEnv::new(&*pod),
        &["dir:/nonexistent/warm-image".into(), b.proxy.url()],
    );
    let (_, report) = engine.warm(&b.program, None).expect("warm");
    assert_eq!(report.outcome, Outcome::Warm, "{}", report.to_human());
    assert_eq!(report.modules.installed, 3);
    assert!(
        report
            .warnings
            .iter()
            .any(|w| w.contains("/nonexistent/warm-image")),
        "{:?}",
        report.warnings
    );
}

#[test]
fn bake_refuses_an_output_it_must_not_replace() {
    let b = baked();
    let tmp = tempfile::tempdir().expect("tempdir");
    let engine = common::engine(&GoEnv::new(&b.runtime), &[b.proxy.url()]);
    let bake = |out: PathBuf| {
        engine.bake(
            &BakeRequest::targets(vec![b.program.clone()], out, common::cacheprog()),
            None,
        )
    };

    let precious = tmp.path().join("important");
    std::fs::create_dir(&precious).expect("mkdir");
    std::fs::write(precious.join("thesis.txt"), "my thesis").expect("write");
    let e = bake(precious.clone()).expect_err("must refuse").to_string();
    assert!(
        e.contains("refusing") && e.contains("gowarm-manifest.json"),
        "{e}"
    );
    assert_eq!(
        std::fs::read_to_string(precious.join("thesis.txt")).expect("kept"),
        "my thesis"
    );

    let file = tmp.path().join("existing.txt");
    std::fs::write(&file, "precious").expect("write");
    let e = bake(file.clone()).expect_err("must refuse").to_string();
    assert!(e.contains("not a directory"), "{e}");
    assert_eq!(std::fs::read_to_string(&file).expect("kept"), "precious");

    let e = bake(b.program.clone())
        .expect_err("must refuse")
        .to_string();
    assert!(e.contains("overlaps the target"), "{e}");
    assert!(b.program.join("go.mod").is_file());
    let e = bake(b.root.path().to_path_buf())
        .expect_err("must refuse")
        .to_string();
    assert!(e.contains("overlaps"), "{e}");
}

#[test]
fn baked_output_is_readable_by_other_users() {
    use std::os::unix::fs::PermissionsExt;
    let b = baked();
    let mode = |p: &Path| std::fs::metadata(p).expect("stat").permissions().mode() & 0o777;
    assert_eq!(mode(&b.warm), 0o755);
    assert_eq!(mode(&b.warm.join("gowarm-manifest.json")), 0o644);
}
