//! BuildProfile: everything that decides whether a build-cache entry can hit.

use std::path::PathBuf;

use serde::{Deserialize, Serialize};

use crate::goenv::GoEnv;

/// GOFLAGS entries that do not change compile action IDs (they affect module loading,
/// linking, output or logging only), so they are left out of the profile.
const NEUTRAL_FLAGS: &[&str] = &[
    "-mod",
    "-modcacherw",
    "-modfile",
    "-buildvcs",
    "-ldflags",
    "-v",
    "-x",
    "-n",
    "-p",
    "-a",
    "-work",
    "-json",
    "-o",
];

/// Everything that decides whether a Go build-cache entry made in one place can hit in another.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct BuildProfile {
    /// `go version` string, e.g. `go1.25.5`; any difference misses everything.
    pub go_version: String,
    /// GOOS.
    pub goos: String,
    /// GOARCH.
    pub goarch: String,
    /// The architecture level variable for GOARCH (GOAMD64, GOARM64, GOARM, …) and its value.
    pub goarch_level: Option<(String, String)>,
    /// CGO_ENABLED == "1".
    pub cgo_enabled: bool,
    /// CC and the CGO_* flags, only when cgo is on (they change cgo packages' action IDs).
    pub cgo: Vec<(String, String)>,
    /// `-trimpath` in GOFLAGS.
    pub trimpath: bool,
    /// Other build-affecting GOFLAGS, sorted.
    pub build_flags: Vec<String>,
    /// GOEXPERIMENT.
    pub goexperiment: String,
    /// GOMODCACHE; part of every dependency's action ID unless `-trimpath`.
    pub gomodcache: PathBuf,
}

/// How much a profile difference costs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Severity {
    /// No entry of the warm cache can hit: copying it would waste time and disk.
    Blocking,
    /// Some entries may miss.
    Warning,
}

/// One field in which a warm cache's profile differs from the runtime's.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ProfileDiff {
    /// The field (`go_version`, `gomodcache`, …).
    pub field: String,
    /// The warm cache's value.
    pub baked: String,
    /// The runtime's value.
    pub runtime: String,
    /// How much it costs.
    pub severity: Severity,
    /// How to make them agree.
    pub fix: String,
}

impl std::fmt::Display for ProfileDiff {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{}: warm cache has {:?}, this environment has {:?}; {}",
            self.field, self.baked, self.runtime, self.fix
        )
    }
}

impl BuildProfile {
    /// The profile of builds run under `env` (the output of `go env -json`).
    pub fn from_env(env: &GoEnv) -> BuildProfile {
        let goarch = env.get("GOARCH").to_string();
        let level_var = match goarch.as_str() {
            "amd64" => Some("GOAMD64"),
            "arm64" => Some("GOARM64"),
            "arm" => Some("GOARM"),
            "386" => Some("GO386"),
            "mips" | "mipsle" => Some("GOMIPS"),
            "mips64" | "mips64le" => Some("GOMIPS64"),
            "ppc64" | "ppc64le" => Some("GOPPC64"),
            "riscv64" => Some("GORISCV64"),
            "wasm" => Some("GOWASM"),
            _ => None,
        };
        let goarch_level = level_var.map(|v| (v.to_string(), env.get(v).to_string()));
        let cgo_enabled = env.get("CGO_ENABLED") == "1";
        let cgo = if cgo_enabled {
            [
                "CC",
                "CXX",
                "CGO_CFLAGS",
                "CGO_CPPFLAGS",
                "CGO_CXXFLAGS",
                "CGO_LDFLAGS",
                "CGO_FFLAGS",
            ]
            .iter()
            .map(|k| (k.to_string(), env.get(k).to_string()))
            .collect()
        } else {
            Vec::new()
        };
        let (trimpath, build_flags) = split_goflags(env.get("GOFLAGS"));
        BuildProfile {
            go_version: env.get("GOVERSION").to_string(),
            goos: env.get("GOOS").to_string(),
            goarch,
            goarch_level,
            cgo_enabled,
            cgo,
            trimpath,
            build_flags,
            goexperiment: env.get("GOEXPERIMENT").to_string(),
            gomodcache: PathBuf::from(env.get("GOMODCACHE")),
        }
    }

