//! Git-cloned modules end to end: real repositories made with the `git` CLI, served over
//! `file://` and by `git daemon` on loopback, checked out through [`GitCache`]. No Go
//! toolchain is needed.

use std::io::Read;
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Barrier};
use std::time::{Duration, Instant};

use gowarm::git::{repo_key, Checkout, FetchKind, GitCache, GitRequest};
use gowarm::Error;

/// Every cache of this file uses one timeout: libgit2 keeps it process-wide, and the tests
/// run in parallel threads of one process.
const TIMEOUT: Duration = Duration::from_secs(2);
/// How much longer than [`TIMEOUT`] a failing fetch may take.
const SLACK: Duration = Duration::from_secs(3);

/// `git` isolated from the machine's and the user's configuration.
fn git_cmd(dir: &Path) -> Command {
    let mut cmd = Command::new("git");
    cmd.current_dir(dir)
        .env("GIT_CONFIG_NOSYSTEM", "1")
        .env("GIT_CONFIG_GLOBAL", "/dev/null")
        .env("GIT_AUTHOR_NAME", "gowarm test")
        .env("GIT_AUTHOR_EMAIL", "test@gowarm.invalid")
        .env("GIT_COMMITTER_NAME", "gowarm test")
        .env("GIT_COMMITTER_EMAIL", "test@gowarm.invalid");
    cmd
}

/// Runs `git args` in `dir`, panicking with its stderr on failure; returns its stdout.
fn git(dir: &Path, args: &[&str]) -> String {
    let out = git_cmd(dir)
        .args(args)
        .output()
        .expect("run git (is it on PATH?)");
    assert!(
        out.status.success(),
        "git {args:?} in {}: {}",
        dir.display(),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).trim().to_string()
}

fn write(path: &Path, text: &str) {
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    std::fs::write(path, text).unwrap();
}

/// Commits everything in `dir`; returns the commit id.
fn commit(dir: &Path, message: &str) -> String {
    git(dir, &["add", "-A"]);
    git(dir, &["commit", "-q", "-m", message]);
    git(dir, &["rev-parse", "HEAD"])
}

/// A Go program's repository: two commits on `main`, an annotated tag `v1.0.0` on the
/// first and a lightweight `v1.1.0` on the second, a branch `feature` off the first, and
/// a second module in `tools/`.
struct ProgramRepo {
    dir: PathBuf,
    c1: String,
    c2: String,
    feature: String,
}

impl ProgramRepo {
    fn create(dir: &Path) -> ProgramRepo {
        std::fs::create_dir_all(dir).unwrap();
        git(dir, &["init", "-q", "-b", "main"]);
        write(&dir.join("go.mod"), "module example.com/prog\n\ngo 1.22\n");
        write(
            &dir.join("main.go"),
            "package main\n\nfunc main() { println(1) }\n",
        );
        write(
            &dir.join("tools/go.mod"),
            "module example.com/prog/tools\n\ngo 1.22\n",
        );
        write(&dir.join("tools/tool.go"), "package tools\n");
        write(&dir.join("internal/x/x.go"), "package x\n");
        let c1 = commit(dir, "first");
        git(dir, &["tag", "-a", "-m", "v1.0.0", "v1.0.0"]);
        git(dir, &["checkout", "-q", "-b", "feature"]);
        write(
            &dir.join("feature.go"),
            "package main\n\nvar feature = true\n",
        );
        let feature = commit(dir, "feature");
        git(dir, &["checkout", "-q", "main"]);
        write(
            &dir.join("main.go"),
            "package main\n\nfunc main() { println(2) }\n",
        );
        let c2 = commit(dir, "second");
        git(dir, &["tag", "v1.1.0"]);
        ProgramRepo {
            dir: dir.to_path_buf(),
            c1,
            c2,
            feature,
        }
    }

    fn file_url(&self) -> String {
        format!("file://{}", self.dir.display())
    }
}

fn cache(root: &Path) -> GitCache {
    GitCache::new(root).with_timeout(TIMEOUT)
}

fn checkout(cache: &GitCache, url: &str, rev: &str) -> Checkout {
    cache
        .checkout(&GitRequest::new(url, rev))
        .unwrap_or_else(|e| panic!("checkout {url} {rev}: {e}"))
}

