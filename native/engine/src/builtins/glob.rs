//! glob builtins with gobwas/glob semantics, as OPA uses them.
//!
//! A glob is compiled into an anchored regular expression: `*` is any run of
//! non-delimiter characters, `**` any run at all, `?` one non-delimiter
//! character, `[abc]` `[a-z]` `[!abc]` one character of (or not of) a list,
//! `{a,b}` alternatives (nesting allowed), `\x` a literal `x`. `glob.match`
//! with an empty delimiter array uses `.`; with `null`, none.

use super::{arg_str, type_err, BuiltinError, BuiltinResult, Ctx, Registry};
use crate::builtins::regex::Cache;
use crate::value::Value;
use regex::Regex;
use std::sync::{Arc, OnceLock};

pub fn register(r: &mut Registry) {
    r.func("glob", "glob.match", "(string, any<null, array[string]>, string) => boolean", glob_match);
    r.func("glob", "glob.quote_meta", "(string) => string", glob_quote_meta);
}

/// gobwas/glob's special characters.
const SPECIAL: &[char] = &['*', '?', '\\', '[', ']', '{', '}'];

/// Compiled globs by (pattern, delimiters).
type GlobCache = Cache<(String, Vec<char>), Arc<Regex>>;

fn cache() -> &'static GlobCache {
    static C: OnceLock<GlobCache> = OnceLock::new();
    C.get_or_init(Cache::new)
}

/// A class matching one character that is not a delimiter.
fn not_delims(delims: &[char]) -> String {
    if delims.is_empty() {
        return "(?s:.)".into();
    }
    let mut s = String::from("[^");
    for &d in delims {
        push_class_char(&mut s, d);
    }
    s.push(']');
    s
}

/// A character, escaped when the `regex` crate gives it a meaning.
fn push_literal(s: &mut String, c: char) {
    crate::builtins::regex::push_literal(s, c)
}

fn push_class_char(s: &mut String, c: char) {
    push_literal(s, c)
}

struct Compiler<'a> {
    cs: Vec<char>,
    i: usize,
    one: String,
    pattern: &'a str,
}

impl Compiler<'_> {
    fn err(&self, what: &str) -> String {
        format!("glob: {} at position {} of pattern {:?}", what, self.i, self.pattern)
    }

    /// Compiles up to the end of input, or (inside braces) to the `,` or `}`
    /// that ends the current alternative.
    fn sequence(&mut self, out: &mut String, depth: usize) -> Result<(), String> {
        while let Some(&c) = self.cs.get(self.i) {
            match c {
                ',' | '}' if depth > 0 => return Ok(()),
                '*' => {
                    let mut n = 0;
                    while self.cs.get(self.i) == Some(&'*') {
                        n += 1;
                        self.i += 1;
                    }
                    if n >= 2 {
                        out.push_str("(?s:.*)");
                    } else {
                        out.push_str(&self.one);
                        out.push('*');
                    }
                }
                '?' => {
                    out.push_str(&self.one);
                    self.i += 1;
                }
                '\\' => {
                    let Some(&n) = self.cs.get(self.i + 1) else { return Err(self.err("unexpected end of input after escape")) };
                    push_literal(out, n);
                    self.i += 2;
                }
                '[' => self.list(out)?,
                '{' => {
                    if depth > 64 {
                        return Err(self.err("alternatives nested too deeply"));
                    }
                    self.i += 1;
                    out.push_str("(?:");
                    loop {
                        self.sequence(out, depth + 1)?;
                        match self.cs.get(self.i) {
                            Some(',') => {
                                out.push('|');
                                self.i += 1;
                            }
                            Some('}') => {
                                out.push(')');
                                self.i += 1;
                                break;
                            }
                            _ => return Err(self.err("unclosed alternatives")),
                        }
                    }
                }
                _ => {
                    push_literal(out, c);
                    self.i += 1;
                }
            }
        }
        Ok(())
    }

    /// `[abc]`, `[a-z]`, `[!...]`: exactly one character of the list (or not of it).
    fn list(&mut self, out: &mut String) -> Result<(), String> {
        self.i += 1;
        let neg = self.cs.get(self.i) == Some(&'!');
        if neg {
            self.i += 1;
        }
        let mut class = String::from(if neg { "[^" } else { "[" });
        let mut empty = true;
        loop {
            let Some(&c) = self.cs.get(self.i) else { return Err(self.err("unclosed character list")) };
            if c == ']' {
                self.i += 1;
                break;
            }
            let c = if c == '\\' {
                self.i += 1;
                *self.cs.get(self.i).ok_or_else(|| self.err("unexpected end of input after escape"))?
            } else {
                c
            };
            self.i += 1;
            empty = false;
            if self.cs.get(self.i) == Some(&'-') && self.cs.get(self.i + 1).is_some_and(|&x| x != ']') {
                let hi = self.cs.get(self.i + 1).copied().unwrap_or(c);
                self.i += 2;
                if hi < c {
                    return Err(self.err("invalid character range"));
                }
                push_class_char(&mut class, c);
                class.push('-');
                push_class_char(&mut class, hi);
            } else {
                push_class_char(&mut class, c);
            }
        }
        if empty {
            return Err(self.err("empty character list"));
        }
        class.push(']');
        out.push_str(&class);
        Ok(())
    }
}

