//! `gowarm serve`: this pod's ModCache and BuildCache, read-only, over HTTP/1.1.

use std::convert::Infallible;
use std::future::Future;
use std::io;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::pin::Pin;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::{Duration, Instant, SystemTime};

use bytes::{Bytes, BytesMut};
use gowarm_gocache::{BuildCache, Id, ENTRY_LEN};
use gowarm_gomod::modcache::{ModCache, TreeState};
use gowarm_gomod::ModuleVersion;
use http::header::{self, HeaderValue};
use http::{Method, Response, StatusCode};
use http_body::{Body, Frame, SizeHint};
use http_body_util::combinators::UnsyncBoxBody;
use http_body_util::{BodyExt as _, Empty, Full, StreamBody};
use hyper::body::Incoming;
use hyper_util::rt::{TokioIo, TokioTimer};
use tokio::io::{AsyncRead, AsyncReadExt as _, AsyncSeekExt as _, AsyncWrite, ReadBuf};
use tokio::net::TcpListener;
use tokio::sync::{watch, OwnedSemaphorePermit, Semaphore};
use tokio::task::JoinSet;

use crate::metrics::Metrics;
use crate::protocol::{split_path_token, Request, Route, Token, BASIC_CHALLENGE, BEARER_CHALLENGE};
use crate::zips::{ZipCache, ZipMiss};

/// Supplies the Manifest JSON the pod holds (`None`: it holds none); called per request.
pub type ManifestProvider = Arc<dyn Fn() -> Option<Vec<u8>> + Send + Sync>;

/// A [`ManifestProvider`] that reads `path` at every request (so a hook that rewrites
/// it atomically is seen at once); a missing file is "no Manifest".
pub fn manifest_from_file(path: impl Into<PathBuf>) -> ManifestProvider {
    let path = path.into();
    Arc::new(move || match std::fs::read(&path) {
        Ok(b) => Some(b),
        Err(e) => {
            if e.kind() != io::ErrorKind::NotFound {
                tracing::warn!(path = %path.display(), "cannot read the manifest: {e}");
            }
            None
        }
    })
}

/// A [`ManifestProvider`] that always serves `bytes`.
pub fn manifest_from_bytes(bytes: Vec<u8>) -> ManifestProvider {
    let bytes = Arc::new(bytes);
    Arc::new(move || Some(bytes.as_ref().clone()))
}

/// How a server runs.
#[derive(Clone)]
pub struct ServerConfig {
    /// The address [`serve_blocking`] binds (`serve` takes a bound listener instead).
    pub listen: SocketAddr,
    /// The ModCache (GOMODCACHE) to serve as a GOPROXY; `None` answers 404 to `/mod/…`.
    pub gomodcache: Option<PathBuf>,
    /// The BuildCache (GOCACHE) to serve; `None` answers 404 to `/build/action|output/…`.
    pub gocache: Option<PathBuf>,
    /// The bearer token required on everything but `/healthz`; `None` serves anyone
    /// (for a trusted network only: a warning is logged).
    pub token: Option<String>,
    /// Requests handled at once; more wait (up to `idle_timeout`, then 503).
    pub max_in_flight: usize,
    /// Connections open at once; more are closed at accept.
    pub max_connections: usize,
    /// A connection that moves no byte for this long, with no request being worked on,
    /// is closed (also the limit for a client to send a request head).
    pub idle_timeout: Duration,
    /// The Manifest served at `/build/manifest`.
    pub manifest: Option<ManifestProvider>,
    /// Where module zips built from trees are kept (a fresh directory is made inside it
    /// and removed at shutdown); default: the system temporary directory.
    pub scratch_dir: Option<PathBuf>,
    /// At most this many bytes of built zips are kept (least recently used dropped).
    pub zip_cache_bytes: u64,
    /// Caps the bytes per second sent over all connections (`None`: no cap), so serving
    /// siblings cannot starve this pod's own job of network or disk.
    pub max_bytes_per_sec: Option<u64>,
    /// After shutdown is asked, in-flight responses get this long to finish.
    pub shutdown_grace: Duration,
}

impl Default for ServerConfig {
    fn default() -> Self {
        ServerConfig {
            listen: SocketAddr::from(([0, 0, 0, 0], 7070)),
            gomodcache: None,
            gocache: None,
            token: None,
            max_in_flight: 64,
            max_connections: 1024,
            idle_timeout: Duration::from_secs(60),
            manifest: None,
            scratch_dir: None,
            zip_cache_bytes: 2 << 30,
            max_bytes_per_sec: None,
            // Kubernetes' default terminationGracePeriodSeconds is 30.
            shutdown_grace: Duration::from_secs(25),
        }
    }
}

