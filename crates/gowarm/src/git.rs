//! Git-cloned modules: a cache of bare repositories, one per URL, so that the second job
//! for a repository is a fetch and not a clone; and checkouts at a path that is stable per
//! repository and commit, reused by every later job, because without `-trimpath` the
//! program's own directory is part of its packages' build-cache keys (DESIGN.md,
//! BuildProfile): a directory per job would miss the BuildCache every time.
//!
//! Layout under the cache root ([`GitConfig::dir`]):
//! ```text
//! repos/<key>.git/                  bare repository: branches as refs/remotes/origin/*,
//!                                   tags as refs/tags/*, the remote's HEAD at the last
//!                                   fetch as refs/remotes/origin/HEAD
//! repos/<key>.git.tmp/              a clone in progress (renamed to <key>.git once its
//!                                   first fetch succeeded, so a failed clone leaves nothing)
//! repos/<key>.lock                  flock held while the repository is created or fetched
//! repos/<key>.fetched               start time of the last full fetch (lets a job that
//!                                   waited for a concurrent fetch skip its own)
//! checkouts/<key>/<commit id>/      the tree of one commit, complete, never changed after
//! checkouts/<key>/.new-<random>/    a checkout being made (not yet locked)
//! checkouts/<key>/.tmp-<random>/    a checkout in progress, locked through its
//!                                   .gowarm-checkout.lock (removed before the final rename)
//! ```
//! `<key>` is a readable slug of the URL's host and path plus 12 hex digits of the SHA-256
//! of the normalised URL ([`repo_key`]), so two URLs never share a repository.
//!
//! A checkout holds the tree only (no `.git`): Go then stamps no VCS information, and
//! nothing in it changes between jobs. Submodules are not checked out (their directories
//! are left empty) and LFS pointers stay pointers. Every job building a commit shares its
//! checkout, so jobs must treat it as read-only (`go build -o elsewhere` writes nothing
//! there; a `go build` without `-o` in the module directory would).

use std::fs::File;
use std::path::{Component, Path, PathBuf};
use std::sync::atomic::{AtomicI32, Ordering};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use fs4::fs_std::FileExt;
use git2::{AutotagOption, FetchOptions, FetchPrune, ObjectType, Oid, Repository};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::error::{Error, Result};

/// Where branches of the remote are kept in a bare repository of the cache.
const BRANCHES: &str = "+refs/heads/*:refs/remotes/origin/*";
/// Where tags of the remote are kept (forced: a moved tag follows the remote).
const TAGS: &str = "+refs/tags/*:refs/tags/*";
/// The remote's HEAD as of the last full fetch.
const REMOTE_HEAD: &str = "refs/remotes/origin/HEAD";
/// Other refs asked for by full name (`refs/pull/1/head`) are kept under this prefix.
const OTHER_REFS: &str = "refs/gowarm/";
/// Prefix of checkouts being made, before their lock is held (ignored by the sweep).
const NEW_PREFIX: &str = ".new-";
/// Prefix of checkouts in progress, their lock held.
const TMP_PREFIX: &str = ".tmp-";
/// The lock file inside a checkout in progress (removed before the final rename).
const CHECKOUT_LOCK: &str = ".gowarm-checkout.lock";
/// A checkout directory without a lock file (`.new-*`, or `.tmp-*` once its lock file is
/// removed) older than this was left by a killed process.
const STALE: Duration = Duration::from_secs(3600);
/// The shortest commit id prefix taken as a commit id (git's default abbreviation).
const MIN_COMMIT_PREFIX: usize = 7;
/// How many directories holding a go.mod a "no go.mod" error lists.
const GOMOD_HINTS: usize = 5;
/// How many branches and tags a "revision not found" error lists.
const REF_HINTS: usize = 8;

/// `[git]`: the cache of Git repositories that `gowarm warm --git` checks programs out of.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct GitConfig {
    /// The cache root; default `$XDG_CACHE_HOME/gowarm/git`, else `$HOME/.cache/gowarm/git`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub dir: Option<PathBuf>,
    /// Connect timeout, and longest silence while reading, for a remote, in seconds (0: none).
    #[serde(default = "default_timeout_secs")]
    pub timeout_secs: u64,
}

impl Default for GitConfig {
    fn default() -> Self {
        GitConfig {
            dir: None,
            timeout_secs: default_timeout_secs(),
        }
    }
}

fn default_timeout_secs() -> u64 {
    60
}

impl GitConfig {
    /// The cache root: [`GitConfig::dir`], or the default under the user's cache directory.
    pub fn cache_dir(&self) -> Result<PathBuf> {
        if let Some(dir) = &self.dir {
            return Ok(dir.clone());
        }
        let from_env = |name: &str| {
            std::env::var_os(name)
                .map(PathBuf::from)
                .filter(|p| p.is_absolute())
        };
        if let Some(xdg) = from_env("XDG_CACHE_HOME") {
            return Ok(xdg.join("gowarm").join("git"));
        }
        if let Some(home) = from_env("HOME") {
            return Ok(home.join(".cache").join("gowarm").join("git"));
        }
        Err(Error::Config {
            origin: "git.dir".into(),
            message: "neither XDG_CACHE_HOME nor HOME is set to an absolute path: set [git] dir"
                .into(),
        })
    }
}

/// One program to check out: a repository, a revision in it, and the module's directory.
#[derive(Clone, PartialEq, Eq)]
pub struct GitRequest {
    /// The repository URL (`https://`, `http://`, `git://`, `file://` or a local path).
    pub url: String,
    /// A branch, a tag, a full or short (7+ hex digits) commit id, `HEAD`, or a full ref name.
    pub rev: String,
    /// The module's directory inside the repository (relative; default the root).
    pub subdir: Option<PathBuf>,
}

impl GitRequest {
    /// A request for `rev` of the repository at `url`, module at the repository root.
    pub fn new(url: impl Into<String>, rev: impl Into<String>) -> GitRequest {
        GitRequest {
            url: url.into(),
            rev: rev.into(),
            subdir: None,
        }
    }

