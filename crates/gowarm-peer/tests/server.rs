//! `gowarm serve` over real caches: the GOPROXY protocol (and plain `go` using it), zips
//! built from trees, build-cache entries, auth, hostile paths, metrics, concurrency,
//! idle connections and graceful shutdown.

mod common;

use std::time::{Duration, Instant};

use common::{bearer, client, config, pod, raw_get, start, TOKEN};
use gowarm_gocache::Id;
use gowarm_gomod::dirhash::hash_zip;
use gowarm_gomod::modcache::ModCache;
use gowarm_peer::{Route, ServerConfig};
use gowarm_testkit::{go_build, run, GoEnv, TempGoDirs};

fn widgets() -> gowarm_gomod::ModuleVersion {
    gowarm_gomod::ModuleVersion::new("example.com/BigCo/widgets", "v1.2.0")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn serves_the_goproxy_protocol_and_build_cache_entries() {
    let p = pod();
    let srv = start(config(&p.dirs.gomodcache)).await;
    let c = client(&srv.base);
    let mc = ModCache::new(&p.dirs.gomodcache);
    let scratch = tempfile::tempdir().expect("tempdir");

    c.health().await.expect("healthz");
    for (m, hashes) in &p.modules {
        let list = c.list(&m.path).await.expect("list").expect("listed");
        assert_eq!(list, vec![m.version.clone()]);
        let info = c.info(m).await.expect("info").expect(".info");
        let info: serde_json::Value = serde_json::from_slice(&info).expect("json");
        assert_eq!(info["Version"], m.version.as_str());
        let gomod = c.gomod(m).await.expect("mod").expect(".mod");
        assert_eq!(
            gomod,
            std::fs::read(mc.cache_file(m, "mod").unwrap()).unwrap()
        );
        assert_eq!(gowarm_gomod::dirhash::hash_gomod(&gomod), hashes.gomod_h1);
        // Go downloaded the zip: it is served byte for byte.
        let zip = c.zip(m, scratch.path()).await.expect("zip").expect(".zip");
        assert_eq!(
            std::fs::read(&zip.file).unwrap(),
            std::fs::read(mc.cache_file(m, "zip").unwrap()).unwrap()
        );
        assert_eq!(hash_zip(&zip.file).expect("hash"), hashes.h1);
    }
    let unknown = gowarm_gomod::ModuleVersion::new("example.com/greet", "v9.9.9");
    assert_eq!(c.gomod(&unknown).await.expect("mod"), None);
    assert_eq!(c.list("example.com/nothing").await.expect("list"), None);

    assert_eq!(
        c.manifest().await.expect("manifest"),
        Some(p.manifest.clone())
    );
    for (action, output, size) in p.entries.iter().take(20) {
        let a = c.action(action).await.expect("action").expect("entry");
        assert_eq!(a.len(), gowarm_gocache::ENTRY_LEN);
        let e = gowarm_gocache::parse_action_entry_for(action, &a).expect("parses");
        assert_eq!((e.output_id, e.size), (*output, *size));
        let o = c
            .output(output, scratch.path())
            .await
            .expect("output")
            .expect("present");
        assert_eq!(o.len, *size);
        assert_eq!(common::file_id(&o.file), *output);
    }
    let absent = Id([0x42; 32]);
    assert_eq!(c.action(&absent).await.expect("action"), None);
    assert!(c
        .output(&absent, scratch.path())
        .await
        .expect("output")
        .is_none());

    // HEAD: the length, no body.
    let resp = reqwest::Client::new()
        .head(format!(
            "{}{}",
            srv.base,
            gowarm_peer::Request::Output(p.big[0]).path()
        ))
        .bearer_auth(TOKEN)
        .send()
        .await
        .expect("head");
    assert_eq!(resp.status(), 200);
    assert_eq!(
        resp.headers()["content-length"].to_str().unwrap(),
        common::BIG.to_string()
    );
    let s = srv.shutdown().await;
    assert_eq!(s.errors, 0, "{s:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_tree_without_zip_is_served_as_a_zip_whose_h1_is_the_go_sum_hash() {
    let p = pod();
    let srv = start(config(&p.trees)).await;
    let c = client(&srv.base);
    let scratch = tempfile::tempdir().expect("tempdir");
    for (m, hashes) in &p.modules {
        assert!(!ModCache::new(&p.trees)
            .cache_file(m, "zip")
            .unwrap()
            .exists());
        let zip = c.zip(m, scratch.path()).await.expect("zip").expect("built");
        assert_eq!(hash_zip(&zip.file).expect("hash"), hashes.h1, "{m}");
        gowarm_gomod::modzip::check_zip(&zip.file, m).expect("a zip Go accepts");
    }
    // Eight clients at once for one zip: built once, served to all.
    let m = widgets();
    let again: Vec<_> = futures::future::join_all((0..8).map(|_| c.zip(&m, scratch.path()))).await;
    for z in again {
        let z = z.expect("zip").expect("served");
        assert_eq!(
            hash_zip(&z.file).expect("hash"),
            p.proxy.hashes(&m).expect("hashes").h1
        );
    }
    let snap = srv.metrics.snapshot();
    assert_eq!(snap.zips_built, p.modules.len() as u64, "{snap:?}");
    // Not a byte written to the module cache served.
    for (m, _) in &p.modules {
        assert!(!ModCache::new(&p.trees)
            .cache_file(m, "zip")
            .unwrap()
            .exists());
    }
    srv.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_tree_without_ziphash_or_changed_on_disk_is_not_served() {
    let p = pod();
    let tmp = tempfile::tempdir().expect("tempdir");
    let copy = tmp.path().join("mc");
    common::copy_tree(&p.trees, &copy);
    let mc = ModCache::new(&copy);
    let greet = gowarm_gomod::ModuleVersion::new("example.com/greet", "v1.1.0");
    std::fs::remove_file(mc.cache_file(&greet, "ziphash").unwrap()).expect("rm ziphash");
    let tree = mc.tree_dir(&widgets()).unwrap();
    let go_file = std::fs::read_dir(&tree)
        .unwrap()
        .filter_map(|e| e.ok())
        .map(|e| e.path())
        .find(|p| p.extension().is_some_and(|e| e == "go"))
        .expect("a .go file");
    let mut data = std::fs::read(&go_file).unwrap();
    data[0] ^= 0x20;
    std::fs::write(&go_file, data).expect("change the tree");

    let srv = start(config(&copy)).await;
    let c = client(&srv.base);
    assert!(c
        .zip(&greet, tmp.path())
        .await
        .expect("no tree: a miss")
        .is_none());
    let e = c.zip(&widgets(), tmp.path()).await.expect_err("refused");
    assert_eq!(
        e.error.kind,
        gowarm_peer::ErrorKind::Status(500),
        "{}",
        e.error
    );
    let snap = srv.metrics.snapshot();
    assert_eq!(snap.count(Route::ModZip, 500), 1);
    assert!(snap.errors >= 1);
    srv.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_wrong_or_missing_token_is_401_and_nothing_is_served() {
    let p = pod();
    let srv = start(config(&p.dirs.gomodcache)).await;
    let addr = srv.addr;
    let zip = gowarm_peer::protocol::module_path(&widgets(), "zip").unwrap();
    let output = gowarm_peer::Request::Output(p.entries[0].1).path();
    let basic = |user: &str, pass: &str| {
        use base64::Engine as _;
        format!(
            "Basic {}",
            base64::engine::general_purpose::STANDARD.encode(format!("{user}:{pass}"))
        )
    };
    let results = tokio::task::spawn_blocking(move || {
        let mut out = Vec::new();
        for target in [
            zip.as_str(),
            output.as_str(),
            "/build/manifest",
            "/metrics",
            "/nonexistent",
            "/mod/../../etc/passwd",
        ] {
            for auth in [
                None,
                Some("Bearer wrong-token".to_string()),
                Some(format!("Bearer {TOKEN}x")),
                Some(TOKEN.to_string()),
                Some(basic("gowarm", "wrong")),
                Some(basic(TOKEN, "")),
            ] {
                out.push((
                    target.to_string(),
                    auth.clone(),
                    raw_get(addr, target, auth.as_deref()),
                ));
            }
        }
        for target in [
            format!("/auth/wrong/{}", zip.trim_start_matches('/')),
            format!("/auth/{TOKEN}x{zip}"),
            format!("/auth/{zip}"),
            format!("/auth{zip}"),
        ] {
            out.push((target.clone(), None, raw_get(addr, &target, None)));
        }
        let ok = vec![
            raw_get(addr, "/healthz", None),
            raw_get(addr, &zip, Some(&basic("anyone", TOKEN))),
            raw_get(addr, &format!("/auth/{TOKEN}{zip}"), None),
        ];
        (out, ok)
    })
    .await
    .expect("requests");
    let (refused, ok) = results;
    for (target, auth, (status, body)) in &refused {
        assert!(
            *status == 401 || (target.starts_with("/auth") && *status == 404),
            "{target} with {auth:?}: {status} {body}"
        );
        if *status == 401 {
            assert!(body.starts_with("unauthorized"), "{body}");
        }
    }
    assert_eq!(ok[0].0, 200, "healthz needs no token");
    assert_eq!(ok[1].0, 200, "Basic auth with the token as password");
    assert_eq!(ok[2].0, 200, "the token in the path");

    let resp = reqwest::get(format!("{}/build/manifest", srv.base))
        .await
        .expect("get");
    assert_eq!(resp.status(), 401);
    let challenges: Vec<_> = resp
        .headers()
        .get_all("www-authenticate")
        .iter()
        .map(|v| v.to_str().unwrap().to_string())
        .collect();
    assert_eq!(
        challenges,
        ["Bearer realm=\"gowarm\"", "Basic realm=\"gowarm\""]
    );

    // Nothing but the two authorised zips and /healthz was served.
    let snap = srv.metrics.snapshot();
    assert_eq!(snap.code_total(200), 3, "{snap:?}");
    assert_eq!(snap.count(Route::ModZip, 200), 2);
    srv.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn traversal_and_malformed_paths_are_404_without_touching_files() {
    let p = pod();
    let srv = start(config(&p.dirs.gomodcache)).await;
    let addr = srv.addr;
    let upper = "ABCDEF".repeat(10) + "ABCD";
    let targets: Vec<String> = vec![
        "/mod/../../etc/passwd".into(),
        "/mod/%2e%2e/%2e%2e/etc/passwd".into(),
        "/mod/%2E%2E/%2E%2E/etc/passwd/@v/list".into(),
        "/mod/example.com/%2e%2e/%2e%2e/%2e%2e/etc/@v/v1.0.0.mod".into(),
        "/mod//etc/passwd".into(),
        "/mod//etc/@v/v1.0.0.mod".into(),
        "/mod/etc/passwd/@v/../../../../../etc/passwd".into(),
        "/mod/example.com/BigCo/widgets/@v/v1.2.0.zip".into(),
        "/mod/example.com/!big!co/widgets/@v/v1.2.0.ziphash".into(),
        "/mod/example.com/!big!co/widgets/@v/../../widgets@v1.2.0/go.mod".into(),
        "/mod/example.com/!big!co/widgets@v1.2.0/go.mod".into(),
        "/mod/cache/download/example.com/greet/@v/v1.1.0.mod".into(),
        "/mod/example.com/greet/@v/v1.1.0.mod/".into(),
        "/mod/example.com\\greet/@v/v1.1.0.mod".into(),
        format!("/build/output/{upper}"),
        "/build/output/../../../../etc/passwd".into(),
        format!("/build/output/{}", "a".repeat(63)),
        format!("/build/output/{}", "a".repeat(65)),
        "/build/action/%2e%2e%2f%2e%2e%2fetc%2fpasswd".into(),
        "/build/../../etc/passwd".into(),
        "/etc/passwd".into(),
        "//etc/passwd".into(),
        "http://example.com/../../etc/passwd".into(),
    ];
    let results = tokio::task::spawn_blocking(move || {
        targets
            .iter()
            .map(|t| (t.clone(), raw_get(addr, t, Some(&bearer()))))
            .collect::<Vec<_>>()
    })
    .await
    .expect("requests");
    for (t, (status, body)) in &results {
        // hyper itself refuses some request targets with 400; neither serves anything.
        assert!(*status == 404 || *status == 400, "{t}: {status} {body}");
        assert!(!body.contains("root:"), "{t} leaked /etc/passwd");
    }
    let snap = srv.metrics.snapshot();
    assert_eq!(snap.count(Route::Other, 200), 0);
    for r in [
        Route::ModMod,
        Route::ModZip,
        Route::Output,
        Route::Action,
        Route::ModList,
    ] {
        assert_eq!(snap.bytes_of(r), 0, "{r:?}");
    }
    srv.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn plain_go_mod_download_with_the_server_as_goproxy_succeeds() {
    let p = pod();
    // A pod warmed by gowarm: trees, no zips; every zip is built on the fly.
    let srv = start(config(&p.trees)).await;
    let goproxy = gowarm_peer::goproxy_url(&srv.base, Some(TOKEN));
    let program = p.program.clone();
    let (elapsed, built) = tokio::task::spawn_blocking(move || {
        let fresh = TempGoDirs::new().expect("fresh pod");
        let t0 = Instant::now();
        let env = GoEnv::new(&*fresh).goproxy(goproxy).goflags("-mod=mod");
        run(env.command(["mod", "download", "-x"]).current_dir(&program))
            .expect("go mod download through gowarm serve");
        // Verifies go.sum too: `go mod verify` re-hashes every downloaded module.
        let v = run(env.command(["mod", "verify"]).current_dir(&program)).expect("go mod verify");
        assert!(String::from_utf8_lossy(&v.stdout).contains("all modules verified"));
        let elapsed = t0.elapsed();
        let out = fresh.root().join("prog");
        let b = go_build(&program, &GoEnv::new(&*fresh), &out).expect("offline build");
        (elapsed, b.binary.exists())
    })
    .await
    .expect("go");
    assert!(built);
    let snap = srv.metrics.snapshot();
    assert_eq!(
        snap.count(Route::ModZip, 200),
        p.modules.len() as u64,
        "{snap:?}"
    );
    assert_eq!(
        snap.code_total(401),
        0,
        "go sent the token from the URL: {snap:?}"
    );
    assert_eq!(snap.errors, 0);
    eprintln!("go mod download + verify through gowarm serve: {elapsed:?}");
    srv.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn go_without_the_token_is_refused() {
    let p = pod();
    let srv = start(config(&p.trees)).await;
    let goproxy = gowarm_peer::goproxy_url(&srv.base, None);
    let program = p.program.clone();
    let out = tokio::task::spawn_blocking(move || {
        let fresh = TempGoDirs::new().expect("fresh pod");
        GoEnv::new(&*fresh)
            .goproxy(goproxy)
            .goflags("-mod=mod")
            .command(["mod", "download"])
            .current_dir(&program)
            .output()
            .expect("go")
    })
    .await
    .expect("go");
    assert!(!out.status.success());
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("401"),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(srv.metrics.snapshot().bytes_of(Route::ModZip), 0);
    srv.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn metrics_count_requests_bytes_errors_and_latency() {
    let p = pod();
    let srv = start(config(&p.dirs.gomodcache)).await;
    let c = client(&srv.base);
    let tmp = tempfile::tempdir().expect("tempdir");
    let (_, output, size) = p.entries[0];
    c.output(&output, tmp.path())
        .await
        .expect("output")
        .expect("present");
    c.output(&output, tmp.path())
        .await
        .expect("output")
        .expect("present");
    assert!(c
        .output(&Id([1; 32]), tmp.path())
        .await
        .expect("miss")
        .is_none());
    let _ = raw_get(srv.addr, "/mod/../x", Some(&bearer()));
    let _ = raw_get(srv.addr, "/build/manifest", None);
    let text = c.metrics().await.expect("metrics").expect("text");
    for want in [
        "gowarm_peer_requests_total{route=\"build_output\",code=\"200\"} 2".to_string(),
        "gowarm_peer_requests_total{route=\"build_output\",code=\"404\"} 1".to_string(),
        "gowarm_peer_requests_total{route=\"other\",code=\"404\"} 1".to_string(),
        "gowarm_peer_requests_total{route=\"build_manifest\",code=\"401\"} 1".to_string(),
        // Two outputs and one "not found\n".
        format!(
            "gowarm_peer_response_bytes_total{{route=\"build_output\"}} {}",
            2 * size + 10
        ),
        "gowarm_peer_errors_total{route=\"build_output\",kind=\"server\"} 0".to_string(),
        "gowarm_peer_request_duration_seconds_count{route=\"build_output\"} 3".to_string(),
        "gowarm_peer_request_duration_seconds_bucket{route=\"build_output\",le=\"+Inf\"} 3"
            .to_string(),
        "# TYPE gowarm_peer_request_duration_seconds histogram".to_string(),
        "gowarm_peer_connections ".to_string(),
    ] {
        assert!(text.contains(&want), "missing {want:?} in\n{text}");
    }
    // /metrics needs the token too.
    let (status, _) = raw_get(srv.addr, "/metrics", None);
    assert_eq!(status, 401);
    srv.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sixteen_clients_at_once_get_everything_with_bounded_memory() {
    let p = pod();
    let srv = start(ServerConfig {
        // Fewer slots than clients: the rest wait their turn, none fails.
        max_in_flight: 8,
        ..config(&p.trees)
    })
    .await;
    let base = srv.base.clone();
    let before = common::rss_bytes();
    let peak = std::sync::Arc::new(std::sync::atomic::AtomicU64::new(before));
    let sampling = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(true));
    let sampler = {
        let (peak, sampling) = (peak.clone(), sampling.clone());
        std::thread::spawn(move || {
            while sampling.load(std::sync::atomic::Ordering::Relaxed) {
                peak.fetch_max(common::rss_bytes(), std::sync::atomic::Ordering::Relaxed);
                std::thread::sleep(Duration::from_millis(5));
            }
        })
    };
    let t0 = Instant::now();
    let tmp = tempfile::tempdir().expect("tempdir");
    let clients = (0..16).map(|i| {
        let c = client(&base);
        let dir = tmp.path().to_path_buf();
        async move {
            let mut bytes = 0u64;
            let mut errors = Vec::new();
            for (m, h) in &p.modules {
                match c.zip(m, &dir).await {
                    Ok(Some(z)) if hash_zip(&z.file).ok().as_deref() == Some(h.h1.as_str()) => {
                        bytes += z.len
                    }
                    other => errors.push(format!("{m}: {other:?}")),
                }
            }
            for id in p
                .big
                .iter()
                .chain(p.entries.iter().skip(i).step_by(4).map(|e| &e.1))
            {
                match c.output(id, &dir).await {
                    Ok(Some(o)) if common::file_id(&o.file) == *id => bytes += o.len,
                    other => errors.push(format!("{id}: {other:?}")),
                }
            }
            (bytes, errors)
        }
    });
    let results = futures::future::join_all(clients).await;
    let elapsed = t0.elapsed();
    sampling.store(false, std::sync::atomic::Ordering::Relaxed);
    sampler.join().expect("sampler");
    let total: u64 = results.iter().map(|r| r.0).sum();
    let errors: Vec<_> = results.iter().flat_map(|r| r.1.iter()).collect();
    assert!(errors.is_empty(), "{errors:?}");
    let snap = srv.metrics.snapshot();
    assert_eq!(snap.errors, 0, "{snap:?}");
    assert_eq!(snap.rejected_busy, 0, "{snap:?}");
    assert_eq!(snap.aborted, 0, "every body was sent to its end: {snap:?}");
    let grown = peak
        .load(std::sync::atomic::Ordering::Relaxed)
        .saturating_sub(before);
    eprintln!(
        "16 clients: {} MiB in {elapsed:?} ({:.0} MiB/s); RSS grew by {} MiB at most (server and clients in one process)",
        total >> 20,
        total as f64 / (1 << 20) as f64 / elapsed.as_secs_f64(),
        grown >> 20
    );
    assert!(total >= 32 * common::BIG as u64);
    // 16 × 48 MiB of outputs went through this process: streamed, not buffered.
    assert!(grown < 128 << 20, "RSS grew by {} MiB", grown >> 20);
    srv.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn graceful_shutdown_finishes_in_flight_responses() {
    let p = pod();
    let mut srv = start(ServerConfig {
        // 24 MiB at 16 MiB/s: the transfer is under way for about 1.5 s.
        max_bytes_per_sec: Some(16 << 20),
        ..config(&p.dirs.gomodcache)
    })
    .await;
    let c = client(&srv.base);
    let tmp = tempfile::tempdir().expect("tempdir");
    let big = p.big[0];
    let download = tokio::spawn({
        let c = c.clone();
        let dir = tmp.path().to_path_buf();
        async move { c.output(&big, &dir).await }
    });
    // Wait until the body is flowing, then ask the server to stop.
    let t0 = Instant::now();
    while srv.metrics.snapshot().bytes_of(Route::Output) < 1 << 20 {
        assert!(
            t0.elapsed() < Duration::from_secs(10),
            "transfer never started"
        );
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    srv.signal_shutdown();
    let task = srv.take_task();
    tokio::time::sleep(Duration::from_millis(100)).await;
    // No new connections once shutdown has begun.
    assert!(
        tokio::net::TcpStream::connect(srv.addr).await.is_err() || {
            let r = c.health().await;
            r.is_err()
        }
    );
    let got = download
        .await
        .expect("task")
        .expect("download finished")
        .expect("present");
    assert_eq!(got.len, common::BIG as u64);
    assert_eq!(common::file_id(&got.file), big);
    let summary = task.await.expect("server task").expect("server");
    assert_eq!(summary.cut_at_shutdown, 0, "{summary:?}");
    assert_eq!(summary.errors, 0, "{summary:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn idle_connections_are_closed() {
    let p = pod();
    let srv = start(ServerConfig {
        idle_timeout: Duration::from_millis(300),
        ..config(&p.dirs.gomodcache)
    })
    .await;
    let addr = srv.addr;
    let took = tokio::task::spawn_blocking(move || {
        use std::io::Read;
        let mut s = std::net::TcpStream::connect(addr).expect("connect");
        s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
        let t0 = Instant::now();
        let mut buf = [0u8; 64];
        let n = s.read(&mut buf).unwrap_or(0);
        (n, t0.elapsed())
    })
    .await
    .expect("idle client");
    assert_eq!(took.0, 0, "the server closed the idle connection");
    assert!(took.1 < Duration::from_secs(3), "{:?}", took.1);
    assert!(srv.metrics.snapshot().connections_total >= 1);
    srv.shutdown().await;
}