fn checkout_err(cache: &GitCache, req: &GitRequest) -> (String, Duration) {
    let t0 = Instant::now();
    let e = cache
        .checkout(req)
        .expect_err("the checkout should have failed");
    assert!(matches!(e, Error::Git { .. }), "not Error::Git: {e:?}");
    eprintln!("error after {:?}: {e}", t0.elapsed());
    (e.to_string(), t0.elapsed())
}

/// The files of a checkout, relative, sorted.
fn files(dir: &Path) -> Vec<String> {
    let mut v: Vec<String> = walkdir::WalkDir::new(dir)
        .into_iter()
        .map(|e| e.unwrap())
        .filter(|e| e.file_type().is_file())
        .map(|e| {
            e.path()
                .strip_prefix(dir)
                .unwrap()
                .to_string_lossy()
                .into_owned()
        })
        .collect();
    v.sort();
    v
}

/// The files of `rev`'s tree in the source repository, sorted.
fn tree_files(repo: &Path, rev: &str) -> Vec<String> {
    let mut v: Vec<String> = git(repo, &["ls-tree", "-r", "--name-only", rev])
        .lines()
        .map(str::to_string)
        .collect();
    v.sort();
    v
}

/// Names in `dir` (empty when it does not exist).
fn names(dir: &Path) -> Vec<String> {
    let mut v: Vec<String> = std::fs::read_dir(dir)
        .map(|rd| {
            rd.map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
                .collect()
        })
        .unwrap_or_default();
    v.sort();
    v
}

#[test]
fn git_file_clone_then_fetch_then_reused_at_stable_paths() {
    let tmp = tempfile::tempdir().unwrap();
    let repo = ProgramRepo::create(&tmp.path().join("src/prog"));
    let url = repo.file_url();
    let cache = cache(&tmp.path().join("cache"));
    let key = repo_key(&url);

    let first = checkout(&cache, &url, "v1.0.0");
    assert_eq!(first.fetch, FetchKind::Clone);
    assert!(first.checked_out);
    assert_eq!(
        first.commit, repo.c1,
        "an annotated tag is peeled to its commit"
    );
    assert_eq!(
        first.root,
        cache.root().join("checkouts").join(&key).join(&repo.c1)
    );
    assert_eq!(first.dir, first.root);
    assert_eq!(files(&first.root), tree_files(&repo.dir, &repo.c1));
    assert!(
        !first.root.join(".git").exists(),
        "a checkout is the tree only"
    );
    assert!(std::fs::read_to_string(first.dir.join("main.go"))
        .unwrap()
        .contains("println(1)"));
    assert!(cache
        .root()
        .join("repos")
        .join(format!("{key}.git"))
        .is_dir());

    let second = checkout(&cache, &url, "main");
    assert_eq!(second.fetch, FetchKind::Fetch, "the second job fetches");
    assert_eq!(second.commit, repo.c2);
    assert!(second.checked_out);
    assert_ne!(second.root, first.root);
    assert!(std::fs::read_to_string(second.dir.join("main.go"))
        .unwrap()
        .contains("println(2)"));

    // A commit id the cache holds: no fetch, and the checkout already there.
    for rev in [repo.c2.clone(), repo.c2[..8].to_string()] {
        let again = checkout(&cache, &url, &rev);
        assert_eq!(again.fetch, FetchKind::Reused, "{rev}");
        assert!(!again.checked_out);
        assert_eq!(again.root, second.root);
        assert_eq!(again.received_bytes, 0);
    }
    // A branch is always asked of the remote (it may have moved), the checkout is reused.
    let branch_again = checkout(&cache, &url, "main");
    assert_eq!(branch_again.fetch, FetchKind::Fetch);
    assert!(!branch_again.checked_out);
    assert_eq!(branch_again.root, second.root);

    for (rev, want) in [
        ("v1.1.0", &repo.c2),
        ("refs/tags/v1.0.0", &repo.c1),
        ("feature", &repo.feature),
        ("refs/heads/feature", &repo.feature),
        ("HEAD", &repo.c2),
    ] {
        assert_eq!(&checkout(&cache, &url, rev).commit, want, "{rev}");
    }
    let tools = cache
        .checkout(&GitRequest::new(&url, "v1.0.0").with_subdir("./tools/"))
        .unwrap();
    assert_eq!(tools.dir, first.root.join("tools"));
    assert_eq!(tools.root, first.root);
    assert!(!tools.checked_out);

    // A deleted branch is pruned, not served stale.
    git(&repo.dir, &["branch", "-q", "-D", "feature"]);
    let (msg, _) = checkout_err(&cache, &GitRequest::new(&url, "feature"));
    assert!(msg.contains("revision \"feature\" not found"), "{msg}");

    assert_eq!(
        names(&cache.root().join("checkouts").join(&key)),
        {
            let mut v = vec![repo.c1.clone(), repo.c2.clone(), repo.feature.clone()];
            v.sort();
            v
        },
        "one checkout per commit, no leftovers"
    );
}

