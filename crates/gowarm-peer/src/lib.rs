//! The sibling-pod protocol: `gowarm serve` shares a pod's ModCache and BuildCache,
//! read-only, with its siblings, and [`PeerClient`] fetches from them.
//!
//! # Protocol (HTTP/1.1)
//!
//! | request | answer |
//! | --- | --- |
//! | `GET /healthz` | `200 ok` — the only request served without a token |
//! | `GET /metrics` | Prometheus text: `gowarm_peer_requests_total{route,code}`, `gowarm_peer_response_bytes_total{route}`, `gowarm_peer_errors_total{route,kind}`, `gowarm_peer_request_duration_seconds{route}` (histogram), in-flight, connections, zips built |
//! | `GET /mod/<esc path>/@v/list` | canonical versions with a `.mod`, semver order (what Go's download cache writes in `list`) |
//! | `GET /mod/<esc path>/@v/<esc v>.info` | the `.info` file, else `{"Version":…,"Time":…}` from the `.mod`'s (or tree's) mtime |
//! | `GET /mod/<esc path>/@v/<esc v>.mod` | the `.mod` file |
//! | `GET /mod/<esc path>/@v/<esc v>.zip` | the cached `.zip`, else a zip built from the extracted tree (only a tree with its `.ziphash`, as Go judges it), whose `h1:` is checked against `.ziphash` — the go.sum value — before it is served |
//! | `GET /build/manifest` | the Manifest JSON the pod holds (404 if none) |
//! | `GET /build/action/<64 hex>` | the 175-byte action entry (404 if Go would not read it) |
//! | `GET /build/output/<64 hex>` | the output, streamed |
//!
//! `/mod` is the GOPROXY protocol, so plain `go` works with
//! `GOPROXY=http://<peer>/auth/<token>/mod` (see Auth). Escaping is Go's (`!` + lower
//! case for each upper-case letter); only canonical versions are served. Percent-escapes
//! are decoded once (Go's client writes `!` as `%21`) and the result is judged: anything
//! that does not parse as a valid escaped module path and canonical version, or as 64
//! lower-case hex digits, is 404 without touching the file system — `..`, `.` and empty
//! elements (`%2e%2e` included), absolute or doubled slashes, backslashes, a second layer
//! of escapes and unescaped upper case never reach a path (see [`protocol`]).
//! 404 and 410 are misses. File bodies carry `Content-Length` and honour a single
//! `Range: bytes=N-` (206), so a client resumes an output from another peer.
//!
//! **Auth.** With a token configured, every request but `/healthz` must carry it, in one
//! of three forms: `Authorization: Bearer <token>` (what [`PeerClient`] sends); HTTP
//! Basic auth whose password is the token (any user name: `curl -u gowarm:<token>`, or
//! `GOPROXY=https://gowarm:<token>@host/mod` behind TLS); or the token as the first path
//! segments, `/auth/<token>/…`. The path form exists for plain `go` over plain http:
//! cmd/go (go1.25, `internal/web/http.go`) refuses to send a URL's user info over http
//! ("refusing to pass credentials to insecure URL"), applies GOAUTH credentials to https
//! only, and has no way to send a bearer token, so
//! `GOPROXY=http://10.0.0.5:7070/auth/<token>/mod` ([`protocol::goproxy_url`]) is the
//! one form it can use; the token crosses the pod network in clear text either way, as
//! any token over plain http does. Paths are logged without the token. Anything else is
//! `401` with `WWW-Authenticate: Bearer realm="gowarm"` and `Basic realm="gowarm"`,
//! whatever the path (an unauthenticated client learns nothing about what exists).
//! Tokens are compared in constant time (as SHA-256 digests, so lengths do not show).
//!
//! **Limits.** At most `max_in_flight` requests are worked on at once (others wait up to
//! the idle timeout, then 503); a connection that moves no byte for `idle_timeout` with
//! no request being worked on is closed; on shutdown (SIGTERM) the server stops
//! accepting and lets in-flight responses finish for `shutdown_grace`.
//! `max_bytes_per_sec` caps what serving siblings may take from the pod's network.
//!
//! The server never writes to the caches it serves; zips it builds go to a directory of
//! its own. It knows nothing of the engine: the Manifest is whatever the caller's
//! [`ManifestProvider`] returns.
//!
//! ```no_run
//! use gowarm_peer::{serve, ServerConfig};
//!
//! # async fn run() -> Result<(), Box<dyn std::error::Error>> {
//! let cfg = ServerConfig {
//!     gomodcache: Some("/home/runner/go/pkg/mod".into()),
//!     gocache: Some("/home/runner/.cache/go-build".into()),
//!     token: Some(std::fs::read_to_string("/var/run/secrets/gowarm/token")?),
//!     manifest: Some(gowarm_peer::manifest_from_file("/var/lib/gowarm/manifest.json")),
//!     ..ServerConfig::default()
//! };
//! let listener = tokio::net::TcpListener::bind(cfg.listen).await?;
//! let summary = serve(cfg, listener, gowarm_peer::shutdown_signal()).await?;
//! println!("served {} requests", summary.requests);
//! # Ok(()) }
//! ```

#![warn(missing_docs)]

pub mod client;
pub mod metrics;
pub mod protocol;
pub mod server;
mod zips;

pub use client::{
    ClientConfig, ClientError, DownloadFailure, Downloaded, ErrorKind, Partial, PeerClient,
};
pub use metrics::{Metrics, MetricsSnapshot};
pub use protocol::{goproxy_url, rendezvous_order, Request, Route, Token};
pub use server::{
    manifest_from_bytes, manifest_from_file, serve, serve_blocking, shutdown_signal,
    ManifestProvider, ServeSummary, Server, ServerConfig, ServerError,
};
