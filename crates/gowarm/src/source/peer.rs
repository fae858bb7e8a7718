//! The `peer` source: sibling pods running `gowarm serve` (crate `gowarm-peer`).
//!
//! Peers come from a static list, a DNS name whose A/AAAA records are the pods (a
//! headless Service), or both; the name is resolved again at every warm
//! ([`Source::prepare`]) and this pod's own addresses are left out. Each item is asked
//! of the peers in rendezvous order (so items spread over the peers and each has a
//! stable first choice), falling through to the next peer on a miss, an error or a
//! timeout; a stalled output download resumes from the next peer by Range. The warm
//! verifies everything; a peer whose content it rejects ([`Source::rejected`]) is not
//! asked again for the rest of the warm and is named in the Report
//! ([`Source::notes`]), as is a peer that could not be reached.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::path::Path;
use std::sync::{Mutex, RwLock};
use std::time::Duration;

use async_trait::async_trait;
use gowarm_gocache::Id;
use gowarm_gomod::ModuleVersion;
use gowarm_peer::{ClientConfig, ClientError, DownloadFailure, Partial, PeerClient, Request};

use super::{Fetch, ItemRef, LocalFile, ModuleBody, Source, SourceError};
use crate::config::SourceConfig;
use crate::error::{Error, Result};
use crate::manifest::{Manifest, FORMAT};
use crate::serve::TokenSource;

/// At most this many peers are asked for their Manifest (concurrently) per plan.
const MAX_MANIFEST_PEERS: usize = 8;

/// Consecutive failed requests (other than timeouts and refused connections, which count
/// at once) after which a peer is skipped for the rest of the warm.
const MAX_CONSECUTIVE_FAILURES: u32 = 3;

/// Sibling pods serving their caches.
pub struct PeerSource {
    name: String,
    trusted: bool,
    client_cfg: ClientConfig,
    http: reqwest::Client,
    static_peers: Vec<String>,
    dns: Option<String>,
    members: RwLock<Members>,
    warm: Mutex<WarmState>,
    /// Action ID -> output ID, from the Manifests the peers served: names the peer behind
    /// a rejected action entry (the warm names entries by their output).
    manifest_outputs: Mutex<HashMap<Id, Id>>,
    /// Which peers' Manifests list an item (by rendezvous key): they are asked first.
    holders: Mutex<HashMap<String, Vec<String>>>,
}

impl std::fmt::Debug for PeerSource {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PeerSource")
            .field("name", &self.name)
            .field("trusted", &self.trusted)
            .field("peers", &self.peers())
            .field("dns", &self.dns)
            .finish()
    }
}

#[derive(Default)]
struct Members {
    clients: Vec<PeerClient>,
    resolved: bool,
    notes: Vec<String>,
}

/// What one warm learned about the peers.
#[derive(Default)]
struct WarmState {
    /// Peers that sent content failing verification, and what it was.
    banned: BTreeMap<String, String>,
    /// Peers that could not be used (no connection, no answer, token refused), and why.
    down: BTreeMap<String, String>,
    /// Consecutive failures per peer.
    failures: HashMap<String, u32>,
    /// Which peers supplied an item (more than one for a resumed download).
    supplied: HashMap<String, Vec<String>>,
}

fn key_module(m: &ModuleVersion) -> String {
    format!("mod:{m}")
}

fn key_gomod(m: &ModuleVersion) -> String {
    format!("gomod:{m}")
}

fn key_output(id: &Id) -> String {
    format!("out:{id}")
}

