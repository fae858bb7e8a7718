use std::io::Cursor;
use std::os::unix::fs::symlink;

use super::*;
use crate::dirhash;
use crate::testutil::{raw_zip, RawEntry, S_IFLNK};

fn mv() -> ModuleVersion {
    ModuleVersion::new("example.com/quirks", "v1.0.0")
}

fn write(path: &Path, content: &str) {
    if let Some(parent) = path.parent() {
        std::fs::create_dir_all(parent).unwrap();
    }
    std::fs::write(path, content).unwrap();
}

/// The tree of /tmp fixture `mktree.sh` used to get the known answers below from
/// go1.25.5's vendored golang.org/x/mod v0.25.0 (`zip.CreateFromDir` + `dirhash.HashZip`).
fn quirks_tree(dir: &Path, go_version: &str) {
    write(
        &dir.join("go.mod"),
        &format!("module example.com/quirks\n\ngo {go_version}\n"),
    );
    write(&dir.join("a.go"), "package quirks\n");
    write(&dir.join(".git/config"), "[core]\n");
    write(&dir.join("sub/go.mod"), "module example.com/quirks/sub\n");
    write(&dir.join("sub/x.go"), "package sub\n");
    write(
        &dir.join("vendor/modules.txt"),
        "# example.com/dep v1.0.0\n",
    );
    write(&dir.join("vendor/example.com/dep/dep.go"), "package dep\n");
    write(&dir.join("vendor/top.go"), "package vendor\n");
    write(&dir.join("pkg/vendor/vendor.go"), "package vendor\n");
    write(&dir.join("pkg/vendor/foo/foo.go"), "package foo\n");
    symlink("a.go", dir.join("link.go")).unwrap();
    write(&dir.join(".hg_archival.txt"), "repo: x\n");
    write(&dir.join("dir with space/file (1).txt"), "spaced\n");
    write(&dir.join("LICENSE"), "MIT\n");
    write(&dir.join("nested/deeper/z.txt"), "z\n");
    std::fs::create_dir_all(dir.join("empty/dir")).unwrap();
    write(&dir.join("other/GO.MOD"), "x");
    write(&dir.join("other/o.txt"), "in other\n");
}

fn zip_names(zip: &[u8]) -> Vec<String> {
    let mut a = zip::ZipArchive::new(Cursor::new(zip)).unwrap();
    (0..a.len())
        .map(|i| a.by_index(i).unwrap().name().to_string())
        .collect()
}

#[test]
fn create_from_dir_matches_go_before_1_24() {
    let tmp = tempfile::tempdir().unwrap();
    quirks_tree(tmp.path(), "1.21");
    let mut out = Cursor::new(Vec::new());
    let stats = create_from_dir(&mut out, &mv(), tmp.path()).unwrap();
    assert_eq!(stats.h1, "h1:mgQlBaMPRnDR2Fdy+3zNoGH9d0oQNPAFrfUg6AMZYj4=");
    let p = "example.com/quirks@v1.0.0/";
    let want: Vec<String> = [
        "LICENSE",
        "a.go",
        "dir with space/file (1).txt",
        "go.mod",
        "nested/deeper/z.txt",
        "vendor/modules.txt",
        "vendor/top.go",
    ]
    .iter()
    .map(|n| format!("{p}{n}"))
    .collect();
    assert_eq!(zip_names(out.get_ref()), want);
    assert_eq!(stats.files, 7);
    let omitted: Vec<(&str, &str)> = stats
        .omitted
        .iter()
        .map(|o| (o.path.as_str(), o.reason))
        .collect();
    for expected in [
        (".git", "directory is a version control repository"),
        ("sub", "directory is in another module"),
        ("link.go", "not a regular file"),
        ("pkg/vendor/vendor.go", "file is in vendor directory"),
        ("other/o.txt", "file is in another module"),
        (
            ".hg_archival.txt",
            "file is inserted by 'hg archive' and is always omitted",
        ),
    ] {
        assert!(
            omitted.contains(&expected),
            "{expected:?} not in {omitted:?}"
        );
    }
}