impl std::fmt::Debug for ServerConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ServerConfig")
            .field("listen", &self.listen)
            .field("gomodcache", &self.gomodcache)
            .field("gocache", &self.gocache)
            .field("token", &self.token.as_ref().map(|_| "<redacted>"))
            .field("max_in_flight", &self.max_in_flight)
            .field("max_connections", &self.max_connections)
            .field("idle_timeout", &self.idle_timeout)
            .field("manifest", &self.manifest.is_some())
            .field("scratch_dir", &self.scratch_dir)
            .field("zip_cache_bytes", &self.zip_cache_bytes)
            .field("max_bytes_per_sec", &self.max_bytes_per_sec)
            .field("shutdown_grace", &self.shutdown_grace)
            .finish()
    }
}

/// Why a server could not start or run.
#[derive(Debug, thiserror::Error)]
pub enum ServerError {
    /// A setting is unusable.
    #[error("gowarm serve: {0}")]
    Config(String),
    /// The listen address could not be bound.
    #[error("gowarm serve: cannot listen on {addr}: {source}")]
    Bind {
        /// The address.
        addr: SocketAddr,
        /// The operating system's error.
        source: io::Error,
    },
    /// A file-system or runtime operation failed.
    #[error("gowarm serve: {what} {}: {source}", path.display())]
    Io {
        /// What was being done.
        what: &'static str,
        /// The file or directory.
        path: PathBuf,
        /// The operating system's error.
        source: io::Error,
    },
}

/// What a server did, returned when it has shut down.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ServeSummary {
    /// Responses sent.
    pub requests: u64,
    /// Response body bytes sent.
    pub bytes: u64,
    /// Responses that failed on the server's side.
    pub errors: u64,
    /// Connections accepted.
    pub connections: u64,
    /// Connections still open at the end of the grace period (closed unfinished).
    pub cut_at_shutdown: u64,
}

struct RateLimiter {
    per_sec: u64,
    next: tokio::sync::Mutex<Instant>,
}

impl RateLimiter {
    /// Waits until `n` more bytes may be sent.
    async fn take(&self, n: usize) {
        let at = {
            let mut next = self.next.lock().await;
            let now = Instant::now();
            let start = (*next).max(now);
            *next = start + Duration::from_secs_f64(n as f64 / self.per_sec as f64);
            start
        };
        tokio::time::sleep_until(at.into()).await;
    }
}

struct State {
    modcache: Option<ModCache>,
    buildcache: Option<BuildCache>,
    token: Option<Token>,
    manifest: Option<ManifestProvider>,
    metrics: Arc<Metrics>,
    permits: Arc<Semaphore>,
    max_connections: usize,
    idle_timeout: Duration,
    shutdown_grace: Duration,
    zips: ZipCache,
    limiter: Option<Arc<RateLimiter>>,
}

/// A server over one pod's caches: make it, read its metrics, run it.
pub struct Server {
    state: Arc<State>,
}

impl std::fmt::Debug for Server {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Server")
            .field(
                "gomodcache",
                &self.state.modcache.as_ref().map(|m| m.root()),
            )
            .field("gocache", &self.state.buildcache.as_ref().map(|b| b.root()))
            .finish()
    }
}

impl Server {
    /// Checks `cfg` and prepares a server (its zip directory included).
    pub fn new(cfg: ServerConfig) -> Result<Server, ServerError> {
        if cfg.max_in_flight == 0 || cfg.max_connections == 0 {
            return Err(ServerError::Config(
                "max_in_flight and max_connections must be at least 1".into(),
            ));
        }
        if cfg.idle_timeout.is_zero() {
            return Err(ServerError::Config("idle_timeout must be positive".into()));
        }
        if cfg.max_bytes_per_sec == Some(0) {
            return Err(ServerError::Config(
                "max_bytes_per_sec must be positive (leave it unset for no cap)".into(),
            ));
        }
        for (what, dir) in [("GOMODCACHE", &cfg.gomodcache), ("GOCACHE", &cfg.gocache)] {
            if let Some(d) = dir {
                if !d.is_dir() {
                    return Err(ServerError::Config(format!(
                        "{what} {} is not a directory",
                        d.display()
                    )));
                }
            }
        }
        let token = match cfg.token.as_deref().map(str::trim) {
            Some("") => {
                return Err(ServerError::Config(
                    "the token is empty (is the Secret mounted and non-empty?)".into(),
                ))
            }
            Some(t) => Some(Token::new(t)),
            None => None,
        };
        let zips =
            ZipCache::new(cfg.scratch_dir.as_deref(), cfg.zip_cache_bytes).map_err(|source| {
                ServerError::Io {
                    what: "creating a zip directory in",
                    path: cfg.scratch_dir.clone().unwrap_or_else(std::env::temp_dir),
                    source,
                }
            })?;
        Ok(Server {
            state: Arc::new(State {
                modcache: cfg.gomodcache.map(ModCache::new),
                buildcache: cfg.gocache.map(BuildCache::at),
                token,
                manifest: cfg.manifest,
                metrics: Arc::new(Metrics::default()),
                permits: Arc::new(Semaphore::new(cfg.max_in_flight)),
                max_connections: cfg.max_connections,
                idle_timeout: cfg.idle_timeout,
                shutdown_grace: cfg.shutdown_grace,
                zips,
                limiter: cfg.max_bytes_per_sec.map(|per_sec| {
                    Arc::new(RateLimiter {
                        per_sec,
                        next: tokio::sync::Mutex::new(Instant::now()),
                    })
                }),
            }),
        })
    }

