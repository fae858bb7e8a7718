//! A GOCACHEPROG server over a [`BuildCache`], recording exactly which entries a `go`
//! command reads and writes.
//!
//! Since go1.24, `go` runs the command line in `GOCACHEPROG` (split by
//! `cmd/internal/quoted.Split`: spaces, with `'…'` or `"…"` around an argument that has
//! some) and uses it instead of its own disk cache for every build-cache access: package
//! archives, module index, `srcfiles`, test results (`src/cmd/go/internal/cache/prog.go`,
//! default.go `initDefaultCache`). The protocol, as go1.25 speaks it
//! (`src/cmd/go/internal/cacheprog/cacheprog.go`):
//!
//! - The child first writes `{"ID":0,"KnownCommands":["get","put","close"]}`.
//! - `go` then writes one JSON request per line, each followed by an empty line:
//!   `{"ID":n,"Command":"get","ActionID":"<base64>"}`, or `"put"` with `"OutputID"` and
//!   `"BodySize"` (omitted when 0), or `"close"`. A `put` with a body is followed by a line
//!   holding the body as a JSON string of standard padded base64 (`"…"`). `go` computes
//!   the OutputID as SHA-256 of the body (there is no separate object ID in go1.25).
//! - Each request gets one response with its ID: a miss `{"ID":n,"Miss":true}`, a hit
//!   `{"ID":n,"OutputID":…,"Size":…,"Time":"<RFC 3339>","DiskPath":"/abs/file"}`, a put
//!   `{"ID":n,"DiskPath":…}` (go fails the put without DiskPath), or `{"ID":n,"Err":"…"}`.
//!   `go` then reads the output from DiskPath, which must stay until `close`. `Time` is the
//!   entry's creation time (`go test` compares it with testexpire.txt; absent, go uses now).
//!   After answering `close` the child exits; `go` then closes its stdin.
//!
//! The server stores what Go's disk cache would (cache.go `put`, `putIndexEntry`): the body
//! as `<xx>/<output>-d`, then the `-a` entry with time now, both in Go's layout, so a later
//! `go` command without GOCACHEPROG on the same GOCACHE hits every entry. A `get` hit
//! refreshes mtimes only when over an hour old, as Go's `markUsed` does.
//!
//! The record names each access, one line each, written and flushed before `go` sees the
//! response, so a killed build leaves a parseable prefix:
//!
//! ```text
//! get <action hex> <output hex> <size>    a hit (misses are not recorded)
//! put <action hex> <output hex> <size>    an entry stored
//! ```
//!
//! ```
//! use gowarm_gocache::{cacheprog, BuildCache, Id};
//!
//! let dir = tempfile::tempdir()?;
//! let cache = BuildCache::open(dir.path().join("go-build"))?;
//! let requests = "{\"ID\":1,\"Command\":\"get\",\"ActionID\":\"AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=\"}\n\n\
//!                 {\"ID\":2,\"Command\":\"close\"}\n";
//! let mut responses = Vec::new();
//! let mut record = Vec::new();
//! let stats = cacheprog::serve(requests.as_bytes(), &mut responses, &cache, Some(&mut record))?;
//! assert_eq!((stats.gets, stats.hits, stats.closed), (1, 0, true));
//! assert!(String::from_utf8(responses)?.contains("{\"ID\":1,\"Miss\":true}"));
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

use std::fmt;
use std::fs;
use std::io::{self, BufRead, Read, Write};
use std::path::{Path, PathBuf};
use std::str::FromStr;
use std::time::SystemTime;

use base64::engine::general_purpose::STANDARD;
use base64::Engine as _;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::cache::{BuildCache, EntryState};
use crate::entry::ActionEntry;
use crate::error::CacheError;
use crate::id::{Id, HASH_SIZE};
use crate::trim::{unix_nanos, MTIME_INTERVAL};

/// The commands this server declares in its first message.
pub const KNOWN_COMMANDS: [&str; 3] = ["get", "put", "close"];

/// A request line longer than this is refused (go's are under 200 bytes; bodies are
/// read separately and have no limit).
const MAX_REQUEST_LINE: u64 = 64 * 1024;

/// Temporary files for bodies are named like `BuildCache`'s own, so its sweep removes
/// those a killed server leaves behind.
const TMP_PREFIX: &str = ".gowarm-";
const TMP_SUFFIX: &str = ".tmp";

/// What one [`serve`] session did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ServeStats {
    /// `get` requests received.
    pub gets: u64,
    /// `get` requests answered with an entry.
    pub hits: u64,
    /// `put` requests stored.
    pub puts: u64,
    /// Body bytes of the stored puts.
    pub bytes_put: u64,
    /// Whether the session ended with `close` (false: the input ended first).
    pub closed: bool,
    /// Requests answered with `Err`, each as the message go received (go ignores most
    /// failed puts silently, so the caller should show these).
    pub failures: Vec<String>,
}

/// Which way an entry was accessed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Access {
    /// `go` read the entry (a hit).
    Get,
    /// `go` stored the entry.
    Put,
}

impl Access {
    /// The record's word for it: `get` or `put`.
    pub fn as_str(self) -> &'static str {
        match self {
            Access::Get => "get",
            Access::Put => "put",
        }
    }
}

/// One line of a record: an entry a `go` command read or stored.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Recorded {
    /// Read or stored.
    pub access: Access,
    /// The entry's action ID (its `-a` file).
    pub action: Id,
    /// The output the entry names (its `-d` file).
    pub output: Id,
    /// The output's size in bytes.
    pub size: u64,
}

