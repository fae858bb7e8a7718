//! Validity rules for module paths, import paths and file paths inside modules.
//!
//! A port of golang.org/x/mod/module/module.go (`CheckPath`, `CheckImportPath`,
//! `CheckFilePath`, `SplitPathVersion`, `CheckPathMajor`, `Check`). These rules decide
//! which names Go accepts in go.mod, module zips and the module cache, so gowarm
//! must agree with them exactly: a name Go rejects must never reach a cache.

use unicode_properties::{GeneralCategoryGroup, UnicodeGeneralCategory};

use crate::semver;

/// Which kind of path a check applied to; it decides the allowed characters.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PathKind {
    /// A module path (`github.com/x/y/v2`).
    Module,
    /// A package import path.
    Import,
    /// A slash-separated file path inside a module.
    File,
}

impl PathKind {
    fn noun(self) -> &'static str {
        match self {
            PathKind::Module => "module",
            PathKind::Import => "import",
            PathKind::File => "file",
        }
    }
}

/// A path or version that breaks one of Go's module naming rules.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PathError {
    /// The path itself is malformed.
    #[error("malformed {} path {path:?}: {reason}", kind.noun())]
    Malformed {
        /// Which rules were applied.
        kind: PathKind,
        /// The offending path.
        path: String,
        /// Which rule it breaks.
        reason: String,
    },
    /// The version is not a semantic version, or does not fit the path's major suffix.
    #[error("{path}@{version}: invalid version: {reason}")]
    Version {
        /// The module path.
        path: String,
        /// The offending version.
        version: String,
        /// Why it is rejected.
        reason: String,
    },
}

/// Windows reserves these names (case-insensitively, before the first dot) in every
/// directory, so Go refuses them as path elements everywhere.
const BAD_WINDOWS_NAMES: [&str; 22] = [
    "CON", "PRN", "AUX", "NUL", "COM1", "COM2", "COM3", "COM4", "COM5", "COM6", "COM7", "COM8",
    "COM9", "LPT1", "LPT2", "LPT3", "LPT4", "LPT5", "LPT6", "LPT7", "LPT8", "LPT9",
];

/// Checks a module path (`CheckPath`): an import path whose first element is a
/// lower-case domain with a dot, and whose major-version suffix is well formed.
pub fn check_module_path(path: &str) -> Result<(), PathError> {
    let fail = |reason: String| PathError::Malformed {
        kind: PathKind::Module,
        path: path.to_string(),
        reason,
    };
    check_path(path, PathKind::Module).map_err(fail)?;
    let first = path.split('/').next().unwrap_or_default();
    if first.is_empty() {
        return Err(fail("leading slash".into()));
    }
    if !first.contains('.') {
        return Err(fail("missing dot in first path element".into()));
    }
    if path.starts_with('-') {
        return Err(fail("leading dash in first path element".into()));
    }
    if let Some(r) = first
        .chars()
        .find(|&r| !(r == '-' || r == '.' || r.is_ascii_digit() || r.is_ascii_lowercase()))
    {
        return Err(fail(format!("invalid char {r:?} in first path element")));
    }
    if split_path_version(path).is_none() {
        return Err(fail("invalid version".into()));
    }
    Ok(())
}

/// Checks a package import path (`CheckImportPath`).
pub fn check_import_path(path: &str) -> Result<(), PathError> {
    check_path(path, PathKind::Import).map_err(|reason| PathError::Malformed {
        kind: PathKind::Import,
        path: path.to_string(),
        reason,
    })
}

/// Checks a slash-separated file path inside a module (`CheckFilePath`).
pub fn check_file_path(path: &str) -> Result<(), PathError> {
    check_path(path, PathKind::File).map_err(|reason| PathError::Malformed {
        kind: PathKind::File,
        path: path.to_string(),
        reason,
    })
}

/// Checks a path element used as a file name (Go's `checkElem(elem, filePath)`); Go
/// applies this to versions before using them as file names in the module cache.
pub(crate) fn check_file_elem(elem: &str) -> Result<(), String> {
    check_elem(elem, PathKind::File)
}

/// Checks that `path@version` is a valid module version (`module.Check`): a valid
/// module path, a semantic version, and a major version matching the path's suffix.
pub fn check(path: &str, version: &str) -> Result<(), PathError> {
    check_module_path(path)?;
    if !semver::is_valid(version) {
        return Err(PathError::Version {
            path: path.into(),
            version: version.into(),
            reason: "not a semantic version".into(),
        });
    }
    // check_module_path succeeded, so the split succeeds.
    let (_, major) = split_path_version(path).unwrap_or((path, ""));
    check_path_major(version, major).map_err(|reason| PathError::Version {
        path: path.into(),
        version: version.into(),
        reason,
    })
}

