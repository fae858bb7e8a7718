//! Bench: Git-cloned programs, first job (clone + checkout) against the later jobs of the
//! same repository (fetch + checkout, reused), over `git daemon` on loopback.
//!
//! The repository is made of real Go code (Debian's godo and x/oauth2 sources, ~1.5 MB in
//! ~200 files, as a Pulumi program with its helpers would be) plus a few hundred commits,
//! each changing one file. Every row is measured in this run; the ratio is to the first
//! job. Usage: `cargo bench -p gowarm --bench git -- [COMMITS] [RUNS]` (defaults 300, 5).

use std::io::Write;
use std::net::{TcpListener, TcpStream};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use gowarm::git::{Checkout, FetchKind, GitCache, GitRequest};

/// Where the program's sources come from, and where they go in the repository.
const SOURCES: &[(&str, &str)] = &[
    ("github.com/digitalocean/godo", "internal/godo"),
    ("golang.org/x/oauth2", "internal/oauth2"),
    ("golang.org/x/net", "internal/net"),
];
const GOCODE: &str = "/usr/share/gocode/src";
/// Commits pushed upstream between the first and the second job.
const NEW_COMMITS: usize = 5;

fn main() {
    let args: Vec<usize> = std::env::args()
        .skip(1)
        .filter(|a| !a.starts_with("--")) // `cargo bench` passes --bench
        .map(|a| a.parse().unwrap_or_else(|_| usage()))
        .collect();
    let commits = args.first().copied().unwrap_or(300).max(2);
    let runs = args.get(1).copied().unwrap_or(5).max(1);

    let tmp = tempfile::tempdir().expect("temporary directory");
    let served = tmp.path().join("served");
    let repo = served.join("program");
    let t0 = Instant::now();
    let (files, bytes) = make_repository(&repo, commits);
    eprintln!(
        "bench: repository of {files} files ({:.1} MB) and {commits} commits made in {:.1} s",
        bytes as f64 / 1e6,
        t0.elapsed().as_secs_f64()
    );
    let daemon = Daemon::start(&served);
    let url = daemon.url("program");

    let mut rows: Vec<Row> = vec![
        Row::new("first job: clone + checkout (tag v1)"),
        Row::new("2nd job, 5 new commits upstream: fetch + checkout (main)"),
        Row::new("2nd job, another existing revision: fetch + checkout (tag v2)"),
        Row::new("3rd job, same commit id: reused"),
        Row::new("3rd job, same branch, nothing new: fetch + reused checkout"),
        Row::new("baseline: git clone --depth 1 (CLI) + checkout, per job"),
        Row::new("baseline: git clone (CLI) + checkout, per job"),
    ];
    let mut repo_size = 0;
    for run in 0..runs {
        let cache = GitCache::new(&tmp.path().join(format!("cache{run}")));
        let first = job(&cache, &url, "v1", FetchKind::Clone);
        rows[0].add(&first);
        add_commits(&repo, NEW_COMMITS, &format!("run {run}"));
        let second = job(&cache, &url, "main", FetchKind::Fetch);
        rows[1].add(&second);
        rows[2].add(&job(&cache, &url, "v2", FetchKind::Fetch));
        rows[3].add(&job(&cache, &url, &second.0.commit, FetchKind::Reused));
        let again = job(&cache, &url, "main", FetchKind::Fetch);
        assert!(!again.0.checked_out && again.0.root == second.0.root);
        rows[4].add(&again);
        repo_size = du(&cache.root().join("repos"));

        for (row, shallow) in [(5, true), (6, false)] {
            let dest = tmp.path().join(format!("cli{run}-{shallow}"));
            let t = Instant::now();
            let mut cmd = git_cmd(tmp.path());
            cmd.args(["clone", "-q", "--branch", "main"]);
            if shallow {
                cmd.args(["--depth", "1"]);
            }
            run_ok(cmd.arg(&url).arg(&dest));
            rows[row].times.push(t.elapsed());
            let _ = std::fs::remove_dir_all(&dest);
        }
        let _ = std::fs::remove_dir_all(cache.root());
    }

    let base = rows[0].median();
    println!();
    println!(
        "Git-cloned program: {files} files, {:.1} MB, {commits}+ commits; cached bare repository {:.1} MB; \
         git daemon on loopback; median of {runs} runs",
        bytes as f64 / 1e6,
        repo_size as f64 / 1e6
    );
    println!();
    println!(
        "| {:<62} | {:>9} | {:>7} | {:>16} | {:>10} | {:>12} |",
        "job", "median ms", "min ms", "fetch + checkout", "received", "vs first job"
    );
    println!(
        "|{:-<64}|{:->11}|{:->9}|{:->18}|{:->12}|{:->14}|",
        "", "", "", "", "", ""
    );
    for r in &rows {
        let received = match r.received {
            Some(b) => format!("{:.1} KB", b as f64 / 1e3),
            None => "-".into(),
        };
        println!(
            "| {:<62} | {:>9.1} | {:>7.1} | {:>16} | {:>10} | {:>11.3}x |",
            r.name,
            ms(r.median()),
            ms(r.min()),
            r.parts(),
            received,
            r.median().as_secs_f64() / base.as_secs_f64()
        );
    }
    drop(daemon);
}