#[test]
fn create_from_dir_matches_go_from_1_24() {
    let tmp = tempfile::tempdir().unwrap();
    quirks_tree(tmp.path(), "1.24");
    let mut out = Cursor::new(Vec::new());
    let stats = create_from_dir(&mut out, &mv(), tmp.path()).unwrap();
    assert_eq!(stats.h1, "h1:caHjQnR1onGje4lNAsWFzx0iXdxgLiAG0A1q/Kw+EUo=");
    let names = zip_names(out.get_ref());
    assert!(names.contains(&"example.com/quirks@v1.0.0/pkg/vendor/vendor.go".to_string()));
    assert!(!names.contains(&"example.com/quirks@v1.0.0/vendor/modules.txt".to_string()));
}

#[test]
fn hash_dir_equals_hash_zip_of_created_zip() {
    let tmp = tempfile::tempdir().unwrap();
    let src = tmp.path().join("src");
    write(&src.join("go.mod"), "module example.com/Tiny\n\ngo 1.21\n");
    write(
        &src.join("tiny.go"),
        "package tiny\n\n// Hello says hi.\nfunc Hello() string { return \"hi\" }\n",
    );
    write(&src.join("sub/data.txt"), "hello, world\n");
    let m = ModuleVersion::new("example.com/Tiny", "v1.0.0");
    let zip_path = tmp.path().join("m.zip");
    let stats = create_from_dir(File::create(&zip_path).unwrap(), &m, &src).unwrap();
    // Known answer: `go mod download -json` of this module from a file:// proxy (Sum).
    let want = "h1:eMWEq96U9RMusxQ6cBVVVTHwtAdQNzUSogyoh3fSzko=";
    assert_eq!(stats.h1, want);
    assert_eq!(dirhash::hash_zip(&zip_path).unwrap(), want);
    assert_eq!(
        dirhash::hash_dir(&src, "example.com/Tiny@v1.0.0").unwrap(),
        want
    );
    let contents = check_zip(&zip_path, &m).unwrap();
    assert_eq!(contents.files().count(), 3);
    assert_eq!(contents.total_size, stats.bytes);
}

#[test]
fn create_from_dir_rejects_bad_trees() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    write(&dir.join("go.mod"), "module example.com/quirks\n");
    write(&dir.join("a.go"), "package a\n");
    write(&dir.join("A.go"), "package a\n");
    let e = create_from_dir(Cursor::new(Vec::new()), &mv(), dir).unwrap_err();
    assert!(
        e.to_string()
            .contains("case-insensitive file name collision"),
        "{e}"
    );
    std::fs::remove_file(dir.join("A.go")).unwrap();

    write(&dir.join("bad:name.go"), "x");
    let e = create_from_dir(Cursor::new(Vec::new()), &mv(), dir).unwrap_err();
    assert!(
        matches!(&e, ZipError::InvalidFile { file, .. } if file == "bad:name.go"),
        "{e}"
    );
    std::fs::remove_file(dir.join("bad:name.go")).unwrap();

    let e = create_from_dir(
        Cursor::new(Vec::new()),
        &ModuleVersion::new("example.com/quirks", "v1.0"),
        dir,
    )
    .unwrap_err();
    assert!(matches!(e, ZipError::Module { .. }), "{e}");

    // Size limits, lowered so the test does not write hundreds of megabytes.
    let small = Limits {
        max_zip_file: 30,
        max_go_mod: 40,
        max_license: 40,
    };
    let e = create_from_dir_limited(Cursor::new(Vec::new()), &mv(), dir, &small).unwrap_err();
    assert!(matches!(e, ZipError::TreeTooLarge { limit: 30, .. }), "{e}");
    let tiny_gomod = Limits {
        max_go_mod: 5,
        ..Limits::GO
    };
    let e = create_from_dir_limited(Cursor::new(Vec::new()), &mv(), dir, &tiny_gomod).unwrap_err();
    assert!(e.to_string().contains("go.mod file too large"), "{e}");
}

