//! go.mod files: parsing and `replace` resolution.
//!
//! The grammar and the per-directive rules follow golang.org/x/mod/modfile (read.go
//! for the syntax, rule.go for `module`, `go`, `toolchain`, `godebug`, `require`,
//! `exclude`, `replace`, `retract`, `tool` and `ignore`). [`parse`] is the strict
//! parse Go applies to the main module; [`parse_lax`] is the forgiving one Go applies
//! to the go.mod files of dependencies.
//!
//! One deliberate difference from `modfile.Parse` with no version fixer: a version that
//! is valid semver but not canonical (`v1.2`) is an error here. cmd/go treats such a
//! version as a query that needs the network (modload's `fixVersion`), so gowarm cannot
//! know which module it means.

mod lexer;

use std::collections::BTreeMap;
use std::fmt;
use std::path::{Path, PathBuf};

use lexer::{Kind, Token};

use crate::modpath;
use crate::semver;
use crate::version::ModuleVersion;

/// A parsed go.mod file.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct GoMod {
    /// The `module` path, if the file has one.
    pub module: Option<String>,
    /// The `go` language version, e.g. `1.25.0`.
    pub go: Option<String>,
    /// The `toolchain` name, e.g. `go1.25.5`.
    pub toolchain: Option<String>,
    /// `godebug key=value` settings.
    pub godebug: Vec<Godebug>,
    /// `require` directives in file order.
    pub require: Vec<Require>,
    /// `replace` directives in file order.
    pub replace: Vec<Replace>,
    /// `exclude` directives in file order.
    pub exclude: Vec<ModuleVersion>,
    /// `retract` directives in file order.
    pub retract: Vec<Retract>,
    /// `tool` package paths.
    pub tool: Vec<String>,
    /// `ignore` directory patterns.
    pub ignore: Vec<String>,
}

/// One `require` directive.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Require {
    /// The required module path.
    pub path: String,
    /// The required (canonical) version.
    pub version: String,
    /// Whether the line carries a `// indirect` comment.
    pub indirect: bool,
    /// 1-based line number in the go.mod file.
    pub line: usize,
}

/// One `replace` directive.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Replace {
    /// The replaced module path.
    pub old_path: String,
    /// The replaced version, or `None` when the replacement covers every version.
    pub old_version: Option<String>,
    /// What the module is replaced with.
    pub new: ReplaceTarget,
    /// 1-based line number in the go.mod file.
    pub line: usize,
}

/// The right-hand side of a `replace` directive.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum ReplaceTarget {
    /// Another module version, fetched like any module.
    Module(ModuleVersion),
    /// A local directory, as written (relative to the main module's directory unless
    /// absolute); it never enters the module cache.
    Local(String),
}

/// One `retract` directive: a single version (`low == high`) or a closed interval.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Retract {
    /// The lowest retracted version.
    pub low: String,
    /// The highest retracted version.
    pub high: String,
    /// The comment text explaining the retraction, without `//`, lines joined by `\n`.
    pub rationale: String,
    /// 1-based line number in the go.mod file.
    pub line: usize,
}

/// One `godebug key=value` directive.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Godebug {
    /// The setting's name.
    pub key: String,
    /// The setting's value.
    pub value: String,
    /// 1-based line number in the go.mod file.
    pub line: usize,
}

/// Where a module's code comes from after `replace` directives are applied.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Resolved {
    /// A module version to find in the module cache or fetch.
    Module(ModuleVersion),
    /// A local directory (as written in the go.mod file).
    Local(String),
}

/// A go.mod file that Go would refuse, with the file and line it came from.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{}:{line}{}: {kind}", file.display(), column.map(|c| format!(":{c}")).unwrap_or_default())]
pub struct GoModError {
    /// The go.mod file, as given to [`parse`].
    pub file: PathBuf,
    /// 1-based line number.
    pub line: usize,
    /// 1-based column for syntax errors inside a line; `None` when the whole line is wrong.
    pub column: Option<usize>,
    /// What is wrong (boxed: the error travels through every parser function).
    pub kind: Box<GoModErrorKind>,
}

