//! The C ABI over the gowarm engine (`gowarm::Engine`): `libgowarm_ffi.a` /
//! `libgowarm_ffi.so` and `include/gowarm.h`.
//!
//! This layer only converts arguments and results; every decision is the engine's. The
//! contracts (who frees what, threading, status codes, callbacks) are in `docs/c-abi.md`
//! and, for each function, in the header this crate's doc comments generate.
//!
//! Every function that takes pointers is `unsafe` for Rust callers: it trusts that a
//! non-null pointer points where the header says. Null pointers and non-UTF-8 strings are
//! checked and answered with [`gowarm_status::GOWARM_INVALID_ARGUMENT`], and panics are
//! caught at the boundary, because unwinding into C is undefined behaviour.

// The C names (`gowarm_engine`, `GOWARM_OK`) are the ABI; Rust's naming rules do not apply.
#![allow(non_camel_case_types)]
#![warn(missing_docs)]

mod call;
mod log;
mod options;
mod progress;

use std::ffi::{c_char, c_void};
use std::path::Path;
use std::sync::Arc;

use gowarm::{Config, Engine, Outcome};

use call::{engine_arg, guard, path_arg, put_string, str_arg, CallError};
pub use log::gowarm_log_fn;
pub use options::{gowarm_cancel, gowarm_warm_options};
pub use progress::gowarm_progress_fn;

/// An engine: configuration, sources and the runtime that drives them. Opaque to C; one
/// handle may be used by many threads at once.
pub struct gowarm_engine {
    engine: Engine,
}

/// What a call returned. Functions return it as `int32_t`; the values match the `gowarm`
/// CLI's exit codes where both have the case.
#[repr(i32)]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum gowarm_status {
    /// Success: everything is warm (detect), or everything needed was installed (warm).
    GOWARM_OK = 0,
    /// The engine stopped the call (bad configuration, go.mod/go.sum, source, I/O, `go`
    /// failed); the message is in the JSON as `{"error": "..."}`.
    GOWARM_ERROR = 1,
    /// A required pointer was null or a string was not UTF-8; nothing was done.
    GOWARM_INVALID_ARGUMENT = 2,
    /// detect: something required is cold.
    GOWARM_COLD = 3,
    /// warm: some required items could not be fetched or verified from any source.
    GOWARM_INCOMPLETE = 4,
    /// warm: modules are warm, build-cache entries were skipped because the warm cache's
    /// BuildProfile cannot hit here.
    GOWARM_PROFILE_MISMATCH = 5,
    /// A bug in gowarm panicked; the message is in the JSON. The handle stays usable.
    GOWARM_PANIC = 6,
    /// `gowarm_set_log_callback`: a log callback (or another global subscriber) is
    /// already installed.
    GOWARM_ALREADY_SET = 7,
    /// warm: stopped before the end (cancelled, or its deadline passed); what was
    /// installed is whole. The CLI's exit code for this case is 7.
    GOWARM_STOPPED = 8,
}

/// The phase a progress callback reports on (`phase` argument of `gowarm_progress_fn`).
#[repr(i32)]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum gowarm_phase {
    /// Module `.mod` files and trees.
    GOWARM_PHASE_MODULES = 0,
    /// Build-cache entries.
    GOWARM_PHASE_ENTRIES = 1,
}

/// The level of a log message (`level` argument of `gowarm_log_fn`).
#[repr(i32)]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum gowarm_log_level {
    /// Something failed.
    GOWARM_LOG_ERROR = 1,
    /// Something the operator should know.
    GOWARM_LOG_WARN = 2,
    /// What the engine is doing.
    GOWARM_LOG_INFO = 3,
    /// Details for debugging.
    GOWARM_LOG_DEBUG = 4,
    /// Very detailed tracing.
    GOWARM_LOG_TRACE = 5,
}

impl From<Outcome> for gowarm_status {
    fn from(o: Outcome) -> gowarm_status {
        match o {
            Outcome::Warm => gowarm_status::GOWARM_OK,
            Outcome::Incomplete => gowarm_status::GOWARM_INCOMPLETE,
            Outcome::ProfileMismatch => gowarm_status::GOWARM_PROFILE_MISMATCH,
            Outcome::Stopped => gowarm_status::GOWARM_STOPPED,
        }
    }
}

