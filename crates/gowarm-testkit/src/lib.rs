//! Shared test support for gowarm's crates: the pinned Go toolchain, `go` commands isolated
//! from the developer's environment, file:// GOPROXY trees, the Debian SDK corpus, and the
//! small example modules under `testdata/example/`.
//!
//! Tests that need Go call [`go_binary`], which panics with instructions when no toolchain
//! is installed: such tests fail, they never skip.

#![warn(missing_docs)]

use std::path::{Path, PathBuf};

mod corpus;
mod error;
mod example;
mod go;
mod program;
mod proxy;

pub use corpus::{cached_corpus, debian_corpus, debian_corpus_packages, Corpus, DEBIAN_GOCODE};
pub use error::{Result, TestkitError};
pub use example::{
    copy_example_module, copy_example_program, example_dir, example_module_dir, example_modules,
    example_program_dir, example_proxy, EXAMPLE_MODULES, EXAMPLE_PROGRAM_MODULE,
};
pub use go::{
    count_compiles, go_binary, go_command, go_version, make_tree_writable, run, GoDirs, GoEnv,
    TempGoDirs, GOWARM_GO,
};
pub use gowarm_gomod::ModuleVersion;
pub use program::{
    aws_program_imports, go_build, tidy, write_program, BuildRun, AWS_SERVICE_IMPORTS,
    AWS_SMALL_SERVICE_IMPORTS, GODO_IMPORT, PROGRAM_GO_VERSION,
};
pub use proxy::{ModuleHashes, ProxyDir};

/// The workspace root (the directory holding the workspace Cargo.toml).
pub fn workspace_root() -> PathBuf {
    let manifest = Path::new(env!("CARGO_MANIFEST_DIR"));
    manifest
        .parent()
        .and_then(Path::parent)
        .unwrap_or(manifest)
        .to_path_buf()
}

/// Cargo's target directory: `$CARGO_TARGET_DIR` if set, else `<workspace>/target`.
pub fn target_dir() -> PathBuf {
    match std::env::var_os("CARGO_TARGET_DIR") {
        Some(dir) => {
            let dir = PathBuf::from(dir);
            if dir.is_absolute() {
                dir
            } else {
                workspace_root().join(dir)
            }
        }
        None => workspace_root().join("target"),
    }
}
