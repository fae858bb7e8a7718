//! Warm sets on the small example: a bake of two sets records each set's entries exactly,
//! a warm takes only the sets a program needs, and incremental bakes keep, add and drop
//! sets without fetching or compiling what did not change. All with `-trimpath`, so bake
//! environments and pods may live at any path.

mod common;

use std::path::{Path, PathBuf};
use std::sync::OnceLock;
use std::time::{Duration, SystemTime};

use gowarm::bake::SetAction;
use gowarm::manifest::MANIFEST_FILE;
use gowarm::{BakeReport, BakeRequest, Engine, Manifest, Outcome, SetChoice, SetRequest};
use gowarm_gocache::BuildCache;
use gowarm_testkit::{
    copy_example_program, example_proxy, go_build, make_tree_writable, tidy, write_program, GoEnv,
    ModuleVersion, ProxyDir, TempGoDirs,
};

const TRIM: &str = "-trimpath";

/// One target program per warm set.
struct Programs {
    /// Imports example.com/greet only.
    greet: PathBuf,
    /// The example program: widgets (which imports greet) and textutil.
    widgets: PathBuf,
    /// Imports example.com/tools/textutil only.
    textutil: PathBuf,
}

struct Fixture {
    root: tempfile::TempDir,
    proxy: ProxyDir,
    p: Programs,
    warm: PathBuf,
    report: BakeReport,
}

fn env(dirs: &TempGoDirs) -> GoEnv {
    GoEnv::new(dirs).goflags(TRIM)
}

fn sets(p: &Programs, names: &[&str]) -> Vec<SetRequest> {
    names
        .iter()
        .map(|n| {
            let dir = match *n {
                "greet" => p.greet.clone(),
                "widgets" => p.widgets.clone(),
                "textutil" => p.textutil.clone(),
                other => panic!("no set {other}"),
            };
            SetRequest::new(*n, vec![dir])
        })
        .collect()
}

/// A bake in a fresh bake environment (a new CI runner: empty caches) from the proxy.
fn bake(sets: Vec<SetRequest>, out: &Path, proxy: &ProxyDir) -> gowarm::Result<BakeReport> {
    let dirs = TempGoDirs::new().expect("bake dirs");
    common::engine(&env(&dirs), &[proxy.url()])
        .bake(&BakeRequest::new(sets, out, common::cacheprog()), None)
}

fn fixture() -> &'static Fixture {
    static F: OnceLock<Fixture> = OnceLock::new();
    F.get_or_init(|| {
        let root = tempfile::tempdir().expect("tempdir");
        gowarm_testkit::remove_at_exit(root.path());
        let mut proxy = ProxyDir::new(root.path().join("proxy")).expect("proxy");
        example_proxy(&mut proxy).expect("example proxy");
        let tidy_dirs = TempGoDirs::new().expect("tidy dirs");
        let greet = root.path().join("src/greet");
        write_program(
            &greet,
            "example.com/greeter",
            &[ModuleVersion::new("example.com/greet", "v1.1.0")],
            &["example.com/greet"],
        )
        .expect("write greet program");
        tidy(&greet, &proxy.url(), &tidy_dirs).expect("tidy greet");
        let textutil = root.path().join("src/textutil");
        write_program(
            &textutil,
            "example.com/reverser",
            &[ModuleVersion::new(
                "example.com/tools/textutil",
                "v0.3.0-RC.1",
            )],
            &["example.com/tools/textutil"],
        )
        .expect("write textutil program");
        tidy(&textutil, &proxy.url(), &tidy_dirs).expect("tidy textutil");
        let widgets = root.path().join("src/widgets");
        copy_example_program(&widgets).expect("example program");
        let warm = root.path().join("warm");
        let p = Programs {
            greet,
            widgets,
            textutil,
        };
        let report = bake(sets(&p, &["greet", "widgets"]), &warm, &proxy).expect("bake");
        Fixture {
            root,
            proxy,
            p,
            warm,
            report,
        }
    })
}

fn manifest(dir: &Path) -> Manifest {
    Manifest::read(&dir.join(MANIFEST_FILE)).expect("manifest")
}

fn copy_tree(src: &Path, dst: &Path) {
    let out = std::process::Command::new("cp")
        .arg("-a")
        .arg(src)
        .arg(dst)
        .output()
        .expect("cp");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    make_tree_writable(dst);
}