/// Creates an engine from TOML configuration text (the `gowarm.toml` format; `GOWARM_*`
/// environment overrides are not applied: the caller's text is the whole configuration).
///
/// On success stores the handle in `*out` (free it with `gowarm_engine_free`) and returns
/// `GOWARM_OK`. On failure stores NULL in `*out` and, when `err` is not NULL, a message in
/// `*err` (free it with `gowarm_string_free`).
///
/// # Safety
/// `toml` is NULL or a NUL-terminated string; `out` is NULL or writable; `err` is NULL or
/// writable.
#[no_mangle]
pub unsafe extern "C" fn gowarm_engine_new_from_toml(
    toml: *const c_char,
    out: *mut *mut gowarm_engine,
    err: *mut *mut c_char,
) -> i32 {
    new_engine(out, err, || {
        let text = str_arg(toml, "toml")?;
        Ok(Config::from_toml(text, "(TOML text)")?)
    })
}

/// Creates an engine from a configuration file, as the CLI's `--config` does (then applies
/// `GOWARM_*` environment overrides).
///
/// Ownership and errors as for `gowarm_engine_new_from_toml`.
///
/// # Safety
/// `path` is NULL or a NUL-terminated string; `out` is NULL or writable; `err` is NULL or
/// writable.
#[no_mangle]
pub unsafe extern "C" fn gowarm_engine_new_from_file(
    path: *const c_char,
    out: *mut *mut gowarm_engine,
    err: *mut *mut c_char,
) -> i32 {
    new_engine(out, err, || {
        let path = path_arg(path, "path")?;
        Ok(Config::load(Some(path))?.0)
    })
}

/// The common part of the constructors: argument checks, panics, `*out` and `*err`.
unsafe fn new_engine(
    out: *mut *mut gowarm_engine,
    err: *mut *mut c_char,
    config: impl FnOnce() -> Result<Config, CallError>,
) -> i32 {
    if !err.is_null() {
        *err = std::ptr::null_mut();
    }
    if out.is_null() {
        put_string(err, "out is NULL".to_string());
        return gowarm_status::GOWARM_INVALID_ARGUMENT as i32;
    }
    *out = std::ptr::null_mut();
    let made = guard(|| {
        let engine = Engine::new(config()?)?;
        Ok(Box::new(gowarm_engine { engine }))
    });
    match made {
        Ok(handle) => {
            *out = Box::into_raw(handle);
            gowarm_status::GOWARM_OK as i32
        }
        Err(e) => {
            put_string(err, e.message);
            e.status as i32
        }
    }
}

/// Frees an engine. NULL is ignored. No call may be using the handle, and none may use
/// it afterwards.
///
/// # Safety
/// `engine` is NULL or a handle from a `gowarm_engine_new_*` function, not yet freed.
#[no_mangle]
pub unsafe extern "C" fn gowarm_engine_free(engine: *mut gowarm_engine) {
    if engine.is_null() {
        return;
    }
    let handle = Box::from_raw(engine);
    // Dropping shuts the engine's runtime down; a panic there must not unwind into C.
    let _ = std::panic::catch_unwind(std::panic::AssertUnwindSafe(move || drop(handle)));
}

/// Detects what is cold for the Go module in `module_dir` and which source would supply
/// it. Stores the Plan as JSON in `*report_json` (free it with `gowarm_string_free`).
///
/// Returns `GOWARM_OK` when everything required is warm, `GOWARM_COLD` when something is
/// cold, or an error status with `{"error": "..."}` in `*report_json`.
///
/// # Safety
/// `engine` is NULL or a live handle; `module_dir` is NULL or a NUL-terminated string;
/// `report_json` is NULL or writable (when NULL, nothing is done and
/// `GOWARM_INVALID_ARGUMENT` is returned).
#[no_mangle]
pub unsafe extern "C" fn gowarm_detect(
    engine: *const gowarm_engine,
    module_dir: *const c_char,
    report_json: *mut *mut c_char,
) -> i32 {
    call::with_json(report_json, || {
        let engine = engine_arg(engine)?;
        let dir = path_arg(module_dir, "module_dir")?;
        let plan = engine.detect(dir)?;
        let json = serde_json::to_string(&plan)
            .map_err(|e| CallError::error(format!("encoding the Plan as JSON: {e}")))?;
        let status = if plan.is_warm() {
            gowarm_status::GOWARM_OK
        } else {
            gowarm_status::GOWARM_COLD
        };
        Ok((status, json))
    })
}