fn check_raw(entries: &[RawEntry]) -> Result<ZipContents, ZipError> {
    let tmp = tempfile::tempdir().unwrap();
    let path = tmp.path().join("bad.zip");
    std::fs::write(&path, raw_zip(entries)).unwrap();
    check_zip(&path, &mv())
}

fn entry(name: &str, data: &[u8]) -> RawEntry {
    RawEntry::file(name, data)
}

#[test]
fn check_zip_accepts_good_raw_zip() {
    let c = check_raw(&[
        entry("example.com/quirks@v1.0.0/", b""),
        entry(
            "example.com/quirks@v1.0.0/go.mod",
            b"module example.com/quirks\n",
        ),
        entry("example.com/quirks@v1.0.0/pkg/", b""),
        entry("example.com/quirks@v1.0.0/pkg/a.go", b"package pkg\n"),
    ])
    .unwrap();
    assert_eq!(c.entries.len(), 4);
    assert_eq!(
        c.files().map(|e| e.path.as_str()).collect::<Vec<_>>(),
        ["go.mod", "pkg/a.go"]
    );
    assert_eq!(c.total_size, 26 + 12);
}

#[test]
fn check_zip_rejects_each_bad_entry() {
    let p = "example.com/quirks@v1.0.0/";
    let ok = entry(&format!("{p}a.go"), b"package a\n");
    let cases: Vec<(Vec<RawEntry>, &str, &str)> = vec![
        (
            vec![entry(&format!("{p}../../etc/passwd"), b"x")],
            "../../etc/passwd",
            "\"..\" path components",
        ),
        (
            vec![entry("../escape.go", b"x")],
            "../escape.go",
            "\"..\" path components",
        ),
        (
            vec![entry("/etc/passwd", b"x")],
            "/etc/passwd",
            "absolute file names",
        ),
        (
            vec![entry("C:/x.go", b"x")],
            "C:/x.go",
            "absolute file names",
        ),
        (
            vec![RawEntry {
                mode: S_IFLNK | 0o777,
                ..entry(&format!("{p}link"), b"/etc/passwd")
            }],
            "link",
            "symbolic link entries are not allowed",
        ),
        (
            vec![ok.clone(), ok.clone()],
            "a.go",
            "multiple entries for file",
        ),
        (
            vec![ok.clone(), entry(&format!("{p}A.go"), b"x")],
            "A.go",
            "case-insensitive file name collision",
        ),
        (
            vec![
                entry(&format!("{p}d/x"), b"x"),
                entry(&format!("{p}D/y"), b"y"),
            ],
            "D/y",
            "case-insensitive file name collision",
        ),
        (
            vec![entry(&format!("{p}f"), b"x"), entry(&format!("{p}f/"), b"")],
            "f/",
            "both a file and a directory",
        ),
        (
            vec![entry(&format!("{p}sub/go.mod"), b"module x\n")],
            "sub/go.mod",
            "go.mod file not in module root",
        ),
        (
            vec![entry(&format!("{p}GO.MOD"), b"module x\n")],
            "GO.MOD",
            "lowercase names",
        ),
        (
            vec![entry("example.com/other@v1.0.0/a.go", b"x")],
            "a.go",
            "does not have prefix",
        ),
        (
            vec![entry(&format!("{p}a//b.go"), b"x")],
            "b.go",
            "not clean",
        ),
        (
            vec![entry(&format!("{p}./a.go"), b"x")],
            "a.go",
            "not clean",
        ),
        (
            vec![entry(&format!("{p}a?.go"), b"x")],
            "a?.go",
            "invalid char",
        ),
        (
            vec![RawEntry {
                declared_size: Some(MAX_GO_MOD + 1),
                ..entry(&format!("{p}go.mod"), b"module x\n")
            }],
            "go.mod",
            "go.mod file too large (max size is 16777216 bytes)",
        ),
        (
            vec![RawEntry {
                declared_size: Some(MAX_LICENSE + 1),
                ..entry(&format!("{p}LICENSE"), b"MIT")
            }],
            "LICENSE",
            "LICENSE file too large",
        ),
    ];
    for (entries, entry_fragment, rule) in cases {
        let e = check_raw(&entries).unwrap_err();
        let msg = e.to_string();
        assert!(matches!(e, ZipError::InvalidEntry { .. }), "{msg}");
        assert!(msg.contains("bad.zip"), "names the zip: {msg}");
        assert!(
            msg.contains(entry_fragment),
            "names {entry_fragment:?}: {msg}"
        );
        assert!(msg.contains(rule), "says {rule:?}: {msg}");
    }
}

