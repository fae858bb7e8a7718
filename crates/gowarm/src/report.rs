//! Report: what a warm did, from where, in how long.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::path::PathBuf;

use serde::Serialize;

use crate::profile::ProfileDiff;

/// How a warm ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Outcome {
    /// Everything needed is in the caches.
    Warm,
    /// Some required items could not be fetched or verified from any source.
    Incomplete,
    /// Modules are warm, but build-cache entries were skipped because the warm cache's
    /// BuildProfile cannot hit here.
    ProfileMismatch,
    /// Stopped before the end: cancelled, or its deadline passed. What was installed is
    /// whole; the rest was not started (or was abandoned before its install).
    Stopped,
}

/// Counts for one kind of item.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct Counts {
    /// Items the request needed (or a source offered).
    pub needed: u64,
    /// Items that were already in the cache.
    pub already_warm: u64,
    /// Items fetched, verified and installed.
    pub installed: u64,
    /// Required items no source could supply.
    pub failed: u64,
    /// Optional items no source had (go.sum graph lines).
    pub optional_missing: u64,
    /// Items not done because the warm was stopped (cancelled or past its deadline).
    pub stopped: u64,
}

/// Per-source figures.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct SourceStats {
    /// Items installed from this source.
    pub items: u64,
    /// Bytes installed from this source.
    pub bytes: u64,
    /// Items it did not have.
    pub misses: u64,
    /// Requests that failed (I/O, protocol, timeout).
    pub errors: u64,
    /// Items whose content failed verification (wrong hash, bad zip, truncated).
    pub rejected: u64,
    /// Wall time spent in this source's fetches and installs, summed over items (ms).
    pub busy_ms: u64,
}

/// One item that went wrong at one source.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Failure {
    /// The item (`path@version`, `path@version .mod`, or `entry <action id>`).
    pub item: String,
    /// The source, or None when no source could supply it.
    pub source: Option<String>,
    /// What happened.
    pub error: String,
}

/// What a warm (or the install part of a bake) did.
///
/// ```
/// use gowarm::{Outcome, Report};
///
/// let r = Report::new(None);
/// assert_eq!(r.outcome, Outcome::Warm);
/// let json: serde_json::Value = serde_json::from_str(&r.to_json()).unwrap();
/// assert_eq!(json["outcome"], "warm");
/// assert!(r.to_human().starts_with("warm in"));
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Report {
    /// The module directory warmed, if any.
    pub dir: Option<PathBuf>,
    /// How it ended.
    pub outcome: Outcome,
    /// Total wall time (ms).
    pub duration_ms: u64,
    /// Time spent analyzing and planning (ms).
    pub plan_ms: u64,
    /// Module trees and `.mod` files.
    pub modules: Counts,
    /// Build-cache entries.
    pub entries: Counts,
    /// The warm sets whose entries were taken.
    pub warm_sets: Vec<String>,
    /// Bytes written into the caches.
    pub bytes_installed: u64,
    /// Per source, by name.
    pub sources: BTreeMap<String, SourceStats>,
    /// Items that failed somewhere (including those a later source then supplied).
    pub failures: Vec<Failure>,
    /// BuildProfile differences between the warm cache and this environment.
    pub profile_diffs: Vec<ProfileDiff>,
    /// Things the user should know.
    pub warnings: Vec<String>,
}

impl Report {
    /// An empty report for `dir`.
    pub fn new(dir: Option<PathBuf>) -> Report {
        Report {
            dir,
            outcome: Outcome::Warm,
            duration_ms: 0,
            plan_ms: 0,
            modules: Counts::default(),
            entries: Counts::default(),
            warm_sets: Vec::new(),
            bytes_installed: 0,
            sources: BTreeMap::new(),
            failures: Vec::new(),
            profile_diffs: Vec::new(),
            warnings: Vec::new(),
        }
    }