/// Splits a module path into prefix and major suffix (`/v2`, or `.v2` for gopkg.in),
/// returning `None` when the last element is a malformed suffix such as `/v1` or `/v0`.
pub fn split_path_version(path: &str) -> Option<(&str, &str)> {
    if path.starts_with("gopkg.in/") {
        return split_gopkg_in(path);
    }
    let b = path.as_bytes();
    let mut i = b.len();
    let mut dot = false;
    while i > 0 && (b[i - 1].is_ascii_digit() || b[i - 1] == b'.') {
        if b[i - 1] == b'.' {
            dot = true;
        }
        i -= 1;
    }
    if i <= 1 || i == b.len() || b[i - 1] != b'v' || b[i - 2] != b'/' {
        return Some((path, ""));
    }
    let (prefix, major) = path.split_at(i - 2);
    if dot || major.len() <= 2 || major.as_bytes()[2] == b'0' || major == "/v1" {
        return None;
    }
    Some((prefix, major))
}

fn split_gopkg_in(path: &str) -> Option<(&str, &str)> {
    let b = path.as_bytes();
    let mut i = b.len();
    if path.ends_with("-unstable") {
        i -= "-unstable".len();
    }
    while i > 0 && b[i - 1].is_ascii_digit() {
        i -= 1;
    }
    if i <= 1 || b[i - 1] != b'v' || b[i - 2] != b'.' {
        // All gopkg.in paths must end in vN for some N.
        return None;
    }
    let (prefix, major) = path.split_at(i - 2);
    if major.len() <= 2 || (major.as_bytes()[2] == b'0' && major != ".v0") {
        return None;
    }
    Some((prefix, major))
}

/// Checks that version `v` fits the path's major suffix (`CheckPathMajor`), returning
/// the reason when it does not.
pub fn check_path_major(v: &str, path_major: &str) -> Result<(), String> {
    let mut pm = path_major;
    if pm.starts_with(".v") {
        pm = pm.strip_suffix("-unstable").unwrap_or(pm);
    }
    // An old bug generated v0.0.0- pseudo-versions for gopkg.in .v1 paths; Go allows them.
    if v.starts_with("v0.0.0-") && pm == ".v1" {
        return Ok(());
    }
    let m = semver::major(v).unwrap_or("");
    let want = if pm.is_empty() {
        if m == "v0" || m == "v1" || semver::build(v) == "+incompatible" {
            return Ok(());
        }
        "v0 or v1"
    } else {
        let want = &pm[1..];
        if m == want {
            return Ok(());
        }
        want
    };
    Err(format!("should be {want}, not {m}"))
}

fn check_path(path: &str, kind: PathKind) -> Result<(), String> {
    if path.is_empty() {
        return Err("empty string".into());
    }
    if path.starts_with('-') && kind != PathKind::File {
        return Err("leading dash".into());
    }
    if path.contains("//") {
        return Err("double slash".into());
    }
    if path.ends_with('/') {
        return Err("trailing slash".into());
    }
    path.split('/').try_for_each(|elem| check_elem(elem, kind))
}

fn check_elem(elem: &str, kind: PathKind) -> Result<(), String> {
    if elem.is_empty() {
        return Err("empty path element".into());
    }
    if elem.bytes().all(|c| c == b'.') {
        return Err(format!("invalid path element {elem:?}"));
    }
    if elem.starts_with('.') && kind == PathKind::Module {
        return Err("leading dot in path element".into());
    }
    if elem.ends_with('.') {
        return Err("trailing dot in path element".into());
    }
    if let Some(r) = elem.chars().find(|&r| !char_ok(r, kind)) {
        return Err(format!("invalid char {r:?}"));
    }
    let short = elem.split('.').next().unwrap_or(elem);
    if BAD_WINDOWS_NAMES
        .iter()
        .any(|bad| bad.eq_ignore_ascii_case(short))
    {
        return Err(format!(
            "{short:?} disallowed as path element component on Windows"
        ));
    }
    if kind == PathKind::File {
        // Windows short names (FOO~1) only matter for import paths.
        return Ok(());
    }
    if let Some(tilde) = short.rfind('~') {
        let suffix = &short[tilde + 1..];
        if !suffix.is_empty() && suffix.bytes().all(|c| c.is_ascii_digit()) {
            return Err("trailing tilde and digits in path element".into());
        }
    }
    Ok(())
}

