//! keepalived.conf syntax: tokens with FILE:LINE, `include`, and the block tree.
//!
//! What keepalived 2.2 accepts (keepalived.conf(5), checked against `keepalived -d`):
//! - `#` and `!` start a comment anywhere outside quotes;
//! - `"` and `'` quote (adjacent pieces join into one word; `\n`, `\t`, `\xXX`, ... escapes);
//! - `{` and `}` are tokens of their own even without spaces around them, and they split
//!   a line: `authentication { auth_type PASS }` is a keyword opening a block whose
//!   first statement is `auth_type PASS`; text after `}` starts a new statement;
//! - a block's `{` may be on the keyword's line or on a later line;
//! - a statement is its keyword plus the words up to the end of the line or the next brace,
//!   so `auth_type PASS auth_pass x` on one line is ONE statement (`auth_type` with
//!   three words): keepalived then ignores `auth_pass x`;
//! - `include GLOB` (and its variants includer/includem/includew/includeb/includea) at the
//!   start of a line, relative to the directory of the file that contains it.

use std::fmt;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use super::glob;

/// Deeper include nesting than this is reported as an error (a guard of ours, beside the
/// cycle check; real configurations nest one or two levels).
pub const MAX_INCLUDE_DEPTH: usize = 16;
/// Deeper block nesting than this is reported as an error (keepalived uses at most four).
pub const MAX_BLOCK_DEPTH: usize = 16;

/// Where a token comes from.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Loc {
    pub file: Arc<Path>,
    pub line: usize,
    /// Position of the line in reading order across all included files (for sorting).
    pub seq: usize,
}

impl fmt::Display for Loc {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}", self.file.display(), self.line)
    }
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum TokenKind {
    Word(String),
    Open,
    Close,
}

#[derive(Clone, Debug)]
pub struct Token {
    pub kind: TokenKind,
    pub loc: Loc,
    /// First token of its physical line.
    pub starts_line: bool,
    /// A `\` escape inside quotes made part of this word (scripts are split again
    /// later, by rules that the escape would change).
    pub escaped: bool,
}

/// A word with its location.
#[derive(Clone, Debug)]
pub struct Word {
    pub text: String,
    pub loc: Loc,
    /// A `\` escape inside quotes produced part of `text`.
    pub escaped: bool,
}

/// `keyword args... [{ statements }]`.
#[derive(Clone, Debug)]
pub struct Statement {
    pub keyword: Word,
    pub args: Vec<Word>,
    pub block: Option<Vec<Statement>>,
}

impl Statement {
    pub fn name(&self) -> &str {
        &self.keyword.text
    }
}

#[derive(Debug, thiserror::Error)]
pub enum SyntaxError {
    #[error("cannot read {path}: {source}")]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("{loc}: {message}")]
    At { loc: Loc, message: String },
}

fn at(loc: &Loc, message: impl Into<String>) -> SyntaxError {
    SyntaxError::At {
        loc: loc.clone(),
        message: message.into(),
    }
}

/// Something the lexer wants reported but that is not fatal (an include matching nothing).
#[derive(Clone, Debug)]
pub struct LexNote {
    pub loc: Loc,
    pub keyword: String,
    pub message: String,
}

const INCLUDE_KEYWORDS: [&str; 6] = [
    "include", "includer", "includem", "includew", "includeb", "includea",
];

/// Reads `path` and everything it includes into one token stream.
pub fn read_tokens(path: &Path, notes: &mut Vec<LexNote>) -> Result<Vec<Token>, SyntaxError> {
    let mut tokens = Vec::new();
    let mut stack = Vec::new();
    read_file(path, &mut stack, &mut tokens, notes, &mut 0, None)?;
    Ok(tokens)
}

fn read_file(
    path: &Path,
    stack: &mut Vec<PathBuf>,
    out: &mut Vec<Token>,
    notes: &mut Vec<LexNote>,
    seq: &mut usize,
    included_from: Option<&Loc>,
) -> Result<(), SyntaxError> {
    let text = std::fs::read(path).map_err(|source| match included_from {
        Some(loc) => at(
            loc,
            format!("cannot read included file {}: {source}", path.display()),
        ),
        None => SyntaxError::Read {
            path: path.to_path_buf(),
            source,
        },
    })?;
    // keepalived reads bytes; a stray non-UTF-8 byte in a comment must not stop the import.
    let text = String::from_utf8_lossy(&text);
    let canonical = std::fs::canonicalize(path).unwrap_or_else(|_| path.to_path_buf());
    if let Some(loc) = included_from {
        if stack.contains(&canonical) {
            return Err(at(
                loc,
                format!("include cycle: {} is already being read", path.display()),
            ));
        }
        if stack.len() >= MAX_INCLUDE_DEPTH {
            return Err(at(
                loc,
                format!("includes nested deeper than {MAX_INCLUDE_DEPTH} levels"),
            ));
        }
    }
    stack.push(canonical);
    let file: Arc<Path> = Arc::from(path);
    let dir = path.parent().map(Path::to_path_buf).unwrap_or_default();
    for (index, line) in text.lines().enumerate() {
        let loc = Loc {
            file: file.clone(),
            line: index + 1,
            seq: {
                *seq += 1;
                *seq
            },
        };
        // keepalived recognises includes on the raw line, before braces mean anything, so
        // that a pattern like `vips-{a,b}.conf` stays one word.
        let include_words = tokenize(line, &loc, false)?;
        if let Some(Token {
            kind: TokenKind::Word(first),
            ..
        }) = include_words.first()
            && INCLUDE_KEYWORDS.contains(&first.as_str())
        {
            include(&include_words, &loc, &dir, stack, out, notes, seq)?;
            continue;
        }
        let line_tokens = tokenize(line, &loc, true)?;
        out.extend(line_tokens);
    }
    stack.pop();
    Ok(())
}

