//! The `peer` source end to end: "pods" (each its own caches and an in-process
//! `gowarm serve` on its own loopback port, on a runtime of its own) warming from each
//! other, and peers that lie, stall or die mid-transfer.
//!
//! The warm cache is baked with `-trimpath`, so build-cache entries hit in pods whose
//! cache paths differ (each pod has its own temporary directories).

mod common;

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::{Duration, Instant};

use gowarm::config::{SourceConfig, SourceKind};
use gowarm::manifest::EntryRecord;
use gowarm::{BakeRequest, Engine, Manifest, Outcome, Report};
use gowarm_gocache::{ActionEntry, BuildCache, Id};
use gowarm_gomod::modcache::{ModCache, TreeState};
use gowarm_peer::{Metrics, Route, ServerConfig};
use gowarm_testkit::{
    copy_example_program, example_proxy, go_build, make_tree_writable, GoDirs, GoEnv, ProxyDir,
    TempGoDirs,
};

const TOKEN: &str = "engine-peer-test-token";

/// The warm cache every pod starts from, baked once.
struct Baked {
    root: tempfile::TempDir,
    program: PathBuf,
    warm: PathBuf,
    manifest: Manifest,
    token_file: PathBuf,
    _proxy: ProxyDir,
}

fn baked() -> &'static Baked {
    static BAKED: OnceLock<Baked> = OnceLock::new();
    BAKED.get_or_init(|| {
        let root = tempfile::tempdir().expect("tempdir");
        gowarm_testkit::remove_at_exit(root.path());
        let mut proxy = ProxyDir::new(root.path().join("proxy")).expect("proxy");
        example_proxy(&mut proxy).expect("example proxy");
        let program = root.path().join("src/program");
        copy_example_program(&program).expect("program");
        let bake_dirs = GoDirs::under(&root.path().join("bake"));
        let warm = root.path().join("warm");
        common::engine(&GoEnv::new(&bake_dirs).goflags("-trimpath"), &[proxy.url()])
            .bake(
                &BakeRequest::targets(vec![program.clone()], warm.clone(), common::cacheprog()),
                None,
            )
            .expect("bake with -trimpath");
        let manifest = Manifest::read(&warm.join("gowarm-manifest.json")).expect("manifest");
        assert!(
            manifest.entries.len() > 10,
            "{} entries",
            manifest.entries.len()
        );
        let token_file = root.path().join("token");
        std::fs::write(&token_file, format!("{TOKEN}\n")).expect("token file");
        Baked {
            root,
            program,
            warm,
            manifest,
            token_file,
            _proxy: proxy,
        }
    })
}

fn env(dirs: &GoDirs) -> GoEnv {
    GoEnv::new(dirs).goflags("-trimpath")
}

fn dir_source(p: &Path) -> SourceConfig {
    SourceConfig::parse_spec(&format!("dir:{}", p.display())).expect("dir source")
}

fn peer_source(bases: &[&str], trusted: bool, timeout_secs: u64) -> SourceConfig {
    let mut s = SourceConfig {
        kind: SourceKind::Peer,
        peers: bases.iter().map(|b| b.to_string()).collect(),
        token_file: Some(baked().token_file.clone()),
        trusted: Some(trusted),
        timeout_secs,
        connect_timeout_secs: 1,
        ..SourceConfig::default()
    };
    s.name = s.default_name();
    s
}

fn engine(dirs: &GoDirs, sources: Vec<SourceConfig>) -> Engine {
    let mut cfg = common::config(&env(dirs), &[]);
    cfg.sources = sources;
    cfg.warm.jobs = 4;
    Engine::new(cfg).expect("engine")
}

fn warm(dirs: &GoDirs, sources: Vec<SourceConfig>) -> Report {
    let (_, report) = engine(dirs, sources)
        .warm(&baked().program, None)
        .expect("warm");
    report
}

/// Builds the program in `dirs` and returns the number of compiles.
fn compiles(dirs: &GoDirs) -> usize {
    let out = tempfile::tempdir().expect("tempdir");
    let run = go_build(
        &baked().program,
        &GoEnv::new(dirs).goflags("-trimpath -mod=readonly"),
        &out.path().join("prog"),
    )
    .expect("go build");
    run.compiles
}

