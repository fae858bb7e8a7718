//! Real SDK code for end-to-end tests: Debian's `golang-*-dev` sources under
//! `/usr/share/gocode/src`, served as modules from a file:// GOPROXY.
//!
//! Debian ships trees, not modules: their go.mod files require versions Debian does not
//! ship, and some have none. Each served go.mod is rewritten to require only corpus modules,
//! at the versions served. Versions are the upstream versions Debian packaged; the hashes are
//! those of these trees (not the upstream go.sum values).
//!
//! Zipping and hashing the ~170 MB aws-sdk-go and ~145 MB google-api trees takes about 20
//! seconds on two cores, so the finished proxy is cached under
//! `<target>/gowarm-testkit/corpus-<fingerprint>/`, keyed by the recipe and the sources'
//! names, sizes and mtimes; it is built in a temporary directory and renamed into place under
//! a file lock, so parallel test processes never see half a proxy.

use std::collections::BTreeMap;
use std::fs;
use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::sync::Mutex;

use gowarm_gomod::ModuleVersion;
use sha2::{Digest, Sha256};

use crate::error::{Result, TestkitError};
use crate::proxy::{walk_error, write_atomic, ModuleHashes, ProxyDir};

/// Where Debian's `golang-*-dev` packages install Go sources.
pub const DEBIAN_GOCODE: &str = "/usr/share/gocode/src";

/// Bump when the way the corpus is built changes, to invalidate cached corpora.
const RECIPE: &str = "gowarm-testkit debian corpus v2";

/// The go line written for sources that have no go.mod.
const DEFAULT_GO: &str = "1.17";

/// One Debian source tree served as a module.
struct DebianModule {
    path: &'static str,
    version: &'static str,
    package: &'static str,
}

/// The corpus: aws-sdk-go v1, godo and Google's API client with their dependencies, at
/// Debian's upstream versions.
const DEBIAN_MODULES: &[DebianModule] = &[
    DebianModule {
        path: "github.com/aws/aws-sdk-go",
        version: "v1.44.133",
        package: "golang-github-aws-aws-sdk-go-dev",
    },
    DebianModule {
        path: "github.com/jmespath/go-jmespath",
        version: "v0.4.0",
        package: "golang-github-jmespath-go-jmespath-dev",
    },
    DebianModule {
        path: "github.com/pkg/errors",
        version: "v0.9.1",
        package: "golang-github-pkg-errors-dev",
    },
    DebianModule {
        path: "golang.org/x/net",
        version: "v0.7.0",
        package: "golang-golang-x-net-dev",
    },
    DebianModule {
        path: "golang.org/x/sys",
        version: "v0.3.0",
        package: "golang-golang-x-sys-dev",
    },
    DebianModule {
        path: "golang.org/x/text",
        version: "v0.7.0",
        package: "golang-golang-x-text-dev",
    },
    DebianModule {
        path: "github.com/digitalocean/godo",
        version: "v1.37.0",
        package: "golang-github-digitalocean-godo-dev",
    },
    DebianModule {
        path: "github.com/google/go-querystring",
        version: "v1.1.0",
        package: "golang-github-google-go-querystring-dev",
    },
    DebianModule {
        path: "golang.org/x/oauth2",
        version: "v0.3.0",
        package: "golang-golang-x-oauth2-dev",
    },
    DebianModule {
        path: "github.com/google/go-cmp",
        version: "v0.5.9",
        package: "golang-github-google-go-cmp-dev",
    },
    // Google's API client and what compute/v1, storage/v1, dns/v1 and container/v1 import
    // (measured with `go list -deps`). Its go.mod asks for newer grpc (v1.40.0), gax-go
    // (v2.1.1), genproto (2021-11-18) and cloud.google.com/go (v0.97.0) than Debian ships;
    // these packages build with Debian's (tests/corpus_google.rs proves it). Serving them
    // also makes godo's and x/oauth2's go.mod require golang/protobuf and appengine.
    DebianModule {
        path: "google.golang.org/api",
        version: "v0.61.0",
        package: "golang-google-api-dev",
    },
    // Debian's golang-google-cloud 0.56.0 ships only compute/metadata, from when it was part
    // of the cloud.google.com/go module (now a module of its own, which x/oauth2 v0.3.0
    // requires at v0.2.0): served as cloud.google.com/go v0.56.0 holding that one package.
    // The rewrite drops x/oauth2's requirement on the unserved metadata module.
    DebianModule {
        path: "cloud.google.com/go",
        version: "v0.56.0",
        package: "golang-google-cloud-compute-metadata-dev",
    },
    // Debian's v2 directory has no go.mod: served with a synthesized one (no requirements).
    DebianModule {
        path: "github.com/googleapis/gax-go/v2",
        version: "v2.0.5",
        package: "golang-github-googleapis-gax-go-dev",
    },
    DebianModule {
        path: "go.opencensus.io",
        version: "v0.24.0",
        package: "golang-go.opencensus-dev",
    },
    // Debian's 0.0~git20200121.8c9f03a, at the pseudo-version opencensus's go.mod names.
    DebianModule {
        path: "github.com/golang/groupcache",
        version: "v0.0.0-20200121045136-8c9f03a8e57e",
        package: "golang-github-golang-groupcache-dev",
    },
    DebianModule {
        path: "google.golang.org/grpc",
        version: "v1.33.3",
        package: "golang-google-grpc-dev",
    },
    // Debian's 0.0~git20200413.b5235f6: the upstream pseudo-version of that commit.
    DebianModule {
        path: "google.golang.org/genproto",
        version: "v0.0.0-20200413115906-b5235f65be36",
        package: "golang-google-genproto-dev",
    },
    DebianModule {
        path: "github.com/golang/protobuf",
        version: "v1.5.2",
        package: "golang-github-golang-protobuf-1-5-dev",
    },
    DebianModule {
        path: "google.golang.org/protobuf",
        version: "v1.28.1",
        package: "golang-google-protobuf-dev",
    },
    // Not linked: x/oauth2/google and api's transport/http import it behind the `appengine`
    // build tag, but `go mod tidy` looks at every tag and fails without it (tried).
    DebianModule {
        path: "google.golang.org/appengine",
        version: "v1.6.7",
        package: "golang-google-appengine-dev",
    },
    // Left out, though Debian ships them (as dependencies of golang-google-api-dev): no
    // package these programs build imports them, and `go mod tidy` does not ask for them.
    // golang.org/x/sync (only api's support/bundler), github.com/golang/glog (only grpc's
    // grpclog/glogger), github.com/stretchr/testify (tests). api v0.61.0 predates
    // github.com/googleapis/enterprise-certificate-proxy.
];