/// Warms the caches for the Go module in `module_dir` from the configured sources. Stores
/// the Report as JSON in `*report_json` (free it with `gowarm_string_free`).
///
/// Returns `GOWARM_OK`, `GOWARM_INCOMPLETE` or `GOWARM_PROFILE_MISMATCH` (the Report's
/// `outcome`), or an error status with `{"error": "..."}` in `*report_json`.
///
/// # Safety
/// As for `gowarm_detect`.
#[no_mangle]
pub unsafe extern "C" fn gowarm_warm_module(
    engine: *const gowarm_engine,
    module_dir: *const c_char,
    report_json: *mut *mut c_char,
) -> i32 {
    call::with_json(report_json, || {
        let engine = engine_arg(engine)?;
        let dir = path_arg(module_dir, "module_dir")?;
        warm(engine, dir, None)
    })
}

/// `gowarm_warm_module` that also reports progress through `callback` (see
/// `gowarm_progress_fn` for when and from which threads it is called). `user_data` is
/// passed to it unchanged and may be NULL; `callback` may not.
///
/// # Safety
/// As for `gowarm_detect`; `callback` is NULL or a function of the declared type that may
/// be called from any thread with `user_data` until this call returns.
#[no_mangle]
pub unsafe extern "C" fn gowarm_warm_module_with_progress(
    engine: *const gowarm_engine,
    module_dir: *const c_char,
    callback: gowarm_progress_fn,
    user_data: *mut c_void,
    report_json: *mut *mut c_char,
) -> i32 {
    call::with_json(report_json, || {
        let engine = engine_arg(engine)?;
        let dir = path_arg(module_dir, "module_dir")?;
        let callback = callback.ok_or_else(|| CallError::invalid("callback is NULL"))?;
        let progress = progress::CallbackProgress::new(callback, user_data);
        warm(engine, dir, Some(Arc::new(progress)))
    })
}

fn warm(
    engine: &Engine,
    dir: &Path,
    progress: Option<Arc<dyn gowarm::Progress>>,
) -> Result<(gowarm_status, String), CallError> {
    let (_plan, report) = engine.warm(dir, progress)?;
    Ok((report.outcome.into(), report.to_json()))
}

/// The general warm: warms the Go module in `module_dir`, or, when `module_dir` is NULL,
/// the warm sets `options->sets` names (modules and build-cache entries, no program).
/// `options` may be NULL (defaults). Stores the Report as JSON in `*report_json`.
///
/// Returns the Report's outcome as for `gowarm_warm_module`, `GOWARM_STOPPED` when
/// `options->cancel` was triggered or `options->timeout_ms` passed (what was installed is
/// whole), or an error status with `{"error": "..."}`.
///
/// # Safety
/// As for `gowarm_detect`; `options` is NULL or points to an initialised
/// `gowarm_warm_options` whose pointers are NULL or valid until this call returns.
#[no_mangle]
pub unsafe extern "C" fn gowarm_warm(
    engine: *const gowarm_engine,
    module_dir: *const c_char,
    options: *const gowarm_warm_options,
    report_json: *mut *mut c_char,
) -> i32 {
    call::with_json(report_json, || {
        let engine = engine_arg(engine)?;
        let ctl = options::control(options)?;
        let dir = if module_dir.is_null() {
            if matches!(ctl.choice, gowarm::SetChoice::Auto) {
                return Err(CallError::invalid(
                    "module_dir is NULL and options->sets names no warm set",
                ));
            }
            None
        } else {
            Some(path_arg(module_dir, "module_dir")?)
        };
        let (_plan, report) = engine.warm_controlled(dir, &ctl)?;
        Ok((report.outcome.into(), report.to_json()))
    })
}