/// An in-process `gowarm serve` on its own runtime, as another pod's would be.
struct PodServer {
    base: String,
    metrics: Arc<Metrics>,
    rt: Mutex<Option<tokio::runtime::Runtime>>,
}

impl PodServer {
    fn start(cfg: ServerConfig) -> PodServer {
        let l = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
        PodServer::start_on(l, cfg)
    }

    fn start_on(listener: std::net::TcpListener, cfg: ServerConfig) -> PodServer {
        let addr = listener.local_addr().expect("addr");
        listener.set_nonblocking(true).expect("nonblocking");
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .enable_all()
            .build()
            .expect("runtime");
        let server = gowarm_peer::Server::new(cfg).expect("server");
        let metrics = server.metrics();
        rt.spawn(async move {
            let listener = tokio::net::TcpListener::from_std(listener).expect("listener");
            server.run(listener, std::future::pending()).await
        });
        PodServer {
            base: format!("http://{addr}"),
            metrics,
            rt: Mutex::new(Some(rt)),
        }
    }

    /// Kills the "pod": every task and connection goes at once, mid-transfer or not.
    fn kill(&self) {
        if let Some(rt) = self.rt.lock().expect("lock").take() {
            rt.shutdown_background();
        }
    }
}

impl Drop for PodServer {
    fn drop(&mut self) {
        self.kill();
    }
}

/// A pod's caches served with `manifest`.
fn serve(dirs: &GoDirs, manifest: &Manifest, extra: impl FnOnce(&mut ServerConfig)) -> PodServer {
    let mut cfg = ServerConfig {
        gomodcache: Some(dirs.gomodcache.clone()),
        gocache: Some(dirs.gocache.clone()),
        token: Some(TOKEN.into()),
        manifest: Some(gowarm_peer::manifest_from_bytes(
            serde_json::to_vec(manifest).expect("manifest json"),
        )),
        ..ServerConfig::default()
    };
    extra(&mut cfg);
    PodServer::start(cfg)
}

/// Pod A: warmed from the baked warm cache (so it holds trees, no zips).
fn pod_a() -> &'static TempGoDirs {
    static A: OnceLock<TempGoDirs> = OnceLock::new();
    A.get_or_init(|| {
        let a = TempGoDirs::new().expect("pod A");
        gowarm_testkit::remove_at_exit(a.root());
        let r = warm(&a, vec![dir_source(&baked().warm)]);
        assert_eq!(r.outcome, Outcome::Warm, "{}", r.to_human());
        assert!(r.entries.installed > 10, "{}", r.to_human());
        a
    })
}

/// Pod B: warmed from pod A alone, over the network; its report and A's server.
struct PodB {
    dirs: TempGoDirs,
    report: Report,
    a_metrics: gowarm_peer::MetricsSnapshot,
    warm_time: Duration,
}

fn pod_b() -> &'static PodB {
    static B: OnceLock<PodB> = OnceLock::new();
    B.get_or_init(|| {
        let a = serve(pod_a(), &baked().manifest, |_| {});
        let dirs = TempGoDirs::new().expect("pod B");
        gowarm_testkit::remove_at_exit(dirs.root());
        let t0 = Instant::now();
        let report = warm(&dirs, vec![peer_source(&[&a.base], true, 30)]);
        let warm_time = t0.elapsed();
        PodB {
            dirs,
            report,
            a_metrics: a.metrics.snapshot(),
            warm_time,
        }
    })
}

fn all_modules_complete(dirs: &GoDirs) {
    let mc = ModCache::new(&dirs.gomodcache);
    for m in gowarm_testkit::example_modules() {
        let s = mc.state(&m).expect("state");
        assert!(matches!(s.tree, TreeState::Complete { .. }), "{m}: {s:?}");
    }
}

