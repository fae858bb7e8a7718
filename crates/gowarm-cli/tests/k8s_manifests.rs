//! The Kubernetes manifests in `deploy/kubernetes/` (docs/operations.md): valid against the
//! Kubernetes API's schemas (`scripts/check-k8s`: PyPI's kubernetes-validate, strict, offline),
//! a validator that is shown to reject broken copies, and wired the way gowarm needs: the
//! init container runs `gowarm hook --deadline`, the sidecar `gowarm serve`, the headless
//! Service selects the pods and its DNS name and port are the peer source's, the token Secret
//! is mounted where `token_file` points, the pods run as UID 1001, and so on.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use gowarm::config::SourceKind;
use gowarm::Config;
use serde_json::Value;

/// The runner user the images and the docs assume.
const RUNNER_UID: i64 = 1001;

fn repo_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../..")
        .canonicalize()
        .expect("repository root")
}

fn manifest_dir() -> PathBuf {
    repo_root().join("deploy/kubernetes")
}

/// `scripts/check-k8s --json PATH…`: its output, and the JSON it printed.
fn check_k8s(paths: &[&Path]) -> (Output, Value) {
    let script = repo_root().join("scripts/check-k8s");
    let out = Command::new("python3")
        .arg(&script)
        .arg("--json")
        .args(paths)
        .output()
        .unwrap_or_else(|e| panic!("running python3 {}: {e}", script.display()));
    let stderr = String::from_utf8_lossy(&out.stderr);
    // Never a silent pass: a missing validator is a failure that says how to fix it.
    assert_ne!(
        out.status.code(),
        Some(3),
        "the Kubernetes schema validator is not installed; run scripts/ensure-tools \
         (it installs PyPI's kubernetes-validate into .tools/kubernetes-validate)\n{stderr}"
    );
    let json: Value = serde_json::from_slice(&out.stdout).unwrap_or_else(|e| {
        panic!(
            "check-k8s printed no JSON ({e}); exit {:?}\nstderr:\n{stderr}",
            out.status.code()
        )
    });
    (out, json)
}

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

/// The manifests, checked and parsed: every object, keyed by kind.
fn objects() -> BTreeMap<String, Vec<Value>> {
    let (out, json) = check_k8s(&[&manifest_dir()]);
    assert_eq!(
        out.status.code(),
        Some(0),
        "deploy/kubernetes fails scripts/check-k8s:\n{}",
        stderr(&out)
    );
    let mut by_kind: BTreeMap<String, Vec<Value>> = BTreeMap::new();
    for d in json["documents"].as_array().expect("documents") {
        let obj = d["object"].clone();
        let kind = obj["kind"].as_str().expect("kind").to_string();
        by_kind.entry(kind).or_default().push(obj);
    }
    by_kind
}

fn one<'a>(by_kind: &'a BTreeMap<String, Vec<Value>>, kind: &str) -> &'a Value {
    match by_kind.get(kind).map(Vec::as_slice) {
        Some([o]) => o,
        other => panic!(
            "expected exactly one {kind}, found {}",
            other.map_or(0, |v| v.len())
        ),
    }
}

fn s(v: &Value) -> &str {
    v.as_str().unwrap_or_else(|| panic!("not a string: {v}"))
}

fn arr(v: &Value) -> &[Value] {
    v.as_array().map(Vec::as_slice).unwrap_or(&[])
}

fn name(v: &Value) -> &str {
    s(&v["metadata"]["name"])
}

/// A container's argv: `command` then `args`.
fn argv(c: &Value) -> Vec<String> {
    arr(&c["command"])
        .iter()
        .chain(arr(&c["args"]))
        .map(|a| s(a).to_string())
        .collect()
}