    /// The server's counters (the same ones `/metrics` shows).
    pub fn metrics(&self) -> Arc<Metrics> {
        self.state.metrics.clone()
    }

    /// Where module zips built from trees are kept while the server runs.
    pub fn zip_dir(&self) -> &Path {
        self.state.zips.dir()
    }

    /// Serves connections from `listener` until `shutdown` completes, then stops
    /// accepting, lets in-flight responses finish (up to `shutdown_grace`) and returns.
    pub async fn run(
        self,
        listener: TcpListener,
        shutdown: impl Future<Output = ()>,
    ) -> Result<ServeSummary, ServerError> {
        let state = self.state;
        let addr = listener.local_addr().ok();
        if state.token.is_none() {
            tracing::warn!(
                "serving without a token: anyone who can reach this port can read the caches"
            );
        }
        tracing::info!(
            addr = ?addr,
            gomodcache = ?state.modcache.as_ref().map(|m| m.root().to_path_buf()),
            gocache = ?state.buildcache.as_ref().map(|b| b.root().to_path_buf()),
            "gowarm serve: listening"
        );
        let (stop_tx, stop_rx) = watch::channel(false);
        // Connections live in this set: dropping it (the server's task aborted) closes them.
        let mut conns: JoinSet<()> = JoinSet::new();
        tokio::pin!(shutdown);
        loop {
            tokio::select! {
                _ = &mut shutdown => break,
                accepted = listener.accept() => match accepted {
                    Ok((stream, peer)) => {
                        if conns.len() >= state.max_connections {
                            tracing::warn!(%peer, "max_connections ({}) reached; closing the new connection", state.max_connections);
                            continue;
                        }
                        let _ = stream.set_nodelay(true);
                        state.metrics.connection_opened();
                        conns.spawn(connection(state.clone(), stream, peer, stop_rx.clone()));
                    }
                    Err(e) => {
                        // EMFILE and friends: back off instead of spinning.
                        tracing::warn!("accept failed: {e}");
                        tokio::time::sleep(Duration::from_millis(50)).await;
                    }
                },
                Some(_) = conns.join_next(), if !conns.is_empty() => {}
            }
        }
        drop(listener);
        tracing::info!(
            open = conns.len(),
            "gowarm serve: shutting down; finishing in-flight responses"
        );
        let _ = stop_tx.send(true);
        let grace = tokio::time::sleep(state.shutdown_grace);
        tokio::pin!(grace);
        let mut cut = 0;
        loop {
            tokio::select! {
                r = conns.join_next() => if r.is_none() { break },
                _ = &mut grace => {
                    cut = conns.len() as u64;
                    tracing::warn!(open = cut, "shutdown grace period over; closing the remaining connections");
                    conns.abort_all();
                    while conns.join_next().await.is_some() {}
                    break;
                }
            }
        }
        let s = state.metrics.snapshot();
        Ok(ServeSummary {
            requests: s.requests.values().sum(),
            bytes: s.bytes.values().sum(),
            errors: s.errors,
            connections: s.connections_total,
            cut_at_shutdown: cut,
        })
    }
}

/// Serves `cfg`'s caches on `listener` until `shutdown` completes (see [`Server::run`]).
pub async fn serve(
    cfg: ServerConfig,
    listener: TcpListener,
    shutdown: impl Future<Output = ()>,
) -> Result<ServeSummary, ServerError> {
    Server::new(cfg)?.run(listener, shutdown).await
}

/// Completes on SIGTERM (what Kubernetes sends) or SIGINT (ctrl-c).
pub async fn shutdown_signal() {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{signal, SignalKind};
        match signal(SignalKind::terminate()) {
            Ok(mut term) => {
                tokio::select! {
                    _ = term.recv() => tracing::info!("SIGTERM received"),
                    _ = tokio::signal::ctrl_c() => tracing::info!("SIGINT received"),
                }
            }
            Err(e) => {
                tracing::warn!("cannot watch SIGTERM ({e}); stopping on ctrl-c only");
                let _ = tokio::signal::ctrl_c().await;
            }
        }
    }
    #[cfg(not(unix))]
    {
        let _ = tokio::signal::ctrl_c().await;
    }
}