fn usage() -> ! {
    eprintln!("usage: cargo bench -p gowarm --bench git -- [COMMITS] [RUNS]");
    std::process::exit(2)
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1e3
}

/// One row of the table: its samples.
struct Row {
    name: &'static str,
    times: Vec<Duration>,
    fetch_ms: Vec<u64>,
    checkout_ms: Vec<u64>,
    received: Option<u64>,
}

impl Row {
    fn new(name: &'static str) -> Row {
        Row {
            name,
            times: Vec::new(),
            fetch_ms: Vec::new(),
            checkout_ms: Vec::new(),
            received: None,
        }
    }

    fn add(&mut self, (c, took): &(Checkout, Duration)) {
        self.times.push(*took);
        self.fetch_ms.push(c.fetch_ms);
        self.checkout_ms.push(c.checkout_ms);
        self.received = Some(self.received.unwrap_or(0).max(c.received_bytes));
    }

    fn median(&self) -> Duration {
        median(&self.times)
    }

    fn min(&self) -> Duration {
        self.times.iter().copied().min().unwrap_or_default()
    }

    /// Median milliseconds fetching and checking out (gowarm rows only).
    fn parts(&self) -> String {
        if self.fetch_ms.is_empty() {
            return "-".into();
        }
        format!("{} + {}", median(&self.fetch_ms), median(&self.checkout_ms))
    }
}

fn median<T: Copy + Ord>(v: &[T]) -> T {
    let mut v = v.to_vec();
    v.sort();
    v[v.len() / 2]
}

/// A checkout that must succeed with the expected kind of fetch, and its wall time.
fn job(cache: &GitCache, url: &str, rev: &str, want: FetchKind) -> (Checkout, Duration) {
    let t = Instant::now();
    let c = cache
        .checkout(&GitRequest::new(url, rev))
        .unwrap_or_else(|e| panic!("checkout {rev}: {e}"));
    let took = t.elapsed();
    assert_eq!(c.fetch, want, "{rev}: {c:?}");
    assert!(c.dir.join("go.mod").is_file());
    (c, took)
}

/// Builds the repository with `git fast-import`: the sources in the first commit, then
/// `commits - 1` commits each appending a line to one file; tags v1 (a quarter of the way)
/// and v2 (half way). Returns the number of files and their bytes.
fn make_repository(dir: &Path, commits: usize) -> (usize, u64) {
    std::fs::create_dir_all(dir).expect("create the repository directory");
    run_ok(git_cmd(dir).args(["init", "-q", "-b", "main"]));
    let mut files: Vec<(String, Vec<u8>)> = vec![
        (
            "go.mod".into(),
            b"module example.com/iac/program\n\ngo 1.22\n".to_vec(),
        ),
        (
            "main.go".into(),
            b"package main\n\nfunc main() {}\n".to_vec(),
        ),
    ];
    for (src, dest) in SOURCES {
        let root = Path::new(GOCODE).join(src);
        assert!(
            root.is_dir(),
            "{} is missing: run scripts/ensure-tools (Debian's golang-*-dev sources)",
            root.display()
        );
        for e in walkdir::WalkDir::new(&root).sort_by_file_name() {
            let e = e.expect("walk the sources");
            // Debian's trees hold symlinks into other packages: real files only.
            if !e.file_type().is_file() {
                continue;
            }
            let rel = e.path().strip_prefix(&root).expect("below the root");
            let data = std::fs::read(e.path()).expect("read a source file");
            files.push((format!("{dest}/{}", rel.to_string_lossy()), data));
        }
    }
    let bytes = files.iter().map(|(_, d)| d.len() as u64).sum();
    let mut s = Vec::new();
    let mut time = 1_700_000_000u64;
    s.extend_from_slice(b"commit refs/heads/main\nmark :1\n");
    commit_header(&mut s, time, "import the program");
    for (path, data) in &files {
        inline_file(&mut s, path, data);
    }
    let go_files: Vec<usize> = (0..files.len())
        .filter(|&i| files[i].0.ends_with(".go"))
        .collect();
    for n in 1..commits {
        time += 60;
        let i = go_files[n * 7919 % go_files.len()];
        files[i]
            .1
            .extend_from_slice(format!("// change {n}\n").as_bytes());
        s.extend_from_slice(format!("commit refs/heads/main\nmark :{}\n", n + 1).as_bytes());
        commit_header(&mut s, time, &format!("change {n}"));
        inline_file(&mut s, &files[i].0, &files[i].1);
        for (tag, at) in [("v1", commits / 4), ("v2", commits / 2)] {
            if n == at.max(1) {
                s.extend_from_slice(
                    format!(
                        "tag {tag}\nfrom :{}\ntagger b <b@gowarm.invalid> {time} +0000\n",
                        n + 1
                    )
                    .as_bytes(),
                );
                data(&mut s, tag.as_bytes());
            }
        }
    }
    fast_import(dir, &s);
    run_ok(git_cmd(dir).args(["checkout", "-q", "-f", "main"]));
    (files.len(), bytes)
}

