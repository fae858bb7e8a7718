//! Test support for the C ABI: the embedded example served from a local GOPROXY, isolated
//! Go caches, the configuration TOML pointing at both, and small wrappers over the ABI.

#![allow(dead_code)] // each test binary uses a different part

use std::ffi::{c_char, CStr, CString};
use std::path::PathBuf;
use std::process::Command;

use gowarm_ffi::{
    gowarm_engine, gowarm_engine_free, gowarm_engine_new_from_toml, gowarm_string_free,
};
use gowarm_testkit::{copy_example_program, example_proxy, go_binary, GoEnv, ProxyDir, TempGoDirs};

/// A cold pod: fresh caches, the example program, and a proxy serving its modules.
pub struct Example {
    /// Holds the proxy and the program.
    pub root: tempfile::TempDir,
    /// The example modules, served over file://.
    pub proxy: ProxyDir,
    /// GOPATH/GOMODCACHE/GOCACHE, empty.
    pub dirs: TempGoDirs,
    /// The example program's module directory.
    pub program: PathBuf,
}

impl Example {
    /// Builds the proxy and copies the program; the caches start empty.
    pub fn new() -> Example {
        let root = tempfile::tempdir().expect("tempdir");
        let mut proxy = ProxyDir::new(root.path().join("proxy")).expect("proxy");
        example_proxy(&mut proxy).expect("example proxy");
        let program = root.path().join("program");
        copy_example_program(&program).expect("copy program");
        let dirs = TempGoDirs::new().expect("go dirs");
        Example {
            root,
            proxy,
            dirs,
            program,
        }
    }

    /// gowarm.toml for this pod: the test's Go, its isolated environment, the proxy.
    pub fn toml(&self) -> String {
        config_toml(
            &self.dirs,
            &format!("kind = \"goproxy\"\nurl = {}", quote(&self.proxy.url())),
        )
    }

    /// The program directory as a C string.
    pub fn program_c(&self) -> CString {
        CString::new(self.program.display().to_string()).expect("no NUL in path")
    }
}

/// A TOML basic string: JSON's string escapes are a subset of TOML's.
pub fn quote(s: &str) -> String {
    serde_json::to_string(s).expect("a string encodes")
}

/// gowarm.toml whose `go` commands see exactly the isolated environment of `dirs`, with one
/// `[[source]]` whose body (keys) is `source`.
pub fn config_toml(dirs: &gowarm_testkit::GoDirs, source: &str) -> String {
    let env: Vec<String> = GoEnv::new(dirs)
        .vars()
        .into_iter()
        .map(|(k, v)| format!("{} = {}", quote(&k), quote(&v)))
        .collect();
    format!(
        "[go]\nbinary = {}\nenv = {{ {} }}\n\n[[source]]\n{source}\n",
        quote(&go_binary().display().to_string()),
        env.join(", "),
    )
}

/// Runs `call` on eight threads at once and returns what each returned.
#[allow(dead_code)] // used by some of the test binaries that share this module
pub fn on_eight_threads<T: Send>(call: impl Fn() -> T + Sync) -> Vec<T> {
    std::thread::scope(|s| {
        let workers: Vec<_> = (0..8).map(|_| s.spawn(&call)).collect();
        workers
            .into_iter()
            .map(|w| w.join().expect("worker did not panic"))
            .collect()
    })
}

/// An engine handle that is freed on drop.
pub struct Handle(pub *mut gowarm_engine);

// SAFETY: the ABI promises a handle may be used from many threads at once; these tests
// check that promise.
unsafe impl Send for Handle {}
unsafe impl Sync for Handle {}

impl Handle {
    /// An engine from `toml`, panicking with the error message on failure.
    pub fn from_toml(toml: &str) -> Handle {
        let text = CString::new(toml).expect("no NUL");
        let mut out = std::ptr::null_mut();
        let mut err = std::ptr::null_mut();
        let status = unsafe { gowarm_engine_new_from_toml(text.as_ptr(), &mut out, &mut err) };
        let msg = unsafe { take(err) };
        assert_eq!(status, 0, "engine: {msg:?}");
        assert!(!out.is_null());
        Handle(out)
    }
}

impl Handle {
    /// The raw handle. A method, not `.0`, so closures capture the whole `Handle` (which is
    /// Sync) rather than the raw pointer field (which is not).
    pub fn ptr(&self) -> *mut gowarm_engine {
        self.0
    }
}

impl Drop for Handle {
    fn drop(&mut self) {
        unsafe { gowarm_engine_free(self.0) };
    }
}

/// Copies and frees a string gowarm returned; None for NULL.
pub unsafe fn take(s: *mut c_char) -> Option<String> {
    if s.is_null() {
        return None;
    }
    let text = CStr::from_ptr(s).to_string_lossy().into_owned();
    gowarm_string_free(s);
    Some(text)
}

/// Parses JSON that gowarm returned.
pub fn json(s: &str) -> serde_json::Value {
    serde_json::from_str(s).unwrap_or_else(|e| panic!("not JSON ({e}): {s}"))
}

/// The staticlib C and cgo link against.
///
/// `cargo test` builds this crate's library with all its crate types, so a current
/// `libgowarm_ffi.a` sits beside the test executable in `target/<profile>/deps/`. That layout is
/// cargo's, not a promise, hence the fallback to a nested `cargo build`. The nested build
/// is not the first choice: it resolves features without dev-dependencies, so it and
/// `cargo test` rebuild this crate for each other every run (about a minute on 2 cores).
pub fn staticlib() -> PathBuf {
    let exe = std::env::current_exe().expect("test executable path");
    if let Some(lib) = exe.parent().map(|deps| deps.join("libgowarm_ffi.a")) {
        if lib.is_file() {
            return lib;
        }
    }
    let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
    let out = Command::new(cargo)
        .args(["build", "-p", "gowarm-ffi", "--lib"])
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .output()
        .expect("run cargo build");
    assert!(
        out.status.success(),
        "cargo build -p gowarm-ffi failed:\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let lib = gowarm_testkit::target_dir().join("debug/libgowarm_ffi.a");
    assert!(
        lib.is_file(),
        "{} is missing after cargo build",
        lib.display()
    );
    lib
}
