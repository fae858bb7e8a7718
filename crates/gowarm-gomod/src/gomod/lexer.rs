//! The go.mod tokenizer: a port of the lexer in golang.org/x/mod/modfile/read.go.
//!
//! It keeps Go's quirks that decide what parses: `//` comments that end a line are
//! suffix comments (this is where `// indirect` lives), a `//` comment alone on its
//! line is a whole-line comment, `\r` is plain white space (so CRLF files parse), and
//! identifiers run over every printable rune except space and `()[]{},`.

/// What a token is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Kind {
    /// A line break.
    Newline,
    /// `(`.
    LParen,
    /// `)`.
    RParen,
    /// One of `[ ] { } ,`, kept as a token of its own.
    Punct,
    /// A `"..."` or `` `...` `` string, quotes included in the text.
    String,
    /// A bare word.
    Ident,
    /// A `//` comment after other tokens on its line; it also ends the line.
    EolComment,
    /// A `//` comment alone on its line.
    Comment,
    /// End of input.
    Eof,
}

impl Kind {
    /// Whether a token of this kind ends a line (Go's `tokenKind.isEOL`).
    pub(crate) fn is_eol(self) -> bool {
        matches!(self, Kind::Newline | Kind::EolComment | Kind::Eof)
    }
}

/// One token with its position (1-based line and rune column, as Go reports them).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Token {
    pub(crate) kind: Kind,
    pub(crate) text: String,
    pub(crate) line: usize,
    pub(crate) col: usize,
}

/// A lexical error at a position.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct LexError {
    pub(crate) line: usize,
    pub(crate) col: usize,
    pub(crate) message: String,
}

struct Lexer<'a> {
    text: &'a str,
    /// Byte offset of the next rune.
    pos: usize,
    line: usize,
    col: usize,
}

/// Splits go.mod text into tokens, ending with one [`Kind::Eof`] token.
pub(crate) fn tokenize(text: &str) -> Result<Vec<Token>, LexError> {
    let mut lx = Lexer {
        text,
        pos: 0,
        line: 1,
        col: 1,
    };
    let mut out = Vec::new();
    loop {
        let tok = lx.next_token()?;
        let eof = tok.kind == Kind::Eof;
        out.push(tok);
        if eof {
            return Ok(out);
        }
    }
}

impl Lexer<'_> {
    fn rest(&self) -> &str {
        &self.text[self.pos..]
    }

    fn peek(&self) -> Option<char> {
        self.rest().chars().next()
    }

    fn bump(&mut self) -> Option<char> {
        let c = self.peek()?;
        self.pos += c.len_utf8();
        if c == '\n' {
            self.line += 1;
            self.col = 1;
        } else {
            self.col += 1;
        }
        Some(c)
    }

    fn error(&self, message: impl Into<String>) -> LexError {
        LexError {
            line: self.line,
            col: self.col,
            message: message.into(),
        }
    }

    fn next_token(&mut self) -> Result<Token, LexError> {
        while let Some(c) = self.peek() {
            if c == ' ' || c == '\t' || c == '\r' {
                self.bump();
                continue;
            }
            if self.rest().starts_with("//") {
                return Ok(self.comment());
            }
            if self.rest().starts_with("/*") {
                return Err(self.error("mod files must use // comments (not /* */ comments)"));
            }
            break;
        }

        let (start, line, col) = (self.pos, self.line, self.col);
        let token = |lx: &Self, kind| Token {
            kind,
            text: lx.text[start..lx.pos].to_string(),
            line,
            col,
        };
        let Some(c) = self.peek() else {
            return Ok(token(self, Kind::Eof));
        };
        match c {
            '\n' | '(' | ')' | '[' | ']' | '{' | '}' | ',' => {
                self.bump();
                let kind = match c {
                    '\n' => Kind::Newline,
                    '(' => Kind::LParen,
                    ')' => Kind::RParen,
                    _ => Kind::Punct,
                };
                Ok(token(self, kind))
            }
            '"' | '`' => {
                self.string(c, line, col)?;
                Ok(token(self, Kind::String))
            }
            c if !is_ident(c) => Err(self.error(format!("unexpected input character {c:?}"))),
            _ => {
                while let Some(c) = self.peek() {
                    if !is_ident(c) || self.rest().starts_with("//") {
                        break;
                    }
                    if self.rest().starts_with("/*") {
                        return Err(
                            self.error("mod files must use // comments (not /* */ comments)")
                        );
                    }
                    self.bump();
                }
                Ok(token(self, Kind::Ident))
            }
        }
    }

    /// Lexes a `//` comment through its newline; whether anything but white space
    /// precedes it on its line decides between a suffix and a whole-line comment.
    fn comment(&mut self) -> Token {
        let (start, line, col) = (self.pos, self.line, self.col);
        let line_start = self.text[..start].rfind('\n').map_or(0, |i| i + 1);
        let suffix = !self.text[line_start..start].trim().is_empty();
        while let Some(c) = self.bump() {
            if c == '\n' {
                break;
            }
        }
        let raw = &self.text[start..self.pos];
        // Go drops one trailing LF or CRLF from comment text.
        let text = raw
            .strip_suffix("\r\n")
            .or_else(|| raw.strip_suffix('\n'))
            .unwrap_or(raw);
        Token {
            kind: if suffix {
                Kind::EolComment
            } else {
                Kind::Comment
            },
            text: text.to_string(),
            line,
            col,
        }
    }

    fn string(&mut self, quote: char, line: usize, col: usize) -> Result<(), LexError> {
        let eof = || LexError {
            line,
            col,
            message: "unexpected EOF in string".into(),
        };
        self.bump();
        loop {
            match self.peek() {
                None => return Err(eof()),
                Some('\n') => return Err(self.error("unexpected newline in string")),
                Some(_) => {}
            }
            let c = self.bump().ok_or_else(eof)?;
            if c == quote {
                return Ok(());
            }
            if c == '\\' && quote != '`' {
                self.bump().ok_or_else(eof)?;
            }
        }
    }
}

