//! go.sum files: the expected `h1:` hashes of module sources and go.mod files.
//!
//! Line format and tolerance follow cmd/go/internal/modfetch/fetch.go (`readGoSum`):
//! three white-space separated fields `path version hash`, where `version` ends in
//! `/go.mod` for the hash of the module's go.mod file; blank lines are skipped; the
//! known-bad empty go.mod hash of an old Go bug is dropped; hashes of algorithms other
//! than `h1` are kept by Go but never compared, so they are ignored here.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use base64::Engine as _;

use crate::version::ModuleVersion;

/// The `/go.mod` hash an old Go bug wrote for every module (fetch.go `emptyGoModHash`);
/// Go drops such lines when reading go.sum.
const EMPTY_GO_MOD_HASH: &str = "h1:G7mAYYxgmS0lVkHyy2hEOLQCFB0DlQFTMLWggykrydY=";

/// The hashes go.sum records for one module version.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SumEntry {
    /// The `h1:` hash of the module's source tree (its zip), if recorded.
    pub h1: Option<String>,
    /// The `h1:` hash of the module's go.mod file, if recorded.
    pub gomod_h1: Option<String>,
}

/// A parsed go.sum file.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct GoSum {
    entries: BTreeMap<ModuleVersion, SumEntry>,
}

/// A go.sum line gowarm cannot trust, with the file and line it came from.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{}:{line}: {kind}", file.display())]
pub struct GoSumError {
    /// The go.sum file, as given to [`parse`].
    pub file: PathBuf,
    /// 1-based line number.
    pub line: usize,
    /// What is wrong.
    pub kind: GoSumErrorKind,
}

/// The ways a go.sum line can be malformed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum GoSumErrorKind {
    /// Not exactly three fields.
    #[error("wrong number of fields {0} (want \"path version h1:hash\"); run 'go mod tidy' to rewrite go.sum")]
    WrongFieldCount(usize),
    /// A hash without an `alg:` prefix.
    #[error("hash {0:?} has no algorithm prefix (want h1:...)")]
    MissingAlgorithm(String),
    /// An `h1:` hash that is not base64 of 32 bytes.
    #[error("malformed h1 hash {hash:?}: {reason}")]
    BadH1 {
        /// The offending hash.
        hash: String,
        /// Why it is malformed.
        reason: String,
    },
    /// Two different `h1:` hashes for the same module version.
    #[error("conflicting hashes for {what}: {first} (line {first_line}) and {second}; remove the wrong line or run 'go mod tidy'")]
    Conflict {
        /// `path version` or `path version/go.mod`.
        what: String,
        /// The earlier hash.
        first: String,
        /// The earlier hash's line.
        first_line: usize,
        /// This line's hash.
        second: String,
    },
}

/// Parses go.sum text; `file` only names the file in error messages.
pub fn parse(file: &Path, text: &str) -> Result<GoSum, GoSumError> {
    let mut sum = GoSum::default();
    // Line of the first occurrence of each (module, is_gomod) hash, for conflict messages.
    let mut seen: BTreeMap<(ModuleVersion, bool), usize> = BTreeMap::new();
    for (i, raw) in text.split('\n').enumerate() {
        let line = i + 1;
        let err = |kind| GoSumError {
            file: file.to_path_buf(),
            line,
            kind,
        };
        let fields: Vec<&str> = raw.split_whitespace().collect();
        if fields.is_empty() {
            continue;
        }
        let [path, version, hash] = fields[..] else {
            return Err(err(GoSumErrorKind::WrongFieldCount(fields.len())));
        };
        if hash == EMPTY_GO_MOD_HASH {
            continue;
        }
        let Some((alg, _)) = hash
            .split_once(':')
            .filter(|(alg, _)| !alg.is_empty() && alg.bytes().all(|c| c.is_ascii_alphanumeric()))
        else {
            return Err(err(GoSumErrorKind::MissingAlgorithm(hash.into())));
        };
        if alg != "h1" {
            continue;
        }
        check_h1(hash).map_err(|reason| {
            err(GoSumErrorKind::BadH1 {
                hash: hash.into(),
                reason,
            })
        })?;
        let (version, is_gomod) = match version.strip_suffix("/go.mod") {
            Some(v) => (v, true),
            None => (version, false),
        };
        let m = ModuleVersion::new(path, version);
        let entry = sum.entries.entry(m.clone()).or_default();
        let slot = if is_gomod {
            &mut entry.gomod_h1
        } else {
            &mut entry.h1
        };
        match slot {
            Some(prev) if prev != hash => {
                let first_line = seen.get(&(m, is_gomod)).copied().unwrap_or(0);
                let what = format!("{path} {version}{}", if is_gomod { "/go.mod" } else { "" });
                return Err(err(GoSumErrorKind::Conflict {
                    what,
                    first: prev.clone(),
                    first_line,
                    second: hash.into(),
                }));
            }
            Some(_) => {}
            None => {
                *slot = Some(hash.to_string());
                seen.insert((m, is_gomod), line);
            }
        }
    }
    Ok(sum)
}

