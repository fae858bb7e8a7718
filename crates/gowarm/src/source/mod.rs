//! Source: somewhere warm content can come from, and the built-in kinds.
//!
//! A source answers per item with a hit (the content, to be verified by the installer),
//! a miss (`Ok(None)`: it does not have the item; not an error), or an error (it should
//! have been able to answer and could not: I/O, timeout, protocol). The warm tries the
//! configured sources in order per item and falls through on a miss, an error or content
//! that fails verification; sources never verify or install anything themselves.

pub mod dir;
pub mod goproxy;
pub mod peer;

use std::path::{Path, PathBuf};
use std::sync::Arc;

use async_trait::async_trait;
use gowarm_gocache::Id;
use gowarm_gomod::ModuleVersion;

use crate::config::{SourceConfig, SourceKind};
use crate::error::Result;
use crate::manifest::Manifest;

/// Why a source could not answer for an item.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{message}")]
pub struct SourceError {
    /// What happened, naming the file or URL.
    pub message: String,
    /// True when the request timed out or stalled.
    pub timeout: bool,
}

impl SourceError {
    /// A non-timeout error.
    pub fn new(message: impl Into<String>) -> Self {
        SourceError {
            message: message.into(),
            timeout: false,
        }
    }
}

/// A source's answer for one item: `Ok(None)` is a miss.
pub type Fetch<T> = std::result::Result<Option<T>, SourceError>;

/// A file on local disk holding fetched content; a temporary one is deleted on drop.
#[derive(Debug)]
pub struct LocalFile {
    path: PathBuf,
    _temp: Option<tempfile::TempPath>,
}

impl LocalFile {
    /// A file that belongs to the source (read in place, never deleted).
    pub fn borrowed(path: PathBuf) -> Self {
        LocalFile { path, _temp: None }
    }

    /// A downloaded temporary file, deleted when this value drops.
    pub fn temporary(temp: tempfile::TempPath) -> Self {
        LocalFile {
            path: temp.to_path_buf(),
            _temp: Some(temp),
        }
    }

    /// Where the content is.
    pub fn path(&self) -> &Path {
        &self.path
    }
}

/// A module's content as a source supplies it.
#[derive(Debug)]
pub enum ModuleBody {
    /// A module zip in Go's format.
    Zip(LocalFile),
    /// An extracted module tree on local disk (a warm image's ModCache).
    Tree(PathBuf),
}

/// An item whose content a source supplied, as the warm names it back to the source.
#[derive(Debug, Clone, Copy)]
pub enum ItemRef<'a> {
    /// A module's tree (zip or extracted).
    Module(&'a ModuleVersion),
    /// A module's `.mod` file.
    GoMod(&'a ModuleVersion),
    /// A build-cache output (and the action entry that named it).
    Output(&'a Id),
}

/// Somewhere warm content can come from.
///
/// A source only answers; the warm verifies and installs. A minimal source that has
/// nothing (every answer a miss):
///
/// ```
/// use std::path::Path;
/// use gowarm::source::{Fetch, ModuleBody, Source};
/// use gowarm_gomod::ModuleVersion;
///
/// #[derive(Debug)]
/// struct Empty;
///
/// #[async_trait::async_trait]
/// impl Source for Empty {
///     fn name(&self) -> &str { "empty" }
///     fn trusted(&self) -> bool { false }
///     async fn gomod(&self, _m: &ModuleVersion) -> Fetch<Vec<u8>> { Ok(None) }
///     async fn module(&self, _m: &ModuleVersion, _scratch: &Path) -> Fetch<ModuleBody> {
///         Ok(None)
///     }
/// }
/// ```
#[async_trait]
pub trait Source: Send + Sync + std::fmt::Debug {
    /// The name used in logs and the Report.
    fn name(&self) -> &str;

    /// May this source supply build-cache action entries, which cannot be verified by content?
    fn trusted(&self) -> bool;

    /// Whether the source has the module's tree (`tree`) or else its `.mod`, when it can
    /// tell without fetching (`None`: only a fetch can tell). Used for planning only.
    async fn has_module(&self, _m: &ModuleVersion, _tree: bool) -> Option<bool> {
        None
    }

    /// The module's `.mod` file.
    async fn gomod(&self, m: &ModuleVersion) -> Fetch<Vec<u8>>;

    /// The module's content; `scratch` is a directory for downloads on the cache's filesystem.
    async fn module(&self, m: &ModuleVersion, scratch: &Path) -> Fetch<ModuleBody>;

    /// The module's `.info` file, if the source keeps one.
    async fn info(&self, _m: &ModuleVersion) -> Fetch<Vec<u8>> {
        Ok(None)
    }

    /// Called once at the start of every warm: a source whose members change (the pods
    /// behind a DNS name) finds them again here.
    async fn prepare(&self) {}

    /// The warm rejected content this source supplied for `item` (it failed verification):
    /// a source made of several peers stops asking the one that sent it.
    fn rejected(&self, _item: ItemRef<'_>) {}

    /// What the warm's Report should say about this source (peers skipped, and why).
    fn notes(&self) -> Vec<String> {
        Vec::new()
    }

    /// The Manifest of the warm cache this source serves, if it serves one.
    async fn manifest(&self) -> Fetch<Manifest> {
        Ok(None)
    }

    /// A build-cache action entry (175 bytes).
    async fn action(&self, _id: &Id) -> Fetch<Vec<u8>> {
        Ok(None)
    }

    /// A build-cache output by its ID.
    async fn output(&self, _id: &Id, _scratch: &Path) -> Fetch<LocalFile> {
        Ok(None)
    }
}

/// Sources in the order they are tried.
pub type Sources = Vec<Arc<dyn Source>>;

/// Builds the configured sources, in order. A source that cannot be opened (a warm image
/// that is not mounted, a garbled manifest) is left out with a warning, so the next
/// source is tried as for any other failure; only when every source fails is it an error.
pub fn build_sources(configs: &[SourceConfig]) -> Result<(Sources, Vec<String>)> {
    let mut sources: Vec<Arc<dyn Source>> = Vec::new();
    let mut warnings = Vec::new();
    let mut first_error = None;
    for c in configs {
        let opened: Result<Arc<dyn Source>> = match c.kind {
            SourceKind::Dir => dir::DirSource::open(c).map(|s| Arc::new(s) as Arc<dyn Source>),
            SourceKind::Goproxy => {
                goproxy::GoproxySource::new(c).map(|s| Arc::new(s) as Arc<dyn Source>)
            }
            SourceKind::Peer => peer::PeerSource::new(c).map(|s| Arc::new(s) as Arc<dyn Source>),
        };
        match opened {
            Ok(s) => sources.push(s),
            Err(e) => {
                tracing::warn!("{e}; trying the next source");
                warnings.push(format!("{e}; it was skipped"));
                first_error.get_or_insert(e);
            }
        }
    }
    match first_error {
        Some(e) if sources.is_empty() => Err(e),
        _ => Ok((sources, warnings)),
    }
}