/// The ways a go.mod file can be malformed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum GoModErrorKind {
    /// A lexical or grammatical error.
    #[error("syntax error: {0}")]
    Syntax(String),
    /// A `(` block that is never closed.
    #[error("syntax error: unterminated block started at line {started}; add the closing ')' on a line of its own")]
    UnterminatedBlock {
        /// The line the block started on.
        started: usize,
    },
    /// A directive Go does not know.
    #[error("unknown directive: {0}")]
    UnknownDirective(String),
    /// A block form of a directive that has none, or a block with extra words.
    #[error("unknown block type: {0}")]
    UnknownBlock(String),
    /// A directive with the wrong number or shape of arguments.
    #[error("{0}")]
    Usage(String),
    /// A quoted string Go cannot unquote, or a quote inside an unquoted word.
    #[error("invalid quoted string: {0}; quote paths with \"...\" (Go rejects `...` here)")]
    Quoting(String),
    /// A version that is not a semantic version or does not fit the module path.
    #[error("{verb} {path}: version {version:?} invalid: {reason}")]
    InvalidVersion {
        /// The directive.
        verb: String,
        /// The module path the version belongs to.
        path: String,
        /// The offending version.
        version: String,
        /// Why it is invalid (and how to fix it where known).
        reason: String,
    },
    /// A module path whose major-version suffix is malformed.
    #[error("{verb} {path}: invalid module path")]
    InvalidModulePath {
        /// The directive.
        verb: String,
        /// The offending path.
        path: String,
    },
    /// A directive that may appear only once.
    #[error("repeated {0} statement")]
    Repeated(&'static str),
    /// A `go` or `toolchain` version in the wrong format.
    #[error("{0}")]
    InvalidGoVersion(String),
    /// Two `replace` directives for the same module version with different targets.
    #[error(
        "conflicting replacements for {old}: {first} (line {first_line}) and {second}; remove one"
    )]
    ConflictingReplace {
        /// The replaced module (`path` or `path@version`).
        old: String,
        /// The earlier target.
        first: String,
        /// The line of the earlier directive.
        first_line: usize,
        /// This line's target.
        second: String,
    },
    /// A `retract` directive in a file without a `module` directive.
    #[error("no module directive found, so retract cannot be used")]
    RetractWithoutModule,
}

impl fmt::Display for ReplaceTarget {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ReplaceTarget::Module(m) => m.fmt(f),
            ReplaceTarget::Local(dir) => f.write_str(dir),
        }
    }
}

/// Parses a main module's go.mod strictly, as cmd/go does; `file` only names the file
/// in error messages.
pub fn parse(file: &Path, text: &str) -> Result<GoMod, GoModError> {
    Parser::new(file, true).run(text)
}

/// Parses a dependency's go.mod the lax way Go does (`modfile.ParseLax`): only
/// `module`, `go`, `require`, `retract` and `ignore` are read, unknown directives and
/// main-module-only ones are skipped, and non-canonical versions are canonicalized.
pub fn parse_lax(file: &Path, text: &str) -> Result<GoMod, GoModError> {
    Parser::new(file, false).run(text)
}

impl GoMod {
    /// Applies this file's `replace` directives to `path@version`: a replacement of that
    /// exact version wins over one for every version of the path.
    pub fn resolve(&self, path: &str, version: &str) -> Resolved {
        let exact = self
            .replace
            .iter()
            .find(|r| r.old_path == path && r.old_version.as_deref() == Some(version));
        let any = || {
            self.replace
                .iter()
                .find(|r| r.old_path == path && r.old_version.is_none())
        };
        match exact.or_else(any) {
            Some(r) => match &r.new {
                ReplaceTarget::Module(m) => Resolved::Module(m.clone()),
                ReplaceTarget::Local(dir) => Resolved::Local(dir.clone()),
            },
            None => Resolved::Module(ModuleVersion::new(path, version)),
        }
    }
}