/// Debian packages that add packages to a tree of [`DEBIAN_MODULES`] instead of shipping a
/// module: (directory under [`DEBIAN_GOCODE`], package). Each changes its module's hash, so
/// every machine must have it.
const DEBIAN_EXTRAS: &[(&str, &str)] = &[(
    "golang.org/x/oauth2/google",
    "golang-golang-x-oauth2-google-dev",
)];

/// The Debian packages the corpus is built from (for install scripts and error messages).
pub fn debian_corpus_packages() -> Vec<&'static str> {
    DEBIAN_MODULES
        .iter()
        .map(|m| m.package)
        .chain(DEBIAN_EXTRAS.iter().map(|(_, package)| *package))
        .collect()
}

/// The modules of the Debian corpus and their go.sum hashes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Corpus {
    /// Every module served, in a fixed order (aws-sdk-go first).
    pub modules: Vec<ModuleVersion>,
    hashes: BTreeMap<ModuleVersion, ModuleHashes>,
    cached_proxy: PathBuf,
}

impl Corpus {
    /// The served version of module `path`.
    pub fn module(&self, path: &str) -> Option<&ModuleVersion> {
        self.modules.iter().find(|m| m.path == path)
    }

    /// The served module providing package `import`: the longest module path that is
    /// `import` or a `/`-separated prefix of it.
    pub fn module_providing(&self, import: &str) -> Option<&ModuleVersion> {
        self.modules
            .iter()
            .filter(|m| {
                import == m.path
                    || import
                        .strip_prefix(m.path.as_str())
                        .is_some_and(|rest| rest.starts_with('/'))
            })
            .max_by_key(|m| m.path.len())
    }

    /// The go.sum hashes of `m`.
    pub fn hashes(&self, m: &ModuleVersion) -> Option<&ModuleHashes> {
        self.hashes.get(m)
    }

    /// The shared cached proxy tree the corpus was linked from. Read only: other tests
    /// use it at the same time.
    pub fn cached_proxy(&self) -> &Path {
        &self.cached_proxy
    }
}

#[derive(serde::Serialize, serde::Deserialize)]
struct CorpusFile {
    recipe: String,
    modules: Vec<CorpusFileModule>,
}