fn include(
    line: &[Token],
    loc: &Loc,
    dir: &Path,
    stack: &mut Vec<PathBuf>,
    out: &mut Vec<Token>,
    notes: &mut Vec<LexNote>,
    seq: &mut usize,
) -> Result<(), SyntaxError> {
    let words: Vec<&str> = line
        .iter()
        .filter_map(|t| match &t.kind {
            TokenKind::Word(w) => Some(w.as_str()),
            _ => None,
        })
        .collect();
    let [keyword, pattern] = words[..] else {
        return Err(at(
            loc,
            format!("`{}` takes exactly one file name or pattern", words[0]),
        ));
    };
    let files =
        glob::expand(pattern, dir).map_err(|e| at(loc, format!("{keyword} {pattern}: {e}")))?;
    if files.is_empty() {
        // keepalived's plain `include` only logs this too; an empty conf.d is legitimate,
        // but an instance missing from the output should never be a mystery.
        notes.push(LexNote {
            loc: loc.clone(),
            keyword: keyword.to_owned(),
            message: format!(
                "{pattern:?} matched no file (looked in {}); nothing included",
                dir.display()
            ),
        });
    }
    for file in files {
        read_file(&file, stack, out, notes, seq, Some(loc))?;
    }
    Ok(())
}

/// Splits one physical line into words, and braces if `braces_are_tokens`.
fn tokenize(line: &str, loc: &Loc, braces_are_tokens: bool) -> Result<Vec<Token>, SyntaxError> {
    let mut tokens = Vec::new();
    let mut word: Option<String> = None;
    let mut escaped = false;
    let push = |tokens: &mut Vec<Token>, kind: TokenKind, escaped: &mut bool| {
        let starts_line = tokens.is_empty();
        tokens.push(Token {
            kind,
            loc: loc.clone(),
            starts_line,
            escaped: std::mem::take(escaped),
        });
    };
    let mut chars = line.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '"' | '\'' => {
                let text = word.get_or_insert_with(String::new);
                let quote = c;
                loop {
                    match chars.next() {
                        None => return Err(at(loc, format!("unterminated {quote} quote"))),
                        Some(q) if q == quote => break,
                        Some('\\') => {
                            escaped = true;
                            text.push(unescape(&mut chars));
                        }
                        Some(other) => text.push(other),
                    }
                }
            }
            '#' | '!' => break,
            '{' | '}' if braces_are_tokens => {
                if let Some(w) = word.take() {
                    push(&mut tokens, TokenKind::Word(w), &mut escaped);
                }
                push(
                    &mut tokens,
                    if c == '{' {
                        TokenKind::Open
                    } else {
                        TokenKind::Close
                    },
                    &mut escaped,
                );
            }
            c if c.is_whitespace() => {
                if let Some(w) = word.take() {
                    push(&mut tokens, TokenKind::Word(w), &mut escaped);
                }
            }
            c => word.get_or_insert_with(String::new).push(c),
        }
    }
    if let Some(w) = word.take() {
        push(&mut tokens, TokenKind::Word(w), &mut escaped);
    }
    Ok(tokens)
}

