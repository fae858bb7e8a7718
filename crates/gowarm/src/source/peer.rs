//! The `peer` source: sibling pods running `gowarm serve` (being written; see issue 4).

use super::{Fetch, ModuleBody, Source};
use crate::config::SourceConfig;
use crate::error::{Error, Result};
use async_trait::async_trait;
use gowarm_gomod::ModuleVersion;
use std::path::Path;

/// Sibling pods serving their caches.
#[derive(Debug)]
pub struct PeerSource {
    name: String,
}

impl PeerSource {
    /// Opens a `peer` source.
    pub fn new(cfg: &SourceConfig) -> Result<PeerSource> {
        Err(Error::Source {
            name: cfg.name.clone(),
            message: "peer sources are not in this build yet".into(),
        })
    }
}

#[async_trait]
impl Source for PeerSource {
    fn name(&self) -> &str {
        &self.name
    }
    fn trusted(&self) -> bool {
        false
    }
    async fn gomod(&self, _m: &ModuleVersion) -> Fetch<Vec<u8>> {
        Ok(None)
    }
    async fn module(&self, _m: &ModuleVersion, _scratch: &Path) -> Fetch<ModuleBody> {
        Ok(None)
    }
}
