//! The protocol's paths, their strict parsing, the bearer-token check and peer ordering.
//!
//! Parsing is the server's only gate to the file system: a path that does not parse into
//! a [`Request`] is answered 404 without touching a file, and a path that parses names a
//! file by its canonical escaped form only (the escaping is reversible, so every module
//! version has exactly one accepted spelling). Module paths and versions go through
//! `gowarm_gomod`'s checks (Go's `module.CheckPath` and canonical semver), which refuse
//! `.`/`..` elements, leading or trailing slashes, upper-case letters that are not
//! escaped and every character Go does not allow. Percent-escapes are decoded exactly
//! once before any of that (Go's proxy client writes `!` as `%21`), so `%2e%2e` is judged
//! as `..` and refused; a `%` left after decoding is refused too.

use base64::Engine as _;
use gowarm_gocache::Id;
use gowarm_gomod::escape::{escape_path, escape_version, unescape_path, unescape_version};
use gowarm_gomod::ModuleVersion;
use sha2::{Digest, Sha256};

/// `GET /healthz`: liveness, the only request served without a token.
pub const HEALTH_PATH: &str = "/healthz";
/// `GET /metrics`: Prometheus text.
pub const METRICS_PATH: &str = "/metrics";
/// The prefix of the GOPROXY protocol: `GOPROXY=http://<peer>/mod`.
pub const MOD_PREFIX: &str = "/mod";
/// `GET /build/manifest`: the Manifest of the warm cache the pod holds.
pub const MANIFEST_PATH: &str = "/build/manifest";
/// `GET /build/action/<64 hex>`: one build-cache action entry.
pub const ACTION_PREFIX: &str = "/build/action/";
/// `GET /build/output/<64 hex>`: one build-cache output.
pub const OUTPUT_PREFIX: &str = "/build/output/";
/// `/auth/<token>/…`: the token as the first path segments, for plain `go` over http
/// (which refuses to send URL credentials over plain http; see the crate docs).
pub const AUTH_PREFIX: &str = "/auth/";
/// The realm named in `WWW-Authenticate` challenges.
pub const REALM: &str = "gowarm";
/// The bearer challenge a 401 carries (realm [`REALM`]).
pub const BEARER_CHALLENGE: &str = "Bearer realm=\"gowarm\"";
/// The Basic challenge a 401 also carries, so `go` retries with a GOPROXY URL's user info.
pub const BASIC_CHALLENGE: &str = "Basic realm=\"gowarm\"";
/// The user name to write in `https://gowarm:<token>@host/mod` URLs (any user name is
/// accepted: only the password is checked).
pub const BASIC_USER: &str = "gowarm";

/// One request the server understands.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Request {
    /// `/healthz`.
    Health,
    /// `/metrics`.
    Metrics,
    /// `/mod/<escaped path>/@v/list`: the versions held of a module path.
    List(String),
    /// `/mod/<escaped path>/@v/<escaped version>.info`.
    Info(ModuleVersion),
    /// `/mod/<escaped path>/@v/<escaped version>.mod`.
    GoMod(ModuleVersion),
    /// `/mod/<escaped path>/@v/<escaped version>.zip`.
    Zip(ModuleVersion),
    /// `/build/manifest`.
    Manifest,
    /// `/build/action/<hex>`.
    Action(Id),
    /// `/build/output/<hex>`.
    Output(Id),
}

/// What a request is about, for metrics (a fixed set, so label cardinality is bounded).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Route {
    /// `/healthz`.
    Health,
    /// `/metrics`.
    Metrics,
    /// `@v/list`.
    ModList,
    /// `.info`.
    ModInfo,
    /// `.mod`.
    ModMod,
    /// `.zip`.
    ModZip,
    /// `/build/manifest`.
    Manifest,
    /// `/build/action/…`.
    Action,
    /// `/build/output/…`.
    Output,
    /// Anything that did not parse (answered 404, or 401 without a token).
    Other,
}

impl Route {
    /// Every route, in the order metrics list them.
    pub const ALL: [Route; 10] = [
        Route::Health,
        Route::Metrics,
        Route::ModList,
        Route::ModInfo,
        Route::ModMod,
        Route::ModZip,
        Route::Manifest,
        Route::Action,
        Route::Output,
        Route::Other,
    ];