/// Appends `n` commits to `main` of the served (non-bare, checked out) repository.
fn add_commits(dir: &Path, n: usize, label: &str) {
    for i in 0..n {
        let f = dir.join("main.go");
        let mut text = std::fs::read_to_string(&f).expect("read main.go");
        text.push_str(&format!("// {label} commit {i}\n"));
        std::fs::write(&f, text).expect("write main.go");
        run_ok(git_cmd(dir).args(["commit", "-q", "-a", "-m", "upstream change"]));
    }
}

fn commit_header(s: &mut Vec<u8>, time: u64, message: &str) {
    s.extend_from_slice(format!("committer b <b@gowarm.invalid> {time} +0000\n").as_bytes());
    data(s, message.as_bytes());
}

fn inline_file(s: &mut Vec<u8>, path: &str, content: &[u8]) {
    s.extend_from_slice(format!("M 100644 inline {path}\n").as_bytes());
    data(s, content);
}

fn data(s: &mut Vec<u8>, bytes: &[u8]) {
    s.extend_from_slice(format!("data {}\n", bytes.len()).as_bytes());
    s.extend_from_slice(bytes);
    s.push(b'\n');
}

fn fast_import(dir: &Path, stream: &[u8]) {
    let mut child = git_cmd(dir)
        .args(["fast-import", "--quiet"])
        .stdin(Stdio::piped())
        .spawn()
        .expect("run git fast-import");
    child
        .stdin
        .take()
        .expect("stdin")
        .write_all(stream)
        .expect("feed git fast-import");
    assert!(
        child.wait().expect("wait for git").success(),
        "git fast-import failed"
    );
}

/// `git` isolated from the machine's and the user's configuration.
fn git_cmd(dir: &Path) -> Command {
    let mut cmd = Command::new("git");
    cmd.current_dir(dir)
        .env("GIT_CONFIG_NOSYSTEM", "1")
        .env("GIT_CONFIG_GLOBAL", "/dev/null")
        .env("GIT_AUTHOR_NAME", "b")
        .env("GIT_AUTHOR_EMAIL", "b@gowarm.invalid")
        .env("GIT_COMMITTER_NAME", "b")
        .env("GIT_COMMITTER_EMAIL", "b@gowarm.invalid");
    cmd
}

fn run_ok(cmd: &mut Command) {
    let out = cmd.output().expect("run git (is it on PATH?)");
    assert!(
        out.status.success(),
        "{cmd:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

fn du(dir: &Path) -> u64 {
    walkdir::WalkDir::new(dir)
        .into_iter()
        .flatten()
        .filter_map(|e| e.metadata().ok())
        .filter(|m| m.is_file())
        .map(|m| m.len())
        .sum()
}

/// `git daemon` serving `base` on a free loopback port, killed on drop.
struct Daemon {
    child: Child,
    port: u16,
}

impl Daemon {
    fn start(base: &Path) -> Daemon {
        for _ in 0..5 {
            let port = TcpListener::bind("127.0.0.1:0")
                .and_then(|l| l.local_addr())
                .map(|a| a.port())
                .expect("bind a loopback port");
            let mut child = git_cmd(base)
                .args([
                    "daemon",
                    "--reuseaddr",
                    "--export-all",
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
                    break;
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
