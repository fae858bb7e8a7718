//! The `gowarm` binary as a user runs it: help, exit codes, JSON, errors that name the fix.

use std::process::{Command, Output};

use gowarm_testkit::{copy_example_program, example_proxy, go_binary, GoEnv, ProxyDir, TempGoDirs};

/// `gowarm <args>` with the isolated Go environment of `env`.
fn gowarm(env: &GoEnv, args: &[&str]) -> Output {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_gowarm"));
    cmd.env_clear().envs(env.vars());
    cmd.env("GOWARM_GO", go_binary()).args(args);
    cmd.output().expect("run gowarm")
}

fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

fn code(o: &Output) -> i32 {
    o.status.code().unwrap_or(-1)
}

#[test]
fn help_teaches_sources_exit_codes_and_examples() {
    let pod = TempGoDirs::new().expect("pod");
    let env = GoEnv::new(&*pod);
    let o = gowarm(&env, &["--help"]);
    assert_eq!(code(&o), 0);
    let h = text(&o.stdout);
    for want in [
        "detect",
        "warm",
        "bake",
        "Exit codes",
        "GOWARM_CONFIG",
        "dir:/mnt/warm",
    ] {
        assert!(h.contains(want), "--help lacks {want:?}:\n{h}");
    }
    let o = gowarm(&env, &["warm", "--help"]);
    assert!(text(&o.stdout).contains("Examples:"));
}

#[test]
fn bake_detect_warm_detect_with_exit_codes_and_json() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let mut proxy = ProxyDir::new(tmp.path().join("proxy")).expect("proxy");
    example_proxy(&mut proxy).expect("example");
    let program = tmp.path().join("program");
    copy_example_program(&program).expect("program");
    let prog = program.to_str().expect("utf-8 path");
    let warm = tmp.path().join("warm");
    let warm_s = warm.to_str().expect("utf-8 path");
    let pod = TempGoDirs::new().expect("pod");
    let env = GoEnv::new(&*pod);

    let o = gowarm(
        &env,
        &["bake", prog, "--out", warm_s, "--from", &proxy.url()],
    );
    assert_eq!(code(&o), 0, "{}", text(&o.stderr));
    assert!(text(&o.stdout).contains("baked"), "{}", text(&o.stdout));
    assert!(warm.join("gowarm-manifest.json").is_file());
    let o = gowarm(&env, &["manifest", "show", warm_s]);
    assert_eq!(code(&o), 0, "{}", text(&o.stderr));
    let out = text(&o.stdout);
    for want in [
        "go1.25.5",
        "modules: 3 (3 trees",
        "warm set all: 1 targets",
        "example.com/program",
    ] {
        assert!(out.contains(want), "manifest show lacks {want:?}:\n{out}");
    }

    // A new pod at the same paths.
    gowarm_testkit::make_tree_writable(&pod.gomodcache);
    std::fs::remove_dir_all(&pod.gomodcache).expect("empty modcache");
    std::fs::remove_dir_all(&pod.gocache).expect("empty gocache");
    let from = format!("dir:{warm_s}");

    let o = gowarm(&env, &["detect", prog, "--from", &from]);
    assert_eq!(code(&o), 3, "cold must exit 3: {}", text(&o.stderr));
    let out = text(&o.stdout);
    assert!(out.contains("example.com/BigCo/widgets@v1.2.0"), "{out}");

    let o = gowarm(&env, &["detect", prog, "--from", &from, "--json"]);
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).expect("detect --json is JSON");
    assert_eq!(v["analysis"]["module"], "example.com/program");

    let o = gowarm(&env, &["warm", prog, "--from", &from, "--json"]);
    assert_eq!(code(&o), 0, "{}", text(&o.stderr));
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).expect("warm --json is JSON");
    assert_eq!(v["outcome"], "warm");
    assert!(v["entries"]["installed"].as_u64().unwrap_or(0) > 0, "{v}");

    let o = gowarm(&env, &["detect", prog, "--from", &from]);
    assert_eq!(code(&o), 0, "warm must exit 0: {}", text(&o.stdout));
    let o = gowarm(&env, &["verify", prog]);
    assert_eq!(code(&o), 0, "{}{}", text(&o.stdout), text(&o.stderr));
    assert!(text(&o.stdout).contains("100.0%"), "{}", text(&o.stdout));

    // A pod with another GOMODCACHE and no -trimpath: modules yes, entries no, exit 5.
    let other = TempGoDirs::new().expect("other pod");
    let o = gowarm(&GoEnv::new(&*other), &["warm", prog, "--from", &from]);
    assert_eq!(code(&o), 5, "{}{}", text(&o.stdout), text(&o.stderr));
    assert!(
        text(&o.stdout).contains("gomodcache"),
        "{}",
        text(&o.stdout)
    );
    // And verify says the build cache does not serve this pod.
    let o = gowarm(&GoEnv::new(&*other), &["verify", prog, "--json"]);
    assert_eq!(code(&o), 6, "{}{}", text(&o.stdout), text(&o.stderr));
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).expect("verify --json");
    assert!(v["hit_ratio"].as_f64().unwrap_or(1.0) < 1.0, "{v}");
}