/// Binds `cfg.listen` and serves on a runtime of its own until SIGTERM or ctrl-c: all a
/// CLI needs to call.
pub fn serve_blocking(cfg: ServerConfig) -> Result<ServeSummary, ServerError> {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .thread_name("gowarm-serve")
        .build()
        .map_err(|source| ServerError::Io {
            what: "starting the async runtime",
            path: PathBuf::new(),
            source,
        })?;
    rt.block_on(async move {
        let addr = cfg.listen;
        let listener = TcpListener::bind(addr)
            .await
            .map_err(|source| ServerError::Bind { addr, source })?;
        serve(cfg, listener, shutdown_signal()).await
    })
}

/// When a connection last moved a byte, and whether a request on it is being worked on.
struct Activity {
    epoch: Instant,
    last_ms: AtomicU64,
    busy: AtomicUsize,
}

impl Activity {
    fn mark(&self) {
        self.last_ms
            .store(self.epoch.elapsed().as_millis() as u64, Ordering::Relaxed);
    }

    fn idle_for(&self) -> Duration {
        let now = self.epoch.elapsed().as_millis() as u64;
        Duration::from_millis(now.saturating_sub(self.last_ms.load(Ordering::Relaxed)))
    }
}

/// A stream that records when bytes move, for the idle timeout.
struct ActivityIo<T> {
    inner: T,
    activity: Arc<Activity>,
}

impl<T: AsyncRead + Unpin> AsyncRead for ActivityIo<T> {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let before = buf.filled().len();
        let r = Pin::new(&mut self.inner).poll_read(cx, buf);
        if matches!(r, Poll::Ready(Ok(()))) && buf.filled().len() > before {
            self.activity.mark();
        }
        r
    }
}

impl<T: AsyncWrite + Unpin> AsyncWrite for ActivityIo<T> {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        let r = Pin::new(&mut self.inner).poll_write(cx, buf);
        if matches!(r, Poll::Ready(Ok(n)) if n > 0) {
            self.activity.mark();
        }
        r
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        let r = Pin::new(&mut self.inner).poll_write_vectored(cx, bufs);
        if matches!(r, Poll::Ready(Ok(n)) if n > 0) {
            self.activity.mark();
        }
        r
    }

    fn is_write_vectored(&self) -> bool {
        self.inner.is_write_vectored()
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_shutdown(cx)
    }
}

async fn connection(
    state: Arc<State>,
    stream: tokio::net::TcpStream,
    peer: SocketAddr,
    mut stop: watch::Receiver<bool>,
) {
    let activity = Arc::new(Activity {
        epoch: Instant::now(),
        last_ms: AtomicU64::new(0),
        busy: AtomicUsize::new(0),
    });
    let io = TokioIo::new(ActivityIo {
        inner: stream,
        activity: activity.clone(),
    });
    let svc_state = state.clone();
    let svc_activity = activity.clone();
    let svc = hyper::service::service_fn(move |req| {
        let state = svc_state.clone();
        let activity = svc_activity.clone();
        async move {
            activity.busy.fetch_add(1, Ordering::Relaxed);
            let resp = handle(&state, req).await;
            activity.busy.fetch_sub(1, Ordering::Relaxed);
            activity.mark();
            Ok::<_, Infallible>(resp)
        }
    });
    let mut builder = hyper::server::conn::http1::Builder::new();
    builder
        .timer(TokioTimer::new())
        .header_read_timeout(state.idle_timeout)
        .keep_alive(true);
    let conn = builder.serve_connection(io, svc);
    tokio::pin!(conn);
    let mut shutting = false;
    if *stop.borrow() {
        shutting = true;
        conn.as_mut().graceful_shutdown();
    }
    let period = (state.idle_timeout / 4).clamp(Duration::from_millis(10), Duration::from_secs(5));
    let mut tick = tokio::time::interval(period);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut idle = false;
    loop {
        tokio::select! {
            r = conn.as_mut() => {
                if let Err(e) = r {
                    tracing::debug!(%peer, "connection ended: {e}");
                }
                break;
            }
            _ = stop.changed(), if !shutting => {
                shutting = true;
                conn.as_mut().graceful_shutdown();
            }
            _ = tick.tick() => {
                if activity.busy.load(Ordering::Relaxed) == 0 && activity.idle_for() >= state.idle_timeout {
                    tracing::debug!(%peer, "closing a connection idle for {:?}", state.idle_timeout);
                    idle = true;
                    break;
                }
            }
        }
    }
    state.metrics.connection_closed(idle);
}

type BoxBody = UnsyncBoxBody<Bytes, io::Error>;

/// Decrements the in-flight gauge when the response is over (or abandoned).
struct InFlight(Arc<Metrics>);

impl Drop for InFlight {
    fn drop(&mut self) {
        self.0.in_flight(-1);
    }
}

/// A response body that counts its bytes and records the response's end in the metrics;
/// it holds the request's concurrency permit until then.
struct Metered {
    inner: BoxBody,
    metrics: Arc<Metrics>,
    route: Route,
    start: Instant,
    remaining: Option<u64>,
    done: bool,
    failed: bool,
    _permit: Option<OwnedSemaphorePermit>,
    _in_flight: InFlight,
}