/// A statement line: its words (raw token text) and the comments Go attaches to it.
struct Line {
    tokens: Vec<String>,
    line: usize,
    /// Whole-line comments directly before it.
    before: Vec<String>,
    /// The `//` comment ending it, if any.
    suffix: Option<String>,
}

enum Stmt {
    Line(Line),
    Block {
        verb: Vec<String>,
        line: usize,
        before: Vec<String>,
        lines: Vec<Line>,
    },
}

struct Parser<'a> {
    file: &'a Path,
    strict: bool,
    out: GoMod,
}

impl<'a> Parser<'a> {
    fn new(file: &'a Path, strict: bool) -> Self {
        Self {
            file,
            strict,
            out: GoMod::default(),
        }
    }

    fn err(&self, line: usize, kind: GoModErrorKind) -> GoModError {
        GoModError {
            file: self.file.to_path_buf(),
            line,
            column: None,
            kind: Box::new(kind),
        }
    }

    fn run(mut self, text: &str) -> Result<GoMod, GoModError> {
        let tokens = lexer::tokenize(text).map_err(|e| GoModError {
            file: self.file.to_path_buf(),
            line: e.line,
            column: (e.col > 1).then_some(e.col),
            kind: Box::new(GoModErrorKind::Syntax(e.message)),
        })?;
        let stmts = Syntax {
            toks: &tokens,
            i: 0,
            file: self.file,
        }
        .file()?;
        for stmt in &stmts {
            match stmt {
                Stmt::Line(l) => {
                    let verb = l.tokens[0].clone();
                    self.directive(&verb, None, l, &l.tokens[1..])?;
                }
                Stmt::Block {
                    verb,
                    line,
                    before,
                    lines,
                } => {
                    let known = matches!(
                        verb[0].as_str(),
                        "module"
                            | "godebug"
                            | "require"
                            | "exclude"
                            | "replace"
                            | "retract"
                            | "tool"
                            | "ignore"
                    );
                    if verb.len() > 1 || !known {
                        if self.strict {
                            return Err(
                                self.err(*line, GoModErrorKind::UnknownBlock(verb.join(" ")))
                            );
                        }
                        continue;
                    }
                    for l in lines {
                        self.directive(&verb[0], Some(before.as_slice()), l, &l.tokens)?;
                    }
                }
            }
        }
        if self.strict {
            self.check_replacements()?;
        }
        if let Some(r) = self.out.retract.first() {
            if self.out.module.is_none() && self.strict {
                return Err(self.err(r.line, GoModErrorKind::RetractWithoutModule));
            }
        }
        Ok(self.out)
    }

    /// cmd/go refuses two replacements of the same module version that disagree
    /// (modload/init.go, "conflicting replacements").
    fn check_replacements(&self) -> Result<(), GoModError> {
        let mut seen: BTreeMap<(&str, Option<&str>), &Replace> = BTreeMap::new();
        for r in &self.out.replace {
            let key = (r.old_path.as_str(), r.old_version.as_deref());
            match seen.get(&key) {
                Some(prev) if prev.new != r.new => {
                    let old = match &r.old_version {
                        Some(v) => format!("{}@{v}", r.old_path),
                        None => r.old_path.clone(),
                    };
                    return Err(self.err(
                        r.line,
                        GoModErrorKind::ConflictingReplace {
                            old,
                            first: prev.new.to_string(),
                            first_line: prev.line,
                            second: r.new.to_string(),
                        },
                    ));
                }
                Some(_) => {}
                None => {
                    seen.insert(key, r);
                }
            }
        }
        Ok(())
    }

