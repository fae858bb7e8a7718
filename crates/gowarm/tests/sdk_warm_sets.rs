//! Warm sets on real SDK code (Debian's aws-sdk-go, Google API client and godo sources):
//! one bake of the three sets `aws`, `google` and `digitalocean`, two target programs each,
//! with `-trimpath` so bake environments and pods live at any path. A pod that warms only
//! `digitalocean` installs a small part of the whole cache and builds its programs with 100%
//! hits; a pod warming an aws program takes only `aws` and builds with 100% hits; a re-bake
//! of unchanged inputs on a new runner does nothing, in seconds.
//!
//! Trim safety across two sets, adding and dropping sets are tested on the small example
//! (warm_sets.rs); this file proves the acceptance on the real corpus only.

mod common;

use std::path::{Path, PathBuf};
use std::sync::{OnceLock, RwLock};
use std::time::{Duration, Instant};

use gowarm::bake::SetAction;
use gowarm::manifest::{WarmSet, MANIFEST_FILE};
use gowarm::report::human_bytes;
use gowarm::{BakeReport, BakeRequest, Engine, Manifest, Outcome, Report, SetRequest};
use gowarm_gocache::BuildCache;
use gowarm_testkit::{
    cached_corpus, go_build, write_warm_set_programs, BuildRun, GoEnv, ProxyDir, TempGoDirs,
    WrittenWarmSet, WARM_SETS,
};

const TRIM: &str = "-trimpath";

struct Fixture {
    /// GOPROXY of the shared cached corpus (read only).
    proxy_url: String,
    /// The programs of every set, as written.
    sets: Vec<WrittenWarmSet>,
    /// The baked warm cache directory.
    warm: PathBuf,
    report: BakeReport,
}

/// The fixture's directory (programs, warm cache), removed at exit.
static ROOT: OnceLock<tempfile::TempDir> = OnceLock::new();

/// Pods read the baked output while the no-op re-bake (which must not write it) runs with
/// the output to itself, so a re-bake that wrongly rebuilt could not break a pod's warm.
static OUTPUT: RwLock<()> = RwLock::new(());

fn env(dirs: &TempGoDirs) -> GoEnv {
    GoEnv::new(dirs).goflags(TRIM)
}

fn secs(d: Duration) -> String {
    format!("{:.2} s", d.as_secs_f64())
}

fn set_requests(sets: &[WrittenWarmSet]) -> Vec<SetRequest> {
    sets.iter()
        .map(|s| SetRequest::new(s.set, s.dirs.clone()))
        .collect()
}

/// A bake in a fresh bake environment (a new CI runner: empty caches) from the corpus.
fn bake(sets: Vec<SetRequest>, out: &Path, proxy_url: &str) -> gowarm::Result<BakeReport> {
    let dirs = TempGoDirs::new().expect("bake dirs");
    common::engine(&env(&dirs), &[proxy_url.to_string()])
        .bake(&BakeRequest::new(sets, out, common::cacheprog()), None)
}

fn fixture() -> &'static Fixture {
    static F: OnceLock<Fixture> = OnceLock::new();
    F.get_or_init(|| {
        let t0 = Instant::now();
        let corpus = cached_corpus().expect("Debian corpus (run scripts/test)");
        let proxy_url = ProxyDir::new(corpus.cached_proxy())
            .expect("corpus proxy")
            .url();
        let root = tempfile::tempdir().expect("tempdir");
        // The fixture is a static, never dropped: the ~750 MB of programs and warm cache go
        // when the test process exits.
        let root = {
            let path = root.path().to_path_buf();
            ROOT.set(root).expect("one fixture");
            extern "C" fn remove_root() {
                if let Some(root) = ROOT.get() {
                    gowarm_testkit::make_tree_writable(root.path());
                    let _ = std::fs::remove_dir_all(root.path());
                }
            }
            // SAFETY: registers a plain function without arguments; it runs once, at exit,
            // after every test thread has finished.
            unsafe { libc::atexit(remove_root) };
            path
        };
        // go.sum comes from `go mod tidy` in throwaway caches, so the bake fetches
        // everything itself.
        let tidy_dirs = TempGoDirs::new().expect("tidy dirs");
        let sets = write_warm_set_programs(&root.join("src"), &corpus, &proxy_url, &tidy_dirs)
            .expect("write warm-set programs");
        drop(tidy_dirs);
        eprintln!("corpus and 6 programs tidied in {}", secs(t0.elapsed()));
        let names: Vec<&str> = sets.iter().map(|s| s.set).collect();
        assert_eq!(names, WARM_SETS);

        let warm = root.join("warm");
        let t = Instant::now();
        let report = bake(set_requests(&sets), &warm, &proxy_url).expect("bake");
        eprintln!(
            "full bake of {} in {} ({} ms reported): {} modules ({}), {} entries ({}), {} modules fetched",
            names.join(", "),
            secs(t.elapsed()),
            report.duration_ms,
            report.modules,
            human_bytes(report.module_bytes),
            report.entries,
            human_bytes(report.entry_bytes),
            report.modules_fetched
        );
        for s in &report.sets {
            eprintln!(
                "  {}: {:?}, {} modules, {} entries, {} compiled, {} written, builds {} ms, verify {}",
                s.name,
                s.action,
                s.modules,
                s.entries,
                s.compiled,
                s.written,
                s.build_ms,
                s.verify
                    .as_ref()
                    .map(|v| format!("{:.3} of {} packages in {} ms", v.hit_ratio, v.packages, v.build_ms))
                    .unwrap_or_else(|| "none".into())
            );
        }
        Fixture {
            proxy_url,
            sets,
            warm,
            report,
        }
    })
}