#[test]
fn errors_name_the_file_and_the_fix() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let pod = TempGoDirs::new().expect("pod");
    let env = GoEnv::new(&*pod);
    let program = tmp.path().join("program");
    copy_example_program(&program).expect("program");
    let prog = program.to_str().expect("utf-8");

    let o = gowarm(&env, &["warm", prog, "--from", "/no/such/warm"]);
    assert_eq!(code(&o), 1);
    assert!(
        text(&o.stderr).contains("/no/such/warm"),
        "{}",
        text(&o.stderr)
    );

    let o = gowarm(&env, &["warm", prog]);
    assert_eq!(code(&o), 1);
    assert!(text(&o.stderr).contains("--from"), "{}", text(&o.stderr));

    let empty = tmp.path().join("empty");
    std::fs::create_dir(&empty).expect("mkdir");
    let o = gowarm(&env, &["detect", empty.to_str().expect("utf-8")]);
    assert_eq!(code(&o), 1);
    assert!(text(&o.stderr).contains("no go.mod"), "{}", text(&o.stderr));

    let cfg = tmp.path().join("gowarm.toml");
    std::fs::write(&cfg, "[warm]\njobz = 3\n").expect("write");
    let o = gowarm(
        &env,
        &["--config", cfg.to_str().expect("utf-8"), "config", "show"],
    );
    assert_eq!(code(&o), 1);
    let e = text(&o.stderr);
    assert!(e.contains("gowarm.toml") && e.contains("jobz"), "{e}");

    let o = gowarm(
        &env,
        &["warm", prog, "--from", "/tmp", "--build-cache", "sometimes"],
    );
    assert_eq!(code(&o), 2, "usage errors exit 2");
    let o = gowarm(&env, &["warm", prog, "--from", "/tmp", "--jobs", "0"]);
    assert_eq!(code(&o), 2, "--jobs 0 is a usage error");

    let o = gowarm(&env, &["warm", prog, "--from", "gopher:foo"]);
    assert_eq!(code(&o), 1);
    assert!(
        text(&o.stderr).contains("unknown source kind"),
        "{}",
        text(&o.stderr)
    );

    // With --json an error is a JSON object on stdout too, for programs that parse it.
    let missing = tmp.path().join("nowhere");
    let o = gowarm(
        &env,
        &["detect", missing.to_str().expect("utf-8"), "--json"],
    );
    assert_eq!(code(&o), 1);
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).expect("error as JSON");
    let msg = v["error"].as_str().unwrap_or_default();
    assert!(msg.contains("not a directory"), "{msg}");
    assert!(
        !text(&o.stderr).contains("caused by"),
        "no duplicated cause: {}",
        text(&o.stderr)
    );
}