#[derive(serde::Serialize, serde::Deserialize)]
struct CorpusFileModule {
    path: String,
    version: String,
    hashes: ModuleHashes,
}

/// Adds the Debian corpus to `proxy` (copied from the cached build, built on first use).
pub fn debian_corpus(proxy: &mut ProxyDir) -> Result<Corpus> {
    let corpus = cached_corpus()?;
    let served: Vec<(ModuleVersion, ModuleHashes)> = corpus
        .modules
        .iter()
        .filter_map(|m| corpus.hashes(m).map(|h| (m.clone(), h.clone())))
        .collect();
    proxy.merge_from(&corpus.cached_proxy, &served)?;
    Ok(corpus)
}

/// The cached corpus, building it if needed; computed once per process.
pub fn cached_corpus() -> Result<Corpus> {
    static MEMO: Mutex<Option<Corpus>> = Mutex::new(None);
    // A panic while holding the lock poisons it; the memo is still a valid Option.
    let mut memo = MEMO.lock().unwrap_or_else(|e| e.into_inner());
    if let Some(c) = memo.as_ref() {
        return Ok(c.clone());
    }
    let corpus = load_or_build()?;
    *memo = Some(corpus.clone());
    Ok(corpus)
}

fn source_dir(m: &DebianModule) -> Result<PathBuf> {
    let dir = Path::new(DEBIAN_GOCODE).join(m.path);
    if !dir.is_dir() {
        return Err(TestkitError::MissingSource {
            path: dir,
            package: m.package,
        });
    }
    Ok(dir)
}

fn load_or_build() -> Result<Corpus> {
    let sources: Vec<PathBuf> = DEBIAN_MODULES
        .iter()
        .map(source_dir)
        .collect::<Result<_>>()?;
    for (dir, package) in DEBIAN_EXTRAS {
        let dir = Path::new(DEBIAN_GOCODE).join(dir);
        if !dir.is_dir() {
            return Err(TestkitError::MissingSource { path: dir, package });
        }
    }
    let key = fingerprint(&sources)?;
    let base = crate::target_dir().join("gowarm-testkit");
    fs::create_dir_all(&base).map_err(TestkitError::io("create directory", &base))?;
    let done = base.join(format!("corpus-{}", &key[..16]));
    if let Some(c) = load(&done)? {
        return Ok(c);
    }

    // One builder at a time across processes; the others wait and then find it built.
    let lock_path = base.join("corpus.lock");
    let lock = fs::OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .open(&lock_path)
        .map_err(TestkitError::io("open", &lock_path))?;
    fs4::fs_std::FileExt::lock_exclusive(&lock).map_err(TestkitError::io("lock", &lock_path))?;
    if let Some(c) = load(&done)? {
        return Ok(c);
    }
    let started = std::time::Instant::now();
    let tmp = tempfile::Builder::new()
        .prefix(".corpus-")
        .tempdir_in(&base)
        .map_err(TestkitError::io("create temporary directory in", &base))?;
    build(tmp.path(), &sources)?;
    // A directory without corpus.json is not a finished corpus (someone deleted part of it).
    if done.exists() {
        fs::remove_dir_all(&done).map_err(TestkitError::io("remove", &done))?;
    }
    fs::rename(tmp.path(), &done).map_err(TestkitError::io("rename into", &done))?;
    let _ = tmp.keep();
    tracing::info!(dir = %done.display(), elapsed = ?started.elapsed(), "built Debian corpus");
    remove_stale(&base, &done);
    drop(lock);
    load(&done)?.ok_or_else(|| TestkitError::BadData {
        path: done.join("corpus.json"),
        message: "missing right after building".into(),
    })
}

fn build(dir: &Path, sources: &[PathBuf]) -> Result<()> {
    let mut proxy = ProxyDir::new(dir.join("proxy"))?;
    let served: BTreeMap<&str, &str> = DEBIAN_MODULES.iter().map(|m| (m.path, m.version)).collect();
    let mut modules = Vec::new();
    for (m, src) in DEBIAN_MODULES.iter().zip(sources) {
        let gomod_path = src.join("go.mod");
        let original = match fs::read_to_string(&gomod_path) {
            Ok(t) => Some(t),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => None,
            Err(e) => return Err(TestkitError::io("read", gomod_path)(e)),
        };
        let gomod = rewrite_gomod(m.path, &gomod_path, original.as_deref(), &served)?;
        let hashes = proxy.add_module(m.path, m.version, src, Some(gomod))?;
        modules.push(CorpusFileModule {
            path: m.path.into(),
            version: m.version.into(),
            hashes,
        });
    }
    let file = CorpusFile {
        recipe: RECIPE.into(),
        modules,
    };
    let json = serde_json::to_vec_pretty(&file).map_err(|e| TestkitError::BadData {
        path: dir.join("corpus.json"),
        message: e.to_string(),
    })?;
    write_atomic(&dir.join("corpus.json"), &json)
}

