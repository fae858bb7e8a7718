//! Semantic versions as Go modules use them (`v1.2.3-pre+build`).
//!
//! Follows golang.org/x/mod/semver/semver.go: the leading `v` is required,
//! `vMAJOR` and `vMAJOR.MINOR` are accepted shorthands, and build metadata is
//! ignored by comparison and dropped by [`canonical`].

use std::cmp::Ordering;

/// The parts of a parsed version, as slices of the input.
struct Parsed<'a> {
    major: &'a str,
    minor: &'a str,
    patch: &'a str,
    /// The text `canonical` must append: ".0.0", ".0" or "".
    short: &'static str,
    /// Including the leading '-', or empty.
    prerelease: &'a str,
    /// Including the leading '+', or empty.
    build: &'a str,
}

/// Reports whether `v` is a valid semantic version in Go's `v`-prefixed syntax.
pub fn is_valid(v: &str) -> bool {
    parse(v).is_some()
}

/// The canonical form of `v` (`v1.2` becomes `v1.2.0`, build metadata is dropped), or
/// `None` when `v` is not valid.
pub fn canonical(v: &str) -> Option<String> {
    let p = parse(v)?;
    if !p.build.is_empty() {
        return Some(v[..v.len() - p.build.len()].to_string());
    }
    Some(format!("{v}{}", p.short))
}

/// The major-version prefix of `v` (`v2` for `v2.3.4`), or `None` when `v` is not valid.
pub fn major(v: &str) -> Option<&str> {
    let p = parse(v)?;
    Some(&v[..1 + p.major.len()])
}

/// The prerelease suffix of `v` including its `-`, or "" when there is none or `v` is invalid.
pub fn prerelease(v: &str) -> &str {
    parse(v).map_or("", |p| p.prerelease)
}

/// The build suffix of `v` including its `+`, or "" when there is none or `v` is invalid.
pub fn build(v: &str) -> &str {
    parse(v).map_or("", |p| p.build)
}

/// Compares two versions by semantic-version precedence; invalid versions sort before
/// valid ones and equal to each other, as in Go's `semver.Compare`.
pub fn compare(v: &str, w: &str) -> Ordering {
    match (parse(v), parse(w)) {
        (None, None) => Ordering::Equal,
        (None, Some(_)) => Ordering::Less,
        (Some(_), None) => Ordering::Greater,
        (Some(pv), Some(pw)) => compare_int(pv.major, pw.major)
            .then_with(|| compare_int(pv.minor, pw.minor))
            .then_with(|| compare_int(pv.patch, pw.patch))
            .then_with(|| compare_prerelease(pv.prerelease, pw.prerelease)),
    }
}

/// Go's `module.CanonicalVersion`: like [`canonical`] but keeps a `+incompatible` suffix.
pub fn canonical_module_version(v: &str) -> Option<String> {
    let c = canonical(v)?;
    if build(v) == "+incompatible" {
        Some(c + "+incompatible")
    } else {
        Some(c)
    }
}

fn parse(v: &str) -> Option<Parsed<'_>> {
    let rest = v.strip_prefix('v')?;
    let (major, rest) = parse_int(rest)?;
    if rest.is_empty() {
        return Some(Parsed {
            major,
            minor: "0",
            patch: "0",
            short: ".0.0",
            prerelease: "",
            build: "",
        });
    }
    let (minor, rest) = parse_int(rest.strip_prefix('.')?)?;
    if rest.is_empty() {
        return Some(Parsed {
            major,
            minor,
            patch: "0",
            short: ".0",
            prerelease: "",
            build: "",
        });
    }
    let (patch, mut rest) = parse_int(rest.strip_prefix('.')?)?;
    let mut prerelease = "";
    if rest.starts_with('-') {
        let (p, r) = parse_prerelease(rest)?;
        prerelease = p;
        rest = r;
    }
    let mut build = "";
    if rest.starts_with('+') {
        let (b, r) = parse_build(rest)?;
        build = b;
        rest = r;
    }
    if !rest.is_empty() {
        return None;
    }
    Some(Parsed {
        major,
        minor,
        patch,
        short: "",
        prerelease,
        build,
    })
}

/// A decimal number without leading zeros, and the rest of the input.
fn parse_int(v: &str) -> Option<(&str, &str)> {
    let digits = v.bytes().take_while(u8::is_ascii_digit).count();
    if digits == 0 || (v.starts_with('0') && digits != 1) {
        return None;
    }
    Some(v.split_at(digits))
}

fn is_ident_char(c: u8) -> bool {
    c.is_ascii_alphanumeric() || c == b'-'
}

/// A numeric identifier with a leading zero, which semver forbids in prereleases.
fn is_bad_num(v: &str) -> bool {
    v.len() > 1 && v.bytes().all(|c| c.is_ascii_digit()) && v.starts_with('0')
}

