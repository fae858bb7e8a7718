use std::fs::{self, File};
use std::os::unix::fs::{symlink, PermissionsExt};
use std::sync::{Arc, Barrier};

use super::*;
use crate::modzip;
use crate::testutil::{raw_zip, RawEntry};

/// Known answers from go1.25.5 `go mod download -json example.com/Tiny@v1.0.0`,
/// served from a file:// GOPROXY holding exactly [`TINY_FILES`].
const TINY_SUM: &str = "h1:eMWEq96U9RMusxQ6cBVVVTHwtAdQNzUSogyoh3fSzko=";
const TINY_GOMOD_SUM: &str = "h1:hJpAmkWztnRToKz8QUbkCvkFCyS/bkGDqXGL9375TpE=";
const TINY_FILES: [(&str, &str); 3] = [
    ("go.mod", "module example.com/Tiny\n\ngo 1.21\n"),
    (
        "tiny.go",
        "package tiny\n\n// Hello says hi.\nfunc Hello() string { return \"hi\" }\n",
    ),
    ("sub/data.txt", "hello, world\n"),
];

fn tiny() -> ModuleVersion {
    ModuleVersion::new("example.com/Tiny", "v1.0.0")
}

fn write_tree(dir: &Path, files: &[(&str, &str)]) {
    for (name, content) in files {
        let p = dir.join(name);
        fs::create_dir_all(p.parent().unwrap()).unwrap();
        fs::write(p, content).unwrap();
    }
}

/// A temp dir holding the Tiny module's zip (made by create_from_dir) and a cache root.
struct Fixture {
    tmp: tempfile::TempDir,
    zip: PathBuf,
}

impl Fixture {
    fn new() -> Self {
        let tmp = tempfile::tempdir().unwrap();
        let src = tmp.path().join("src");
        write_tree(&src, &TINY_FILES);
        let zip = tmp.path().join("tiny.zip");
        let stats = modzip::create_from_dir(File::create(&zip).unwrap(), &tiny(), &src).unwrap();
        assert_eq!(stats.h1, TINY_SUM);
        Fixture { tmp, zip }
    }

    fn cache(&self, name: &str) -> ModCache {
        ModCache::new(self.tmp.path().join(name))
    }
}

fn mode(path: &Path) -> u32 {
    fs::symlink_metadata(path).unwrap().permissions().mode() & 0o7777
}

/// Everything under `root` except lock files (Go keeps those too).
fn listing(root: &Path) -> Vec<String> {
    if !root.exists() {
        return Vec::new();
    }
    let mut out: Vec<String> = walkdir::WalkDir::new(root)
        .min_depth(1)
        .into_iter()
        .map(|e| e.unwrap())
        .filter(|e| !e.file_type().is_dir())
        .map(|e| e.path().strip_prefix(root).unwrap().display().to_string())
        .filter(|p| !p.ends_with(".lock"))
        .collect();
    out.sort();
    out
}

#[test]
fn layout_uses_escaped_names() {
    let c = ModCache::new("/gomod");
    let m = ModuleVersion::new("github.com/BurntSushi/toml", "v1.0.0-RC1");
    assert_eq!(
        c.download_dir(&m).unwrap(),
        Path::new("/gomod/cache/download/github.com/!burnt!sushi/toml/@v")
    );
    assert_eq!(
        c.tree_dir(&m).unwrap(),
        Path::new("/gomod/github.com/!burnt!sushi/toml@v1.0.0-!r!c1")
    );
    assert_eq!(
        c.cache_file(&m, "ziphash").unwrap(),
        Path::new("/gomod/cache/download/github.com/!burnt!sushi/toml/@v/v1.0.0-!r!c1.ziphash")
    );
    assert_eq!(c.root(), Path::new("/gomod"));
    assert!(c
        .tree_dir(&ModuleVersion::new("bad path", "v1.0.0"))
        .is_err());
}