impl fmt::Display for Recorded {
    /// The record line without its newline: `get <action> <output> <size>`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{} {} {} {}",
            self.access.as_str(),
            self.action,
            self.output,
            self.size
        )
    }
}

impl FromStr for Recorded {
    type Err = String;

    /// Parses one record line (without its newline); the error says what is wrong.
    fn from_str(line: &str) -> Result<Recorded, String> {
        let fields: Vec<&str> = line.split(' ').collect();
        let [access, action, output, size] = fields[..] else {
            return Err(format!(
                "want 4 fields `get|put <action hex> <output hex> <size>`, found {}",
                fields.len()
            ));
        };
        let access = match access {
            "get" => Access::Get,
            "put" => Access::Put,
            other => return Err(format!("unknown access {other:?}, want get or put")),
        };
        let action = Id::from_hex(action).map_err(|e| format!("action ID: {e}"))?;
        let output = Id::from_hex(output).map_err(|e| format!("output ID: {e}"))?;
        let size = size
            .parse::<u64>()
            .map_err(|_| format!("size {size:?} is not a decimal number"))?;
        Ok(Recorded {
            access,
            action,
            output,
            size,
        })
    }
}

/// A failure of the GOCACHEPROG server or of reading a record.
#[derive(Debug, thiserror::Error)]
pub enum CacheProgError {
    /// The request stream is not the GOCACHEPROG protocol, so it cannot go on.
    #[error("GOCACHEPROG request stream, line {line}{}: {message}", request_label(*request_id))]
    Protocol {
        /// The line of the stream (1-based) where the problem is.
        line: u64,
        /// The request it concerns, when known.
        request_id: Option<i64>,
        /// What is wrong.
        message: String,
    },
    /// Reading requests or writing responses failed.
    #[error("GOCACHEPROG {op}: {source}")]
    Stream {
        /// "read requests" or "write response".
        op: &'static str,
        /// The I/O error.
        #[source]
        source: io::Error,
    },
    /// Writing a record line failed (the record would be incomplete).
    #[error("write access record: {source}")]
    RecordWrite {
        /// The I/O error.
        #[source]
        source: io::Error,
    },
    /// A record file could not be opened for appending.
    #[error("open record {}: {source}", path.display())]
    RecordOpen {
        /// The record file.
        path: PathBuf,
        /// The I/O error.
        #[source]
        source: io::Error,
    },
    /// A record file could not be read.
    #[error("read record {}: {source}", path.display())]
    RecordRead {
        /// The record file.
        path: PathBuf,
        /// The I/O error.
        #[source]
        source: io::Error,
    },
    /// A record file has a line that is not a record line.
    #[error("{}:{line}: malformed record line: {message}", path.display())]
    MalformedRecord {
        /// The record file.
        path: PathBuf,
        /// The line number (1-based).
        line: u64,
        /// What is wrong with it.
        message: String,
    },
    /// The build cache could not be used.
    #[error(transparent)]
    Cache(#[from] CacheError),
}

fn request_label(id: Option<i64>) -> String {
    id.map(|id| format!(" (request {id})")).unwrap_or_default()
}

/// Reads a record written by [`serve`]; blank lines and `#` comments are skipped. A
/// malformed line is an error naming the file and line.
pub fn read_record(path: &Path) -> Result<Vec<Recorded>, CacheProgError> {
    let read_err = |source| CacheProgError::RecordRead {
        path: path.to_path_buf(),
        source,
    };
    let file = fs::File::open(path).map_err(read_err)?;
    let mut out = Vec::new();
    for (i, line) in io::BufReader::new(file).lines().enumerate() {
        let line = line.map_err(read_err)?;
        let text = line.trim_end_matches('\r');
        if text.trim().is_empty() || text.starts_with('#') {
            continue;
        }
        let rec = text
            .parse::<Recorded>()
            .map_err(|message| CacheProgError::MalformedRecord {
                path: path.to_path_buf(),
                line: i as u64 + 1,
                message,
            })?;
        out.push(rec);
    }
    Ok(out)
}

/// A request from `go` (cacheprog.go `Request`; the body follows on its own line).
#[derive(Debug, Deserialize)]
struct Request {
    #[serde(rename = "ID")]
    id: i64,
    #[serde(rename = "Command", default)]
    command: String,
    #[serde(rename = "ActionID", default)]
    action_id: Option<String>,
    #[serde(rename = "OutputID", default)]
    output_id: Option<String>,
    #[serde(rename = "BodySize", default)]
    body_size: i64,
}

/// A response to `go` (cacheprog.go `Response`), with Go's `omitempty` fields.
#[derive(Debug, Default, Serialize)]
struct Response {
    #[serde(rename = "ID")]
    id: i64,
    #[serde(rename = "Err", skip_serializing_if = "String::is_empty")]
    err: String,
    #[serde(rename = "KnownCommands", skip_serializing_if = "Vec::is_empty")]
    known_commands: Vec<&'static str>,
    #[serde(rename = "Miss", skip_serializing_if = "is_false")]
    miss: bool,
    #[serde(rename = "OutputID", skip_serializing_if = "Option::is_none")]
    output_id: Option<String>,
    #[serde(rename = "Size", skip_serializing_if = "is_zero")]
    size: u64,
    #[serde(rename = "Time", skip_serializing_if = "Option::is_none")]
    time: Option<String>,
    #[serde(rename = "DiskPath", skip_serializing_if = "Option::is_none")]
    disk_path: Option<String>,
}

fn is_false(b: &bool) -> bool {
    !*b
}

fn is_zero(n: &u64) -> bool {
    *n == 0
}

impl Response {
    fn error(id: i64, err: String) -> Response {
        Response {
            id,
            err,
            ..Response::default()
        }
    }
}

/// A request answered with `Err`; the stream goes on.
struct Refusal(String);

impl From<CacheError> for Refusal {
    fn from(e: CacheError) -> Refusal {
        Refusal(e.to_string())
    }
}

/// Serves GOCACHEPROG requests from `input`, answering on `output`, over `cache`, until
/// `close` or the end of `input`; each hit and put is appended to `record`.
///
/// Request-level problems (an unknown command, a bad ID, a body that does not hash to its
/// OutputID, a failed write) are answered with `Err` and listed in
/// [`ServeStats::failures`]; input that breaks the protocol, an I/O error on the streams or
/// a failed record write ends the session with an error.
pub fn serve(
    input: impl BufRead,
    output: impl Write,
    cache: &BuildCache,
    record: Option<&mut dyn Write>,
) -> Result<ServeStats, CacheProgError> {
    // DiskPath must be absolute: the compiler reads it from other directories.
    let root =
        std::path::absolute(cache.root()).map_err(CacheError::io("make absolute", cache.root()))?;
    let mut server = Server {
        input: LineCounter {
            inner: input,
            line: 1,
        },
        output,
        cache: BuildCache::at(root),
        record,
        stats: ServeStats::default(),
    };
    server.run()?;
    Ok(server.stats)
}

/// A reader that knows which line of the stream it is on, for error messages.
struct LineCounter<R> {
    inner: R,
    /// The line the next byte belongs to (1-based).
    line: u64,
}

impl<R: BufRead> LineCounter<R> {
    fn consume(&mut self, bytes: usize) -> io::Result<()> {
        let buf = self.inner.fill_buf()?;
        let n = bytes.min(buf.len());
        self.line += buf[..n].iter().filter(|&&b| b == b'\n').count() as u64;
        self.inner.consume(n);
        Ok(())
    }

