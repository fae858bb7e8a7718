//! The `goproxy` source: Go's module proxy protocol over `http(s)://` or `file://`.
//!
//! `<base>/<escaped path>/@v/<escaped version>.{info,mod,zip}`; 404 and 410 mean
//! "not here" (a miss), as in cmd/go's proxy client.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::time::Duration;

use async_trait::async_trait;
use futures::StreamExt;
use gowarm_gomod::escape::{escape_path, escape_version};
use gowarm_gomod::ModuleVersion;

use super::{Fetch, LocalFile, ModuleBody, Source, SourceError};
use crate::config::SourceConfig;
use crate::error::{Error, Result};

#[derive(Debug)]
enum Base {
    File(PathBuf),
    Http {
        client: reqwest::Client,
        url: String,
    },
}

/// A module proxy.
#[derive(Debug)]
pub struct GoproxySource {
    name: String,
    trusted: bool,
    base: Base,
    timeout: Duration,
}

impl GoproxySource {
    /// Creates the source a `goproxy` source config names.
    pub fn new(cfg: &SourceConfig) -> Result<GoproxySource> {
        let url = cfg.url.clone().unwrap_or_default();
        let timeout = Duration::from_secs(cfg.timeout_secs);
        let base = if let Some(p) = url.strip_prefix("file://") {
            let root = PathBuf::from(p);
            if !root.is_dir() {
                return Err(Error::Source {
                    name: cfg.name.clone(),
                    message: format!("{} is not a directory", root.display()),
                });
            }
            Base::File(root)
        } else {
            let client = reqwest::Client::builder()
                .connect_timeout(timeout.min(Duration::from_secs(10)))
                .user_agent(concat!("gowarm/", env!("CARGO_PKG_VERSION")))
                .build()
                .map_err(|e| Error::Source {
                    name: cfg.name.clone(),
                    message: format!("cannot create an HTTP client: {e}"),
                })?;
            Base::Http {
                client,
                url: url.trim_end_matches('/').to_string(),
            }
        };
        Ok(GoproxySource {
            name: cfg.name.clone(),
            trusted: cfg.trusted.unwrap_or(false),
            base,
            timeout,
        })
    }

    fn rel(m: &ModuleVersion, ext: &str) -> std::result::Result<String, SourceError> {
        let p = escape_path(&m.path).map_err(|e| SourceError::new(e.to_string()))?;
        let v = escape_version(&m.version).map_err(|e| SourceError::new(e.to_string()))?;
        Ok(format!("{p}/@v/{v}.{ext}"))
    }

    async fn small(&self, m: &ModuleVersion, ext: &str) -> Fetch<Vec<u8>> {
        let rel = Self::rel(m, ext)?;
        match &self.base {
            Base::File(root) => read_local(&root.join(rel)),
            Base::Http { client, url } => {
                let u = format!("{url}/{rel}");
                let send = client.get(&u).timeout(self.timeout).send();
                let resp = match send.await {
                    Ok(r) => r,
                    Err(e) => return Err(http_error(&u, e)),
                };
                if is_miss(resp.status()) {
                    return Ok(None);
                }
                if !resp.status().is_success() {
                    return Err(SourceError::new(format!("GET {u}: HTTP {}", resp.status())));
                }
                match resp.bytes().await {
                    Ok(b) => Ok(Some(b.to_vec())),
                    Err(e) => Err(http_error(&u, e)),
                }
            }
        }
    }