#[test]
fn install_from_zip_matches_go_layout_and_permissions() {
    let fx = Fixture::new();
    let cache = fx.cache("mod");
    let m = tiny();
    assert_eq!(
        cache.state(&m).unwrap(),
        ModuleState {
            has_mod: false,
            tree: TreeState::Absent
        }
    );
    let stats = cache.install_from_zip(&m, &fx.zip, TINY_SUM).unwrap();
    assert_eq!(
        stats,
        InstallStats {
            files: 3,
            bytes: TINY_FILES.iter().map(|(_, c)| c.len() as u64).sum(),
            already_present: false
        }
    );
    cache
        .install_gomod(&m, TINY_FILES[0].1.as_bytes(), Some(TINY_GOMOD_SUM))
        .unwrap();
    assert_eq!(
        cache.state(&m).unwrap(),
        ModuleState {
            has_mod: true,
            tree: TreeState::Complete {
                ziphash: TINY_SUM.into()
            }
        }
    );
    let root = cache.root();
    assert_eq!(
        listing(root),
        [
            "cache/download/example.com/!tiny/@v/v1.0.0.mod",
            "cache/download/example.com/!tiny/@v/v1.0.0.ziphash",
            "example.com/!tiny@v1.0.0/go.mod",
            "example.com/!tiny@v1.0.0/sub/data.txt",
            "example.com/!tiny@v1.0.0/tiny.go",
        ]
    );
    let tree = cache.tree_dir(&m).unwrap();
    for (name, content) in TINY_FILES {
        assert_eq!(fs::read_to_string(tree.join(name)).unwrap(), content);
        assert_eq!(mode(&tree.join(name)), 0o444, "{name}");
    }
    assert_eq!(mode(&tree), 0o555);
    assert_eq!(mode(&tree.join("sub")), 0o555);
    let ziphash = cache.cache_file(&m, "ziphash").unwrap();
    // fetch.go hashZip writes the hash with no trailing newline.
    assert_eq!(fs::read(&ziphash).unwrap(), TINY_SUM.as_bytes());
    assert_eq!(mode(&ziphash), 0o644);
    assert_eq!(mode(&cache.cache_file(&m, "mod").unwrap()), 0o644);
    assert_eq!(
        crate::dirhash::hash_dir(&tree, "example.com/Tiny@v1.0.0").unwrap(),
        TINY_SUM
    );
    assert!(cache.ziphash_matches(&m, TINY_SUM).unwrap());
    assert!(!cache.ziphash_matches(&m, TINY_GOMOD_SUM).unwrap());

    let again = cache.install_from_zip(&m, &fx.zip, TINY_SUM).unwrap();
    assert_eq!(
        again,
        InstallStats {
            files: 0,
            bytes: 0,
            already_present: true
        }
    );
}

#[test]
fn wrong_hash_from_zip_installs_nothing() {
    let fx = Fixture::new();
    let cache = fx.cache("mod");
    let e = cache
        .install_from_zip(&tiny(), &fx.zip, TINY_GOMOD_SUM)
        .unwrap_err();
    match &e {
        InstallError::HashMismatch {
            module,
            expected,
            actual,
            source_desc,
        } => {
            assert_eq!(module, "example.com/Tiny@v1.0.0");
            assert_eq!(expected, TINY_GOMOD_SUM);
            assert_eq!(actual, TINY_SUM);
            assert!(source_desc.contains("tiny.zip"));
        }
        other => panic!("expected HashMismatch, got {other:?}"),
    }
    let msg = e.to_string();
    assert!(
        msg.contains("does not match go.sum") && msg.contains("nothing was installed"),
        "{msg}"
    );
    assert_eq!(listing(cache.root()), Vec::<String>::new());
    assert_eq!(cache.state(&tiny()).unwrap().tree, TreeState::Absent);
    // No temporary directory is left next to where the tree would be.
    let parent = cache
        .tree_dir(&tiny())
        .unwrap()
        .parent()
        .unwrap()
        .to_path_buf();
    assert_eq!(fs::read_dir(parent).unwrap().count(), 0);
}

