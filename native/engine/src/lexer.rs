//! Rego tokens. Positions are byte offsets (`u32`); line and column are
//! computed only when a diagnostic is printed.


#[derive(Clone, Debug, PartialEq)]
pub enum Tok {
    Ident(String),
    /// Number literal text, as written (`12`, `1.5e3`).
    Num(String),
    /// String literal, escapes resolved (raw strings too).
    Str(String),
    /// Template string `$"a {x} b"`: literal parts and expression source ranges.
    Template(Vec<TplPart>),
    LBrace,
    RBrace,
    LBrack,
    RBrack,
    LParen,
    RParen,
    Dot,
    Comma,
    Semi,
    Colon,
    /// `:=`
    Assign,
    /// `=`
    Unify,
    /// `==`
    Eq,
    Neq,
    Lt,
    Lte,
    Gt,
    Gte,
    Plus,
    Minus,
    Star,
    Slash,
    Percent,
    Amp,
    Pipe,
    Eof,
}

#[derive(Clone, Debug, PartialEq)]
pub enum TplPart {
    Lit(String),
    /// Byte range of the expression between the braces.
    Expr(u32, u32),
}

#[derive(Clone, Debug)]
pub struct Token {
    pub tok: Tok,
    pub start: u32,
    pub end: u32,
    /// A newline separates this token from the previous one.
    pub nl_before: bool,
}

/// A lexing problem at a byte offset.
#[derive(Clone, Debug)]
pub struct LexError {
    pub offset: u32,
    pub message: String,
}

