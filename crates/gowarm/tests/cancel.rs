//! Stopping a warm: at a deadline while a source stalls, and on request from another
//! thread. The warm returns promptly with Outcome::Stopped and leaves nothing half-written.

mod common;

use std::net::TcpListener;
use std::time::{Duration, Instant};

use gowarm::{Cancel, Outcome, SetChoice, WarmControl};
use gowarm_gomod::modcache::{ModCache, TreeState};
use gowarm_testkit::{copy_example_program, example_modules, GoEnv, TempGoDirs};

/// A "proxy" that accepts connections and never answers.
fn stalling_proxy() -> (TcpListener, String) {
    let l = TcpListener::bind("127.0.0.1:0").expect("bind");
    let url = format!("http://{}", l.local_addr().expect("addr"));
    (l, url)
}

fn nothing_installed(pod: &TempGoDirs) {
    let mc = ModCache::new(&pod.gomodcache);
    for m in example_modules() {
        let st = mc.state(&m).expect("state");
        assert!(matches!(st.tree, TreeState::Absent), "{m}: {:?}", st.tree);
    }
}

#[test]
fn a_deadline_stops_a_warm_stuck_on_a_stalling_source() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let program = tmp.path().join("program");
    copy_example_program(&program).expect("program");
    let (_listener, url) = stalling_proxy();
    let pod = TempGoDirs::new().expect("pod");
    // The source's own timeout (60 s) is far beyond the deadline.
    let engine = common::engine(&GoEnv::new(&*pod), &[url]);
    let ctl = WarmControl {
        choice: SetChoice::Auto,
        progress: None,
        cancel: Cancel::with_deadline(Instant::now() + Duration::from_millis(1500)),
    };
    let t0 = Instant::now();
    let (_, report) = engine.warm_controlled(Some(&program), &ctl).expect("warm");
    let took = t0.elapsed();
    assert_eq!(report.outcome, Outcome::Stopped, "{}", report.to_human());
    assert!(took < Duration::from_secs(6), "took {took:?}");
    assert_eq!(report.modules.stopped, 3, "{}", report.to_human());
    assert!(
        report.warnings.iter().any(|w| w.contains("deadline")),
        "{:?}",
        report.warnings
    );
    nothing_installed(&pod);
}

#[test]
fn cancel_from_another_thread_stops_the_warm() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let program = tmp.path().join("program");
    copy_example_program(&program).expect("program");
    let (_listener, url) = stalling_proxy();
    let pod = TempGoDirs::new().expect("pod");
    let engine = common::engine(&GoEnv::new(&*pod), &[url]);
    let cancel = Cancel::new();
    let ctl = WarmControl {
        choice: SetChoice::Auto,
        progress: None,
        cancel: cancel.clone(),
    };
    let canceller = std::thread::spawn(move || {
        std::thread::sleep(Duration::from_millis(800));
        cancel.cancel();
    });
    let t0 = Instant::now();
    let (_, report) = engine.warm_controlled(Some(&program), &ctl).expect("warm");
    canceller.join().expect("canceller");
    assert_eq!(report.outcome, Outcome::Stopped, "{}", report.to_human());
    assert!(t0.elapsed() < Duration::from_secs(6), "{:?}", t0.elapsed());
    assert!(
        report.warnings.iter().any(|w| w.contains("cancelled")),
        "{:?}",
        report.warnings
    );
    nothing_installed(&pod);

    // A token stopped before the call: nothing is attempted.
    let done = Cancel::new();
    done.cancel();
    let ctl = WarmControl {
        cancel: done,
        ..WarmControl::default()
    };
    let (_, report) = engine.warm_controlled(Some(&program), &ctl).expect("warm");
    assert_eq!(report.outcome, Outcome::Stopped);
    assert_eq!(report.modules.installed, 0);
}