/// The flags of `gowarm SUBCOMMAND …` in `argv`, or None when it runs something else. Flags
/// outside `valued`/`switches` (the CLI contract of docs/cli.md) fail the test.
fn gowarm_flags(
    argv: &[String],
    sub: &str,
    valued: &[&str],
    switches: &[&str],
) -> Option<BTreeMap<String, Vec<String>>> {
    let prog = argv.first()?;
    if !(prog == "gowarm" || prog.ends_with("/gowarm"))
        || argv.get(1).map(String::as_str) != Some(sub)
    {
        return None;
    }
    let mut flags: BTreeMap<String, Vec<String>> = BTreeMap::new();
    let mut rest = argv[2..].iter();
    while let Some(a) = rest.next() {
        let (flag, inline) = match a.split_once('=') {
            Some((f, v)) => (f.to_string(), Some(v.to_string())),
            None => (a.clone(), None),
        };
        if valued.contains(&flag.as_str()) {
            let v = inline
                .or_else(|| rest.next().cloned())
                .unwrap_or_else(|| panic!("gowarm {sub} {flag}: no value in {argv:?}"));
            flags.entry(flag).or_default().push(v);
        } else if switches.contains(&flag.as_str()) {
            assert!(
                inline.is_none(),
                "gowarm {sub} {flag} takes no value: {argv:?}"
            );
            flags.entry(flag).or_default();
        } else {
            panic!("gowarm {sub}: {a:?} is not a flag of the CLI contract (docs/cli.md): {argv:?}");
        }
    }
    Some(flags)
}

const HOOK_VALUED: &[&str] = &[
    "--set",
    "--from",
    "--deadline",
    "--ready-file",
    "--owner",
    "--config",
];
const HOOK_SWITCHES: &[&str] = &["--best-effort", "--json", "-q", "-v"];
const SERVE_VALUED: &[&str] = &["--listen", "--token-file", "--token-env", "--config"];
const SERVE_SWITCHES: &[&str] = &["--json", "-q", "-v"];

/// Everything the test needs to know about the runner workload.
struct Pod<'a> {
    workload: &'a Value,
    spec: &'a Value,
    labels: &'a serde_json::Map<String, Value>,
}

impl<'a> Pod<'a> {
    fn find(by_kind: &'a BTreeMap<String, Vec<Value>>) -> Pod<'a> {
        let workloads: Vec<&Value> = ["Deployment", "StatefulSet"]
            .iter()
            .flat_map(|k| by_kind.get(*k).into_iter().flatten())
            .collect();
        let [workload] = workloads.as_slice() else {
            panic!(
                "expected one runner Deployment or StatefulSet, found {}",
                workloads.len()
            )
        };
        let template = &workload["spec"]["template"];
        Pod {
            workload,
            spec: &template["spec"],
            labels: template["metadata"]["labels"]
                .as_object()
                .expect("pod template labels"),
        }
    }

    fn init_containers(&self) -> &'a [Value] {
        arr(&self.spec["initContainers"])
    }

    fn containers(&self) -> &'a [Value] {
        arr(&self.spec["containers"])
    }

    fn all_containers(&self) -> impl Iterator<Item = &'a Value> {
        self.init_containers().iter().chain(self.containers())
    }

    fn volume(&self, name: &str) -> &'a Value {
        arr(&self.spec["volumes"])
            .iter()
            .find(|v| s(&v["name"]) == name)
            .unwrap_or_else(|| panic!("the pod has no volume {name:?}"))
    }

    /// The volume mount of `c` whose mountPath holds `path`, and the volume.
    fn mount_of(&self, c: &'a Value, path: &str) -> Option<(&'a Value, &'a Value)> {
        arr(&c["volumeMounts"])
            .iter()
            .filter(|m| {
                let mp = s(&m["mountPath"]).trim_end_matches('/');
                path == mp || path.starts_with(&format!("{mp}/"))
            })
            .max_by_key(|m| s(&m["mountPath"]).len())
            .map(|m| (m, self.volume(s(&m["name"]))))
    }

    fn env(&self, c: &'a Value, var: &str) -> Option<&'a str> {
        arr(&c["env"])
            .iter()
            .find(|e| s(&e["name"]) == var)
            .map(|e| s(&e["value"]))
    }
}