/// Go's `isIdent`: printable (`unicode.IsPrint`: a letter, mark, number, punctuation
/// or symbol), not white space, and not one of ` ()[]{},`.
fn is_ident(c: char) -> bool {
    use unicode_properties::{GeneralCategoryGroup as G, UnicodeGeneralCategory};
    !matches!(c, ' ' | '(' | ')' | '[' | ']' | '{' | '}' | ',')
        && !c.is_whitespace()
        && matches!(
            c.general_category_group(),
            G::Letter | G::Mark | G::Number | G::Punctuation | G::Symbol
        )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn kinds(text: &str) -> Vec<(Kind, String)> {
        tokenize(text)
            .unwrap()
            .into_iter()
            .map(|t| (t.kind, t.text))
            .collect()
    }

    #[test]
    fn tokens_and_comments() {
        use Kind as K;
        let got = kinds("// top\nrequire x v1 // indirect\r\n\"q\\\"s\" [a,b]\n");
        let want: Vec<(Kind, String)> = vec![
            (K::Comment, "// top".into()),
            (K::Ident, "require".into()),
            (K::Ident, "x".into()),
            (K::Ident, "v1".into()),
            (K::EolComment, "// indirect".into()),
            (K::String, "\"q\\\"s\"".into()),
            (K::Punct, "[".into()),
            (K::Ident, "a".into()),
            (K::Punct, ",".into()),
            (K::Ident, "b".into()),
            (K::Punct, "]".into()),
            (K::Newline, "\n".into()),
            (K::Eof, "".into()),
        ];
        assert_eq!(got, want);
    }

    #[test]
    fn ident_stops_at_comment() {
        let got = kinds("a//b\n");
        assert_eq!(got[0], (Kind::Ident, "a".into()));
        assert_eq!(got[1], (Kind::EolComment, "//b".into()));
    }

    #[test]
    fn errors_carry_positions() {
        let e = tokenize("module x\n/* no */\n").unwrap_err();
        assert_eq!((e.line, e.col), (2, 1));
        assert!(e.message.contains("// comments"));
        let e = tokenize("require \"abc\ndef\"\n").unwrap_err();
        assert_eq!(e.line, 1);
        assert_eq!(e.message, "unexpected newline in string");
        let e = tokenize("\n\nrequire \"abc").unwrap_err();
        assert_eq!(
            (e.line, e.col, e.message.as_str()),
            (3, 9, "unexpected EOF in string")
        );
        let e = tokenize("x \u{7}\n").unwrap_err();
        assert_eq!((e.line, e.col), (1, 3));
        // A zero-width space (category Cf) is not printable for Go either.
        assert!(tokenize("x\u{200B}\n").is_err());
    }
}