impl PeerSource {
    /// Opens a `peer` source: reads its token (file or environment) and builds the client;
    /// peers are found at the first warm.
    pub fn new(cfg: &SourceConfig) -> Result<PeerSource> {
        let err = |message: String| Error::Source {
            name: cfg.name.clone(),
            message,
        };
        if cfg.peers.is_empty() && cfg.dns.is_none() {
            return Err(err(
                "a peer source needs `peers = [\"http://10.0.0.5:7070\"]` or `dns = \"gowarm-peers.ns.svc:7070\"`"
                    .into(),
            ));
        }
        let token = read_token(cfg).map_err(err)?;
        let timeout = Duration::from_secs(cfg.timeout_secs.max(1));
        let client_cfg = ClientConfig {
            token,
            connect_timeout: Duration::from_secs(cfg.connect_timeout_secs.max(1)),
            response_timeout: timeout,
            stall_timeout: timeout,
        };
        let http = client_cfg.http_client().map_err(|e| err(e.to_string()))?;
        let static_peers: Vec<String> = cfg
            .peers
            .iter()
            .map(|p| p.trim().trim_end_matches('/').to_string())
            .collect();
        for p in &static_peers {
            PeerClient::with_http(p, &client_cfg, http.clone()).map_err(|e| err(e.to_string()))?;
        }
        Ok(PeerSource {
            name: cfg.name.clone(),
            trusted: cfg.is_trusted(),
            client_cfg,
            http,
            static_peers,
            dns: cfg.dns.clone(),
            members: RwLock::new(Members::default()),
            warm: Mutex::new(WarmState::default()),
            manifest_outputs: Mutex::new(HashMap::new()),
            holders: Mutex::new(HashMap::new()),
        })
    }

    /// The peers found at the last resolution (addresses, sorted).
    pub fn peers(&self) -> Vec<String> {
        self.members
            .read()
            .map(|m| m.clients.iter().map(|c| c.base().to_string()).collect())
            .unwrap_or_default()
    }

    /// Finds the peers again: the static list plus what the DNS name resolves to, less
    /// this pod's own addresses.
    async fn resolve(&self) {
        let local = local_addrs();
        let mut notes = Vec::new();
        let mut bases: Vec<String> = self
            .static_peers
            .iter()
            .filter(|p| match peer_ip(p) {
                Some(ip) => !is_self(&ip, &local),
                None => true,
            })
            .cloned()
            .collect();
        if let Some(dns) = &self.dns {
            let lookup = tokio::net::lookup_host(dns.as_str());
            match tokio::time::timeout(self.client_cfg.connect_timeout * 2, lookup).await {
                Ok(Ok(addrs)) => {
                    let mut seen = HashSet::new();
                    let mut found = 0;
                    for a in addrs {
                        found += 1;
                        if is_self(&a.ip(), &local) || !seen.insert(a) {
                            continue;
                        }
                        bases.push(format!("http://{a}"));
                    }
                    if found == 0 {
                        notes.push(format!(
                            "peer source {}: {dns} has no addresses (no pods ready behind the Service?)",
                            self.name
                        ));
                    }
                    tracing::debug!(source = self.name, dns, found, "resolved peers");
                }
                Ok(Err(e)) => notes.push(format!(
                    "peer source {}: cannot resolve {dns}: {e}; no peers from DNS for this warm",
                    self.name
                )),
                Err(_) => notes.push(format!(
                    "peer source {}: resolving {dns} took over {:?}; no peers from DNS for this warm",
                    self.name,
                    self.client_cfg.connect_timeout * 2
                )),
            }
        }
        bases.sort();
        bases.dedup();
        let clients: Vec<PeerClient> = bases
            .iter()
            .filter_map(|b| {
                PeerClient::with_http(b, &self.client_cfg, self.http.clone())
                    .map_err(|e| tracing::warn!(source = self.name, "{e}"))
                    .ok()
            })
            .collect();
        for n in &notes {
            tracing::warn!("{n}");
        }
        if let Ok(mut m) = self.members.write() {
            *m = Members {
                clients,
                resolved: true,
                notes,
            };
        }
    }

    async fn ensure_resolved(&self) {
        let resolved = self.members.read().map(|m| m.resolved).unwrap_or(false);
        if !resolved {
            self.resolve().await;
        }
    }