fn label_subset(sel: &Value, labels: &serde_json::Map<String, Value>, what: &str) {
    let sel = sel
        .as_object()
        .unwrap_or_else(|| panic!("{what}: no selector"));
    assert!(
        !sel.is_empty(),
        "{what}: an empty selector selects everything"
    );
    for (k, v) in sel {
        assert_eq!(
            labels.get(k),
            Some(v),
            "{what}: selector {k}={v} does not match the pod labels {labels:?}"
        );
    }
}

#[test]
fn manifests_pass_the_kubernetes_schemas_strictly() {
    let by_kind = objects();
    for kind in [
        "ConfigMap",
        "Secret",
        "Service",
        "Deployment",
        "PodDisruptionBudget",
    ] {
        assert!(
            by_kind.contains_key(kind),
            "deploy/kubernetes has no {kind}"
        );
    }
}

/// The validator must be able to say no: each broken copy of a real manifest is rejected,
/// for the reason it was broken, while the unbroken copy in the same place passes.
#[test]
fn the_validator_rejects_broken_manifests() {
    let dir = manifest_dir();
    let tmp = tempfile::tempdir().expect("tempdir");
    let read = |f: &str| std::fs::read_to_string(dir.join(f)).expect("read manifest");

    // The unbroken copy passes where the broken ones are written.
    let good = tmp.path().join("good.yaml");
    std::fs::write(&good, read("runner.yaml")).expect("write");
    let (out, _) = check_k8s(&[&good]);
    assert_eq!(
        out.status.code(),
        Some(0),
        "the copy of runner.yaml fails:\n{}",
        stderr(&out)
    );

    // (case, file, text replaced, replacement, words the error must contain)
    let cases: &[(&str, &str, &str, &str, &[&str])] = &[
        (
            "wrong type",
            "runner.yaml",
            "replicas: 3",
            "replicas: \"three\"",
            &["spec.replicas", "not of type 'integer'"],
        ),
        (
            "wrong type in a container",
            "runner.yaml",
            "containerPort: 7070",
            "containerPort: \"7070\"",
            &["containerPort", "not of type 'integer'"],
        ),
        (
            "unknown field (strict)",
            "runner.yaml",
            "        - name: runner\n",
            "        - name: runner\n          imagePolicy: Always\n",
            &[
                "Additional properties are not allowed",
                "'imagePolicy' was unexpected",
            ],
        ),
        (
            "unknown field in the pod securityContext (strict)",
            "runner.yaml",
            "fsGroupChangePolicy: OnRootMismatch",
            "fsGroupChangePolicy: OnRootMismatch\n        fsGroupChangePolicyy: Always",
            &["securityContext", "'fsGroupChangePolicyy' was unexpected"],
        ),
        (
            "missing required field",
            "runner.yaml",
            "        - name: gowarm-serve\n          image:",
            "        - image:",
            &["containers.1", "'name' is a required property"],
        ),
        (
            "missing required field (Service port)",
            "service.yaml",
            "      port: 7070\n",
            "",
            &["spec.ports.0", "'port' is a required property"],
        ),
        (
            "unknown kind",
            "service.yaml",
            "kind: Service",
            "kind: Servise",
            &["unknown kind or apiVersion"],
        ),
        (
            "duplicate key",
            "service.yaml",
            "  clusterIP: None\n",
            "  clusterIP: None\n  clusterIP: 10.0.0.1\n",
            &["duplicate key 'clusterIP'"],
        ),
        (
            "gowarm.toml that is not TOML",
            "configmap.yaml",
            "kind = \"peer\"",
            "kind = peer",
            &["data.gowarm.toml: not valid TOML"],
        ),
    ];
    for (i, (case, file, from, to, want)) in cases.iter().enumerate() {
        let text = read(file);
        assert!(
            text.contains(from),
            "{case}: {file} no longer contains {from:?}; update this test's breakage"
        );
        let broken = tmp.path().join(format!("broken-{i}.yaml"));
        std::fs::write(&broken, text.replacen(from, to, 1)).expect("write");
        let (out, json) = check_k8s(&[&broken]);
        assert_eq!(
            out.status.code(),
            Some(1),
            "{case}: the validator accepted a broken {file}:\n{}",
            stderr(&out)
        );
        let messages: Vec<&str> = arr(&json["errors"])
            .iter()
            .map(|e| s(&e["message"]))
            .collect();
        assert!(
            messages.iter().any(|m| want.iter().all(|w| m.contains(w))),
            "{case}: no error mentions {want:?}; errors: {messages:#?}"
        );
    }
}