fn load(dir: &Path) -> Result<Option<Corpus>> {
    let path = dir.join("corpus.json");
    let data = match fs::read(&path) {
        Ok(d) => d,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(TestkitError::io("read", path)(e)),
    };
    let bad = |message: String| TestkitError::BadData {
        path: path.clone(),
        message,
    };
    let file: CorpusFile = serde_json::from_slice(&data).map_err(|e| bad(e.to_string()))?;
    if file.recipe != RECIPE {
        return Err(bad(format!("recipe {:?}, want {RECIPE:?}", file.recipe)));
    }
    let mut corpus = Corpus {
        modules: Vec::new(),
        hashes: BTreeMap::new(),
        cached_proxy: dir.join("proxy"),
    };
    for m in file.modules {
        let mv = ModuleVersion::new(m.path, m.version);
        corpus.modules.push(mv.clone());
        corpus.hashes.insert(mv, m.hashes);
    }
    Ok(Some(corpus))
}

/// Best effort: deletes corpora built from older inputs (each is tens of megabytes).
fn remove_stale(base: &Path, keep: &Path) {
    let Ok(listing) = fs::read_dir(base) else {
        return;
    };
    for item in listing.flatten() {
        let path = item.path();
        let name = item.file_name();
        let name = name.to_string_lossy();
        if path != keep && (name.starts_with("corpus-") || name.starts_with(".corpus-")) {
            // A `.corpus-` directory left by a killed build is garbage too; one being
            // built now is impossible, as we hold the lock.
            let _ = fs::remove_dir_all(&path);
        }
    }
}

/// Hex SHA-256 of the recipe, the module table, and every source file's name, size and
/// mtime (content hashing would cost as much as building).
fn fingerprint(sources: &[PathBuf]) -> Result<String> {
    let mut h = Sha256::new();
    h.update(RECIPE.as_bytes());
    for (m, src) in DEBIAN_MODULES.iter().zip(sources) {
        let _ = writeln!(Hasher(&mut h), "module {} {}", m.path, m.version);
        for entry in walkdir::WalkDir::new(src)
            .follow_links(true)
            .sort_by_file_name()
        {
            let entry = entry.map_err(|e| walk_error(src, e))?;
            if !entry.file_type().is_file() {
                continue;
            }
            let meta = entry.metadata().map_err(|e| walk_error(src, e))?;
            let mtime = meta
                .modified()
                .ok()
                .and_then(|t| t.duration_since(std::time::UNIX_EPOCH).ok())
                .map_or(0, |d| d.as_nanos());
            let rel = entry.path().strip_prefix(src).unwrap_or(entry.path());
            let _ = writeln!(
                Hasher(&mut h),
                "{}\t{}\t{}",
                rel.display(),
                meta.len(),
                mtime
            );
        }
    }
    Ok(hex::encode(h.finalize()))
}

/// Lets `writeln!` feed a hasher.
struct Hasher<'a>(&'a mut Sha256);

