//! Recording: which build-cache entries a bake's `go build` read or wrote, exactly, by
//! running `go` with a GOCACHEPROG (`gowarm-cacheprog`, or `gowarm cacheprog`) that
//! serves the real GOCACHE directory and logs every hit and put.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use gowarm_gocache::cacheprog::{read_record, Recorded};
use gowarm_gocache::Id;

use crate::error::{Error, Result};

/// The standalone GOCACHEPROG host's file name.
pub const CACHEPROG_BIN: &str = "gowarm-cacheprog";

/// The GOCACHEPROG program a bake runs `go` with.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CacheProg {
    /// The executable.
    pub program: PathBuf,
    /// Arguments before gowarm's own (`["cacheprog"]` for `gowarm cacheprog`).
    pub args: Vec<String>,
}

impl CacheProg {
    /// `program` with leading `args`.
    pub fn new(program: impl Into<PathBuf>, args: &[&str]) -> CacheProg {
        CacheProg {
            program: program.into(),
            args: args.iter().map(|a| a.to_string()).collect(),
        }
    }

    /// Finds `gowarm-cacheprog`: `$GOWARM_CACHEPROG`, else beside the running executable,
    /// else on PATH.
    pub fn locate() -> Result<CacheProg> {
        if let Some(p) = std::env::var_os("GOWARM_CACHEPROG").filter(|p| !p.is_empty()) {
            return Ok(CacheProg::new(p, &[]));
        }
        let beside = std::env::current_exe()
            .ok()
            .and_then(|e| e.parent().map(|d| d.join(CACHEPROG_BIN)));
        let on_path = std::env::var_os("PATH")
            .into_iter()
            .flat_map(|p| std::env::split_paths(&p).collect::<Vec<_>>())
            .map(|d| d.join(CACHEPROG_BIN));
        beside
            .into_iter()
            .chain(on_path)
            .find(|p| p.is_file())
            .map(|p| CacheProg::new(p, &[]))
            .ok_or_else(|| {
                Error::Bake(format!(
                    "bake records the build-cache entries of each warm set by running go with GOCACHEPROG={CACHEPROG_BIN}, which is neither beside this program nor on PATH; install it or set GOWARM_CACHEPROG to its path"
                ))
            })
    }

    /// The GOCACHEPROG value that serves `gocache` and records into `record`. Go splits it
    /// like a shell line with quotes (`cmd/internal/quoted`).
    pub fn env_value(&self, gocache: &Path, record: &Path) -> Result<String> {
        let mut words = vec![self.program.to_string_lossy().into_owned()];
        words.extend(self.args.iter().cloned());
        words.push("--gocache".into());
        words.push(gocache.to_string_lossy().into_owned());
        words.push("--record".into());
        words.push(record.to_string_lossy().into_owned());
        let quoted: Option<Vec<String>> = words.iter().map(|w| quote(w)).collect();
        quoted.map(|q| q.join(" ")).ok_or_else(|| {
            Error::Bake(format!(
                "cannot pass {words:?} through GOCACHEPROG: a word holds both kinds of quote"
            ))
        })
    }
}

/// Quotes `w` for Go's `quoted.Split`: bare when it has no space or quote.
fn quote(w: &str) -> Option<String> {
    if !w.is_empty() && !w.contains([' ', '\t', '\n', '\'', '"']) {
        Some(w.to_string())
    } else if !w.contains('\'') {
        Some(format!("'{w}'"))
    } else if !w.contains('"') {
        Some(format!("\"{w}\""))
    } else {
        None
    }
}

/// Runs the GOCACHEPROG server on this process's stdin and stdout over the GOCACHE at
/// `gocache`, appending each hit and put to `record`: what `gowarm-cacheprog` and
/// `gowarm cacheprog` do when `go` starts them. Failed requests (which `go` mostly
/// ignores) are printed on stderr.
pub fn serve_stdio(
    gocache: &Path,
    record: Option<&Path>,
) -> Result<gowarm_gocache::cacheprog::ServeStats> {
    use gowarm_gocache::cacheprog::{serve, CacheProgError};
    use std::io::{BufReader, BufWriter, Write};
    let cache = gowarm_gocache::BuildCache::open(gocache)?;
    let mut file = match record {
        Some(path) => Some(
            std::fs::OpenOptions::new()
                .create(true)
                .append(true)
                .open(path)
                .map_err(|source| CacheProgError::RecordOpen {
                    path: path.to_path_buf(),
                    source,
                })?,
        ),
        None => None,
    };
    // Bodies arrive as long base64 lines: read the pipe in large chunks.
    let input = BufReader::with_capacity(256 * 1024, std::io::stdin().lock());
    let output = BufWriter::new(std::io::stdout().lock());
    let stats = serve(
        input,
        output,
        &cache,
        file.as_mut().map(|f| f as &mut dyn Write),
    )?;
    for f in &stats.failures {
        eprintln!("gowarm-cacheprog: {f}");
    }
    Ok(stats)
}