#[test]
fn manifests_wire_gowarm_together() {
    let by_kind = objects();
    let pod = Pod::find(&by_kind);
    let service = one(&by_kind, "Service");
    let secret = one(&by_kind, "Secret");
    let config_map = one(&by_kind, "ConfigMap");
    let ns = s(&pod.workload["metadata"]["namespace"]);
    for kind_objects in by_kind.values() {
        for o in kind_objects {
            assert_eq!(
                o["metadata"]["namespace"].as_str(),
                Some(ns),
                "{} {} is not in the runner's namespace {ns}",
                s(&o["kind"]),
                name(o)
            );
        }
    }

    // Selectors: the workload's, the headless Service's and the PDB's all pick the pods.
    label_subset(
        &pod.workload["spec"]["selector"]["matchLabels"],
        pod.labels,
        "the workload",
    );
    assert_eq!(
        service["spec"]["clusterIP"], "None",
        "the peer Service must be headless"
    );
    assert_ne!(
        service["spec"]["publishNotReadyAddresses"],
        Value::Bool(true),
        "cold (not ready) pods must not be peers"
    );
    label_subset(
        &service["spec"]["selector"],
        pod.labels,
        "the headless Service",
    );
    if let Some(pdbs) = by_kind.get("PodDisruptionBudget") {
        for pdb in pdbs {
            label_subset(
                &pdb["spec"]["selector"]["matchLabels"],
                pod.labels,
                "the PDB",
            );
        }
    }

    // The configuration, parsed by gowarm itself (unknown keys are errors there).
    let toml = s(&config_map["data"]["gowarm.toml"]);
    let cfg = Config::from_toml(toml, "deploy/kubernetes/configmap.yaml gowarm.toml")
        .unwrap_or_else(|e| panic!("the ConfigMap's gowarm.toml: {e}"));
    let kinds: Vec<SourceKind> = cfg.sources.iter().map(|s| s.kind).collect();
    assert_eq!(
        kinds,
        [SourceKind::Dir, SourceKind::Peer, SourceKind::Goproxy],
        "sources: the warm image first, then peers, then the module proxy"
    );
    let dir_source = &cfg.sources[0];
    let peer = &cfg.sources[1];
    assert!(
        peer.peers.is_empty(),
        "peers come from the Service's DNS, not a fixed list"
    );
    let dns = peer.dns.as_deref().expect("the peer source's dns");
    let (host, port) = dns.rsplit_once(':').expect("dns = NAME:PORT");
    let port: i64 = port.parse().expect("a port number");
    assert_eq!(
        host,
        format!("{}.{ns}.svc.cluster.local", name(service)),
        "the peer source's dns must be the headless Service's name"
    );
    let svc_port = arr(&service["spec"]["ports"])
        .iter()
        .find(|p| p["port"].as_i64() == Some(port))
        .unwrap_or_else(|| panic!("the Service has no port {port} (the peer dns port)"));
    assert!(
        !peer.is_trusted(),
        "peers must not be trusted for action entries by default"
    );
    let token_file = peer
        .token_file
        .as_deref()
        .expect("the peer source's token_file");
    let token_file = token_file.to_str().expect("utf-8");
    let ready_default = cfg
        .hook
        .ready_file
        .as_deref()
        .map(|p| p.to_str().expect("utf-8").to_string())
        .unwrap_or_else(|| "/var/run/gowarm/ready.json".into());

    // The init container: `gowarm hook --deadline N`.
    let hooks: Vec<(&Value, BTreeMap<String, Vec<String>>)> = pod
        .init_containers()
        .iter()
        .filter_map(|c| gowarm_flags(&argv(c), "hook", HOOK_VALUED, HOOK_SWITCHES).map(|f| (c, f)))
        .collect();
    let [(hook, hook_flags)] = hooks.as_slice() else {
        panic!(
            "expected one init container running `gowarm hook`, found {}",
            hooks.len()
        )
    };
    let deadline = &hook_flags
        .get("--deadline")
        .expect("the hook needs --deadline: a pod must not wait for ever")[0];
    assert!(
        deadline.parse::<u64>().is_ok_and(|d| d > 0),
        "--deadline {deadline:?}: whole seconds"
    );
    assert!(
        !hook_flags.contains_key("--from"),
        "the hook takes its sources from the ConfigMap, like libgowarm in the runner"
    );
    let ready_file = hook_flags
        .get("--ready-file")
        .map(|v| v[0].clone())
        .unwrap_or(ready_default);

    // The sidecar: `gowarm serve --listen HOST:PORT`, on the Service's port.
    let serves: Vec<(&Value, BTreeMap<String, Vec<String>>)> = pod
        .containers()
        .iter()
        .filter_map(|c| {
            gowarm_flags(&argv(c), "serve", SERVE_VALUED, SERVE_SWITCHES).map(|f| (c, f))
        })
        .collect();
    let [(serve, serve_flags)] = serves.as_slice() else {
        panic!(
            "expected one container running `gowarm serve`, found {}",
            serves.len()
        )
    };
    let listen = serve_flags
        .get("--listen")
        .map(|v| v[0].clone())
        .unwrap_or_else(|| "0.0.0.0:7070".into());
    let listen_port: i64 = listen
        .rsplit_once(':')
        .and_then(|(_, p)| p.parse().ok())
        .unwrap_or_else(|| panic!("--listen {listen:?}: HOST:PORT"));
    assert_eq!(
        listen_port, port,
        "serve listens on {listen}, the peer dns says port {port}"
    );
    let serve_port = arr(&serve["ports"])
        .iter()
        .find(|p| p["containerPort"].as_i64() == Some(listen_port))
        .unwrap_or_else(|| panic!("the serve container declares no containerPort {listen_port}"));
    match &svc_port["targetPort"] {
        Value::Null => {}
        Value::Number(n) => assert_eq!(n.as_i64(), Some(listen_port), "Service targetPort"),
        Value::String(n) => assert_eq!(
            serve_port["name"].as_str(),
            Some(n.as_str()),
            "the Service's targetPort names no port of the serve container"
        ),
        other => panic!("targetPort {other}"),
    }
    assert_eq!(
        serve_flags.get("--token-file").map(|v| v[0].as_str()),
        Some(token_file),
        "serve must require the token the peer sources send (token_file)"
    );

    // The token: the Secret is mounted (as a directory: a subPath mount never sees a
    // rotation) where token_file points, in every container whose gowarm talks to peers.
    let (token_dir, token_name) = token_file.rsplit_once('/').expect("absolute token_file");
    let runner: Vec<&Value> = pod
        .containers()
        .iter()
        .filter(|c| !std::ptr::eq(*c, *serve))
        .collect();
    for c in [*hook, *serve].into_iter().chain(runner.iter().copied()) {
        let cname = s(&c["name"]);
        let (mount, vol) = pod
            .mount_of(c, token_file)
            .unwrap_or_else(|| panic!("{cname}: nothing mounted at {token_file}"));
        assert_eq!(
            s(&mount["mountPath"]).trim_end_matches('/'),
            token_dir,
            "{cname}: token mount"
        );
        assert!(
            mount.get("subPath").is_none(),
            "{cname}: a subPath Secret mount is never updated"
        );
        assert_eq!(
            vol["secret"]["secretName"].as_str(),
            Some(name(secret)),
            "{cname}: {token_dir} is not the token Secret"
        );
        let key = match arr(&vol["secret"]["items"])
            .iter()
            .find(|i| s(&i["path"]) == token_name)
        {
            Some(item) => s(&item["key"]).to_string(),
            None => token_name.to_string(),
        };
        let value = secret["stringData"][&key]
            .as_str()
            .or(secret["data"][&key].as_str())
            .unwrap_or_else(|| panic!("the Secret has no key {key:?} (mounted as {token_file})"));
        assert!(
            value.contains("REPLACE-ME"),
            "the checked-in token must be a clearly marked placeholder, not a real secret"
        );
    }

    // Every container: the same config, caches, and BuildProfile-relevant environment.
    let gomodcache = cfg.cache.gomodcache.as_deref().expect("[cache] gomodcache");
    let gocache = cfg.cache.gocache.as_deref().expect("[cache] gocache");
    let gomodcache = gomodcache.to_str().expect("utf-8");
    let gocache = gocache.to_str().expect("utf-8");
    let all: Vec<&Value> = pod.all_containers().collect();
    let mut cache_volumes = Vec::new();
    for c in &all {
        let cname = s(&c["name"]);
        let config_path = pod
            .env(c, "GOWARM_CONFIG")
            .unwrap_or_else(|| panic!("{cname}: no GOWARM_CONFIG"));
        let (mount, vol) = pod
            .mount_of(c, config_path)
            .unwrap_or_else(|| panic!("{cname}: nothing mounted at {config_path}"));
        assert_eq!(
            vol["configMap"]["name"].as_str(),
            Some(name(config_map)),
            "{cname}"
        );
        let file = config_path
            .strip_prefix(s(&mount["mountPath"]).trim_end_matches('/'))
            .unwrap()
            .trim_start_matches('/');
        assert!(
            config_map["data"][file].is_string(),
            "{cname}: the ConfigMap has no {file}"
        );
        for (var, path) in [("GOMODCACHE", gomodcache), ("GOCACHE", gocache)] {
            assert_eq!(
                pod.env(c, var),
                Some(path),
                "{cname}: {var} must be [cache]'s"
            );
            let (_, vol) = pod
                .mount_of(c, path)
                .unwrap_or_else(|| panic!("{cname}: {var} {path} is not on a volume"));
            assert!(
                vol.get("emptyDir").is_some(),
                "{cname}: {var} must be on the shared emptyDir"
            );
            cache_volumes.push(s(&vol["name"]).to_string());
        }
        assert_eq!(
            pod.env(c, "GOFLAGS"),
            pod.env(hook, "GOFLAGS"),
            "{cname}: GOFLAGS is part of the BuildProfile; it must be the hook's"
        );
    }
    cache_volumes.dedup();
    assert_eq!(
        cache_volumes.len(),
        1,
        "one emptyDir shared by all containers: {cache_volumes:?}"
    );

    // The warm image: the dir source's path is mounted read-only in the hook.
    let dir_path = dir_source.path.as_deref().expect("dir source path");
    let dir_path = dir_path.to_str().expect("utf-8");
    let (mount, vol) = pod
        .mount_of(hook, dir_path)
        .unwrap_or_else(|| panic!("the hook has nothing mounted at the dir source {dir_path}"));
    assert_eq!(
        mount["readOnly"], true,
        "the warm image mount must be read-only"
    );
    assert!(
        vol.get("image").is_some() || vol.get("persistentVolumeClaim").is_some(),
        "the warm image volume is an image volume or a PVC: {vol}"
    );

    // The ready file: written by the hook on a volume the probing container shares.
    let (_, ready_vol) = pod
        .mount_of(hook, &ready_file)
        .unwrap_or_else(|| panic!("the hook's ready file {ready_file} is not on a volume"));
    assert!(
        ready_vol.get("emptyDir").is_some(),
        "the ready file must be on an emptyDir"
    );
    let probe = vec!["test".to_string(), "-f".to_string(), ready_file.clone()];
    let probing: Vec<&&Value> = all
        .iter()
        .filter(|c| {
            arr(&c["readinessProbe"]["exec"]["command"])
                .iter()
                .map(|a| s(a).to_string())
                .collect::<Vec<_>>()
                == probe
        })
        .collect();
    assert!(
        !probing.is_empty(),
        "no container has the readinessProbe {probe:?}"
    );
    for c in probing {
        let (_, v) = pod.mount_of(c, &ready_file).unwrap_or_else(|| {
            panic!(
                "{}: probes {ready_file} but does not mount it",
                s(&c["name"])
            )
        });
        assert_eq!(
            v["name"],
            ready_vol["name"],
            "{}: not the hook's ready-file volume",
            s(&c["name"])
        );
    }

    // Security: UID 1001 everywhere, and no recursive chown of big volumes at each start.
    let psc = &pod.spec["securityContext"];
    assert_eq!(psc["fsGroupChangePolicy"], "OnRootMismatch");
    assert!(
        psc["fsGroup"].is_i64(),
        "fsGroup makes the volumes the runner group's"
    );
    for c in &all {
        let uid = c["securityContext"]["runAsUser"]
            .as_i64()
            .or(psc["runAsUser"].as_i64());
        assert_eq!(uid, Some(RUNNER_UID), "{}: runAsUser", s(&c["name"]));
    }

    // Resources: requests and limits for CPU and memory on every container.
    for c in &all {
        for kind in ["requests", "limits"] {
            for r in ["cpu", "memory"] {
                assert!(
                    c["resources"][kind][r].is_string() || c["resources"][kind][r].is_number(),
                    "{}: no resources.{kind}.{r}",
                    s(&c["name"])
                );
            }
        }
    }
}