    /// The same request with the module in `subdir`.
    pub fn with_subdir(mut self, subdir: impl Into<PathBuf>) -> GitRequest {
        self.subdir = Some(subdir.into());
        self
    }
}

impl std::fmt::Debug for GitRequest {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("GitRequest")
            .field("url", &redact_url(&self.url))
            .field("rev", &self.rev)
            .field("subdir", &self.subdir)
            .finish()
    }
}

/// What the bare-repository cache had to do for a checkout.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum FetchKind {
    /// The repository was not cached: it was cloned (all branches and tags).
    Clone,
    /// The cached repository was brought up to date from the remote.
    Fetch,
    /// Nothing was asked of the remote: the commit was cached already, or a concurrent
    /// fetch that started after this request brought the branches and tags up to date.
    Reused,
}

/// A checked-out program, ready for detect/warm and the job's build.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Checkout {
    /// The module directory: [`Checkout::root`] plus the request's subdir (holds go.mod).
    pub dir: PathBuf,
    /// The checkout of the whole commit, stable per repository and commit.
    pub root: PathBuf,
    /// The full commit id the revision resolved to.
    pub commit: String,
    /// What the bare-repository cache had to do.
    pub fetch: FetchKind,
    /// Bytes received from the remote by this call.
    pub received_bytes: u64,
    /// Whether this call wrote the tree (false: an earlier or concurrent call had).
    pub checked_out: bool,
    /// Time spent resolving the revision, fetching included.
    pub fetch_ms: u64,
    /// Time spent checking the tree out (0 when it was there).
    pub checkout_ms: u64,
    /// Wall time of the whole call.
    pub duration_ms: u64,
}

/// A cache of bare repositories and stable checkouts, safe to use from many threads and
/// processes at once.
#[derive(Debug, Clone)]
pub struct GitCache {
    root: PathBuf,
    timeout: Duration,
}

impl GitCache {
    /// A cache rooted at `root` (created when first used), with the default timeout.
    pub fn new(root: &Path) -> GitCache {
        GitCache {
            root: std::path::absolute(root).unwrap_or_else(|_| root.to_path_buf()),
            timeout: Duration::from_secs(default_timeout_secs()),
        }
    }

    /// A cache as `[git]` configures it.
    pub fn from_config(config: &GitConfig) -> Result<GitCache> {
        Ok(GitCache::new(&config.cache_dir()?)
            .with_timeout(Duration::from_secs(config.timeout_secs)))
    }

    /// The same cache with another connect/read timeout for remotes (zero: none).
    ///
    /// libgit2 keeps these timeouts process-wide and reads them when it opens a connection:
    /// caches with different timeouts used at once in one process share the last one set.
    pub fn with_timeout(mut self, timeout: Duration) -> GitCache {
        self.timeout = timeout;
        self
    }

    /// The cache root.
    pub fn root(&self) -> &Path {
        &self.root
    }

    /// The connect/read timeout for remotes.
    pub fn timeout(&self) -> Duration {
        self.timeout
    }

    /// Resolves `req.rev` (fetching when needed) and checks its commit out at the stable
    /// path for that repository and commit, unless a checkout is there already.
    pub fn checkout(&self, req: &GitRequest) -> Result<Checkout> {
        let t0 = Instant::now();
        let asked_at = SystemTime::now();
        let ctx = Ctx {
            raw_url: req.url.trim(),
            url: redact_url(req.url.trim()),
            rev: req.rev.trim(),
        };
        if ctx.raw_url.is_empty() {
            return Err(ctx.err("empty repository URL"));
        }
        // A plain local path (no scheme, not scp-like host:path) must exist; libgit2 would
        // call a missing one an "unsupported URL protocol".
        let local = !ctx.raw_url.contains("://") && !ctx.raw_url.contains(':');
        if local && !Path::new(ctx.raw_url).exists() {
            return Err(ctx.err(
                "no such directory: pass an existing repository path, or a URL (https://, git://, ssh://, file://)",
            ));
        }
        check_rev(ctx.rev).map_err(|m| ctx.err(m))?;
        let subdir = check_subdir(req.subdir.as_deref()).map_err(|m| ctx.err(m))?;
        let key = repo_key(ctx.raw_url);
        let repos = self.root.join("repos");
        let repo_dir = repos.join(format!("{key}.git"));

        let (commit, fetch, received_bytes) = match cached_commit(&repo_dir, ctx.rev) {
            Some(id) => (id, FetchKind::Reused, 0),
            None => self.update_and_resolve(&ctx, &repos, &key, asked_at)?,
        };
        let fetch_ms = t0.elapsed().as_millis() as u64;

        let repo = open(&ctx, &repo_dir)?;
        let tree = repo
            .find_commit(commit)
            .and_then(|c| c.tree())
            .map_err(|e| ctx.git_err(&format!("reading commit {commit}"), &e))?;
        let gomod = subdir.join("go.mod");
        match tree.get_path(&gomod) {
            Ok(entry) if entry.kind() == Some(ObjectType::Blob) => {}
            _ => return Err(ctx.err(no_gomod_message(&ctx, &subdir, commit, &tree))),
        }

        let root = self
            .root
            .join("checkouts")
            .join(&key)
            .join(commit.to_string());
        let t1 = Instant::now();
        let checked_out = if root.is_dir() {
            false
        } else {
            check_out(&ctx, &repo, &tree, &root)?
        };
        let checkout_ms = if checked_out {
            t1.elapsed().as_millis() as u64
        } else {
            0
        };
        let dir = if subdir.as_os_str().is_empty() {
            root.clone()
        } else {
            root.join(&subdir)
        };
        if !dir.join("go.mod").is_file() {
            return Err(ctx.err(format!(
                "{} has no go.mod although commit {commit} has one there: the checkout was \
                 changed after it was made; remove {} and retry",
                dir.display(),
                root.display()
            )));
        }
        let out = Checkout {
            dir,
            root,
            commit: commit.to_string(),
            fetch,
            received_bytes,
            checked_out,
            fetch_ms,
            checkout_ms,
            duration_ms: t0.elapsed().as_millis() as u64,
        };
        tracing::info!(
            url = %ctx.url, rev = ctx.rev, commit = %out.commit, fetch = ?out.fetch,
            received_bytes, checked_out, ms = out.duration_ms, dir = %out.dir.display(),
            "git checkout ready"
        );
        Ok(out)
    }