    fn directive(
        &mut self,
        verb: &str,
        block_comments: Option<&[String]>,
        l: &Line,
        args: &[String],
    ) -> Result<(), GoModError> {
        use GoModErrorKind as K;
        if !self.strict && !matches!(verb, "go" | "module" | "retract" | "require" | "ignore") {
            return Ok(());
        }
        let line = l.line;
        let usage = |msg: String| self.err(line, K::Usage(msg));
        match verb {
            "go" => {
                if self.out.go.is_some() {
                    return Err(self.err(line, K::Repeated("go")));
                }
                let [v] = args else {
                    return Err(usage("go directive expects exactly one argument".into()));
                };
                let v = if is_go_version(v) {
                    v.clone()
                } else if let Some(fixed) = (!self.strict).then(|| lax_go_version(v)).flatten() {
                    fixed
                } else {
                    return Err(self.err(
                        line,
                        K::InvalidGoVersion(format!(
                            "invalid go version '{v}': must match format 1.23.0"
                        )),
                    ));
                };
                self.out.go = Some(v);
            }
            "toolchain" => {
                if self.out.toolchain.is_some() {
                    return Err(self.err(line, K::Repeated("toolchain")));
                }
                let [v] = args else {
                    return Err(usage(
                        "toolchain directive expects exactly one argument".into(),
                    ));
                };
                if !(v == "default" || v == "go1" || v.starts_with("go1.")) {
                    return Err(self.err(
                        line,
                        K::InvalidGoVersion(format!(
                            "invalid toolchain version '{v}': must match format go1.23.0 or default"
                        )),
                    ));
                }
                self.out.toolchain = Some(v.clone());
            }
            "module" => {
                if self.out.module.is_some() {
                    return Err(self.err(line, K::Repeated("module")));
                }
                let [p] = args else {
                    return Err(usage("usage: module module/path".into()));
                };
                self.out.module = Some(self.string(line, p)?);
            }
            "godebug" => {
                let kv = match args {
                    [a] if !a.contains(['"', '`', '\'', ',']) => a.split_once('='),
                    _ => None,
                };
                let Some((key, value)) = kv else {
                    return Err(usage("usage: godebug key=value".into()));
                };
                self.out.godebug.push(Godebug {
                    key: key.into(),
                    value: value.into(),
                    line,
                });
            }
            "require" | "exclude" => {
                let [p, v] = args else {
                    return Err(usage(format!("usage: {verb} module/path v1.2.3")));
                };
                let path = self.string(line, p)?;
                let version = self.version(line, verb, &path, v)?;
                self.check_major(line, verb, &path, &version)?;
                if verb == "require" {
                    self.out.require.push(Require {
                        indirect: is_indirect(l.suffix.as_deref()),
                        path,
                        version,
                        line,
                    });
                } else {
                    self.out.exclude.push(ModuleVersion::new(path, version));
                }
            }
            "replace" => {
                let r = self.replace(l, args)?;
                self.out.replace.push(r);
            }
            "retract" => {
                let path = self.out.module.clone().unwrap_or_default();
                let mut rest = args;
                let (low, high) = match self.interval(line, &path, &mut rest) {
                    Ok(lh) => lh,
                    // Go reports bad intervals only for the main module (rule.go).
                    Err(_) if !self.strict => return Ok(()),
                    Err(e) => return Err(e),
                };
                if let Some(extra) = rest.first() {
                    if self.strict {
                        return Err(usage(format!("unexpected token after version: {extra:?}")));
                    }
                }
                self.out.retract.push(Retract {
                    low,
                    high,
                    rationale: directive_comment(block_comments, l),
                    line,
                });
            }
            "tool" | "ignore" => {
                let [p] = args else {
                    return Err(usage(format!(
                        "{verb} directive expects exactly one argument"
                    )));
                };
                let s = self.string(line, p)?;
                if verb == "tool" {
                    self.out.tool.push(s);
                } else {
                    self.out.ignore.push(s);
                }
            }
            _ => return Err(self.err(line, K::UnknownDirective(verb.into()))),
        }
        Ok(())
    }

