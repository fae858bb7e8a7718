//! Go build-cache facts: the GOCACHE layout, the action-entry format, and reading, writing,
//! touching and copying entries the way `go` itself does (cmd/go/internal/cache, go1.25).
//!
//! ```
//! use gowarm_gocache::{ActionEntry, BuildCache, EntryState, Id};
//!
//! let dir = tempfile::tempdir()?;
//! let cache = BuildCache::open(dir.path().join("go-build"))?;
//! let output_id = cache.put_output(b"package data")?;
//! let action_id = Id([7; 32]);
//! let entry = ActionEntry { output_id, size: 12, time_nanos: 1_700_000_000_000_000_000 };
//! cache.write_action(&action_id, &entry)?;
//! assert_eq!(cache.entry_state(&action_id)?, EntryState::Complete(entry));
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

#![warn(missing_docs)]

mod cache;
pub mod cacheprog;
mod entry;
mod error;
mod id;
pub mod trim;

pub use cache::{BuildCache, CopyOptions, CopyOutcome, EntryState};
pub use entry::{
    format_action_entry, parse_action_entry, parse_action_entry_for, parse_action_record,
    ActionEntry, EntryError, ENTRY_LEN,
};
pub use error::CacheError;
pub use id::{Id, IdError, HASH_SIZE, HEX_SIZE};