    /// Under the repository's lock: clones or fetches (unless a fetch that started after
    /// `asked_at` just did), then resolves the revision.
    fn update_and_resolve(
        &self,
        ctx: &Ctx<'_>,
        repos: &Path,
        key: &str,
        asked_at: SystemTime,
    ) -> Result<(Oid, FetchKind, u64)> {
        std::fs::create_dir_all(repos).map_err(|e| Error::io("creating", repos, e))?;
        let _lock = lock(ctx, &repos.join(format!("{key}.lock")))?;
        let repo_dir = repos.join(format!("{key}.git"));
        let stamp = repos.join(format!("{key}.fetched"));
        let mut refspecs = vec![BRANCHES.to_string(), TAGS.to_string()];
        let extra = other_ref(ctx.rev);
        if let Some(local) = &extra {
            refspecs.push(format!("+{}:{local}", ctx.rev));
        }
        let started = SystemTime::now();

        let (repo, kind, mut bytes) = if !repo_dir.exists() {
            let (repo, got) = self.clone_into(ctx, repos, key, &refspecs)?;
            (repo, FetchKind::Clone, got)
        } else {
            let repo = open(ctx, &repo_dir)?;
            remove_stale_files(&repo_dir);
            if extra.is_none() && fetched_since(&stamp, asked_at) {
                tracing::debug!(url = %ctx.url, "a concurrent fetch brought the repository up to date");
                (repo, FetchKind::Reused, 0)
            } else {
                let got = self
                    .fetch(ctx, &repo, &refspecs, true, "fetch")
                    .map_err(|m| ctx.err(m))?;
                (repo, FetchKind::Fetch, got)
            }
        };
        if kind != FetchKind::Reused {
            write_stamp(&stamp, started);
        }

        let mut tried = match resolve(&repo, ctx.rev) {
            Ok(id) => return Ok((id, kind, bytes)),
            Err(tried) => tried,
        };
        // A commit that no branch or tag reaches (that of a pull request or a deleted
        // branch) can still be fetched by its full id from servers that allow it: GitHub
        // does, git's upload-pack with uploadpack.allowReachableSHA1InWant or
        // allowAnySHA1InWant.
        if is_full_commit_id(ctx.rev) {
            match self.fetch(ctx, &repo, &[ctx.rev.to_string()], false, "fetch by id") {
                Ok(got) => {
                    bytes += got;
                    if let Ok(id) = resolve(&repo, ctx.rev) {
                        return Ok((id, FetchKind::Fetch, bytes));
                    }
                    let present =
                        Oid::from_str(ctx.rev).is_ok_and(|id| repo.find_object(id, None).is_ok());
                    tried.push(if present {
                        "fetching it by id (it is not a commit)".to_string()
                    } else {
                        "fetching it by id (the remote sent nothing: it has no such object)"
                            .to_string()
                    });
                }
                Err(e) => tried.push(format!("fetching it by id: {e}")),
            }
        }
        Err(ctx.err(not_found_message(ctx.rev, &tried, &repo)))
    }
}

/// The request being served, for error messages.
struct Ctx<'a> {
    /// The URL as given (credentials included): used only to connect.
    raw_url: &'a str,
    /// The URL without credentials: used in messages and logs.
    url: String,
    rev: &'a str,
}

impl Ctx<'_> {
    fn err(&self, message: impl Into<String>) -> Error {
        Error::Git {
            url: self.url.clone(),
            message: message.into(),
        }
    }

    /// An error for a libgit2 failure while doing `action`.
    fn git_err(&self, action: &str, e: &git2::Error) -> Error {
        self.err(format!("{action}: {}", self.clean(e.message())))
    }

    /// `message` with the raw URL (which may hold credentials) replaced by the clean one.
    fn clean(&self, message: &str) -> String {
        if self.raw_url != self.url {
            message.replace(self.raw_url, &self.url)
        } else {
            message.to_string()
        }
    }
}

impl GitCache {
    /// Clones into `<key>.git.tmp` and renames it to `<key>.git` once the fetch succeeded.
    fn clone_into(
        &self,
        ctx: &Ctx<'_>,
        repos: &Path,
        key: &str,
        refspecs: &[String],
    ) -> Result<(Repository, u64)> {
        let tmp = repos.join(format!("{key}.git.tmp"));
        let dest = repos.join(format!("{key}.git"));
        if tmp.exists() {
            // Left by a clone that was killed: the lock we hold says none is running.
            std::fs::remove_dir_all(&tmp).map_err(|e| Error::io("removing", &tmp, e))?;
        }
        let repo = init_bare(ctx, &tmp)?;
        let got = match self.fetch(ctx, &repo, refspecs, true, "clone") {
            Ok(got) => got,
            Err(message) => {
                drop(repo);
                if let Err(e) = std::fs::remove_dir_all(&tmp) {
                    tracing::warn!(dir = %tmp.display(), "cannot remove a failed clone: {e}");
                }
                return Err(ctx.err(message));
            }
        };
        drop(repo);
        std::fs::rename(&tmp, &dest).map_err(|e| Error::io("renaming into place", &dest, e))?;
        Ok((open(ctx, &dest)?, got))
    }

