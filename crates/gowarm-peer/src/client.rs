//! [`PeerClient`]: one peer's caches over the protocol, with connect, response and stall
//! timeouts; 404 and 410 are misses (`Ok(None)`), as in Go's proxy client.

use std::io::Write as _;
use std::path::Path;
use std::time::Duration;

use futures::StreamExt as _;
use gowarm_gocache::Id;
use gowarm_gomod::ModuleVersion;
use reqwest::header::{HeaderValue, AUTHORIZATION, CONTENT_RANGE, RANGE};
use reqwest::StatusCode;

use crate::protocol::{self, Request};

/// Timeouts and credentials of a client.
#[derive(Clone)]
pub struct ClientConfig {
    /// The bearer token the peers require.
    pub token: Option<String>,
    /// Longest wait for a TCP (and TLS) connection.
    pub connect_timeout: Duration,
    /// Longest wait from sending a request to the response head.
    pub response_timeout: Duration,
    /// Longest wait for the next byte of a body: a transfer that stalls this long is
    /// abandoned, however long it has run so far.
    pub stall_timeout: Duration,
}

impl Default for ClientConfig {
    fn default() -> Self {
        ClientConfig {
            token: None,
            connect_timeout: Duration::from_secs(2),
            response_timeout: Duration::from_secs(60),
            stall_timeout: Duration::from_secs(60),
        }
    }
}

impl std::fmt::Debug for ClientConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ClientConfig")
            .field("token", &self.token.as_ref().map(|_| "<redacted>"))
            .field("connect_timeout", &self.connect_timeout)
            .field("response_timeout", &self.response_timeout)
            .field("stall_timeout", &self.stall_timeout)
            .finish()
    }
}

impl ClientConfig {
    /// An HTTP client with these connect settings, to share between several peers.
    pub fn http_client(&self) -> Result<reqwest::Client, ClientError> {
        reqwest::Client::builder()
            .connect_timeout(self.connect_timeout)
            // Under the server's default idle timeout (60 s): a pooled connection is
            // dropped here before the server closes it under a new request.
            .pool_idle_timeout(Duration::from_secs(30))
            .user_agent(concat!("gowarm/", env!("CARGO_PKG_VERSION")))
            .build()
            .map_err(|e| {
                ClientError::new(
                    ErrorKind::Protocol,
                    format!("cannot create an HTTP client: {e}"),
                )
            })
    }
}

/// What kind of failure a [`ClientError`] is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ErrorKind {
    /// No connection could be made (refused, unreachable, connect timeout).
    Connect,
    /// No response head within the response timeout.
    Timeout,
    /// A body stopped arriving for the stall timeout.
    Stalled,
    /// The peer refused the token (401 or 403).
    Unauthorized,
    /// Another unexpected HTTP status.
    Status(u16),
    /// The body ended before its Content-Length, or the connection broke mid-body.
    Truncated,
    /// The body is larger than the caller allows.
    TooLarge,
    /// Writing the download locally failed.
    Local,
    /// Anything else on the wire.
    Protocol,
}

/// A request to a peer that failed; the message names the URL (without credentials).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{message}")]
pub struct ClientError {
    /// What kind of failure.
    pub kind: ErrorKind,
    /// What happened.
    pub message: String,
}

impl ClientError {
    fn new(kind: ErrorKind, message: impl Into<String>) -> Self {
        ClientError {
            kind,
            message: message.into(),
        }
    }

    /// Whether the peer did not answer in time (connect, response or stall timeout).
    pub fn is_timeout(&self) -> bool {
        matches!(self.kind, ErrorKind::Timeout | ErrorKind::Stalled)
            || (self.kind == ErrorKind::Connect && self.message.contains("timed out"))
    }

    /// Whether the peer looks unusable for a while (no connection, no answer, a refused
    /// token), as opposed to failing one request.
    pub fn peer_unusable(&self) -> bool {
        matches!(
            self.kind,
            ErrorKind::Connect | ErrorKind::Timeout | ErrorKind::Stalled | ErrorKind::Unauthorized
        )
    }
}

/// A body downloaded to a temporary file (deleted when dropped, unless kept).
#[derive(Debug)]
pub struct Downloaded {
    /// The file.
    pub file: tempfile::TempPath,
    /// Its length in bytes.
    pub len: u64,
}

/// The part of a body that arrived before a transfer failed, to resume elsewhere.
#[derive(Debug)]
pub struct Partial {
    file: tempfile::NamedTempFile,
    len: u64,
}

impl Partial {
    /// Bytes already here.
    pub fn len(&self) -> u64 {
        self.len
    }

