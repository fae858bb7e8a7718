//! Detect and Plan: what is cold for one request, and which source will supply each piece.

use std::path::PathBuf;
use std::sync::Arc;

use gowarm_gocache::{BuildCache, EntryState, Id};
use gowarm_gomod::modcache::{ModCache, TreeState};
use gowarm_gomod::ModuleVersion;
use serde::Serialize;

use crate::analyze::{Analysis, Need, NeededModule};
use crate::config::BuildCacheMode;
use crate::error::Result;
use crate::manifest::EntryRecord;
use crate::profile::{BuildProfile, ProfileDiff, Severity};
use crate::source::Source;

/// One module of the request and what of it is cold.
#[derive(Debug, Clone, Serialize)]
pub struct ModuleItem {
    /// The module and its go.sum hashes.
    #[serde(flatten)]
    pub needed: NeededModule,
    /// The `.mod` file is missing.
    pub gomod_cold: bool,
    /// The extracted tree (with `.ziphash`) is missing or incomplete.
    pub tree_cold: bool,
    /// The first source that says it has the module (None: none checked could tell).
    pub source: Option<String>,
}

impl ModuleItem {
    /// Whether anything of this module must be fetched.
    pub fn is_cold(&self) -> bool {
        self.gomod_cold || self.tree_cold
    }

    /// The module version.
    pub fn module(&self) -> &ModuleVersion {
        &self.needed.module
    }
}

/// The build-cache part of a plan.
#[derive(Debug, Clone, Default, Serialize)]
pub struct EntryPlan {
    /// The source whose Manifest offers entries (the first trusted one that has a Manifest).
    pub source: Option<String>,
    /// Entries the source offers.
    pub offered: u64,
    /// Offered entries missing from this BuildCache.
    pub cold: Vec<EntryRecord>,
    /// Bytes of the cold entries.
    pub cold_bytes: u64,
    /// Profile differences between the source's Manifest and this environment.
    pub diffs: Vec<ProfileDiff>,
    /// Why cold entries will not be copied, if they will not.
    pub skipped: Option<String>,
}

/// For one request: what is cold, and from where it will come.
#[derive(Debug, Clone, Serialize)]
pub struct Plan {
    /// What the request needs.
    pub analysis: Analysis,
    /// This environment's BuildProfile.
    pub profile: BuildProfile,
    /// The ModCache warmed.
    pub gomodcache: PathBuf,
    /// The BuildCache warmed.
    pub gocache: PathBuf,
    /// Every needed module, warm or cold.
    pub modules: Vec<ModuleItem>,
    /// Build-cache entries.
    pub entries: EntryPlan,
    /// Things the user should know.
    pub warnings: Vec<String>,
}

impl Plan {
    /// The cold modules.
    pub fn cold_modules(&self) -> impl Iterator<Item = &ModuleItem> {
        self.modules.iter().filter(|m| m.is_cold())
    }

    /// True when nothing required is cold: no required module is cold and no entry
    /// would be copied.
    pub fn is_warm(&self) -> bool {
        let modules_warm = self
            .cold_modules()
            .all(|m| m.needed.need == Need::GraphGoMod);
        let entries_warm = self.entries.cold.is_empty() || self.entries.skipped.is_some();
        modules_warm && entries_warm
    }
}

/// Compares what `analysis` needs with the caches and asks `sources` who has it.
pub async fn detect(
    analysis: Analysis,
    profile: BuildProfile,
    modcache: &ModCache,
    buildcache: &BuildCache,
    sources: &[Arc<dyn Source>],
    mode: BuildCacheMode,
) -> Result<Plan> {
    let mut warnings = analysis.warnings.clone();
    if analysis.vendored {
        warnings.push(format!(
            "{} has vendor/modules.txt: Go builds from vendor/ and reads no module trees unless -mod=mod",
            analysis.dir.display()
        ));
    }
    let mut modules = Vec::with_capacity(analysis.modules.len());
    for needed in &analysis.modules {
        let state = modcache.state(&needed.module)?;
        let tree_cold = match (&needed.need, &state.tree) {
            (Need::Tree, TreeState::Complete { ziphash }) => {
                if Some(ziphash) != needed.h1.as_ref() {
                    warnings.push(format!(
                        "{} in {} has ziphash {ziphash} but go.sum says {}: go will refuse it (SECURITY ERROR); remove it with `go clean -modcache` or fix go.sum",
                        needed.module,
                        modcache.root().display(),
                        needed.h1.as_deref().unwrap_or("-")
                    ));
                }
                false
            }
            (Need::Tree, _) => true,
            _ => false,
        };
        let mut item = ModuleItem {
            needed: needed.clone(),
            gomod_cold: !state.has_mod,
            tree_cold,
            source: None,
        };
        if item.is_cold() {
            for s in sources {
                match s.has_module(&needed.module, item.tree_cold).await {
                    Some(true) => {
                        item.source = Some(s.name().to_string());
                        break;
                    }
                    Some(false) => continue,
                    None => {
                        item.source = Some(format!("{} (unchecked)", s.name()));
                        break;
                    }
                }
            }
        }
        modules.push(item);
    }

    let entries = plan_entries(&profile, buildcache, sources, mode).await?;
    Ok(Plan {
        gomodcache: modcache.root().to_path_buf(),
        gocache: buildcache.root().to_path_buf(),
        analysis,
        profile,
        modules,
        entries,
        warnings,
    })
}

async fn plan_entries(
    profile: &BuildProfile,
    buildcache: &BuildCache,
    sources: &[Arc<dyn Source>],
    mode: BuildCacheMode,
) -> Result<EntryPlan> {
    let mut plan = EntryPlan::default();
    if mode == BuildCacheMode::Skip {
        plan.skipped = Some("build_cache = \"skip\" in the configuration".into());
        return Ok(plan);
    }
    let mut offer = None;
    for s in sources.iter().filter(|s| s.trusted()) {
        match s.manifest().await {
            Ok(Some(m)) => {
                offer = Some((s.name().to_string(), m));
                break;
            }
            Ok(None) => {}
            Err(e) => tracing::warn!(source = s.name(), "cannot read its manifest: {e}"),
        }
    }
    let Some((name, manifest)) = offer else {
        return Ok(plan);
    };
    plan.source = Some(name);
    plan.offered = manifest.entries.len() as u64;
    plan.diffs = manifest.profile.compare(profile);
    for e in &manifest.entries {
        let id: Id = match e.action.parse() {
            Ok(id) => id,
            Err(_) => continue,
        };
        if !matches!(buildcache.entry_state(&id)?, EntryState::Complete(_)) {
            plan.cold_bytes += e.size;
            plan.cold.push(e.clone());
        }
    }
    let blocking: Vec<_> = plan
        .diffs
        .iter()
        .filter(|d| d.severity == Severity::Blocking)
        .map(|d| d.field.clone())
        .collect();
    if !blocking.is_empty() && mode == BuildCacheMode::Auto {
        plan.skipped = Some(format!(
            "the warm cache's BuildProfile differs in {}: its entries cannot hit here",
            blocking.join(", ")
        ));
    }
    Ok(plan)
}