    /// Fetches `refspecs` from the remote into `repo`; `full` (all branches and tags) also
    /// prunes what the remote deleted and records the remote's HEAD. Returns the bytes
    /// received, or what went wrong.
    fn fetch(
        &self,
        ctx: &Ctx<'_>,
        repo: &Repository,
        refspecs: &[String],
        full: bool,
        what: &str,
    ) -> std::result::Result<u64, String> {
        apply_timeout(self.timeout);
        let t0 = Instant::now();
        tracing::info!(url = %ctx.url, what, "fetching");
        // An anonymous remote: the URL (which may carry credentials) is not written to the
        // repository's config; the refspecs say where everything goes.
        let mut remote = repo
            .remote_anonymous(ctx.raw_url)
            .map_err(|e| format!("{what}: {}", ctx.clean(e.message())))?;
        // libgit2 resets the remote's own statistics when it disconnects: keep the last
        // progress report instead.
        let received = std::cell::Cell::new((0u64, 0usize));
        let mut callbacks = git2::RemoteCallbacks::new();
        callbacks.transfer_progress(|p| {
            received.set((p.received_bytes() as u64, p.received_objects()));
            true
        });
        // Proxies as git finds them: http.proxy, then https_proxy/http_proxy and no_proxy.
        let mut proxy = git2::ProxyOptions::new();
        proxy.auto();
        let mut opts = FetchOptions::new();
        opts.remote_callbacks(callbacks)
            .proxy_options(proxy)
            .update_fetchhead(false);
        if full {
            opts.prune(FetchPrune::On).download_tags(AutotagOption::All);
        } else {
            opts.download_tags(AutotagOption::None);
        }
        let specs: Vec<&str> = refspecs.iter().map(String::as_str).collect();
        if let Err(e) = remote.fetch(&specs, Some(&mut opts), Some(&format!("gowarm: {what}"))) {
            let elapsed = t0.elapsed();
            let timed_out =
                e.code() == git2::ErrorCode::Timeout || e.message().contains("timed out");
            let hint = if timed_out {
                format!(
                    " (no answer within the {} s timeout: is the host up and reachable?)",
                    self.timeout.as_secs_f64()
                )
            } else {
                String::new()
            };
            return Err(format!(
                "{what} failed after {} ms: {}{hint}",
                elapsed.as_millis(),
                ctx.clean(e.message())
            ));
        }
        drop(opts);
        let (bytes, objects) = received.get();
        if full {
            let head = remote
                .list()
                .ok()
                .and_then(|heads| heads.iter().find(|h| h.name() == "HEAD").map(|h| h.oid()));
            record_remote_head(repo, head);
        }
        tracing::info!(
            url = %ctx.url, what, received_bytes = bytes, received_objects = objects,
            ms = t0.elapsed().as_millis() as u64, "fetched"
        );
        Ok(bytes)
    }
}

/// Points `refs/remotes/origin/HEAD` at the commit the remote's HEAD names (or removes it
/// when the remote has none), so `HEAD` resolves without asking the remote again.
fn record_remote_head(repo: &Repository, head: Option<Oid>) {
    let result = match head {
        Some(id) if repo.find_commit(id).is_ok() => repo
            .reference(REMOTE_HEAD, id, true, "gowarm: remote HEAD")
            .map(|_| ()),
        _ => match repo.find_reference(REMOTE_HEAD) {
            Ok(mut r) => r.delete(),
            Err(_) => Ok(()),
        },
    };
    if let Err(e) = result {
        tracing::warn!("cannot record the remote's HEAD: {}", e.message());
    }
}

/// The connect and read timeout last given to libgit2 (-1: none given yet).
static APPLIED_TIMEOUT_MS: AtomicI32 = AtomicI32::new(-1);

/// Gives libgit2 `timeout` as its (process-wide) connect and read timeout.
fn apply_timeout(timeout: Duration) {
    let ms = i32::try_from(timeout.as_millis()).unwrap_or(i32::MAX);
    if APPLIED_TIMEOUT_MS.swap(ms, Ordering::SeqCst) == ms {
        return;
    }
    // SAFETY: these store an int in libgit2's global settings, which libgit2 reads when it
    // opens a socket (streams/socket.c); there is no pointer or lifetime involved. Another
    // thread's connection opened at the same moment sees the old or the new value.
    let set = unsafe {
        git2::opts::set_server_connect_timeout_in_milliseconds(ms)
            .and_then(|()| git2::opts::set_server_timeout_in_milliseconds(ms))
    };
    if let Err(e) = set {
        APPLIED_TIMEOUT_MS.store(-1, Ordering::SeqCst);
        tracing::warn!("cannot set libgit2's server timeouts: {}", e.message());
    }
}

/// Takes an exclusive lock on `path` (created if missing), waiting for its holder.
fn lock(ctx: &Ctx<'_>, path: &Path) -> Result<File> {
    let file = std::fs::OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .open(path)
        .map_err(|e| Error::io("opening", path, e))?;
    match FileExt::try_lock_exclusive(&file) {
        Ok(true) => {}
        Ok(false) => {
            tracing::info!(url = %ctx.url, lock = %path.display(), "waiting for another fetch of this repository");
            FileExt::lock_exclusive(&file).map_err(|e| Error::io("locking", path, e))?;
        }
        Err(e) => return Err(Error::io("locking", path, e)),
    }
    Ok(file)
}

/// Creates the bare repository a clone fetches into.
fn init_bare(ctx: &Ctx<'_>, dir: &Path) -> Result<Repository> {
    let mut opts = git2::RepositoryInitOptions::new();
    opts.bare(true).no_reinit(true).mkpath(true);
    let repo = Repository::init_opts(dir, &opts)
        .map_err(|e| ctx.git_err(&format!("creating {}", dir.display()), &e))?;
    // Checkouts are the commit's bytes whatever the machine's git config says (a global
    // core.autocrlf would otherwise rewrite line endings, and so build-cache keys).
    repo.config()
        .and_then(|mut c| c.set_bool("core.autocrlf", false))
        .map_err(|e| ctx.git_err(&format!("configuring {}", dir.display()), &e))?;
    // For people looking at the cache with `git`: where it came from, credentials removed.
    if let Err(e) = repo
        .remote_with_fetch("origin", &without_userinfo(ctx.raw_url), BRANCHES)
        .and_then(|_| repo.remote_add_fetch("origin", TAGS))
    {
        tracing::debug!(
            "cannot record the origin of {}: {}",
            dir.display(),
            e.message()
        );
    }
    Ok(repo)
}

/// Opens a bare repository of the cache.
fn open(ctx: &Ctx<'_>, dir: &Path) -> Result<Repository> {
    Repository::open_bare(dir).map_err(|e| {
        ctx.err(format!(
            "opening the cached repository {}: {}; remove it to clone again",
            dir.display(),
            e.message()
        ))
    })
}