fn char_ok(r: char, kind: PathKind) -> bool {
    let mod_ok = |r: char| r.is_ascii_alphanumeric() || matches!(r, '-' | '.' | '_' | '~');
    match kind {
        PathKind::Module => mod_ok(r),
        PathKind::Import => mod_ok(r) || r == '+',
        PathKind::File => {
            if r.is_ascii() {
                // Go allows ASCII letters, digits, space and this punctuation; it excludes
                // shell specials " ' * < > ? ` | and the separators / : \.
                r.is_ascii_alphanumeric() || "!#$%&()+,-.=@[]^_{}~ ".contains(r)
            } else {
                // Go's unicode.IsLetter: general categories Lu, Ll, Lt, Lm and Lo.
                // (char::is_alphabetic is wider: it admits Nl and marks Go rejects.)
                r.general_category_group() == GeneralCategoryGroup::Letter
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn module_paths() {
        for p in [
            "github.com/pulumi/pulumi/sdk/v3",
            "gopkg.in/yaml.v3",
            "gopkg.in/check.v1",
            "example.com/Tiny",
            "go.opentelemetry.io/otel",
            "example.com/a_b~c",
        ] {
            assert_eq!(check_module_path(p), Ok(()), "{p}");
        }
        let cases = [
            ("", "empty string"),
            ("github.com/x//y", "double slash"),
            ("github.com/x/", "trailing slash"),
            ("nodot/x", "missing dot in first path element"),
            ("Example.com/x", "invalid char 'E' in first path element"),
            ("example.com/.x", "leading dot in path element"),
            ("example.com/x./y", "trailing dot in path element"),
            ("example.com/x/v1", "invalid version"),
            ("example.com/x/v0", "invalid version"),
            ("example.com/x/v2.1", "invalid version"),
            ("example.com/a b", "invalid char ' '"),
            (
                "example.com/con",
                "\"con\" disallowed as path element component on Windows",
            ),
            (
                "example.com/PROGRA~1",
                "trailing tilde and digits in path element",
            ),
            ("gopkg.in/yaml", "invalid version"),
            ("example.com/..", "invalid path element \"..\""),
        ];
        for (p, want) in cases {
            match check_module_path(p) {
                Err(PathError::Malformed { reason, .. }) => assert_eq!(reason, want, "{p}"),
                other => panic!("{p}: expected error {want:?}, got {other:?}"),
            }
        }
    }

    #[test]
    fn file_paths() {
        for p in [
            "go.mod",
            "a b/c (1).txt",
            "-leading-dash-ok.go",
            "héllo/ünïcode.go",
            ".github/workflows/ci.yml",
        ] {
            assert_eq!(check_file_path(p), Ok(()), "{p}");
        }
        for p in [
            "a/../b",
            "../x",
            "/abs",
            "a\\b",
            "x:y",
            "a*b",
            "q?",
            "nul.txt",
            "a/",
            "",
            "e\u{301}",
            "\u{24B6}.txt",
        ] {
            assert!(check_file_path(p).is_err(), "{p:?} should be rejected");
        }
    }

    #[test]
    fn path_major() {
        assert_eq!(split_path_version("a.com/x/v2"), Some(("a.com/x", "/v2")));
        assert_eq!(split_path_version("a.com/x"), Some(("a.com/x", "")));
        assert_eq!(
            split_path_version("gopkg.in/yaml.v3"),
            Some(("gopkg.in/yaml", ".v3"))
        );
        assert_eq!(
            split_path_version("gopkg.in/foo.v2-unstable"),
            Some(("gopkg.in/foo", ".v2-unstable"))
        );
        assert_eq!(check("a.com/x/v2", "v2.1.0"), Ok(()));
        assert_eq!(check("a.com/x", "v2.1.0+incompatible"), Ok(()));
        assert_eq!(
            check("gopkg.in/check.v1", "v0.0.0-20161208181325-20d25e280405"),
            Ok(())
        );
        let err = check("a.com/x/v2", "v3.0.0").unwrap_err();
        assert_eq!(
            err.to_string(),
            "a.com/x/v2@v3.0.0: invalid version: should be v2, not v3"
        );
        assert!(check("a.com/x", "v2.0.0").is_err());
        assert!(check("a.com/x", "latest").is_err());
    }
}