impl std::io::Write for Hasher<'_> {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.update(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// The go.mod to serve for `path`: its module and go lines, and only the requirements on
/// modules the corpus serves, at the served versions. Without a go.mod: `module <path>`,
/// `go 1.17`.
pub(crate) fn rewrite_gomod(
    path: &str,
    file: &Path,
    original: Option<&str>,
    served: &BTreeMap<&str, &str>,
) -> Result<String> {
    let Some(text) = original else {
        return Ok(format!("module {path}\n\ngo {DEFAULT_GO}\n"));
    };
    // Lax, as Go parses dependency go.mod files (modfile.ParseLax).
    let parsed = gowarm_gomod::gomod::parse_lax(file, text).map_err(|e| TestkitError::BadData {
        path: file.to_path_buf(),
        message: e.to_string(),
    })?;
    let mut out = format!("module {path}\n");
    if let Some(go) = &parsed.go {
        out.push_str(&format!("\ngo {go}\n"));
    }
    let mut requires = Vec::new();
    for r in &parsed.require {
        if let Some(v) = served.get(r.path.as_str()) {
            if r.path != path
                && !requires
                    .iter()
                    .any(|(p, _, _): &(&str, &str, bool)| *p == r.path)
            {
                requires.push((r.path.as_str(), *v, r.indirect));
            }
        }
    }
    if !requires.is_empty() {
        out.push_str("\nrequire (\n");
        for (p, v, indirect) in requires {
            out.push_str(&format!(
                "\t{p} {v}{}\n",
                if indirect { " // indirect" } else { "" }
            ));
        }
        out.push_str(")\n");
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn served() -> BTreeMap<&'static str, &'static str> {
        DEBIAN_MODULES.iter().map(|m| (m.path, m.version)).collect()
    }

    #[test]
    fn rewrites_requires_to_served_modules() {
        // Debian's godo go.mod (1.37.0): most requirements are not shipped.
        let godo = "module github.com/digitalocean/godo

go 1.14

require (
	github.com/golang/protobuf v1.3.5 // indirect
	github.com/google/go-querystring v1.0.0
	github.com/stretchr/testify v1.4.0
	golang.org/x/net v0.0.0-20200324143707-d3edc9973b7e // indirect
	golang.org/x/oauth2 v0.0.0-20200107190931-bf48bf16ab8d
	google.golang.org/appengine v1.6.5 // indirect
)

replace github.com/stretchr/objx => github.com/stretchr/objx v0.2.0
";
        let out = rewrite_gomod(
            "github.com/digitalocean/godo",
            Path::new("go.mod"),
            Some(godo),
            &served(),
        )
        .unwrap();
        assert_eq!(
            out,
            "module github.com/digitalocean/godo

go 1.14

require (
	github.com/golang/protobuf v1.5.2 // indirect
	github.com/google/go-querystring v1.1.0
	golang.org/x/net v0.7.0 // indirect
	golang.org/x/oauth2 v0.3.0
	google.golang.org/appengine v1.6.7 // indirect
)
"
        );
    }

    #[test]
    fn ensure_tools_installs_every_corpus_package() {
        let script = crate::workspace_root().join("scripts/ensure-tools");
        let text = fs::read_to_string(&script).unwrap();
        for p in debian_corpus_packages() {
            assert!(
                text.lines().any(|l| l.trim() == p),
                "{} does not install {p}",
                script.display()
            );
        }
    }

    #[test]
    fn module_providing_takes_longest_path_prefix() {
        let corpus = Corpus {
            modules: vec![
                ModuleVersion::new("github.com/googleapis/gax-go", "v1.0.3"),
                ModuleVersion::new("github.com/googleapis/gax-go/v2", "v2.0.5"),
                ModuleVersion::new("golang.org/x/net", "v0.7.0"),
            ],
            hashes: BTreeMap::new(),
            cached_proxy: PathBuf::new(),
        };
        let path = |i: &str| corpus.module_providing(i).map(|m| m.path.as_str());
        assert_eq!(
            path("github.com/googleapis/gax-go/v2"),
            Some("github.com/googleapis/gax-go/v2")
        );
        assert_eq!(
            path("github.com/googleapis/gax-go/apierror"),
            Some("github.com/googleapis/gax-go")
        );
        assert_eq!(path("golang.org/x/net/http2"), Some("golang.org/x/net"));
        assert_eq!(path("golang.org/x/network"), None);
        assert_eq!(path("fmt"), None);
    }

    #[test]
    fn module_paths_are_unique() {
        let mut paths: Vec<&str> = DEBIAN_MODULES.iter().map(|m| m.path).collect();
        paths.sort_unstable();
        paths.dedup();
        assert_eq!(paths.len(), DEBIAN_MODULES.len());
    }

    #[test]
    fn missing_gomod_gets_module_and_go_lines() {
        let out = rewrite_gomod(
            "github.com/pkg/errors",
            Path::new("go.mod"),
            None,
            &served(),
        )
        .unwrap();
        assert_eq!(out, "module github.com/pkg/errors\n\ngo 1.17\n");
    }

    #[test]
    fn nothing_served_leaves_no_require_block() {
        let out = rewrite_gomod(
            "golang.org/x/sys",
            Path::new("go.mod"),
            Some("module golang.org/x/sys\n\ngo 1.17\n"),
            &served(),
        )
        .unwrap();
        assert_eq!(out, "module golang.org/x/sys\n\ngo 1.17\n");
    }
}