/// Splits `src` into tokens; bad characters are reported and skipped so that
/// the parser still sees the rest of the file.
pub fn lex(src: &str) -> (Vec<Token>, Vec<LexError>) {
    let b = src.as_bytes();
    let mut i = 0usize;
    let mut out = Vec::new();
    let mut errs = Vec::new();
    let mut nl = false;
    while i < b.len() {
        let c = b[i];
        if c == b'\n' {
            nl = true;
            i += 1;
            continue;
        }
        if c == b' ' || c == b'\t' || c == b'\r' {
            i += 1;
            continue;
        }
        if c == b'#' {
            while i < b.len() && b[i] != b'\n' {
                i += 1;
            }
            continue;
        }
        let start = i;
        let tok = if c == b'$' && matches!(b.get(i + 1), Some(b'"') | Some(b'`')) {
            let raw = b[i + 1] == b'`';
            i += 2;
            let (parts, end, err) = lex_template(src, i, raw);
            i = end;
            if let Some(e) = err {
                errs.push(LexError { offset: start as u32, message: e });
            }
            Tok::Template(parts)
        } else if c.is_ascii_alphabetic() || c == b'_' {
            while i < b.len() && (b[i].is_ascii_alphanumeric() || b[i] == b'_') {
                i += 1;
            }
            Tok::Ident(src[start..i].to_string())
        } else if c.is_ascii_digit() || (c == b'.' && b.get(i + 1).is_some_and(|d| d.is_ascii_digit()) && !prev_is_term_end(&out)) {
            while i < b.len() && b[i].is_ascii_digit() {
                i += 1;
            }
            if i < b.len() && b[i] == b'.' && b.get(i + 1).is_some_and(|d| d.is_ascii_digit()) {
                i += 1;
                while i < b.len() && b[i].is_ascii_digit() {
                    i += 1;
                }
            }
            if i < b.len() && (b[i] == b'e' || b[i] == b'E') {
                let mut j = i + 1;
                if j < b.len() && (b[j] == b'+' || b[j] == b'-') {
                    j += 1;
                }
                if j < b.len() && b[j].is_ascii_digit() {
                    i = j;
                    while i < b.len() && b[i].is_ascii_digit() {
                        i += 1;
                    }
                }
            }
            Tok::Num(src[start..i].to_string())
        } else if c == b'"' {
            i += 1;
            let mut s = String::new();
            let mut closed = false;
            while i < b.len() {
                let ch = b[i];
                if ch == b'"' {
                    i += 1;
                    closed = true;
                    break;
                }
                if ch == b'\n' {
                    break;
                }
                if ch == b'\\' {
                    i += 1;
                    let Some(&e) = b.get(i) else { break };
                    i += 1;
                    match e {
                        b'"' => s.push('"'),
                        b'\\' => s.push('\\'),
                        b'/' => s.push('/'),
                        b'b' => s.push('\u{8}'),
                        b'f' => s.push('\u{c}'),
                        b'n' => s.push('\n'),
                        b'r' => s.push('\r'),
                        b't' => s.push('\t'),
                        b'u' => match read_u(src, i) {
                            Some((cp, len)) => {
                                i += len;
                                // Surrogate pairs.
                                if (0xD800..0xDC00).contains(&cp) && src[i..].starts_with("\\u") {
                                    if let Some((lo, l2)) = read_u(src, i + 2) {
                                        if (0xDC00..0xE000).contains(&lo) {
                                            i += 2 + l2;
                                            let full = 0x10000 + ((cp - 0xD800) << 10) + (lo - 0xDC00);
                                            s.push(char::from_u32(full).unwrap_or('\u{FFFD}'));
                                            continue;
                                        }
                                    }
                                }
                                s.push(char::from_u32(cp).unwrap_or('\u{FFFD}'));
                            }
                            None => errs.push(LexError { offset: i as u32, message: "invalid escape sequence".into() }),
                        },
                        _ => errs.push(LexError { offset: (i - 2) as u32, message: "illegal escape sequence".into() }),
                    }
                    continue;
                }
                // Copy one UTF-8 character.
                let ch_len = utf8_len(ch);
                let end = (i + ch_len).min(b.len());
                s.push_str(src.get(i..end).unwrap_or("\u{FFFD}"));
                i = end;
            }
            if !closed {
                errs.push(LexError { offset: start as u32, message: "non-terminated string".into() });
            }
            Tok::Str(s)
        } else if c == b'`' {
            i += 1;
            let s0 = i;
            while i < b.len() && b[i] != b'`' {
                i += 1;
            }
            let s = src[s0..i.min(b.len())].to_string();
            if i < b.len() {
                i += 1;
            } else {
                errs.push(LexError { offset: start as u32, message: "non-terminated raw string".into() });
            }
            Tok::Str(s)
        } else {
            let two = if i + 1 < b.len() { &b[i..i + 2] } else { &b[i..i + 1] };
            let (t, n) = match two {
                b":=" => (Tok::Assign, 2),
                b"==" => (Tok::Eq, 2),
                b"!=" => (Tok::Neq, 2),
                b"<=" => (Tok::Lte, 2),
                b">=" => (Tok::Gte, 2),
                _ => match c {
                    b'{' => (Tok::LBrace, 1),
                    b'}' => (Tok::RBrace, 1),
                    b'[' => (Tok::LBrack, 1),
                    b']' => (Tok::RBrack, 1),
                    b'(' => (Tok::LParen, 1),
                    b')' => (Tok::RParen, 1),
                    b'.' => (Tok::Dot, 1),
                    b',' => (Tok::Comma, 1),
                    b';' => (Tok::Semi, 1),
                    b':' => (Tok::Colon, 1),
                    b'=' => (Tok::Unify, 1),
                    b'<' => (Tok::Lt, 1),
                    b'>' => (Tok::Gt, 1),
                    b'+' => (Tok::Plus, 1),
                    b'-' => (Tok::Minus, 1),
                    b'*' => (Tok::Star, 1),
                    b'/' => (Tok::Slash, 1),
                    b'%' => (Tok::Percent, 1),
                    b'&' => (Tok::Amp, 1),
                    b'|' => (Tok::Pipe, 1),
                    _ => {
                        let n = utf8_len(c);
                        errs.push(LexError { offset: i as u32, message: format!("illegal token '{}'", src.get(i..(i + n).min(b.len())).unwrap_or("?")) });
                        i += n.max(1);
                        continue;
                    }
                },
            };
            i += n;
            t
        };
        out.push(Token { tok, start: start as u32, end: i as u32, nl_before: nl });
        nl = false;
    }
    out.push(Token { tok: Tok::Eof, start: b.len() as u32, end: b.len() as u32, nl_before: true });
    (out, errs)
}