impl Body for Metered {
    type Data = Bytes;
    type Error = io::Error;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, io::Error>>> {
        let this = self.get_mut();
        match Pin::new(&mut this.inner).poll_frame(cx) {
            Poll::Ready(Some(Ok(f))) => {
                if let Some(d) = f.data_ref() {
                    this.metrics.bytes(this.route, d.len() as u64);
                    if let Some(r) = &mut this.remaining {
                        *r = r.saturating_sub(d.len() as u64);
                    }
                }
                Poll::Ready(Some(Ok(f)))
            }
            Poll::Ready(Some(Err(e))) => {
                this.failed = true;
                tracing::warn!(route = this.route.as_str(), "response body failed: {e}");
                Poll::Ready(Some(Err(e)))
            }
            Poll::Ready(None) => {
                this.done = true;
                Poll::Ready(None)
            }
            Poll::Pending => Poll::Pending,
        }
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        match self.remaining {
            // Exact: hyper sends Content-Length, and a body that ends early is an error
            // the client sees (a truncated transfer), never a short success.
            Some(n) => SizeHint::with_exact(n),
            None => self.inner.size_hint(),
        }
    }
}

impl Drop for Metered {
    fn drop(&mut self) {
        // hyper stops polling once Content-Length bytes are out, before the stream's end.
        let finished = self.done || self.remaining == Some(0) || self.inner.is_end_stream();
        self.metrics.finished(
            self.route,
            self.start.elapsed(),
            !finished && !self.failed,
            self.failed,
        );
    }
}

/// A response being built: status, headers, and a body with its exact length if known.
struct Reply {
    status: StatusCode,
    headers: Vec<(header::HeaderName, HeaderValue)>,
    body: BoxBody,
    len: Option<u64>,
}

impl Reply {
    fn bytes(status: StatusCode, content_type: &'static str, data: impl Into<Bytes>) -> Reply {
        let data: Bytes = data.into();
        let len = data.len() as u64;
        Reply {
            status,
            headers: vec![(header::CONTENT_TYPE, HeaderValue::from_static(content_type))],
            body: Full::new(data)
                .map_err(|never| match never {})
                .boxed_unsync(),
            len: Some(len),
        }
    }

    fn text(status: StatusCode, msg: impl Into<String>) -> Reply {
        let mut m = msg.into();
        m.push('\n');
        Reply::bytes(status, "text/plain; charset=utf-8", m)
    }

    fn not_found() -> Reply {
        Reply::text(StatusCode::NOT_FOUND, "not found")
    }

    fn header(mut self, name: header::HeaderName, value: HeaderValue) -> Reply {
        self.headers.push((name, value));
        self
    }
}

async fn handle(state: &Arc<State>, req: hyper::Request<Incoming>) -> Response<Metered> {
    let start = Instant::now();
    state.metrics.in_flight(1);
    let in_flight = InFlight(state.metrics.clone());
    // The token may ride in the path (`/auth/<token>/mod/…`, for plain `go`); only the
    // rest of the path is parsed, and logged.
    let (path_token, path) = split_path_token(req.uri().path());
    let path = path.to_string();
    let method = req.method().clone();
    let parsed = Request::parse(&path);
    let route = parsed.as_ref().map_or(Route::Other, Request::route);

    let mut permit = None;
    let authorized = match &state.token {
        None => true,
        Some(t) => {
            t.check_header(
                req.headers()
                    .get(header::AUTHORIZATION)
                    .map(|v| v.as_bytes()),
            ) || path_token.is_some_and(|p| t.matches(p.as_bytes()))
        }
    };
    let reply = if route != Route::Health && !authorized {
        // Nothing else about the request is looked at: not even whether the path exists.
        Reply::text(
            StatusCode::UNAUTHORIZED,
            "unauthorized: send Authorization: Bearer <token>, Basic auth with the token as password, or the path /auth/<token>/…",
        )
        .header(
            header::WWW_AUTHENTICATE,
            HeaderValue::from_static(BEARER_CHALLENGE),
        )
        .header(
            header::WWW_AUTHENTICATE,
            HeaderValue::from_static(BASIC_CHALLENGE),
        )
    } else if method != Method::GET && method != Method::HEAD {
        Reply::text(StatusCode::METHOD_NOT_ALLOWED, "only GET and HEAD")
            .header(header::ALLOW, HeaderValue::from_static("GET, HEAD"))
    } else {
        match parsed {
            None => Reply::not_found(),
            Some(Request::Health) => Reply::text(StatusCode::OK, "ok"),
            Some(Request::Metrics) => Reply::bytes(
                StatusCode::OK,
                "text/plain; version=0.0.4; charset=utf-8",
                state.metrics.render(),
            ),
            Some(r) => {
                match tokio::time::timeout(
                    state.idle_timeout,
                    state.permits.clone().acquire_owned(),
                )
                .await
                {
                    Ok(Ok(p)) => {
                        permit = Some(p);
                        let range = req
                            .headers()
                            .get(header::RANGE)
                            .and_then(|v| v.to_str().ok())
                            .map(str::to_string);
                        dispatch(state, r, range.as_deref()).await
                    }
                    _ => {
                        state.metrics.busy();
                        Reply::text(
                            StatusCode::SERVICE_UNAVAILABLE,
                            "busy: too many requests in flight",
                        )
                        .header(header::RETRY_AFTER, HeaderValue::from_static("1"))
                    }
                }
            }
        }
    };
    let status = reply.status;
    state.metrics.response(route, status.as_u16());
    if status.is_server_error() {
        tracing::warn!(%method, path, status = status.as_u16(), "request failed");
    } else {
        tracing::debug!(%method, path, status = status.as_u16(), ms = start.elapsed().as_millis() as u64, "request");
    }
    let head = method == Method::HEAD;
    let len = reply.len;
    let body = if head {
        Empty::new().map_err(|never| match never {}).boxed_unsync()
    } else {
        reply.body
    };
    let mut resp = Response::new(Metered {
        inner: body,
        metrics: state.metrics.clone(),
        route,
        start,
        remaining: if head { Some(0) } else { len },
        done: false,
        failed: false,
        _permit: permit,
        _in_flight: in_flight,
    });
    *resp.status_mut() = status;
    let h = resp.headers_mut();
    for (k, v) in reply.headers {
        h.append(k, v);
    }
    if let (true, Some(n)) = (head, len) {
        h.insert(header::CONTENT_LENGTH, HeaderValue::from(n));
    }
    resp
}