#[test]
fn install_from_tree_copies_verified_read_only_source() {
    let fx = Fixture::new();
    let warm = fx.cache("warm");
    warm.install_from_zip(&tiny(), &fx.zip, TINY_SUM).unwrap();
    let source = warm.tree_dir(&tiny()).unwrap();

    let cache = fx.cache("mod");
    let stats = cache.install_from_tree(&tiny(), &source, TINY_SUM).unwrap();
    assert_eq!((stats.files, stats.already_present), (3, false));
    let tree = cache.tree_dir(&tiny()).unwrap();
    assert_eq!(mode(&tree.join("tiny.go")), 0o444);
    assert_eq!(mode(&tree.join("sub")), 0o555);
    assert!(cache.ziphash_matches(&tiny(), TINY_SUM).unwrap());
    assert!(
        cache
            .install_from_tree(&tiny(), &source, TINY_SUM)
            .unwrap()
            .already_present
    );

    // Wrong hash: nothing visible.
    let other = fx.cache("other");
    let e = other
        .install_from_tree(&tiny(), &source, TINY_GOMOD_SUM)
        .unwrap_err();
    assert!(matches!(e, InstallError::HashMismatch { .. }), "{e}");
    assert!(e.to_string().contains("directory"), "{e}");
    assert_eq!(listing(other.root()), Vec::<String>::new());
}

#[test]
fn install_from_tree_refuses_links_and_bad_names() {
    let fx = Fixture::new();
    let src = fx.tmp.path().join("linked");
    write_tree(&src, &TINY_FILES);
    symlink("/etc/passwd", src.join("sub/passwd")).unwrap();
    let cache = fx.cache("mod");
    let e = cache
        .install_from_tree(&tiny(), &src, TINY_SUM)
        .unwrap_err();
    match &e {
        InstallError::SourceNotRegular { path, kind } => {
            assert_eq!(path, &src.join("sub/passwd"));
            assert_eq!(*kind, "symbolic link");
        }
        other => panic!("expected SourceNotRegular, got {other:?}"),
    }
    assert_eq!(listing(cache.root()), Vec::<String>::new());

    fs::remove_file(src.join("sub/passwd")).unwrap();
    fs::write(src.join("bad:name"), "x").unwrap();
    let e = cache
        .install_from_tree(&tiny(), &src, TINY_SUM)
        .unwrap_err();
    assert!(matches!(e, InstallError::InvalidSourceName { .. }), "{e}");
    assert_eq!(listing(cache.root()), Vec::<String>::new());
}

#[test]
fn concurrent_installs_both_succeed_with_one_tree() {
    let fx = Arc::new(Fixture::new());
    for round in 0..8 {
        let root = fx.tmp.path().join(format!("shared{round}"));
        let barrier = Arc::new(Barrier::new(2));
        let handles: Vec<_> = (0..2)
            .map(|_| {
                let (fx, root, barrier) = (fx.clone(), root.clone(), barrier.clone());
                std::thread::spawn(move || {
                    let cache = ModCache::new(root);
                    barrier.wait();
                    cache.install_from_zip(&tiny(), &fx.zip, TINY_SUM)
                })
            })
            .collect();
        let results: Vec<InstallStats> = handles
            .into_iter()
            .map(|h| h.join().unwrap().unwrap())
            .collect();
        assert_eq!(
            results.iter().filter(|s| !s.already_present).count(),
            1,
            "exactly one installer wrote the tree: {results:?}"
        );
        let cache = ModCache::new(&root);
        let tree = cache.tree_dir(&tiny()).unwrap();
        let siblings: Vec<_> = fs::read_dir(tree.parent().unwrap())
            .unwrap()
            .map(|e| e.unwrap().file_name())
            .collect();
        assert_eq!(
            siblings,
            [tree.file_name().unwrap()],
            "one tree, no temporaries"
        );
        assert!(cache.ziphash_matches(&tiny(), TINY_SUM).unwrap());
    }
}