/// `git daemon` serving `base` on a free loopback port, killed on drop.
struct Daemon {
    child: Child,
    port: u16,
}

impl Daemon {
    fn start(base: &Path) -> Daemon {
        for _ in 0..5 {
            let port = free_port();
            let mut child = git_cmd(base)
                .args([
                    "daemon",
                    "--reuseaddr",
                    "--export-all",
                    "--informative-errors",
                    "--listen=127.0.0.1",
                ])
                .arg(format!("--port={port}"))
                .arg(format!("--base-path={}", base.display()))
                .arg(base)
                .stdin(Stdio::null())
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .spawn()
                .expect("start git daemon");
            let t0 = Instant::now();
            while t0.elapsed() < Duration::from_secs(10) {
                if let Ok(Some(_)) = child.try_wait() {
                    break; // the port was taken meanwhile: try another
                }
                if TcpStream::connect(("127.0.0.1", port)).is_ok() {
                    return Daemon { child, port };
                }
                std::thread::sleep(Duration::from_millis(20));
            }
            let _ = child.kill();
            let _ = child.wait();
        }
        panic!("git daemon did not start");
    }

    fn url(&self, repo: &str) -> String {
        format!("git://127.0.0.1:{}/{repo}", self.port)
    }
}

impl Drop for Daemon {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("bind a loopback port")
}

#[test]
fn git_daemon_clone_fetch_new_commit_and_commit_by_id() {
    let tmp = tempfile::tempdir().unwrap();
    let base = tmp.path().join("served");
    let repo = ProgramRepo::create(&base.join("prog"));
    // Lets upload-pack serve a commit no ref reaches, as hosting services do for commits
    // of deleted branches and pull requests.
    git(
        &repo.dir,
        &["config", "uploadpack.allowAnySHA1InWant", "true"],
    );
    let daemon = Daemon::start(&base);
    let url = daemon.url("prog");
    let cache = cache(&tmp.path().join("cache"));

    let t0 = Instant::now();
    let first = checkout(&cache, &url, "main");
    let clone_ms = t0.elapsed().as_millis();
    assert_eq!(first.fetch, FetchKind::Clone);
    assert_eq!(first.commit, repo.c2);
    assert!(first.received_bytes > 0, "{first:?}");
    assert_eq!(files(&first.root), tree_files(&repo.dir, &repo.c2));

    let t0 = Instant::now();
    let tag = checkout(&cache, &url, "v1.0.0");
    let fetch_ms = t0.elapsed().as_millis();
    assert_eq!(tag.fetch, FetchKind::Fetch);
    assert_eq!(tag.commit, repo.c1);
    assert_eq!(tag.received_bytes, 0, "nothing new upstream: {tag:?}");
    assert_eq!(checkout(&cache, &url, "HEAD").commit, repo.c2);

    // A new commit pushed to the branch: the branch name now gives it, at a new path.
    write(&repo.dir.join("new.go"), "package main\n\nvar n = 3\n");
    let c3 = commit(&repo.dir, "third");
    let moved = checkout(&cache, &url, "main");
    assert_eq!(moved.fetch, FetchKind::Fetch);
    assert_eq!(moved.commit, c3);
    assert!(moved.received_bytes > 0);
    assert!(moved.checked_out);
    assert_ne!(moved.root, first.root);
    assert!(moved.dir.join("new.go").is_file());
    assert!(
        first.root.join("main.go").is_file(),
        "earlier checkouts stay for the jobs using them"
    );

    // A ref outside branches and tags, by its full name.
    git(&repo.dir, &["checkout", "-q", "-b", "pr"]);
    write(&repo.dir.join("pr.go"), "package main\n");
    let pr = commit(&repo.dir, "pull request");
    git(&repo.dir, &["update-ref", "refs/pull/1/head", &pr]);
    git(&repo.dir, &["checkout", "-q", "main"]);
    git(&repo.dir, &["branch", "-q", "-D", "pr"]);
    let by_ref = checkout(&cache, &url, "refs/pull/1/head");
    assert_eq!(by_ref.commit, pr);
    assert!(by_ref.dir.join("pr.go").is_file());

    // A commit no ref reaches, by its full id.
    let tree = git(&repo.dir, &["rev-parse", "HEAD^{tree}"]);
    let orphan = git(
        &repo.dir,
        &["commit-tree", &tree, "-p", &c3, "-m", "orphan"],
    );
    let by_id = checkout(&cache, &url, &orphan);
    assert_eq!(by_id.fetch, FetchKind::Fetch);
    assert_eq!(by_id.commit, orphan);
    assert_eq!(checkout(&cache, &url, &orphan).fetch, FetchKind::Reused);

    eprintln!("git daemon: clone + checkout {clone_ms} ms, fetch + checkout {fetch_ms} ms");
}

