//! `gowarm serve` as a process on loopback, with pods as separate cache directories: a pod
//! warmed by `gowarm hook` serves its caches; plain `go mod download` uses it as GOPROXY;
//! another pod warms from it through a `peer` source and builds with 0 compiles; wrong or
//! missing tokens get 401; SIGTERM stops it cleanly.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

use gowarm_testkit::{
    copy_example_program, example_proxy, go_binary, go_build, GoEnv, ProxyDir, TempGoDirs,
};

fn gowarm_cmd(env: &GoEnv, args: &[&str]) -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_gowarm"));
    cmd.env_clear().envs(env.vars());
    cmd.env("GOWARM_GO", go_binary()).args(args);
    cmd
}

fn gowarm(env: &GoEnv, args: &[&str]) -> Output {
    gowarm_cmd(env, args).output().expect("run gowarm")
}

fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

/// A `gowarm serve` process, stopped with SIGTERM on drop.
struct Server {
    child: Child,
    port: u16,
}

impl Server {
    fn start(env: &GoEnv, auth: &[&str]) -> Server {
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .expect("free port")
            .port();
        let listen = format!("127.0.0.1:{port}");
        let mut args = vec!["serve", "--listen", &listen];
        args.extend_from_slice(auth);
        let child = gowarm_cmd(env, &args)
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("start gowarm serve");
        let server = Server { child, port };
        let t0 = Instant::now();
        while get(port, "/healthz", None).0 != 200 {
            assert!(
                t0.elapsed() < Duration::from_secs(20),
                "serve did not come up"
            );
            std::thread::sleep(Duration::from_millis(100));
        }
        server
    }