    /// The metrics label.
    pub fn as_str(self) -> &'static str {
        match self {
            Route::Health => "healthz",
            Route::Metrics => "metrics",
            Route::ModList => "mod_list",
            Route::ModInfo => "mod_info",
            Route::ModMod => "mod_mod",
            Route::ModZip => "mod_zip",
            Route::Manifest => "build_manifest",
            Route::Action => "build_action",
            Route::Output => "build_output",
            Route::Other => "other",
        }
    }

    /// Position in [`Route::ALL`].
    pub fn index(self) -> usize {
        self as usize
    }
}

impl Request {
    /// Parses a request path (the URI path, still percent-encoded, without the query).
    /// `None` means 404: nothing else about the path is looked at.
    pub fn parse(raw: &str) -> Option<Request> {
        // Go's proxy client percent-encodes `!` (`%21big%21co`); decode once, strictly,
        // and judge only the decoded path (a second layer, `%252e`, stays refused).
        let decoded = decode_path(raw)?;
        let path = decoded.as_str();
        if path.contains(['%', '\\', '\0']) || path.contains("//") {
            return None;
        }
        match path {
            HEALTH_PATH => return Some(Request::Health),
            METRICS_PATH => return Some(Request::Metrics),
            MANIFEST_PATH => return Some(Request::Manifest),
            _ => {}
        }
        if let Some(hex) = path.strip_prefix(ACTION_PREFIX) {
            return parse_id(hex).map(Request::Action);
        }
        if let Some(hex) = path.strip_prefix(OUTPUT_PREFIX) {
            return parse_id(hex).map(Request::Output);
        }
        let rest = path.strip_prefix(MOD_PREFIX)?.strip_prefix('/')?;
        // Module paths cannot contain '@', so the first "/@v/" ends the path.
        let (esc_path, file) = rest.split_once("/@v/")?;
        let mod_path = unescape_canonical_path(esc_path)?;
        if file == "list" {
            return Some(Request::List(mod_path));
        }
        let (esc_version, ext) = file.rsplit_once('.')?;
        let version = unescape_version(esc_version).ok()?;
        if escape_version(&version).ok()? != esc_version {
            return None;
        }
        let m = ModuleVersion::new(mod_path, version);
        // Only canonical versions are cached under their own name; queries such as
        // `master.info` are a proxy's job, not a cache's.
        m.check().ok()?;
        match ext {
            "info" => Some(Request::Info(m)),
            "mod" => Some(Request::GoMod(m)),
            "zip" => Some(Request::Zip(m)),
            _ => None,
        }
    }

    /// The request's path, as a client sends it.
    pub fn path(&self) -> String {
        match self {
            Request::Health => HEALTH_PATH.into(),
            Request::Metrics => METRICS_PATH.into(),
            Request::Manifest => MANIFEST_PATH.into(),
            Request::Action(id) => format!("{ACTION_PREFIX}{id}"),
            Request::Output(id) => format!("{OUTPUT_PREFIX}{id}"),
            Request::List(p) => format!(
                "{MOD_PREFIX}/{}/@v/list",
                escape_path(p).unwrap_or_else(|_| p.clone())
            ),
            Request::Info(m) => module_file(m, "info"),
            Request::GoMod(m) => module_file(m, "mod"),
            Request::Zip(m) => module_file(m, "zip"),
        }
    }

    /// The metrics route.
    pub fn route(&self) -> Route {
        match self {
            Request::Health => Route::Health,
            Request::Metrics => Route::Metrics,
            Request::List(_) => Route::ModList,
            Request::Info(_) => Route::ModInfo,
            Request::GoMod(_) => Route::ModMod,
            Request::Zip(_) => Route::ModZip,
            Request::Manifest => Route::Manifest,
            Request::Action(_) => Route::Action,
            Request::Output(_) => Route::Output,
        }
    }
}

fn module_file(m: &ModuleVersion, ext: &str) -> String {
    match (escape_path(&m.path), escape_version(&m.version)) {
        (Ok(p), Ok(v)) => format!("{MOD_PREFIX}/{p}/@v/{v}.{ext}"),
        // Not a valid module version: a path the server answers 404.
        _ => format!("{MOD_PREFIX}/invalid/@v/invalid.{ext}"),
    }
}