    /// The differences between a warm cache's profile (`self`) and the runtime's.
    pub fn compare(&self, runtime: &BuildProfile) -> Vec<ProfileDiff> {
        let mut diffs = Vec::new();
        let mut push = |field: &str, baked: String, rt: String, severity, fix: &str| {
            if baked != rt {
                diffs.push(ProfileDiff {
                    field: field.into(),
                    baked,
                    runtime: rt,
                    severity,
                    fix: fix.into(),
                });
            }
        };
        push(
            "go_version",
            self.go_version.clone(),
            runtime.go_version.clone(),
            Severity::Blocking,
            "a different Go release misses every entry: run the Go version the cache was baked with, or re-bake with this one",
        );
        push(
            "goos/goarch",
            format!("{}/{}", self.goos, self.goarch),
            format!("{}/{}", runtime.goos, runtime.goarch),
            Severity::Blocking,
            "bake for the pod's platform (set GOOS/GOARCH in the bake)",
        );
        push(
            "goarch_level",
            fmt_pair(&self.goarch_level),
            fmt_pair(&runtime.goarch_level),
            Severity::Blocking,
            "set the same GOAMD64/GOARM64/… value in the bake and the pod",
        );
        push(
            "cgo_enabled",
            self.cgo_enabled.to_string(),
            runtime.cgo_enabled.to_string(),
            Severity::Blocking,
            "set CGO_ENABLED to the same value in the bake and the pod",
        );
        push(
            "trimpath",
            self.trimpath.to_string(),
            runtime.trimpath.to_string(),
            Severity::Blocking,
            "use GOFLAGS=-trimpath on both sides (recommended: it also makes the cache independent of paths)",
        );
        push(
            "goexperiment",
            self.goexperiment.clone(),
            runtime.goexperiment.clone(),
            Severity::Blocking,
            "set the same GOEXPERIMENT in the bake and the pod",
        );
        if !self.trimpath && !runtime.trimpath {
            push(
                "gomodcache",
                self.gomodcache.display().to_string(),
                runtime.gomodcache.display().to_string(),
                Severity::Blocking,
                "without -trimpath every dependency's action ID contains its absolute directory: set GOMODCACHE to the baked path, or bake and build with GOFLAGS=-trimpath",
            );
        }
        if self.cgo_enabled && runtime.cgo_enabled {
            push(
                "cgo",
                fmt_pairs(&self.cgo),
                fmt_pairs(&runtime.cgo),
                Severity::Warning,
                "cgo packages miss unless CC and CGO_* flags match the bake",
            );
        }
        push(
            "build_flags",
            self.build_flags.join(" "),
            runtime.build_flags.join(" "),
            Severity::Warning,
            "GOFLAGS that change compiles (-tags, -race, -gcflags, …) should match the bake",
        );
        diffs
    }
}

fn fmt_pair(p: &Option<(String, String)>) -> String {
    p.as_ref()
        .map(|(k, v)| format!("{k}={v}"))
        .unwrap_or_default()
}

fn fmt_pairs(p: &[(String, String)]) -> String {
    p.iter()
        .map(|(k, v)| format!("{k}={v}"))
        .collect::<Vec<_>>()
        .join(" ")
}

/// Splits GOFLAGS into the `-trimpath` setting and the other build-affecting flags.
fn split_goflags(goflags: &str) -> (bool, Vec<String>) {
    let mut trimpath = false;
    let mut rest = Vec::new();
    for flag in goflags.split_whitespace() {
        let normalized = flag.strip_prefix('-').unwrap_or(flag);
        let normalized = format!("-{}", normalized.trim_start_matches('-'));
        let name = normalized.split('=').next().unwrap_or(&normalized);
        if name == "-trimpath" {
            trimpath = !matches!(normalized.split_once('='), Some((_, "false" | "0")));
        } else if !NEUTRAL_FLAGS.contains(&name) {
            rest.push(normalized.clone());
        }
    }
    rest.sort();
    (trimpath, rest)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env(pairs: &[(&str, &str)]) -> GoEnv {
        let mut vars: std::collections::BTreeMap<String, String> = [
            ("GOVERSION", "go1.25.5"),
            ("GOOS", "linux"),
            ("GOARCH", "amd64"),
            ("GOAMD64", "v1"),
            ("CGO_ENABLED", "0"),
            ("GOMODCACHE", "/home/runner/go/pkg/mod"),
        ]
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
        for (k, v) in pairs {
            vars.insert(k.to_string(), v.to_string());
        }
        GoEnv { vars }
    }

    #[test]
    fn goflags_split() {
        assert_eq!(
            split_goflags("-mod=readonly --trimpath -tags=netgo -modcacherw"),
            (true, vec!["-tags=netgo".to_string()])
        );
        assert_eq!(split_goflags("-trimpath=false"), (false, vec![]));
        assert_eq!(split_goflags(""), (false, vec![]));
    }

    #[test]
    fn identical_profiles_have_no_diffs() {
        let p = BuildProfile::from_env(&env(&[]));
        assert!(p.compare(&p).is_empty());
    }

    #[test]
    fn gomodcache_matters_only_without_trimpath() {
        let baked = BuildProfile::from_env(&env(&[]));
        let pod = BuildProfile::from_env(&env(&[("GOMODCACHE", "/var/cache/go-mod")]));
        let diffs = baked.compare(&pod);
        assert_eq!(diffs.len(), 1);
        assert_eq!(diffs[0].field, "gomodcache");
        assert_eq!(diffs[0].severity, Severity::Blocking);
        assert!(diffs[0].fix.contains("-trimpath"));

        let baked = BuildProfile::from_env(&env(&[("GOFLAGS", "-trimpath")]));
        let pod = BuildProfile::from_env(&env(&[
            ("GOFLAGS", "-trimpath"),
            ("GOMODCACHE", "/var/cache/go-mod"),
        ]));
        assert!(baked.compare(&pod).is_empty());
    }

    #[test]
    fn go_version_and_cgo_block() {
        let baked = BuildProfile::from_env(&env(&[]));
        let pod = BuildProfile::from_env(&env(&[("GOVERSION", "go1.25.6"), ("CGO_ENABLED", "1")]));
        let fields: Vec<_> = baked.compare(&pod).into_iter().map(|d| d.field).collect();
        assert_eq!(fields, ["go_version", "cgo_enabled"]);
    }
}