fn programs<'f>(f: &'f Fixture, set: &str) -> &'f [PathBuf] {
    &f.sets
        .iter()
        .find(|s| s.set == set)
        .unwrap_or_else(|| panic!("no set {set}"))
        .dirs
}

fn manifest(dir: &Path) -> Manifest {
    Manifest::read(&dir.join(MANIFEST_FILE)).expect("manifest")
}

fn set<'m>(m: &'m Manifest, name: &str) -> &'m WarmSet {
    m.warm_set(name)
        .unwrap_or_else(|| panic!("no set {name} in {:?}", m.warm_sets))
}

fn pod_engine(pod: &TempGoDirs, warm: &Path) -> Engine {
    common::engine(&env(pod), &[format!("dir:{}", warm.display())])
}

fn build(dir: &Path, pod: &TempGoDirs) -> BuildRun {
    let name = dir.file_name().expect("program name");
    go_build(
        dir,
        &GoEnv::new(pod).goflags("-trimpath -mod=readonly"),
        &pod.root().join(name),
    )
    .expect("go build")
}

/// Warms `dir` into `pod` with the automatic set choice, timed.
fn warm(engine: &Engine, dir: &Path) -> Report {
    let t = Instant::now();
    let (_, report) = engine.warm(dir, None).expect("warm");
    assert_eq!(report.outcome, Outcome::Warm, "{}", report.to_human());
    assert_eq!(report.modules.failed, 0, "{}", report.to_human());
    eprintln!(
        "warm of {}: sets {:?}, {} modules + {} entries installed, {} in {}",
        dir.display(),
        report.warm_sets,
        report.modules.installed,
        report.entries.installed,
        human_bytes(report.bytes_installed),
        secs(t.elapsed())
    );
    report
}

/// Builds every program of `dirs` offline in `pod` and checks nothing compiles.
fn builds_with_all_hits(dirs: &[PathBuf], pod: &TempGoDirs) {
    for dir in dirs {
        let run = build(dir, pod);
        eprintln!(
            "build of {}: {} compiles in {}",
            dir.display(),
            run.compiles,
            secs(run.elapsed)
        );
        assert_eq!(
            run.compiles,
            0,
            "{}: packages compiled after warm:\n{}",
            dir.display(),
            run.stderr
        );
    }
}