async fn blocking<T: Send + 'static>(f: impl FnOnce() -> T + Send + 'static) -> Option<T> {
    tokio::task::spawn_blocking(f).await.ok()
}

fn internal(msg: String) -> Reply {
    tracing::error!("{msg}");
    Reply::text(StatusCode::INTERNAL_SERVER_ERROR, msg)
}

async fn dispatch(state: &Arc<State>, r: Request, range: Option<&str>) -> Reply {
    match r {
        Request::Health | Request::Metrics => Reply::not_found(),
        Request::List(path) => match &state.modcache {
            None => Reply::not_found(),
            Some(mc) => {
                let mc = mc.clone();
                match blocking(move || list_versions(&mc, &path)).await {
                    Some(Ok(Some(text))) => {
                        Reply::bytes(StatusCode::OK, "text/plain; charset=utf-8", text)
                    }
                    Some(Ok(None)) => Reply::not_found(),
                    Some(Err(e)) => internal(e),
                    None => internal("list task failed".into()),
                }
            }
        },
        Request::Info(m) => match &state.modcache {
            None => Reply::not_found(),
            Some(mc) => {
                let mc = mc.clone();
                match blocking(move || info(&mc, &m)).await {
                    Some(Ok(Some(data))) => Reply::bytes(StatusCode::OK, "application/json", data),
                    Some(Ok(None)) => Reply::not_found(),
                    Some(Err(e)) => internal(e),
                    None => internal("info task failed".into()),
                }
            }
        },
        Request::GoMod(m) => match &state.modcache {
            None => Reply::not_found(),
            Some(mc) => match mc.cache_file(&m, "mod") {
                Ok(p) => serve_file(state, &p, "text/plain; charset=utf-8", range).await,
                Err(_) => Reply::not_found(),
            },
        },
        Request::Zip(m) => match &state.modcache {
            None => Reply::not_found(),
            Some(mc) => zip(state, mc, &m, range).await,
        },
        Request::Manifest => match &state.manifest {
            None => Reply::not_found(),
            Some(f) => {
                let f = f.clone();
                match blocking(move || f()).await {
                    Some(Some(data)) => Reply::bytes(StatusCode::OK, "application/json", data),
                    Some(None) => Reply::not_found(),
                    None => internal("manifest task failed".into()),
                }
            }
        },
        Request::Action(id) => match &state.buildcache {
            None => Reply::not_found(),
            Some(bc) => action(bc, &id).await,
        },
        Request::Output(id) => match &state.buildcache {
            None => Reply::not_found(),
            Some(bc) => {
                let bc = bc.clone();
                match blocking(move || bc.output_file(&id)).await {
                    Some(Ok(Some(p))) => {
                        serve_file(state, &p, "application/octet-stream", range).await
                    }
                    Some(Ok(None)) => Reply::not_found(),
                    // An executable entry Go itself would refuse: not servable.
                    Some(Err(gowarm_gocache::CacheError::InvalidExecutableEntry { .. })) => {
                        Reply::not_found()
                    }
                    Some(Err(e)) => internal(e.to_string()),
                    None => internal("output task failed".into()),
                }
            }
        },
    }
}