    /// Whether nothing arrived.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }
}

/// A failed download, with what had arrived (resumable with [`PeerClient::resume`] from
/// a peer serving the same bytes: build-cache outputs, which are named by their hash).
#[derive(Debug)]
pub struct DownloadFailure {
    /// Why it failed.
    pub error: ClientError,
    /// The bytes received before the failure, if any were.
    pub partial: Option<Partial>,
}

impl From<ClientError> for DownloadFailure {
    fn from(error: ClientError) -> Self {
        DownloadFailure {
            error,
            partial: None,
        }
    }
}

/// One peer: `GET`s with timeouts, streaming downloads, misses as `None`.
#[derive(Clone)]
pub struct PeerClient {
    http: reqwest::Client,
    base: String,
    auth: Option<HeaderValue>,
    response_timeout: Duration,
    stall_timeout: Duration,
}

impl std::fmt::Debug for PeerClient {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PeerClient")
            .field("base", &self.base)
            .finish()
    }
}

impl PeerClient {
    /// A client for the peer at `base` (`http://10.0.0.5:7070`) with its own HTTP client.
    pub fn new(base: &str, cfg: &ClientConfig) -> Result<PeerClient, ClientError> {
        Self::with_http(base, cfg, cfg.http_client()?)
    }

    /// A client for the peer at `base` sharing `http` (its connection pool) with others.
    pub fn with_http(
        base: &str,
        cfg: &ClientConfig,
        http: reqwest::Client,
    ) -> Result<PeerClient, ClientError> {
        let base = base.trim_end_matches('/').to_string();
        if !(base.starts_with("http://") || base.starts_with("https://")) {
            return Err(ClientError::new(
                ErrorKind::Protocol,
                format!("peer {base:?} is not an http:// or https:// address"),
            ));
        }
        let auth = match &cfg.token {
            None => None,
            Some(t) => {
                let mut v = HeaderValue::from_str(&protocol::bearer(t)).map_err(|_| {
                    ClientError::new(
                        ErrorKind::Protocol,
                        "the token has characters an HTTP header cannot carry",
                    )
                })?;
                v.set_sensitive(true);
                Some(v)
            }
        };
        Ok(PeerClient {
            http,
            base,
            auth,
            response_timeout: cfg.response_timeout,
            stall_timeout: cfg.stall_timeout,
        })
    }

    /// The peer's address.
    pub fn base(&self) -> &str {
        &self.base
    }

    /// The URL of a protocol path on this peer.
    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    async fn send(&self, path: &str, from: u64) -> Result<Option<reqwest::Response>, ClientError> {
        let url = self.url(path);
        let mut req = self.http.get(&url);
        if let Some(a) = &self.auth {
            req = req.header(AUTHORIZATION, a.clone());
        }
        if from > 0 {
            req = req.header(RANGE, format!("bytes={from}-"));
        }
        let resp = match tokio::time::timeout(self.response_timeout, req.send()).await {
            Err(_) => {
                return Err(ClientError::new(
                    ErrorKind::Timeout,
                    format!("GET {url}: no response in {:?}", self.response_timeout),
                ))
            }
            Ok(Err(e)) => return Err(wire_error(&url, e)),
            Ok(Ok(r)) => r,
        };
        let status = resp.status();
        if status == StatusCode::NOT_FOUND || status == StatusCode::GONE {
            return Ok(None);
        }
        if status == StatusCode::UNAUTHORIZED || status == StatusCode::FORBIDDEN {
            return Err(ClientError::new(
                ErrorKind::Unauthorized,
                format!(
                    "GET {url}: HTTP {status}: the peer refused our token (is the same Secret mounted on both pods?)"
                ),
            ));
        }
        if !(status == StatusCode::OK || (from > 0 && status == StatusCode::PARTIAL_CONTENT)) {
            return Err(ClientError::new(
                ErrorKind::Status(status.as_u16()),
                format!("GET {url}: HTTP {status}"),
            ));
        }
        Ok(Some(resp))
    }