/// Checks `rev` of the Git repository `url` out (into the `[git]` cache, at a path stable
/// per repository and commit; a fetch when the repository is cached) and warms the module
/// in `subdir` of it (NULL: the repository root). Stores `{"checkout": …, "report": …}`
/// as JSON in `*report_json`; the job builds in `checkout.dir`.
///
/// Returns as `gowarm_warm`; a revision that does not exist, a remote that does not answer
/// within `[git] timeout_secs` or a checkout without go.mod is `GOWARM_ERROR`.
///
/// # Safety
/// As for `gowarm_warm`; `url` and `rev` are NUL-terminated strings, `subdir` is NULL or one.
#[no_mangle]
pub unsafe extern "C" fn gowarm_warm_git(
    engine: *const gowarm_engine,
    url: *const c_char,
    rev: *const c_char,
    subdir: *const c_char,
    options: *const gowarm_warm_options,
    report_json: *mut *mut c_char,
) -> i32 {
    call::with_json(report_json, || {
        let engine = engine_arg(engine)?;
        let ctl = options::control(options)?;
        let mut req = gowarm::git::GitRequest::new(str_arg(url, "url")?, str_arg(rev, "rev")?);
        if !subdir.is_null() {
            req = req.with_subdir(str_arg(subdir, "subdir")?);
        }
        let (checkout, _plan, report) = engine.warm_git(&req, &ctl)?;
        let json = serde_json::to_string(&serde_json::json!({
            "checkout": checkout,
            "report": report,
        }))
        .map_err(|e| CallError::error(format!("encoding the Report as JSON: {e}")))?;
        Ok((report.outcome.into(), json))
    })
}

/// A new cancellation handle (free it with `gowarm_cancel_free`). Never NULL.
#[no_mangle]
pub extern "C" fn gowarm_cancel_new() -> *mut gowarm_cancel {
    Box::into_raw(Box::new(gowarm_cancel {
        cancel: gowarm::Cancel::new(),
    }))
}

/// Triggers `cancel`: calls using it stop as soon as they can (items not started are
/// skipped; installs under way finish) and return `GOWARM_STOPPED`. Safe from any thread,
/// any number of times. Returns `GOWARM_INVALID_ARGUMENT` for NULL.
///
/// # Safety
/// `cancel` is NULL or a live handle from `gowarm_cancel_new`.
#[no_mangle]
pub unsafe extern "C" fn gowarm_cancel_trigger(cancel: *const gowarm_cancel) -> i32 {
    match cancel.as_ref() {
        Some(c) => {
            c.cancel.cancel();
            gowarm_status::GOWARM_OK as i32
        }
        None => gowarm_status::GOWARM_INVALID_ARGUMENT as i32,
    }
}

/// Frees a cancellation handle. NULL is ignored. Calls that were passed it must have
/// returned.
///
/// # Safety
/// `cancel` is NULL or a handle from `gowarm_cancel_new`, not yet freed.
#[no_mangle]
pub unsafe extern "C" fn gowarm_cancel_free(cancel: *mut gowarm_cancel) {
    if !cancel.is_null() {
        drop(Box::from_raw(cancel));
    }
}

/// Installs `callback` as the receiver of gowarm's log messages (a process-wide `tracing`
/// subscriber). Only one can ever be installed: a second call returns
/// `GOWARM_ALREADY_SET`, as does a call after the host installed another subscriber.
///
/// Messages at `GOWARM_LOG_INFO` and above from gowarm and `GOWARM_LOG_WARN` and above
/// from its libraries are passed, unless the `GOWARM_LOG` environment variable holds a
/// `tracing` filter (e.g. `gowarm=debug`). See `gowarm_log_fn` for the callback contract.
///
/// # Safety
/// `callback` is NULL or a function of the declared type that may be called from any
/// thread, at any time for the rest of the process, with `user_data`.
#[no_mangle]
pub unsafe extern "C" fn gowarm_set_log_callback(
    callback: gowarm_log_fn,
    user_data: *mut c_void,
) -> i32 {
    let Some(callback) = callback else {
        return gowarm_status::GOWARM_INVALID_ARGUMENT as i32;
    };
    match guard(|| log::install(callback, user_data)) {
        Ok(()) => gowarm_status::GOWARM_OK as i32,
        Err(e) => e.status as i32,
    }
}

/// Frees a string gowarm returned (`report_json`, `err`). NULL is ignored.
///
/// # Safety
/// `s` is NULL or a string gowarm returned, not yet freed.
#[no_mangle]
pub unsafe extern "C" fn gowarm_string_free(s: *mut c_char) {
    if !s.is_null() {
        drop(std::ffi::CString::from_raw(s));
    }
}

/// The library's version, e.g. `"0.1.0"`: a static string the caller must not free.
#[no_mangle]
pub extern "C" fn gowarm_version() -> *const c_char {
    concat!(env!("CARGO_PKG_VERSION"), "\0").as_ptr().cast()
}
