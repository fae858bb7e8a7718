//! The ABI on the embedded example with a real Go: detect, warm with progress, many
//! threads through one handle.

mod common;

use std::ffi::c_void;
use std::ptr::null_mut;
use std::sync::Mutex;

use common::{json, on_eight_threads, take, Example, Handle};
use gowarm_ffi::*;

const OK: i32 = gowarm_status::GOWARM_OK as i32;
const COLD: i32 = gowarm_status::GOWARM_COLD as i32;

#[test]
fn detect_on_a_cold_module_is_cold_then_ok_after_warm() {
    let ex = Example::new();
    let engine = Handle::from_toml(&ex.toml());
    let dir = ex.program_c();

    let mut out = null_mut();
    let status = unsafe { gowarm_detect(engine.0, dir.as_ptr(), &mut out) };
    let text = unsafe { take(out) }.expect("plan JSON");
    assert_eq!(status, COLD, "{text}");
    let plan = json(&text);
    assert!(
        plan["modules"].as_array().is_some_and(|m| !m.is_empty()),
        "{text}"
    );

    let mut out = null_mut();
    let status = unsafe { gowarm_warm_module(engine.0, dir.as_ptr(), &mut out) };
    let text = unsafe { take(out) }.expect("report JSON");
    assert_eq!(status, OK, "{text}");
    assert_eq!(json(&text)["outcome"], "warm", "{text}");

    let mut out = null_mut();
    let status = unsafe { gowarm_detect(engine.0, dir.as_ptr(), &mut out) };
    let text = unsafe { take(out) }.expect("plan JSON");
    assert_eq!(status, OK, "{text}");
}

/// Every progress call, as `(phase, done, total, bytes)`.
type Calls = Mutex<Vec<(i32, u64, u64, u64)>>;

unsafe extern "C" fn record(user_data: *mut c_void, phase: i32, done: u64, total: u64, bytes: u64) {
    let calls = &*(user_data as *const Calls);
    calls
        .lock()
        .unwrap_or_else(|p| p.into_inner())
        .push((phase, done, total, bytes));
}

#[test]
fn progress_reaches_the_callback_in_order() {
    let ex = Example::new();
    let engine = Handle::from_toml(&ex.toml());
    let dir = ex.program_c();
    let calls: Calls = Mutex::new(Vec::new());

    let mut out = null_mut();
    let status = unsafe {
        gowarm_warm_module_with_progress(
            engine.0,
            dir.as_ptr(),
            Some(record),
            &calls as *const Calls as *mut c_void,
            &mut out,
        )
    };
    let text = unsafe { take(out) }.expect("report JSON");
    assert_eq!(status, OK, "{text}");
    let report = json(&text);

    let calls = calls.into_inner().expect("not poisoned");
    let modules: Vec<_> = calls
        .iter()
        .filter(|c| c.0 == gowarm_phase::GOWARM_PHASE_MODULES as i32)
        .collect();
    assert!(modules.len() >= 2, "{calls:?}");
    assert_eq!(modules[0].1, 0, "begins at 0: {calls:?}");
    for w in modules.windows(2) {
        assert!(
            w[1].1 >= w[0].1 && w[1].3 >= w[0].3,
            "never decreases: {calls:?}"
        );
    }
    let last = modules[modules.len() - 1];
    assert_eq!(last.1, last.2, "every item done: {calls:?}");
    assert!(last.3 > 0, "bytes counted: {calls:?}");
    let installed = report["bytes_installed"].as_u64().expect("bytes_installed");
    assert!(last.3 <= installed, "{calls:?} vs {text}");
}

#[test]
fn eight_threads_detect_through_one_handle() {
    let ex = Example::new();
    let engine = Handle::from_toml(&ex.toml());
    let dir = ex.program_c();
    let results = on_eight_threads(|| {
        let mut out = null_mut();
        let status = unsafe { gowarm_detect(engine.ptr(), dir.as_ptr(), &mut out) };
        (status, unsafe { take(out) }.unwrap_or_default())
    });
    for (status, text) in &results {
        assert_eq!(*status, COLD, "{text}");
        assert!(json(text)["modules"].is_array(), "{text}");
    }
}

#[test]
fn eight_threads_warm_one_module_through_one_handle() {
    let ex = Example::new();
    let engine = Handle::from_toml(&ex.toml());
    let dir = ex.program_c();

    let results = on_eight_threads(|| {
        let mut out = null_mut();
        let status = unsafe { gowarm_warm_module(engine.ptr(), dir.as_ptr(), &mut out) };
        (status, unsafe { take(out) }.unwrap_or_default())
    });
    for (status, text) in &results {
        assert_eq!(*status, OK, "{text}");
        assert_eq!(json(text)["outcome"], "warm", "{text}");
    }

    let mut out = null_mut();
    let status = unsafe { gowarm_detect(engine.0, dir.as_ptr(), &mut out) };
    let text = unsafe { take(out) }.expect("plan JSON");
    assert_eq!(status, OK, "warm after all: {text}");
}