    /// Skips white space; returns the next byte without consuming it (`None` at the end).
    fn skip_space(&mut self) -> io::Result<Option<u8>> {
        loop {
            let buf = self.inner.fill_buf()?;
            if buf.is_empty() {
                return Ok(None);
            }
            match buf.iter().position(|b| !b.is_ascii_whitespace()) {
                Some(p) => {
                    let next = buf[p];
                    self.consume(p)?;
                    return Ok(Some(next));
                }
                None => {
                    let n = buf.len();
                    self.consume(n)?;
                }
            }
        }
    }
}

struct Server<'r, R, W> {
    input: LineCounter<R>,
    output: W,
    cache: BuildCache,
    record: Option<&'r mut dyn Write>,
    stats: ServeStats,
}

impl<R: BufRead, W: Write> Server<'_, R, W> {
    fn run(&mut self) -> Result<(), CacheProgError> {
        self.respond(&Response {
            id: 0,
            known_commands: KNOWN_COMMANDS.to_vec(),
            ..Response::default()
        })?;
        while let Some(req) = self.next_request()? {
            let id = req.id;
            let result = match req.command.as_str() {
                "get" => self.get(&req)?,
                "put" => self.put(&req)?,
                "close" => {
                    self.respond(&Response {
                        id,
                        ..Response::default()
                    })?;
                    self.stats.closed = true;
                    return Ok(());
                }
                other => Err(Refusal(format!(
                    "unknown command {other:?}; this GOCACHEPROG knows {}",
                    KNOWN_COMMANDS.join(", ")
                ))),
            };
            let response = match result {
                Ok(resp) => resp,
                Err(Refusal(message)) => {
                    let message =
                        format!("gowarm-cacheprog: {} request {id}: {message}", req.command);
                    tracing::warn!("{message}");
                    self.stats.failures.push(message.clone());
                    Response::error(id, message)
                }
            };
            self.respond(&response)?;
        }
        Ok(())
    }

    /// The next request, or `None` at the end of the input.
    fn next_request(&mut self) -> Result<Option<Request>, CacheProgError> {
        let read_err = |source| CacheProgError::Stream {
            op: "read requests",
            source,
        };
        if self.input.skip_space().map_err(read_err)?.is_none() {
            return Ok(None);
        }
        let line = self.input.line;
        let mut buf = Vec::new();
        (&mut self.input.inner)
            .take(MAX_REQUEST_LINE)
            .read_until(b'\n', &mut buf)
            .map_err(read_err)?;
        if buf.last() == Some(&b'\n') {
            self.input.line += 1;
        } else if buf.len() as u64 >= MAX_REQUEST_LINE {
            return Err(CacheProgError::Protocol {
                line,
                request_id: None,
                message: format!("request line longer than {MAX_REQUEST_LINE} bytes"),
            });
        }
        serde_json::from_slice::<Request>(&buf)
            .map(Some)
            .map_err(|e| CacheProgError::Protocol {
                line,
                request_id: None,
                message: format!("not a JSON request object ({e}): {}", excerpt(&buf)),
            })
    }

    fn respond(&mut self, resp: &Response) -> Result<(), CacheProgError> {
        let write_err = |source| CacheProgError::Stream {
            op: "write response",
            source,
        };
        let mut line = serde_json::to_vec(resp).map_err(|e| CacheProgError::Stream {
            op: "write response",
            source: io::Error::other(e),
        })?;
        line.push(b'\n');
        self.output.write_all(&line).map_err(write_err)?;
        // go waits for each response: nothing may stay buffered.
        self.output.flush().map_err(write_err)
    }

    fn note(&mut self, rec: Recorded) -> Result<(), CacheProgError> {
        if let Some(w) = self.record.as_mut() {
            // One write per line: with O_APPEND, concurrent servers do not interleave.
            let line = format!("{rec}\n");
            w.write_all(line.as_bytes())
                .and_then(|()| w.flush())
                .map_err(|source| CacheProgError::RecordWrite { source })?;
        }
        Ok(())
    }

    /// Handles a get; the outer error ends the session, the inner one refuses the request.
    fn get(&mut self, req: &Request) -> Result<Result<Response, Refusal>, CacheProgError> {
        self.stats.gets += 1;
        let (action, entry, disk_path) = match self.lookup(req) {
            Ok(Some(found)) => found,
            Ok(None) => return Ok(Ok(miss(req.id))),
            Err(refusal) => return Ok(Err(refusal)),
        };
        self.mark_used(&action, &entry);
        // Recorded before go hears of the hit; a record that cannot be written ends the
        // session, since the record would no longer be exact.
        self.note(Recorded {
            access: Access::Get,
            action,
            output: entry.output_id,
            size: entry.size,
        })?;
        self.stats.hits += 1;
        Ok(Ok(Response {
            id: req.id,
            output_id: Some(STANDARD.encode(entry.output_id.0)),
            size: entry.size,
            time: Some(rfc3339_nanos(entry.time_nanos)),
            disk_path: Some(disk_path),
            ..Response::default()
        }))
    }

    /// The complete entry a get asks for and the file holding its output; `None` is a miss.
    fn lookup(&self, req: &Request) -> Result<Option<(Id, ActionEntry, String)>, Refusal> {
        let action = decode_id("ActionID", req.action_id.as_deref())?;
        let entry = match self.cache.entry_state(&action)? {
            EntryState::Complete(e) => e,
            EntryState::Missing | EntryState::Incomplete(_) => return Ok(None),
        };
        // The file itself, inside the `-d` directory for an executable (cache.go OutputFile).
        let Some(file) = self.cache.output_file(&entry.output_id)? else {
            // Trimmed by a concurrent `go` since entry_state looked.
            return Ok(None);
        };
        Ok(Some((action, entry, utf8_path(&file)?)))
    }

    /// Go's `markUsed`: refresh the mtimes of a used entry only when over an hour old,
    /// best effort.
    fn mark_used(&self, action: &Id, entry: &ActionEntry) {
        let now = SystemTime::now();
        let old = |p: &Path| {
            fs::metadata(p)
                .and_then(|m| m.modified())
                .is_ok_and(|t| now.duration_since(t).is_ok_and(|age| age >= MTIME_INTERVAL))
        };
        if old(&self.cache.action_path(action)) || old(&self.cache.output_path(&entry.output_id)) {
            if let Err(e) = self.cache.touch(action) {
                tracing::debug!(error = %e, "refreshing the mtime of a used entry");
            }
        }
    }

    /// Handles a put; the outer error ends the session, the inner one refuses the request.
    fn put(&mut self, req: &Request) -> Result<Result<Response, Refusal>, CacheProgError> {
        if req.body_size < 0 {
            // go never sends one; nothing follows it.
            return Ok(Err(Refusal(format!("negative BodySize {}", req.body_size))));
        }
        let size = req.body_size.unsigned_abs();
        let ids = decode_id("ActionID", req.action_id.as_deref())
            .and_then(|a| decode_id("OutputID", req.output_id.as_deref()).map(|o| (a, o)));
        // Where the body goes: a temporary file beside its output, or nowhere when the
        // request is already refused (the body must still be read to stay in step).
        let mut sink = BodySink::new(size);
        if let Ok((_, output)) = &ids {
            match self.temp_file(&self.cache.output_path(output)) {
                Ok(tmp) => sink.file = Some(tmp),
                Err(e) => sink.failed = Some(e.to_string()),
            }
        }
        if size > 0 {
            self.read_body(req.id, &mut sink)?;
        }
        let (action, output) = match ids {
            Ok(ids) => ids,
            Err(refusal) => return Ok(Err(refusal)),
        };
        self.store(req.id, action, output, size, sink)
    }

    fn store(
        &mut self,
        id: i64,
        action: Id,
        output: Id,
        size: u64,
        sink: BodySink,
    ) -> Result<Result<Response, Refusal>, CacheProgError> {
        let target = match self.write_entry(action, output, size, sink) {
            Ok(target) => target,
            Err(refusal) => return Ok(Err(refusal)),
        };
        self.note(Recorded {
            access: Access::Put,
            action,
            output,
            size,
        })?;
        self.stats.puts += 1;
        self.stats.bytes_put += size;
        Ok(Ok(Response {
            id,
            disk_path: Some(target),
            ..Response::default()
        }))
    }

    /// Checks a received body and stores it as Go's `put` does: the output, then the
    /// action entry with time now. Returns the output's path.
    fn write_entry(
        &self,
        action: Id,
        output: Id,
        size: u64,
        sink: BodySink,
    ) -> Result<String, Refusal> {
        if let Some(message) = sink.failed {
            return Err(Refusal(message));
        }
        if sink.written != size {
            return Err(Refusal(format!(
                "body has {} bytes, BodySize says {size}; nothing stored",
                sink.written
            )));
        }
        let actual = Id(sink.hasher.finalize().into());
        if actual != output {
            return Err(Refusal(format!(
                "body hashes to {actual}, not to its OutputID {output}; nothing stored"
            )));
        }
        let Some(tmp) = sink.file else {
            return Err(Refusal("no temporary file for the body".into()));
        };
        let target = self.cache.output_path(&output);
        let disk_path = utf8_path(&target)?;
        persist(tmp, &target)?;
        let entry = ActionEntry {
            output_id: output,
            size,
            time_nanos: unix_nanos(SystemTime::now()),
        };
        self.cache.write_action(&action, &entry)?;
        Ok(disk_path)
    }

    /// Reads the body line of a put (a JSON string of base64) into `sink`, decoding as it
    /// goes. Malformed base64 only fails the request; a missing body ends the session.
    fn read_body(&mut self, id: i64, sink: &mut BodySink) -> Result<(), CacheProgError> {
        let read_err = |source| CacheProgError::Stream {
            op: "read requests",
            source,
        };
        let protocol = |line, message: String| CacheProgError::Protocol {
            line,
            request_id: Some(id),
            message,
        };
        match self.input.skip_space().map_err(read_err)? {
            Some(b'"') => self.input.consume(1).map_err(read_err)?,
            Some(other) => {
                return Err(protocol(
                    self.input.line,
                    format!(
                        "expected the put body as a JSON string of base64, found {:?}",
                        char::from(other)
                    ),
                ))
            }
            None => {
                return Err(protocol(
                    self.input.line,
                    format!("input ended before the body of {} bytes", sink.limit),
                ))
            }
        }
        let start = self.input.line;
        // Base64 characters not yet decoded (fewer than 4 after each chunk).
        let mut pending: Vec<u8> = Vec::new();
        let mut decoded: Vec<u8> = Vec::new();
        loop {
            let buf = self.input.inner.fill_buf().map_err(read_err)?;
            if buf.is_empty() {
                return Err(protocol(
                    start,
                    "input ended inside the body string (no closing quote)".into(),
                ));
            }
            let (chars, end) = match buf.iter().position(|&b| b == b'"') {
                Some(p) => (&buf[..p], true),
                None => (buf, false),
            };
            if sink.failed.is_none() {
                pending.extend_from_slice(chars);
                let usable = if end {
                    pending.len()
                } else {
                    pending.len() / 4 * 4
                };
                decoded.resize(usable / 4 * 3 + 3, 0);
                match STANDARD.decode_slice(&pending[..usable], &mut decoded) {
                    Ok(n) => sink.write(&decoded[..n]),
                    Err(e) => sink.failed = Some(format!("body is not padded base64: {e}")),
                }
                pending.drain(..usable);
            }
            let n = chars.len() + usize::from(end);
            self.input.consume(n).map_err(read_err)?;
            if end {
                return Ok(());
            }
        }
    }

    fn temp_file(&self, target: &Path) -> Result<tempfile::NamedTempFile, CacheError> {
        let dir = target.parent().unwrap_or(self.cache.root());
        let mut b = tempfile::Builder::new();
        b.prefix(TMP_PREFIX).suffix(TMP_SUFFIX);
        // Go creates outputs 0666 (narrowed by the umask), not tempfile's private 0600.
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            b.permissions(fs::Permissions::from_mode(0o666));
        }
        b.tempfile_in(dir)
            .map_err(CacheError::io("create temporary file in", dir))
    }
}

