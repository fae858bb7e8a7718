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
    aws_program_imports, go_build, tidy, warm_set, warm_set_programs, write_program,
    write_warm_set_programs, BuildRun, WarmSetProgram, WarmSetPrograms, WrittenWarmSet,
    AWS_SERVICE_IMPORTS, AWS_SMALL_SERVICE_IMPORTS, GODO_IMPORT, GOOGLE_API_IMPORTS,
    PROGRAM_GO_VERSION, WARM_SETS,
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

/// The team's `shared/realworld/` folder: real go.mod/go.sum files used as test input.
/// It lies beside the checkout (`<checkout>/../shared`, as CI lays it out), or where
/// `GOWARM_SHARED` points; missing, the test fails with this fix rather than skipping.
pub fn realworld_file(name: &str) -> PathBuf {
    let shared = std::env::var_os("GOWARM_SHARED")
        .map(PathBuf::from)
        .unwrap_or_else(|| workspace_root().join("../shared"));
    let path = shared.join("realworld").join(name);
    assert!(
        path.is_file(),
        "{} is missing: put the team's shared/ folder beside the checkout or set GOWARM_SHARED",
        path.display()
    );
    path
}

/// Removes `dir` (read-only module trees included) when the test process exits. For the
/// temporary roots of fixtures kept in `static`s, which are never dropped: without this a
/// suite run leaves gigabytes in /tmp.
pub fn remove_at_exit(dir: &Path) {
    static DIRS: std::sync::Mutex<Vec<PathBuf>> = std::sync::Mutex::new(Vec::new());
    static REGISTER: std::sync::Once = std::sync::Once::new();
    extern "C" fn remove_all() {
        let dirs = match DIRS.lock() {
            Ok(mut d) => std::mem::take(&mut *d),
            Err(_) => return,
        };
        for d in dirs {
            if d.exists() {
                make_tree_writable(&d);
                let _ = std::fs::remove_dir_all(&d);
            }
        }
    }
    if let Ok(mut d) = DIRS.lock() {
        d.push(dir.to_path_buf());
    }
    // SAFETY: registers a function without arguments once; it runs at process exit, after
    // the test threads have finished.
    REGISTER.call_once(|| unsafe {
        libc::atexit(remove_all);
    });
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