fn set<'m>(m: &'m Manifest, name: &str) -> &'m gowarm::manifest::WarmSet {
    m.warm_set(name)
        .unwrap_or_else(|| panic!("no set {name} in {:?}", m.warm_sets))
}

fn pod_engine(pod: &TempGoDirs, warm: &Path) -> Engine {
    common::engine(&env(pod), &[format!("dir:{}", warm.display())])
}

fn build(dir: &Path, pod: &TempGoDirs, out: &Path) -> gowarm_testkit::BuildRun {
    go_build(
        dir,
        &GoEnv::new(pod).goflags("-trimpath -mod=readonly"),
        out,
    )
    .expect("go build")
}

#[test]
fn bake_records_each_sets_entries_and_stores_shared_ones_once() {
    let f = fixture();
    let m = manifest(&f.warm);
    let greet = set(&m, "greet");
    let widgets = set(&m, "widgets");
    assert_eq!(greet.modules, ["example.com/greet@v1.1.0"]);
    for needed in [
        "example.com/BigCo/widgets@v1.2.0",
        "example.com/greet@v1.1.0",
        "example.com/tools/textutil@v0.3.0-RC.1",
    ] {
        assert!(
            widgets.modules.iter().any(|k| k == needed),
            "{:?}",
            widgets.modules
        );
    }
    // SDK modules: what a set's targets require directly that no other set's require at
    // all. The example program requires greet (indirectly, through widgets), so greet
    // selects no set: the greet set is taken for programs it lists as targets.
    assert!(greet.sdk_modules.is_empty(), "{:?}", greet.sdk_modules);
    assert_eq!(
        widgets.sdk_modules,
        ["example.com/BigCo/widgets", "example.com/tools/textutil"]
    );
    // The standard library (fmt, runtime, …) is shared: listed by both, stored once.
    let shared: Vec<_> = greet
        .entries
        .iter()
        .filter(|e| widgets.entries.contains(e))
        .collect();
    assert!(shared.len() > 20, "{} shared entries", shared.len());
    let union: std::collections::BTreeSet<_> =
        greet.entries.iter().chain(&widgets.entries).collect();
    assert_eq!(m.entries.len(), union.len());
    // The set built first recorded what its compiles wrote (more than a warm build
    // reads); the second recorded hits plus its own packages.
    let own = widgets
        .entries
        .iter()
        .filter(|e| !greet.entries.contains(e))
        .count();
    assert!(
        own >= 4,
        "widgets, parts, textutil, main: {own} entries of its own"
    );
    let on_disk = BuildCache::at(f.warm.join("go-build"))
        .entries()
        .expect("entries")
        .len();
    assert_eq!(
        on_disk,
        m.entries.len(),
        "the output holds exactly the listed entries"
    );
    let summary = m.summary();
    assert!(summary.shared_bytes > 0);
    // Every set was verified against the staged output with 100% hits.
    for s in &f.report.sets {
        assert_eq!(s.action, SetAction::Built);
        let v = s.verify.as_ref().expect("verified");
        assert_eq!(v.hit_ratio, 1.0, "{}: {:?}", s.name, v.compiled);
    }
    // The targets hold no binaries from the bake's builds.
    assert!(!f.p.greet.join("greeter").exists());
}

#[test]
fn warm_takes_only_the_set_a_program_needs_and_it_builds_with_all_hits() {
    let f = fixture();
    let m = manifest(&f.warm);
    let pod = TempGoDirs::new().expect("pod");
    let engine = pod_engine(&pod, &f.warm);
    let plan = engine.detect(&f.p.greet).expect("detect");
    assert_eq!(plan.entries.sets, ["greet"], "{}", plan.entries.sets_reason);
    let (_, report) = engine.warm(&f.p.greet, None).expect("warm");
    assert_eq!(report.outcome, Outcome::Warm, "{}", report.to_human());
    assert_eq!(report.warm_sets, ["greet"]);
    assert_eq!(
        report.entries.installed,
        set(&m, "greet").entries.len() as u64
    );
    assert!(report.entries.installed < m.entries.len() as u64);
    let run = build(&f.p.greet, &pod, &pod.root().join("greeter"));
    assert_eq!(run.compiles, 0, "{}", run.stderr);

    // The example program requires widgets and textutil, and greet indirectly: the
    // widgets set alone, whose entries include greet's package.
    let plan = engine.detect(&f.p.widgets).expect("detect");
    assert_eq!(
        plan.entries.sets,
        ["widgets"],
        "{}",
        plan.entries.sets_reason
    );
}