/// The commit `rev` names if `rev` is a commit id whose commit the cache already holds.
fn cached_commit(repo_dir: &Path, rev: &str) -> Option<Oid> {
    if !looks_like_commit_id(rev) || !repo_dir.is_dir() {
        return None;
    }
    let repo = Repository::open_bare(repo_dir).ok()?;
    // A tag or branch of that name would win (as in Go's resolution, see
    // cmd/go/internal/modfetch/codehost/git.go), and those move: ask the remote.
    let named = |name: String| repo.find_reference(&name).is_ok();
    if named(format!("refs/tags/{rev}")) || named(format!("refs/remotes/origin/{rev}")) {
        return None;
    }
    lookup_commit(&repo, rev).ok()
}

/// The commit a full or abbreviated object id names (an annotated tag is peeled).
fn lookup_commit(repo: &Repository, rev: &str) -> std::result::Result<Oid, git2::Error> {
    let object = if is_full_commit_id(rev) {
        repo.find_object(Oid::from_str(rev)?, None)?
    } else {
        repo.find_object_by_prefix(rev, None)?
    };
    Ok(object.peel_to_commit()?.id())
}

/// Resolves `rev` in a fetched repository, or says what was tried.
fn resolve(repo: &Repository, rev: &str) -> std::result::Result<Oid, Vec<String>> {
    let mut tried = Vec::new();
    for (what, local) in ref_candidates(rev) {
        match repo.find_reference(&local) {
            Ok(r) => match r.peel_to_commit() {
                Ok(c) => return Ok(c.id()),
                Err(e) => tried.push(format!("{what} (names no commit: {})", e.message())),
            },
            Err(_) => tried.push(what),
        }
    }
    if looks_like_commit_id(rev) {
        match lookup_commit(repo, rev) {
            Ok(id) => return Ok(id),
            Err(e) if e.code() == git2::ErrorCode::Ambiguous => {
                tried.push(format!("commit id {rev} (ambiguous: give more digits)"))
            }
            Err(_) => tried.push(format!(
                "commit id {rev} (no such commit in the branches and tags)"
            )),
        }
    }
    Err(tried)
}

/// The refs `rev` may name, in the order Go tries them (tags before branches), each with
/// how to describe it and where the cache keeps it.
fn ref_candidates(rev: &str) -> Vec<(String, String)> {
    if is_full_commit_id(rev) {
        // As in Go: a full commit id is a commit id, not a branch or tag name.
        return Vec::new();
    }
    if rev == "HEAD" {
        return vec![("the remote's HEAD".into(), REMOTE_HEAD.into())];
    }
    if let Some(branch) = rev.strip_prefix("refs/heads/") {
        return vec![(
            format!("branch {rev}"),
            format!("refs/remotes/origin/{branch}"),
        )];
    }
    if rev.starts_with("refs/tags/") {
        return vec![(format!("tag {rev}"), rev.to_string())];
    }
    if let Some(local) = other_ref(rev) {
        return vec![(format!("ref {rev}"), local)];
    }
    vec![
        (format!("tag refs/tags/{rev}"), format!("refs/tags/{rev}")),
        (
            format!("branch refs/heads/{rev}"),
            format!("refs/remotes/origin/{rev}"),
        ),
    ]
}

/// Where the cache keeps a ref asked for by a full name outside branches and tags.
fn other_ref(rev: &str) -> Option<String> {
    let rest = rev.strip_prefix("refs/")?;
    if rest.starts_with("heads/") || rest.starts_with("tags/") {
        return None;
    }
    Some(format!("{OTHER_REFS}{rest}"))
}

/// Rejects revisions that cannot name a ref or a commit (and so could not be fetched).
fn check_rev(rev: &str) -> std::result::Result<(), String> {
    if rev.is_empty() {
        return Err("no revision given: pass a branch, a tag, a commit id or HEAD".into());
    }
    let valid = rev == "HEAD"
        || looks_like_commit_id(rev)
        || if rev.starts_with("refs/") {
            git2::Reference::is_valid_name(rev)
        } else {
            git2::Reference::is_valid_name(&format!("refs/tags/{rev}"))
        };
    if valid {
        Ok(())
    } else {
        Err(format!(
            "revision {rev:?} is not a branch, tag, commit id or ref name \
             (revision expressions such as ~1, ^ or @{{…}} are not supported)"
        ))
    }
}

fn looks_like_commit_id(rev: &str) -> bool {
    (MIN_COMMIT_PREFIX..=40).contains(&rev.len()) && rev.bytes().all(|b| b.is_ascii_hexdigit())
}

fn is_full_commit_id(rev: &str) -> bool {
    rev.len() == 40 && looks_like_commit_id(rev)
}

/// The module's directory relative to the checkout: relative, without `..`.
fn check_subdir(subdir: Option<&Path>) -> std::result::Result<PathBuf, String> {
    let mut out = PathBuf::new();
    let Some(subdir) = subdir else {
        return Ok(out);
    };
    for c in subdir.components() {
        match c {
            Component::Normal(part) => out.push(part),
            Component::CurDir => {}
            Component::ParentDir | Component::RootDir | Component::Prefix(_) => {
                return Err(format!(
                    "subdir {}: must be a relative path inside the repository (no leading /, no ..)",
                    subdir.display()
                ))
            }
        }
    }
    Ok(out)
}

/// Says that the commit has no go.mod in `subdir`, and where it has some.
fn no_gomod_message(ctx: &Ctx<'_>, subdir: &Path, commit: Oid, tree: &git2::Tree<'_>) -> String {
    let at = if subdir.as_os_str().is_empty() {
        "the repository root".to_string()
    } else {
        subdir.display().to_string()
    };
    let found = gomod_dirs(tree);
    let hint = if found.is_empty() {
        "the commit has no go.mod anywhere (a Go program needs one)".to_string()
    } else {
        let more = if found.len() == GOMOD_HINTS {
            ", …"
        } else {
            ""
        };
        format!(
            "go.mod files are in: {}{more}; pass one of those as the subdir",
            found.join(", ")
        )
    };
    format!(
        "no go.mod at {at} in revision {} (commit {commit}); {hint}",
        ctx.rev
    )
}