#[test]
fn incomplete_tree_is_reported_and_replaced() {
    let fx = Fixture::new();
    let cache = fx.cache("mod");
    let m = tiny();
    let tree = cache.tree_dir(&m).unwrap();
    fs::create_dir_all(tree.join("junkdir")).unwrap();
    fs::write(tree.join("junkdir/junk.go"), "junk").unwrap();
    fs::set_permissions(tree.join("junkdir"), fs::Permissions::from_mode(0o555)).unwrap();
    fs::set_permissions(&tree, fs::Permissions::from_mode(0o555)).unwrap();
    // A tree without .ziphash is what a killed extraction leaves.
    assert_eq!(cache.state(&m).unwrap().tree, TreeState::Incomplete);
    // And a stale temporary directory from a killed gowarm.
    let stale = tree.with_file_name("!tiny@v1.0.0.tmp-stale");
    fs::create_dir_all(stale.join("x")).unwrap();
    fs::set_permissions(&stale, fs::Permissions::from_mode(0o555)).unwrap();

    let stats = cache.install_from_zip(&m, &fx.zip, TINY_SUM).unwrap();
    assert!(!stats.already_present);
    assert!(!tree.join("junkdir").exists());
    assert!(!stale.exists());
    assert_eq!(
        cache.state(&m).unwrap().tree,
        TreeState::Complete {
            ziphash: TINY_SUM.into()
        }
    );

    // A .partial marker (Go's in-progress extraction) also makes the tree incomplete,
    // and a reinstall removes it.
    let partial = cache.cache_file(&m, "partial").unwrap();
    fs::write(&partial, "").unwrap();
    assert_eq!(cache.state(&m).unwrap().tree, TreeState::Incomplete);
    cache.install_from_zip(&m, &fx.zip, TINY_SUM).unwrap();
    assert!(!partial.exists());
    assert!(matches!(
        cache.state(&m).unwrap().tree,
        TreeState::Complete { .. }
    ));

    // A malformed .ziphash is not trusted either.
    fs::write(cache.cache_file(&m, "ziphash").unwrap(), "garbage").unwrap();
    assert_eq!(cache.state(&m).unwrap().tree, TreeState::Incomplete);
}

#[test]
fn complete_tree_with_other_hash_is_not_replaced() {
    let fx = Fixture::new();
    let cache = fx.cache("mod");
    let m = tiny();
    cache.install_from_zip(&m, &fx.zip, TINY_SUM).unwrap();
    let e = cache
        .install_from_zip(&m, &fx.zip, TINY_GOMOD_SUM)
        .unwrap_err();
    assert!(matches!(e, InstallError::CachedMismatch { .. }), "{e}");
    assert!(e.to_string().contains("go clean -modcache"), "{e}");
    assert!(cache.ziphash_matches(&m, TINY_SUM).unwrap());
}

#[test]
fn bad_zip_installs_nothing() {
    let fx = Fixture::new();
    let cache = fx.cache("mod");
    let m = tiny();
    // Content longer than its header declares: passes check_zip, fails extraction.
    let lying = fx.tmp.path().join("lying.zip");
    fs::write(
        &lying,
        raw_zip(&[RawEntry {
            declared_size: Some(3),
            ..RawEntry::file(
                "example.com/Tiny@v1.0.0/go.mod",
                b"module example.com/Tiny\n",
            )
        }]),
    )
    .unwrap();
    let e = cache.install_from_zip(&m, &lying, TINY_SUM).unwrap_err();
    assert!(matches!(e, InstallError::BadZip(_)), "{e}");
    assert!(e.to_string().contains("lying.zip"), "{e}");
    assert_eq!(listing(cache.root()), Vec::<String>::new());
    let parent = cache.tree_dir(&m).unwrap().parent().unwrap().to_path_buf();
    assert_eq!(
        fs::read_dir(parent).unwrap().count(),
        0,
        "temporary tree removed"
    );

    let bytes = fs::read(&fx.zip).unwrap();
    let cut = fx.tmp.path().join("cut.zip");
    fs::write(&cut, &bytes[..bytes.len() - 30]).unwrap();
    let e = cache.install_from_zip(&m, &cut, TINY_SUM).unwrap_err();
    assert!(
        matches!(e, InstallError::BadZip(ZipError::Format { .. })),
        "{e}"
    );
    assert_eq!(listing(cache.root()), Vec::<String>::new());

    let escaping = fx.tmp.path().join("escaping.zip");
    fs::write(
        &escaping,
        raw_zip(&[RawEntry::file("example.com/Tiny@v1.0.0/../../evil", b"x")]),
    )
    .unwrap();
    let e = cache.install_from_zip(&m, &escaping, TINY_SUM).unwrap_err();
    assert!(e.to_string().contains("\"..\" path components"), "{e}");
    assert!(!fx.tmp.path().join("evil").exists());
}