#[test]
fn named_sets_warm_without_a_program_and_unknown_names_are_listed() {
    let f = fixture();
    let pod = TempGoDirs::new().expect("pod");
    let engine = pod_engine(&pod, &f.warm);
    let (plan, report) = engine
        .warm_sets(&["widgets".to_string()], None)
        .expect("warm set");
    assert_eq!(report.outcome, Outcome::Warm, "{}", report.to_human());
    assert_eq!(plan.modules.len(), 3, "{:?}", plan.modules);
    assert_eq!(report.modules.installed, 3);
    let run = build(&f.p.widgets, &pod, &pod.root().join("program"));
    assert_eq!(run.compiles, 0, "{}", run.stderr);

    let e = engine
        .warm_sets(&["gcp".to_string()], None)
        .expect_err("unknown set")
        .to_string();
    assert!(
        e.contains("no warm set \"gcp\"") && e.contains("greet, widgets"),
        "{e}"
    );
    let e = engine
        .detect_with(&f.p.greet, &SetChoice::Named(vec!["nope".into()]))
        .expect_err("unknown set")
        .to_string();
    assert!(e.contains("\"nope\""), "{e}");
}

#[test]
fn unchanged_inputs_rebake_touches_nothing() {
    let f = fixture();
    let out = f.root.path().join("noop");
    copy_tree(&f.warm, &out);
    let before = std::fs::read(out.join(MANIFEST_FILE)).expect("manifest");
    let r = bake(sets(&f.p, &["greet", "widgets"]), &out, &f.proxy).expect("re-bake");
    assert!(r.up_to_date, "{r:?}");
    assert!(r.sets.iter().all(|s| s.action == SetAction::Kept));
    assert_eq!(r.modules_fetched, 0);
    assert!(r.duration_ms < 5_000, "{} ms", r.duration_ms);
    assert_eq!(
        std::fs::read(out.join(MANIFEST_FILE)).expect("manifest"),
        before
    );
}

#[test]
fn adding_a_set_builds_only_it_and_fetches_nothing_it_already_has() {
    let f = fixture();
    let out = f.root.path().join("add");
    copy_tree(&f.warm, &out);
    let r = bake(
        sets(&f.p, &["greet", "widgets", "textutil"]),
        &out,
        &f.proxy,
    )
    .expect("bake");
    assert!(!r.up_to_date);
    let action = |n: &str| r.sets.iter().find(|s| s.name == n).expect("set").action;
    assert_eq!(action("greet"), SetAction::Kept);
    assert_eq!(action("widgets"), SetAction::Kept);
    assert_eq!(action("textutil"), SetAction::Built);
    // textutil's module and packages were in the previous output (the widgets set):
    // nothing comes from the proxy, and go compiles only the new main package (+ link).
    assert_eq!(r.modules_fetched, 0, "{:?}", r.warms);
    let t = r.sets.iter().find(|s| s.name == "textutil").expect("set");
    assert_eq!(t.compiled, 1, "only its main package is new");
    assert_eq!(t.verify.as_ref().map(|v| v.hit_ratio), Some(1.0));
    let m = manifest(&out);
    assert_eq!(m.warm_sets.len(), 3);
    let before = manifest(&f.warm);
    for name in ["greet", "widgets"] {
        assert_eq!(set(&m, name).entries, set(&before, name).entries);
    }
}

#[test]
fn dropping_a_set_drops_entries_only_it_used() {
    let f = fixture();
    let out = f.root.path().join("drop");
    copy_tree(&f.warm, &out);
    let r = bake(sets(&f.p, &["greet"]), &out, &f.proxy).expect("bake");
    let dropped = r
        .sets
        .iter()
        .find(|s| s.name == "widgets")
        .expect("reported");
    assert_eq!(dropped.action, SetAction::Dropped);
    let m = manifest(&out);
    assert_eq!(m.warm_sets.len(), 1);
    assert_eq!(m.entries.len(), set(&m, "greet").entries.len());
    assert_eq!(m.modules.len(), 1);
    let on_disk = BuildCache::at(out.join("go-build"))
        .entries()
        .expect("entries")
        .len();
    assert_eq!(on_disk, m.entries.len());
}