#[test]
fn config_show_prints_the_effective_configuration() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let pod = TempGoDirs::new().expect("pod");
    let cfg = tmp.path().join("g.toml");
    std::fs::write(
        &cfg,
        "[warm]\njobs = 3\n[[source]]\nkind = \"dir\"\npath = \"/mnt/warm\"\n",
    )
    .expect("write");
    let mut env = GoEnv::new(&*pod);
    env = env.env("GOWARM_JOBS", "5");
    let o = gowarm(
        &env,
        &["--config", cfg.to_str().expect("utf-8"), "config", "show"],
    );
    assert_eq!(code(&o), 0, "{}", text(&o.stderr));
    let out = text(&o.stdout);
    assert!(out.contains("jobs = 5"), "env overrides the file: {out}");
    assert!(out.contains("/mnt/warm"), "{out}");
}

#[test]
fn bake_from_config_with_warm_set_patterns_is_incremental_and_locked() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let mut proxy = ProxyDir::new(tmp.path().join("proxy")).expect("proxy");
    example_proxy(&mut proxy).expect("example");
    let repo = tmp.path().join("repo");
    for p in [
        "apis/widgets/provider/example/iac/pulumi",
        "apis/other/provider/example/iac/pulumi",
    ] {
        copy_example_program(&repo.join(p)).expect("program");
    }
    let config = tmp.path().join("gowarm.toml");
    std::fs::write(
        &config,
        format!(
            "[[source]]\nkind = \"goproxy\"\nurl = \"{}\"\n\n[bake]\nout = \"merged-cache\"\nroot = \"repo\"\ngoflags = \"-trimpath\"\n\n[[bake.set]]\nname = \"example\"\ntargets = [\"apis/**/provider/example/**/iac/pulumi\"]\n",
            proxy.url()
        ),
    )
    .expect("config");
    let cfg = config.to_str().expect("utf-8");
    let pod = TempGoDirs::new().expect("bake env");
    let env = GoEnv::new(&*pod);

    let o = gowarm(&env, &["--config", cfg, "bake"]);
    assert_eq!(code(&o), 0, "{}{}", text(&o.stdout), text(&o.stderr));
    let out = text(&o.stdout);
    assert!(
        out.contains("built example") && out.contains("2 targets"),
        "{out}"
    );
    assert!(out.contains("verify 100.0%"), "{out}");
    let merged = tmp.path().join("merged-cache");
    let m = merged.to_str().expect("utf-8");
    let o = gowarm(&env, &["manifest", "show", m]);
    let show = text(&o.stdout);
    assert!(show.contains("warm set example: 2 targets"), "{show}");
    assert!(show.contains("trimpath=true"), "{show}");

    // Nothing changed: up to date, in a fresh bake environment too.
    let fresh = TempGoDirs::new().expect("fresh bake env");
    let o = gowarm(&GoEnv::new(&*fresh), &["--config", cfg, "bake", "--json"]);
    assert_eq!(code(&o), 0, "{}", text(&o.stderr));
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).expect("bake --json");
    assert_eq!(v["up_to_date"], true, "{v}");

    // Another bake holds the output: --no-wait fails at once, naming the way out.
    let _held = gowarm::lock::OutputLock::acquire(&merged, false).expect("lock");
    let o = gowarm(&env, &["--config", cfg, "bake", "--no-wait"]);
    assert_eq!(code(&o), 1);
    assert!(
        text(&o.stderr).contains("another bake"),
        "{}",
        text(&o.stderr)
    );

    // A pattern that matches nothing names itself and the root.
    let bad = tmp.path().join("bad.toml");
    std::fs::write(
        &bad,
        "[bake]\nout = \"o\"\n[[bake.set]]\nname = \"gcp\"\ntargets = [\"apis/**/gcp/**\"]\n",
    )
    .expect("config");
    let o = gowarm(&env, &["--config", bad.to_str().expect("utf-8"), "bake"]);
    assert_eq!(code(&o), 1);
    let err = text(&o.stderr);
    assert!(
        err.contains("\"apis/**/gcp/**\" matches no module directory"),
        "{err}"
    );

    // A pod takes the set by name, without a program.
    let pod2 = TempGoDirs::new().expect("pod");
    let pod2_env = GoEnv::new(&*pod2).goflags("-trimpath");
    let from = format!("dir:{m}");
    let o = gowarm(&pod2_env, &["warm", "--set", "example", "--from", &from]);
    assert_eq!(code(&o), 0, "{}{}", text(&o.stdout), text(&o.stderr));
    assert!(
        text(&o.stdout).contains("warm sets: example"),
        "{}",
        text(&o.stdout)
    );
    let o = gowarm(&pod2_env, &["warm", "--set", "gcp", "--from", &from]);
    assert_eq!(code(&o), 1);
    assert!(
        text(&o.stderr).contains("it has: example"),
        "{}",
        text(&o.stderr)
    );
}

