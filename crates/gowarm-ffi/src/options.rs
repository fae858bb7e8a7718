//! Per-call options of the general warm calls, and the cancellation handle.

use std::ffi::{c_char, c_void};
use std::sync::Arc;
use std::time::{Duration, Instant};

use gowarm::{Cancel, SetChoice, WarmControl};

use crate::call::{str_arg, CallError};
use crate::progress::{gowarm_progress_fn, CallbackProgress};

/// A cancellation handle: trigger it from any thread to stop the calls it was passed to.
/// Opaque to C; create with `gowarm_cancel_new`, free with `gowarm_cancel_free` after the
/// calls using it have returned.
pub struct gowarm_cancel {
    pub(crate) cancel: Cancel,
}

/// Options of `gowarm_warm` and `gowarm_warm_git`. Zero-initialise it (`= {0}`) for the
/// defaults; every field is optional.
#[repr(C)]
pub struct gowarm_warm_options {
    /// Comma-separated warm set names whose build-cache entries to take (`"aws,gcp"`);
    /// NULL: the sets chosen from the program's go.mod.
    pub sets: *const c_char,
    /// Stop the call this many milliseconds after it starts (0: no deadline).
    pub timeout_ms: u64,
    /// Stop the call when this handle is triggered (NULL: none).
    pub cancel: *const gowarm_cancel,
    /// Progress callback (NULL: none); see `gowarm_progress_fn`.
    pub progress: gowarm_progress_fn,
    /// Passed to `progress` unchanged.
    pub progress_user_data: *mut c_void,
}

/// The engine's WarmControl for `opts` (NULL: defaults), with the deadline counted from now.
pub(crate) unsafe fn control(opts: *const gowarm_warm_options) -> Result<WarmControl, CallError> {
    let Some(o) = opts.as_ref() else {
        return Ok(WarmControl::default());
    };
    let choice = if o.sets.is_null() {
        SetChoice::Auto
    } else {
        let names: Vec<String> = str_arg(o.sets, "options.sets")?
            .split(',')
            .map(|s| s.trim().to_string())
            .filter(|s| !s.is_empty())
            .collect();
        if names.is_empty() {
            return Err(CallError::invalid(
                "options.sets names no warm set; pass NULL to choose them from go.mod",
            ));
        }
        SetChoice::Named(names)
    };
    let deadline = (o.timeout_ms > 0).then(|| Instant::now() + Duration::from_millis(o.timeout_ms));
    let cancel = match (o.cancel.as_ref(), deadline) {
        (Some(c), d) => c.cancel.child(d),
        (None, Some(d)) => Cancel::with_deadline(d),
        (None, None) => Cancel::new(),
    };
    let progress = o.progress.map(|cb| {
        Arc::new(CallbackProgress::new(cb, o.progress_user_data)) as Arc<dyn gowarm::Progress>
    });
    Ok(WarmControl {
        choice,
        progress,
        cancel,
    })
}