#[test]
fn a_changed_target_rebuilds_its_set_only() {
    let f = fixture();
    let root = tempfile::tempdir().expect("tempdir");
    let greet = root.path().join("greet");
    copy_tree(&f.p.greet, &greet);
    let out = root.path().join("warm");
    let mut first = sets(&f.p, &["greet", "widgets"]);
    first[0].targets = vec![greet.clone()];
    bake(first.clone(), &out, &f.proxy).expect("first bake");
    let main = greet.join("main.go");
    let text = std::fs::read_to_string(&main).expect("main.go");
    std::fs::write(&main, format!("{text}\n// changed\n")).expect("write");
    let r = bake(first, &out, &f.proxy).expect("second bake");
    let s = |n: &str| r.sets.iter().find(|s| s.name == n).expect("set");
    assert_eq!(s("greet").action, SetAction::Built);
    assert!(
        s("greet").reason.contains("changed"),
        "{}",
        s("greet").reason
    );
    assert_eq!(s("widgets").action, SetAction::Kept);
    assert!(
        s("greet").compiled <= 2,
        "only main and its link: {}",
        s("greet").compiled
    );
}

#[test]
fn a_second_bake_of_one_output_fails_at_once_with_no_wait() {
    let f = fixture();
    let out = f.root.path().join("locked");
    let _held = gowarm::lock::OutputLock::acquire(&out, false).expect("lock");
    let dirs = TempGoDirs::new().expect("bake dirs");
    let mut req = BakeRequest::new(sets(&f.p, &["greet"]), &out, common::cacheprog());
    req.wait = false;
    let t0 = std::time::Instant::now();
    let e = common::engine(&env(&dirs), &[f.proxy.url()])
        .bake(&req, None)
        .expect_err("locked")
        .to_string();
    assert!(t0.elapsed() < Duration::from_secs(5));
    assert!(e.contains("another bake") && e.contains("--no-wait"), "{e}");
    assert!(!out.exists(), "nothing written");
}

#[test]
fn a_failed_bake_leaves_the_previous_output_whole_and_no_staging() {
    let f = fixture();
    let root = tempfile::tempdir().expect("tempdir");
    let out = root.path().join("warm");
    copy_tree(&f.warm, &out);
    // A staging directory and a verify cache a killed bake left behind.
    std::fs::create_dir(root.path().join(".warm.tmp-killed")).expect("mkdir");
    std::fs::create_dir(root.path().join(".warm.verify-killed")).expect("mkdir");
    let broken = root.path().join("broken");
    copy_tree(&f.p.greet, &broken);
    std::fs::write(
        broken.join("main.go"),
        "package main\nfunc main() { undefined() }\n",
    )
    .expect("write");
    let before = std::fs::read(out.join(MANIFEST_FILE)).expect("manifest");
    let e = bake(
        vec![SetRequest::new("broken", vec![broken])],
        &out,
        &f.proxy,
    )
    .expect_err("go build fails")
    .to_string();
    assert!(e.contains("undefined"), "{e}");
    assert_eq!(
        std::fs::read(out.join(MANIFEST_FILE)).expect("manifest"),
        before
    );
    let names: Vec<String> = std::fs::read_dir(root.path())
        .expect("ls")
        .filter_map(|e| e.ok())
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .collect();
    assert!(
        names
            .iter()
            .all(|n| !n.contains(".tmp-") && !n.contains(".verify-")),
        "staging left behind: {names:?}"
    );
}

