//! The boundary: argument checks, panics caught, results turned into C strings.

use std::ffi::{c_char, CStr, CString};
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::path::Path;

use gowarm::Engine;

use crate::{gowarm_engine, gowarm_status};

/// Why a call failed: the status to return and the message for the caller.
#[derive(Debug)]
pub(crate) struct CallError {
    /// The status the C function returns.
    pub(crate) status: gowarm_status,
    /// What went wrong, for `{"error": ...}` or `*err`.
    pub(crate) message: String,
}

impl CallError {
    /// A bad argument (`GOWARM_INVALID_ARGUMENT`).
    pub(crate) fn invalid(message: impl Into<String>) -> CallError {
        CallError {
            status: gowarm_status::GOWARM_INVALID_ARGUMENT,
            message: message.into(),
        }
    }

    /// An engine failure (`GOWARM_ERROR`).
    pub(crate) fn error(message: impl Into<String>) -> CallError {
        CallError {
            status: gowarm_status::GOWARM_ERROR,
            message: message.into(),
        }
    }
}

impl From<gowarm::Error> for CallError {
    fn from(e: gowarm::Error) -> CallError {
        let status = match e {
            gowarm::Error::Stopped(_) => gowarm_status::GOWARM_STOPPED,
            _ => gowarm_status::GOWARM_ERROR,
        };
        CallError {
            status,
            message: e.to_string(),
        }
    }
}

/// Runs `f`, turning a panic into `GOWARM_PANIC`: unwinding across `extern "C"` would abort
/// the host process (the IaC Runner), which must survive a gowarm bug.
pub(crate) fn guard<T>(f: impl FnOnce() -> Result<T, CallError>) -> Result<T, CallError> {
    match catch_unwind(AssertUnwindSafe(f)) {
        Ok(result) => result,
        Err(payload) => {
            let what = payload
                .downcast_ref::<&str>()
                .map(|s| s.to_string())
                .or_else(|| payload.downcast_ref::<String>().cloned())
                .unwrap_or_else(|| "(no message)".to_string());
            Err(CallError {
                status: gowarm_status::GOWARM_PANIC,
                message: format!("gowarm panicked (a bug; please report it): {what}"),
            })
        }
    }
}

/// Runs a call that answers in JSON: on success `*report_json` gets `f`'s JSON, on any
/// failure `{"error": "..."}`, so a caller always has JSON to parse or log.
pub(crate) unsafe fn with_json(
    report_json: *mut *mut c_char,
    f: impl FnOnce() -> Result<(gowarm_status, String), CallError>,
) -> i32 {
    if report_json.is_null() {
        return gowarm_status::GOWARM_INVALID_ARGUMENT as i32;
    }
    *report_json = std::ptr::null_mut();
    let (status, json) = match guard(f) {
        Ok(done) => done,
        Err(e) => (e.status, error_json(&e.message)),
    };
    put_string(report_json, json);
    status as i32
}

/// `{"error": message}`.
pub(crate) fn error_json(message: &str) -> String {
    serde_json::json!({ "error": message }).to_string()
}

/// Stores `s` in `*out` as a C string the caller frees with `gowarm_string_free`; does
/// nothing when `out` is NULL.
pub(crate) unsafe fn put_string(out: *mut *mut c_char, s: String) {
    if out.is_null() {
        return;
    }
    *out = c_string(s).into_raw();
}

/// `s` as a C string. JSON never holds a raw NUL (serde escapes it), but a message quoting
/// a file name might: drop NULs rather than fail or truncate silently at the first one.
pub(crate) fn c_string(s: String) -> CString {
    CString::new(s).unwrap_or_else(|e| {
        let mut bytes = e.into_vec();
        bytes.retain(|&b| b != 0);
        CString::new(bytes).unwrap_or_default()
    })
}

/// A string argument: NULL and non-UTF-8 are invalid arguments naming `name`.
pub(crate) unsafe fn str_arg<'a>(p: *const c_char, name: &str) -> Result<&'a str, CallError> {
    if p.is_null() {
        return Err(CallError::invalid(format!("{name} is NULL")));
    }
    CStr::from_ptr(p)
        .to_str()
        .map_err(|e| CallError::invalid(format!("{name} is not UTF-8: {e}")))
}

/// A path argument (a UTF-8 string; Go strings handed over by cgo are UTF-8 in practice,
/// and JSON reports could not carry anything else faithfully).
pub(crate) unsafe fn path_arg<'a>(p: *const c_char, name: &str) -> Result<&'a Path, CallError> {
    let s = str_arg(p, name)?;
    if s.is_empty() {
        return Err(CallError::invalid(format!("{name} is empty")));
    }
    Ok(Path::new(s))
}

/// The engine behind a handle; NULL is an invalid argument.
pub(crate) unsafe fn engine_arg<'a>(p: *const gowarm_engine) -> Result<&'a Engine, CallError> {
    p.as_ref()
        .map(|h| &h.engine)
        .ok_or_else(|| CallError::invalid("engine is NULL"))
}

#[cfg(test)]
mod tests {
    use super::*;

    unsafe fn run(f: impl FnOnce() -> Result<(gowarm_status, String), CallError>) -> (i32, String) {
        let mut out = std::ptr::null_mut();
        let status = with_json(&mut out, f);
        assert!(!out.is_null(), "JSON is always returned");
        let text = CString::from_raw(out).into_string().expect("UTF-8");
        (status, text)
    }

    #[test]
    fn a_panic_becomes_a_status_and_json() {
        let (status, text) = unsafe { run(|| panic!("boom at {}", 7)) };
        assert_eq!(status, gowarm_status::GOWARM_PANIC as i32);
        let v: serde_json::Value = serde_json::from_str(&text).expect("JSON");
        let msg = v["error"].as_str().expect("message");
        assert!(msg.contains("boom at 7"), "{msg}");
    }

    #[test]
    fn errors_are_json_even_with_quotes_and_newlines() {
        let (status, text) = unsafe { run(|| Err(CallError::error("bad \"x\"\nline"))) };
        assert_eq!(status, gowarm_status::GOWARM_ERROR as i32);
        let v: serde_json::Value = serde_json::from_str(&text).expect("JSON");
        assert_eq!(v["error"], "bad \"x\"\nline");
    }

    #[test]
    fn nul_bytes_are_dropped_not_truncating() {
        assert_eq!(c_string("a\0b".to_string()).as_bytes(), b"ab");
    }
}
