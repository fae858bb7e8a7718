//! Google's API client in the Debian corpus is complete: each `google` warm-set program is
//! tidied against the corpus proxy and then built offline (GOPROXY=off, -mod=readonly) with
//! the pinned Go, cold, and runs; the other GOOGLE_API_IMPORTS compile too.

use std::time::Instant;

use gowarm_testkit::{
    debian_corpus, go_build, run, warm_set, GoDirs, GoEnv, ModuleVersion, ProxyDir, TempGoDirs,
    GOOGLE_API_IMPORTS,
};

#[test]
fn google_programs_build_offline_from_the_corpus() {
    let started = Instant::now();
    let mut proxy = ProxyDir::temp().unwrap();
    let corpus = debian_corpus(&mut proxy).unwrap();
    eprintln!("corpus ready in {:?}", started.elapsed());
    let api = corpus.module("google.golang.org/api").unwrap().clone();
    assert_eq!(api, ModuleVersion::new("google.golang.org/api", "v0.61.0"));

    let set = warm_set("google").unwrap();
    // One module cache for all (downloads are not what is measured); one build cache per
    // program, so each build is cold.
    let shared = TempGoDirs::new().unwrap();
    let mut last = None;
    for (program, dir) in set.programs.iter().zip(
        set.write(shared.root(), &corpus, &proxy.url(), &*shared)
            .unwrap()
            .dirs,
    ) {
        let gosum = std::fs::read_to_string(dir.join("go.sum")).unwrap();
        let want = corpus.hashes(&api).unwrap().go_sum_lines(&api);
        for line in want.lines() {
            assert!(
                gosum.lines().any(|l| l == line),
                "{}: go.sum lacks {line:?}:\n{gosum}",
                program.name
            );
        }

        let own = TempGoDirs::new().unwrap();
        let dirs = GoDirs {
            gocache: own.gocache.clone(),
            ..(*shared).clone()
        };
        let env = GoEnv::new(&dirs).goflags("-mod=readonly");
        let listed = run(env
            .command(["list", "-deps", "-f", "{{.Standard}}", "."])
            .current_dir(&dir))
        .unwrap();
        let listed = String::from_utf8_lossy(&listed.stdout).into_owned();
        let packages = listed.lines().count();
        let non_std = listed.lines().filter(|l| *l == "false").count();

        let cold = go_build(&dir, &env, &own.root().join("prog")).unwrap();
        eprintln!(
            "{}: {packages} packages ({non_std} outside std), cold build {} compiles in {:?}",
            program.name, cold.compiles, cold.elapsed
        );
        assert!(
            non_std > 50,
            "{}: only {non_std} packages outside std",
            program.name
        );
        assert!(
            cold.compiles >= non_std,
            "{}: {} compiles for {non_std} non-std packages",
            program.name,
            cold.compiles
        );
        let out = run(&mut std::process::Command::new(&cold.binary)).unwrap();
        let text = String::from_utf8_lossy(&out.stdout);
        assert!(
            text.contains(&format!("linking {} packages", program.imports.len())),
            "{}: {text}",
            program.name
        );
        last = Some((dir, env, own));
    }

    // The GOOGLE_API_IMPORTS no program links (container/v1) compile too: built in the last
    // program's module and build cache, so only they are compiled.
    let (dir, env, _own) = last.unwrap();
    let rest: Vec<&str> = GOOGLE_API_IMPORTS
        .iter()
        .copied()
        .filter(|i| !set.programs.iter().any(|p| p.imports.contains(i)))
        .collect();
    assert!(!rest.is_empty());
    let t = Instant::now();
    run(env.command(["build"].iter().chain(&rest)).current_dir(&dir)).unwrap();
    eprintln!("{rest:?} built in {:?}", t.elapsed());
}
