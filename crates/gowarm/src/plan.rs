//! Detect and Plan: what is cold for one request, and which source will supply each piece.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use gowarm_gocache::{BuildCache, EntryState, Id};
use gowarm_gomod::modcache::{ModCache, TreeState};
use gowarm_gomod::ModuleVersion;
use serde::Serialize;

use crate::analyze::{Analysis, Need, NeededModule};
use crate::config::BuildCacheMode;
use crate::error::{Error, Result};
use crate::manifest::{EntryRecord, Manifest, WarmSet};
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

/// Which warm sets' entries a request takes.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum SetChoice {
    /// The sets whose SDK modules the program's go.mod requires, or that list the program
    /// as a target; all sets when none does.
    #[default]
    Auto,
    /// These sets, by name.
    Named(Vec<String>),
}

/// The build-cache part of a plan.
#[derive(Debug, Clone, Default, Serialize)]
pub struct EntryPlan {
    /// The source whose Manifest offers entries (the first trusted one that has a Manifest).
    pub source: Option<String>,
    /// The warm sets whose entries are offered.
    pub sets: Vec<String>,
    /// Why those sets.
    pub sets_reason: String,
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
///
/// ```no_run
/// # let engine = gowarm::Engine::new(gowarm::Config::default())?;
/// let plan = engine.detect(std::path::Path::new("./program"))?;
/// for m in plan.cold_modules() {
///     println!("cold: {} from {}", m.module(), m.source.as_deref().unwrap_or("no source"));
/// }
/// println!("{} build-cache entries cold", plan.entries.cold.len());
/// # Ok::<(), gowarm::Error>(())
/// ```
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
    choice: &SetChoice,
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

    let entries = plan_entries(&analysis, &profile, buildcache, sources, mode, choice).await?;
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

/// The first trusted source's Manifest, with the source's name.
pub async fn first_manifest(sources: &[Arc<dyn Source>]) -> Option<(String, Manifest)> {
    for s in sources.iter().filter(|s| s.trusted()) {
        match s.manifest().await {
            Ok(Some(m)) => return Some((s.name().to_string(), m)),
            Ok(None) => {}
            Err(e) => tracing::warn!(source = s.name(), "cannot read its manifest: {e}"),
        }
    }
    None
}

/// The warm sets of `manifest` that `choice` picks for `analysis`, and why.
pub fn choose_sets<'m>(
    manifest: &'m Manifest,
    analysis: &Analysis,
    choice: &SetChoice,
) -> Result<(Vec<&'m WarmSet>, String)> {
    match choice {
        SetChoice::Named(names) => {
            let sets = manifest.warm_sets_named(names).map_err(Error::Request)?;
            Ok((sets, "named by the request".into()))
        }
        SetChoice::Auto => {
            let same_dir = |t: &Path| {
                let canon = |p: &Path| std::fs::canonicalize(p).unwrap_or_else(|_| p.to_path_buf());
                canon(t) == canon(&analysis.dir)
            };
            let requires: BTreeSet<&str> = analysis
                .modules
                .iter()
                .filter(|m| m.need != Need::GraphGoMod)
                .map(|m| m.module.path.as_str())
                .collect();
            let mut why = Vec::new();
            let sets: Vec<&WarmSet> = manifest
                .warm_sets
                .iter()
                .filter(|set| {
                    if set.targets.iter().any(|t| same_dir(&t.dir)) {
                        why.push(format!("{} lists this program as a target", set.name));
                        return true;
                    }
                    match set
                        .sdk_modules
                        .iter()
                        .find(|m| requires.contains(m.as_str()))
                    {
                        Some(m) => {
                            why.push(format!("{} (go.mod requires {m})", set.name));
                            true
                        }
                        None => false,
                    }
                })
                .collect();
            if sets.is_empty() {
                let all: Vec<&WarmSet> = manifest.warm_sets.iter().collect();
                let reason = if all.len() > 1 {
                    format!(
                        "no warm set's SDK modules are in go.mod: taking all {} sets",
                        all.len()
                    )
                } else {
                    "the warm cache has one set".into()
                };
                return Ok((all, reason));
            }
            Ok((sets, why.join("; ")))
        }
    }
}

async fn plan_entries(
    analysis: &Analysis,
    profile: &BuildProfile,
    buildcache: &BuildCache,
    sources: &[Arc<dyn Source>],
    mode: BuildCacheMode,
    choice: &SetChoice,
) -> Result<EntryPlan> {
    let mut plan = EntryPlan::default();
    if mode == BuildCacheMode::Skip {
        plan.skipped = Some("build_cache = \"skip\" in the configuration".into());
        return Ok(plan);
    }
    let Some((name, manifest)) = first_manifest(sources).await else {
        if let SetChoice::Named(names) = choice {
            return Err(Error::Request(format!(
                "warm sets {} were asked for, but no trusted source has a manifest",
                names.join(", ")
            )));
        }
        return Ok(plan);
    };
    let (sets, reason) = choose_sets(&manifest, analysis, choice)?;
    plan.sets = sets.iter().map(|s| s.name.clone()).collect();
    plan.sets_reason = reason;
    let offered = manifest.entries_of(&sets);
    plan.source = Some(name);
    plan.offered = offered.len() as u64;
    plan.diffs = manifest.profile.compare(profile);
    for e in offered {
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
