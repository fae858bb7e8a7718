//! Helpers shared by the engine's end-to-end tests: an Engine configured like a testkit
//! `go` environment (isolated HOME, GOTOOLCHAIN=local, GOPROXY=off, …).

#![allow(dead_code)]

use std::path::PathBuf;

use gowarm::config::{Config, SourceConfig};
use gowarm::{BakeReport, BakeRequest, Engine};
use gowarm_testkit::{go_binary, GoDirs, GoEnv, ProxyDir};

/// A configuration whose `go` commands see exactly the variables `env` gives testkit's
/// commands, with `sources` (command-line source specs) in order.
pub fn config(env: &GoEnv, sources: &[String]) -> Config {
    let mut cfg = Config::default();
    cfg.go.binary = go_binary();
    cfg.go.env.extend(env.vars());
    cfg.sources = sources
        .iter()
        .map(|s| SourceConfig::parse_spec(s).expect("valid source spec"))
        .collect();
    cfg
}

/// The GOCACHEPROG recorder bakes run `go` with: this package's `gowarm-cacheprog`.
pub fn cacheprog() -> gowarm::record::CacheProg {
    gowarm::record::CacheProg::new(env!("CARGO_BIN_EXE_gowarm-cacheprog"), &[])
}

/// An Engine for [`config`].
pub fn engine(env: &GoEnv, sources: &[String]) -> Engine {
    Engine::new(config(env, sources)).expect("engine")
}

/// Removes a cache directory that may hold read-only module trees.
pub fn remove_cache(dir: &std::path::Path) {
    if dir.exists() {
        gowarm_testkit::make_tree_writable(dir);
        std::fs::remove_dir_all(dir).expect("remove cache");
    }
}

/// A warm cache baked once for the tests of one file.
pub struct Baked {
    /// Holds everything below.
    pub root: tempfile::TempDir,
    /// The module proxy the bake fetched from.
    pub proxy: ProxyDir,
    /// The program baked.
    pub program: PathBuf,
    /// The runtime layout the bake built under (a pod at these paths gets build-cache hits).
    pub runtime: GoDirs,
    /// The warm cache directory written.
    pub warm: PathBuf,
    /// What the bake reported.
    pub report: BakeReport,
}

impl Baked {
    /// Bakes `program` (under `root`) from `proxy` with the runtime layout `root/runtime`.
    pub fn new(root: tempfile::TempDir, proxy: ProxyDir, program: PathBuf) -> Baked {
        let runtime = GoDirs::under(&root.path().join("runtime"));
        let warm = root.path().join("warm");
        let report = engine(&GoEnv::new(&runtime), &[proxy.url()])
            .bake(
                &BakeRequest::targets(vec![program.clone()], warm.clone(), cacheprog()),
                None,
            )
            .expect("bake");
        Baked {
            root,
            proxy,
            program,
            runtime,
            warm,
            report,
        }
    }
}