#[test]
fn check_zip_enforces_total_and_file_size_limits() {
    let p = "example.com/quirks@v1.0.0/";
    // Declared sizes are what Go checks, so a few bytes can claim 300 MiB each.
    let big = |n: &str| RawEntry {
        declared_size: Some(300 << 20),
        ..entry(&format!("{p}{n}"), b"x")
    };
    let e = check_raw(&[big("a.bin"), big("b.bin")]).unwrap_err();
    assert!(
        matches!(
            e,
            ZipError::TooLarge {
                what: "total uncompressed size of module contents",
                limit: MAX_ZIP_FILE,
                ..
            }
        ),
        "{e}"
    );
    let at_limit = RawEntry {
        declared_size: Some(MAX_ZIP_FILE),
        ..entry(&format!("{p}a.bin"), b"x")
    };
    assert!(check_raw(&[at_limit]).is_ok());

    // The zip file itself: a sparse file one byte over the limit.
    let tmp = tempfile::tempdir().unwrap();
    let path = tmp.path().join("huge.zip");
    let f = File::create(&path).unwrap();
    f.set_len(MAX_ZIP_FILE + 1).unwrap();
    let e = check_zip(&path, &mv()).unwrap_err();
    assert!(
        matches!(
            e,
            ZipError::TooLarge {
                what: "module zip file",
                ..
            }
        ),
        "{e}"
    );

    let lowered = Limits {
        max_zip_file: 10,
        ..Limits::GO
    };
    let small = tmp.path().join("small.zip");
    std::fs::write(&small, raw_zip(&[entry(&format!("{p}a"), b"x")])).unwrap();
    let e = check_zip_limited(&small, &mv(), &lowered).unwrap_err();
    assert!(
        matches!(
            e,
            ZipError::TooLarge {
                what: "module zip file",
                ..
            }
        ),
        "{e}"
    );
}

#[test]
fn truncated_zip_is_a_clear_error() {
    let tmp = tempfile::tempdir().unwrap();
    let p = "example.com/quirks@v1.0.0/";
    let bytes = raw_zip(&[entry(&format!("{p}a.go"), b"package a\n")]);
    let path = tmp.path().join("cut.zip");
    std::fs::write(&path, &bytes[..bytes.len() / 2]).unwrap();
    let e = check_zip(&path, &mv()).unwrap_err();
    assert!(matches!(e, ZipError::Format { .. }), "{e}");
    let msg = e.to_string();
    assert!(
        msg.contains("cut.zip") && msg.contains("truncated"),
        "{msg}"
    );
    let e = check_zip(&tmp.path().join("missing.zip"), &mv()).unwrap_err();
    assert!(matches!(e, ZipError::Io { .. }) && e.to_string().contains("missing.zip"));
}

#[test]
fn declared_size_reader_enforces_sizes() {
    let mut out = Vec::new();
    let e = DeclaredSizeReader::new(&b"abcdef"[..], 3)
        .read_to_end(&mut out)
        .unwrap_err();
    assert_eq!(e.kind(), io::ErrorKind::InvalidData);
    let e = DeclaredSizeReader::new(&b"ab"[..], 3)
        .read_to_end(&mut Vec::new())
        .unwrap_err();
    assert_eq!(e.kind(), io::ErrorKind::UnexpectedEof);
    let mut ok = Vec::new();
    DeclaredSizeReader::new(&b"abc"[..], 3)
        .read_to_end(&mut ok)
        .unwrap();
    assert_eq!(ok, b"abc");
}