/// Scans a template string body from `i` (after the opening quote); returns
/// the parts, the offset after the closing quote, and an error if unterminated.
fn lex_template(src: &str, mut i: usize, raw: bool) -> (Vec<TplPart>, usize, Option<String>) {
    let b = src.as_bytes();
    let close = if raw { b'`' } else { b'"' };
    let mut parts = Vec::new();
    let mut lit = String::new();
    while i < b.len() {
        let c = b[i];
        if c == close {
            if !lit.is_empty() {
                parts.push(TplPart::Lit(std::mem::take(&mut lit)));
            }
            return (parts, i + 1, None);
        }
        // `\{` is a literal brace, in raw templates too (the only escape there).
        if c == b'\\' && raw && b.get(i + 1) == Some(&b'{') {
            lit.push('{');
            i += 2;
            continue;
        }
        if c == b'\\' && !raw {
            let e = b.get(i + 1).copied().unwrap_or(b'\\');
            i += 2;
            match e {
                b'n' => lit.push('\n'),
                b't' => lit.push('\t'),
                b'r' => lit.push('\r'),
                b'b' => lit.push('\u{8}'),
                b'f' => lit.push('\u{c}'),
                b'u' => match read_u(src, i) {
                    Some((cp, l)) => {
                        i += l;
                        lit.push(char::from_u32(cp).unwrap_or('\u{FFFD}'));
                    }
                    None => lit.push('u'),
                },
                other => lit.push(other as char),
            }
            continue;
        }
        if c == b'{' {
            if !lit.is_empty() {
                parts.push(TplPart::Lit(std::mem::take(&mut lit)));
            }
            let start = i + 1;
            let mut depth = 1;
            let mut j = start;
            while j < b.len() && depth > 0 {
                match b[j] {
                    b'{' => depth += 1,
                    b'}' => depth -= 1,
                    b'"' => {
                        j += 1;
                        while j < b.len() && b[j] != b'"' {
                            if b[j] == b'\\' {
                                j += 1;
                            }
                            j += 1;
                        }
                    }
                    b'`' => {
                        j += 1;
                        while j < b.len() && b[j] != b'`' {
                            j += 1;
                        }
                    }
                    _ => {}
                }
                j += 1;
            }
            if depth > 0 {
                return (parts, b.len(), Some("unterminated template expression".into()));
            }
            parts.push(TplPart::Expr(start as u32, (j - 1) as u32));
            i = j;
            continue;
        }
        let n = utf8_len(c);
        let end = (i + n).min(b.len());
        lit.push_str(src.get(i..end).unwrap_or("\u{FFFD}"));
        i = end;
    }
    (parts, b.len(), Some("non-terminated template string".into()))
}

fn prev_is_term_end(out: &[Token]) -> bool {
    matches!(out.last().map(|t| &t.tok), Some(Tok::Ident(_) | Tok::RBrack | Tok::RParen | Tok::RBrace | Tok::Str(_) | Tok::Num(_)))
}

fn utf8_len(first: u8) -> usize {
    match first {
        0x00..=0x7F => 1,
        0xC0..=0xDF => 2,
        0xE0..=0xEF => 3,
        0xF0..=0xF7 => 4,
        _ => 1,
    }
}

fn read_u(src: &str, i: usize) -> Option<(u32, usize)> {
    let h = src.get(i..i + 4)?;
    u32::from_str_radix(h, 16).ok().map(|v| (v, 4))
}

/// 1-based (line, column) of a byte offset.
pub fn line_col(src: &str, offset: u32) -> (u32, u32) {
    let upto = &src.as_bytes()[..(offset as usize).min(src.len())];
    let line = upto.iter().filter(|&&c| c == b'\n').count() as u32 + 1;
    let col = upto.iter().rev().take_while(|&&c| c != b'\n').count() as u32 + 1;
    (line, col)
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
mod tests {
    use super::*;

    fn toks(s: &str) -> Vec<Tok> {
        lex(s).0.into_iter().map(|t| t.tok).collect()
    }

    #[test]
    fn operators() {
        assert_eq!(toks("a := 1"), vec![Tok::Ident("a".into()), Tok::Assign, Tok::Num("1".into()), Tok::Eof]);
    }
    #[test]
    fn strings_and_raw() {
        assert_eq!(toks(r#""a\n\u0041" `x\y`"#), vec![Tok::Str("a\nA".into()), Tok::Str("x\\y".into()), Tok::Eof]);
    }
    #[test]
    fn numbers() {
        assert_eq!(toks("1.5e3 -2"), vec![Tok::Num("1.5e3".into()), Tok::Minus, Tok::Num("2".into()), Tok::Eof]);
    }
    #[test]
    fn newline_flag() {
        let (t, _) = lex("a\nb");
        assert!(t[1].nl_before);
    }
    #[test]
    fn line_cols() {
        assert_eq!(line_col("ab\ncd", 4), (2, 2));
    }
}