/// Checks that `hash` is `h1:` followed by standard base64 of a SHA-256 digest.
pub fn check_h1(hash: &str) -> Result<(), String> {
    let b64 = hash
        .strip_prefix("h1:")
        .ok_or_else(|| "missing \"h1:\" prefix".to_string())?;
    let raw = base64::engine::general_purpose::STANDARD
        .decode(b64)
        .map_err(|e| format!("bad base64: {e}"))?;
    if raw.len() != 32 {
        return Err(format!("decodes to {} bytes, want 32", raw.len()));
    }
    Ok(())
}

impl GoSum {
    /// The hashes recorded for `path@version`, if any.
    pub fn get(&self, path: &str, version: &str) -> Option<&SumEntry> {
        self.entries.get(&ModuleVersion::new(path, version))
    }

    /// Every module version with its hashes, ordered by path then version string.
    pub fn iter(&self) -> impl Iterator<Item = (&ModuleVersion, &SumEntry)> {
        self.entries.iter()
    }

    /// The number of module versions with at least one `h1:` hash.
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    /// Whether the file recorded no `h1:` hashes at all.
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const A: &str = "h1:eMWEq96U9RMusxQ6cBVVVTHwtAdQNzUSogyoh3fSzko=";
    const B: &str = "h1:hJpAmkWztnRToKz8QUbkCvkFCyS/bkGDqXGL9375TpE=";

    fn p(text: &str) -> Result<GoSum, GoSumError> {
        parse(Path::new("go.sum"), text)
    }

    #[test]
    fn parses_realworld_planton_go_sum() {
        let path = gowarm_testkit::realworld_file("planton-monorepo.go.sum");
        let text = std::fs::read_to_string(&path).unwrap();
        let sum = parse(&path, &text).unwrap();
        // shared/realworld/README.md: 187 modules with source hashes, 197 module paths.
        assert_eq!(sum.iter().filter(|(_, e)| e.h1.is_some()).count(), 187);
        let paths: std::collections::BTreeSet<&str> =
            sum.iter().map(|(m, _)| m.path.as_str()).collect();
        assert_eq!(paths.len(), 197);
        assert_eq!(sum.len(), 286);
        let e = sum.get("github.com/pkg/errors", "v0.9.1").unwrap();
        assert!(e.h1.is_some() && e.gomod_h1.is_some());
    }

    #[test]
    fn entries_and_tolerated_lines() {
        let text = format!(
            "example.com/a v1.0.0 {A}\r\n\
             example.com/a v1.0.0/go.mod {B}\n\
             \n   \t\n\
             example.com/a v1.0.0 {A}\n\
             example.com/b v1.0.0/go.mod {EMPTY_GO_MOD_HASH}\n\
             example.com/c v1.0.0 h2:c29tZXRoaW5nIGVsc2U=\n\
             example.com/d v0.1.0/go.mod\t{B}"
        );
        let sum = p(&text).unwrap();
        assert_eq!(
            sum.get("example.com/a", "v1.0.0"),
            Some(&SumEntry {
                h1: Some(A.into()),
                gomod_h1: Some(B.into())
            })
        );
        assert_eq!(sum.get("example.com/b", "v1.0.0"), None);
        assert_eq!(sum.get("example.com/c", "v1.0.0"), None);
        assert_eq!(sum.get("example.com/d", "v0.1.0").unwrap().h1, None);
        assert_eq!(sum.len(), 2);
    }

    #[test]
    fn malformed_lines_name_file_and_line() {
        let cases: Vec<(String, usize, &str)> = vec![
            (
                format!("example.com/a v1.0.0 {A}\nexample.com/b v1.0.0\n"),
                2,
                "wrong number of fields 2",
            ),
            (
                format!("\n\nexample.com/a v1.0.0 {A} extra\n"),
                3,
                "wrong number of fields 4",
            ),
            (
                "example.com/a v1.0.0 eMWEq96U9RMusxQ6cBVVVTHwtAdQNzUSogyoh3fSzko=\n".into(),
                1,
                "no algorithm prefix",
            ),
            (
                "example.com/a v1.0.0 h1:not*base64\n".into(),
                1,
                "bad base64",
            ),
            (
                "example.com/a v1.0.0 h1:c2hvcnQ=\n".into(),
                1,
                "decodes to 5 bytes, want 32",
            ),
            (
                format!(
                    "example.com/a v1.0.0 {A}\nexample.com/x v1 {B}\nexample.com/a v1.0.0 {B}\n"
                ),
                3,
                "conflicting hashes for example.com/a v1.0.0: h1:eMWE",
            ),
            (
                format!("example.com/a v1.0.0/go.mod {A}\nexample.com/a v1.0.0/go.mod {B}\n"),
                2,
                "(line 1)",
            ),
        ];
        for (text, line, want) in cases {
            let e = p(&text).unwrap_err();
            assert_eq!(e.line, line, "{text:?}: {e}");
            let msg = e.to_string();
            assert!(msg.starts_with(&format!("go.sum:{line}: ")), "{msg}");
            assert!(
                msg.contains(want),
                "{text:?}: {msg} should contain {want:?}"
            );
        }
    }
}
