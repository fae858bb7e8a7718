//! `gowarm-cacheprog` under a real `go build` (GOCACHEPROG, go1.24+): the record names
//! exactly the build-cache entries a build reads and writes, the GOCACHE it fills is Go's
//! own layout, and a GOCACHE holding only a program's recorded entries builds that program
//! with 0 compiles.
//!
//! What Go does that the assertions spell out (go1.25.5, src/cmd/go/internal/work):
//! - Every compile also stores a `srcfiles` list (exec.go `cacheSrcFiles`), read only by
//!   `go vet`, `go test` and `go list -compiled`: a cold build records it, a warm
//!   `go build` does not read it.
//! - Every link stores its (usually empty) output text under the main package's action,
//!   `link-stdout` (buildid.go `updateBuildID`), even when everything else hits: a warm
//!   build records exactly one put, the same entry the cold build put.
//! - The package index of a directory outside the module cache (the program itself, and
//!   GOROOT) is keyed by file mtimes and skipped for files under 2 s old (modindex/read.go
//!   `dirHash`): the tests make the program's files old first, so every build indexes the
//!   same way.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::{Mutex, MutexGuard, OnceLock};
use std::time::{Duration, Instant, SystemTime};

use gowarm_gocache::cacheprog::{read_record, Access, Recorded};
use gowarm_gocache::{BuildCache, CopyOptions, EntryState, Id};
use gowarm_testkit::{
    copy_example_program, example_proxy, go_build, BuildRun, GoDirs, GoEnv, ProxyDir,
};

const CACHEPROG: &str = env!("CARGO_BIN_EXE_gowarm-cacheprog");

/// A second program in the example module that uses only part of what the example
/// program does: textutil and a few standard packages (no fmt, no widgets).
const HELLO_MAIN: &str = "package main

import (
\t\"os\"

\t\"example.com/tools/textutil\"
)