    /// The usable peers for `key`, best first: those whose Manifest lists the item, then
    /// the others, each group in rendezvous order.
    fn order(&self, key: &str) -> Vec<PeerClient> {
        let clients = self
            .members
            .read()
            .map(|m| m.clients.clone())
            .unwrap_or_default();
        let bases: Vec<&str> = clients.iter().map(PeerClient::base).collect();
        let holders = self
            .holders
            .lock()
            .ok()
            .and_then(|h| h.get(key).cloned())
            .unwrap_or_default();
        let mut order: Vec<PeerClient> = gowarm_peer::rendezvous_order(key, &bases)
            .into_iter()
            .map(|i| clients[i].clone())
            .filter(|c| self.usable(c.base()))
            .collect();
        // Stable: keeps the rendezvous order within each group.
        order.sort_by_key(|c| !holders.iter().any(|h| h == c.base()));
        order
    }

    fn usable(&self, base: &str) -> bool {
        self.warm
            .lock()
            .map(|w| !w.banned.contains_key(base) && !w.down.contains_key(base))
            .unwrap_or(true)
    }

    fn succeeded(&self, base: &str, key: &str, contributors: Vec<String>) {
        if let Ok(mut w) = self.warm.lock() {
            w.failures.remove(base);
            w.supplied.insert(key.to_string(), contributors);
        }
    }

    fn failed(&self, base: &str, e: &ClientError) {
        let Ok(mut w) = self.warm.lock() else { return };
        if e.peer_unusable() {
            if !w.down.contains_key(base) {
                tracing::warn!(
                    source = self.name,
                    peer = base,
                    "{e}; skipping this peer for the rest of the warm"
                );
                w.down.insert(base.to_string(), e.message.clone());
            }
            return;
        }
        let n = {
            let n = w.failures.entry(base.to_string()).or_default();
            *n += 1;
            *n
        };
        if n >= MAX_CONSECUTIVE_FAILURES && !w.down.contains_key(base) {
            tracing::warn!(
                source = self.name,
                peer = base,
                "{n} requests in a row failed; skipping this peer for the rest of the warm"
            );
            w.down.insert(
                base.to_string(),
                format!("{n} requests in a row failed, the last: {}", e.message),
            );
        }
    }

    /// Asks the peers for a small item, in order, until one has it.
    async fn ask_small<F, Fut>(&self, key: &str, order_key: &str, get: F) -> Fetch<Vec<u8>>
    where
        F: Fn(PeerClient) -> Fut,
        Fut: std::future::Future<Output = std::result::Result<Option<Vec<u8>>, ClientError>>,
    {
        self.ensure_resolved().await;
        let mut errors = Vec::new();
        for c in self.order(order_key) {
            if !self.usable(c.base()) {
                continue;
            }
            match get(c.clone()).await {
                Ok(Some(data)) => {
                    self.succeeded(c.base(), key, vec![c.base().to_string()]);
                    return Ok(Some(data));
                }
                Ok(None) => {}
                Err(e) => {
                    self.failed(c.base(), &e);
                    errors.push(e);
                }
            }
        }
        all_failed(errors)
    }

    /// Downloads an item to `scratch`, in peer order; with `resumable`, a transfer cut
    /// short continues from the next peer (only for content named by its hash).
    async fn ask_file(
        &self,
        key: &str,
        order_key: &str,
        path: &str,
        scratch: &Path,
        resumable: bool,
    ) -> Fetch<LocalFile> {
        self.ensure_resolved().await;
        let mut errors = Vec::new();
        let mut partial: Option<Partial> = None;
        let mut contributors: Vec<String> = Vec::new();
        for c in self.order(order_key) {
            if !self.usable(c.base()) {
                continue;
            }
            let r = match partial.take() {
                Some(p) => c.resume(path, p).await,
                None => c.download(path, scratch).await,
            };
            match r {
                Ok(Some(d)) => {
                    contributors.push(c.base().to_string());
                    self.succeeded(c.base(), key, contributors);
                    return Ok(Some(LocalFile::temporary(d.file)));
                }
                Ok(None) => contributors.clear(),
                Err(DownloadFailure { error, partial: p }) => {
                    self.failed(c.base(), &error);
                    errors.push(error);
                    match p {
                        Some(p) if resumable => {
                            tracing::debug!(
                                peer = c.base(),
                                bytes = p.len(),
                                "download cut short; resuming from the next peer"
                            );
                            contributors.push(c.base().to_string());
                            partial = Some(p);
                        }
                        _ => contributors.clear(),
                    }
                }
            }
        }
        all_failed(errors)
    }
}

