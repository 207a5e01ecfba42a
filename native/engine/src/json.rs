//! A JSON reader straight into `Value` (no intermediate tree, integers kept
//! exact) and the string escaper used by every writer.

use crate::number::Number;
use crate::map::Shapes;
use crate::value::{Str, Value, INLINE_MAX};
use std::collections::HashMap;
use std::sync::Arc;

/// Deeper documents are refused rather than risking the stack.
const MAX_DEPTH: usize = 512;

pub fn parse(text: &str) -> Result<Value, String> {
    parse_with(text, false, MAX_DEPTH)
}

/// Like [`parse`], for a document to be placed `at_depth` levels inside
/// another (a request body inside the input): it may nest only as deep as
/// the whole still may, and numbers beyond the range of a double
/// (`1e999999`, 400-digit integers) are "out of range". Every reader of the
/// body (JavaScript's `JSON.parse` too) then sees the same document.
pub fn parse_nested(text: &str, at_depth: usize) -> Result<Value, String> {
    parse_with(text, true, MAX_DEPTH.saturating_sub(at_depth))
}

fn parse_with(text: &str, finite: bool, max_depth: usize) -> Result<Value, String> {
    let mut p = Parser { s: text.as_bytes(), i: 0, shared: HashMap::new(), shapes: Shapes::default(), repeated: HashMap::new(), finite, max_depth };
    p.ws();
    let v = p.value(0)?;
    p.ws();
    if p.i != p.s.len() {
        return Err(p.err("unexpected trailing characters"));
    }
    Ok(v)
}

struct Parser<'a> {
    s: &'a [u8],
    i: usize,
    /// Strings a little too long to be stored inline, shared instead of
    /// allocated again when repeated (`"https://example.com/login"`).
    /// Bounded, so unique strings cost nothing extra.
    shared: HashMap<String, Arc<str>>,
    /// Key lists of objects read so far: records with the same keys share one.
    shapes: Shapes,
    /// Small arrays and objects by their source text: a document repeats
    /// them (`["viewer","editor"]`, `{"app":"web","tier":"front"}`) and
    /// values are immutable, so one copy serves every occurrence. Bounded.
    repeated: HashMap<&'a [u8], Value>,
    /// Numbers must fit a double (see `parse_nested`).
    finite: bool,
    /// The deepest nesting level allowed (the top value is level 0).
    max_depth: usize,
}

/// Arrays and objects whose text is at most this long are shared when repeated.
const REPEAT_MAX_TEXT: usize = 96;
/// At most this many distinct small arrays and objects are remembered.
const REPEAT_MAX_ENTRIES: usize = 1 << 17;

/// Strings up to this length are shared; longer ones are rarely repeated.
const SHARE_MAX_LEN: usize = 48;
/// At most this many distinct shared strings per document.
const SHARE_MAX_ENTRIES: usize = 1 << 16;

impl<'a> Parser<'a> {
    fn err(&self, msg: &str) -> String {
        // Report line and column so users can find the fault in a large data file.
        let upto = &self.s[..self.i.min(self.s.len())];
        let line = upto.iter().filter(|&&c| c == b'\n').count() + 1;
        let col = upto.iter().rev().take_while(|&&c| c != b'\n').count() + 1;
        format!("{} at line {} column {}", msg, line, col)
    }

    fn ws(&mut self) {
        while self.i < self.s.len() && matches!(self.s[self.i], b' ' | b'\t' | b'\n' | b'\r') {
            self.i += 1;
        }
    }

    fn peek(&self) -> Option<u8> {
        self.s.get(self.i).copied()
    }

    fn expect_word(&mut self, w: &str, v: Value) -> Result<Value, String> {
        if self.s[self.i..].starts_with(w.as_bytes()) {
            self.i += w.len();
            Ok(v)
        } else {
            Err(self.err("invalid literal"))
        }
    }

    fn value(&mut self, depth: usize) -> Result<Value, String> {
        if depth > self.max_depth {
            return Err(self.err("document nested too deeply"));
        }
        match self.peek() {
            None => Err(self.err("unexpected end of input")),
            Some(b'{') => self.object(depth),
            Some(b'[') => self.array(depth),
            Some(b'"') => {
                let s = self.string()?;
                Ok(Value::String(self.share(s)))
            }
            Some(b't') => self.expect_word("true", Value::Bool(true)),
            Some(b'f') => self.expect_word("false", Value::Bool(false)),
            Some(b'n') => self.expect_word("null", Value::Null),
            Some(c) if c == b'-' || c.is_ascii_digit() => self.number(),
            Some(_) => Err(self.err("unexpected character")),
        }
    }

