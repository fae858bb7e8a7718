//! The Debian corpus builds, a real aws-sdk-go + godo program builds against it offline,
//! cold and then fully warm, and every warm-set program resolves against it.

use std::time::Instant;

use gowarm_testkit::{
    debian_corpus, go_build, run, tidy, warm_set_programs, write_program, write_warm_set_programs,
    GoEnv, ModuleVersion, ProxyDir, TempGoDirs, AWS_SMALL_SERVICE_IMPORTS, GODO_IMPORT, WARM_SETS,
};

#[test]
fn aws_and_godo_program_builds_cold_then_warm() {
    let started = Instant::now();
    let mut proxy = ProxyDir::temp().unwrap();
    let corpus = debian_corpus(&mut proxy).unwrap();
    eprintln!("corpus ready in {:?}", started.elapsed());

    let aws = corpus.module("github.com/aws/aws-sdk-go").unwrap().clone();
    assert_eq!(
        aws,
        ModuleVersion::new("github.com/aws/aws-sdk-go", "v1.44.133")
    );
    let godo = corpus
        .module("github.com/digitalocean/godo")
        .unwrap()
        .clone();
    for m in &corpus.modules {
        let zip = proxy.file_path(m, "zip").unwrap();
        assert!(zip.is_file(), "{} not served", zip.display());
        assert!(proxy.hashes(m).is_some(), "{m} has no hashes");
    }

    let dirs = TempGoDirs::new().unwrap();
    let prog = dirs.root().join("prog");
    let mut imports = AWS_SMALL_SERVICE_IMPORTS.to_vec();
    imports.push(GODO_IMPORT);
    write_program(&prog, "example.com/awsprog", &[aws.clone(), godo], &imports).unwrap();
    let t = Instant::now();
    tidy(&prog, &proxy.url(), &dirs).unwrap();
    eprintln!("tidy in {:?}", t.elapsed());

    // go.sum carries the corpus's own hashes.
    let gosum = std::fs::read_to_string(prog.join("go.sum")).unwrap();
    let want = corpus.hashes(&aws).unwrap().go_sum_lines(&aws);
    for line in want.lines() {
        assert!(
            gosum.lines().any(|l| l == line),
            "go.sum lacks {line:?}:\n{gosum}"
        );
    }

    let env = GoEnv::new(&dirs).goproxy(proxy.url());
    let cold = go_build(&prog, &env, &dirs.root().join("prog-cold")).unwrap();
    eprintln!(
        "cold build: {} compiles in {:?}",
        cold.compiles, cold.elapsed
    );
    assert!(
        cold.compiles > 100,
        "cold build compiled only {}",
        cold.compiles
    );

    let warm = go_build(&prog, &env, &dirs.root().join("prog-warm")).unwrap();
    eprintln!(
        "warm build: {} compiles in {:?}",
        warm.compiles, warm.elapsed
    );
    assert_eq!(warm.compiles, 0, "warm build compiled:\n{}", warm.stderr);
    assert!(warm.binary.is_file());
}

#[test]
fn every_warm_set_program_resolves_offline() {
    let mut proxy = ProxyDir::temp().unwrap();
    let corpus = debian_corpus(&mut proxy).unwrap();
    let dirs = TempGoDirs::new().unwrap();
    let t = Instant::now();
    let written =
        write_warm_set_programs(&dirs.root().join("src"), &corpus, &proxy.url(), &dirs).unwrap();
    eprintln!("warm-set programs written and tidied in {:?}", t.elapsed());
    let sets: Vec<&str> = written.iter().map(|w| w.set).collect();
    assert_eq!(sets, WARM_SETS);
    // Offline now: every package each program imports resolves from the module cache alone.
    let env = GoEnv::new(&dirs).goflags("-mod=readonly");
    for (set, w) in warm_set_programs().iter().zip(&written) {
        assert_eq!(set.programs.len(), w.dirs.len());
        for (p, dir) in set.programs.iter().zip(&w.dirs) {
            assert!(
                dir.ends_with(format!("{}/{}", set.set, p.name)),
                "{}",
                dir.display()
            );
            let gomod = std::fs::read_to_string(dir.join("go.mod")).unwrap();
            assert!(
                gomod.starts_with(&format!("module {}\n", p.module())),
                "{gomod}"
            );
            for m in p.requires(&corpus).unwrap() {
                // `require p v` alone, or `\tp v` in a block.
                let want = format!("{} {}", m.path, m.version);
                assert!(
                    gomod
                        .lines()
                        .any(|l| l.trim_start_matches("require").trim() == want),
                    "{}: go.mod lacks {m}:\n{gomod}",
                    p.name
                );
            }
            let out = run(env
                .command(["list", "-deps", "-f", "{{.ImportPath}}", "."])
                .current_dir(dir))
            .unwrap();
            let deps = String::from_utf8_lossy(&out.stdout).into_owned();
            for i in &p.imports {
                assert!(deps.lines().any(|l| l == *i), "{}: {i} not listed", p.name);
            }
            eprintln!("{}/{}: {} packages", set.set, p.name, deps.lines().count());
        }
    }
}