    /// The report as pretty JSON.
    pub fn to_json(&self) -> String {
        serde_json::to_string_pretty(self).unwrap_or_else(|e| format!("{{\"error\":\"{e}\"}}"))
    }

    /// The report as a short human summary.
    pub fn to_human(&self) -> String {
        let mut s = String::new();
        let verdict = match self.outcome {
            Outcome::Warm => "warm",
            Outcome::Incomplete => "INCOMPLETE",
            Outcome::ProfileMismatch => "modules warm; build cache skipped (profile mismatch)",
            Outcome::Stopped => "STOPPED (cancelled or past the deadline)",
        };
        let _ = writeln!(
            s,
            "{verdict} in {:.2}s: {} installed ({})",
            self.duration_ms as f64 / 1000.0,
            human_bytes(self.bytes_installed),
            self.dir
                .as_ref()
                .map(|d| d.display().to_string())
                .unwrap_or_default()
        );
        for (what, c) in [
            ("modules", &self.modules),
            ("build-cache entries", &self.entries),
        ] {
            let _ = write!(
                s,
                "  {what}: {} needed, {} already warm, {} installed",
                c.needed, c.already_warm, c.installed
            );
            if c.failed > 0 {
                let _ = write!(s, ", {} FAILED", c.failed);
            }
            if c.optional_missing > 0 {
                let _ = write!(s, ", {} optional not found", c.optional_missing);
            }
            if c.stopped > 0 {
                let _ = write!(s, ", {} not done (stopped)", c.stopped);
            }
            s.push('\n');
        }
        if !self.warm_sets.is_empty() {
            let _ = writeln!(s, "  warm sets: {}", self.warm_sets.join(", "));
        }
        for (name, st) in &self.sources {
            let _ = writeln!(
                s,
                "  source {name}: {} items, {}, {} misses, {} errors, {} rejected",
                st.items,
                human_bytes(st.bytes),
                st.misses,
                st.errors,
                st.rejected
            );
        }
        for d in &self.profile_diffs {
            let _ = writeln!(s, "  profile {:?}: {d}", d.severity);
        }
        for f in self.failures.iter().take(20) {
            let _ = writeln!(
                s,
                "  failed {} at {}: {}",
                f.item,
                f.source.as_deref().unwrap_or("every source"),
                f.error
            );
        }
        if self.failures.len() > 20 {
            let _ = writeln!(
                s,
                "  … {} more failures (see --json)",
                self.failures.len() - 20
            );
        }
        for w in &self.warnings {
            let _ = writeln!(s, "  warning: {w}");
        }
        s
    }
}

/// Formats a byte count for people (binary units).
pub fn human_bytes(n: u64) -> String {
    const UNITS: [&str; 5] = ["B", "KiB", "MiB", "GiB", "TiB"];
    let mut v = n as f64;
    let mut u = 0;
    while v >= 1024.0 && u < UNITS.len() - 1 {
        v /= 1024.0;
        u += 1;
    }
    if u == 0 {
        format!("{n} B")
    } else {
        format!("{v:.1} {}", UNITS[u])
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bytes_for_people() {
        assert_eq!(human_bytes(5), "5 B");
        assert_eq!(human_bytes(1536), "1.5 KiB");
        assert_eq!(human_bytes(3 << 30), "3.0 GiB");
    }

    #[test]
    fn human_summary_names_failures() {
        let mut r = Report::new(None);
        r.outcome = Outcome::Incomplete;
        r.modules.failed = 1;
        r.failures.push(Failure {
            item: "example.com/a@v1.0.0".into(),
            source: None,
            error: "no source has it".into(),
        });
        let h = r.to_human();
        assert!(h.starts_with("INCOMPLETE"), "{h}");
        assert!(h.contains("1 FAILED"), "{h}");
        assert!(h.contains("example.com/a@v1.0.0 at every source"), "{h}");
        assert!(r.to_json().contains("\"outcome\": \"incomplete\""));
    }
}