/// Where a put's decoded body goes: hashed, counted, and written to a temporary file.
struct BodySink {
    file: Option<tempfile::NamedTempFile>,
    hasher: Sha256,
    written: u64,
    limit: u64,
    /// Why the put is refused; once set, the rest of the body is only skipped.
    failed: Option<String>,
}

impl BodySink {
    fn new(limit: u64) -> BodySink {
        BodySink {
            file: None,
            hasher: Sha256::new(),
            written: 0,
            limit,
            failed: None,
        }
    }

    fn write(&mut self, data: &[u8]) {
        if self.failed.is_some() {
            return;
        }
        self.written += data.len() as u64;
        if self.written > self.limit {
            self.failed = Some(format!(
                "body is longer than its BodySize {}; nothing stored",
                self.limit
            ));
            return;
        }
        self.hasher.update(data);
        if let Some(f) = self.file.as_mut() {
            if let Err(e) = f.write_all(data) {
                self.failed = Some(format!("write {}: {e}", f.path().display()));
            }
        }
    }
}

/// Renames a finished body into place; a directory there (an executable entry of the same
/// content) is replaced, as `BuildCache` does.
fn persist(tmp: tempfile::NamedTempFile, target: &Path) -> Result<(), CacheError> {
    match tmp.persist(target) {
        Ok(_) => Ok(()),
        Err(e) if target.is_dir() => {
            fs::remove_dir_all(target).map_err(CacheError::io("remove", target))?;
            e.file
                .persist(target)
                .map(|_| ())
                .map_err(|e| CacheError::io("rename into", target)(e.error))
        }
        Err(e) => Err(CacheError::io("rename into", target)(e.error)),
    }
}