#[test]
fn old_entries_survive_go_trim_across_two_sets() {
    let f = fixture();
    let root = tempfile::tempdir().expect("tempdir");
    let warm = root.path().join("old-warm");
    copy_tree(&f.warm, &warm);
    // An image baked ten days ago: every entry and trim.txt that old.
    let ten_days_ago = SystemTime::now() - Duration::from_secs(10 * 24 * 3600);
    for e in walkdir::WalkDir::new(warm.join("go-build")) {
        let e = e.expect("walk");
        if e.file_type().is_file() {
            filetime::set_file_mtime(e.path(), ten_days_ago.into()).expect("mtime");
        }
    }
    BuildCache::at(warm.join("go-build"))
        .write_trim_txt(ten_days_ago)
        .expect("trim.txt");
    let pod = TempGoDirs::new().expect("pod");
    let engine = pod_engine(&pod, &warm);
    let (_, report) = engine
        .warm_sets(&["greet".into(), "widgets".into()], None)
        .expect("warm");
    assert_eq!(report.outcome, Outcome::Warm, "{}", report.to_human());
    // The first build may run Go's trim; the second set's entries must still be there.
    let first = build(&f.p.greet, &pod, &pod.root().join("greeter"));
    assert_eq!(first.compiles, 0, "{}", first.stderr);
    let second = build(&f.p.widgets, &pod, &pod.root().join("program"));
    assert_eq!(second.compiles, 0, "{}", second.stderr);
}

#[test]
fn owner_gets_the_caches_and_builds_as_that_user_with_all_hits() {
    use std::os::unix::fs::{MetadataExt, PermissionsExt};
    use std::os::unix::process::CommandExt;
    // SAFETY: geteuid has no preconditions.
    assert_eq!(
        unsafe { libc::geteuid() },
        0,
        "this test gives files to uid 1001 and must run as root (CI does)"
    );
    let f = fixture();
    let pod = TempGoDirs::new().expect("pod");
    // The pod's directories must be reachable by the other user (tempfile makes 0700).
    for d in [pod.root(), f.root.path()] {
        std::fs::set_permissions(d, std::fs::Permissions::from_mode(0o755)).expect("chmod");
    }
    let program = f.root.path().join("owned-program");
    copy_tree(&f.p.widgets, &program);
    let mut cfg = common::config(&env(&pod), &[format!("dir:{}", f.warm.display())]);
    cfg.warm.owner = Some("1001:1001".parse().expect("owner"));
    let engine = Engine::new(cfg).expect("engine");
    let (_, report) = engine.warm(&program, None).expect("warm");
    assert_eq!(report.outcome, Outcome::Warm, "{}", report.to_human());
    for root in [&pod.gomodcache, &pod.gocache] {
        for e in walkdir::WalkDir::new(root) {
            let e = e.expect("walk");
            let m = e.metadata().expect("stat");
            assert_eq!((m.uid(), m.gid()), (1001, 1001), "{}", e.path().display());
        }
    }
    let tree = gowarm_gomod::modcache::ModCache::new(&pod.gomodcache)
        .tree_dir(&ModuleVersion::new("example.com/BigCo/widgets", "v1.2.0"))
        .expect("tree");
    let mode = std::fs::metadata(tree.join("widgets.go"))
        .expect("stat")
        .mode()
        & 0o777;
    assert_eq!(mode, 0o444, "module trees stay read-only");

    // The runner user builds: offline, nothing compiled, and Go can write GOCACHE.
    let home = f.root.path().join("home-1001");
    std::fs::create_dir_all(&home).expect("home");
    std::os::unix::fs::chown(&home, Some(1001), Some(1001)).expect("chown home");
    let mut cmd = GoEnv::new(&pod)
        .goflags("-trimpath -mod=readonly")
        .env("HOME", &home)
        .command(["build", "-x", "-o", "/dev/null", "."]);
    cmd.current_dir(&program).uid(1001).gid(1001);
    let out = cmd.output().expect("go build as 1001");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stderr}");
    assert_eq!(gowarm_testkit::count_compiles(&stderr), 0, "{stderr}");
}