/// The answer when no peer supplied an item: a miss, or the errors seen.
fn all_failed<T>(errors: Vec<ClientError>) -> Fetch<T> {
    if errors.is_empty() {
        return Ok(None);
    }
    let timeout = errors.iter().all(ClientError::is_timeout);
    Err(SourceError {
        message: errors
            .iter()
            .map(|e| e.message.as_str())
            .collect::<Vec<_>>()
            .join("; "),
        timeout,
    })
}

/// Merges `other` into `base` (made under the same BuildProfile): warm sets by name,
/// modules and entries by key, the first seen kept.
fn merge_manifest(base: &mut Manifest, other: Manifest) {
    let mut mods: HashSet<String> = base.modules.iter().map(|m| m.key()).collect();
    for m in other.modules {
        if mods.insert(m.key()) {
            base.modules.push(m);
        }
    }
    let mut entries: HashSet<String> = base.entries.iter().map(|e| e.action.clone()).collect();
    for e in other.entries {
        if entries.insert(e.action.clone()) {
            base.entries.push(e);
        }
    }
    fn union(into: &mut Vec<String>, from: Vec<String>) {
        let mut seen: HashSet<String> = into.iter().cloned().collect();
        into.extend(from.into_iter().filter(|x| seen.insert(x.clone())));
    }
    for set in other.warm_sets {
        match base.warm_sets.iter_mut().find(|s| s.name == set.name) {
            None => base.warm_sets.push(set),
            Some(s) => {
                for t in set.targets {
                    if !s.targets.contains(&t) {
                        s.targets.push(t);
                    }
                }
                union(&mut s.sdk_modules, set.sdk_modules);
                union(&mut s.modules, set.modules);
                union(&mut s.entries, set.entries);
            }
        }
    }
}

/// The token from the configured file or variable (a Kubernetes Secret mounted or
/// exposed); neither configured means peers that need none.
fn read_token(cfg: &SourceConfig) -> std::result::Result<Option<String>, String> {
    let source = match (&cfg.token_file, &cfg.token_env) {
        (Some(f), _) => TokenSource::File(f.clone()),
        (None, Some(v)) => TokenSource::Env(v.clone()),
        (None, None) => TokenSource::None,
    };
    source.read_text()
}

/// Parses a Manifest a peer served, as [`Manifest::read`] does a file.
fn parse_manifest(data: &[u8]) -> std::result::Result<Manifest, String> {
    #[derive(serde::Deserialize)]
    struct Format {
        format: u32,
    }
    let f: Format =
        serde_json::from_slice(data).map_err(|e| format!("not a gowarm manifest: {e}"))?;
    if f.format != FORMAT {
        return Err(format!(
            "manifest format {} is not supported by this gowarm (it reads format {FORMAT})",
            f.format
        ));
    }
    let m: Manifest =
        serde_json::from_slice(data).map_err(|e| format!("not a gowarm manifest: {e}"))?;
    m.check()?;
    Ok(m)
}

/// The host of a peer URL, when it is an IP address.
fn peer_ip(base: &str) -> Option<IpAddr> {
    let u = reqwest::Url::parse(base).ok()?;
    let host = u.host_str()?;
    host.trim_start_matches('[')
        .trim_end_matches(']')
        .parse()
        .ok()
}

