//! [`ModuleVersion`]: one module at one version, `path@version`.

use std::fmt;

use crate::modpath::{self, PathError};
use crate::semver;

/// A Go module version: a module path and a version, written `path@version`.
#[derive(
    Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, serde::Serialize, serde::Deserialize,
)]
pub struct ModuleVersion {
    /// The module path, e.g. `github.com/pulumi/pulumi/sdk/v3`.
    pub path: String,
    /// The version, e.g. `v3.209.0`.
    pub version: String,
}

impl ModuleVersion {
    /// Makes a module version from its path and version.
    pub fn new(path: impl Into<String>, version: impl Into<String>) -> Self {
        Self {
            path: path.into(),
            version: version.into(),
        }
    }

    /// Checks what Go checks before it fetches or caches a module (`module.Check` plus
    /// canonical form): a valid path, a canonical semantic version, a matching major.
    pub fn check(&self) -> Result<(), PathError> {
        modpath::check(&self.path, &self.version)?;
        match semver::canonical_module_version(&self.version) {
            Some(c) if c == self.version => Ok(()),
            Some(c) => Err(PathError::Version {
                path: self.path.clone(),
                version: self.version.clone(),
                reason: format!("version is not canonical (should be {c:?})"),
            }),
            None => Err(PathError::Version {
                path: self.path.clone(),
                version: self.version.clone(),
                reason: "not a semantic version".into(),
            }),
        }
    }

    /// The `path@version/` prefix every file name in this module's zip carries.
    pub fn zip_prefix(&self) -> String {
        format!("{}@{}/", self.path, self.version)
    }
}

impl fmt::Display for ModuleVersion {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}@{}", self.path, self.version)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn display_and_order() {
        let a = ModuleVersion::new("example.com/a", "v1.0.0");
        let b = ModuleVersion::new("example.com/a", "v1.1.0");
        assert_eq!(a.to_string(), "example.com/a@v1.0.0");
        assert_eq!(a.zip_prefix(), "example.com/a@v1.0.0/");
        assert!(a < b);
    }

    #[test]
    fn check_requires_canonical() {
        assert_eq!(
            ModuleVersion::new("example.com/a", "v1.0.0").check(),
            Ok(())
        );
        let err = ModuleVersion::new("example.com/a", "v1.0")
            .check()
            .unwrap_err();
        assert!(err.to_string().contains("should be \"v1.0.0\""), "{err}");
        assert!(ModuleVersion::new("example.com/a/v2", "v1.0.0")
            .check()
            .is_err());
        assert!(ModuleVersion::new("example.com/a", "master")
            .check()
            .is_err());
    }
}