/// The anchored regular expression a glob stands for.
fn compile(pattern: &str, delims: &[char]) -> Result<Regex, String> {
    let mut c = Compiler { cs: pattern.chars().collect(), i: 0, one: not_delims(delims), pattern };
    let mut re = String::from("^(?:");
    c.sequence(&mut re, 0)?;
    if c.i < c.cs.len() {
        return Err(c.err("unexpected character"));
    }
    re.push_str(")$");
    regex::RegexBuilder::new(&re).size_limit(super::regex::COMPILED_SIZE_LIMIT).build().map_err(|e| format!("glob: {}", e))
}

fn glob_match(_: &mut Ctx, a: &[Value]) -> BuiltinResult {
    let pattern = arg_str(a, 0)?;
    let delims: Vec<char> = match a.get(1) {
        Some(Value::Null) => Vec::new(),
        Some(Value::Array(items)) => {
            let mut d = Vec::with_capacity(items.len());
            for v in items.iter() {
                let Value::String(s) = v else {
                    return Err(BuiltinError::Type(format!("operand 2 must be array of strings but got array containing {}", v.type_name())));
                };
                // As OPA: a delimiter is the rune of a one-character string.
                let mut it = s.chars();
                d.push(match (it.next(), it.next()) {
                    (Some(c), None) => c,
                    _ => '\0',
                });
            }
            if d.is_empty() {
                d.push('.');
            }
            d
        }
        Some(v) => return Err(type_err(1, "any<null, array[string]>", v)),
        None => return Err(BuiltinError::Eval("missing operand 2".into())),
    };
    let s = arg_str(a, 2)?;
    let re = cache()
        .get_or_try((pattern.to_string(), delims), |(p, d)| compile(p, d).map(Arc::new))
        .map_err(BuiltinError::Eval)?;
    Ok(Value::Bool(re.is_match(s)))
}

fn glob_quote_meta(_: &mut Ctx, a: &[Value]) -> BuiltinResult {
    let s = arg_str(a, 0)?;
    let mut out = String::with_capacity(s.len() + 4);
    for c in s.chars() {
        if SPECIAL.contains(&c) {
            out.push('\\');
        }
        out.push(c);
    }
    Ok(Value::from(out))
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn m(p: &str, d: Value, s: &str) -> bool {
        glob_match(&mut Ctx::new(0, true), &[Value::from(p), d, Value::from(s)]).unwrap() == Value::Bool(true)
    }
    fn ds(x: &[&str]) -> Value {
        Value::from_array(x.iter().map(|s| Value::from(*s)).collect())
    }

    #[test]
    fn wildcards_and_delimiters() {
        assert!(m("*:github:com", ds(&[":"]), "api:github:com"));
        assert!(!m("*.github.com", ds(&["."]), "api.not-github.com"));
        assert!(!m("*", ds(&[]), "foo.bar"));
        assert!(m("*", Value::Null, "foo.bar"));
        assert!(!m("?at", ds(&["f"]), "fat"));
        assert!(!m("?", Value::Null, ""));
        assert!(!m("a/*/b", Value::Null, "a/b"));
        assert!(m("a/**/b", Value::Null, "a//b"));
        assert!(!m("**/x", Value::Null, "x"));
        assert!(m("***", ds(&["."]), ""));
        assert!(!m("*?*", ds(&[".", "/"]), "api.github.com"));
        assert!(m("*?*", ds(&[".", "/"]), "abc"));
        assert!(m("**.com", ds(&["."]), "a.b.com"));
    }

    #[test]
    fn lists_and_alternatives() {
        assert!(!m("[abc]at", ds(&[]), "fat"));
        assert!(m("[!abc]at", ds(&[]), "fat"));
        assert!(m("[a-c]at", ds(&[]), "bat"));
        assert!(!m("[!a-c]at", ds(&[]), "bat"));
        assert!(!m("[!0-9]", Value::Null, ""));
        for s in ["cat", "bat", "fat", "rat"] {
            assert!(m("{cat,bat,[fr]at}", ds(&[]), s));
        }
        assert!(!m("{cat,bat,[fr]at}", ds(&[]), "at"));
        assert!(m("{**/,}x", Value::Null, "x"));
        assert!(m("\\*", Value::Null, "*"));
        assert!(!m("\\*", Value::Null, "a"));
        assert!(m("a,b", Value::Null, "a,b"));
        assert!(glob_match(&mut Ctx::new(0, true), &[Value::from("{a"), Value::Null, Value::from("a")]).is_err());
    }

    #[test]
    fn quote_meta() {
        let q = glob_quote_meta(&mut Ctx::new(0, true), &[Value::from("*.github.com{x}[y]?\\")]).unwrap();
        assert_eq!(q, Value::from("\\*.github.com\\{x\\}\\[y\\]\\?\\\\"));
    }
}