#[test]
fn warm_git_checks_out_once_and_reuses_the_stable_path() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let mut proxy = ProxyDir::new(tmp.path().join("proxy")).expect("proxy");
    example_proxy(&mut proxy).expect("example");
    let repo = tmp.path().join("repo");
    copy_example_program(&repo.join("iac")).expect("program");
    let git = |args: &[&str]| {
        let o = Command::new("git")
            .args(args)
            .current_dir(&repo)
            .env("GIT_AUTHOR_NAME", "t")
            .env("GIT_AUTHOR_EMAIL", "t@example.com")
            .env("GIT_COMMITTER_NAME", "t")
            .env("GIT_COMMITTER_EMAIL", "t@example.com")
            .output()
            .expect("git");
        assert!(o.status.success(), "git {args:?}: {}", text(&o.stderr));
    };
    git(&["init", "-q", "-b", "main"]);
    git(&["add", "."]);
    git(&["commit", "-q", "-m", "program"]);
    let url = format!("file://{}", repo.display());
    let pod = TempGoDirs::new().expect("pod");
    let env = GoEnv::new(&*pod).env("GOWARM_CONFIG", tmp.path().join("none.toml"));
    std::fs::write(
        tmp.path().join("none.toml"),
        format!(
            "[git]\ndir = \"{}\"\n",
            tmp.path().join("git-cache").display()
        ),
    )
    .expect("config");
    let args = [
        "warm",
        "--git",
        &url,
        "--rev",
        "main",
        "--subdir",
        "iac",
        "--from",
        &proxy.url(),
        "--json",
    ];
    let o = gowarm(&env, &args);
    assert_eq!(code(&o), 0, "{}{}", text(&o.stdout), text(&o.stderr));
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).expect("json");
    assert_eq!(v["checkout"]["fetch"], "clone", "{v}");
    assert_eq!(v["report"]["modules"]["installed"], 3, "{v}");
    let dir = v["checkout"]["dir"].as_str().expect("dir").to_string();
    assert!(std::path::Path::new(&dir).join("go.mod").is_file());

    let o = gowarm(&env, &args);
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).expect("json");
    assert_eq!(v["checkout"]["dir"], dir.as_str(), "same commit, same path");
    assert_eq!(v["report"]["modules"]["installed"], 0, "{v}");

    let o = gowarm(
        &env,
        &[
            "detect",
            "--git",
            &url,
            "--rev",
            "nope",
            "--from",
            &proxy.url(),
        ],
    );
    assert_eq!(code(&o), 1);
    assert!(text(&o.stderr).contains("nope"), "{}", text(&o.stderr));
    let o = gowarm(&env, &["warm", "--git", &url, "--from", &proxy.url()]);
    assert_eq!(code(&o), 1, "the repository root has no go.mod");
    assert!(text(&o.stderr).contains("go.mod"), "{}", text(&o.stderr));
}