    fn replace(&self, l: &Line, args: &[String]) -> Result<Replace, GoModError> {
        use GoModErrorKind as K;
        let line = l.line;
        let arrow = if args.len() >= 2 && args[1] == "=>" {
            1
        } else {
            2
        };
        if args.len() < arrow + 2 || args.len() > arrow + 3 || args[arrow] != "=>" {
            return Err(self.err(
                line,
                K::Usage(
                    "usage: replace module/path [v1.2.3] => other/module v1.4\n\t or replace module/path [v1.2.3] => ../local/directory".into(),
                ),
            ));
        }
        let old_path = self.string(line, &args[0])?;
        if modpath::split_path_version(&old_path).is_none() {
            return Err(self.err(
                line,
                K::InvalidModulePath {
                    verb: "replace".into(),
                    path: old_path,
                },
            ));
        }
        let old_version = if arrow == 2 {
            let v = self.version(line, "replace", &old_path, &args[1])?;
            self.check_major(line, "replace", &old_path, &v)?;
            Some(v)
        } else {
            None
        };
        let new_path = self.string(line, &args[arrow + 1])?;
        let new = if args.len() == arrow + 2 {
            if !is_directory_path(&new_path) {
                let msg = if new_path.contains('@') {
                    "replacement module must match format 'path version', not 'path@version'"
                } else {
                    "replacement module without version must be directory path (rooted or starting with . or ..)"
                };
                return Err(self.err(line, K::Usage(msg.into())));
            }
            if cfg!(unix) && new_path.contains('\\') {
                return Err(self.err(
                    line,
                    K::Usage(
                        "replacement directory appears to be Windows path (on a non-windows system)"
                            .into(),
                    ),
                ));
            }
            ReplaceTarget::Local(new_path)
        } else {
            let v = self.version(line, "replace", &new_path, &args[arrow + 2])?;
            if is_directory_path(&new_path) {
                return Err(self.err(
                    line,
                    K::Usage(format!(
                        "replacement module directory path {new_path:?} cannot have version"
                    )),
                ));
            }
            ReplaceTarget::Module(ModuleVersion::new(new_path, v))
        };
        Ok(Replace {
            old_path,
            old_version,
            new,
            line,
        })
    }

    /// Go's `parseVersionInterval`: `v1.2.3` or `[v1.0.0, v1.2.3]`.
    fn interval(
        &self,
        line: usize,
        path: &str,
        args: &mut &[String],
    ) -> Result<(String, String), GoModError> {
        let usage = |m: &str| self.err(line, GoModErrorKind::Usage(m.into()));
        let toks = *args;
        match toks.first().map(String::as_str) {
            None | Some("(") => return Err(usage("expected '[' or version")),
            Some("[") => {}
            Some(v) => {
                let v = self.version(line, "retract", path, v)?;
                *args = &toks[1..];
                return Ok((v.clone(), v));
            }
        }
        let low = toks
            .get(1)
            .ok_or_else(|| usage("expected version after '['"))?;
        let low = self.version(line, "retract", path, low)?;
        if toks.get(2).map(String::as_str) != Some(",") {
            return Err(usage("expected ',' after version"));
        }
        let high = toks
            .get(3)
            .ok_or_else(|| usage("expected version after ','"))?;
        let high = self.version(line, "retract", path, high)?;
        if toks.get(4).map(String::as_str) != Some("]") {
            return Err(usage("expected ']' after version"));
        }
        *args = &toks[5..];
        Ok((low, high))
    }

    fn string(&self, line: usize, tok: &str) -> Result<String, GoModError> {
        parse_string(tok).map_err(|e| self.err(line, GoModErrorKind::Quoting(e)))
    }

    /// Go's `parseVersion` without a fixer: the version must be semver; strict parsing
    /// also requires it to be canonical (see the module comment).
    fn version(
        &self,
        line: usize,
        verb: &str,
        path: &str,
        tok: &str,
    ) -> Result<String, GoModError> {
        let invalid = |version: &str, reason: String| {
            self.err(
                line,
                GoModErrorKind::InvalidVersion {
                    verb: verb.into(),
                    path: path.into(),
                    version: version.into(),
                    reason,
                },
            )
        };
        let v = parse_string(tok).map_err(|e| invalid(tok, e))?;
        match semver::canonical_module_version(&v) {
            None => Err(invalid(&v, "must be of the form v1.2.3".into())),
            Some(c) if c != v && self.strict => Err(invalid(
                &v,
                format!(
                    "not canonical (go resolves it as a query, which needs the network); write the full version, e.g. {c:?}, or run 'go mod tidy'"
                ),
            )),
            Some(c) => Ok(c),
        }
    }

