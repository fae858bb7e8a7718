//! The progress callback: `gowarm::Progress` forwarded to a C function pointer.

use std::ffi::c_void;
use std::sync::Mutex;

use gowarm::{Phase, Progress};

use crate::gowarm_phase;

/// Progress callback: `(user_data, phase, done, total, bytes)`.
///
/// `phase` is a `gowarm_phase`; `done` items of `total` are finished, with `bytes` bytes
/// installed so far in that phase. For each phase it is called once when the phase begins
/// (`done` = 0), once per finished item, and once when the phase ends. Both phases run at
/// the same time. It is called from the engine's worker threads, never two calls at once,
/// and for one phase `done` and `bytes` never decrease. It is never called after the warm
/// call returns. It must return quickly (workers wait for it) and must not call gowarm.
pub type gowarm_progress_fn = Option<
    unsafe extern "C" fn(user_data: *mut c_void, phase: i32, done: u64, total: u64, bytes: u64),
>;

/// The caller's opaque `user_data` pointer.
#[derive(Clone, Copy)]
pub(crate) struct UserData(pub(crate) *mut c_void);

// SAFETY: gowarm never dereferences the pointer; it only hands it back to the caller's
// callback. The header documents that the callback (and so its user_data) is used from
// several threads, which is the caller's promise these impls rely on.
unsafe impl Send for UserData {}
// SAFETY: as for Send: shared references only copy the pointer out.
unsafe impl Sync for UserData {}

/// Per-phase running totals.
#[derive(Default, Clone, Copy)]
struct Counts {
    done: u64,
    total: u64,
    bytes: u64,
}

/// A [`Progress`] calling a C callback.
pub(crate) struct CallbackProgress {
    callback: unsafe extern "C" fn(*mut c_void, i32, u64, u64, u64),
    user_data: UserData,
    /// Indexed by `gowarm_phase`. A mutex rather than atomics, held across the call, so
    /// calls never overlap and never report totals out of order: C callers rarely want
    /// to write lock-free code.
    counts: Mutex<[Counts; 2]>,
}

impl CallbackProgress {
    /// Forwards to `callback` with `user_data`.
    pub(crate) fn new(
        callback: unsafe extern "C" fn(*mut c_void, i32, u64, u64, u64),
        user_data: *mut c_void,
    ) -> CallbackProgress {
        CallbackProgress {
            callback,
            user_data: UserData(user_data),
            counts: Mutex::new([Counts::default(); 2]),
        }
    }

    fn update(&self, phase: Phase, f: impl FnOnce(&mut Counts)) {
        let code = match phase {
            Phase::Modules => gowarm_phase::GOWARM_PHASE_MODULES,
            Phase::Entries => gowarm_phase::GOWARM_PHASE_ENTRIES,
        };
        // The callback cannot panic (it is C), so the lock is never poisoned by it; take
        // the data anyway rather than panic inside a worker.
        let mut counts = self.counts.lock().unwrap_or_else(|p| p.into_inner());
        let c = &mut counts[code as usize];
        f(c);
        let c = *c;
        // SAFETY: the caller passed a callback valid for the duration of the warm call,
        // callable from any thread (documented on gowarm_progress_fn).
        unsafe { (self.callback)(self.user_data.0, code as i32, c.done, c.total, c.bytes) };
    }
}

impl Progress for CallbackProgress {
    fn begin(&self, phase: Phase, items: u64, _bytes: u64) {
        self.update(phase, |c| {
            *c = Counts {
                done: 0,
                total: items,
                bytes: 0,
            }
        });
    }

    fn advance(&self, phase: Phase, bytes: u64) {
        self.update(phase, |c| {
            c.done += 1;
            c.bytes += bytes;
        });
    }

    fn end(&self, phase: Phase) {
        self.update(phase, |_| {});
    }
}
