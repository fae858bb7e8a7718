//! Detect latency through the C ABI on a real 187-module go.sum (the planton monorepo's, from
//! the team's shared/realworld): an empty pod, a warm-image `dir` source with a manifest.
//! Prints a table: median and p90 of `gowarm_detect`, and of `go env -json` alone (which
//! detect runs), measured in the same run. Goal: detect ≤ 10 ms.
//!
//! Run: `cargo bench -p gowarm-ffi --bench detect [-- CALLS]`.

use std::ffi::{CStr, CString};
use std::time::{Duration, Instant};

use gowarm_ffi::{
    gowarm_detect, gowarm_engine_free, gowarm_engine_new_from_toml, gowarm_string_free,
};
use gowarm_testkit::{go_binary, realworld_file, GoEnv, TempGoDirs};

fn stats(mut v: Vec<Duration>) -> (f64, f64) {
    v.sort();
    let ms = |d: Duration| d.as_secs_f64() * 1000.0;
    (ms(v[v.len() / 2]), ms(v[v.len() * 9 / 10]))
}

fn main() {
    let calls: usize = std::env::args()
        .skip(1)
        .find(|a| !a.starts_with('-'))
        .and_then(|a| a.parse().ok())
        .unwrap_or(50);
    let tmp = tempfile::tempdir().expect("tempdir");
    let module = tmp.path().join("planton");
    std::fs::create_dir(&module).expect("mkdir");
    std::fs::copy(
        realworld_file("planton-monorepo.go.mod"),
        module.join("go.mod"),
    )
    .expect("go.mod");
    std::fs::copy(
        realworld_file("planton-monorepo.go.sum"),
        module.join("go.sum"),
    )
    .expect("go.sum");
    // A warm image with a manifest but no content: detect reads it and checks every module.
    let warm = tmp.path().join("warm");
    std::fs::create_dir_all(warm.join("go-mod")).expect("warm");
    let pod = TempGoDirs::new().expect("pod");
    let env = GoEnv::new(&*pod);
    let mut toml = format!(
        "[go]\nbinary = {:?}\n[go.env]\n",
        go_binary().display().to_string()
    );
    for (k, v) in env.vars() {
        toml.push_str(&format!("{k} = {v:?}\n"));
    }
    toml.push_str(&format!(
        "[[source]]\nkind = \"dir\"\npath = {:?}\n",
        warm.display().to_string()
    ));
    let dir = CString::new(module.display().to_string()).expect("dir");

    let (cached, modules) = run_detect(&toml, &dir, calls, 30);
    let (uncached, _) = run_detect(&toml, &dir, calls, 0);
    let mut goenv = Vec::new();
    for _ in 0..calls {
        let t0 = Instant::now();
        let out = env
            .command(["env", "-json"])
            .current_dir(&module)
            .output()
            .expect("go env");
        assert!(out.status.success());
        goenv.push(t0.elapsed());
    }
    let (c50, c90) = stats(cached);
    let (u50, u90) = stats(uncached);
    let (g50, g90) = stats(goenv);
    println!("detect through the C ABI, planton go.mod/go.sum ({modules} modules in the plan), {calls} calls each\n");
    println!("| measure | median ms | p90 ms | vs go env |");
    println!("| --- | --- | --- | --- |");
    println!("| gowarm_detect, `go env` result reused ([go] env_cache_secs = 30, the default) | {c50:.2} | {c90:.2} | {:.2} |", c50 / g50);
    println!("| gowarm_detect, `go env -json` run every call (env_cache_secs = 0) | {u50:.2} | {u90:.2} | {:.2} |", u50 / g50);
    println!("| `go env -json` alone | {g50:.2} | {g90:.2} | 1.00 |");
    println!(
        "\ngoal: detect ≤ 10 ms: {}",
        if c50 <= 10.0 { "met" } else { "NOT met" }
    );
}

/// `calls` timed detects (after one untimed) through one engine whose `[go]
/// env_cache_secs` is `cache_secs`; returns the times and the plan's module count.
fn run_detect(toml: &str, dir: &CString, calls: usize, cache_secs: u64) -> (Vec<Duration>, usize) {
    let toml =
        CString::new(toml.replace("[go]\n", &format!("[go]\nenv_cache_secs = {cache_secs}\n")))
            .expect("toml");
    let mut engine = std::ptr::null_mut();
    let mut err = std::ptr::null_mut();
    // SAFETY: valid NUL-terminated strings and out-pointers.
    let status = unsafe { gowarm_engine_new_from_toml(toml.as_ptr(), &mut engine, &mut err) };
    assert_eq!(
        status,
        0,
        "engine: {}",
        unsafe { CStr::from_ptr(err) }.to_string_lossy()
    );
    let mut times = Vec::new();
    let mut modules = 0;
    for i in 0..=calls {
        let mut json = std::ptr::null_mut();
        let t0 = Instant::now();
        // SAFETY: a live engine, a valid path, a writable out-pointer.
        let status = unsafe { gowarm_detect(engine, dir.as_ptr(), &mut json) };
        let took = t0.elapsed();
        // SAFETY: gowarm returned this string; freed once.
        let text = unsafe { CStr::from_ptr(json) }
            .to_string_lossy()
            .into_owned();
        unsafe { gowarm_string_free(json) };
        assert!(
            status == 0 || status == 3,
            "detect failed ({status}): {text}"
        );
        if i == 0 {
            let v: serde_json::Value = serde_json::from_str(&text).expect("plan JSON");
            modules = v["modules"].as_array().map(Vec::len).unwrap_or(0);
            continue; // the first call starts the runtime and fills the OS caches
        }
        times.push(took);
    }
    // SAFETY: the handle from gowarm_engine_new_from_toml, freed once.
    unsafe { gowarm_engine_free(engine) };
    (times, modules)
}