/// Whether `ip` is this pod: one of its interface addresses (or `POD_IP`). Loopback
/// never counts, so peers on one machine (tests, `dns=localhost:…`) stay usable.
pub fn is_self(ip: &IpAddr, local: &HashSet<IpAddr>) -> bool {
    !ip.is_loopback() && local.contains(ip)
}

/// This pod's addresses: every interface address, and `POD_IP` (the downward API).
pub fn local_addrs() -> HashSet<IpAddr> {
    let mut out: HashSet<IpAddr> = interface_addrs().into_iter().collect();
    for var in ["POD_IP", "POD_IPS"] {
        if let Ok(v) = std::env::var(var) {
            out.extend(v.split(',').filter_map(|s| s.trim().parse::<IpAddr>().ok()));
        }
    }
    out
}

#[cfg(unix)]
fn interface_addrs() -> Vec<IpAddr> {
    let mut out = Vec::new();
    let mut head: *mut libc::ifaddrs = std::ptr::null_mut();
    // SAFETY: getifaddrs writes a list head we own until the freeifaddrs below.
    if unsafe { libc::getifaddrs(&mut head) } != 0 {
        return out;
    }
    let mut cur = head;
    while !cur.is_null() {
        // SAFETY: `cur` is a node of the list getifaddrs returned, not freed yet.
        let ifa = unsafe { &*cur };
        if !ifa.ifa_addr.is_null() {
            // SAFETY: ifa_addr points to a sockaddr whose family says its real type.
            let family = i32::from(unsafe { (*ifa.ifa_addr).sa_family });
            if family == libc::AF_INET {
                // SAFETY: an AF_INET address is a sockaddr_in.
                let sa = unsafe { &*(ifa.ifa_addr as *const libc::sockaddr_in) };
                out.push(IpAddr::V4(Ipv4Addr::from(u32::from_be(sa.sin_addr.s_addr))));
            } else if family == libc::AF_INET6 {
                // SAFETY: an AF_INET6 address is a sockaddr_in6.
                let sa = unsafe { &*(ifa.ifa_addr as *const libc::sockaddr_in6) };
                out.push(IpAddr::V6(Ipv6Addr::from(sa.sin6_addr.s6_addr)));
            }
        }
        cur = ifa.ifa_next;
    }
    // SAFETY: `head` came from getifaddrs and is freed once.
    unsafe { libc::freeifaddrs(head) };
    out
}

#[cfg(not(unix))]
fn interface_addrs() -> Vec<IpAddr> {
    Vec::new()
}

#[async_trait]
impl Source for PeerSource {
    fn name(&self) -> &str {
        &self.name
    }

    fn trusted(&self) -> bool {
        self.trusted
    }

    async fn prepare(&self) {
        self.resolve().await;
        if let Ok(mut w) = self.warm.lock() {
            *w = WarmState::default();
        }
    }

    fn rejected(&self, item: ItemRef<'_>) {
        let (key, what) = match item {
            ItemRef::Module(m) => (key_module(m), format!("the zip of {m}")),
            ItemRef::GoMod(m) => (key_gomod(m), format!("the .mod of {m}")),
            ItemRef::Output(id) => (
                key_output(id),
                format!("build-cache entry with output {id}"),
            ),
        };
        let Ok(mut w) = self.warm.lock() else { return };
        let Some(peers) = w.supplied.remove(&key) else {
            return;
        };
        let resumed = peers.len() > 1;
        for p in peers {
            if let std::collections::btree_map::Entry::Vacant(slot) = w.banned.entry(p) {
                tracing::warn!(
                    source = self.name,
                    peer = slot.key(),
                    "{what} failed verification; skipping this peer for the rest of the warm"
                );
                slot.insert(if resumed {
                    format!("{what}, resumed across peers")
                } else {
                    what.clone()
                });
            }
        }
    }

