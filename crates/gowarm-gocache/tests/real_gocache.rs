//! Against a GOCACHE written by the real Go toolchain: every entry parses and re-formats to
//! the same bytes, every output hashes to its ID, copied entries give Go full hits, and Go
//! reads our trim.txt and honours our mtimes when it trims.

use std::fs;
use std::path::Path;
use std::time::{Duration, SystemTime};

use gowarm_gocache::{
    format_action_entry, ActionEntry, BuildCache, CopyOptions, EntryState, Id, ENTRY_LEN,
};
use gowarm_testkit::{go_build, GoDirs, GoEnv, TempGoDirs};

fn write_hello(dir: &Path) {
    fs::create_dir_all(dir).unwrap();
    fs::write(dir.join("go.mod"), "module example.com/hello\n\ngo 1.22\n").unwrap();
    fs::write(
        dir.join("main.go"),
        "package main\n\nimport (\n\t\"fmt\"\n\t\"strings\"\n)\n\nfunc main() { fmt.Println(strings.ToUpper(\"hi\")) }\n",
    )
    .unwrap();
}

fn set_old(path: &Path, age: Duration) {
    let t = filetime::FileTime::from_system_time(SystemTime::now() - age);
    filetime::set_file_times(path, t, t).unwrap();
}

/// An entry no build uses, so only Go's trim (not its mtime refresh on use) touches it.
fn fake_entry(cache: &BuildCache, seed: u8) -> (Id, ActionEntry) {
    let data = vec![seed; 100];
    let output_id = cache.put_output(&data).unwrap();
    let id = Id([seed; 32]);
    let e = ActionEntry {
        output_id,
        size: 100,
        time_nanos: 1,
    };
    cache.write_action(&id, &e).unwrap();
    (id, e)
}

#[test]
fn real_go_cache_round_trips_and_copies() {
    let go = TempGoDirs::new().unwrap();
    let prog = go.root().join("hello");
    write_hello(&prog);
    let env = GoEnv::new(&go);
    let cold = go_build(&prog, &env, &go.root().join("hello-bin")).unwrap();
    assert!(cold.compiles > 0);

    let src = BuildCache::open(&go.gocache).unwrap();
    let entries = src.entries().unwrap();
    assert!(entries.len() > 50, "only {} entries", entries.len());
    for (id, e) in &entries {
        let raw = fs::read(src.action_path(id)).unwrap();
        assert_eq!(raw.len(), ENTRY_LEN);
        assert_eq!(&format_action_entry(id, e).unwrap()[..], &raw[..], "{id}");
        assert_eq!(src.entry_state(id).unwrap(), EntryState::Complete(*e));
        assert!(src.verify_output(&e.output_id).unwrap(), "output of {id}");
    }

    // Go's own trim.txt is what we would write for the same second.
    let go_trim = fs::read(src.trim_txt_path()).unwrap();
    let when = src.read_trim_txt().unwrap().unwrap();
    assert_eq!(
        gowarm_gocache::trim::format_trim_txt(when).as_bytes(),
        &go_trim[..]
    );

    // Copy every entry into a fresh cache, from sources with old mtimes.
    let dst_dirs = GoDirs {
        gocache: go.root().join("gocache-copy"),
        ..(*go).clone()
    };
    let dst = BuildCache::open(&dst_dirs.gocache).unwrap();
    let mut bytes = 0;
    for (id, e) in &entries {
        set_old(&src.action_path(id), Duration::from_secs(10 * 86400));
        let out = dst
            .copy_entry_from(
                &src,
                id,
                CopyOptions {
                    verify_output: true,
                },
            )
            .unwrap();
        assert!(out.bytes >= ENTRY_LEN as u64 || out.already_present);
        bytes += out.bytes;
        assert_eq!(dst.entry_state(id).unwrap(), EntryState::Complete(*e));
    }
    assert!(bytes > 0);
    dst.write_trim_txt(SystemTime::now()).unwrap();

    let stale = fake_entry(&dst, 0xf1);
    let kept = fake_entry(&dst, 0xf2);
    for (id, e) in [stale, kept] {
        set_old(&dst.action_path(&id), Duration::from_secs(10 * 86400));
        set_old(
            &dst.output_path(&e.output_id),
            Duration::from_secs(10 * 86400),
        );
    }
    dst.touch(&kept.0).unwrap();

    // Full hits from the copy. Our fresh trim.txt tells Go not to trim: the stale entry stays.
    let env_copy = GoEnv::new(&dst_dirs);
    let warm = go_build(&prog, &env_copy, &go.root().join("hello-bin2")).unwrap();
    assert_eq!(warm.compiles, 0, "{}", warm.stderr);
    assert!(
        dst.action_path(&stale.0).exists(),
        "Go trimmed despite a fresh trim.txt"
    );

    // A trim.txt two days old: Go trims, deleting the stale entry and keeping the touched one.
    dst.write_trim_txt(SystemTime::now() - Duration::from_secs(2 * 86400))
        .unwrap();
    go_build(&prog, &env_copy, &go.root().join("hello-bin3")).unwrap();
    assert!(
        !dst.action_path(&stale.0).exists(),
        "old entry survived Go's trim"
    );
    assert!(!dst.output_path(&stale.1.output_id).exists());
    assert_eq!(
        dst.entry_state(&kept.0).unwrap(),
        EntryState::Complete(kept.1)
    );
    let retrimmed = dst.read_trim_txt().unwrap().unwrap();
    assert!(
        SystemTime::now()
            .duration_since(retrimmed)
            .unwrap_or_default()
            < Duration::from_secs(120)
    );
}