    fn check_major(
        &self,
        line: usize,
        verb: &str,
        path: &str,
        version: &str,
    ) -> Result<(), GoModError> {
        let Some((_, major)) = modpath::split_path_version(path) else {
            return Err(self.err(
                line,
                GoModErrorKind::InvalidModulePath {
                    verb: verb.into(),
                    path: path.into(),
                },
            ));
        };
        modpath::check_path_major(version, major).map_err(|reason| {
            self.err(
                line,
                GoModErrorKind::InvalidVersion {
                    verb: verb.into(),
                    path: path.into(),
                    version: version.into(),
                    reason,
                },
            )
        })
    }
}

/// The statement grammar over tokens (read.go `parseFile`, `parseStmt`,
/// `parseLineBlock`, `parseLine`).
struct Syntax<'t> {
    toks: &'t [Token],
    i: usize,
    file: &'t Path,
}

impl Syntax<'_> {
    fn peek(&self) -> &Token {
        // tokenize always ends with Eof, and Eof is never consumed past.
        &self.toks[self.i.min(self.toks.len() - 1)]
    }

    fn lex(&mut self) -> Token {
        let t = self.peek().clone();
        if t.kind != Kind::Eof {
            self.i += 1;
        }
        t
    }

    fn syntax_error(&self, tok: &Token, msg: &str) -> GoModError {
        GoModError {
            file: self.file.to_path_buf(),
            line: tok.line,
            column: (tok.col > 1).then_some(tok.col),
            kind: Box::new(GoModErrorKind::Syntax(msg.into())),
        }
    }

    fn file(mut self) -> Result<Vec<Stmt>, GoModError> {
        let mut stmts = Vec::new();
        // Whole-line comments attach to the statement right after them; a blank line
        // ends the group (it becomes a free-standing comment block in Go's tree).
        let mut pending: Vec<String> = Vec::new();
        loop {
            match self.peek().kind {
                Kind::Newline => {
                    self.lex();
                    pending.clear();
                }
                Kind::Comment => pending.push(self.lex().text),
                Kind::Eof => return Ok(stmts),
                _ => {
                    let before = std::mem::take(&mut pending);
                    stmts.push(self.stmt(before)?);
                }
            }
        }
    }

    fn stmt(&mut self, before: Vec<String>) -> Result<Stmt, GoModError> {
        let first = self.lex();
        let line = first.line;
        let mut tokens = vec![first.text];
        loop {
            let tok = self.lex();
            if tok.kind.is_eol() {
                let suffix = (tok.kind == Kind::EolComment).then_some(tok.text);
                return Ok(Stmt::Line(Line {
                    tokens,
                    line,
                    before,
                    suffix,
                }));
            }
            if tok.kind == Kind::LParen {
                if self.peek().kind.is_eol() {
                    let lines = self.block(line)?;
                    return Ok(Stmt::Block {
                        verb: tokens,
                        line,
                        before,
                        lines,
                    });
                }
                if self.peek().kind == Kind::RParen {
                    let rparen = self.lex();
                    if self.peek().kind.is_eol() {
                        // An empty block.
                        self.lex();
                        return Ok(Stmt::Block {
                            verb: tokens,
                            line,
                            before,
                            lines: Vec::new(),
                        });
                    }
                    tokens.push(tok.text);
                    tokens.push(rparen.text);
                    continue;
                }
            }
            tokens.push(tok.text);
        }
    }

    fn block(&mut self, started: usize) -> Result<Vec<Line>, GoModError> {
        // The token after '(' ends its line (a newline or a comment).
        self.lex();
        let mut lines = Vec::new();
        // Inside a block, every comment since the previous line (blank lines included)
        // attaches to the next line.
        let mut comments: Vec<String> = Vec::new();
        loop {
            let tok = self.peek().clone();
            match tok.kind {
                Kind::EolComment | Kind::Newline => {
                    self.lex();
                }
                Kind::Comment => comments.push(self.lex().text),
                Kind::Eof => {
                    return Err(GoModError {
                        file: self.file.to_path_buf(),
                        line: started,
                        column: None,
                        kind: Box::new(GoModErrorKind::UnterminatedBlock { started }),
                    })
                }
                Kind::RParen => {
                    self.lex();
                    if !self.peek().kind.is_eol() {
                        let next = self.peek().clone();
                        return Err(
                            self.syntax_error(&next, "expected newline after closing paren")
                        );
                    }
                    self.lex();
                    return Ok(lines);
                }
                _ => {
                    let line = tok.line;
                    let mut tokens = Vec::new();
                    let suffix = loop {
                        let t = self.lex();
                        if t.kind.is_eol() {
                            break (t.kind == Kind::EolComment).then_some(t.text);
                        }
                        tokens.push(t.text);
                    };
                    lines.push(Line {
                        tokens,
                        line,
                        before: std::mem::take(&mut comments),
                        suffix,
                    });
                }
            }
        }
    }
}