#[test]
fn pod_b_warms_from_pod_a_and_builds_with_zero_compiles() {
    let b = pod_b();
    let r = &b.report;
    assert_eq!(r.outcome, Outcome::Warm, "{}", r.to_human());
    assert_eq!(r.modules.installed, 3, "{}", r.to_human());
    assert_eq!(r.modules.failed + r.entries.failed, 0, "{}", r.to_human());
    assert_eq!(
        r.entries.installed,
        baked().manifest.entries.len() as u64,
        "{}",
        r.to_human()
    );
    assert!(r.warnings.is_empty(), "{:?}", r.warnings);
    all_modules_complete(&b.dirs);
    assert_eq!(compiles(&b.dirs), 0);
    // A holds no zips: each was built from its tree, once.
    let a = &b.a_metrics;
    assert_eq!(a.zips_built, 3, "{a:?}");
    assert_eq!(a.count(Route::ModZip, 200), 3, "{a:?}");
    assert_eq!(a.count(Route::Output, 200), r.entries.installed, "{a:?}");
    assert_eq!(a.errors, 0, "{a:?}");
    eprintln!(
        "pod B from pod A: {} modules, {} entries, {} bytes in {:?}",
        r.modules.installed, r.entries.installed, r.bytes_installed, b.warm_time
    );
}

#[test]
fn pod_c_warms_from_pods_a_and_b() {
    let b = pod_b();
    let base = &baked().manifest;
    let sa = serve(pod_a(), base, |_| {});
    let sb = serve(&b.dirs, base, |_| {});
    let c = TempGoDirs::new().expect("pod C");
    let r = warm(&c, vec![peer_source(&[&sa.base, &sb.base], true, 30)]);
    assert_eq!(r.outcome, Outcome::Warm, "{}", r.to_human());
    assert_eq!(r.modules.failed + r.entries.failed, 0);
    all_modules_complete(&c);
    assert_eq!(compiles(&c), 0);
    // The items spread over both pods.
    let (ma, mb) = (sa.metrics.snapshot(), sb.metrics.snapshot());
    let outputs = ma.count(Route::Output, 200) + mb.count(Route::Output, 200);
    assert_eq!(outputs, r.entries.installed);
    for (name, m) in [("A", &ma), ("B", &mb)] {
        assert!(
            m.count(Route::Output, 200) > outputs / 5,
            "pod {name} served {} of {outputs} outputs",
            m.count(Route::Output, 200)
        );
    }
}

#[test]
fn a_dns_name_finds_the_pods() {
    let sa = serve(pod_a(), &baked().manifest, |_| {});
    let port = sa.base.rsplit(':').next().expect("port").to_string();
    let d = TempGoDirs::new().expect("pod");
    let mut src = SourceConfig::parse_spec(&format!("peer:dns=localhost:{port}")).expect("spec");
    src.token_file = Some(baked().token_file.clone());
    src.trusted = Some(true);
    let r = warm(&d, vec![src]);
    assert_eq!(r.outcome, Outcome::Warm, "{}", r.to_human());
    assert_eq!(compiles(&d), 0);
}

/// A copy of pod A's caches with one byte of every cached zip (`zips`) or every output
/// (`outputs`) flipped: a peer that sends bad bytes with a straight face.
fn lying_pod(name: &str, zips: bool, outputs: bool) -> GoDirs {
    let dirs = GoDirs::under(&baked().root.path().join(name));
    copy_tree(&pod_a().gomodcache, &dirs.gomodcache);
    copy_tree(&pod_a().gocache, &dirs.gocache);
    if zips {
        let mc = ModCache::new(&dirs.gomodcache);
        for m in gowarm_testkit::example_modules() {
            // A well-formed zip whose content differs from the tree in one byte.
            let tree = mc.tree_dir(&m).expect("tree");
            let work = tempfile::tempdir().expect("tempdir");
            copy_tree(&tree, &work.path().join("t"));
            let go_file = walkdir::WalkDir::new(work.path().join("t"))
                .into_iter()
                .filter_map(|e| e.ok())
                .find(|e| e.path().extension().is_some_and(|x| x == "go"))
                .expect("a .go file");
            let mut data = std::fs::read(go_file.path()).expect("read");
            data[0] ^= 0x20;
            std::fs::write(go_file.path(), data).expect("write");
            let zip = mc.cache_file(&m, "zip").expect("zip path");
            let f = std::fs::File::create(&zip).expect("create zip");
            gowarm_gomod::modzip::create_from_dir(f, &m, &work.path().join("t")).expect("zip");
        }
    }
    if outputs {
        for e in &baked().manifest.entries {
            let id: Id = e.output.parse().expect("id");
            let p = BuildCache::at(&dirs.gocache).output_path(&id);
            if let Ok(mut data) = std::fs::read(&p) {
                if !data.is_empty() {
                    data[0] ^= 0x01;
                    std::fs::write(&p, data).expect("flip");
                }
            }
        }
    }
    dirs
}

