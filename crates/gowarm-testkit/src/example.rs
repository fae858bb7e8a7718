//! The small hand-written example under `testdata/example/`: three modules and a program.
//!
//! `modules/<path>@<version>/` hold the module trees; `program/` is a main module whose
//! committed go.sum matches what [`example_proxy`] serves (h1 hashes depend only on file
//! names and contents, so they are stable).

use std::fs;
use std::path::{Path, PathBuf};

use gowarm_gomod::ModuleVersion;

use crate::error::{Result, TestkitError};
use crate::proxy::{link_tree, ModuleHashes, Placement, ProxyDir};

/// The example modules: a leaf, one with an upper-case path (escaped `!big!co`) depending on
/// the leaf, and one at an upper-case pre-release version (escaped `v0.3.0-!r!c.1`).
pub const EXAMPLE_MODULES: [(&str, &str); 3] = [
    ("example.com/greet", "v1.1.0"),
    ("example.com/BigCo/widgets", "v1.2.0"),
    ("example.com/tools/textutil", "v0.3.0-RC.1"),
];

/// Module path of the example program.
pub const EXAMPLE_PROGRAM_MODULE: &str = "example.com/program";

/// `<workspace>/testdata/example`.
pub fn example_dir() -> PathBuf {
    crate::workspace_root().join("testdata/example")
}

/// `<workspace>/testdata/example/program` (go.mod, go.sum, main.go). Copy it before
/// building with [`copy_example_program`] if the test may write to it.
pub fn example_program_dir() -> PathBuf {
    example_dir().join("program")
}

/// The example modules as [`ModuleVersion`]s.
pub fn example_modules() -> Vec<ModuleVersion> {
    EXAMPLE_MODULES
        .iter()
        .map(|(p, v)| ModuleVersion::new(*p, *v))
        .collect()
}

/// The source tree of one example module.
pub fn example_module_dir(m: &ModuleVersion) -> PathBuf {
    example_dir()
        .join("modules")
        .join(format!("{}@{}", m.path, m.version))
}

/// Serves the example modules from `proxy`, returning each with its hashes.
pub fn example_proxy(proxy: &mut ProxyDir) -> Result<Vec<(ModuleVersion, ModuleHashes)>> {
    let mut out = Vec::new();
    for m in example_modules() {
        let dir = example_module_dir(&m);
        if !dir.is_dir() {
            return Err(TestkitError::BadData {
                path: dir,
                message: "example module directory is missing".into(),
            });
        }
        let hashes = proxy.add_module(&m.path, &m.version, &dir, None)?;
        out.push((m, hashes));
    }
    Ok(out)
}

/// Copies the example program into `dst` (created if missing).
pub fn copy_example_program(dst: &Path) -> Result<()> {
    fs::create_dir_all(dst).map_err(TestkitError::io("create directory", dst))?;
    // Hard links would let a test that edits go.mod edit the committed file: copy.
    let src = example_program_dir();
    for name in ["go.mod", "go.sum", "main.go"] {
        let (from, to) = (src.join(name), dst.join(name));
        fs::copy(&from, &to).map_err(TestkitError::io("copy", &from))?;
    }
    Ok(())
}

/// Copies one example module's tree into `dst` (e.g. to build a module cache by hand).
pub fn copy_example_module(m: &ModuleVersion, dst: &Path) -> Result<()> {
    fs::create_dir_all(dst).map_err(TestkitError::io("create directory", dst))?;
    link_tree(&example_module_dir(m), dst, false, Placement::Copy)
}