fn is_num(v: &str) -> bool {
    v.bytes().all(|c| c.is_ascii_digit())
}

fn parse_prerelease(v: &str) -> Option<(&str, &str)> {
    let b = v.as_bytes();
    let mut i = 1;
    let mut start = 1;
    while i < b.len() && b[i] != b'+' {
        if !is_ident_char(b[i]) && b[i] != b'.' {
            return None;
        }
        if b[i] == b'.' {
            if start == i || is_bad_num(&v[start..i]) {
                return None;
            }
            start = i + 1;
        }
        i += 1;
    }
    if start == i || is_bad_num(&v[start..i]) {
        return None;
    }
    Some(v.split_at(i))
}

fn parse_build(v: &str) -> Option<(&str, &str)> {
    let b = v.as_bytes();
    let mut start = 1;
    for (i, &c) in b.iter().enumerate().skip(1) {
        if !is_ident_char(c) && c != b'.' {
            return None;
        }
        if c == b'.' {
            if start == i {
                return None;
            }
            start = i + 1;
        }
    }
    if start == b.len() {
        return None;
    }
    Some((v, ""))
}

fn compare_int(x: &str, y: &str) -> Ordering {
    // No leading zeros, so a longer number is a larger one.
    x.len().cmp(&y.len()).then_with(|| x.cmp(y))
}

fn compare_prerelease(x: &str, y: &str) -> Ordering {
    if x == y {
        return Ordering::Equal;
    }
    // A release sorts after all of its prereleases.
    if x.is_empty() {
        return Ordering::Greater;
    }
    if y.is_empty() {
        return Ordering::Less;
    }
    let mut xs = x[1..].split('.');
    let mut ys = y[1..].split('.');
    loop {
        match (xs.next(), ys.next()) {
            (None, None) => return Ordering::Equal,
            (None, Some(_)) => return Ordering::Less,
            (Some(_), None) => return Ordering::Greater,
            (Some(dx), Some(dy)) if dx == dy => continue,
            (Some(dx), Some(dy)) => {
                let (nx, ny) = (is_num(dx), is_num(dy));
                return match (nx, ny) {
                    (true, false) => Ordering::Less,
                    (false, true) => Ordering::Greater,
                    (true, true) => compare_int(dx, dy),
                    (false, false) => dx.cmp(dy),
                };
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn validity_follows_go() {
        for v in [
            "v1",
            "v1.2",
            "v1.2.3",
            "v0.0.0-20240101000000-abcdef123456",
            "v2.0.0+incompatible",
            "v1.2.3-rc.1+build.5",
            "v10.20.30",
        ] {
            assert!(is_valid(v), "{v} should be valid");
        }
        for v in [
            "",
            "1.2.3",
            "v",
            "v01.2.3",
            "v1.02.3",
            "v1.2.03",
            "v1.2.3-",
            "v1.2.3-01",
            "v1.2.3+",
            "v1.2.3.4",
            "v1.2.3-a..b",
            "v1.2.3 ",
            "V1.2.3",
            "v1.2-pre",
        ] {
            assert!(!is_valid(v), "{v:?} should be invalid");
        }
    }

    #[test]
    fn canonical_forms() {
        assert_eq!(canonical("v1").as_deref(), Some("v1.0.0"));
        assert_eq!(canonical("v1.2").as_deref(), Some("v1.2.0"));
        assert_eq!(canonical("v1.2.3+meta").as_deref(), Some("v1.2.3"));
        assert_eq!(canonical("v1.2.3-pre").as_deref(), Some("v1.2.3-pre"));
        assert_eq!(canonical("bad"), None);
        assert_eq!(
            canonical_module_version("v2.0.0+incompatible").as_deref(),
            Some("v2.0.0+incompatible")
        );
        assert_eq!(
            canonical_module_version("v2.0.0+other").as_deref(),
            Some("v2.0.0")
        );
        assert_eq!(major("v2.3.4"), Some("v2"));
        assert_eq!(build("v2.3.4+incompatible"), "+incompatible");
        assert_eq!(prerelease("v2.3.4-rc.1+x"), "-rc.1");
    }

    #[test]
    fn ordering() {
        let ordered = [
            "v1.0.0-alpha",
            "v1.0.0-alpha.1",
            "v1.0.0-alpha.beta",
            "v1.0.0-beta",
            "v1.0.0-beta.2",
            "v1.0.0-beta.11",
            "v1.0.0-rc.1",
            "v1.0.0",
            "v1.2.0",
            "v1.10.0",
        ];
        for w in ordered.windows(2) {
            assert_eq!(compare(w[0], w[1]), Ordering::Less, "{} < {}", w[0], w[1]);
            assert_eq!(compare(w[1], w[0]), Ordering::Greater);
        }
        assert_eq!(compare("v1.2", "v1.2.0"), Ordering::Equal);
        assert_eq!(compare("bad", "v0.0.1"), Ordering::Less);
    }
}