fn copy_tree(src: &Path, dst: &Path) {
    std::fs::create_dir_all(dst.parent().expect("parent")).expect("mkdir");
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
    make_tree_writable(dst);
}

fn names_bad_peer(r: &Report, base: &str) -> bool {
    r.warnings.iter().any(|w| {
        w.contains(&format!(
            "peer {base} sent content that failed verification"
        )) && w.contains("skipped for the rest of this warm")
    })
}

#[test]
fn a_peer_that_flips_bytes_in_zips_is_rejected_skipped_and_named() {
    let bad_dirs = lying_pod("liar-zips", true, false);
    let bad = serve(&bad_dirs, &baked().manifest, |_| {});
    let d = TempGoDirs::new().expect("pod");
    let peer = peer_source(&[&bad.base], true, 30);
    let r = warm(&d, vec![peer.clone(), dir_source(&baked().warm)]);
    assert_eq!(r.outcome, Outcome::Warm, "{}", r.to_human());
    let st = &r.sources[&peer.name];
    assert!(st.rejected >= 1, "{}", r.to_human());
    assert!(names_bad_peer(&r, &bad.base), "{:?}", r.warnings);
    assert!(
        r.failures
            .iter()
            .any(|f| f.source.as_deref() == Some(peer.name.as_str())
                && f.error.contains("does not match go.sum")),
        "{:?}",
        r.failures
    );
    // Nothing the liar sent was installed: every tree is the go.sum one.
    all_modules_complete(&d);
    let dir_name = dir_source(&baked().warm).name;
    assert_eq!(r.sources[&dir_name].misses, 0);
    assert_eq!(
        r.modules.installed,
        3,
        "every module came from the next source: {}",
        r.to_human()
    );
    assert_eq!(compiles(&d), 0);
}

#[test]
fn a_peer_that_flips_bytes_in_outputs_is_rejected_skipped_and_named() {
    let bad_dirs = lying_pod("liar-outputs", false, true);
    let bad = serve(&bad_dirs, &baked().manifest, |_| {});
    let d = TempGoDirs::new().expect("pod");
    let peer = peer_source(&[&bad.base], true, 30);
    let r = warm(&d, vec![peer.clone(), dir_source(&baked().warm)]);
    assert_eq!(r.outcome, Outcome::Warm, "{}", r.to_human());
    let st = &r.sources[&peer.name];
    assert!(st.rejected >= 1, "{}", r.to_human());
    // Skipped after it was caught: at most the entries already in flight were asked of it.
    let served = bad.metrics.snapshot().count(Route::Output, 200);
    assert!(
        served <= 8 && served < r.entries.installed / 2,
        "the liar served {served} outputs of {}",
        r.entries.installed
    );
    assert!(names_bad_peer(&r, &bad.base), "{:?}", r.warnings);
    assert_eq!(
        r.entries.installed,
        baked().manifest.entries.len() as u64,
        "{}",
        r.to_human()
    );
    // Every installed output is what its ID says.
    let bc = BuildCache::at(&d.gocache);
    for e in &baked().manifest.entries {
        assert!(bc
            .verify_output(&e.output.parse().expect("id"))
            .expect("verify"));
    }
    assert_eq!(compiles(&d), 0);
}

/// A peer that accepts connections and never answers.
fn silent_peer() -> String {
    let l = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let addr = l.local_addr().expect("addr");
    std::thread::spawn(move || {
        let mut held = Vec::new();
        for c in l.incoming().take(256) {
            match c {
                Ok(c) => held.push(c),
                Err(_) => break,
            }
        }
        std::thread::sleep(Duration::from_secs(60));
    });
    format!("http://{addr}")
}