    /// SIGTERM, then the exit status and what it printed.
    fn stop(mut self) -> (i32, String) {
        // SAFETY: kill(2) on our own child's pid.
        unsafe { libc::kill(self.child.id() as i32, libc::SIGTERM) };
        let out = std::mem::replace(
            &mut self.child,
            Command::new("true").spawn().expect("placeholder child"),
        )
        .wait_with_output()
        .expect("wait");
        (
            out.status.code().unwrap_or(-1),
            format!("{}{}", text(&out.stdout), text(&out.stderr)),
        )
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// `GET path` on loopback; (status, body).
fn get(port: u16, path: &str, token: Option<&str>) -> (u16, Vec<u8>) {
    let Ok(mut s) = TcpStream::connect(("127.0.0.1", port)) else {
        return (0, Vec::new());
    };
    let auth = token
        .map(|t| format!("Authorization: Bearer {t}\r\n"))
        .unwrap_or_default();
    let req = format!("GET {path} HTTP/1.1\r\nHost: x\r\n{auth}Connection: close\r\n\r\n");
    if s.write_all(req.as_bytes()).is_err() {
        return (0, Vec::new());
    }
    let mut buf = Vec::new();
    let _ = s.read_to_end(&mut buf);
    let head_end = buf
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .unwrap_or(buf.len());
    let head = String::from_utf8_lossy(&buf[..head_end]).into_owned();
    let status = head
        .split_whitespace()
        .nth(1)
        .and_then(|c| c.parse().ok())
        .unwrap_or(0);
    (status, buf[(head_end + 4).min(buf.len())..].to_vec())
}

fn write_config(path: &Path, body: &str) -> PathBuf {
    std::fs::write(path, body).expect("config");
    path.to_path_buf()
}

#[test]
fn a_served_pod_feeds_plain_go_and_a_sibling_pod_with_all_hits() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let mut proxy = ProxyDir::new(tmp.path().join("proxy")).expect("proxy");
    example_proxy(&mut proxy).expect("example");
    let program = tmp.path().join("program");
    copy_example_program(&program).expect("program");
    let prog = program.to_str().expect("utf-8");
    let warm = tmp.path().join("warm");
    let bake_env = TempGoDirs::new().expect("bake env");
    let o = gowarm(
        &GoEnv::new(&*bake_env).goflags("-trimpath"),
        &[
            "bake",
            prog,
            "--out",
            warm.to_str().expect("utf-8"),
            "--from",
            &proxy.url(),
        ],
    );
    assert_eq!(o.status.code(), Some(0), "{}", text(&o.stderr));

    // Pod A: started by its hook from the warm image, then serving.
    let pod_a = TempGoDirs::new().expect("pod A");
    let env_a = GoEnv::new(&*pod_a).goflags("-trimpath");
    let ready = tmp.path().join("a-ready.json");
    let o = gowarm(
        &env_a,
        &[
            "hook",
            "--from",
            &format!("dir:{}", warm.display()),
            "--ready-file",
            ready.to_str().expect("utf-8"),
        ],
    );
    assert_eq!(
        o.status.code(),
        Some(0),
        "{}{}",
        text(&o.stdout),
        text(&o.stderr)
    );
    let token = "s3cret-token";
    let token_file = tmp.path().join("token");
    std::fs::write(&token_file, format!("{token}\n")).expect("token");
    let server = Server::start(
        &env_a,
        &["--token-file", token_file.to_str().expect("utf-8")],
    );
    let port = server.port;

    // Auth: nothing without the right token; health needs none.
    assert_eq!(get(port, "/build/manifest", None).0, 401);
    assert_eq!(get(port, "/build/manifest", Some("wrong")).0, 401);
    assert_eq!(get(port, "/metrics", None).0, 401);
    let (code, body) = get(port, "/build/manifest", Some(token));
    assert_eq!(code, 200);
    let m: serde_json::Value = serde_json::from_slice(&body).expect("manifest JSON");
    assert_eq!(m["warm_sets"][0]["name"], "all", "the set the hook warmed");
    assert!(
        m["entries"].as_array().map(Vec::len).unwrap_or(0) > 10,
        "{m}"
    );
    for bad in [
        "/mod/../../etc/passwd",
        "/mod/%2e%2e/x/@v/list",
        "/build/output/../../x",
    ] {
        assert_eq!(get(port, bad, Some(token)).0, 404, "{bad}");
    }

    // Plain go as a client. Go sends credentials only over https (it refuses a GOPROXY
    // URL with user info on http://), so the token goes in the path: /auth/<token>/mod.
    let plain = TempGoDirs::new().expect("plain go");
    let out = GoEnv::new(&*plain)
        .goproxy(format!("http://127.0.0.1:{port}/auth/{token}/mod"))
        .goflags("-mod=mod")
        .command(["mod", "download", "all"])
        .current_dir(&program)
        .output()
        .expect("go mod download");
    assert!(out.status.success(), "{}", text(&out.stderr));
    // And on a trusted network, a second server of the same pod without a token.
    let open = Server::start(&env_a, &["--no-auth"]);
    let plain = TempGoDirs::new().expect("plain go");
    let out = GoEnv::new(&*plain)
        .goproxy(format!("http://127.0.0.1:{}/mod", open.port))
        .goflags("-mod=mod")
        .command(["mod", "download", "all"])
        .current_dir(&program)
        .output()
        .expect("go mod download");
    assert!(out.status.success(), "{}", text(&out.stderr));
    let (status, _) = open.stop();
    assert_eq!(status, 0);

    // Pod B warms from pod A alone, entries included (A is configured as trusted).
    let pod_b = TempGoDirs::new().expect("pod B");
    let config = write_config(
        &tmp.path().join("b.toml"),
        &format!(
            "[[source]]\nkind = \"peer\"\npeers = [\"http://127.0.0.1:{port}\"]\ntoken_file = \"{}\"\ntrusted = true\ntimeout_secs = 10\n",
            token_file.display()
        ),
    );
    let env_b = GoEnv::new(&*pod_b).goflags("-trimpath");
    let o = gowarm(
        &env_b,
        &[
            "--config",
            config.to_str().expect("utf-8"),
            "warm",
            prog,
            "--json",
        ],
    );
    assert_eq!(
        o.status.code(),
        Some(0),
        "{}{}",
        text(&o.stdout),
        text(&o.stderr)
    );
    let r: serde_json::Value = serde_json::from_slice(&o.stdout).expect("report");
    assert_eq!(r["modules"]["installed"], 3, "{r}");
    assert!(r["entries"]["installed"].as_u64().unwrap_or(0) > 10, "{r}");
    let run = go_build(
        &program,
        &GoEnv::new(&*pod_b).goflags("-trimpath -mod=readonly"),
        &tmp.path().join("prog-b"),
    )
    .expect("build in pod B");
    assert_eq!(run.compiles, 0, "{}", run.stderr);

    let (code, body) = get(port, "/metrics", Some(token));
    assert_eq!(code, 200);
    let metrics = text(&body);
    assert!(metrics.contains("gowarm_peer_requests_total"), "{metrics}");

    let (status, printed) = server.stop();
    assert_eq!(status, 0, "{printed}");
    assert!(printed.contains("served"), "{printed}");
}

#[test]
fn serve_refuses_to_start_without_a_token_unless_told() {
    let pod = TempGoDirs::new().expect("pod");
    let o = gowarm(&GoEnv::new(&*pod), &["serve", "--listen", "127.0.0.1:0"]);
    assert_eq!(o.status.code(), Some(1));
    assert!(
        text(&o.stderr).contains("--token-file"),
        "{}",
        text(&o.stderr)
    );
    let o = gowarm(
        &GoEnv::new(&*pod),
        &["serve", "--token-file", "/nonexistent/token"],
    );
    assert_eq!(o.status.code(), Some(1));
    assert!(
        text(&o.stderr).contains("/nonexistent/token"),
        "{}",
        text(&o.stderr)
    );
}