#[test]
fn bake_of_three_sdk_sets_verifies_each_and_stores_shared_entries_once() {
    let f = fixture();
    let r = &f.report;
    assert!(!r.up_to_date);
    assert!(r.modules_fetched > 0, "{r:?}");
    let names: Vec<&str> = r.sets.iter().map(|s| s.name.as_str()).collect();
    assert_eq!(names, WARM_SETS);
    for s in &r.sets {
        assert_eq!(s.action, SetAction::Built, "{}", s.name);
        assert_eq!(s.targets.len(), 2, "{}", s.name);
        let v = s.verify.as_ref().expect("verified");
        assert_eq!(v.hit_ratio, 1.0, "{}: compiled {:?}", s.name, v.compiled);
        assert!(v.packages > 10, "{}: {} packages", s.name, v.packages);
    }

    let m = manifest(&f.warm);
    assert_eq!(m.warm_sets.len(), 3);
    let has_module = |s: &WarmSet, path: &str| {
        s.modules
            .iter()
            .any(|k| k.strip_prefix(path).is_some_and(|v| v.starts_with('@')))
    };
    for (name, sdk) in [
        ("aws", "github.com/aws/aws-sdk-go"),
        ("google", "google.golang.org/api"),
        ("digitalocean", "github.com/digitalocean/godo"),
    ] {
        let s = set(&m, name);
        assert!(
            s.sdk_modules.iter().any(|p| p == sdk),
            "{name}: sdk_modules {:?}",
            s.sdk_modules
        );
        assert!(has_module(s, sdk), "{name}: modules {:?}", s.modules);
        // Selection keys are the set's own: nothing another set's programs require.
        for other in m.warm_sets.iter().filter(|o| o.name != name) {
            for k in &s.sdk_modules {
                assert!(
                    !has_module(other, k),
                    "{name} is selected by {k}, which {} needs too",
                    other.name
                );
            }
        }
        // No set lists another set's SDK module among its modules.
        for other in m.warm_sets.iter().filter(|o| o.name != name) {
            assert!(
                !has_module(other, sdk),
                "{} needs {sdk}: {:?}",
                other.name,
                other.modules
            );
        }
    }

    // The standard library is in every set: listed by each, stored once.
    let aws = set(&m, "aws");
    let digitalocean = set(&m, "digitalocean");
    let shared = aws
        .entries
        .iter()
        .filter(|e| digitalocean.entries.contains(e))
        .count();
    assert!(
        shared > 50,
        "{shared} entries shared by aws and digitalocean"
    );
    let union: std::collections::BTreeSet<&String> =
        m.warm_sets.iter().flat_map(|s| &s.entries).collect();
    assert_eq!(m.entries.len(), union.len());
    let on_disk = BuildCache::at(f.warm.join("go-build"))
        .entries()
        .expect("entries")
        .len();
    assert_eq!(
        on_disk,
        m.entries.len(),
        "the output holds exactly the listed entries"
    );
    let summary = m.summary();
    assert!(summary.shared_bytes > 0);
    let listed: u64 = summary
        .warm_sets
        .iter()
        .map(|s| s.module_bytes + s.entry_bytes)
        .sum();
    eprintln!(
        "manifest: {} modules ({}), {} entries ({}), shared by sets {}; per set, summed: {}",
        summary.modules,
        human_bytes(summary.module_bytes),
        summary.entries,
        human_bytes(summary.entry_bytes),
        human_bytes(summary.shared_bytes),
        human_bytes(listed)
    );
    assert!(
        listed > summary.module_bytes + summary.entry_bytes,
        "shared content is counted by each set but stored once"
    );
    for s in &summary.warm_sets {
        eprintln!(
            "  {}: sdk {:?}, {} modules ({}), {} entries ({}), shared {}",
            s.name,
            s.sdk_modules,
            s.modules,
            human_bytes(s.module_bytes),
            s.entries,
            human_bytes(s.entry_bytes),
            human_bytes(s.shared_bytes)
        );
    }
}

#[test]
fn digitalocean_alone_installs_far_less_than_the_whole_cache_and_builds_with_all_hits() {
    let f = fixture();
    let _reading = OUTPUT.read().unwrap_or_else(|e| e.into_inner());
    let m = manifest(&f.warm);
    let pod = TempGoDirs::new().expect("pod");
    let engine = pod_engine(&pod, &f.warm);
    let dirs = programs(f, "digitalocean");
    let mut installed = 0;
    for (i, dir) in dirs.iter().enumerate() {
        let report = warm(&engine, dir);
        assert_eq!(report.warm_sets, ["digitalocean"], "{}", report.to_human());
        assert!(
            report.profile_diffs.is_empty(),
            "{:?}",
            report.profile_diffs
        );
        if i > 0 {
            // The first warm installed the whole set: every program's entries.
            assert_eq!(report.entries.installed, 0, "{}", report.to_human());
        }
        installed += report.bytes_installed;
    }
    let whole = m.module_bytes() + m.entry_bytes();
    let ratio = installed as f64 / whole as f64;
    eprintln!(
        "digitalocean pod: {} installed of {} in the whole cache: {:.1}%",
        human_bytes(installed),
        human_bytes(whole),
        ratio * 100.0
    );
    assert!(
        ratio < 0.4,
        "warming digitalocean installed {installed} of {whole} bytes"
    );
    builds_with_all_hits(dirs, &pod);
}