/// Up to [`GOMOD_HINTS`] directories of `tree` holding a go.mod, skipping those Go
/// ignores (`testdata`, `vendor`, names starting with `.` or `_`).
fn gomod_dirs(tree: &git2::Tree<'_>) -> Vec<String> {
    let mut found = Vec::new();
    let _ = tree.walk(git2::TreeWalkMode::PreOrder, |dir, entry| {
        let name = entry.name().unwrap_or("");
        match entry.kind() {
            Some(ObjectType::Tree)
                if name == "testdata"
                    || name == "vendor"
                    || name.starts_with('.')
                    || name.starts_with('_') =>
            {
                git2::TreeWalkResult::Skip
            }
            Some(ObjectType::Blob) if name == "go.mod" => {
                let d = dir.trim_end_matches('/');
                found.push(if d.is_empty() {
                    ".".to_string()
                } else {
                    d.to_string()
                });
                if found.len() >= GOMOD_HINTS {
                    git2::TreeWalkResult::Abort
                } else {
                    git2::TreeWalkResult::Ok
                }
            }
            _ => git2::TreeWalkResult::Ok,
        }
    });
    found
}

/// Says that `rev` is nowhere in the repository, listing what it has instead.
fn not_found_message(rev: &str, tried: &[String], repo: &Repository) -> String {
    let names = |glob: &str, prefix: &str| -> Vec<String> {
        let mut v: Vec<String> = repo
            .references_glob(glob)
            .map(|mut refs| {
                refs.names()
                    .flatten()
                    .filter_map(|n| n.strip_prefix(prefix).map(str::to_string))
                    .filter(|n| n != "HEAD")
                    .collect()
            })
            .unwrap_or_default();
        v.sort();
        v
    };
    let list = |what: &str, v: Vec<String>| -> String {
        if v.is_empty() {
            return format!("no {what}");
        }
        let more = v.len().saturating_sub(REF_HINTS);
        let shown = v.into_iter().take(REF_HINTS).collect::<Vec<_>>().join(", ");
        if more > 0 {
            format!("{what} {shown} and {more} more")
        } else {
            format!("{what} {shown}")
        }
    };
    format!(
        "revision {rev:?} not found: tried {}; the repository has {} and {}",
        tried.join(", "),
        list(
            "branches",
            names("refs/remotes/origin/*", "refs/remotes/origin/")
        ),
        list("tags", names("refs/tags/*", "refs/tags/")),
    )
}

/// Checks `tree` out at `root` atomically: into a locked temporary directory beside it,
/// then renamed. Returns false when a concurrent call got there first (its copy is kept,
/// ours discarded).
///
/// As in [`crate::scratch`], the temporary directory is made under a name the sweep
/// ignores (`.new-*`), its lock file inside it is locked, and only then is it renamed into
/// the swept namespace (`.tmp-*`): a sweep never sees a live checkout without its lock.
/// The lock file is removed just before the final rename (the lock is held to the end).
fn check_out(ctx: &Ctx<'_>, repo: &Repository, tree: &git2::Tree<'_>, root: &Path) -> Result<bool> {
    if tree.get_name(CHECKOUT_LOCK).is_some() {
        return Err(ctx.err(format!(
            "the commit has a file named {CHECKOUT_LOCK} at its root, which gowarm's checkouts use"
        )));
    }
    let parent = root
        .parent()
        .ok_or_else(|| ctx.err(format!("{}: no parent directory", root.display())))?;
    std::fs::create_dir_all(parent).map_err(|e| Error::io("creating", parent, e))?;
    remove_abandoned_checkouts(parent);
    let made = tempfile::Builder::new()
        .prefix(NEW_PREFIX)
        .tempdir_in(parent)
        .map_err(|e| Error::io("creating a checkout directory in", parent, e))?;
    let lock_path = made.path().join(CHECKOUT_LOCK);
    let lock = File::create(&lock_path).map_err(|e| Error::io("creating", &lock_path, e))?;
    FileExt::lock_exclusive(&lock).map_err(|e| Error::io("locking", &lock_path, e))?;
    let suffix = made
        .path()
        .file_name()
        .and_then(|n| n.to_str())
        .and_then(|n| n.strip_prefix(NEW_PREFIX))
        .unwrap_or("x")
        .to_string();
    let tmp = parent.join(format!("{TMP_PREFIX}{suffix}"));
    std::fs::rename(made.path(), &tmp).map_err(|e| Error::io("renaming into place", &tmp, e))?;
    // The TempDir no longer owns anything at its old path; `Pending` removes `tmp`.
    let _ = made.keep();
    let pending = Pending(tmp);
    write_tree(ctx, repo, tree, &pending.0)?;
    let lock_path = pending.0.join(CHECKOUT_LOCK);
    std::fs::remove_file(&lock_path).map_err(|e| Error::io("removing", &lock_path, e))?;
    let placed = match std::fs::rename(&pending.0, root) {
        Ok(()) => {
            std::mem::forget(pending);
            true
        }
        // A concurrent checkout of the same commit won; ours is removed with `pending`.
        Err(_) if root.is_dir() => false,
        Err(e) => return Err(Error::io("renaming into place", root, e)),
    };
    drop(lock);
    Ok(placed)
}

/// A checkout in progress, removed on drop unless it was renamed into place.
struct Pending(PathBuf);

impl Drop for Pending {
    fn drop(&mut self) {
        if let Err(e) = std::fs::remove_dir_all(&self.0) {
            tracing::warn!(dir = %self.0.display(), "cannot remove an unfinished checkout: {e}");
        }
    }
}

/// Writes the files of `tree` into `dir` (empty but for the lock file).
fn write_tree(ctx: &Ctx<'_>, repo: &Repository, tree: &git2::Tree<'_>, dir: &Path) -> Result<()> {
    // tempfile makes the directory 0700; the checkout is for whoever runs the job.
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o755))
            .map_err(|e| Error::io("setting permissions of", dir, e))?;
    }
    let mut cb = git2::build::CheckoutBuilder::new();
    // No index is read or written: the bare repository has none, and concurrent
    // checkouts of one repository must not share one.
    cb.target_dir(dir)
        .force()
        .update_index(false)
        .refresh(false);
    repo.checkout_tree(tree.as_object(), Some(&mut cb))
        .map_err(|e| ctx.git_err(&format!("checking out into {}", dir.display()), &e))
}