async fn zip(state: &Arc<State>, mc: &ModCache, m: &ModuleVersion, range: Option<&str>) -> Reply {
    // A zip Go downloaded is served as it is; otherwise one is built from the tree.
    if let Ok(p) = mc.cache_file(m, "zip") {
        if tokio::fs::metadata(&p).await.is_ok_and(|md| md.is_file()) {
            return serve_file(state, &p, "application/zip", range).await;
        }
    }
    match state.zips.get(mc, m, &state.metrics).await {
        Ok(p) => serve_file(state, &p, "application/zip", range).await,
        Err(ZipMiss::NoTree) => Reply::not_found(),
        Err(ZipMiss::Failed(e)) => internal(e),
    }
}

async fn action(bc: &BuildCache, id: &Id) -> Reply {
    let p = bc.action_path(id);
    let mut f = match tokio::fs::File::open(&p).await {
        Ok(f) => f,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Reply::not_found(),
        Err(e) => return internal(format!("{}: {e}", p.display())),
    };
    let mut data = Vec::with_capacity(ENTRY_LEN + 1);
    if let Err(e) = (&mut f)
        .take(ENTRY_LEN as u64 + 1)
        .read_to_end(&mut data)
        .await
    {
        return internal(format!("{}: {e}", p.display()));
    }
    // An entry Go would not read is a miss here too.
    if gowarm_gocache::parse_action_entry_for(id, &data).is_err() {
        return Reply::not_found();
    }
    Reply::bytes(StatusCode::OK, "text/plain; charset=utf-8", data)
}

/// `bytes=N-`, `bytes=N-M` or `bytes=-S` of a body of `len` bytes: `None` to serve it
/// whole (no or an unsupported Range), `Some(Err)` for 416.
fn parse_range(h: &str, len: u64) -> Option<Result<(u64, u64), ()>> {
    let spec = h.trim().strip_prefix("bytes=")?;
    if spec.contains(',') {
        return None;
    }
    let (a, b) = spec.split_once('-')?;
    let (a, b) = (a.trim(), b.trim());
    let r = if a.is_empty() {
        let suffix: u64 = b.parse().ok()?;
        if suffix == 0 {
            return Some(Err(()));
        }
        (len.saturating_sub(suffix), len.saturating_sub(1))
    } else {
        let start: u64 = a.parse().ok()?;
        let end = if b.is_empty() {
            len.saturating_sub(1)
        } else {
            b.parse::<u64>().ok()?.min(len.saturating_sub(1))
        };
        (start, end)
    };
    if len == 0 || r.0 >= len || r.0 > r.1 {
        return Some(Err(()));
    }
    Some(Ok(r))
}

const CHUNK: usize = 128 * 1024;

/// Streams the file at `path` (or the requested range of it).
async fn serve_file(
    state: &Arc<State>,
    path: &Path,
    content_type: &'static str,
    range: Option<&str>,
) -> Reply {
    let mut file = match tokio::fs::File::open(path).await {
        Ok(f) => f,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Reply::not_found(),
        Err(e) => return internal(format!("{}: {e}", path.display())),
    };
    let meta = match file.metadata().await {
        Ok(m) if m.is_file() => m,
        Ok(_) => return Reply::not_found(),
        Err(e) => return internal(format!("{}: {e}", path.display())),
    };
    let len = meta.len();
    let mut status = StatusCode::OK;
    let mut headers = vec![
        (header::CONTENT_TYPE, HeaderValue::from_static(content_type)),
        (header::ACCEPT_RANGES, HeaderValue::from_static("bytes")),
    ];
    let (start, count) = match range.and_then(|r| parse_range(r, len)) {
        None => (0, len),
        Some(Err(())) => {
            let mut r = Reply::text(StatusCode::RANGE_NOT_SATISFIABLE, "range not satisfiable");
            if let Ok(v) = HeaderValue::from_str(&format!("bytes */{len}")) {
                r = r.header(header::CONTENT_RANGE, v);
            }
            return r;
        }
        Some(Ok((a, b))) => {
            status = StatusCode::PARTIAL_CONTENT;
            if let Ok(v) = HeaderValue::from_str(&format!("bytes {a}-{b}/{len}")) {
                headers.push((header::CONTENT_RANGE, v));
            }
            (a, b - a + 1)
        }
    };
    if start > 0 {
        if let Err(e) = file.seek(io::SeekFrom::Start(start)).await {
            return internal(format!("{}: {e}", path.display()));
        }
    }
    let limiter = state.limiter.clone();
    let shown = path.display().to_string();
    let stream = futures::stream::try_unfold(
        (file, count, limiter, shown),
        |(mut file, remaining, limiter, shown)| async move {
            if remaining == 0 {
                return Ok(None);
            }
            let want = remaining.min(CHUNK as u64);
            let mut buf = BytesMut::with_capacity(want as usize);
            let n = (&mut file).take(want).read_buf(&mut buf).await?;
            if n == 0 {
                return Err(io::Error::new(
                    io::ErrorKind::UnexpectedEof,
                    format!("{shown}: file shrank while being served"),
                ));
            }
            if let Some(l) = &limiter {
                l.take(n).await;
            }
            Ok(Some((
                Frame::data(buf.freeze()),
                (file, remaining - n as u64, limiter, shown),
            )))
        },
    );
    Reply {
        status,
        headers,
        body: StreamBody::new(stream).boxed_unsync(),
        len: Some(count),
    }
}

