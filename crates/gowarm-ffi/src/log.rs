//! The log callback: a process-wide `tracing` subscriber forwarding formatted events.

use std::ffi::{c_char, c_void};
use std::fmt::Write as _;

use tracing::field::{Field, Visit};
use tracing::{Event, Level, Subscriber};
use tracing_subscriber::layer::{Context, SubscriberExt};
use tracing_subscriber::util::SubscriberInitExt;
use tracing_subscriber::{EnvFilter, Layer};

use crate::call::{c_string, CallError};
use crate::gowarm_log_level;
use crate::gowarm_status;
use crate::progress::UserData;

/// Log callback: `(user_data, level, message)`.
///
/// `level` is a `gowarm_log_level`; `message` is `"<target>: <text> key=value ..."`,
/// valid only during the call (copy it to keep it). It is called from any thread,
/// possibly several at once, for the rest of the process. It must not call gowarm.
pub type gowarm_log_fn =
    Option<unsafe extern "C" fn(user_data: *mut c_void, level: i32, message: *const c_char)>;

/// Environment variable holding a `tracing` filter for the log callback.
const FILTER_VAR: &str = "GOWARM_LOG";

/// What is forwarded without `GOWARM_LOG`: gowarm's progress notes, libraries' warnings.
const DEFAULT_FILTER: &str = "warn,gowarm=info,gowarm_gomod=info,gowarm_gocache=info";

/// Installs the global subscriber, or says why not.
pub(crate) fn install(
    callback: unsafe extern "C" fn(*mut c_void, i32, *const c_char),
    user_data: *mut c_void,
) -> Result<(), CallError> {
    let (filter, bad_filter) = match std::env::var(FILTER_VAR) {
        Ok(text) if !text.trim().is_empty() => match EnvFilter::try_new(&text) {
            Ok(f) => (f, None),
            Err(e) => (
                EnvFilter::new(DEFAULT_FILTER),
                Some(format!("{text:?}: {e}")),
            ),
        },
        _ => (EnvFilter::new(DEFAULT_FILTER), None),
    };
    let layer = CallbackLayer {
        callback,
        user_data: UserData(user_data),
    };
    tracing_subscriber::registry()
        .with(layer.with_filter(filter))
        .try_init()
        .map_err(|e| CallError {
            status: gowarm_status::GOWARM_ALREADY_SET,
            message: e.to_string(),
        })?;
    if let Some(why) = bad_filter {
        // The callback is the only channel to the caller; an unusable filter should not
        // silence logging, so it falls back to the default and says so there.
        tracing::warn!("{FILTER_VAR} ignored, using {DEFAULT_FILTER:?}: {why}");
    }
    Ok(())
}

/// A [`Layer`] calling the C log callback.
struct CallbackLayer {
    callback: unsafe extern "C" fn(*mut c_void, i32, *const c_char),
    user_data: UserData,
}

impl<S: Subscriber> Layer<S> for CallbackLayer {
    fn on_event(&self, event: &Event<'_>, _ctx: Context<'_, S>) {
        let meta = event.metadata();
        let mut text = Text::default();
        event.record(&mut text);
        let message = c_string(format!(
            "{}: {}{}",
            meta.target(),
            text.message,
            text.fields
        ));
        let level = match *meta.level() {
            Level::ERROR => gowarm_log_level::GOWARM_LOG_ERROR,
            Level::WARN => gowarm_log_level::GOWARM_LOG_WARN,
            Level::INFO => gowarm_log_level::GOWARM_LOG_INFO,
            Level::DEBUG => gowarm_log_level::GOWARM_LOG_DEBUG,
            Level::TRACE => gowarm_log_level::GOWARM_LOG_TRACE,
        };
        // SAFETY: the caller installed a callback valid for the rest of the process and
        // callable from any thread (documented on gowarm_log_fn).
        unsafe { (self.callback)(self.user_data.0, level as i32, message.as_ptr()) };
    }
}

/// An event's `message` field and its other fields as ` key=value`.
#[derive(Default)]
struct Text {
    message: String,
    fields: String,
}

impl Visit for Text {
    fn record_str(&mut self, field: &Field, value: &str) {
        if field.name() == "message" {
            self.message.push_str(value);
        } else {
            let _ = write!(self.fields, " {}={}", field.name(), value);
        }
    }

    fn record_debug(&mut self, field: &Field, value: &dyn std::fmt::Debug) {
        if field.name() == "message" {
            let _ = write!(self.message, "{value:?}");
        } else {
            let _ = write!(self.fields, " {}={:?}", field.name(), value);
        }
    }
}