    /// A composite that ended at `self.i` and began at `start`: the copy
    /// read before when the same text was seen (see `repeated`).
    fn dedup(&mut self, start: usize, v: Value) -> Value {
        let text = &self.s[start..self.i];
        if text.len() > REPEAT_MAX_TEXT {
            return v;
        }
        if let Some(seen) = self.repeated.get(text) {
            return seen.clone();
        }
        if self.repeated.len() < REPEAT_MAX_ENTRIES {
            self.repeated.insert(text, v.clone());
        }
        v
    }

    fn object(&mut self, depth: usize) -> Result<Value, String> {
        let start = self.i;
        self.i += 1;
        let mut entries = Vec::new();
        self.ws();
        if self.peek() == Some(b'}') {
            self.i += 1;
            return Ok(Value::empty_object());
        }
        loop {
            self.ws();
            if self.peek() != Some(b'"') {
                return Err(self.err("expected string key"));
            }
            let k = self.string()?;
            self.ws();
            if self.peek() != Some(b':') {
                return Err(self.err("expected ':'"));
            }
            self.i += 1;
            self.ws();
            let v = self.value(depth + 1)?;
            // Later duplicates win, as in Go's encoding/json (the map keeps the last).
            entries.push((Value::String(self.share(k)), v));
            self.ws();
            match self.peek() {
                Some(b',') => self.i += 1,
                Some(b'}') => {
                    self.i += 1;
                    let v = Value::from_map(self.shapes.map(entries));
                    return Ok(self.dedup(start, v));
                }
                _ => return Err(self.err("expected ',' or '}'")),
            }
        }
    }

    fn share(&mut self, s: String) -> Str {
        if s.len() <= INLINE_MAX || s.len() > SHARE_MAX_LEN {
            return s.into();
        }
        if let Some(a) = self.shared.get(&s) {
            return a.clone().into();
        }
        let a: Arc<str> = Arc::from(s.as_str());
        if self.shared.len() < SHARE_MAX_ENTRIES {
            self.shared.insert(s, a.clone());
        }
        a.into()
    }

    fn array(&mut self, depth: usize) -> Result<Value, String> {
        let start = self.i;
        self.i += 1;
        let mut a = Vec::new();
        self.ws();
        if self.peek() == Some(b']') {
            self.i += 1;
            return Ok(Value::empty_array());
        }
        loop {
            self.ws();
            a.push(self.value(depth + 1)?);
            self.ws();
            match self.peek() {
                Some(b',') => self.i += 1,
                Some(b']') => {
                    self.i += 1;
                    let v = Value::from_array(a);
                    return Ok(self.dedup(start, v));
                }
                _ => return Err(self.err("expected ',' or ']'")),
            }
        }
    }

    fn number(&mut self) -> Result<Value, String> {
        let start = self.i;
        if self.peek() == Some(b'-') {
            self.i += 1;
        }
        let digits = |p: &mut Self| {
            let st = p.i;
            while p.i < p.s.len() && p.s[p.i].is_ascii_digit() {
                p.i += 1;
            }
            p.i - st
        };
        let int_start = self.i;
        let n = digits(self);
        if n == 0 || (n > 1 && self.s[int_start] == b'0') {
            return Err(self.err("invalid number"));
        }
        if self.peek() == Some(b'.') {
            self.i += 1;
            if digits(self) == 0 {
                return Err(self.err("invalid number"));
            }
        }
        if matches!(self.peek(), Some(b'e') | Some(b'E')) {
            self.i += 1;
            if matches!(self.peek(), Some(b'+') | Some(b'-')) {
                self.i += 1;
            }
            if digits(self) == 0 {
                return Err(self.err("invalid number"));
            }
        }
        // Safe: the range holds ASCII only.
        let text = std::str::from_utf8(&self.s[start..self.i]).map_err(|_| self.err("invalid number"))?;
        match Number::parse(text) {
            Some(n @ (Number::Big(_) | Number::Spelled(_))) if self.finite && !n.as_f64().is_finite() => Err(self.err("number out of range")),
            Some(n) => Ok(Value::Number(n)),
            None => Err(self.err("number out of range")),
        }
    }

    fn hex4(&mut self) -> Result<u32, String> {
        if self.i + 4 > self.s.len() {
            return Err(self.err("invalid unicode escape"));
        }
        let h = std::str::from_utf8(&self.s[self.i..self.i + 4]).map_err(|_| self.err("invalid unicode escape"))?;
        let v = u32::from_str_radix(h, 16).map_err(|_| self.err("invalid unicode escape"))?;
        self.i += 4;
        Ok(v)
    }

