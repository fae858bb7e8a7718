//! [`gowarm_peer::PeerClient`] against misbehaving peers: one that never answers, one that
//! stalls mid-body, one that is gone; and resuming an output from another peer.

mod common;

use std::io::{Read, Write};
use std::net::SocketAddr;
use std::time::{Duration, Instant};

use common::{config, pod, start, TOKEN};
use gowarm_peer::{ClientConfig, ErrorKind, PeerClient, Request, Route};

fn short(base: &str, timeout: Duration) -> PeerClient {
    PeerClient::new(
        base,
        &ClientConfig {
            token: Some(TOKEN.into()),
            connect_timeout: Duration::from_secs(1),
            response_timeout: timeout,
            stall_timeout: timeout,
        },
    )
    .expect("client")
}

/// A peer that accepts connections and then never says a word.
fn silent_peer() -> SocketAddr {
    let l = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let addr = l.local_addr().expect("addr");
    std::thread::spawn(move || {
        let mut held = Vec::new();
        for c in l.incoming().take(64) {
            match c {
                Ok(c) => held.push(c),
                Err(_) => break,
            }
        }
        std::thread::sleep(Duration::from_secs(30));
    });
    addr
}

/// A peer that sends the head and the first `first` bytes of `body`, then stalls.
fn stalling_peer(body: Vec<u8>, first: usize) -> SocketAddr {
    let l = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let addr = l.local_addr().expect("addr");
    std::thread::spawn(move || {
        let mut held = Vec::new();
        for c in l.incoming().take(16) {
            let Ok(mut c) = c else { break };
            let mut buf = [0u8; 4096];
            let _ = c.read(&mut buf);
            let _ = write!(
                c,
                "HTTP/1.1 200 OK\r\nContent-Length: {}\r\nContent-Type: application/octet-stream\r\n\r\n",
                body.len()
            );
            let _ = c.write_all(&body[..first]);
            let _ = c.flush();
            held.push(c);
        }
        std::thread::sleep(Duration::from_secs(30));
    });
    addr
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_peer_that_never_answers_is_given_up_within_the_timeout() {
    let addr = silent_peer();
    let c = short(&format!("http://{addr}"), Duration::from_millis(500));
    let t0 = Instant::now();
    let e = c.manifest().await.expect_err("no answer");
    assert_eq!(e.kind, ErrorKind::Timeout, "{e}");
    assert!(e.is_timeout() && e.peer_unusable());
    assert!(t0.elapsed() < Duration::from_secs(2), "{:?}", t0.elapsed());
    let tmp = tempfile::tempdir().expect("tempdir");
    let e = c
        .output(&gowarm_gocache::Id([1; 32]), tmp.path())
        .await
        .expect_err("no answer");
    assert_eq!(e.error.kind, ErrorKind::Timeout);
    assert!(e.partial.is_none());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stalled_transfer_fails_fast_and_resumes_from_another_peer() {
    let p = pod();
    let id = p.big[1];
    let body =
        std::fs::read(p.dirs.gocache.join(id.subdir()).join(format!("{id}-d"))).expect("big");
    let stall = stalling_peer(body.clone(), 5 << 20);
    let c = short(&format!("http://{stall}"), Duration::from_millis(500));
    let tmp = tempfile::tempdir().expect("tempdir");
    let t0 = Instant::now();
    let failed = c.output(&id, tmp.path()).await.expect_err("stalls");
    let took = t0.elapsed();
    assert_eq!(failed.error.kind, ErrorKind::Stalled, "{}", failed.error);
    assert!(failed.error.message.contains("stalled"), "{}", failed.error);
    assert!(took < Duration::from_secs(3), "gave up after {took:?}");
    let partial = failed.partial.expect("what arrived is kept");
    assert_eq!(partial.len(), 5 << 20);

    // The rest from a real server, by Range: only the missing bytes travel.
    let srv = start(config(&p.dirs.gomodcache)).await;
    let good = common::client(&srv.base);
    let done = good
        .resume(&Request::Output(id).path(), partial)
        .await
        .expect("resumed")
        .expect("present");
    assert_eq!(done.len, body.len() as u64);
    assert_eq!(common::file_id(&done.file), id);
    let snap = srv.metrics.snapshot();
    assert_eq!(snap.count(Route::Output, 206), 1, "{snap:?}");
    assert_eq!(
        snap.bytes_of(Route::Output),
        (body.len() - (5 << 20)) as u64
    );
    srv.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_gone_peer_is_a_connect_error_at_once() {
    let addr = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
        l.local_addr().expect("addr")
    };
    let c = short(&format!("http://{addr}"), Duration::from_secs(5));
    let t0 = Instant::now();
    let e = c.health().await.expect_err("refused");
    assert_eq!(e.kind, ErrorKind::Connect, "{e}");
    assert!(e.peer_unusable());
    assert!(t0.elapsed() < Duration::from_secs(2));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_refused_token_an_oversized_body_and_a_bad_range_are_refused() {
    let p = pod();
    let srv = start(config(&p.dirs.gomodcache)).await;
    let wrong = PeerClient::new(
        &srv.base,
        &ClientConfig {
            token: Some("not-the-token".into()),
            ..ClientConfig::default()
        },
    )
    .expect("client");
    let e = wrong.manifest().await.expect_err("401");
    assert_eq!(e.kind, ErrorKind::Unauthorized, "{e}");
    assert!(e.message.contains("Secret"), "{e}");
    // A too-large body is refused rather than buffered.
    let c = common::client(&srv.base);
    let e = c
        .get_bytes(&Request::Output(p.big[0]).path(), 1 << 20)
        .await
        .expect_err("too large");
    assert_eq!(e.kind, ErrorKind::TooLarge, "{e}");
    // A range past the end is 416, not a body.
    let resp = reqwest::Client::new()
        .get(format!("{}{}", srv.base, Request::Output(p.big[0]).path()))
        .bearer_auth(TOKEN)
        .header("range", format!("bytes={}-", common::BIG))
        .send()
        .await
        .expect("get");
    assert_eq!(resp.status(), 416);
    assert_eq!(
        resp.headers()["content-range"].to_str().unwrap(),
        format!("bytes */{}", common::BIG)
    );
    srv.shutdown().await;
}