func main() { os.Stdout.WriteString(textutil.Reverse(\"olleh\") + \"\\n\") }
";

/// One `go build` with GOCACHEPROG and what it recorded.
struct Recording {
    run: BuildRun,
    record: Vec<Recorded>,
}

impl Recording {
    fn actions(&self) -> BTreeSet<Id> {
        self.record.iter().map(|r| r.action).collect()
    }

    fn of(&self, access: Access) -> impl Iterator<Item = &Recorded> {
        self.record.iter().filter(move |r| r.access == access)
    }
}

/// The example program (A) and a smaller one (B) recorded one after the other into one
/// fresh GOCACHE, as a bake of two targets does.
struct Fixture {
    root: tempfile::TempDir,
    proxy: ProxyDir,
    /// GOPATH, GOMODCACHE and the recorded GOCACHE.
    dirs: GoDirs,
    program: PathBuf,
    hello: PathBuf,
    a: Recording,
    b: Recording,
}

fn fixture() -> &'static Fixture {
    static FIXTURE: OnceLock<Fixture> = OnceLock::new();
    FIXTURE.get_or_init(|| {
        let root = tempfile::tempdir().expect("tempdir");
        gowarm_testkit::remove_at_exit(root.path());
        let mut proxy = ProxyDir::new(root.path().join("proxy")).expect("proxy");
        example_proxy(&mut proxy).expect("example proxy");
        let program = root.path().join("src/program");
        copy_example_program(&program).expect("program");
        let hello = program.join("hello");
        std::fs::create_dir_all(&hello).expect("mkdir");
        std::fs::write(hello.join("main.go"), HELLO_MAIN).expect("write");
        make_old(&program);
        let dirs = GoDirs::under(&root.path().join("rec"));

        let started = Instant::now();
        let a = record(&proxy, &dirs, &program, &root.path().join("a1"));
        eprintln!(
            "cold build of the example program with GOCACHEPROG: {:?}, {} compiles, {} records",
            started.elapsed(),
            a.run.compiles,
            a.record.len()
        );
        let b = record(&proxy, &dirs, &hello, &root.path().join("b1"));
        Fixture {
            root,
            proxy,
            dirs,
            program,
            hello,
            a,
            b,
        }
    })
}

/// The recorded GOCACHE is shared: one test at a time builds with it or copies from it.
fn exclusive() -> MutexGuard<'static, ()> {
    static LOCK: Mutex<()> = Mutex::new(());
    LOCK.lock().unwrap_or_else(|e| e.into_inner())
}

/// Sets every file under `dir` to a minute ago, so Go's package index treats the program
/// the same in every build (it skips files under 2 s old).
fn make_old(dir: &Path) {
    let t = filetime::FileTime::from_system_time(SystemTime::now() - Duration::from_secs(60));
    for e in walkdir::WalkDir::new(dir)
        .into_iter()
        .filter_map(|e| e.ok())
    {
        if e.file_type().is_file() {
            filetime::set_file_times(e.path(), t, t).expect("set mtime");
        }
    }
}

/// One GOCACHEPROG argument as Go's `quoted.Split` reads it.
fn quote(arg: &Path) -> String {
    let s = arg.to_str().expect("UTF-8 path");
    if !s.contains([' ', '\t', '\n', '\'', '"']) {
        return s.to_string();
    }
    assert!(!s.contains('\''), "cannot quote {s} for GOCACHEPROG");
    format!("'{s}'")
}

fn cacheprog_env(proxy: &ProxyDir, dirs: &GoDirs, record: &Path) -> GoEnv {
    let prog = format!(
        "{} --gocache {} --record {}",
        quote(Path::new(CACHEPROG)),
        quote(&dirs.gocache),
        quote(record)
    );
    GoEnv::new(dirs)
        .goproxy(proxy.url())
        .env("GOCACHEPROG", prog)
}

/// `go build -x -o <out>/prog` of `dir` with GOCACHEPROG recording into `<out>.rec`.
fn record(proxy: &ProxyDir, dirs: &GoDirs, dir: &Path, out: &Path) -> Recording {
    let rec = out.with_extension("rec");
    let run = go_build(dir, &cacheprog_env(proxy, dirs, &rec), &out.join("prog")).expect("build");
    let record = read_record(&rec).expect("record");
    Recording { run, record }
}

/// A plain `go build -x` (no GOCACHEPROG) of `dir` with GOCACHE `gocache`, offline.
fn plain_build(f: &Fixture, dir: &Path, gocache: &Path, out: &Path) -> BuildRun {
    let dirs = GoDirs {
        gocache: gocache.to_path_buf(),
        ..f.dirs.clone()
    };
    let env = GoEnv::new(&dirs);
    assert!(env.vars().iter().all(|(k, _)| k != "GOCACHEPROG"));
    go_build(dir, &env, out).expect("plain build")
}

#[test]
fn cold_build_records_every_entry_and_a_plain_build_then_hits_all() {
    let f = fixture();
    let _x = exclusive();
    let a = &f.a;
    assert!(a.run.compiles > 20, "{}", a.run.stderr);
    assert!(!a.record.is_empty());
    assert!(a.of(Access::Put).count() > a.run.compiles, "{:?}", a.record);
    let cache = BuildCache::at(&f.dirs.gocache);
    for r in &a.record {
        match cache.entry_state(&r.action).expect("entry state") {
            EntryState::Complete(e) => {
                assert_eq!((e.output_id, e.size), (r.output, r.size), "{r}");
                assert!(cache.verify_output(&r.output).expect("verify"), "{r}");
            }
            other => panic!("{r}: {other:?}"),
        }
    }

    let started = Instant::now();
    let run = plain_build(
        f,
        &f.program,
        &f.dirs.gocache,
        &f.root.path().join("plain-a"),
    );
    assert_eq!(run.compiles, 0, "{}", run.stderr);
    eprintln!(
        "plain rebuild on the recorded GOCACHE: {:?}",
        started.elapsed()
    );
}

#[test]
fn warm_rebuild_records_hits_and_the_link_output_only_and_repeats_exactly() {
    let f = fixture();
    let _x = exclusive();
    let second = record(&f.proxy, &f.dirs, &f.program, &f.root.path().join("a2"));
    let third = record(&f.proxy, &f.dirs, &f.program, &f.root.path().join("a3"));
    assert_eq!(second.run.compiles, 0, "{}", second.run.stderr);

    // The one put: the link's output text, the very entry the cold build stored.
    let puts: Vec<_> = second.of(Access::Put).collect();
    assert_eq!(puts.len(), 1, "{puts:?}");
    assert!(f.a.of(Access::Put).any(|r| r == puts[0]), "{}", puts[0]);
    assert_eq!(puts[0].size, 0, "the linker printed nothing");

    // Everything the warm build touched was recorded by the cold one...
    let cold = f.a.actions();
    let warm = second.actions();
    assert!(warm.is_subset(&cold), "{:?}", warm.difference(&cold));
    // ...and what it did not read are the srcfiles lists, one per compiled package.
    let unread: BTreeSet<_> =
        f.a.record
            .iter()
            .filter(|r| !warm.contains(&r.action))
            .collect();
    assert_eq!(unread.len(), f.a.run.compiles, "{unread:?}");
    let cache = BuildCache::at(&f.dirs.gocache);
    for r in unread {
        let path = cache
            .output_file(&r.output)
            .expect("output")
            .expect("present");
        let text = std::fs::read_to_string(&path).expect("srcfiles list");
        assert!(
            !text.is_empty() && text.lines().all(|l| l.starts_with("./")),
            "{r} is not a srcfiles list: {text:?}"
        );
    }

    // Repeatable: the same accesses, build after build.
    let set = |r: &Recording| r.record.iter().copied().collect::<BTreeSet<_>>();
    assert_eq!(set(&second), set(&third));
    assert_eq!(
        second.record.len(),
        set(&second).len(),
        "no entry is read twice"
    );
}

#[test]
fn programs_recorded_apart_share_entries_and_each_record_alone_warms_its_program() {
    let f = fixture();
    let _x = exclusive();
    let (a, b) = (f.a.actions(), f.b.actions());

    // B was built after A in the same cache: everything B read, A had stored; what B stored
    // (its own main package) A never touched.
    assert!(f.b.run.compiles >= 1, "{}", f.b.run.stderr);
    for r in f.b.of(Access::Get) {
        assert!(a.contains(&r.action), "{r} hit, but A did not record it");
    }
    let b_puts: BTreeSet<Id> = f.b.of(Access::Put).map(|r| r.action).collect();
    assert!(!b_puts.is_empty());
    assert!(b_puts.is_disjoint(&a));
    // The overlap covers at least one entry per standard package B links.
    let shared = a.intersection(&b).count();
    let std_deps = std_deps(f, &f.hello);
    assert!(std_deps >= 10, "{std_deps}");
    assert!(
        shared >= std_deps,
        "{shared} shared entries, {std_deps} std packages"
    );
    assert!(shared < a.len(), "B does not need all of A");

    let source = BuildCache::at(&f.dirs.gocache);
    for (name, dir, rec) in [("a", &f.program, &f.a), ("b", &f.hello, &f.b)] {
        let gocache = f.root.path().join(format!("only-{name}"));
        let only = BuildCache::open(&gocache).expect("open");
        let actions = rec.actions();
        for id in &actions {
            only.copy_entry_from(
                &source,
                id,
                CopyOptions {
                    verify_output: true,
                },
            )
            .expect("copy entry");
        }
        let run = plain_build(
            f,
            dir,
            &gocache,
            &f.root.path().join(format!("only-{name}-bin")),
        );
        assert_eq!(run.compiles, 0, "{name}: {}", run.stderr);
        // And Go needed nothing else: the plain build added no entry.
        let after: BTreeSet<Id> = only
            .entries()
            .expect("entries")
            .into_iter()
            .map(|(id, _)| id)
            .collect();
        assert_eq!(
            after, actions,
            "{name}: a plain build wrote entries the record lacks"
        );
    }
}

/// How many standard-library packages `dir` links (`go list -deps`, with a throwaway
/// GOCACHE so the recorded one is not touched).
fn std_deps(f: &Fixture, dir: &Path) -> usize {
    let scratch = tempfile::tempdir().expect("tempdir");
    let dirs = GoDirs {
        gocache: scratch.path().join("gocache"),
        ..f.dirs.clone()
    };
    let out = gowarm_testkit::run(
        GoEnv::new(&dirs)
            .command([
                "list",
                "-deps",
                "-f",
                "{{if .Standard}}{{.ImportPath}}{{end}}",
                ".",
            ])
            .current_dir(dir),
    )
    .expect("go list");
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .filter(|l| !l.is_empty())
        .count()
}

#[test]
fn help_and_usage_errors() {
    let out = Command::new(CACHEPROG).arg("--help").output().expect("run");
    assert!(out.status.success());
    let help = String::from_utf8_lossy(&out.stdout);
    assert!(
        help.contains("GOCACHEPROG=\"gowarm-cacheprog --gocache"),
        "{help}"
    );
    assert!(help.contains("gowarm bake"), "{help}");

    for (args, want) in [
        (&[][..], "--gocache DIR is required"),
        (&["--gocache"][..], "--gocache needs a value"),
        (
            &["--gocache", "/tmp/x", "--verbose"][..],
            "unknown argument \"--verbose\"",
        ),
    ] {
        let out = Command::new(CACHEPROG).args(args).output().expect("run");
        assert_eq!(out.status.code(), Some(2), "{args:?}");
        assert!(out.stdout.is_empty(), "stdout is the protocol");
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(err.contains(want), "{args:?}: {err}");
    }
}

#[test]
fn protocol_errors_go_to_stderr_and_exit_1() {
    let dir = tempfile::tempdir().expect("tempdir");
    let mut child = Command::new(CACHEPROG)
        .arg("--gocache")
        .arg(dir.path().join("gocache"))
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("spawn");
    {
        use std::io::Write;
        let mut stdin = child.stdin.take().expect("stdin");
        stdin
            .write_all(b"{\"ID\":1,\"Command\":\"close\"\n")
            .expect("write");
    }
    let out = child.wait_with_output().expect("wait");
    assert_eq!(out.status.code(), Some(1));
    assert_eq!(
        String::from_utf8_lossy(&out.stdout),
        "{\"ID\":0,\"KnownCommands\":[\"get\",\"put\",\"close\"]}\n"
    );
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("line 1") && err.contains("not a JSON request object"),
        "{err}"
    );
}