    fn notes(&self) -> Vec<String> {
        let mut out = self
            .members
            .read()
            .map(|m| m.notes.clone())
            .unwrap_or_default();
        if let Ok(w) = self.warm.lock() {
            for (peer, what) in &w.banned {
                out.push(format!(
                    "peer {peer} sent content that failed verification ({what}); skipped for the rest of this warm"
                ));
            }
            for (peer, why) in &w.down {
                if !w.banned.contains_key(peer) {
                    out.push(format!(
                        "peer {peer} could not be used ({why}); skipped for the rest of this warm"
                    ));
                }
            }
        }
        out
    }

    async fn gomod(&self, m: &ModuleVersion) -> Fetch<Vec<u8>> {
        let order_key = m.to_string();
        self.ask_small(&key_gomod(m), &order_key, |c| {
            let m = m.clone();
            async move { c.gomod(&m).await }
        })
        .await
    }

    async fn info(&self, m: &ModuleVersion) -> Fetch<Vec<u8>> {
        let order_key = m.to_string();
        self.ask_small(&format!("info:{m}"), &order_key, |c| {
            let m = m.clone();
            async move { c.info(&m).await }
        })
        .await
    }

    async fn module(&self, m: &ModuleVersion, scratch: &Path) -> Fetch<ModuleBody> {
        // Zips of one module may differ byte for byte between peers (one Go downloaded,
        // one built from a tree): never resumed across peers.
        let Ok(path) = gowarm_peer::protocol::module_path(m, "zip") else {
            return Ok(None);
        };
        Ok(self
            .ask_file(&key_module(m), &m.to_string(), &path, scratch, false)
            .await?
            .map(ModuleBody::Zip))
    }

    async fn manifest(&self) -> Fetch<Manifest> {
        self.ensure_resolved().await;
        // Pods hold different warm sets: ask several at once and merge what they hold
        // (same BuildProfile only), remembering who holds what.
        let host = std::env::var("HOSTNAME").unwrap_or_default();
        let asked: Vec<PeerClient> = self
            .order(&format!("manifest:{host}"))
            .into_iter()
            .take(MAX_MANIFEST_PEERS)
            .collect();
        let answers = futures::future::join_all(asked.iter().map(|c| c.manifest())).await;
        let mut errors = Vec::new();
        let mut merged: Option<Manifest> = None;
        let mut holders: HashMap<String, Vec<String>> = HashMap::new();
        let mut outputs: HashMap<Id, Id> = HashMap::new();
        for (c, answer) in asked.iter().zip(answers) {
            let m = match answer {
                Ok(Some(data)) => match parse_manifest(&data) {
                    Ok(m) => m,
                    Err(e) => {
                        tracing::warn!(
                            source = self.name,
                            peer = c.base(),
                            "its manifest is unusable: {e}"
                        );
                        errors.push(ClientError {
                            kind: gowarm_peer::ErrorKind::Protocol,
                            message: format!("{}: manifest: {e}", c.base()),
                        });
                        continue;
                    }
                },
                Ok(None) => continue,
                Err(e) => {
                    self.failed(c.base(), &e);
                    errors.push(e);
                    continue;
                }
            };
            // Profiles that differ only where no build-cache key can see it (the
            // GOMODCACHE path under -trimpath) are the same profile.
            if merged
                .as_ref()
                .is_some_and(|b| !b.profile.compare(&m.profile).is_empty())
            {
                tracing::info!(
                    source = self.name,
                    peer = c.base(),
                    "its caches were built under another BuildProfile; not merging its manifest"
                );
                continue;
            }
            let base = c.base().to_string();
            for r in &m.modules {
                holders.entry(r.key()).or_default().push(base.clone());
            }
            for e in &m.entries {
                let (Ok(a), Ok(o)) = (e.action.parse::<Id>(), e.output.parse::<Id>()) else {
                    continue;
                };
                // A peer whose entry names another output (a non-reproducible build) is
                // not a holder of the merged entry: asking it would only be rejected.
                if *outputs.entry(a).or_insert(o) == o {
                    holders.entry(a.to_string()).or_default().push(base.clone());
                    holders
                        .entry(key_output(&o))
                        .or_default()
                        .push(base.clone());
                }
            }
            match &mut merged {
                None => merged = Some(m),
                Some(b) => merge_manifest(b, m),
            }
        }
        if let Some(m) = merged {
            if let Err(e) = m.check() {
                return Err(SourceError::new(format!("merged peer manifests: {e}")));
            }
            if let Ok(mut h) = self.holders.lock() {
                *h = holders;
            }
            if let Ok(mut o) = self.manifest_outputs.lock() {
                *o = outputs;
            }
            return Ok(Some(m));
        }
        all_failed(errors)
    }