    /// `GET path` into memory, refusing a body over `limit` bytes.
    pub async fn get_bytes(&self, path: &str, limit: u64) -> Result<Option<Vec<u8>>, ClientError> {
        let Some(resp) = self.send(path, 0).await? else {
            return Ok(None);
        };
        let url = self.url(path);
        let expected = resp.content_length();
        if expected.is_some_and(|n| n > limit) {
            return Err(ClientError::new(
                ErrorKind::TooLarge,
                format!(
                    "GET {url}: {} bytes, more than the {limit} allowed",
                    expected.unwrap_or(0)
                ),
            ));
        }
        let mut out = Vec::with_capacity(expected.unwrap_or(0).min(limit) as usize);
        let mut stream = resp.bytes_stream();
        loop {
            match self.next_chunk(&url, &mut stream, out.len() as u64).await? {
                None => break,
                Some(chunk) => {
                    if out.len() as u64 + chunk.len() as u64 > limit {
                        return Err(ClientError::new(
                            ErrorKind::TooLarge,
                            format!("GET {url}: body larger than the {limit} bytes allowed"),
                        ));
                    }
                    out.extend_from_slice(&chunk);
                }
            }
        }
        check_length(&url, expected, out.len() as u64)?;
        Ok(Some(out))
    }

    async fn next_chunk(
        &self,
        url: &str,
        stream: &mut (impl futures::Stream<Item = reqwest::Result<bytes::Bytes>> + Unpin),
        got: u64,
    ) -> Result<Option<bytes::Bytes>, ClientError> {
        match tokio::time::timeout(self.stall_timeout, stream.next()).await {
            Err(_) => Err(ClientError::new(
                ErrorKind::Stalled,
                format!(
                    "GET {url}: transfer stalled: no byte for {:?} after {got} bytes",
                    self.stall_timeout
                ),
            )),
            Ok(None) => Ok(None),
            Ok(Some(Ok(b))) => Ok(Some(b)),
            Ok(Some(Err(e))) => {
                let mut err = wire_error(url, e);
                err.kind = ErrorKind::Truncated;
                err.message = format!("{} (after {got} bytes)", err.message);
                Err(err)
            }
        }
    }

    /// Streams `GET path` into a temporary file in `dir`.
    pub async fn download(
        &self,
        path: &str,
        dir: &Path,
    ) -> Result<Option<Downloaded>, DownloadFailure> {
        let file = tempfile::NamedTempFile::new_in(dir).map_err(|e| {
            ClientError::new(
                ErrorKind::Local,
                format!("creating a download file in {}: {e}", dir.display()),
            )
        })?;
        self.fetch_into(path, Partial { file, len: 0 }).await
    }

    /// Continues a failed download of `path` from this peer with a Range request (the
    /// whole body again if the peer ignores the range).
    pub async fn resume(
        &self,
        path: &str,
        partial: Partial,
    ) -> Result<Option<Downloaded>, DownloadFailure> {
        self.fetch_into(path, partial).await
    }

    async fn fetch_into(
        &self,
        path: &str,
        mut part: Partial,
    ) -> Result<Option<Downloaded>, DownloadFailure> {
        let url = self.url(path);
        let from = part.len;
        let resp = match self.send(path, from).await {
            Ok(Some(r)) => r,
            Ok(None) => return Ok(None),
            Err(error) => {
                return Err(DownloadFailure {
                    error,
                    partial: Some(part).filter(|p| p.len > 0),
                })
            }
        };
        let local = |e: std::io::Error, p: &Path| {
            DownloadFailure::from(ClientError::new(
                ErrorKind::Local,
                format!("writing {}: {e}", p.display()),
            ))
        };
        if resp.status() == StatusCode::PARTIAL_CONTENT {
            let start = resp
                .headers()
                .get(CONTENT_RANGE)
                .and_then(|v| v.to_str().ok())
                .and_then(|v| v.strip_prefix("bytes "))
                .and_then(|v| v.split_once('-'))
                .and_then(|(a, _)| a.parse::<u64>().ok());
            if start != Some(from) {
                return Err(ClientError::new(
                    ErrorKind::Protocol,
                    format!("GET {url}: asked for bytes from {from}, got Content-Range {start:?}"),
                )
                .into());
            }
        } else if from > 0 {
            // The whole body: start over.
            let p = part.file.path().to_path_buf();
            part.file
                .as_file_mut()
                .set_len(0)
                .map_err(|e| local(e, &p))?;
            std::io::Seek::rewind(part.file.as_file_mut()).map_err(|e| local(e, &p))?;
            part.len = 0;
        }
        let expected = resp.content_length().map(|n| n + part.len);
        let mut stream = resp.bytes_stream();
        loop {
            match self.next_chunk(&url, &mut stream, part.len).await {
                Ok(None) => break,
                Ok(Some(chunk)) => {
                    if let Err(e) = part.file.write_all(&chunk) {
                        let p = part.file.path().to_path_buf();
                        return Err(local(e, &p));
                    }
                    part.len += chunk.len() as u64;
                }
                Err(mut error) => {
                    if let Some(n) = expected {
                        error.message = format!("{} of {n}", error.message);
                    }
                    return Err(DownloadFailure {
                        error,
                        partial: Some(part).filter(|p| p.len > 0),
                    });
                }
            }
        }
        if let Err(error) = check_length(&url, expected, part.len) {
            return Err(DownloadFailure {
                error,
                partial: Some(part).filter(|p| p.len > 0),
            });
        }
        if let Err(e) = part.file.flush() {
            let p = part.file.path().to_path_buf();
            return Err(local(e, &p));
        }
        Ok(Some(Downloaded {
            len: part.len,
            file: part.file.into_temp_path(),
        }))
    }