/// Go's `isIndirect`: the suffix comment is `// indirect` or starts `// indirect;`.
fn is_indirect(suffix: Option<&str>) -> bool {
    let Some(c) = suffix else { return false };
    let mut f = c.strip_prefix("//").unwrap_or(c).split_whitespace();
    matches!(
        (f.next(), f.next()),
        (Some("indirect"), None) | (Some("indirect;"), Some(_))
    )
}

/// Go's `parseDirectiveComment`: the line's own comments, or the block's when the line
/// has none, without `//`, one per line.
fn directive_comment(block: Option<&[String]>, l: &Line) -> String {
    let own: Vec<&String> = l.before.iter().chain(l.suffix.iter()).collect();
    let chosen: Vec<&String> = match block {
        Some(b) if own.is_empty() => b.iter().collect(),
        _ => own,
    };
    chosen
        .iter()
        .filter_map(|c| c.strip_prefix("//"))
        .map(str::trim)
        .collect::<Vec<_>>()
        .join("\n")
}

/// Go's `modfile.IsDirectoryPath`: Unix and Windows spellings of relative and rooted
/// directories, since go.mod files move between systems.
fn is_directory_path(ns: &str) -> bool {
    let b = ns.as_bytes();
    ns == "."
        || ns.starts_with("./")
        || ns.starts_with(".\\")
        || ns == ".."
        || ns.starts_with("../")
        || ns.starts_with("..\\")
        || ns.starts_with('/')
        || ns.starts_with('\\')
        || (b.len() >= 2 && b[0].is_ascii_alphabetic() && b[1] == b':')
}

/// Go's `parseString`: `"..."` is unquoted with Go's rules; any other quote character
/// is an error (the lexer accepts `` `...` `` but rule.go rejects it).
fn parse_string(tok: &str) -> Result<String, String> {
    if tok.starts_with('"') {
        unquote(tok)
    } else if tok.contains(['"', '\'', '`']) {
        Err("unquoted string cannot contain quote".into())
    } else {
        Ok(tok.to_string())
    }
}