    async fn action(&self, id: &Id) -> Fetch<Vec<u8>> {
        let key = format!("action:{id}");
        let got = self
            .ask_small(&key, &id.to_string(), |c| {
                let id = *id;
                async move { c.action(&id).await }
            })
            .await?;
        if let Some(data) = &got {
            // The warm names an entry by its output when it rejects it: remember who sent
            // this entry under the output it names, and the one the Manifest expects.
            if let Ok(mut w) = self.warm.lock() {
                if let Some(peers) = w.supplied.remove(&key) {
                    let mut outs = Vec::new();
                    if let Ok(e) = gowarm_gocache::parse_action_entry(data) {
                        outs.push(e.output_id);
                    }
                    if let Some(o) = self
                        .manifest_outputs
                        .lock()
                        .ok()
                        .and_then(|m| m.get(id).copied())
                    {
                        outs.push(o);
                    }
                    for o in outs {
                        w.supplied.insert(key_output(&o), peers.clone());
                    }
                }
            }
        }
        Ok(got)
    }

    async fn output(&self, id: &Id, scratch: &Path) -> Fetch<LocalFile> {
        // Outputs are named by their SHA-256: any peer's bytes are the same bytes, so a
        // transfer cut short resumes from the next peer.
        let key = key_output(id);
        self.ask_file(&key, &key, &Request::Output(*id).path(), scratch, true)
            .await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn own_addresses_are_left_out_but_loopback_stays() {
        let local: HashSet<IpAddr> = ["10.1.2.3", "127.0.0.1", "fd00::5"]
            .iter()
            .map(|s| s.parse().unwrap())
            .collect();
        assert!(is_self(&"10.1.2.3".parse().unwrap(), &local));
        assert!(is_self(&"fd00::5".parse().unwrap(), &local));
        assert!(!is_self(&"10.1.2.4".parse().unwrap(), &local));
        assert!(!is_self(&"127.0.0.1".parse().unwrap(), &local));
        assert_eq!(
            peer_ip("http://10.1.2.3:7070"),
            Some("10.1.2.3".parse().unwrap())
        );
        assert_eq!(
            peer_ip("http://[fd00::5]:7070/"),
            Some("fd00::5".parse().unwrap())
        );
        assert_eq!(peer_ip("http://pod-a.peers:7070"), None);
        // The machine running the tests has at least a loopback interface.
        assert!(interface_addrs().iter().any(IpAddr::is_loopback));
    }

    #[test]
    fn a_missing_token_file_names_the_file_and_the_secret() {
        let cfg = SourceConfig {
            name: "peer:x".into(),
            kind: crate::config::SourceKind::Peer,
            peers: vec!["http://127.0.0.1:1".into()],
            token_file: Some("/nonexistent/gowarm/token".into()),
            ..SourceConfig::default()
        };
        let e = PeerSource::new(&cfg).expect_err("no token").to_string();
        assert!(
            e.contains("/nonexistent/gowarm/token") && e.contains("Secret"),
            "{e}"
        );
        let cfg = SourceConfig {
            token_file: None,
            token_env: Some("GOWARM_TEST_UNSET_TOKEN_VARIABLE".into()),
            ..cfg
        };
        let e = PeerSource::new(&cfg).expect_err("no token").to_string();
        assert!(e.contains("GOWARM_TEST_UNSET_TOKEN_VARIABLE"), "{e}");
    }
}