#[test]
fn a_warm_set_target_can_be_a_git_repository_revision() {
    let f = fixture();
    let tmp = tempfile::tempdir().expect("tempdir");
    let repo = tmp.path().join("repo");
    std::fs::create_dir(&repo).expect("mkdir");
    copy_tree(&f.p.greet, &repo.join("iac"));
    for args in [
        &["init", "-q", "-b", "main"][..],
        &["add", "."],
        &[
            "-c",
            "user.name=t",
            "-c",
            "user.email=t@example.com",
            "commit",
            "-q",
            "-m",
            "p",
        ],
    ] {
        let o = std::process::Command::new("git")
            .args(args)
            .current_dir(&repo)
            .output()
            .expect("git");
        assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    }
    let toml = format!(
        "[git]\ndir = \"{}\"\n[bake]\nout = \"{}\"\n[[bake.set]]\nname = \"greet\"\ngit = [{{ url = \"file://{}\", rev = \"main\", subdir = \"iac\" }}]\n",
        tmp.path().join("git-cache").display(),
        tmp.path().join("out").display(),
        repo.display()
    );
    let cfg = gowarm::Config::from_toml(&toml, "test.toml").expect("config");
    let req = BakeRequest::from_config(&cfg, &[], None, common::cacheprog()).expect("request");
    assert_eq!(req.sets.len(), 1);
    let dir = &req.sets[0].targets[0];
    assert!(
        dir.starts_with(tmp.path().join("git-cache")),
        "{}",
        dir.display()
    );
    assert!(
        dir.ends_with("iac") && dir.join("go.mod").is_file(),
        "{}",
        dir.display()
    );
    // The checkout builds like any target.
    let r = bake(req.sets.clone(), &tmp.path().join("out"), &f.proxy).expect("bake");
    assert_eq!(r.sets[0].verify.as_ref().map(|v| v.hit_ratio), Some(1.0));
}

#[test]
fn an_sdk_version_bump_rebuilds_only_what_depends_on_it() {
    let f = fixture();
    let tmp = tempfile::tempdir().expect("tempdir");
    let mut proxy = ProxyDir::new(tmp.path().join("proxy")).expect("proxy");
    example_proxy(&mut proxy).expect("example proxy");
    let v2 = tmp.path().join("greet-v1.2.0");
    copy_tree(
        &gowarm_testkit::example_module_dir(&ModuleVersion::new("example.com/greet", "v1.1.0")),
        &v2,
    );
    std::fs::write(
        v2.join("greet.go"),
        "// Package greet, v1.2.0.\npackage greet\n\n// Hello greets.\nfunc Hello(name string) string { return \"Hi, \" + name }\n",
    )
    .expect("write");
    proxy
        .add_module("example.com/greet", "v1.2.0", &v2, None)
        .expect("add v1.2.0");
    let greet = tmp.path().join("greet");
    let write = |version: &str| {
        write_program(
            &greet,
            "example.com/greeter",
            &[ModuleVersion::new("example.com/greet", version)],
            &["example.com/greet"],
        )
        .expect("write program");
        tidy(&greet, &proxy.url(), TempGoDirs::new().expect("dirs")).expect("tidy");
    };
    write("v1.1.0");
    let out = tmp.path().join("warm");
    let mut req = sets(&f.p, &["greet", "widgets"]);
    req[0].targets = vec![greet.clone()];
    bake(req.clone(), &out, &proxy).expect("first bake");
    write("v1.2.0");
    let r = bake(req, &out, &proxy).expect("bake after the bump");
    let s = |n: &str| r.sets.iter().find(|s| s.name == n).expect("set");
    assert_eq!(s("widgets").action, SetAction::Kept);
    assert_eq!(s("greet").action, SetAction::Built);
    // Only the new greet package and the program that imports it; the standard library
    // came warm from the previous output.
    assert_eq!(s("greet").compiled, 2, "{:?}", s("greet"));
    assert_eq!(
        r.modules_fetched, 2,
        "greet v1.2.0's .mod and tree, nothing else"
    );
    let m = manifest(&out);
    assert!(set(&m, "greet")
        .modules
        .contains(&"example.com/greet@v1.2.0".to_string()));
}

#[test]
fn a_rebake_refuses_an_output_that_holds_other_files_and_keeps_them() {
    let f = fixture();
    let root = tempfile::tempdir().expect("tempdir");
    let out = root.path().join("warm");
    copy_tree(&f.warm, &out);
    std::fs::write(out.join("NOTES.txt"), "mine").expect("write");
    let e = bake(sets(&f.p, &["greet"]), &out, &f.proxy)
        .expect_err("must refuse")
        .to_string();
    assert!(
        e.contains("NOTES.txt") && e.contains("move them out"),
        "{e}"
    );
    assert_eq!(
        std::fs::read_to_string(out.join("NOTES.txt")).expect("kept"),
        "mine"
    );
}