    /// `GET /healthz` succeeded.
    pub async fn health(&self) -> Result<(), ClientError> {
        match self.get_bytes(protocol::HEALTH_PATH, 1024).await? {
            Some(_) => Ok(()),
            None => Err(ClientError::new(
                ErrorKind::Status(404),
                format!(
                    "GET {}: 404: not a gowarm server",
                    self.url(protocol::HEALTH_PATH)
                ),
            )),
        }
    }

    /// The peer's Prometheus metrics text.
    pub async fn metrics(&self) -> Result<Option<String>, ClientError> {
        Ok(self
            .get_bytes(protocol::METRICS_PATH, 1 << 20)
            .await?
            .map(|b| String::from_utf8_lossy(&b).into_owned()))
    }

    /// The versions of module `path` the peer holds (its `@v/list`).
    pub async fn list(&self, path: &str) -> Result<Option<Vec<String>>, ClientError> {
        let p = Request::List(path.to_string()).path();
        Ok(self.get_bytes(&p, 1 << 20).await?.map(|b| {
            String::from_utf8_lossy(&b)
                .lines()
                .filter(|l| !l.trim().is_empty())
                .map(|l| l.trim().to_string())
                .collect()
        }))
    }

    /// The module's `.info`.
    pub async fn info(&self, m: &ModuleVersion) -> Result<Option<Vec<u8>>, ClientError> {
        self.get_bytes(&Request::Info(m.clone()).path(), 1 << 20)
            .await
    }

    /// The module's `.mod`.
    pub async fn gomod(&self, m: &ModuleVersion) -> Result<Option<Vec<u8>>, ClientError> {
        self.get_bytes(
            &Request::GoMod(m.clone()).path(),
            gowarm_gomod::modzip::MAX_GO_MOD,
        )
        .await
    }

    /// The module's zip, downloaded into `dir`.
    pub async fn zip(
        &self,
        m: &ModuleVersion,
        dir: &Path,
    ) -> Result<Option<Downloaded>, DownloadFailure> {
        self.download(&Request::Zip(m.clone()).path(), dir).await
    }

    /// The Manifest JSON the peer holds.
    pub async fn manifest(&self) -> Result<Option<Vec<u8>>, ClientError> {
        self.get_bytes(protocol::MANIFEST_PATH, 256 << 20).await
    }

    /// A build-cache action entry.
    pub async fn action(&self, id: &Id) -> Result<Option<Vec<u8>>, ClientError> {
        // A little more than an entry: a longer body is then seen (and refused) by the
        // caller's parser rather than cut here.
        self.get_bytes(&Request::Action(*id).path(), 4096).await
    }

    /// A build-cache output, downloaded into `dir`.
    pub async fn output(&self, id: &Id, dir: &Path) -> Result<Option<Downloaded>, DownloadFailure> {
        self.download(&Request::Output(*id).path(), dir).await
    }
}

fn check_length(url: &str, expected: Option<u64>, got: u64) -> Result<(), ClientError> {
    match expected {
        Some(n) if n != got => Err(ClientError::new(
            ErrorKind::Truncated,
            format!("GET {url}: truncated: {got} of {n} bytes"),
        )),
        _ => Ok(()),
    }
}

fn wire_error(url: &str, e: reqwest::Error) -> ClientError {
    // reqwest's Display is terse; the cause chain says what happened ("connection
    // refused", "end of file before message length reached").
    let mut message = format!("GET {url}: {e}");
    let mut src = std::error::Error::source(&e);
    while let Some(s) = src {
        message.push_str(&format!(": {s}"));
        src = s.source();
    }
    let kind = if e.is_connect() {
        ErrorKind::Connect
    } else if e.is_timeout() {
        ErrorKind::Timeout
    } else if e.is_body() || e.is_decode() {
        ErrorKind::Truncated
    } else {
        ErrorKind::Protocol
    };
    ClientError { kind, message }
}