/// Removes checkouts in progress under `parent` whose process died (best effort): their
/// lock file can be locked, or they have none and are old.
fn remove_abandoned_checkouts(parent: &Path) {
    let Ok(entries) = std::fs::read_dir(parent) else {
        return;
    };
    for e in entries.flatten() {
        let name = e.file_name();
        let name = name.to_string_lossy();
        let path = e.path();
        let abandoned = if name.starts_with(TMP_PREFIX) {
            match File::open(path.join(CHECKOUT_LOCK)) {
                // Locked by a live checkout: leave it. Lockable: its process died.
                Ok(f) => matches!(FileExt::try_lock_exclusive(&f), Ok(true)),
                // Between removing its lock file and its final rename, or foreign.
                Err(_) => older_than(&path, STALE),
            }
        } else if name.starts_with(NEW_PREFIX) {
            // Killed between making the directory and renaming it.
            older_than(&path, STALE)
        } else {
            false
        };
        if abandoned {
            match std::fs::remove_dir_all(&path) {
                Ok(()) => tracing::info!(dir = %path.display(), "removed a killed checkout"),
                // Renamed into place meanwhile.
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
                Err(e) => {
                    tracing::warn!(dir = %path.display(), "cannot remove a killed checkout: {e}")
                }
            }
        }
    }
}

fn older_than(p: &Path, age: Duration) -> bool {
    std::fs::symlink_metadata(p)
        .and_then(|m| m.modified())
        .is_ok_and(|t| SystemTime::now().duration_since(t).is_ok_and(|d| d > age))
}

/// Removes what a killed fetch leaves in a bare repository: libgit2's `*.lock` files (a
/// stale `refs/…lock` makes every later ref update fail) and half-written packs
/// (`*_git2_*`). Only called under the repository's lock, so none of them is live.
fn remove_stale_files(repo_dir: &Path) {
    let candidates = walkdir::WalkDir::new(repo_dir)
        .max_depth(1)
        .into_iter()
        .chain(walkdir::WalkDir::new(repo_dir.join("refs")))
        .chain(walkdir::WalkDir::new(repo_dir.join("objects").join("pack")).max_depth(1));
    for entry in candidates.flatten() {
        if !entry.file_type().is_file() {
            continue;
        }
        let name = entry.file_name().to_string_lossy();
        if name.ends_with(".lock") || name.contains("_git2_") {
            match std::fs::remove_file(entry.path()) {
                Ok(()) => {
                    tracing::info!(file = %entry.path().display(), "removed a killed fetch's file")
                }
                Err(e) => {
                    tracing::warn!(file = %entry.path().display(), "cannot remove a killed fetch's file: {e}")
                }
            }
        }
    }
}

fn unix_nanos(t: SystemTime) -> u128 {
    t.duration_since(UNIX_EPOCH).map_or(0, |d| d.as_nanos())
}

/// Whether the last full fetch recorded in `stamp` started at or after `asked_at`.
fn fetched_since(stamp: &Path, asked_at: SystemTime) -> bool {
    std::fs::read_to_string(stamp)
        .ok()
        .and_then(|s| s.trim().parse::<u128>().ok())
        .is_some_and(|t| t >= unix_nanos(asked_at))
}

fn write_stamp(stamp: &Path, started: SystemTime) {
    if let Err(e) = std::fs::write(stamp, format!("{}\n", unix_nanos(started))) {
        tracing::warn!(file = %stamp.display(), "cannot record the fetch time: {e}");
    }
}

/// The cache's name for the repository at `url`: a readable slug of its host and path
/// plus 12 hex digits of the SHA-256 of the normalised URL.
pub fn repo_key(url: &str) -> String {
    let normal = normalise_url(url);
    let hash = hex::encode(Sha256::digest(normal.as_bytes()));
    let rest = normal.split_once("://").map_or(normal.as_str(), |(_, r)| r);
    let mut slug = String::new();
    for c in rest.chars() {
        let c = if c.is_ascii_alphanumeric() || c == '.' || c == '_' {
            c
        } else {
            '-'
        };
        if !(c == '-' && slug.ends_with('-')) {
            slug.push(c);
        }
    }
    let slug: String = slug.trim_matches(['-', '.']).chars().take(48).collect();
    let slug = slug.trim_end_matches(['-', '.']);
    let slug = if slug.is_empty() { "repo" } else { slug };
    format!("{slug}-{}", &hash[..12])
}

/// The URL that names a repository for the cache: trimmed, credentials removed, scheme
/// and host in lower case, trailing slashes removed. (`x` and `x.git` stay distinct: a
/// server may hold both.)
fn normalise_url(url: &str) -> String {
    let url = without_userinfo(url.trim());
    let url = url.trim_end_matches('/');
    match url.split_once("://") {
        Some((scheme, rest)) => {
            let (host, path) = rest.split_at(rest.find('/').unwrap_or(rest.len()));
            format!(
                "{}://{}{path}",
                scheme.to_ascii_lowercase(),
                host.to_ascii_lowercase()
            )
        }
        None => url.to_string(),
    }
}

/// `url` with the user and password of a `scheme://user:password@host/…` URL removed.
fn without_userinfo(url: &str) -> String {
    split_userinfo(url).map_or_else(
        || url.to_string(),
        |(head, _, tail)| format!("{head}{tail}"),
    )
}

/// `url` with the user and password of a `scheme://user:password@host/…` URL replaced by
/// `***`, for messages and logs.
pub fn redact_url(url: &str) -> String {
    split_userinfo(url).map_or_else(
        || url.to_string(),
        |(head, _, tail)| format!("{head}***@{tail}"),
    )
}

