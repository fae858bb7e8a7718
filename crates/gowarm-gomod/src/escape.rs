//! Case-escaping of module paths and versions for file names and proxy URLs.
//!
//! Go's module cache and proxy protocol must work on case-insensitive file systems,
//! so every upper-case letter is written as `!` followed by its lower-case form
//! (golang.org/x/mod/module/module.go, "escaped paths"). `!` itself never appears in
//! a valid path or version, which makes the encoding reversible.

use crate::modpath::{self, PathError};

/// A path or version that cannot be escaped or unescaped.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum EscapeError {
    /// The module path is not valid, so it has no escaped form.
    #[error("cannot escape module path: {0}")]
    InvalidPath(#[from] PathError),
    /// The version cannot be a file name or contains `!`.
    #[error("version {version:?} invalid: disallowed version string ({reason})")]
    InvalidVersion {
        /// The offending version.
        version: String,
        /// Which rule it breaks.
        reason: String,
    },
    /// The escaped text is not a valid encoding (a bare upper-case letter, `!` not
    /// followed by a lower-case letter, non-ASCII), or decodes to an invalid value.
    #[error("invalid escaped {what} {escaped:?}: {reason}")]
    InvalidEscape {
        /// "module path" or "version".
        what: &'static str,
        /// The offending escaped text.
        escaped: String,
        /// Why it is rejected.
        reason: String,
    },
}

/// Escapes a module path: checks it is valid and writes each upper-case letter as `!`
/// plus the lower-case letter.
pub fn escape_path(path: &str) -> Result<String, EscapeError> {
    modpath::check_module_path(path)?;
    Ok(escape_string(path))
}

/// Escapes a version the way Go does for cache file names: it must be a valid file
/// name element without `!`, but need not be semver.
pub fn escape_version(version: &str) -> Result<String, EscapeError> {
    check_version_elem(version)?;
    Ok(escape_string(version))
}

/// Reverses [`escape_path`], rejecting malformed escapes and invalid module paths.
pub fn unescape_path(escaped: &str) -> Result<String, EscapeError> {
    let path = unescape_string(escaped).map_err(|reason| EscapeError::InvalidEscape {
        what: "module path",
        escaped: escaped.into(),
        reason,
    })?;
    modpath::check_module_path(&path).map_err(|e| EscapeError::InvalidEscape {
        what: "module path",
        escaped: escaped.into(),
        reason: e.to_string(),
    })?;
    Ok(path)
}

/// Reverses [`escape_version`], rejecting malformed escapes and invalid versions.
pub fn unescape_version(escaped: &str) -> Result<String, EscapeError> {
    let version = unescape_string(escaped).map_err(|reason| EscapeError::InvalidEscape {
        what: "version",
        escaped: escaped.into(),
        reason,
    })?;
    modpath::check_file_elem(&version).map_err(|reason| EscapeError::InvalidEscape {
        what: "version",
        escaped: escaped.into(),
        reason,
    })?;
    Ok(version)
}

fn check_version_elem(version: &str) -> Result<(), EscapeError> {
    let invalid = |reason: String| EscapeError::InvalidVersion {
        version: version.into(),
        reason,
    };
    modpath::check_file_elem(version).map_err(invalid)?;
    if version.contains('!') {
        return Err(invalid("contains '!'".into()));
    }
    if !version.is_ascii() {
        // File names may hold Unicode letters, but the escaping only folds ASCII case,
        // so Go refuses to escape anything else ("inconsistency in EscapePath").
        return Err(invalid("non-ASCII character".into()));
    }
    Ok(())
}

/// Escapes ASCII text already checked to hold no `!`.
fn escape_string(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 4);
    for c in s.chars() {
        if c.is_ascii_uppercase() {
            out.push('!');
            out.push(c.to_ascii_lowercase());
        } else {
            out.push(c);
        }
    }
    out
}

fn unescape_string(escaped: &str) -> Result<String, String> {
    let mut out = String::with_capacity(escaped.len());
    let mut bang = false;
    for c in escaped.chars() {
        if !c.is_ascii() {
            return Err(format!("non-ASCII character {c:?}"));
        }
        if bang {
            bang = false;
            if !c.is_ascii_lowercase() {
                return Err(format!("'!' followed by {c:?}, not a lower-case letter"));
            }
            out.push(c.to_ascii_uppercase());
        } else if c == '!' {
            bang = true;
        } else if c.is_ascii_uppercase() {
            return Err(format!("unescaped upper-case letter {c:?}"));
        } else {
            out.push(c);
        }
    }
    if bang {
        return Err("trailing '!'".into());
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn path_round_trips() {
        for (path, esc) in [
            (
                "github.com/Azure/azure-sdk-for-go",
                "github.com/!azure/azure-sdk-for-go",
            ),
            ("github.com/BurntSushi/toml", "github.com/!burnt!sushi/toml"),
            ("example.com/lower", "example.com/lower"),
            (
                "github.com/Masterminds/sprig",
                "github.com/!masterminds/sprig",
            ),
        ] {
            assert_eq!(escape_path(path).unwrap(), esc);
            assert_eq!(unescape_path(esc).unwrap(), path);
        }
    }

    #[test]
    fn version_round_trips() {
        for (v, esc) in [
            ("v1.0.0", "v1.0.0"),
            ("v1.0.0-RC1", "v1.0.0-!r!c1"),
            (
                "v0.0.0-20240101000000-AbCdEf",
                "v0.0.0-20240101000000-!ab!cd!ef",
            ),
            ("v2.15.0+incompatible", "v2.15.0+incompatible"),
        ] {
            assert_eq!(escape_version(v).unwrap(), esc);
            assert_eq!(unescape_version(esc).unwrap(), v);
        }
    }

    #[test]
    fn rejects() {
        assert!(matches!(
            escape_path("github.com/a!b"),
            Err(EscapeError::InvalidPath(_))
        ));
        assert!(escape_path("Github.com/x").is_err());
        assert!(escape_path("github.com/x/../y").is_err());
        assert!(escape_path("").is_err());
        assert!(matches!(
            escape_version("v1.0.0!"),
            Err(EscapeError::InvalidVersion { .. })
        ));
        assert!(escape_version("v1/0").is_err());
        assert!(escape_version("..").is_err());
        assert!(escape_version("v1.0.0-é").is_err());
        for bad in [
            "github.com/Azure/x",
            "github.com/!",
            "github.com/!1",
            "github.com/!!a",
        ] {
            assert!(
                matches!(unescape_path(bad), Err(EscapeError::InvalidEscape { .. })),
                "{bad}"
            );
        }
        assert!(unescape_version("v1.0.0-A").is_err());
        assert!(unescape_version("v1!").is_err());
        let err = unescape_path("github.com/x/v1").unwrap_err();
        assert!(err.to_string().contains("invalid version"), "{err}");
    }
}
