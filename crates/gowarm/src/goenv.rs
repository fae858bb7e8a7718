//! Go's own view of its environment, from `go env -json`.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;

use crate::error::{Error, Result};

/// The variables of `go env -json` that gowarm reads.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct GoEnv {
    /// Every variable Go printed, by name.
    pub vars: BTreeMap<String, String>,
}

/// What of a module directory can change `go env`'s answer (beyond GOMOD/GOWORK, which
/// gowarm does not use): its go.mod's `go` and `toolchain` lines (GOTOOLCHAIN may switch
/// toolchains on them) and the go.work that applies. None when go.mod cannot be read.
pub fn dir_key(dir: &Path) -> Option<String> {
    let text = std::fs::read_to_string(dir.join("go.mod")).ok()?;
    let mut key = String::new();
    for line in text.lines() {
        let l = line.trim();
        if l.starts_with("go ") || l.starts_with("toolchain ") {
            key.push_str(l);
            key.push('\n');
        }
    }
    let work = std::env::var_os("GOWORK").map(PathBuf::from).or_else(|| {
        dir.ancestors()
            .map(|d| d.join("go.work"))
            .find(|w| w.is_file())
    });
    if let Some(w) = work {
        key.push_str(&format!("work {}\n", w.display()));
    }
    Some(key)
}

impl GoEnv {
    /// Runs `<go> env -json` in `dir` with `overrides` added to the environment.
    pub fn load(go: &Path, dir: &Path, overrides: &[(String, String)]) -> Result<GoEnv> {
        let mut cmd = Command::new(go);
        cmd.arg("env").arg("-json").current_dir(dir);
        for (k, v) in overrides {
            cmd.env(k, v);
        }
        let command = format!("{} env -json (in {})", go.display(), dir.display());
        let out = cmd.output().map_err(|e| Error::Go {
            command: command.clone(),
            message: if e.kind() == std::io::ErrorKind::NotFound {
                format!("{e}: no Go toolchain at this path; install Go or set [go] binary in gowarm.toml / GOWARM_GO")
            } else {
                e.to_string()
            },
        })?;
        if !out.status.success() {
            return Err(Error::Go {
                command,
                message: crate::error::failed_command(&out),
            });
        }
        Self::parse(&out.stdout).map_err(|message| Error::Go { command, message })
    }

    /// Parses the JSON object that `go env -json` prints.
    pub fn parse(json: &[u8]) -> std::result::Result<GoEnv, String> {
        let vars: BTreeMap<String, String> = serde_json::from_slice(json)
            .map_err(|e| format!("unexpected output (not a JSON object of strings): {e}"))?;
        Ok(GoEnv { vars })
    }

    /// The value of `name`, or "" when Go did not print it.
    pub fn get(&self, name: &str) -> &str {
        self.vars.get(name).map(String::as_str).unwrap_or("")
    }

    /// GOMODCACHE as an absolute path.
    pub fn gomodcache(&self) -> Result<PathBuf> {
        self.required_path("GOMODCACHE")
    }

    /// GOCACHE as an absolute path (Go reports "off" when the cache is disabled).
    pub fn gocache(&self) -> Result<PathBuf> {
        self.required_path("GOCACHE")
    }

    fn required_path(&self, name: &str) -> Result<PathBuf> {
        let v = self.get(name);
        if v.is_empty() || v == "off" || !Path::new(v).is_absolute() {
            return Err(Error::Go {
                command: "go env -json".into(),
                message: format!(
                    "{name} is {v:?}; gowarm needs an absolute path (set {name} or [cache] in gowarm.toml)"
                ),
            });
        }
        Ok(PathBuf::from(v))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_go_env_json() {
        let env =
            GoEnv::parse(br#"{"GOVERSION":"go1.25.5","GOCACHE":"/c","GOMODCACHE":"relative"}"#)
                .unwrap();
        assert_eq!(env.get("GOVERSION"), "go1.25.5");
        assert_eq!(env.get("MISSING"), "");
        assert_eq!(env.gocache().unwrap(), PathBuf::from("/c"));
        let err = env.gomodcache().unwrap_err().to_string();
        assert!(err.contains("GOMODCACHE is \"relative\""), "{err}");
    }

    #[test]
    fn rejects_non_json() {
        assert!(GoEnv::parse(b"GOVERSION=go1").is_err());
    }
}