#[test]
fn hook_warms_the_sets_then_writes_the_ready_file_or_stops_at_the_deadline() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let mut proxy = ProxyDir::new(tmp.path().join("proxy")).expect("proxy");
    example_proxy(&mut proxy).expect("example");
    let program = tmp.path().join("program");
    copy_example_program(&program).expect("program");
    let warm = tmp.path().join("warm");
    let bake_env = TempGoDirs::new().expect("bake env");
    let o = gowarm(
        &GoEnv::new(&*bake_env).goflags("-trimpath"),
        &[
            "bake",
            program.to_str().expect("utf-8"),
            "--out",
            warm.to_str().expect("utf-8"),
            "--from",
            &proxy.url(),
        ],
    );
    assert_eq!(code(&o), 0, "{}", text(&o.stderr));

    let pod = TempGoDirs::new().expect("pod");
    let env = GoEnv::new(&*pod).goflags("-trimpath");
    let ready = tmp.path().join("run/ready.json");
    let ready_s = ready.to_str().expect("utf-8");
    let from = format!("dir:{}", warm.display());
    let o = gowarm(
        &env,
        &[
            "hook",
            "--from",
            &from,
            "--deadline",
            "60",
            "--ready-file",
            ready_s,
        ],
    );
    assert_eq!(code(&o), 0, "{}{}", text(&o.stdout), text(&o.stderr));
    let v: serde_json::Value =
        serde_json::from_slice(&std::fs::read(&ready).expect("ready file")).expect("JSON");
    assert_eq!(v["report"]["outcome"], "warm", "{v}");
    assert_eq!(v["sets"][0], "all", "{v}");

    // Only the manifest is local; the modules would come from a proxy that never answers.
    let manifest_only = tmp.path().join("manifest-only");
    std::fs::create_dir(&manifest_only).expect("mkdir");
    std::fs::copy(
        warm.join("gowarm-manifest.json"),
        manifest_only.join("gowarm-manifest.json"),
    )
    .expect("copy manifest");
    let stall = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let stall_url = format!("http://{}", stall.local_addr().expect("addr"));
    let cold = TempGoDirs::new().expect("cold pod");
    let cold_env = GoEnv::new(&*cold).goflags("-trimpath");
    let from = format!("dir:{}", manifest_only.display());
    let args = [
        "hook",
        "--from",
        &from,
        "--from",
        &stall_url,
        "--deadline",
        "1.5",
        "--ready-file",
        ready_s,
    ];
    let t0 = std::time::Instant::now();
    let o = gowarm(&cold_env, &args);
    assert_eq!(code(&o), 7, "{}{}", text(&o.stdout), text(&o.stderr));
    assert!(t0.elapsed() < std::time::Duration::from_secs(10));
    assert!(
        !ready.exists(),
        "the stale ready file is gone and no new one is written"
    );
    let mut best = args.to_vec();
    best.push("--best-effort");
    let o = gowarm(&cold_env, &best);
    assert_eq!(code(&o), 0, "{}{}", text(&o.stdout), text(&o.stderr));
    let v: serde_json::Value =
        serde_json::from_slice(&std::fs::read(&ready).expect("ready file")).expect("JSON");
    assert_eq!(v["report"]["outcome"], "stopped", "{v}");
}

#[test]
fn flags_and_settings_that_cannot_work_are_refused_with_the_fix() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let pod = TempGoDirs::new().expect("pod");
    let env = GoEnv::new(&*pod);
    let o = gowarm(&env, &["warm", ".", "--subdir", "iac", "--from", "/x"]);
    assert_eq!(code(&o), 2, "{}", text(&o.stderr));
    assert!(
        text(&o.stderr).contains("need --git"),
        "{}",
        text(&o.stderr)
    );

    let cfg = tmp.path().join("g.toml");
    std::fs::write(&cfg, "[hook]\ndeadline_secs = 0\n").expect("write");
    let o = gowarm(
        &env,
        &["--config", cfg.to_str().expect("utf-8"), "config", "show"],
    );
    assert_eq!(code(&o), 1);
    let err = text(&o.stderr);
    assert!(
        err.contains("g.toml") && err.contains("deadline_secs"),
        "{err}"
    );

    let empty = tmp.path().join("token");
    std::fs::write(&empty, "  \n").expect("write");
    let o = gowarm(
        &env,
        &["serve", "--token-file", empty.to_str().expect("utf-8")],
    );
    assert_eq!(code(&o), 1);
    let err = text(&o.stderr);
    assert!(
        err.contains(&format!("token file {}", empty.display())) && !err.contains("File("),
        "{err}"
    );

    let warm = tmp.path().join("warm");
    std::fs::create_dir_all(warm.join("go-mod")).expect("warm dir");
    let from = format!("dir:{}", warm.display());
    let o = gowarm(
        &env,
        &["warm", "--git", "/nonexistent/repo", "--from", &from],
    );
    assert_eq!(code(&o), 1);
    assert!(
        text(&o.stderr).contains("no such directory"),
        "{}",
        text(&o.stderr)
    );
}