#[test]
fn an_aws_program_warms_the_aws_set_only_and_builds_with_all_hits() {
    let f = fixture();
    let _reading = OUTPUT.read().unwrap_or_else(|e| e.into_inner());
    let pod = TempGoDirs::new().expect("pod");
    let engine = pod_engine(&pod, &f.warm);
    let dirs = programs(f, "aws");
    let report = warm(&engine, &dirs[0]);
    assert_eq!(report.warm_sets, ["aws"], "{}", report.to_human());
    let m = manifest(&f.warm);
    assert_eq!(
        report.entries.installed + report.entries.already_warm,
        set(&m, "aws").entries.len() as u64,
        "{}",
        report.to_human()
    );
    // The second aws program needs no module the first lacked: nothing more to install.
    let second = warm(&engine, &dirs[1]);
    assert_eq!(second.warm_sets, ["aws"], "{}", second.to_human());
    assert_eq!(second.entries.installed, 0, "{}", second.to_human());
    builds_with_all_hits(dirs, &pod);
    // A google program takes the google set alone (its go.mod requires x/oauth2, which
    // the digitalocean set's programs require directly: no reason to take that set).
    for dir in programs(f, "google") {
        let plan = engine.detect(dir).expect("detect");
        assert_eq!(
            plan.entries.sets,
            ["google"],
            "{}",
            plan.entries.sets_reason
        );
    }
}

#[test]
fn unchanged_sets_rebake_on_a_new_runner_is_up_to_date_in_seconds() {
    let f = fixture();
    let _writing = OUTPUT.write().unwrap_or_else(|e| e.into_inner());
    let before = std::fs::read(f.warm.join(MANIFEST_FILE)).expect("manifest");
    let t = Instant::now();
    let r = bake(set_requests(&f.sets), &f.warm, &f.proxy_url).expect("re-bake");
    let elapsed = t.elapsed();
    eprintln!(
        "no-op re-bake in a fresh bake environment: {} ({} ms reported)",
        secs(elapsed),
        r.duration_ms
    );
    assert!(r.up_to_date, "{r:?}");
    assert!(
        r.sets.iter().all(|s| s.action == SetAction::Kept),
        "{:?}",
        r.sets
    );
    assert_eq!(r.modules_fetched, 0);
    assert!(r.warms.is_empty());
    assert!(elapsed < Duration::from_secs(5), "{elapsed:?}");
    assert_eq!(
        std::fs::read(f.warm.join(MANIFEST_FILE)).expect("manifest"),
        before
    );
}

#[test]
fn pod_b_warms_an_aws_program_from_pod_a_over_http_and_builds_with_all_hits() {
    use gowarm::config::{SourceConfig, SourceKind};
    let f = fixture();
    let _reading = OUTPUT.read().unwrap_or_else(|e| e.into_inner());
    let dirs = programs(f, "aws");
    // Pod A: warmed from the image, then serving its caches and what they hold.
    let pod_a = TempGoDirs::new().expect("pod A");
    let a = pod_engine(&pod_a, &f.warm);
    warm(&a, &dirs[0]);
    let held = a.held_manifest().expect("held manifest");
    let token_dir = tempfile::tempdir().expect("tempdir");
    let token_file = token_dir.path().join("token");
    std::fs::write(&token_file, "sdk-token").expect("token");
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let base = format!("http://{}", listener.local_addr().expect("addr"));
    listener.set_nonblocking(true).expect("nonblocking");
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("runtime");
    let server = gowarm_peer::Server::new(gowarm_peer::ServerConfig {
        gomodcache: Some(pod_a.gomodcache.clone()),
        gocache: Some(pod_a.gocache.clone()),
        token: Some("sdk-token".into()),
        manifest: Some(gowarm_peer::manifest_from_bytes(
            serde_json::to_vec(&held).expect("json"),
        )),
        ..gowarm_peer::ServerConfig::default()
    })
    .expect("server");
    rt.spawn(async move {
        let l = tokio::net::TcpListener::from_std(listener).expect("listener");
        server.run(l, std::future::pending()).await
    });
    // Pod B: pod A is its only source (trusted: the same Deployment's pods).
    let pod_b = TempGoDirs::new().expect("pod B");
    let mut cfg = common::config(&env(&pod_b), &[]);
    let mut peer = SourceConfig {
        kind: SourceKind::Peer,
        peers: vec![base],
        token_file: Some(token_file),
        trusted: Some(true),
        timeout_secs: 30,
        ..SourceConfig::default()
    };
    peer.name = peer.default_name();
    cfg.sources = vec![peer];
    let b = Engine::new(cfg).expect("engine");
    let t = Instant::now();
    let report = warm(&b, &dirs[0]);
    eprintln!("pod B from pod A over HTTP: {}", secs(t.elapsed()));
    assert!(report.entries.installed > 100, "{}", report.to_human());
    let run = build(&dirs[0], &pod_b);
    assert_eq!(run.compiles, 0, "{}", run.stderr);
    rt.shutdown_background();
}
