//! The main job on real SDK code (Debian's aws-sdk-go and godo sources): bake a warm cache,
//! detect what an empty pod lacks, warm it from the baked directory, and build with zero
//! compiles; and the BuildProfile guard when the pod's GOMODCACHE path differs.

mod common;

use common::Baked;

use std::path::Path;
use std::sync::OnceLock;

use gowarm::analyze::Need;
use gowarm::profile::Severity;
use gowarm::Outcome;
use gowarm_testkit::{
    aws_program_imports, debian_corpus, go_build, tidy, write_program, GoEnv, ProxyDir, TempGoDirs,
    GODO_IMPORT,
};

fn baked() -> &'static Baked {
    static BAKED: OnceLock<Baked> = OnceLock::new();
    BAKED.get_or_init(|| {
        let root = tempfile::tempdir().expect("tempdir");
        gowarm_testkit::remove_at_exit(root.path());
        let mut proxy = ProxyDir::new(root.path().join("proxy")).expect("proxy");
        let corpus = debian_corpus(&mut proxy).expect("Debian corpus (run scripts/test)");
        let program = root.path().join("src/awsprog");
        let mut imports = aws_program_imports(10);
        imports.push(GODO_IMPORT);
        let requires = [
            corpus
                .module("github.com/aws/aws-sdk-go")
                .expect("aws")
                .clone(),
            corpus
                .module("github.com/digitalocean/godo")
                .expect("godo")
                .clone(),
        ];
        write_program(&program, "example.com/awsprog", &requires, &imports).expect("program");
        // go.sum comes from `go mod tidy` in throwaway caches, so the bake fetches everything itself.
        let scratch = TempGoDirs::new().expect("scratch");
        tidy(&program, &proxy.url(), &*scratch).expect("tidy");
        let b = Baked::new(root, proxy, program);
        assert!(b.report.modules >= 2, "{:?}", b.report);
        assert!(
            b.report.entries > 100,
            "bake recorded {} entries",
            b.report.entries
        );
        assert!(b.warm.join("gowarm-manifest.json").is_file());
        b
    })
}

fn dir_source(p: &Path) -> String {
    format!("dir:{}", p.display())
}

#[test]
fn empty_pod_warms_from_baked_dir_and_builds_with_zero_compiles() {
    let b = baked();
    // The pod uses the bake's paths, as the real runner must: empty them first.
    common::remove_cache(&b.runtime.gomodcache);
    common::remove_cache(&b.runtime.gocache);
    let env = GoEnv::new(&b.runtime);
    let engine = common::engine(&env, &[dir_source(&b.warm)]);

    let plan = engine.detect(&b.program).expect("detect");
    assert!(!plan.is_warm());
    let cold: Vec<String> = plan
        .cold_modules()
        .filter(|m| m.needed.need == Need::Tree)
        .map(|m| m.module().path.clone())
        .collect();
    for want in [
        "github.com/aws/aws-sdk-go",
        "github.com/digitalocean/godo",
        "golang.org/x/net",
    ] {
        assert!(
            cold.iter().any(|c| c == want),
            "{want} not cold in {cold:?}"
        );
    }
    let unplanned: Vec<String> = plan
        .cold_modules()
        .filter(|m| m.source.is_none())
        .map(|m| m.module().to_string())
        .collect();
    assert!(
        unplanned.is_empty(),
        "the baked dir has these, detect must say so: {unplanned:?}"
    );
    assert!(plan.entries.diffs.is_empty(), "{:?}", plan.entries.diffs);
    assert!(plan.entries.skipped.is_none());
    // `go env -json` (which detect runs) itself caches a few tool-ID entries, so a handful
    // of the offered entries are already present; everything else is cold.
    let cold_entries = plan.entries.cold.len() as u64;
    assert!(
        cold_entries + 20 >= plan.entries.offered,
        "{cold_entries} of {}",
        plan.entries.offered
    );

    let (_, report) = engine.warm(&b.program, None).expect("warm");
    assert_eq!(report.outcome, Outcome::Warm, "{}", report.to_human());
    assert_eq!(report.modules.failed, 0);
    assert_eq!(
        report.entries.installed,
        cold_entries,
        "{}",
        report.to_human()
    );
    assert_eq!(
        report.entries.installed + report.entries.already_warm,
        plan.entries.offered
    );
    assert!(report.bytes_installed > 50 << 20, "{}", report.to_human());
    let src = &report.sources[&dir_source(&b.warm)];
    assert_eq!(src.rejected + src.errors, 0);

    assert!(engine.detect(&b.program).expect("detect").is_warm());

    // Offline, read-only: everything must come from the warmed caches.
    let build_env = GoEnv::new(&b.runtime).goflags("-mod=readonly");
    let out = tempfile::tempdir().expect("tempdir");
    let run = go_build(&b.program, &build_env, &out.path().join("prog")).expect("go build");
    assert_eq!(
        run.compiles, 0,
        "packages compiled after warm:\n{}",
        run.stderr
    );
}

#[test]
fn other_gomodcache_without_trimpath_skips_entries_and_says_why() {
    let b = baked();
    let pod = TempGoDirs::new().expect("pod");
    let engine = common::engine(&GoEnv::new(&*pod), &[dir_source(&b.warm)]);
    let plan = engine.detect(&b.program).expect("detect");
    let diff = plan
        .entries
        .diffs
        .iter()
        .find(|d| d.field == "gomodcache")
        .expect("gomodcache diff");
    assert_eq!(diff.severity, Severity::Blocking);
    assert!(diff.fix.contains("-trimpath"), "{}", diff.fix);
    assert!(plan.entries.skipped.is_some());

    let (_, report) = engine.warm(&b.program, None).expect("warm");
    assert_eq!(
        report.outcome,
        Outcome::ProfileMismatch,
        "{}",
        report.to_human()
    );
    assert_eq!(report.entries.installed, 0);
    assert!(report.modules.installed > 0);
    assert!(
        std::fs::read_dir(pod.gocache.join("00"))
            .map(|d| d.count())
            .unwrap_or(0)
            == 0,
        "no build-cache entry may be copied"
    );
    let human = report.to_human();
    assert!(human.contains("gomodcache"), "{human}");
}