#[test]
fn unwritable_cache_root_is_an_io_error_naming_the_path() {
    let fx = Fixture::new();
    // Tests run as root, which chmod does not stop; a regular file in the path does.
    let file = fx.tmp.path().join("not-a-dir");
    fs::write(&file, "").unwrap();
    let cache = ModCache::new(file.join("gomod"));
    let e = cache
        .install_from_zip(&tiny(), &fx.zip, TINY_SUM)
        .unwrap_err();
    match &e {
        InstallError::Io { path, .. } => assert!(path.starts_with(&file), "{}", path.display()),
        other => panic!("expected Io, got {other:?}"),
    }
    assert!(e.to_string().contains("not-a-dir"), "{e}");
    let e = cache
        .install_gomod(&tiny(), TINY_FILES[0].1.as_bytes(), None)
        .unwrap_err();
    assert!(
        matches!(&e, InstallError::Io { path, .. } if path.starts_with(&file)),
        "{e}"
    );
    let e = cache.state(&tiny()).unwrap_err();
    assert!(
        matches!(&e, ModCacheError::Io { path, .. } if path.starts_with(&file)),
        "{e}"
    );
}

#[test]
fn install_gomod_and_info_verify_and_replace_atomically() {
    let fx = Fixture::new();
    let cache = fx.cache("mod");
    let m = tiny();
    let e = cache
        .install_gomod(&m, b"module example.com/Tiny\n", Some(TINY_GOMOD_SUM))
        .unwrap_err();
    assert!(
        matches!(&e, InstallError::HashMismatch { module, .. } if module == "example.com/Tiny@v1.0.0/go.mod"),
        "{e}"
    );
    assert!(!cache.cache_file(&m, "mod").unwrap().exists());
    let e = cache.install_gomod(&m, b"x", Some("h1:short")).unwrap_err();
    assert!(matches!(e, InstallError::InvalidHash { .. }), "{e}");
    let e = cache
        .install_gomod(&ModuleVersion::new("example.com/Tiny", "v1.0"), b"x", None)
        .unwrap_err();
    assert!(matches!(e, InstallError::InvalidModule { .. }), "{e}");

    assert_eq!(
        cache
            .install_gomod(&m, TINY_FILES[0].1.as_bytes(), Some(TINY_GOMOD_SUM))
            .unwrap(),
        TINY_FILES[0].1.len() as u64
    );
    let info = br#"{"Version":"v1.0.0","Time":"2024-01-02T03:04:05Z"}"#;
    cache.install_info(&m, info).unwrap();
    cache.install_info(&m, info).unwrap();
    assert_eq!(
        fs::read(cache.cache_file(&m, "info").unwrap()).unwrap(),
        info
    );
    assert_eq!(
        listing(&cache.download_dir(&m).unwrap()),
        ["v1.0.0.info", "v1.0.0.mod"],
        "no temporary files left"
    );
}

#[test]
fn lock_timeout_reports_locked() {
    let fx = Fixture::new();
    let cache = fx
        .cache("mod")
        .with_lock_timeout(std::time::Duration::from_millis(50));
    let held = lock::lock(&cache.cache_file(&tiny(), "lock").unwrap(), None).unwrap();
    let e = cache
        .install_from_zip(&tiny(), &fx.zip, TINY_SUM)
        .unwrap_err();
    assert!(matches!(e, InstallError::Locked { .. }), "{e}");
    assert_eq!(cache.state(&tiny()).unwrap().tree, TreeState::Absent);
    drop(held);
    assert!(
        !cache
            .install_from_zip(&tiny(), &fx.zip, TINY_SUM)
            .unwrap()
            .already_present
    );
}