fn miss(id: i64) -> Response {
    Response {
        id,
        miss: true,
        ..Response::default()
    }
}

/// Decodes a base64 ID field of a request (Go's JSON encoding of `[]byte`).
fn decode_id(field: &str, value: Option<&str>) -> Result<Id, Refusal> {
    let Some(text) = value else {
        return Err(Refusal(format!("{field} is missing")));
    };
    let bytes = STANDARD
        .decode(text)
        .map_err(|e| Refusal(format!("{field} {text:?} is not base64: {e}")))?;
    let id: [u8; HASH_SIZE] = bytes.as_slice().try_into().map_err(|_| {
        Refusal(format!(
            "{field} has {} bytes, want {HASH_SIZE}",
            bytes.len()
        ))
    })?;
    Ok(Id(id))
}

fn utf8_path(p: &Path) -> Result<String, Refusal> {
    p.to_str()
        .map(str::to_owned)
        .ok_or_else(|| Refusal(format!("path {} is not UTF-8", p.display())))
}

/// The start of a bad request line, for an error message.
fn excerpt(line: &[u8]) -> String {
    let text = String::from_utf8_lossy(line);
    let text = text.trim_end();
    match text.char_indices().nth(120) {
        Some((i, _)) => format!("{}…", &text[..i]),
        None => text.to_string(),
    }
}