/// How a GOCACHEPROG host is invoked, for `--help` and usage errors.
pub const CACHEPROG_USAGE: &str = "\
usage: gowarm-cacheprog --gocache DIR [--record FILE]

A GOCACHEPROG program (go1.24+). `go` starts it during `gowarm bake` and speaks the
GOCACHEPROG protocol with it on stdin and stdout; it is not meant to be run by hand.

Every entry go stores is written to DIR in Go's own GOCACHE layout, so a later `go build`
without GOCACHEPROG on the same DIR hits it. Every hit and every stored entry is appended
to FILE, one line each: `get|put <action hex> <output hex> <size>`.

  --gocache DIR   the build cache to serve (created if missing)
  --record FILE   append the entries go reads and writes to FILE
  -h, --help      print this help

Example:
  GOCACHEPROG=\"gowarm-cacheprog --gocache /var/cache/go-build --record /tmp/rec\" go build ./...

go splits GOCACHEPROG at spaces; put '...' or \"...\" around a path that has spaces.
";

/// Runs a GOCACHEPROG host from command-line arguments (`--gocache DIR [--record FILE]`,
/// without the program name); returns the process exit code. Stdout is the protocol:
/// messages go to stderr, `--help` excepted.
pub fn cacheprog_main(
    args: impl IntoIterator<Item = std::ffi::OsString>,
) -> std::process::ExitCode {
    let mut gocache = None;
    let mut record = None;
    let mut args = args.into_iter();
    let usage = |msg: &str| {
        eprintln!("gowarm-cacheprog: {msg}\n\n{CACHEPROG_USAGE}");
        std::process::ExitCode::from(2)
    };
    while let Some(arg) = args.next() {
        let text = arg.to_string_lossy().into_owned();
        let (flag, inline) = match text.split_once('=') {
            Some((f, v)) if f.starts_with("--") => {
                (f.to_string(), Some(std::ffi::OsString::from(v)))
            }
            _ => (text.clone(), None),
        };
        let slot = match flag.as_str() {
            "-h" | "--help" => {
                // For a person at a terminal, never for go: stdout is fine here.
                print!("{CACHEPROG_USAGE}");
                return std::process::ExitCode::SUCCESS;
            }
            "--gocache" => &mut gocache,
            "--record" => &mut record,
            _ => return usage(&format!("unknown argument {text:?}")),
        };
        match inline.or_else(|| args.next()).filter(|v| !v.is_empty()) {
            Some(v) => *slot = Some(PathBuf::from(v)),
            None => return usage(&format!("{flag} needs a value")),
        }
    }
    let Some(gocache) = gocache else {
        return usage("--gocache DIR is required");
    };
    match serve_stdio(&gocache, record.as_deref()) {
        Ok(stats) if stats.failures.is_empty() => std::process::ExitCode::SUCCESS,
        // go ignores most failed puts: the exit status and stderr are where they show.
        Ok(_) => std::process::ExitCode::FAILURE,
        Err(e) => {
            eprintln!("gowarm-cacheprog: {e}");
            std::process::ExitCode::FAILURE
        }
    }
}

/// For programs that host the recorder as a mode (`PROGRAM cacheprog …`, as the bake's
/// [`CacheProg::new`]`(exe, &["cacheprog"])` runs them): serves and returns the exit code
/// when this process was started that way, else None.
pub fn cacheprog_main_if_invoked() -> Option<std::process::ExitCode> {
    let mut args = std::env::args_os().skip(1);
    if args.next().as_deref() != Some(std::ffi::OsStr::new("cacheprog")) {
        return None;
    }
    Some(cacheprog_main(args))
}

/// One entry a recorded build used: its output and size as last recorded.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct UsedEntry {
    /// Output ID.
    pub output: Id,
    /// Output size.
    pub size: u64,
    /// Whether the build wrote it (a compile or link it ran) rather than read it.
    pub put: bool,
}

/// The entries a record file lists, by action ID (a later put overrides an earlier get).
pub fn used_entries(record: &Path) -> Result<BTreeMap<Id, UsedEntry>> {
    let mut used = BTreeMap::new();
    for r in read_record(record)? {
        let Recorded {
            access,
            action,
            output,
            size,
        } = r;
        let put = matches!(access, gowarm_gocache::cacheprog::Access::Put);
        used.entry(action)
            .and_modify(|u: &mut UsedEntry| {
                if put || !u.put {
                    *u = UsedEntry { output, size, put };
                }
            })
            .or_insert(UsedEntry { output, size, put });
    }
    Ok(used)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn env_value_quotes_what_go_splits() {
        let p = CacheProg::new("/opt/my tools/gowarm", &["cacheprog"]);
        let v = p
            .env_value(Path::new("/c"), Path::new("/tmp/it's"))
            .unwrap();
        assert_eq!(
            v,
            "'/opt/my tools/gowarm' cacheprog --gocache /c --record \"/tmp/it's\""
        );
        let bad = CacheProg::new("/a'\"b", &[]);
        assert!(bad.env_value(Path::new("/c"), Path::new("/r")).is_err());
    }
}