#[test]
fn a_stalling_peer_is_given_up_within_the_timeout() {
    let stall = silent_peer();
    // No Manifest on the good peer (the warm image has it), so no peer is known to hold
    // an item and the stalling one is asked first for about half of them.
    let sa = serve(pod_a(), &baked().manifest, |c| c.manifest = None);
    let d = TempGoDirs::new().expect("pod");
    let peer = peer_source(&[&stall, &sa.base], true, 1);
    let t0 = Instant::now();
    let r = warm(&d, vec![peer.clone(), dir_source(&baked().warm)]);
    let took = t0.elapsed();
    assert_eq!(r.outcome, Outcome::Warm, "{}", r.to_human());
    // The good peer supplied everything: the stalled one only cost a timeout.
    let dir = dir_source(&baked().warm).name;
    assert_eq!(
        r.sources.get(&dir).map_or(0, |s| s.items),
        0,
        "{}",
        r.to_human()
    );
    assert!(
        r.warnings
            .iter()
            .any(|w| w.contains(&format!("peer {stall} could not be used"))
                && w.contains("no response in 1s")),
        "{:?}",
        r.warnings
    );
    // The planner's manifest request and one round of items wait 1 s each; then the
    // stalled peer is skipped.
    assert!(took < Duration::from_secs(8), "warm took {took:?}");
    assert_eq!(compiles(&d), 0);
}

/// Pod A's caches plus one large build-cache entry (so a transfer is under way long
/// enough to kill its server), the manifest that lists it, and a warm directory view.
struct WithBig {
    dirs: GoDirs,
    manifest: Manifest,
    warm: PathBuf,
    output: Id,
}

fn with_big(name: &str) -> WithBig {
    let root = baked().root.path().join(name);
    let dirs = GoDirs::under(&root);
    copy_tree(&pod_a().gomodcache, &dirs.gomodcache);
    copy_tree(&pod_a().gocache, &dirs.gocache);
    let bc = BuildCache::open(&dirs.gocache).expect("gocache");
    let size = 32usize << 20;
    let mut data = Vec::with_capacity(size);
    let mut x: u64 = 0x2545_F491_4F6C_DD1D;
    while data.len() < size {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        data.extend_from_slice(&x.to_le_bytes());
    }
    let output = bc.put_output(&data).expect("put");
    let action = Id([0x5a; 32]);
    bc.write_action(
        &action,
        &ActionEntry {
            output_id: output,
            size: size as u64,
            time_nanos: 1_700_000_000_000_000_000,
        },
    )
    .expect("action");
    let mut manifest = baked().manifest.clone();
    manifest.entries.push(EntryRecord {
        action: action.to_string(),
        output: output.to_string(),
        size: size as u64,
    });
    for s in &mut manifest.warm_sets {
        s.entries.push(action.to_string());
    }
    // The same caches as a warm directory (what a mounted warm image looks like).
    let warm = root.join("warm");
    std::fs::create_dir_all(&warm).expect("mkdir");
    std::os::unix::fs::symlink(&dirs.gomodcache, warm.join("go-mod")).expect("link");
    std::os::unix::fs::symlink(&dirs.gocache, warm.join("go-build")).expect("link");
    manifest
        .write(&warm.join("gowarm-manifest.json"))
        .expect("manifest");
    WithBig {
        dirs,
        manifest,
        warm,
        output,
    }
}

/// Kills `victim` once it has sent 2 MiB of outputs.
fn kill_mid_transfer(victim: Arc<PodServer>) -> std::thread::JoinHandle<bool> {
    std::thread::spawn(move || {
        let t0 = Instant::now();
        while t0.elapsed() < Duration::from_secs(30) {
            if victim.metrics.snapshot().bytes_of(Route::Output) > 2 << 20 {
                victim.kill();
                return true;
            }
            std::thread::sleep(Duration::from_millis(2));
        }
        false
    })
}