    fn string(&mut self) -> Result<String, String> {
        self.i += 1; // opening quote
        let mut out = String::new();
        loop {
            // Copy the run of plain bytes in one go.
            let st = self.i;
            while self.i < self.s.len() && self.s[self.i] != b'"' && self.s[self.i] != b'\\' && self.s[self.i] >= 0x20 {
                self.i += 1;
            }
            out.push_str(std::str::from_utf8(&self.s[st..self.i]).map_err(|_| self.err("invalid UTF-8"))?);
            match self.peek() {
                None => return Err(self.err("unterminated string")),
                Some(b'"') => {
                    self.i += 1;
                    return Ok(out);
                }
                Some(b'\\') => {
                    self.i += 1;
                    let c = self.peek().ok_or_else(|| self.err("unterminated string"))?;
                    self.i += 1;
                    match c {
                        b'"' => out.push('"'),
                        b'\\' => out.push('\\'),
                        b'/' => out.push('/'),
                        b'b' => out.push('\u{8}'),
                        b'f' => out.push('\u{c}'),
                        b'n' => out.push('\n'),
                        b'r' => out.push('\r'),
                        b't' => out.push('\t'),
                        b'u' => {
                            let hi = self.hex4()?;
                            let cp = if (0xD800..0xDC00).contains(&hi) && self.s[self.i..].starts_with(b"\\u") {
                                let save = self.i;
                                self.i += 2;
                                let lo = self.hex4()?;
                                if (0xDC00..0xE000).contains(&lo) {
                                    0x10000 + ((hi - 0xD800) << 10) + (lo - 0xDC00)
                                } else {
                                    self.i = save;
                                    0xFFFD
                                }
                            } else {
                                hi
                            };
                            out.push(char::from_u32(cp).unwrap_or('\u{FFFD}'));
                        }
                        _ => return Err(self.err("invalid escape")),
                    }
                }
                Some(_) => return Err(self.err("control character in string")),
            }
        }
    }
}

/// Writes `s` as a JSON string literal with Go's escaping of `<`, `>` and `&`
/// left out (OPA's output does not escape them).
pub fn write_escaped(out: &mut String, s: &str) {
    out.push('"');
    let bytes = s.as_bytes();
    let mut start = 0;
    for (i, &b) in bytes.iter().enumerate() {
        let esc: Option<&str> = match b {
            b'"' => Some("\\\""),
            b'\\' => Some("\\\\"),
            b'\n' => Some("\\n"),
            b'\r' => Some("\\r"),
            b'\t' => Some("\\t"),
            0..=0x1f => None,
            _ => continue,
        };
        out.push_str(&s[start..i]);
        match esc {
            Some(e) => out.push_str(e),
            None => {
                let _ = std::fmt::Write::write_fmt(out, format_args!("\\u{:04x}", b));
            }
        }
        start = i + 1;
    }
    out.push_str(&s[start..]);
    out.push('"');
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rejects_bad_json_with_position() {
        let e = parse("{\"a\": [1, 2,]}").unwrap_err();
        assert!(e.contains("line 1"), "{}", e);
        assert!(parse("01").is_err());
        assert!(parse("[1] x").is_err());
    }

    #[test]
    fn repeated_small_composites_are_one_value() {
        let v = parse(r#"[{"r":["a","b"]},{"r":["a","b"]},{"r":["a", "b"]},["a","b"]]"#).unwrap();
        let rows = v.as_array().unwrap();
        let (Some(Value::Object(x)), Some(Value::Object(y))) = (rows.first(), rows.get(1)) else { panic!("objects") };
        assert!(Arc::ptr_eq(x, y), "the same text is read once");
        match (rows[0].field("r"), &rows[3]) {
            (Some(Value::Array(a)), Value::Array(b)) => assert!(Arc::ptr_eq(a, b)),
            _ => panic!("arrays"),
        }
        // Different text (a space) is a separate copy of an equal value.
        assert_eq!(rows[2], rows[0]);
        assert_eq!(v.to_json(), r#"[{"r":["a","b"]},{"r":["a","b"]},{"r":["a","b"]},["a","b"]]"#);
    }

    #[test]
    fn decodes_surrogate_pairs() {
        assert_eq!(parse(r#""\ud83d\ude00""#).unwrap(), Value::from("😀"));
    }

    #[test]
    fn refuses_deep_nesting() {
        let deep = "[".repeat(10_000);
        assert!(parse(&deep).unwrap_err().contains("nested"));
    }
}
