//! The ABI's answers to bad input, without Go: null pointers, bad strings, bad TOML.

mod common;

use std::ffi::{c_char, c_void, CStr, CString};
use std::ptr::{null, null_mut};
use std::sync::atomic::{AtomicUsize, Ordering};

use common::{json, take, Handle};
use gowarm_ffi::*;

const OK: i32 = gowarm_status::GOWARM_OK as i32;
const ERROR: i32 = gowarm_status::GOWARM_ERROR as i32;
const INVALID: i32 = gowarm_status::GOWARM_INVALID_ARGUMENT as i32;

/// A configuration that parses and opens: one goproxy source that is never contacted.
const MINIMAL_TOML: &str = "[[source]]\nkind = \"goproxy\"\nurl = \"http://127.0.0.1:9\"\n";

/// One ABI call given where to store its JSON.
type Call<'a> = Box<dyn Fn(*mut *mut c_char) -> i32 + 'a>;

unsafe extern "C" fn no_progress(_: *mut c_void, _: i32, _: u64, _: u64, _: u64) {}

#[test]
fn null_arguments_are_invalid_and_answered_in_json() {
    let engine = Handle::from_toml(MINIMAL_TOML);
    let dir = CString::new("/tmp").expect("cstring");
    unsafe {
        // No report_json to write to: only the status.
        assert_eq!(gowarm_detect(engine.0, dir.as_ptr(), null_mut()), INVALID);
        assert_eq!(
            gowarm_warm_module(engine.0, dir.as_ptr(), null_mut()),
            INVALID
        );

        let cases: [(&str, Call); 6] = [
            (
                "engine is NULL",
                Box::new(|out| gowarm_detect(null(), dir.as_ptr(), out)),
            ),
            (
                "module_dir is NULL",
                Box::new(|out| gowarm_detect(engine.0, null(), out)),
            ),
            (
                "engine is NULL",
                Box::new(|out| gowarm_warm_module(null(), dir.as_ptr(), out)),
            ),
            (
                "module_dir is NULL",
                Box::new(|out| gowarm_warm_module(engine.0, null(), out)),
            ),
            (
                "callback is NULL",
                Box::new(|out| {
                    gowarm_warm_module_with_progress(engine.0, dir.as_ptr(), None, null_mut(), out)
                }),
            ),
            (
                "module_dir is NULL",
                Box::new(|out| {
                    gowarm_warm_module_with_progress(
                        engine.0,
                        null(),
                        Some(no_progress),
                        null_mut(),
                        out,
                    )
                }),
            ),
        ];
        for (want, call) in cases {
            let mut out = null_mut();
            assert_eq!(call(&mut out), INVALID, "{want}");
            let text = take(out).expect("JSON even for an invalid argument");
            assert_eq!(json(&text)["error"], want, "{text}");
        }

        assert_eq!(
            gowarm_engine_new_from_toml(null(), null_mut(), null_mut()),
            INVALID
        );
        let mut out = null_mut();
        let mut err = null_mut();
        assert_eq!(
            gowarm_engine_new_from_toml(null(), &mut out, &mut err),
            INVALID
        );
        assert!(out.is_null());
        assert_eq!(take(err).as_deref(), Some("toml is NULL"));
        assert_eq!(
            gowarm_engine_new_from_file(null(), &mut out, null_mut()),
            INVALID
        );
        assert!(out.is_null());
        assert_eq!(gowarm_set_log_callback(None, null_mut()), INVALID);

        gowarm_engine_free(null_mut());
        gowarm_string_free(null_mut());
    }
}

#[test]
fn non_utf8_module_dir_is_invalid() {
    let engine = Handle::from_toml(MINIMAL_TOML);
    let bad = CString::new(vec![b'/', 0xff, 0xfe]).expect("cstring");
    let mut out = null_mut();
    let status = unsafe { gowarm_detect(engine.0, bad.as_ptr(), &mut out) };
    assert_eq!(status, INVALID);
    let text = unsafe { take(out) }.expect("JSON");
    let v = json(&text);
    let msg = v["error"].as_str().expect("error message");
    assert!(msg.starts_with("module_dir is not UTF-8"), "{msg}");
}

#[test]
fn bad_toml_is_an_error_naming_the_problem() {
    let toml = CString::new("[warm]\njobs = 4\nbogus_key = true\n").expect("cstring");
    let mut out = null_mut();
    let mut err = null_mut();
    let status = unsafe { gowarm_engine_new_from_toml(toml.as_ptr(), &mut out, &mut err) };
    assert_eq!(status, ERROR);
    assert!(out.is_null());
    let msg = unsafe { take(err) }.expect("an error message");
    assert!(msg.contains("bogus_key"), "{msg}");
    assert!(msg.contains("(TOML text)"), "{msg}");

    // A missing file names the path.
    let path = CString::new("/nonexistent/gowarm.toml").expect("cstring");
    let mut err = null_mut();
    let status = unsafe { gowarm_engine_new_from_file(path.as_ptr(), &mut out, &mut err) };
    assert_eq!(status, ERROR);
    let msg = unsafe { take(err) }.expect("an error message");
    assert!(msg.contains("/nonexistent/gowarm.toml"), "{msg}");
}

#[test]
fn engine_errors_come_back_as_json() {
    let engine = Handle::from_toml(MINIMAL_TOML);
    let dir = CString::new("/nonexistent/module").expect("cstring");
    let mut out = null_mut();
    let status = unsafe { gowarm_warm_module(engine.0, dir.as_ptr(), &mut out) };
    assert_eq!(status, ERROR);
    let text = unsafe { take(out) }.expect("JSON");
    let msg = json(&text)["error"].as_str().expect("message").to_string();
    assert!(
        msg.contains("/nonexistent/module: not a directory"),
        "{msg}"
    );
}

#[test]
fn version_is_the_crate_version() {
    let v = unsafe { CStr::from_ptr(gowarm_version()) };
    assert_eq!(v.to_str(), Ok(env!("CARGO_PKG_VERSION")));
}

static LOGGED: AtomicUsize = AtomicUsize::new(0);

unsafe extern "C" fn count_logs(user_data: *mut c_void, level: i32, message: *const c_char) {
    assert_eq!(user_data as usize, 42);
    assert!((1..=5).contains(&level));
    assert!(!CStr::from_ptr(message).to_bytes().is_empty());
    LOGGED.fetch_add(1, Ordering::SeqCst);
}

#[test]
fn log_callback_installs_once_and_receives_events() {
    let user_data = 42usize as *mut c_void;
    let first = unsafe { gowarm_set_log_callback(Some(count_logs), user_data) };
    assert_eq!(first, OK);
    tracing::warn!(target: "gowarm", "from the test");
    assert!(LOGGED.load(Ordering::SeqCst) >= 1);
    let second = unsafe { gowarm_set_log_callback(Some(count_logs), user_data) };
    assert_eq!(second, gowarm_status::GOWARM_ALREADY_SET as i32);
}