#[test]
fn a_peer_killed_mid_transfer_is_resumed_from_the_next_peer() {
    let big = with_big("kill-resume");
    let l1 = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let l2 = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let bases = [
        format!("http://{}", l1.local_addr().expect("addr")),
        format!("http://{}", l2.local_addr().expect("addr")),
    ];
    // The peer asked first for the large output is the one that dies; it sends slowly,
    // so it dies mid-body.
    let key = format!("out:{}", big.output);
    let first = gowarm_peer::rendezvous_order(&key, &bases)[0];
    let cfg = |slow: bool| ServerConfig {
        gomodcache: Some(big.dirs.gomodcache.clone()),
        gocache: Some(big.dirs.gocache.clone()),
        token: Some(TOKEN.into()),
        manifest: Some(gowarm_peer::manifest_from_bytes(
            serde_json::to_vec(&big.manifest).expect("json"),
        )),
        max_bytes_per_sec: slow.then_some(8 << 20),
        ..ServerConfig::default()
    };
    let mut listeners = [Some(l1), Some(l2)];
    let servers: Vec<Arc<PodServer>> = (0..2)
        .map(|i| {
            Arc::new(PodServer::start_on(
                listeners[i].take().expect("listener"),
                cfg(i == first),
            ))
        })
        .collect();
    let killer = kill_mid_transfer(servers[first].clone());
    let d = TempGoDirs::new().expect("pod");
    let r = warm(&d, vec![peer_source(&[&bases[0], &bases[1]], true, 30)]);
    assert!(killer.join().expect("killer"), "the transfer never started");
    assert_eq!(r.outcome, Outcome::Warm, "{}", r.to_human());
    assert_eq!(r.entries.installed, big.manifest.entries.len() as u64);
    assert!(BuildCache::at(&d.gocache)
        .verify_output(&big.output)
        .expect("verify"));
    let survivor = servers[1 - first].metrics.snapshot();
    // Transfers cut short (the large one among them) continued where they stopped.
    assert!(
        survivor.count(Route::Output, 206) >= 1,
        "nothing was resumed: {survivor:?}"
    );
    assert_eq!(survivor.errors + survivor.aborted, 0, "{survivor:?}");
    assert!(
        r.warnings
            .iter()
            .any(|w| w.contains(&format!("peer {} could not be used", bases[first]))),
        "{:?}",
        r.warnings
    );
}

#[test]
fn a_peer_killed_mid_transfer_falls_back_to_the_next_source() {
    let big = with_big("kill-fallback");
    let victim = Arc::new(serve(&big.dirs, &big.manifest, |c| {
        c.max_bytes_per_sec = Some(8 << 20)
    }));
    let killer = kill_mid_transfer(victim.clone());
    let d = TempGoDirs::new().expect("pod");
    let peer = peer_source(&[&victim.base], true, 30);
    let r = warm(&d, vec![peer.clone(), dir_source(&big.warm)]);
    assert!(killer.join().expect("killer"), "the transfer never started");
    assert_eq!(r.outcome, Outcome::Warm, "{}", r.to_human());
    assert_eq!(r.entries.installed, big.manifest.entries.len() as u64);
    assert!(BuildCache::at(&d.gocache)
        .verify_output(&big.output)
        .expect("verify"));
    assert!(r.sources[&peer.name].errors >= 1, "{}", r.to_human());
    assert!(r.sources[&dir_source(&big.warm).name].items >= 1);
    all_modules_complete(&d);
}

#[test]
fn untrusted_peers_supply_modules_and_outputs_but_no_action_entries() {
    let sa = serve(pod_a(), &baked().manifest, |_| {});
    // Alone: modules only (no trusted source, so no Manifest and no entries).
    let d = TempGoDirs::new().expect("pod");
    let peer = peer_source(&[&sa.base], false, 30);
    let r = warm(&d, vec![peer.clone()]);
    assert_eq!(r.outcome, Outcome::Warm, "{}", r.to_human());
    assert_eq!(r.modules.installed, 3);
    assert_eq!(r.entries.installed, 0);
    all_modules_complete(&d);
    // Beside the warm image: the image's Manifest says which action names which output;
    // the outputs (verified by their SHA-256) come from the peer, tried first.
    let d2 = TempGoDirs::new().expect("pod");
    let dir = dir_source(&baked().warm);
    let r = warm(&d2, vec![peer.clone(), dir.clone()]);
    assert_eq!(r.outcome, Outcome::Warm, "{}", r.to_human());
    let entries = baked().manifest.entries.len() as u64;
    assert_eq!(r.entries.installed, entries, "{}", r.to_human());
    assert_eq!(
        r.sources[&peer.name].items,
        6 + entries,
        "3 .mod files, 3 trees and every output from the peer: {}",
        r.to_human()
    );
    let m = sa.metrics.snapshot();
    for route in [Route::Action, Route::Manifest] {
        assert_eq!(
            m.route_total(route),
            0,
            "{route:?} asked of an untrusted peer: {m:?}"
        );
    }
    assert!(m.route_total(Route::Output) >= entries, "{m:?}");
    assert_eq!(compiles(&d2), 0);
}