/// The `list` file Go's download cache would hold: every canonical version with a
/// `.mod`, in semver order (cmd/go modfetch `rewriteVersionList`); `None` if the module
/// path is not cached at all.
fn list_versions(mc: &ModCache, path: &str) -> Result<Option<String>, String> {
    let Ok(esc) = gowarm_gomod::escape::escape_path(path) else {
        return Ok(None);
    };
    let dir = mc.root().join("cache/download").join(esc).join("@v");
    let entries = match std::fs::read_dir(&dir) {
        Ok(e) => e,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(format!("{}: {e}", dir.display())),
    };
    let mut versions = Vec::new();
    for e in entries.flatten() {
        let name = e.file_name();
        let Some(name) = name.to_str() else { continue };
        let Some(esc_v) = name.strip_suffix(".mod") else {
            continue;
        };
        let Ok(v) = gowarm_gomod::escape::unescape_version(esc_v) else {
            continue;
        };
        if ModuleVersion::new(path, v.as_str()).check().is_ok() {
            versions.push(v);
        }
    }
    versions.sort_by(|a, b| gowarm_gomod::semver::compare(a, b));
    versions.dedup();
    let mut out = String::new();
    for v in versions {
        out.push_str(&v);
        out.push('\n');
    }
    Ok(Some(out))
}

/// The `.info` file, or one made from the `.mod`'s (else the tree's) modification time.
fn info(mc: &ModCache, m: &ModuleVersion) -> Result<Option<Vec<u8>>, String> {
    let file = mc.cache_file(m, "info").map_err(|e| e.to_string())?;
    match std::fs::read(&file) {
        Ok(b) => return Ok(Some(b)),
        Err(e) if e.kind() == io::ErrorKind::NotFound => {}
        Err(e) => return Err(format!("{}: {e}", file.display())),
    }
    let modfile = mc.cache_file(m, "mod").map_err(|e| e.to_string())?;
    let time = match std::fs::metadata(&modfile) {
        Ok(md) => md.modified().ok(),
        Err(_) => match mc.state(m) {
            Ok(s) if matches!(s.tree, TreeState::Complete { .. }) => mc
                .tree_dir(m)
                .ok()
                .and_then(|t| std::fs::metadata(t).ok())
                .and_then(|md| md.modified().ok()),
            _ => return Ok(None),
        },
    };
    let time = time.unwrap_or(SystemTime::UNIX_EPOCH);
    let json = serde_json::json!({ "Version": m.version, "Time": rfc3339(time) });
    Ok(Some(json.to_string().into_bytes()))
}

/// `YYYY-MM-DDTHH:MM:SSZ` in UTC, as Go's `.info` files write times.
fn rfc3339(t: SystemTime) -> String {
    let secs = t
        .duration_since(SystemTime::UNIX_EPOCH)
        .map(|d| d.as_secs() as i64)
        .unwrap_or(0);
    let days = secs.div_euclid(86_400);
    let rem = secs.rem_euclid(86_400);
    // Howard Hinnant's civil_from_days.
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let y = yoe + era * 400;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = if m <= 2 { y + 1 } else { y };
    format!(
        "{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}Z",
        rem / 3600,
        rem % 3600 / 60,
        rem % 60
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rfc3339_formats_utc() {
        assert_eq!(rfc3339(SystemTime::UNIX_EPOCH), "1970-01-01T00:00:00Z");
        let t = SystemTime::UNIX_EPOCH + Duration::from_secs(1_700_000_000);
        assert_eq!(rfc3339(t), "2023-11-14T22:13:20Z");
        let t = SystemTime::UNIX_EPOCH + Duration::from_secs(951_782_400); // 2000-02-29
        assert_eq!(rfc3339(t), "2000-02-29T00:00:00Z");
    }

    #[test]
    fn ranges() {
        assert_eq!(parse_range("bytes=10-", 100), Some(Ok((10, 99))));
        assert_eq!(parse_range("bytes=10-19", 100), Some(Ok((10, 19))));
        assert_eq!(parse_range("bytes=10-1000", 100), Some(Ok((10, 99))));
        assert_eq!(parse_range("bytes=-10", 100), Some(Ok((90, 99))));
        assert_eq!(parse_range("bytes=100-", 100), Some(Err(())));
        assert_eq!(parse_range("bytes=5-1", 100), Some(Err(())));
        assert_eq!(parse_range("bytes=0-1,5-6", 100), None);
        assert_eq!(parse_range("items=0-1", 100), None);
        assert_eq!(parse_range("bytes=x-", 100), None);
    }
}
