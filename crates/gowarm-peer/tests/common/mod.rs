//! Shared by the server and client tests: one "pod" with real caches (made by the pinned
//! Go from the example modules), servers on 127.0.0.1:0, raw HTTP for requests a URL
//! library would normalise away.

#![allow(dead_code)]

use std::io::{Read, Write};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::{Arc, OnceLock};
use std::time::Duration;

use gowarm_gocache::{BuildCache, EntryState, Id};
use gowarm_gomod::ModuleVersion;
use gowarm_peer::{Metrics, ServeSummary, Server, ServerConfig, ServerError};
use gowarm_testkit::{
    copy_example_program, example_proxy, go_build, make_tree_writable, run, GoEnv, ModuleHashes,
    ProxyDir, TempGoDirs,
};

/// The token every test server requires.
pub const TOKEN: &str = "peer-test-token";

/// A pod's caches, made once per test binary.
pub struct Pod {
    /// GOPATH, GOMODCACHE (as `go mod download` left it: with `.zip` files) and GOCACHE.
    pub dirs: TempGoDirs,
    /// A copy of the ModCache without `.zip` files, as a pod warmed by gowarm holds it.
    pub trees: PathBuf,
    /// The proxy the modules came from.
    pub proxy: ProxyDir,
    /// The example program (go.mod, go.sum).
    pub program: PathBuf,
    /// The modules with their go.sum hashes.
    pub modules: Vec<(ModuleVersion, ModuleHashes)>,
    /// Action entries of the build, each complete (action ID, output ID, size).
    pub entries: Vec<(Id, Id, u64)>,
    /// Large outputs (24 MiB each) added to the BuildCache for streaming tests.
    pub big: Vec<Id>,
    /// The manifest bytes served.
    pub manifest: Vec<u8>,
    _root: tempfile::TempDir,
}

/// Size of each [`Pod::big`] output.
pub const BIG: usize = 24 << 20;

/// The pod, made on first use.
pub fn pod() -> &'static Pod {
    static POD: OnceLock<Pod> = OnceLock::new();
    POD.get_or_init(|| {
        let root = tempfile::tempdir().expect("tempdir");
        gowarm_testkit::remove_at_exit(root.path());
        let mut proxy = ProxyDir::new(root.path().join("proxy")).expect("proxy");
        let modules = example_proxy(&mut proxy).expect("example proxy");
        let program = root.path().join("program");
        copy_example_program(&program).expect("program");
        let dirs = TempGoDirs::new().expect("pod dirs");
        gowarm_testkit::remove_at_exit(dirs.root());
        let env = GoEnv::new(&*dirs).goproxy(proxy.url());
        run(env.command(["mod", "download"]).current_dir(&program)).expect("go mod download");
        let out = root.path().join("prog");
        let b = go_build(&program, &GoEnv::new(&*dirs), &out).expect("go build");
        assert!(b.compiles > 0);

        let trees = root.path().join("trees");
        copy_tree(&dirs.gomodcache, &trees);
        for e in walkdir::WalkDir::new(trees.join("cache/download")) {
            let e = e.expect("walk");
            if e.path().extension().is_some_and(|x| x == "zip") {
                std::fs::remove_file(e.path()).expect("remove zip");
            }
        }

        let bc = BuildCache::open(&dirs.gocache).expect("gocache");
        let mut entries = Vec::new();
        for (action, entry) in bc.entries().expect("entries") {
            if matches!(bc.entry_state(&action), Ok(EntryState::Complete(_)))
                && bc.output_path(&entry.output_id).is_file()
            {
                entries.push((action, entry.output_id, entry.size));
            }
        }
        assert!(entries.len() > 10, "{} entries", entries.len());
        let mut big = Vec::new();
        for seed in 0..2u64 {
            big.push(
                bc.put_output(&pseudo_random(BIG, seed))
                    .expect("big output"),
            );
        }
        let manifest = br#"{"format":2,"note":"test manifest"}"#.to_vec();
        Pod {
            dirs,
            trees,
            proxy,
            program,
            modules,
            entries,
            big,
            manifest,
            _root: root,
        }
    })
}

/// Deterministic bytes that do not compress.
pub fn pseudo_random(n: usize, seed: u64) -> Vec<u8> {
    let mut x = seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
    let mut out = Vec::with_capacity(n);
    while out.len() < n {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        out.extend_from_slice(&x.to_le_bytes());
    }
    out.truncate(n);
    out
}

