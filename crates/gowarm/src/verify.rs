//! Verify: prove a warm cache hits by building, and report what missed.
//!
//! The build runs offline (`GOPROXY=off`, `-mod=readonly`) with `-x`; every run of the
//! `compile` tool it prints is a package the build cache did not have.

use std::path::{Path, PathBuf};
use std::time::Instant;

use serde::Serialize;

use crate::engine::{Engine, Environment};
use crate::error::{failed_command, Error, Result};

/// What a verify build found.
#[derive(Debug, Clone, Serialize)]
pub struct VerifyReport {
    /// The module directory built.
    pub dir: PathBuf,
    /// Packages in the build (`go list -deps ./...`).
    pub packages: u64,
    /// Import paths of the packages that had to be compiled (build-cache misses).
    pub compiled: Vec<String>,
    /// Share of packages served from the build cache, 0.0 to 1.0.
    pub hit_ratio: f64,
    /// Wall time of the build (ms).
    pub build_ms: u64,
}

impl Engine {
    /// Builds the module in `dir` offline in this engine's environment and reports the
    /// build-cache hit ratio. The build fills the cache with what it compiled.
    pub fn verify(&self, dir: &Path) -> Result<VerifyReport> {
        let env = self.environment(dir)?;
        verify_in(&env, dir)
    }
}

/// [`Engine::verify`] in a resolved environment.
pub(crate) fn verify_in(env: &Environment, dir: &Path) -> Result<VerifyReport> {
    let list = run_go_offline(
        env,
        dir,
        &["list", "-deps", "-f", "{{.ImportPath}}", "./..."],
        &[],
    )?;
    let packages = String::from_utf8_lossy(&list.stdout)
        .lines()
        .filter(|l| !l.trim().is_empty())
        .count() as u64;
    let t0 = Instant::now();
    // `-o DIR/`: executables go to a scratch directory, not into the program's own
    // directory (plain `go build ./...` of one main package writes one there).
    let bin = tempfile::Builder::new()
        .prefix("gowarm-verify-")
        .tempdir()
        .map_err(|e| Error::io("creating a temporary directory in", std::env::temp_dir(), e))?;
    let out = format!("{}/", bin.path().display());
    let build = run_go_offline(env, dir, &["build", "-x", "-o", &out, "./..."], &[])?;
    let build_ms = t0.elapsed().as_millis() as u64;
    let compiled = compiled_packages(&String::from_utf8_lossy(&build.stderr));
    let hit_ratio = if packages == 0 {
        1.0
    } else {
        packages.saturating_sub(compiled.len() as u64) as f64 / packages as f64
    };
    Ok(VerifyReport {
        dir: dir.to_path_buf(),
        packages,
        compiled,
        hit_ratio,
        build_ms,
    })
}

/// Runs `go ARGS` in `dir` offline (`GOPROXY=off`, `-mod=readonly`) with `extra` variables;
/// a failure carries Go's stderr.
pub(crate) fn run_go_offline(
    env: &Environment,
    dir: &Path,
    args: &[&str],
    extra: &[(&str, &str)],
) -> Result<std::process::Output> {
    let goflags = format!("{} -mod=readonly", env.goenv.get("GOFLAGS"));
    let out = env
        .go_command()
        .args(args)
        .current_dir(dir)
        .envs(extra.iter().copied())
        .env("GOFLAGS", goflags.trim())
        .env("GOPROXY", "off")
        .output()
        .map_err(|e| Error::Go {
            command: format!("go {}", args.join(" ")),
            message: e.to_string(),
        })?;
    if !out.status.success() {
        return Err(Error::Go {
            command: format!("go {} (in {})", args.join(" "), dir.display()),
            message: failed_command(&out),
        });
    }
    Ok(out)
}

/// The import paths (`-p` arguments) of the `compile` runs in `go build -x` output.
///
/// The test kit counts compiles with its own parser on purpose: the tests' oracle shares
/// no code with what they check.
pub fn compiled_packages(build_x_stderr: &str) -> Vec<String> {
    let mut out = Vec::new();
    for line in build_x_stderr.lines() {
        let mut words = line
            .split_whitespace()
            // `go build -x` prefixes some tools with VAR=value assignments.
            .skip_while(|w| {
                w.split_once('=').is_some_and(|(k, _)| {
                    !k.is_empty()
                        && k.bytes()
                            .all(|b| b.is_ascii_uppercase() || b.is_ascii_digit() || b == b'_')
                })
            });
        let Some(tool) = words.next() else { continue };
        let name = tool.rsplit('/').next().unwrap_or(tool);
        if name != "compile" {
            continue;
        }
        let rest: Vec<&str> = words.collect();
        let pkg = rest
            .windows(2)
            .find(|w| w[0] == "-p")
            .map(|w| w[1].to_string())
            .unwrap_or_else(|| "(unknown package)".to_string());
        out.push(pkg);
    }
    out.sort();
    out.dedup();
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_compiled_packages_in_build_x_output() {
        let log = concat!(
            "WORK=/tmp/go-build123\n",
            "mkdir -p $WORK/b002/\n",
            "/opt/go/pkg/tool/linux_amd64/compile -o $WORK/b002/_pkg_.a -trimpath \"$WORK/b002=>\" -p example.com/greet -lang=go1.21 -complete ./greet.go\n",
            "/opt/go/pkg/tool/linux_amd64/compile -o $WORK/b001/_pkg_.a -p main -complete ./main.go\n",
            "GOROOT='/opt/go' /opt/go/pkg/tool/linux_amd64/link -o $WORK/b001/exe/a.out\n",
        );
        assert_eq!(compiled_packages(log), ["example.com/greet", "main"]);
        assert!(compiled_packages("mkdir -p $WORK/b001/\n").is_empty());
    }
}
