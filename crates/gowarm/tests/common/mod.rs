//! Helpers shared by the engine's end-to-end tests: an Engine configured like a testkit
//! `go` environment (isolated HOME, GOTOOLCHAIN=local, GOPROXY=off, …).

#![allow(dead_code)]

use gowarm::config::{Config, SourceConfig};
use gowarm::Engine;
use gowarm_testkit::{go_binary, GoEnv};

/// A configuration whose `go` commands see exactly the variables `env` gives testkit's
/// commands, with `sources` (command-line source specs) in order.
pub fn config(env: &GoEnv, sources: &[String]) -> Config {
    let mut cfg = Config::default();
    cfg.go.binary = go_binary();
    let cmd = env.command(["env"]);
    for (k, v) in cmd.get_envs() {
        if let (Some(k), Some(v)) = (k.to_str(), v.and_then(|v| v.to_str())) {
            cfg.go.env.insert(k.to_string(), v.to_string());
        }
    }
    cfg.sources = sources
        .iter()
        .map(|s| SourceConfig::parse_spec(s).expect("valid source spec"))
        .collect();
    cfg
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