/// Go's `strconv.Unquote` for a double-quoted string.
fn unquote(tok: &str) -> Result<String, String> {
    let bad = || format!("invalid syntax in {tok}");
    let body = tok
        .strip_prefix('"')
        .and_then(|t| t.strip_suffix('"'))
        .filter(|_| tok.len() >= 2)
        .ok_or_else(bad)?;
    let mut bytes: Vec<u8> = Vec::with_capacity(body.len());
    let mut chars = body.chars();
    while let Some(c) = chars.next() {
        match c {
            '"' | '\n' => return Err(bad()),
            '\\' => {
                let e = chars.next().ok_or_else(bad)?;
                let simple = match e {
                    'a' => Some(7u8),
                    'b' => Some(8),
                    'f' => Some(12),
                    'n' => Some(b'\n'),
                    'r' => Some(b'\r'),
                    't' => Some(b'\t'),
                    'v' => Some(11),
                    '\\' => Some(b'\\'),
                    '"' => Some(b'"'),
                    _ => None,
                };
                if let Some(b) = simple {
                    bytes.push(b);
                    continue;
                }
                match e {
                    '0'..='7' => {
                        let mut v = e.to_digit(8).ok_or_else(bad)?;
                        for _ in 0..2 {
                            let d = chars.next().and_then(|c| c.to_digit(8)).ok_or_else(bad)?;
                            v = v * 8 + d;
                        }
                        bytes.push(u8::try_from(v).map_err(|_| bad())?);
                    }
                    'x' | 'u' | 'U' => {
                        let n = match e {
                            'x' => 2,
                            'u' => 4,
                            _ => 8,
                        };
                        let mut v: u32 = 0;
                        for _ in 0..n {
                            let d = chars.next().and_then(|c| c.to_digit(16)).ok_or_else(bad)?;
                            v = v * 16 + d;
                        }
                        if e == 'x' {
                            bytes.push(u8::try_from(v).map_err(|_| bad())?);
                        } else {
                            let ch = char::from_u32(v).ok_or_else(bad)?;
                            let mut buf = [0u8; 4];
                            bytes.extend_from_slice(ch.encode_utf8(&mut buf).as_bytes());
                        }
                    }
                    _ => return Err(bad()),
                }
            }
            c => {
                let mut buf = [0u8; 4];
                bytes.extend_from_slice(c.encode_utf8(&mut buf).as_bytes());
            }
        }
    }
    String::from_utf8(bytes).map_err(|_| format!("{tok} decodes to invalid UTF-8"))
}

/// Go's `GoVersionRE`: `1.21`, `1.21.3`, `1.21rc1`, `1.21.0rc1`.
fn is_go_version(v: &str) -> bool {
    fn num(s: &str) -> Option<&str> {
        let n = s.bytes().take_while(u8::is_ascii_digit).count();
        if n == 0 || (n > 1 && s.starts_with('0')) {
            return None;
        }
        Some(&s[n..])
    }
    let Some(rest) = num(v).filter(|_| !v.starts_with('0')) else {
        return false;
    };
    let Some(rest) = rest.strip_prefix('.').and_then(num) else {
        return false;
    };
    let rest = match rest.strip_prefix('.') {
        Some(r) => match num(r) {
            Some(r) => r,
            None => return false,
        },
        None => rest,
    };
    if rest.is_empty() {
        return true;
    }
    // ([a-z]+[0-9]+)?
    let letters = rest.bytes().take_while(u8::is_ascii_lowercase).count();
    let digits = rest[letters..]
        .bytes()
        .take_while(u8::is_ascii_digit)
        .count();
    letters > 0 && digits > 0 && letters + digits == rest.len()
}

/// Go's `laxGoVersionRE` fix-up for dependency go.mod files: `v1.21-foo` becomes `1.21`.
fn lax_go_version(v: &str) -> Option<String> {
    let s = v.strip_prefix('v').unwrap_or(v);
    let major = s.bytes().take_while(u8::is_ascii_digit).count();
    if major == 0 || s.starts_with('0') {
        return None;
    }
    let rest = s[major..].strip_prefix('.')?;
    let minor = rest.bytes().take_while(u8::is_ascii_digit).count();
    if minor == 0 || (minor > 1 && rest.starts_with('0')) {
        return None;
    }
    let tail = &rest[minor..];
    // ([^0-9].*)$ : something non-numeric must follow.
    if tail.is_empty() {
        return None;
    }
    Some(s[..major + 1 + minor].to_string())
}

#[cfg(test)]
mod tests;