/// Unix nanoseconds as RFC 3339 in UTC with nanoseconds, as Go's `time.Time` marshals
/// (written by hand: the days-to-date conversion is a dozen lines, not worth a crate).
fn rfc3339_nanos(nanos: i64) -> String {
    let secs = nanos.div_euclid(1_000_000_000);
    let frac = nanos.rem_euclid(1_000_000_000);
    let days = secs.div_euclid(86_400);
    let tod = secs.rem_euclid(86_400);
    // Howard Hinnant's civil_from_days.
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    format!(
        "{year:04}-{month:02}-{day:02}T{:02}:{:02}:{:02}.{frac:09}Z",
        tod / 3600,
        tod / 60 % 60,
        tod % 60
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::Value;

    fn cache() -> (tempfile::TempDir, BuildCache) {
        let dir = tempfile::tempdir().unwrap();
        let cache = BuildCache::open(dir.path().join("gocache")).unwrap();
        (dir, cache)
    }

    fn b64(id: &Id) -> String {
        STANDARD.encode(id.0)
    }

    /// A get request as go writes it (object, newline, empty line).
    fn get(id: i64, action: &Id) -> String {
        format!(
            "{{\"ID\":{id},\"Command\":\"get\",\"ActionID\":\"{}\"}}\n\n",
            b64(action)
        )
    }

    /// A put request as go writes it, body line included when non-empty.
    fn put_with(id: i64, action: &Id, output: &Id, body: &[u8]) -> String {
        let mut s = format!(
            "{{\"ID\":{id},\"Command\":\"put\",\"ActionID\":\"{}\",\"OutputID\":\"{}\"",
            b64(action),
            b64(output)
        );
        if !body.is_empty() {
            s.push_str(&format!(",\"BodySize\":{}", body.len()));
        }
        s.push_str("}\n\n");
        if !body.is_empty() {
            s.push_str(&format!("\"{}\"\n", STANDARD.encode(body)));
        }
        s
    }

    fn put(id: i64, action: &Id, body: &[u8]) -> String {
        put_with(id, action, &Id::of_content(body), body)
    }

    fn close(id: i64) -> String {
        format!("{{\"ID\":{id},\"Command\":\"close\"}}\n\n")
    }

    struct Session {
        stats: ServeStats,
        responses: Vec<Value>,
        record: String,
    }

    fn run(cache: &BuildCache, input: &str) -> Session {
        let (result, responses, record) = try_run(cache, input);
        Session {
            stats: result.unwrap(),
            responses,
            record,
        }
    }

    fn try_run(
        cache: &BuildCache,
        input: &str,
    ) -> (Result<ServeStats, CacheProgError>, Vec<Value>, String) {
        let mut out = Vec::new();
        let mut record = Vec::new();
        // A small buffer, so bodies and lines straddle reads.
        let reader = io::BufReader::with_capacity(7, input.as_bytes());
        let result = serve(reader, &mut out, cache, Some(&mut record));
        let responses = String::from_utf8(out)
            .unwrap()
            .lines()
            .map(|l| serde_json::from_str(l).unwrap())
            .collect();
        (result, responses, String::from_utf8(record).unwrap())
    }

    #[test]
    fn hello_line_comes_first_and_alone() {
        let (_d, cache) = cache();
        let s = run(&cache, "");
        assert_eq!(s.responses.len(), 1);
        assert_eq!(
            s.responses[0],
            serde_json::json!({"ID": 0, "KnownCommands": ["get", "put", "close"]})
        );
        assert!(!s.stats.closed);
    }

    #[test]
    fn get_miss_then_put_then_get_hit() {
        let (_d, cache) = cache();
        let action = Id([0x42; 32]);
        let body = b"package archive bytes".repeat(100);
        let output = Id::of_content(&body);
        let input = [
            get(1, &action),
            put(2, &action, &body),
            get(3, &action),
            close(4),
        ]
        .concat();
        let s = run(&cache, &input);

        assert_eq!(s.responses[1], serde_json::json!({"ID": 1, "Miss": true}));
        let abs = std::path::absolute(cache.output_path(&output)).unwrap();
        let abs = abs.to_str().unwrap();
        assert_eq!(
            s.responses[2],
            serde_json::json!({"ID": 2, "DiskPath": abs})
        );
        let hit = &s.responses[3];
        assert_eq!(hit["ID"], 3);
        assert_eq!(hit["OutputID"], b64(&output));
        assert_eq!(hit["Size"], body.len());
        assert_eq!(hit["DiskPath"], abs);
        assert!(hit.get("Miss").is_none());
        let time = hit["Time"].as_str().unwrap();
        assert!(time.ends_with('Z') && time.len() == 30, "{time}");
        assert_eq!(s.responses[4], serde_json::json!({"ID": 4}));

        assert_eq!(std::fs::read(cache.output_path(&output)).unwrap(), body);
        let EntryState::Complete(e) = cache.entry_state(&action).unwrap() else {
            panic!("entry not complete");
        };
        assert_eq!((e.output_id, e.size), (output, body.len() as u64));
        assert_eq!(time, rfc3339_nanos(e.time_nanos));

        assert_eq!(
            s.stats,
            ServeStats {
                gets: 2,
                hits: 1,
                puts: 1,
                bytes_put: body.len() as u64,
                closed: true,
                failures: vec![],
            }
        );
        assert_eq!(
            s.record,
            format!(
                "put {action} {output} {n}\nget {action} {output} {n}\n",
                n = body.len()
            )
        );
    }

    #[test]
    fn empty_put_stores_an_empty_output() {
        let (_d, cache) = cache();
        let action = Id([1; 32]);
        let s = run(&cache, &[put(1, &action, b""), get(2, &action)].concat());
        assert_eq!(s.stats.puts, 1, "{:?}", s.stats);
        let out = Id::of_content(b"");
        assert_eq!(std::fs::read(cache.output_path(&out)).unwrap(), b"");
        assert_eq!(s.responses[2]["OutputID"], b64(&out));
        assert!(s.responses[2].get("Size").is_none(), "Size 0 is omitted");
    }

    #[test]
    fn put_with_wrong_output_id_is_refused_and_writes_nothing() {
        let (_d, cache) = cache();
        let action = Id([7; 32]);
        let wrong = Id([9; 32]);
        let input = [
            put_with(1, &action, &wrong, b"some body"),
            get(2, &action),
            close(3),
        ]
        .concat();
        let s = run(&cache, &input);
        let err = s.responses[1]["Err"].as_str().unwrap();
        assert!(
            err.contains("request 1") && err.contains("OutputID"),
            "{err}"
        );
        assert!(
            err.contains(&Id::of_content(b"some body").to_hex()),
            "{err}"
        );
        assert_eq!(s.responses[2], serde_json::json!({"ID": 2, "Miss": true}));
        assert_eq!(s.stats.failures, vec![err.to_string()]);
        assert_eq!(s.stats.puts, 0);
        assert!(s.record.is_empty());
        assert!(!cache.action_path(&action).exists());
        assert!(!cache.output_path(&wrong).exists());
        let leftovers: Vec<_> = std::fs::read_dir(cache.root().join(wrong.subdir()))
            .unwrap()
            .collect();
        assert!(leftovers.is_empty(), "{leftovers:?}");
    }

    #[test]
    fn bad_bodies_and_ids_are_refused_and_the_stream_goes_on() {
        let (_d, cache) = cache();
        let action = Id([3; 32]);
        let body = b"0123456789";
        let out = b64(&Id::of_content(body));
        let a = b64(&action);
        let input = [
            // BodySize smaller than the body.
            format!("{{\"ID\":1,\"Command\":\"put\",\"ActionID\":\"{a}\",\"OutputID\":\"{out}\",\"BodySize\":4}}\n\n\"{}\"\n", STANDARD.encode(body)),
            // Not base64.
            format!("{{\"ID\":2,\"Command\":\"put\",\"ActionID\":\"{a}\",\"OutputID\":\"{out}\",\"BodySize\":10}}\n\n\"!!!!\"\n"),
            // A short ActionID; its body must still be skipped.
            format!("{{\"ID\":3,\"Command\":\"put\",\"ActionID\":\"AAAA\",\"OutputID\":\"{out}\",\"BodySize\":10}}\n\n\"{}\"\n", STANDARD.encode(body)),
            "{\"ID\":4,\"Command\":\"get\"}\n\n".to_string(),
            "{\"ID\":5,\"Command\":\"get2\"}\n\n".to_string(),
            put(6, &action, body),
            close(7),
        ]
        .concat();
        let s = run(&cache, &input);
        let err = |i: usize| {
            s.responses[i]["Err"]
                .as_str()
                .unwrap_or_default()
                .to_string()
        };
        assert!(err(1).contains("longer than its BodySize 4"), "{}", err(1));
        assert!(err(2).contains("not padded base64"), "{}", err(2));
        assert!(
            err(3).contains("ActionID has 3 bytes, want 32"),
            "{}",
            err(3)
        );
        assert!(err(4).contains("ActionID is missing"), "{}", err(4));
        assert!(err(5).contains("unknown command \"get2\""), "{}", err(5));
        assert_eq!(err(6), "");
        assert_eq!(s.stats.failures.len(), 5);
        assert_eq!((s.stats.puts, s.stats.closed), (1, true));
    }

    #[test]
    fn malformed_json_is_an_error_naming_the_line() {
        let (_d, cache) = cache();
        let input = [get(1, &Id([1; 32])), "{\"ID\":2,\"Command\":\n".into()].concat();
        let (result, responses, _) = try_run(&cache, &input);
        let e = result.unwrap_err().to_string();
        assert!(e.contains("line 3"), "{e}");
        assert!(e.contains("not a JSON request object"), "{e}");
        assert!(e.contains("{\"ID\":2,\"Command\":"), "{e}");
        assert_eq!(responses.len(), 2, "the first request was answered");

        let (result, _, _) = try_run(&cache, "\"hello\"\n");
        let e = result.unwrap_err().to_string();
        assert!(
            e.contains("line 1") && e.contains("expected struct Request"),
            "{e}"
        );
        let (result, _, _) = try_run(&cache, "{\"Command\":\"get\"}\n");
        let e = result.unwrap_err().to_string();
        assert!(e.contains("missing field `ID`"), "{e}");
    }

    #[test]
    fn eof_without_close_ends_the_session_cleanly() {
        let (_d, cache) = cache();
        let action = Id([5; 32]);
        let s = run(&cache, &[put(1, &action, b"x"), get(2, &action)].concat());
        assert!(!s.stats.closed);
        assert_eq!((s.stats.puts, s.stats.hits), (1, 1));
        assert_eq!(s.record.lines().count(), 2);
    }

    #[test]
    fn put_whose_body_line_is_missing_is_an_error() {
        let (_d, cache) = cache();
        let action = Id([6; 32]);
        let full = put(1, &action, b"hello body");
        let head = full.split("\n\n").next().unwrap().to_string() + "\n\n";

        let (result, _, _) = try_run(&cache, &head);
        let e = result.unwrap_err().to_string();
        assert!(
            e.contains("request 1") && e.contains("ended before the body"),
            "{e}"
        );

        let (result, _, _) = try_run(&cache, &(head.clone() + &close(2)));
        let e = result.unwrap_err().to_string();
        assert!(e.contains("line 3 (request 1)"), "{e}");
        assert!(e.contains("expected the put body as a JSON string"), "{e}");

        let (result, _, _) = try_run(&cache, &(head + "\"aGVsbG8g"));
        let e = result.unwrap_err().to_string();
        assert!(e.contains("no closing quote"), "{e}");
        assert!(!cache.action_path(&action).exists());
    }

    #[test]
    fn get_of_old_entry_refreshes_mtimes_fresh_entry_is_left_alone() {
        let (_d, cache) = cache();
        let action = Id([8; 32]);
        run(&cache, &put(1, &action, b"data"));
        let paths = [
            cache.action_path(&action),
            cache.output_path(&Id::of_content(b"data")),
        ];
        let set = |age: u64| {
            let t = filetime::FileTime::from_system_time(
                SystemTime::now() - std::time::Duration::from_secs(age),
            );
            for p in &paths {
                filetime::set_file_times(p, t, t).unwrap();
            }
        };
        let mtime = |p: &Path| fs::metadata(p).unwrap().modified().unwrap();

        set(30 * 60);
        let before: Vec<_> = paths.iter().map(|p| mtime(p)).collect();
        run(&cache, &get(1, &action));
        let after: Vec<_> = paths.iter().map(|p| mtime(p)).collect();
        assert_eq!(before, after, "under an hour old: untouched, as Go does");

        set(2 * 3600);
        run(&cache, &get(1, &action));
        for p in &paths {
            let age = SystemTime::now()
                .duration_since(mtime(p))
                .unwrap_or_default();
            assert!(age.as_secs() < 60, "{} not refreshed", p.display());
        }
    }

    #[test]
    fn incomplete_entry_is_a_miss() {
        let (_d, cache) = cache();
        let action = Id([4; 32]);
        run(&cache, &put(1, &action, b"to be lost"));
        fs::remove_file(cache.output_path(&Id::of_content(b"to be lost"))).unwrap();
        let s = run(&cache, &get(1, &action));
        assert_eq!(s.responses[1], serde_json::json!({"ID": 1, "Miss": true}));
        assert!(s.record.is_empty());
    }

    #[test]
    fn large_body_streams_through() {
        let (_d, cache) = cache();
        let action = Id([0xee; 32]);
        let body: Vec<u8> = (0..3_000_001u32)
            .map(|i| i.wrapping_mul(2_654_435_761) as u8)
            .collect();
        let input = put(1, &action, &body);
        let mut out = Vec::new();
        let reader = io::BufReader::with_capacity(64 * 1024, input.as_bytes());
        let stats = serve(reader, &mut out, &cache, None).unwrap();
        assert_eq!((stats.puts, stats.bytes_put), (1, body.len() as u64));
        assert_eq!(
            fs::read(cache.output_path(&Id::of_content(&body))).unwrap(),
            body
        );
    }

    #[test]
    fn record_lines_round_trip_and_errors_name_file_and_line() {
        let rec = Recorded {
            access: Access::Put,
            action: Id([0xab; 32]),
            output: Id([0x01; 32]),
            size: 703_382,
        };
        let line = rec.to_string();
        assert_eq!(
            line,
            format!("put {} {} 703382", "ab".repeat(32), "01".repeat(32))
        );
        assert_eq!(line.parse::<Recorded>(), Ok(rec));

        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("rec");
        fs::write(
            &path,
            format!(
                "# comment\n{line}\n\nget {} {} 5\n",
                "cd".repeat(32),
                "02".repeat(32)
            ),
        )
        .unwrap();
        let got = read_record(&path).unwrap();
        assert_eq!(got.len(), 2);
        assert_eq!(got[0], rec);
        assert_eq!((got[1].access, got[1].size), (Access::Get, 5));

        for (bad, want) in [
            ("miss abc", "want 4 fields"),
            (
                &*format!("got {} {} 5", "cd".repeat(32), "02".repeat(32)),
                "unknown access",
            ),
            (
                &*format!("get {} {} 5", "cd".repeat(31), "02".repeat(32)),
                "action ID",
            ),
            (
                &*format!("get {} {} -5", "cd".repeat(32), "02".repeat(32)),
                "size \"-5\"",
            ),
        ] {
            fs::write(&path, format!("{line}\n{bad}\n")).unwrap();
            let e = read_record(&path).unwrap_err().to_string();
            assert!(e.starts_with(&format!("{}:2: ", path.display())), "{e}");
            assert!(e.contains(want), "{e}");
        }
        let e = read_record(&dir.path().join("absent"))
            .unwrap_err()
            .to_string();
        assert!(e.contains("absent"), "{e}");
    }

    #[test]
    fn rfc3339_matches_go() {
        assert_eq!(rfc3339_nanos(0), "1970-01-01T00:00:00.000000000Z");
        // date -u -d @1796298371
        assert_eq!(
            rfc3339_nanos(1_796_298_371_740_995_079),
            "2026-12-03T11:46:11.740995079Z"
        );
        assert_eq!(
            rfc3339_nanos(951_782_400_000_000_001),
            "2000-02-29T00:00:00.000000001Z"
        );
        assert_eq!(rfc3339_nanos(-1), "1969-12-31T23:59:59.999999999Z");
    }
}