#[test]
fn a_missing_token_file_is_a_clear_error() {
    let mut src = peer_source(&["http://127.0.0.1:9"], true, 30);
    src.token_file = Some(PathBuf::from("/var/run/secrets/gowarm/absent-token"));
    let e = gowarm::source::peer::PeerSource::new(&src)
        .expect_err("must fail")
        .to_string();
    assert!(
        e.contains("/var/run/secrets/gowarm/absent-token") && e.contains("Secret"),
        "{e}"
    );
}

#[test]
fn real_sdk_modules_travel_between_pods_as_zips_built_from_trees() {
    use gowarm_testkit::{
        debian_corpus, tidy, write_program, AWS_SMALL_SERVICE_IMPORTS, GODO_IMPORT,
    };
    let t0 = Instant::now();
    let tmp = tempfile::tempdir().expect("tempdir");
    let mut proxy = ProxyDir::new(tmp.path().join("proxy")).expect("proxy");
    let corpus = debian_corpus(&mut proxy).expect("Debian corpus (run scripts/ensure-tools)");
    let program = tmp.path().join("sdkprog");
    let requires = [
        corpus
            .module("github.com/aws/aws-sdk-go")
            .expect("aws")
            .clone(),
        corpus
            .module("github.com/digitalocean/godo")
            .expect("godo")
            .clone(),
    ];
    let mut imports = AWS_SMALL_SERVICE_IMPORTS.to_vec();
    imports.push(GODO_IMPORT);
    write_program(&program, "example.com/sdkprog", &requires, &imports).expect("program");
    let scratch = TempGoDirs::new().expect("scratch");
    tidy(&program, &proxy.url(), &*scratch).expect("tidy");
    let setup = t0.elapsed();

    // Pod A warms from the upstream proxy: trees, no zips.
    let a = TempGoDirs::new().expect("pod A");
    let (_, ra) = common::engine(&GoEnv::new(&*a), &[proxy.url()])
        .warm(&program, None)
        .expect("warm A");
    assert_eq!(ra.outcome, Outcome::Warm, "{}", ra.to_human());
    let sa = PodServer::start(ServerConfig {
        gomodcache: Some(a.gomodcache.clone()),
        token: Some(TOKEN.into()),
        ..ServerConfig::default()
    });

    // Pod B warms from A alone: every zip is built from A's tree and checked by B.
    let b = TempGoDirs::new().expect("pod B");
    let peer = peer_source(&[&sa.base], false, 60);
    let t1 = Instant::now();
    let (_, rb) = {
        let mut cfg = common::config(&GoEnv::new(&*b), &[]);
        cfg.sources = vec![peer.clone()];
        Engine::new(cfg)
            .expect("engine")
            .warm(&program, None)
            .expect("warm B")
    };
    let b_time = t1.elapsed();
    assert_eq!(rb.outcome, Outcome::Warm, "{}", rb.to_human());
    assert_eq!(
        rb.modules.installed,
        ra.modules.installed,
        "{}",
        rb.to_human()
    );
    assert_eq!(
        rb.sources[&peer.name].rejected + rb.sources[&peer.name].errors,
        0
    );
    let m = sa.metrics.snapshot();
    assert_eq!(m.errors, 0, "{m:?}");
    assert!(m.zips_built >= 2, "{m:?}");
    // Offline, Go resolves every package of the program from B's module cache and
    // re-hashes every tree against go.sum.
    let env = GoEnv::new(&*b).goflags("-mod=readonly");
    gowarm_testkit::run(env.command(["mod", "verify"]).current_dir(&program))
        .expect("go mod verify");
    gowarm_testkit::run(env.command(["list", "-deps", "."]).current_dir(&program))
        .expect("go list");
    eprintln!(
        "real SDK: {} modules ({} MiB) from pod A in {b_time:?}, {} zips built from trees; setup {setup:?}",
        rb.modules.installed,
        rb.bytes_installed >> 20,
        m.zips_built
    );
}