    /// Streams `url` into a temporary file in `scratch`, giving up when no byte arrives for
    /// the configured timeout, and refusing a body shorter than its Content-Length.
    async fn download(
        &self,
        client: &reqwest::Client,
        u: &str,
        scratch: &Path,
    ) -> Fetch<LocalFile> {
        let resp = match tokio::time::timeout(self.timeout, client.get(u).send()).await {
            Err(_) => {
                return Err(SourceError {
                    message: format!("GET {u}: no response in {:?}", self.timeout),
                    timeout: true,
                })
            }
            Ok(Err(e)) => return Err(http_error(u, e)),
            Ok(Ok(r)) => r,
        };
        if is_miss(resp.status()) {
            return Ok(None);
        }
        if !resp.status().is_success() {
            return Err(SourceError::new(format!("GET {u}: HTTP {}", resp.status())));
        }
        let expected = resp.content_length();
        let mut tmp = tempfile::NamedTempFile::new_in(scratch).map_err(|e| {
            SourceError::new(format!(
                "creating a download file in {}: {e}",
                scratch.display()
            ))
        })?;
        let mut got: u64 = 0;
        let mut stream = resp.bytes_stream();
        loop {
            let next = match tokio::time::timeout(self.timeout, stream.next()).await {
                Err(_) => {
                    return Err(SourceError {
                        message: format!(
                            "GET {u}: transfer stalled for {:?} after {got} bytes",
                            self.timeout
                        ),
                        timeout: true,
                    })
                }
                Ok(n) => n,
            };
            match next {
                None => break,
                Some(Err(e)) => {
                    let mut err = http_error(u, e);
                    if let Some(n) = expected.filter(|n| got < *n) {
                        err.message = format!(
                            "GET {u}: truncated download: the transfer ended after {got} of {n} bytes ({})",
                            err.message
                        );
                    }
                    return Err(err);
                }
                Some(Ok(chunk)) => {
                    got += chunk.len() as u64;
                    tmp.write_all(&chunk).map_err(|e| {
                        SourceError::new(format!("writing {}: {e}", tmp.path().display()))
                    })?;
                }
            }
        }
        if let Some(n) = expected {
            if n != got {
                return Err(SourceError::new(format!(
                    "GET {u}: truncated download ({got} of {n} bytes)"
                )));
            }
        }
        tmp.flush()
            .map_err(|e| SourceError::new(format!("writing {}: {e}", tmp.path().display())))?;
        Ok(Some(LocalFile::temporary(tmp.into_temp_path())))
    }
}

fn read_local(p: &Path) -> Fetch<Vec<u8>> {
    match std::fs::read(p) {
        Ok(b) => Ok(Some(b)),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(SourceError::new(format!("reading {}: {e}", p.display()))),
    }
}

fn is_miss(s: reqwest::StatusCode) -> bool {
    s == reqwest::StatusCode::NOT_FOUND || s == reqwest::StatusCode::GONE
}

fn http_error(u: &str, e: reqwest::Error) -> SourceError {
    // reqwest's Display is terse ("error decoding response body"); the cause chain says
    // what happened ("end of file before message length reached", "connection refused").
    let mut message = format!("GET {u}: {e}");
    let mut src = std::error::Error::source(&e);
    while let Some(s) = src {
        message.push_str(&format!(": {s}"));
        src = s.source();
    }
    SourceError {
        message,
        timeout: e.is_timeout(),
    }
}

#[async_trait]
impl Source for GoproxySource {
    fn name(&self) -> &str {
        &self.name
    }

    fn trusted(&self) -> bool {
        self.trusted
    }

    async fn has_module(&self, m: &ModuleVersion, tree: bool) -> Option<bool> {
        let ext = if tree { "zip" } else { "mod" };
        match &self.base {
            Base::File(root) => Some(root.join(Self::rel(m, ext).ok()?).is_file()),
            Base::Http { .. } => None,
        }
    }

    async fn gomod(&self, m: &ModuleVersion) -> Fetch<Vec<u8>> {
        self.small(m, "mod").await
    }

    async fn info(&self, m: &ModuleVersion) -> Fetch<Vec<u8>> {
        self.small(m, "info").await
    }

    async fn module(&self, m: &ModuleVersion, scratch: &Path) -> Fetch<ModuleBody> {
        let rel = Self::rel(m, "zip")?;
        match &self.base {
            Base::File(root) => {
                let p = root.join(rel);
                Ok(p.is_file().then(|| ModuleBody::Zip(LocalFile::borrowed(p))))
            }
            Base::Http { client, url } => {
                let u = format!("{url}/{rel}");
                Ok(self
                    .download(client, &u, scratch)
                    .await?
                    .map(ModuleBody::Zip))
            }
        }
    }
}
