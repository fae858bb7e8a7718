//! Serve: share this pod's caches with its siblings (`gowarm serve`), through the
//! `gowarm-peer` server, offering the Manifest of what the caches hold ([`crate::held`]).

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use crate::engine::Engine;
use crate::error::{Error, Result};
use crate::held::held_manifest_in;

/// How long a listing of the caches is reused for `/build/manifest`.
const MANIFEST_TTL: Duration = Duration::from_secs(5);

/// Where the bearer token comes from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TokenSource {
    /// A file (a mounted Kubernetes Secret); surrounding white space is ignored.
    File(PathBuf),
    /// An environment variable.
    Env(String),
    /// No token: anyone who can reach the port is served (a trusted network only).
    None,
}

impl TokenSource {
    /// The token, or an error naming the file or variable and the fix.
    pub fn read(&self) -> Result<Option<String>> {
        self.read_text().map_err(|message| Error::Config {
            origin: "token".into(),
            message,
        })
    }

    /// [`TokenSource::read`] with the error as text (for sources, which report strings).
    pub(crate) fn read_text(&self) -> std::result::Result<Option<String>, String> {
        match self {
            TokenSource::None => Ok(None),
            TokenSource::File(f) => match std::fs::read_to_string(f) {
                Ok(s) if !s.trim().is_empty() => Ok(Some(s.trim().to_string())),
                Ok(_) => Err(format!(
                    "token file {} is empty; the Secret mounted there must hold the peer token",
                    f.display()
                )),
                Err(e) => Err(format!(
                    "token file {}: {e}; mount the Secret holding the peer token there (a `secret` volume, e.g. `secretName: gowarm-peer-token`, with `token_file` pointing at its key) or set `token_env`",
                    f.display()
                )),
            },
            TokenSource::Env(var) => match std::env::var(var) {
                Ok(s) if !s.trim().is_empty() => Ok(Some(s.trim().to_string())),
                _ => Err(format!(
                    "environment variable {var} (token_env) is not set or empty; set it from the Secret (`env: - name: {var}, valueFrom: secretKeyRef: …`)"
                )),
            },
        }
    }
}

/// How `gowarm serve` runs.
#[derive(Debug, Clone)]
pub struct ServeRequest {
    /// Address to listen on.
    pub listen: SocketAddr,
    /// The bearer token's source.
    pub token: TokenSource,
    /// Requests worked on at once (default: the server's).
    pub max_in_flight: Option<usize>,
    /// Idle connections are closed after this long (default: the server's).
    pub idle_timeout: Option<Duration>,
}

impl Engine {
    /// Serves this engine's caches (read-only) until SIGTERM or ctrl-c.
    pub fn serve(&self, req: &ServeRequest) -> Result<gowarm_peer::ServeSummary> {
        let env = self.environment(&std::env::temp_dir())?;
        let token = req.token.read()?;
        if token.is_none() {
            tracing::warn!(
                "serving without a token: anyone who reaches {} gets the caches",
                req.listen
            );
        }
        let manifest_env = env.clone();
        // Listing the caches reads every entry: siblings asking at once share one listing
        // for a few seconds.
        let last: std::sync::Mutex<Option<(std::time::Instant, Vec<u8>)>> = Default::default();
        let manifest: gowarm_peer::server::ManifestProvider = Arc::new(move || {
            let mut last = last.lock().unwrap_or_else(|e| e.into_inner());
            if let Some((at, bytes)) = last.as_ref() {
                if at.elapsed() < MANIFEST_TTL {
                    return Some(bytes.clone());
                }
            }
            match held_manifest_in(&manifest_env) {
                Ok(m) => {
                    let bytes = serde_json::to_vec(&m).ok()?;
                    *last = Some((std::time::Instant::now(), bytes.clone()));
                    Some(bytes)
                }
                Err(e) => {
                    tracing::warn!("cannot list what the caches hold: {e}");
                    None
                }
            }
        });
        let mut cfg = gowarm_peer::ServerConfig {
            listen: req.listen,
            gomodcache: Some(env.gomodcache.clone()),
            gocache: Some(env.gocache.clone()),
            token,
            manifest: Some(manifest),
            ..gowarm_peer::ServerConfig::default()
        };
        if let Some(n) = req.max_in_flight {
            cfg.max_in_flight = n;
        }
        if let Some(t) = req.idle_timeout {
            cfg.idle_timeout = t;
        }
        tracing::info!(listen = %req.listen, gomodcache = %env.gomodcache.display(), gocache = %env.gocache.display(), "serving");
        gowarm_peer::serve_blocking(cfg).map_err(|e| Error::Serve(e.to_string()))
    }
}
