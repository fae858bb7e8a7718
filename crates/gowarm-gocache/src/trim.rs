//! Go's build-cache expiry rules (cmd/go/internal/cache/cache.go, `Trim` and `markUsed`).
//!
//! A `go` command that exits runs `Trim`: unless `trim.txt` says a trim finished less than a
//! day ago, it deletes every `-a`/`-d` file whose mtime is older than 5 days plus 1 hour.
//! Go refreshes an entry's mtime on use only when it is over an hour old. So entries copied
//! with their bake-time mtimes vanish on the first `go` command in the pod, and installs
//! must set mtime to now and write a fresh `trim.txt`.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// Go refreshes an entry's mtime on use only if it is older than this (`mtimeInterval`).
pub const MTIME_INTERVAL: Duration = Duration::from_secs(60 * 60);

/// Go scans the cache for old entries at most this often (`trimInterval`).
pub const TRIM_INTERVAL: Duration = Duration::from_secs(24 * 60 * 60);

/// Go deletes entries unused for this long, plus [`MTIME_INTERVAL`] (`trimLimit`).
pub const TRIM_LIMIT: Duration = Duration::from_secs(5 * 24 * 60 * 60);

/// Name of the file at the cache root holding the last trim's unix time in seconds.
pub const TRIM_TXT: &str = "trim.txt";

/// The bytes Go writes to `trim.txt` for a trim at `now`: `fmt.Fprintf(&b, "%d", now.Unix())`,
/// decimal seconds with no newline.
pub fn format_trim_txt(now: SystemTime) -> String {
    unix_seconds(now).to_string()
}

/// Reads `trim.txt` content as Go does: `strconv.ParseInt(strings.TrimSpace(data), 10, 64)`.
/// `None` means Go finds it corrupt and trims right away.
pub fn parse_trim_txt(data: &[u8]) -> Option<SystemTime> {
    let text = std::str::from_utf8(data).ok()?;
    let secs: i64 = text.trim().parse().ok()?;
    Some(from_unix_seconds(secs))
}

/// Whether the next `go` command at `now` trims the cache, given the time in `trim.txt`
/// (`None` if absent or unreadable). Go skips the trim only when the last one is less than a
/// day old and not more than an hour in the future.
pub fn trim_due(last_trim: Option<SystemTime>, now: SystemTime) -> bool {
    let Some(last) = last_trim else {
        return true;
    };
    match now.duration_since(last) {
        Ok(age) => age >= TRIM_INTERVAL,
        // last is in the future: Go trims once it is at least an hour ahead.
        Err(ahead) => ahead.duration() >= MTIME_INTERVAL,
    }
}

/// Whether a trim at `now` deletes a file whose mtime is `mtime`: Go's cutoff is
/// `now - trimLimit - mtimeInterval`, and it deletes files modified strictly before it.
pub fn expired(mtime: SystemTime, now: SystemTime) -> bool {
    match now.checked_sub(TRIM_LIMIT + MTIME_INTERVAL) {
        Some(cutoff) => mtime < cutoff,
        None => false,
    }
}

/// Unix seconds of `t`, negative before 1970 (Go's `Time.Unix`, which floors).
pub(crate) fn unix_seconds(t: SystemTime) -> i64 {
    match t.duration_since(UNIX_EPOCH) {
        Ok(d) => i64::try_from(d.as_secs()).unwrap_or(i64::MAX),
        Err(e) => {
            let d = e.duration();
            let secs = i64::try_from(d.as_secs()).unwrap_or(i64::MAX);
            // Floor, like Go: 0.5 s before the epoch is second -1.
            if d.subsec_nanos() > 0 {
                -secs - 1
            } else {
                -secs
            }
        }
    }
}

/// Unix nanoseconds of `t` as Go's `Time.UnixNano` for times Go can represent
/// (saturating outside 1678–2262).
pub fn unix_nanos(t: SystemTime) -> i64 {
    match t.duration_since(UNIX_EPOCH) {
        Ok(d) => i64::try_from(d.as_nanos()).unwrap_or(i64::MAX),
        Err(e) => i64::try_from(e.duration().as_nanos()).map_or(i64::MIN, |n| -n),
    }
}

fn from_unix_seconds(secs: i64) -> SystemTime {
    let magnitude = Duration::from_secs(secs.unsigned_abs());
    if secs >= 0 {
        UNIX_EPOCH.checked_add(magnitude).unwrap_or(UNIX_EPOCH)
    } else {
        UNIX_EPOCH.checked_sub(magnitude).unwrap_or(UNIX_EPOCH)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(secs: u64) -> SystemTime {
        UNIX_EPOCH + Duration::from_secs(secs)
    }

    #[test]
    fn trim_txt_format_matches_go() {
        // Real content of a go1.25.5 trim.txt: decimal seconds, no newline.
        assert_eq!(format_trim_txt(at(1_796_298_373)), "1796298373");
        assert_eq!(
            format_trim_txt(at(1_796_298_373) + Duration::from_millis(999)),
            "1796298373"
        );
        assert_eq!(parse_trim_txt(b"1796298373"), Some(at(1_796_298_373)));
        // Go trims surrounding white space before parsing.
        assert_eq!(parse_trim_txt(b" 1796298373\n"), Some(at(1_796_298_373)));
        assert_eq!(parse_trim_txt(b""), None);
        assert_eq!(parse_trim_txt(b"17962x"), None);
        assert_eq!(parse_trim_txt(b"1.5"), None);
        assert_eq!(
            format_trim_txt(UNIX_EPOCH - Duration::from_millis(500)),
            "-1"
        );
    }

    #[test]
    fn trim_due_follows_go() {
        let now = at(10_000_000);
        assert!(trim_due(None, now));
        assert!(!trim_due(Some(now), now));
        assert!(!trim_due(
            Some(now - TRIM_INTERVAL + Duration::from_secs(1)),
            now
        ));
        assert!(trim_due(Some(now - TRIM_INTERVAL), now));
        assert!(!trim_due(Some(now + Duration::from_secs(59 * 60)), now));
        assert!(trim_due(Some(now + MTIME_INTERVAL), now));
    }

    #[test]
    fn expiry_cutoff() {
        let now = at(10_000_000);
        let cutoff = now - TRIM_LIMIT - MTIME_INTERVAL;
        assert!(!expired(cutoff, now));
        assert!(expired(cutoff - Duration::from_secs(1), now));
        assert!(!expired(now, now));
    }
}