/// Splits `scheme://userinfo@rest` into (`scheme://`, `userinfo`, `rest`).
fn split_userinfo(url: &str) -> Option<(&str, &str, &str)> {
    let start = url.find("://")? + 3;
    let authority_end = url[start..].find('/').map_or(url.len(), |i| start + i);
    let at = url[start..authority_end].rfind('@')? + start;
    Some((&url[..start], &url[start..at], &url[at + 1..]))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn git_keys_are_readable_distinct_and_free_of_credentials() {
        let k = repo_key("https://github.com/pulumi/examples.git");
        assert!(k.starts_with("github.com-pulumi-examples.git-"), "{k}");
        assert_eq!(k.len(), "github.com-pulumi-examples.git-".len() + 12);
        assert_eq!(k, repo_key(" HTTPS://GitHub.com/pulumi/examples.git/ "));
        assert_eq!(
            k,
            repo_key("https://user:tok@github.com/pulumi/examples.git")
        );
        assert_ne!(k, repo_key("https://github.com/pulumi/examples"));
        assert_ne!(k, repo_key("https://github.com/Pulumi/examples.git"));
        assert_ne!(k, repo_key("git://github.com/pulumi/examples.git"));
        assert!(!repo_key("https://x:secret@h/r").contains("secret"));
        assert_eq!(repo_key("file:///tmp/a/repo")[..11], *"tmp-a-repo-");
        let long = format!("https://h/{}", "a".repeat(200));
        assert!(repo_key(&long).len() <= 48 + 13);
        assert!(repo_key("///").starts_with("repo-"));
        assert!(!repo_key("https://h/.hidden").starts_with('.'));
    }

    #[test]
    fn git_urls_are_redacted() {
        assert_eq!(redact_url("https://u:p@h/r"), "https://***@h/r");
        assert_eq!(redact_url("https://tok@h:443/a@b"), "https://***@h:443/a@b");
        assert_eq!(redact_url("https://h/r"), "https://h/r");
        assert_eq!(
            redact_url("git@github.com:o/r.git"),
            "git@github.com:o/r.git"
        );
        assert_eq!(without_userinfo("https://u:p@h/r"), "https://h/r");
    }

    #[test]
    fn git_subdirs_stay_inside_the_checkout() {
        assert_eq!(check_subdir(None).unwrap(), PathBuf::new());
        assert_eq!(
            check_subdir(Some(Path::new("./a/./b/"))).unwrap(),
            PathBuf::from("a/b")
        );
        assert!(check_subdir(Some(Path::new("a/../../b"))).is_err());
        assert!(check_subdir(Some(Path::new("a/.."))).is_err());
        assert!(check_subdir(Some(Path::new("/etc"))).is_err());
    }

    #[test]
    fn git_revisions_are_checked_before_any_fetch() {
        for ok in [
            "main",
            "feature/x",
            "v1.2.3",
            "HEAD",
            "refs/pull/1/head",
            "abc1234",
        ] {
            assert!(check_rev(ok).is_ok(), "{ok}");
        }
        for bad in ["", "main~1", "v1^{}", "a..b", "refs/*:refs/heads/*", "x y"] {
            assert!(check_rev(bad).is_err(), "{bad}");
        }
        assert!(looks_like_commit_id("abc1234") && !looks_like_commit_id("abc123"));
        assert!(is_full_commit_id(&"a".repeat(40)) && !is_full_commit_id(&"a".repeat(39)));
        assert_eq!(
            other_ref("refs/pull/1/head").as_deref(),
            Some("refs/gowarm/pull/1/head")
        );
        assert_eq!(other_ref("refs/heads/main"), None);
        assert_eq!(
            ref_candidates("v1")[0].1,
            "refs/tags/v1",
            "tags before branches, as Go"
        );
    }

    #[test]
    fn git_abandoned_checkouts_are_removed_live_ones_kept() {
        let parent = tempfile::tempdir().unwrap();
        let p = parent.path();
        let old = filetime::FileTime::from_system_time(SystemTime::now() - 2 * STALE);
        // Killed while checking out: its lock file is there and lockable.
        std::fs::create_dir(p.join(".tmp-dead")).unwrap();
        std::fs::write(p.join(".tmp-dead/half.go"), "x").unwrap();
        std::fs::write(p.join(".tmp-dead").join(CHECKOUT_LOCK), "").unwrap();
        // Being checked out (locked), and between removing its lock file and its rename.
        std::fs::create_dir(p.join(".tmp-live")).unwrap();
        let live = File::create(p.join(".tmp-live").join(CHECKOUT_LOCK)).unwrap();
        FileExt::lock_exclusive(&live).unwrap();
        std::fs::create_dir(p.join(".tmp-renaming")).unwrap();
        // Being made, and killed while being made long ago.
        std::fs::create_dir(p.join(".new-fresh")).unwrap();
        std::fs::create_dir(p.join(".new-old")).unwrap();
        filetime::set_file_mtime(p.join(".new-old"), old).unwrap();
        // Old, without a lock file.
        std::fs::create_dir(p.join(".tmp-old")).unwrap();
        filetime::set_file_mtime(p.join(".tmp-old"), old).unwrap();
        // A finished checkout.
        std::fs::create_dir(p.join("0123abcd")).unwrap();
        filetime::set_file_mtime(p.join("0123abcd"), old).unwrap();

        remove_abandoned_checkouts(p);
        let left: std::collections::BTreeSet<String> = std::fs::read_dir(p)
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        let want = [".new-fresh", ".tmp-live", ".tmp-renaming", "0123abcd"];
        assert_eq!(left, want.iter().map(|s| s.to_string()).collect());
    }

    #[test]
    fn git_libgit2_is_built_with_https() {
        assert!(git2::Version::get().https(), "git2's https feature is off");
    }

    #[test]
    fn git_config_defaults_and_rejects_unknown_keys() {
        let c: GitConfig = toml::from_str("").unwrap();
        assert_eq!(c, GitConfig::default());
        assert_eq!(c.timeout_secs, 60);
        let c: GitConfig = toml::from_str("dir = \"/x\"\ntimeout_secs = 5").unwrap();
        assert_eq!(c.cache_dir().unwrap(), PathBuf::from("/x"));
        assert!(toml::from_str::<GitConfig>("depth = 1").is_err());
    }
}