/// The path of a module file (`info`, `mod`, `zip`) under [`MOD_PREFIX`]; an invalid
/// module version is an error naming it.
pub fn module_path(m: &ModuleVersion, ext: &str) -> Result<String, String> {
    let p = escape_path(&m.path).map_err(|e| format!("{m}: {e}"))?;
    let v = escape_version(&m.version).map_err(|e| format!("{m}: {e}"))?;
    Ok(format!("{MOD_PREFIX}/{p}/@v/{v}.{ext}"))
}

fn unescape_canonical_path(esc: &str) -> Option<String> {
    let path = unescape_path(esc).ok()?;
    (escape_path(&path).ok()? == esc).then_some(path)
}

/// Percent-decodes a request path: `None` for a malformed escape or anything but
/// printable ASCII once decoded.
fn decode_path(raw: &str) -> Option<String> {
    let b = raw.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        let c = if b[i] == b'%' {
            let hex = b.get(i + 1..i + 3)?;
            if !hex.iter().all(u8::is_ascii_hexdigit) {
                return None;
            }
            i += 3;
            u8::from_str_radix(std::str::from_utf8(hex).ok()?, 16).ok()?
        } else {
            i += 1;
            b[i - 1]
        };
        if !(0x21..0x7f).contains(&c) {
            return None;
        }
        out.push(c);
    }
    String::from_utf8(out).ok()
}

/// 64 lower-case hex digits (the spelling Go uses in file names); anything else is `None`.
fn parse_id(hex: &str) -> Option<Id> {
    if hex.len() != gowarm_gocache::HEX_SIZE
        || !hex.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'))
    {
        return None;
    }
    Id::from_hex(hex).ok()
}

/// The shared secret a server requires, kept only as its SHA-256 so comparisons take the
/// same time whatever the candidate (length included).
#[derive(Clone)]
pub struct Token {
    digest: [u8; 32],
}

impl std::fmt::Debug for Token {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Token(<redacted>)")
    }
}

impl Token {
    /// The token `secret` (surrounding whitespace, as a mounted Secret file has, removed).
    pub fn new(secret: &str) -> Token {
        Token {
            digest: Sha256::digest(secret.trim().as_bytes()).into(),
        }
    }

    /// Whether `candidate` is the token, in time independent of where they differ.
    pub fn matches(&self, candidate: &[u8]) -> bool {
        let d: [u8; 32] = Sha256::digest(candidate).into();
        d.iter()
            .zip(self.digest.iter())
            .fold(0u8, |acc, (a, b)| acc | (a ^ b))
            == 0
    }

    /// Whether an `Authorization` header value carries the token: `Bearer <token>`, or
    /// `Basic base64(<any user>:<token>)` (what `go` sends for a GOPROXY URL with
    /// user info, since it has no way to send a bearer token).
    pub fn check_header(&self, value: Option<&[u8]>) -> bool {
        let Some(v) = value else { return false };
        let Ok(v) = std::str::from_utf8(v) else {
            return false;
        };
        let v = v.trim();
        let (scheme, rest) = v.split_once(' ').unwrap_or((v, ""));
        let rest = rest.trim();
        if scheme.eq_ignore_ascii_case("bearer") {
            return self.matches(rest.as_bytes());
        }
        if scheme.eq_ignore_ascii_case("basic") {
            let Ok(raw) = base64::engine::general_purpose::STANDARD.decode(rest) else {
                return false;
            };
            let Some(colon) = raw.iter().position(|&b| b == b':') else {
                return false;
            };
            return self.matches(&raw[colon + 1..]);
        }
        false
    }
}

/// Splits `/auth/<token>/<rest>` into the (percent-decoded) token and `/<rest>`; any
/// other path has no token and is returned whole.
pub fn split_path_token(path: &str) -> (Option<String>, &str) {
    let Some(r) = path.strip_prefix(AUTH_PREFIX) else {
        return (None, path);
    };
    let (tok, rest) = match r.find('/') {
        Some(i) => (&r[..i], &r[i..]),
        None => (r, ""),
    };
    (Some(percent_decode(tok)), rest)
}