#[test]
fn git_missing_revision_names_url_rev_and_what_was_tried() {
    let tmp = tempfile::tempdir().unwrap();
    let repo = ProgramRepo::create(&tmp.path().join("prog"));
    let url = repo.file_url();
    let cache = cache(&tmp.path().join("cache"));

    let (msg, _) = checkout_err(&cache, &GitRequest::new(&url, "nope"));
    assert!(
        msg.starts_with(&format!("git {url}: revision \"nope\" not found")),
        "{msg}"
    );
    for part in [
        "tag refs/tags/nope",
        "branch refs/heads/nope",
        "branches feature, main",
        "tags v1.0.0, v1.1.0",
    ] {
        assert!(msg.contains(part), "{part:?} missing from: {msg}");
    }

    let missing = "0123456789abcdef0123456789abcdef01234567";
    let (msg, _) = checkout_err(&cache, &GitRequest::new(&url, missing));
    assert!(msg.contains(&format!("commit id {missing}")), "{msg}");
    assert!(
        msg.contains("fetching it by id (the remote sent nothing"),
        "{msg}"
    );
    assert!(!msg.contains("tag refs/tags/0123"), "{msg}");

    let (msg, _) = checkout_err(&cache, &GitRequest::new(&url, "main~1"));
    assert!(msg.contains("revision expressions"), "{msg}");
    let (msg, _) = checkout_err(&cache, &GitRequest::new(&url, " "));
    assert!(msg.contains("no revision given"), "{msg}");
    assert!(
        !cache.root().join("checkouts").exists(),
        "nothing was checked out"
    );
}

#[test]
fn git_refused_connection_fails_fast_naming_the_url_without_credentials() {
    let tmp = tempfile::tempdir().unwrap();
    let cache = cache(&tmp.path().join("cache"));
    let port = free_port(); // nothing listens there any more
    for url in [
        format!("git://127.0.0.1:{port}/prog"),
        format!("http://user:s3cret@127.0.0.1:{port}/prog.git"),
    ] {
        let (msg, took) = checkout_err(&cache, &GitRequest::new(&url, "main"));
        // The connection itself failed at once; the whole call (libgit2's first use
        // included) well within the timeout even on a loaded machine.
        assert!(fetch_time(&msg) < TIMEOUT / 2, "{msg}");
        assert!(took < TIMEOUT + SLACK, "{url}: took {took:?}");
        assert!(msg.contains(&format!("127.0.0.1:{port}/prog")), "{msg}");
        assert!(msg.contains("clone failed"), "{msg}");
        assert!(!msg.contains("s3cret"), "credentials leaked: {msg}");
    }
    assert_eq!(
        names(&cache.root().join("repos"))
            .iter()
            .filter(|n| !n.ends_with(".lock"))
            .count(),
        0,
        "a failed clone leaves no repository: {:?}",
        names(&cache.root().join("repos"))
    );
}

/// How long the fetch ran before failing, as the error says ("clone failed after N ms").
fn fetch_time(msg: &str) -> Duration {
    let ms = msg
        .split_once("failed after ")
        .and_then(|(_, rest)| rest.split_once(" ms"))
        .and_then(|(n, _)| n.parse().ok())
        .unwrap_or_else(|| panic!("no fetch time in: {msg}"));
    Duration::from_millis(ms)
}