#[test]
fn sixteen_pods_warm_at_once_from_one_server() {
    let sa = serve(pod_a(), &baked().manifest, |c| c.max_in_flight = 16);
    let pods: Vec<TempGoDirs> = (0..16).map(|_| TempGoDirs::new().expect("pod")).collect();
    let t0 = Instant::now();
    let reports: Vec<Report> = std::thread::scope(|s| {
        let hs: Vec<_> = pods
            .iter()
            .map(|p| s.spawn(|| warm(p, vec![peer_source(&[&sa.base], true, 30)])))
            .collect();
        hs.into_iter()
            .map(|h| h.join().expect("warm thread"))
            .collect()
    });
    let took = t0.elapsed();
    for r in &reports {
        assert_eq!(r.outcome, Outcome::Warm, "{}", r.to_human());
        assert!(r.failures.is_empty(), "{:?}", r.failures);
    }
    let m = sa.metrics.snapshot();
    assert_eq!((m.errors, m.aborted, m.rejected_busy), (0, 0, 0), "{m:?}");
    assert_eq!(
        m.count(Route::Output, 200),
        16 * baked().manifest.entries.len() as u64
    );
    eprintln!(
        "16 pods warmed at once from one server in {took:?}: {} requests, {} MiB",
        m.requests.values().sum::<u64>(),
        m.bytes.values().sum::<u64>() >> 20
    );
    assert_eq!(compiles(&pods[15]), 0);
}

/// `manifest` with only the entries `keep` selects (in its records and its warm sets).
fn manifest_with(manifest: &Manifest, keep: impl Fn(usize) -> bool) -> Manifest {
    let mut m = manifest.clone();
    let kept: std::collections::BTreeSet<String> = m
        .entries
        .iter()
        .enumerate()
        .filter(|(i, _)| keep(*i))
        .map(|(_, e)| e.action.clone())
        .collect();
    m.entries.retain(|e| kept.contains(&e.action));
    for s in &mut m.warm_sets {
        s.entries.retain(|a| kept.contains(a));
    }
    m
}

#[test]
fn manifests_of_several_pods_are_merged_and_holders_asked_first() {
    let full = &baked().manifest;
    let n = full.entries.len();
    let (first, second) = (
        manifest_with(full, |i| i < n / 2),
        manifest_with(full, |i| i >= n / 2),
    );
    let sa = serve(pod_a(), &first, |_| {});
    let sb = serve(pod_a(), &second, |_| {});
    let d = TempGoDirs::new().expect("pod");
    let r = warm(&d, vec![peer_source(&[&sa.base, &sb.base], true, 30)]);
    assert_eq!(r.outcome, Outcome::Warm, "{}", r.to_human());
    assert_eq!(r.entries.installed, n as u64, "{}", r.to_human());
    let (ma, mb) = (sa.metrics.snapshot(), sb.metrics.snapshot());
    assert_eq!(ma.count(Route::Manifest, 200), 1);
    assert_eq!(mb.count(Route::Manifest, 200), 1);
    // Each output was asked of a pod whose Manifest lists it, and that pod had it; the
    // action entries come from the merged Manifest, never from a peer's action file.
    assert_eq!(
        ma.count(Route::Output, 200) + mb.count(Route::Output, 200),
        n as u64,
        "{ma:?} {mb:?}"
    );
    assert_eq!(
        ma.route_total(Route::Action) + mb.route_total(Route::Action),
        0
    );
    assert_eq!(
        ma.count(Route::Output, 404) + mb.count(Route::Output, 404),
        0
    );
    assert_eq!(compiles(&d), 0);
}

#[test]
fn pods_at_other_gomodcache_paths_merge_under_trimpath() {
    let full = &baked().manifest;
    assert!(full.profile.trimpath, "the fixture bakes with -trimpath");
    let n = full.entries.len();
    let first = manifest_with(full, |i| i < n / 2);
    let mut second = manifest_with(full, |i| i >= n / 2);
    // Another pod of the Deployment on another node path: no build-cache key sees it.
    second.profile.gomodcache = PathBuf::from("/elsewhere/go/pkg/mod");
    let sa = serve(pod_a(), &first, |_| {});
    let sb = serve(pod_a(), &second, |_| {});
    let d = TempGoDirs::new().expect("pod");
    let r = warm(&d, vec![peer_source(&[&sa.base, &sb.base], true, 30)]);
    assert_eq!(r.outcome, Outcome::Warm, "{}", r.to_human());
    assert_eq!(r.entries.installed, n as u64, "{}", r.to_human());
    let (ma, mb) = (sa.metrics.snapshot(), sb.metrics.snapshot());
    assert!(
        ma.count(Route::Output, 200) > 0 && mb.count(Route::Output, 200) > 0,
        "both pods' Manifests merged, both asked: {ma:?} {mb:?}"
    );
}