/// The character after a `\` inside quotes (keepalived.conf(5), "Quoted strings").
fn unescape(chars: &mut std::iter::Peekable<std::str::Chars<'_>>) -> char {
    let Some(c) = chars.next() else { return '\\' };
    match c {
        'a' => '\x07',
        'b' => '\x08',
        'E' => '\x1b',
        'f' => '\x0c',
        'n' => '\n',
        'r' => '\r',
        't' => '\t',
        'v' => '\x0b',
        'c' => chars
            .next()
            .map_or('\\', |ctl| char::from((ctl as u8) & 0x1f)),
        'x' => {
            let mut value = 0u32;
            let mut digits = 0;
            while let Some(d) = chars.peek().and_then(|d| d.to_digit(16)) {
                if digits == 2 {
                    break;
                }
                value = value * 16 + d;
                digits += 1;
                chars.next();
            }
            if digits == 0 {
                'x'
            } else {
                char::from_u32(value).unwrap_or('x')
            }
        }
        '0'..='7' => {
            let mut value = c.to_digit(8).unwrap_or(0);
            for _ in 0..2 {
                match chars.peek().and_then(|d| d.to_digit(8)) {
                    Some(d) => {
                        value = value * 8 + d;
                        chars.next();
                    }
                    None => break,
                }
            }
            char::from_u32(value & 0xff).unwrap_or('?')
        }
        other => other,
    }
}

/// Builds the statement tree from the token stream.
pub fn parse(tokens: &[Token]) -> Result<Vec<Statement>, SyntaxError> {
    let mut pos = 0;
    parse_block(tokens, &mut pos, None, 0)
}

fn parse_block(
    tokens: &[Token],
    pos: &mut usize,
    opened_by: Option<(&Loc, &str)>,
    depth: usize,
) -> Result<Vec<Statement>, SyntaxError> {
    let mut statements = Vec::new();
    loop {
        let Some(token) = tokens.get(*pos) else {
            return match opened_by {
                Some((loc, keyword)) => Err(at(
                    loc,
                    format!(
                        "the `{{` of `{keyword}` is never closed: a `}}` is missing before the end \
                         of the file (in this block or in one of the blocks inside it)"
                    ),
                )),
                None => Ok(statements),
            };
        };
        *pos += 1;
        let keyword = match &token.kind {
            TokenKind::Close => {
                return match opened_by {
                    Some(_) => Ok(statements),
                    None => Err(at(&token.loc, "`}` closes no block (one `}` too many)")),
                };
            }
            TokenKind::Open => return Err(at(&token.loc, "`{` without a keyword before it")),
            TokenKind::Word(text) => Word {
                text: text.clone(),
                loc: token.loc.clone(),
                escaped: token.escaped,
            },
        };
        let mut args = Vec::new();
        while let Some(Token {
            kind: TokenKind::Word(text),
            loc,
            starts_line: false,
            escaped,
        }) = tokens.get(*pos)
        {
            args.push(Word {
                text: text.clone(),
                loc: loc.clone(),
                escaped: *escaped,
            });
            *pos += 1;
        }
        let block = match tokens.get(*pos) {
            Some(Token {
                kind: TokenKind::Open,
                loc,
                ..
            }) => {
                if depth + 1 > MAX_BLOCK_DEPTH {
                    return Err(at(
                        loc,
                        format!("blocks nested deeper than {MAX_BLOCK_DEPTH} levels"),
                    ));
                }
                *pos += 1;
                let loc = loc.clone();
                Some(parse_block(
                    tokens,
                    pos,
                    Some((&loc, &keyword.text)),
                    depth + 1,
                )?)
            }
            _ => None,
        };
        statements.push(Statement {
            keyword,
            args,
            block,
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn words(line: &str) -> Vec<String> {
        let loc = Loc {
            file: Arc::from(Path::new("t.conf")),
            line: 1,
            seq: 1,
        };
        tokenize(line, &loc, true)
            .unwrap()
            .into_iter()
            .map(|t| match t.kind {
                TokenKind::Word(w) => w,
                TokenKind::Open => "{".into(),
                TokenKind::Close => "}".into(),
            })
            .collect()
    }

    #[test]
    fn comments_quotes_and_braces() {
        assert_eq!(
            words("auth_pass secret # the password"),
            ["auth_pass", "secret"]
        );
        assert_eq!(words("  ! a comment"), Vec::<String>::new());
        assert_eq!(words("x{y}z"), ["x", "{", "y", "}", "z"]);
        assert_eq!(words(r#"abcd" efg h jkl "mnop"#), ["abcd efg h jkl mnop"]);
        assert_eq!(
            words(r#"abcd "efg h jkl" mnop"#),
            ["abcd", "efg h jkl", "mnop"]
        );
        assert_eq!(words(r#"auth_pass "p#ss{}!""#), ["auth_pass", "p#ss{}!"]);
        assert_eq!(words(r#"x "a\tb\x41\101\"""#), ["x", "a\tbAA\""]);
        assert_eq!(words(r#"x ''"#), ["x", ""]);
    }

    #[test]
    fn unterminated_quote_is_an_error() {
        let loc = Loc {
            file: Arc::from(Path::new("t.conf")),
            line: 7,
            seq: 7,
        };
        let err = tokenize("auth_pass \"abc", &loc, true).unwrap_err();
        assert_eq!(err.to_string(), "t.conf:7: unterminated \" quote");
    }
}