/// `cp -a src dst`, then owner-writable directories (so the copy can be changed and removed).
pub fn copy_tree(src: &Path, dst: &Path) {
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

/// A server configuration over `gomodcache` and the pod's GOCACHE, with the token.
pub fn config(gomodcache: &Path) -> ServerConfig {
    let p = pod();
    ServerConfig {
        gomodcache: Some(gomodcache.to_path_buf()),
        gocache: Some(p.dirs.gocache.clone()),
        token: Some(TOKEN.into()),
        manifest: Some(gowarm_peer::manifest_from_bytes(p.manifest.clone())),
        ..ServerConfig::default()
    }
}

/// A server running on 127.0.0.1 in the current runtime.
pub struct Running {
    /// `http://127.0.0.1:<port>`.
    pub base: String,
    /// Its address.
    pub addr: SocketAddr,
    /// Its counters.
    pub metrics: Arc<Metrics>,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    task: Option<tokio::task::JoinHandle<Result<ServeSummary, ServerError>>>,
}

impl Running {
    /// Asks for a graceful shutdown and waits for the summary.
    pub async fn shutdown(mut self) -> ServeSummary {
        if let Some(s) = self.stop.take() {
            let _ = s.send(());
        }
        self.task
            .take()
            .expect("task")
            .await
            .expect("server task")
            .expect("server")
    }

    /// Sends the shutdown signal without waiting.
    pub fn signal_shutdown(&mut self) {
        if let Some(s) = self.stop.take() {
            let _ = s.send(());
        }
    }

    /// Takes the server's task (to await it).
    pub fn take_task(&mut self) -> tokio::task::JoinHandle<Result<ServeSummary, ServerError>> {
        self.task.take().expect("task")
    }
}

impl Drop for Running {
    fn drop(&mut self) {
        if let Some(t) = &self.task {
            t.abort();
        }
    }
}

/// Starts a server for `cfg` on a fresh loopback port.
pub async fn start(cfg: ServerConfig) -> Running {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let addr = listener.local_addr().expect("addr");
    let server = Server::new(cfg).expect("server");
    let metrics = server.metrics();
    let (tx, rx) = tokio::sync::oneshot::channel::<()>();
    let task = tokio::spawn(server.run(listener, async {
        let _ = rx.await;
    }));
    Running {
        base: format!("http://{addr}"),
        addr,
        metrics,
        stop: Some(tx),
        task: Some(task),
    }
}

/// One raw HTTP/1.1 request (target sent exactly as given); returns status and body.
pub fn raw_get(addr: SocketAddr, target: &str, auth: Option<&str>) -> (u16, String) {
    let mut s = std::net::TcpStream::connect(addr).expect("connect");
    s.set_read_timeout(Some(Duration::from_secs(10)))
        .expect("timeout");
    let auth = auth
        .map(|a| format!("Authorization: {a}\r\n"))
        .unwrap_or_default();
    write!(
        s,
        "GET {target} HTTP/1.1\r\nHost: {addr}\r\n{auth}Connection: close\r\n\r\n"
    )
    .expect("write");
    let mut buf = Vec::new();
    let _ = s.read_to_end(&mut buf);
    let text = String::from_utf8_lossy(&buf).into_owned();
    let status = text
        .split_whitespace()
        .nth(1)
        .and_then(|c| c.parse().ok())
        .unwrap_or(0);
    let body = text
        .split_once("\r\n\r\n")
        .map(|(_, b)| b.to_string())
        .unwrap_or_default();
    (status, body)
}

/// `Authorization: Bearer <TOKEN>`.
pub fn bearer() -> String {
    format!("Bearer {TOKEN}")
}

/// A client of `base` with the test token and short timeouts.
pub fn client(base: &str) -> gowarm_peer::PeerClient {
    gowarm_peer::PeerClient::new(
        base,
        &gowarm_peer::ClientConfig {
            token: Some(TOKEN.into()),
            connect_timeout: Duration::from_secs(2),
            response_timeout: Duration::from_secs(10),
            stall_timeout: Duration::from_secs(10),
        },
    )
    .expect("client")
}

/// SHA-256 of a file, as a build-cache ID.
pub fn file_id(p: &Path) -> Id {
    Id::of_content(&std::fs::read(p).expect("read"))
}

/// This process's resident set size in bytes (Linux).
pub fn rss_bytes() -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<u64>().ok())
        .map(|kb| kb * 1024)
        .unwrap_or(0)
}