/// The flags the manifests pass to `gowarm hook` exist in the real binary.
#[test]
fn the_hook_flags_exist_in_the_binary() {
    let by_kind = objects();
    let pod = Pod::find(&by_kind);
    let help = Command::new(env!("CARGO_BIN_EXE_gowarm"))
        .args(["hook", "--help"])
        .output()
        .expect("gowarm hook --help");
    assert!(
        help.status.success(),
        "gowarm hook --help: {}",
        stderr(&help)
    );
    let help = String::from_utf8_lossy(&help.stdout);
    for c in pod.init_containers() {
        if let Some(flags) = gowarm_flags(&argv(c), "hook", HOOK_VALUED, HOOK_SWITCHES) {
            for f in flags.keys() {
                assert!(help.contains(f.as_str()), "gowarm hook has no {f}:\n{help}");
            }
        }
    }
    let serve = Command::new(env!("CARGO_BIN_EXE_gowarm"))
        .args(["serve", "--help"])
        .output()
        .expect("gowarm serve --help");
    assert!(
        serve.status.success(),
        "gowarm serve --help: {}",
        stderr(&serve)
    );
    let serve = String::from_utf8_lossy(&serve.stdout);
    for c in pod.containers() {
        if let Some(flags) = gowarm_flags(&argv(c), "serve", SERVE_VALUED, SERVE_SWITCHES) {
            for f in flags.keys() {
                assert!(
                    serve.contains(f.as_str()),
                    "gowarm serve has no {f}:\n{serve}"
                );
            }
        }
    }
}