#[test]
fn vendored_package_rules() {
    let old = |n| is_vendored_package(n, false);
    let new = |n| is_vendored_package(n, true);
    assert!(!old("vendor/modules.txt") && new("vendor/modules.txt"));
    assert!(!old("vendor/top.go") && !new("vendor/top.go"));
    assert!(old("vendor/a/b.go") && new("vendor/a/b.go"));
    // golang.org/issue/37397: the old rule skips 8 bytes from the start, not the match.
    assert!(old("pkg/vendor/vendor.go") && !new("pkg/vendor/vendor.go"));
    assert!(old("pkg/vendor/foo/foo.go") && new("pkg/vendor/foo/foo.go"));
    assert!(!old("pkg/notvendor/x/y.go"));
    assert!(go_at_least_1_24(b"module m\ngo 1.24\n"));
    assert!(go_at_least_1_24(b"module m\ngo 1.25.0\n"));
    assert!(!go_at_least_1_24(b"module m\ngo 1.23.9\n"));
    assert!(!go_at_least_1_24(b"module m\n"));
    assert!(!go_at_least_1_24(b"\xff\xfe"));
}

#[test]
fn path_clean_matches_go() {
    for (input, want) in [
        ("", "."),
        ("a/b", "a/b"),
        ("a//b", "a/b"),
        ("a/./b", "a/b"),
        ("a/../b", "b"),
        ("../a", "../a"),
        ("a/..", "."),
        ("/a/../..", "/"),
        ("a/b/", "a/b"),
        ("./a", "a"),
        ("../../x/../y", "../../y"),
        ("/..", "/"),
        ("ab/cd/../../ef", "ef"),
    ] {
        assert_eq!(go_path_clean(input), want, "Clean({input:?})");
    }
}

#[test]
fn case_folding_matches_go_equal_fold() {
    assert_eq!(str_to_fold("abc/def"), "abc/def");
    assert_eq!(str_to_fold("ABC"), str_to_fold("abc"));
    // KELVIN SIGN folds with k and K; LONG S with s and S.
    assert_eq!(str_to_fold("\u{212A}"), str_to_fold("k"));
    assert_eq!(str_to_fold("\u{17F}"), str_to_fold("S"));
    assert_eq!(str_to_fold("\u{3C2}"), str_to_fold("\u{3A3}"));
    assert_eq!(str_to_fold("\u{1E9E}"), str_to_fold("\u{DF}"));
    assert_ne!(str_to_fold("a"), str_to_fold("b"));
    let mut c = CollisionChecker::default();
    assert!(c.check("dir/\u{212A}.go", false).is_ok());
    assert!(c.check("DIR/k.go", false).is_err());
}

#[test]
fn non_utf8_names_fail_unless_omitted() {
    use std::ffi::OsStr;
    use std::os::unix::ffi::OsStrExt;
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    write(&dir.join("go.mod"), "module example.com/quirks\n");
    // Inside a vendored package the name does not matter: the file is omitted.
    let vendored = dir.join("vendor/example.com/dep");
    std::fs::create_dir_all(&vendored).unwrap();
    std::fs::write(vendored.join(OsStr::from_bytes(b"bad\xff.go")), "x").unwrap();
    let stats = create_from_dir(Cursor::new(Vec::new()), &mv(), dir).unwrap();
    assert_eq!(stats.files, 1);
    std::fs::write(dir.join(OsStr::from_bytes(b"bad\xff.go")), "x").unwrap();
    let e = create_from_dir(Cursor::new(Vec::new()), &mv(), dir).unwrap_err();
    assert!(e.to_string().contains("not valid UTF-8"), "{e}");
}