/// A server that accepts connections and never says anything, until dropped.
struct Silent {
    port: u16,
    stop: Arc<std::sync::atomic::AtomicBool>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl Silent {
    fn start() -> Silent {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        let stop = Arc::new(std::sync::atomic::AtomicBool::new(false));
        let stopped = stop.clone();
        let thread = std::thread::spawn(move || {
            let mut held = Vec::new();
            for conn in listener.incoming() {
                if stopped.load(std::sync::atomic::Ordering::SeqCst) {
                    break;
                }
                if let Ok(c) = conn {
                    held.push(c); // open, silent
                }
            }
        });
        Silent {
            port,
            stop,
            thread: Some(thread),
        }
    }
}

impl Drop for Silent {
    fn drop(&mut self) {
        self.stop.store(true, std::sync::atomic::Ordering::SeqCst);
        let _ = TcpStream::connect(("127.0.0.1", self.port)); // wake the accept loop
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

#[test]
fn git_silent_server_times_out_within_the_configured_timeout() {
    let tmp = tempfile::tempdir().unwrap();
    let silent = Silent::start();
    let urls = [
        format!("git://127.0.0.1:{}/prog", silent.port),
        format!("http://127.0.0.1:{}/prog.git", silent.port),
    ];
    // Both at once: the test takes one timeout, not two.
    let results: Vec<(String, String, Duration)> = std::thread::scope(|s| {
        let handles: Vec<_> = urls
            .iter()
            .enumerate()
            .map(|(i, url)| {
                let cache = cache(&tmp.path().join(format!("cache{i}")));
                s.spawn(move || {
                    let (msg, took) = checkout_err(&cache, &GitRequest::new(url, "main"));
                    (url.clone(), msg, took)
                })
            })
            .collect();
        handles.into_iter().map(|h| h.join().unwrap()).collect()
    });
    for (url, msg, took) in results {
        assert!(took < TIMEOUT + SLACK, "{url}: took {took:?}: {msg}");
        let waited = fetch_time(&msg);
        assert!(waited >= TIMEOUT - Duration::from_millis(100), "{msg}");
        assert!(waited < TIMEOUT + SLACK, "{msg}");
        assert!(
            msg.starts_with(&format!("git {url}: clone failed")),
            "{msg}"
        );
        assert!(msg.contains("timeout"), "{msg}");
        eprintln!("{url}: failed after {took:?}: {msg}");
    }
    drop(silent);
}

#[test]
fn git_repository_without_gomod_and_bad_subdirs() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("nomod");
    std::fs::create_dir_all(&dir).unwrap();
    git(&dir, &["init", "-q", "-b", "main"]);
    write(&dir.join("README.md"), "docs\n");
    write(&dir.join("docs/index.md"), "docs\n");
    write(&dir.join("svc/a/go.mod"), "module a\n");
    write(&dir.join("svc/b/go.mod"), "module b\n");
    write(&dir.join("svc/b/testdata/go.mod"), "module ignored\n");
    let c = commit(&dir, "no module at the root");
    let url = format!("file://{}", dir.display());
    let cache = cache(&tmp.path().join("cache"));

    let (msg, _) = checkout_err(&cache, &GitRequest::new(&url, "main"));
    assert!(
        msg.starts_with(&format!(
            "git {url}: no go.mod at the repository root in revision main (commit {c})"
        )),
        "{msg}"
    );
    assert!(msg.contains("go.mod files are in: svc/a, svc/b;"), "{msg}");
    let (msg, _) = checkout_err(&cache, &GitRequest::new(&url, "main").with_subdir("docs"));
    assert!(msg.contains("no go.mod at docs in revision main"), "{msg}");
    assert!(
        !cache.root().join("checkouts").exists(),
        "nothing is checked out for a repository without the module"
    );
    let ok = cache
        .checkout(&GitRequest::new(&url, "main").with_subdir("svc/b"))
        .unwrap();
    assert_eq!(ok.dir, ok.root.join("svc/b"));

    for bad in ["../x", "svc/../../x", "/etc"] {
        let (msg, _) = checkout_err(&cache, &GitRequest::new(&url, "main").with_subdir(bad));
        assert!(
            msg.contains("must be a relative path inside the repository"),
            "{msg}"
        );
    }

    let empty = tmp.path().join("empty");
    std::fs::create_dir_all(&empty).unwrap();
    git(&empty, &["init", "-q", "-b", "main"]);
    write(&empty.join("README.md"), "nothing\n");
    commit(&empty, "readme");
    let (msg, _) = checkout_err(
        &cache,
        &GitRequest::new(format!("file://{}", empty.display()), "main"),
    );
    assert!(msg.contains("the commit has no go.mod anywhere"), "{msg}");
}

#[test]
fn git_eight_threads_checking_out_one_revision_share_one_complete_tree() {
    let tmp = tempfile::tempdir().unwrap();
    let repo = ProgramRepo::create(&tmp.path().join("prog"));
    let url = repo.file_url();
    let root = tmp.path().join("cache");
    let barrier = Arc::new(Barrier::new(8));
    let results: Vec<Checkout> = std::thread::scope(|s| {
        let handles: Vec<_> = (0..8)
            .map(|_| {
                let (barrier, url, root) = (barrier.clone(), url.clone(), root.clone());
                s.spawn(move || {
                    // Each thread its own GitCache, as separate jobs would have.
                    let cache = cache(&root);
                    barrier.wait();
                    checkout(&cache, &url, "main")
                })
            })
            .collect();
        handles.into_iter().map(|h| h.join().unwrap()).collect()
    });
    let first = &results[0];
    for r in &results {
        assert_eq!(r.root, first.root);
        assert_eq!(r.commit, repo.c2);
    }
    let clones = results
        .iter()
        .filter(|r| r.fetch == FetchKind::Clone)
        .count();
    assert_eq!(clones, 1, "{results:#?}");
    let written = results.iter().filter(|r| r.checked_out).count();
    assert!(written >= 1, "{results:#?}");
    assert_eq!(files(&first.root), tree_files(&repo.dir, &repo.c2));
    let key = repo_key(&url);
    assert_eq!(
        names(&root.join("checkouts").join(&key)),
        vec![repo.c2.clone()],
        "the losers' copies are gone"
    );
    let kinds: Vec<FetchKind> = results.iter().map(|r| r.fetch).collect();
    eprintln!("8 threads: {kinds:?}, {written} wrote a tree");
}

#[test]
fn git_leftovers_of_killed_jobs_are_cleaned_up() {
    let tmp = tempfile::tempdir().unwrap();
    let repo = ProgramRepo::create(&tmp.path().join("prog"));
    let url = repo.file_url();
    let cache = cache(&tmp.path().join("cache"));
    let key = repo_key(&url);
    let repos = cache.root().join("repos");

    // A clone killed half way.
    std::fs::create_dir_all(repos.join(format!("{key}.git.tmp/objects"))).unwrap();
    write(&repos.join(format!("{key}.git.tmp/HEAD")), "garbage");
    let first = checkout(&cache, &url, "v1.0.0");
    assert_eq!(first.fetch, FetchKind::Clone);
    assert!(!repos.join(format!("{key}.git.tmp")).exists());

    // A fetch killed while updating a ref, and a checkout killed half way.
    let bare = repos.join(format!("{key}.git"));
    write(&bare.join("refs/remotes/origin/main.lock"), "");
    write(&bare.join("packed-refs.lock"), "");
    write(
        &bare.join("objects/pack/pack_git2_0123456789abcdef"),
        "half a pack",
    );
    let checkouts = cache.root().join("checkouts").join(&key);
    write(&checkouts.join(".tmp-killed/main.go"), "half");
    write(&checkouts.join(".tmp-killed/.gowarm-checkout.lock"), "");

    let second = checkout(&cache, &url, "main");
    assert_eq!(second.fetch, FetchKind::Fetch);
    assert_eq!(second.commit, repo.c2);
    assert!(!bare.join("refs/remotes/origin/main.lock").exists());
    assert!(!bare
        .join("objects/pack/pack_git2_0123456789abcdef")
        .exists());
    let mut want = vec![repo.c1.clone(), repo.c2.clone()];
    want.sort();
    assert_eq!(names(&checkouts), want);

    // A checkout someone emptied is reported, not silently used.
    let gomod = second.dir.join("go.mod");
    std::fs::remove_file(&gomod).unwrap();
    let (msg, _) = checkout_err(&cache, &GitRequest::new(&url, &repo.c2));
    assert!(msg.contains("was changed after it was made"), "{msg}");
    let mut f = std::fs::File::open(first.dir.join("go.mod")).unwrap();
    let mut s = String::new();
    f.read_to_string(&mut s).unwrap();
    assert!(s.starts_with("module example.com/prog"));
}