fn percent_decode(s: &str) -> String {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'%'
            && i + 2 < b.len()
            && b[i + 1].is_ascii_hexdigit()
            && b[i + 2].is_ascii_hexdigit()
        {
            let hex = std::str::from_utf8(&b[i + 1..i + 3]).unwrap_or("");
            if let Ok(v) = u8::from_str_radix(hex, 16) {
                out.push(v);
                i += 3;
                continue;
            }
        }
        out.push(b[i]);
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// The `Authorization` header value a client sends for `token`.
pub fn bearer(token: &str) -> String {
    format!("Bearer {}", token.trim())
}

/// The `GOPROXY` value that makes plain `go` fetch modules from a peer at `base`
/// (`http://10.0.0.5:7070`): `<base>/auth/<token>/mod`, the token in the path, which
/// `go` sends over http and https alike.
pub fn goproxy_url(base: &str, token: Option<&str>) -> String {
    let base = base.trim_end_matches('/');
    match token {
        Some(t) => format!("{base}{AUTH_PREFIX}{}{MOD_PREFIX}", path_escape(t.trim())),
        None => format!("{base}{MOD_PREFIX}"),
    }
}

fn path_escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b'~') {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// The order in which `peers` are asked for the item named `key`: highest rendezvous
/// (highest-random-weight) score first, so each item has a stable first choice and items
/// spread evenly over the peers, and removing a peer moves only the items it had.
pub fn rendezvous_order<S: AsRef<str>>(key: &str, peers: &[S]) -> Vec<usize> {
    let mut scored: Vec<(u64, usize)> = peers
        .iter()
        .enumerate()
        .map(|(i, p)| {
            let mut h = Sha256::new();
            h.update(p.as_ref().as_bytes());
            h.update([0u8]);
            h.update(key.as_bytes());
            let d = h.finalize();
            let mut first = [0u8; 8];
            first.copy_from_slice(&d[..8]);
            (u64::from_be_bytes(first), i)
        })
        .collect();
    scored.sort_by(|a, b| b.cmp(a));
    scored.into_iter().map(|(_, i)| i).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn widgets() -> ModuleVersion {
        ModuleVersion::new("example.com/BigCo/widgets", "v1.2.0")
    }

    #[test]
    fn module_paths_round_trip() {
        let m = widgets();
        for (ext, want) in [
            ("info", Request::Info(m.clone())),
            ("mod", Request::GoMod(m.clone())),
            ("zip", Request::Zip(m.clone())),
        ] {
            let p = module_path(&m, ext).unwrap();
            assert_eq!(
                p,
                format!("/mod/example.com/!big!co/widgets/@v/v1.2.0.{ext}")
            );
            assert_eq!(Request::parse(&p), Some(want.clone()));
            assert_eq!(want.path(), p);
            // As Go's proxy client writes it.
            assert_eq!(Request::parse(&p.replace('!', "%21")), Some(want.clone()));
        }
        assert_eq!(
            Request::parse("/mod/example.com/!big!co/widgets/@v/list"),
            Some(Request::List("example.com/BigCo/widgets".into()))
        );
        let id = Id([0xab; 32]);
        assert_eq!(
            Request::parse(&Request::Output(id).path()),
            Some(Request::Output(id))
        );
        assert_eq!(
            Request::parse(&Request::Action(id).path()),
            Some(Request::Action(id))
        );
    }

    #[test]
    fn hostile_paths_do_not_parse() {
        for p in [
            "/mod/../../etc/passwd",
            "/mod/example.com/../../../etc/@v/v1.0.0.mod",
            "/mod/example.com/%2e%2e/@v/v1.0.0.mod",
            "/mod/%2e%2e/%2e%2e/etc/passwd",
            "/mod/%2E%2E/%2e%2E/etc/@v/v1.0.0.mod",
            "/mod/example.com/%252e%252e/@v/v1.0.0.mod",
            "/mod/example.com%2F..%2F..%2Fetc/@v/v1.0.0.mod",
            "/mod/example.com/w/@v/v1.0.0.mod%00",
            "/mod/example.com/w%20x/@v/v1.0.0.mod",
            "/mod/example.com/w/@v/v1.0.0.mod%",
            "/mod/example.com/w/@v/v1.0.0.mod%4",
            "/mod/example.com/w/@v/v1.0.0.mod%zz",
            "/mod//etc/passwd/@v/v1.0.0.mod",
            "/mod/example.com/BigCo/widgets/@v/v1.2.0.zip",
            "/mod/example.com/!big!co/widgets/@v/V1.2.0.zip",
            "/mod/example.com/!big!co/widgets/@v/v1.2.zip",
            "/mod/example.com/!big!co/widgets/@v/master.info",
            "/mod/example.com/!big!co/widgets/@v/v1.2.0.ziphash",
            "/mod/example.com/!big!co/widgets/@v/../../../x.zip",
            "/mod/example.com/w/@v/v1.0.0/../../x.zip",
            "/mod/example.com/w/@latest",
            "/mod/example.com\\w/@v/v1.0.0.mod",
            "/mod/./w/@v/v1.0.0.mod",
            "/mod/example.com/w/@v/.mod",
            "/build/output/ABABABABABABABABABABABABABABABABABABABABABABABABABABABABABABABAB",
            "/build/output/abab",
            "/build/output/../../etc/passwd",
            "/build/action/zz00000000000000000000000000000000000000000000000000000000000000",
            "/build/manifest/",
            "/etc/passwd",
            "/",
            "",
        ] {
            assert_eq!(Request::parse(p), None, "{p}");
        }
    }

    #[test]
    fn token_checks_bearer_and_basic() {
        let t = Token::new("s3cret\n");
        assert!(t.check_header(Some(b"Bearer s3cret")));
        assert!(t.check_header(Some(b"bearer  s3cret ")));
        let basic = base64::engine::general_purpose::STANDARD.encode("gowarm:s3cret");
        assert!(t.check_header(Some(format!("Basic {basic}").as_bytes())));
        let wrong = base64::engine::general_purpose::STANDARD.encode("gowarm:s3cre");
        assert!(!t.check_header(Some(format!("Basic {wrong}").as_bytes())));
        assert!(!t.check_header(Some(b"Bearer s3cre")));
        assert!(!t.check_header(Some(b"Bearer")));
        assert!(!t.check_header(Some(b"s3cret")));
        assert!(!t.check_header(None));
        assert_eq!(format!("{t:?}"), "Token(<redacted>)");
    }

    #[test]
    fn goproxy_url_carries_the_token_in_the_path() {
        assert_eq!(
            goproxy_url("http://127.0.0.1:7070/", Some("t0k/en+\n")),
            "http://127.0.0.1:7070/auth/t0k%2Fen%2B/mod"
        );
        assert_eq!(goproxy_url("http://h:1", None), "http://h:1/mod");
        let (t, rest) = split_path_token("/auth/t0k%2Fen%2B/mod/x/@v/list");
        assert_eq!((t.as_deref(), rest), (Some("t0k/en+"), "/mod/x/@v/list"));
        assert_eq!(split_path_token("/mod/x"), (None, "/mod/x"));
        assert_eq!(split_path_token("/auth/abc"), (Some("abc".into()), ""));
        assert_eq!(
            split_path_token("/auth/%zz%4/m"),
            (Some("%zz%4".into()), "/m")
        );
    }

    #[test]
    fn rendezvous_is_stable_and_spreads() {
        let peers = ["http://a:1", "http://b:1", "http://c:1"];
        let mut first = [0usize; 3];
        for i in 0..300 {
            let key = format!("item{i}");
            let o = rendezvous_order(&key, &peers);
            assert_eq!(o, rendezvous_order(&key, &peers));
            let mut sorted = o.clone();
            sorted.sort();
            assert_eq!(sorted, vec![0, 1, 2]);
            first[o[0]] += 1;
        }
        assert!(first.iter().all(|&n| n > 60), "{first:?}");
        // Removing a peer keeps the relative order of the others.
        let o = rendezvous_order("x", &peers);
        let two: Vec<&str> = o.iter().filter(|&&i| i != 1).map(|&i| peers[i]).collect();
        let o2 = rendezvous_order("x", &[peers[0], peers[2]]);
        let two2: Vec<&str> = o2.iter().map(|&i| [peers[0], peers[2]][i]).collect();
        assert_eq!(two, two2);
    }
}
