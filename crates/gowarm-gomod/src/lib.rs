//! Go module facts: go.mod and go.sum parsing, module path escaping, `h1:` hashing,
//! module zips, and reading and atomically installing into a Go module cache.
//!
//! Everything here mirrors a rule of the Go toolchain (cmd/go/internal/modfetch and
//! golang.org/x/mod); each module names the Go source it follows.

#![warn(missing_docs)]

pub mod dirhash;
pub mod escape;
pub mod gomod;
pub mod gosum;
pub mod modcache;
pub mod modpath;
pub mod modzip;
pub mod semver;
pub mod version;

pub use modcache::{InstallError, InstallStats, ModCache, ModuleState, TreeState};
pub use version::ModuleVersion;

#[cfg(test)]
mod testutil;
