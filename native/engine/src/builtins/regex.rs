//! regex builtins: Go RE2 patterns run on the `regex` crate.
//!
//! Patterns are translated from Go's syntax first (ASCII-only `\d \w \s`,
//! `(?<name>)`, `\Q..\E`, literal braces and brackets where RE2 takes them
//! literally), and iteration over matches follows Go's rules for empty
//! matches, so `regex.split`, `regex.find_n` and `regex.replace` give OPA's
//! results. Compiled patterns are kept in a bounded process-wide cache: a
//! policy calls `regex.match` with the same constant pattern on every request.

use super::{arg_int, arg_str, BuiltinError, BuiltinResult, Ctx, Registry};
use crate::value::Value;
use regex::Regex;
use std::collections::HashMap;
use std::hash::Hash;
use std::sync::{Arc, OnceLock, RwLock};

pub fn register(r: &mut Registry) {
    r.func("regex", "regex.match", "(string, string) => boolean", regex_match);
    // Deprecated alias (the compiler refuses it in Rego v1 modules).
    r.func("regex", "re_match", "(string, string) => boolean", regex_match);
    r.func("regex", "regex.is_valid", "(string) => boolean", regex_is_valid);
    r.func("regex", "regex.split", "(string, string) => array[string]", regex_split);
    r.func("regex", "regex.find_n", "(string, string, number) => array[string]", regex_find_n);
    r.func(
        "regex",
        "regex.find_all_string_submatch_n",
        "(string, string, number) => array[array[string]]",
        regex_find_all_string_submatch_n,
    );
    r.func("regex", "regex.replace", "(string, string, string) => string", regex_replace);
    r.func("regex", "regex.template_match", "(string, string, string, string) => boolean", regex_template_match);
    r.func("regex", "regex.globs_match", "(string, string) => boolean", regex_globs_match);
}

// ---- a bounded cache of compiled patterns ----

/// Entries kept before the cache is emptied and refilled (OPA does the same).
const CACHE_MAX: usize = 1024;

/// A process-wide map from pattern to compiled form. Reads take a shared
/// lock; a full cache is simply cleared.
pub(crate) struct Cache<K, V> {
    map: RwLock<HashMap<K, V>>,
}

impl<K: Hash + Eq, V: Clone> Cache<K, V> {
    pub(crate) fn new() -> Self {
        Cache { map: RwLock::new(HashMap::new()) }
    }

    pub(crate) fn get_or_try<E>(&self, key: K, make: impl FnOnce(&K) -> Result<V, E>) -> Result<V, E> {
        if let Some(v) = self.get(&key) {
            return Ok(v);
        }
        let v = make(&key)?;
        self.insert(key, v.clone());
        Ok(v)
    }

    /// A cached value by borrowed key (no allocation on a hit).
    pub(crate) fn get<Q: Hash + Eq + ?Sized>(&self, key: &Q) -> Option<V>
    where
        K: std::borrow::Borrow<Q>,
    {
        self.map.read().ok().and_then(|m| m.get(key).cloned())
    }

    pub(crate) fn insert(&self, key: K, v: V) {
        if let Ok(mut m) = self.map.write() {
            if m.len() >= CACHE_MAX {
                m.clear();
            }
            m.insert(key, v);
        }
    }
}

fn cache() -> &'static Cache<String, Arc<Regex>> {
    static C: OnceLock<Cache<String, Arc<Regex>>> = OnceLock::new();
    C.get_or_init(Cache::new)
}

/// Bytes one compiled pattern (regex or glob) may take: patterns can come
/// from requests, and up to `CACHE_MAX` of them are kept.
pub(crate) const COMPILED_SIZE_LIMIT: usize = 1 << 22;

/// The compiled form of a Go pattern, from the cache when seen before.
pub(crate) fn compile(pattern: &str) -> Result<Arc<Regex>, BuiltinError> {
    if let Some(re) = cache().get(pattern) {
        return Ok(re);
    }
    cache().get_or_try(pattern.to_string(), |p| compile_uncached(p).map(Arc::new).map_err(BuiltinError::Eval))
}

/// Compiles a Go RE2 pattern; the error reads like Go's `error parsing regexp: ...`.
pub(crate) fn compile_uncached(pattern: &str) -> Result<Regex, String> {
    let translated = translate(pattern)?;
    regex::RegexBuilder::new(&translated)
        .size_limit(COMPILED_SIZE_LIMIT)
        .build()
        .map_err(|e| format!("error parsing regexp: {}: `{}`", short_error(&e), pattern))
}

/// The one-line gist of a `regex` crate error (its Display spans several lines).
fn short_error(e: &regex::Error) -> String {
    let text = e.to_string();
    text.lines()
        .rev()
        .find_map(|l| l.trim().strip_prefix("error: "))
        .map(str::to_string)
        .unwrap_or_else(|| text.lines().last().unwrap_or("invalid pattern").trim().to_string())
}

/// Go's ASCII Perl classes, as class items (for use inside `[...]`).
fn perl_class_items(c: char) -> Option<(&'static str, bool)> {
    match c {
        'd' => Some(("0-9", false)),
        'D' => Some(("0-9", true)),
        'w' => Some(("0-9A-Za-z_", false)),
        'W' => Some(("0-9A-Za-z_", true)),
        's' => Some(("\\t\\n\\f\\r ", false)),
        'S' => Some(("\\t\\n\\f\\r ", true)),
        _ => None,
    }
}

/// `{n}`, `{n,}` or `{n,m}` at the start of `rest`: RE2 takes any other brace literally.
fn is_repetition(rest: &[char]) -> bool {
    let mut i = 1; // past '{'
    let digits = |i: &mut usize| {
        let st = *i;
        while rest.get(*i).is_some_and(|c| c.is_ascii_digit()) {
            *i += 1;
        }
        *i > st
    };
    if !digits(&mut i) {
        return false;
    }
    if rest.get(i) == Some(&',') {
        i += 1;
        digits(&mut i);
    }
    rest.get(i) == Some(&'}')
}

/// Characters the `regex` crate (regex-syntax 0.6) accepts escaped.
const RUST_META: &str = "\\.+*?()|[]{}^$#&-~";

fn trailing_backslash(cs: &[char]) -> String {
    format!("error parsing regexp: trailing backslash at end of expression: `{}`", cs.iter().collect::<String>())
}

/// Translates the escape at `cs[i] == '\\'`, inside a class or not; returns the index past it.
fn translate_escape(cs: &[char], i: usize, in_class: bool, out: &mut String) -> Result<usize, String> {
    let Some(&n) = cs.get(i + 1) else { return Err(trailing_backslash(cs)) };
    if let Some((items, neg)) = perl_class_items(n) {
        match (in_class, neg) {
            (true, false) => out.push_str(items),
            _ => {
                out.push_str(if neg { "[^" } else { "[" });
                out.push_str(items);
                out.push(']');
            }
        }
        return Ok(i + 2);
    }
    if n.is_ascii() && !n.is_ascii_alphanumeric() {
        // RE2: an escaped punctuation character is itself.
        if RUST_META.contains(n) {
            out.push('\\');
        }
        out.push(n);
        return Ok(i + 2);
    }
    if ('0'..='7').contains(&n) {
        // Octal `\0`, `\12`, `\123`; a lone `\1`..`\7` would be a backreference.
        let mut j = i + 1;
        let mut v = 0u32;
        while j < cs.len() && j < i + 4 && ('0'..='7').contains(&cs[j]) {
            v = v * 8 + (cs[j] as u32 - '0' as u32);
            j += 1;
        }
        if n != '0' && j == i + 2 {
            return Err(format!("error parsing regexp: invalid escape sequence: `\\{}`", n));
        }
        out.push_str(&format!("\\x{{{:x}}}", v));
        return Ok(j);
    }
    if n == 'Q' && !in_class {
        // \Q...\E: everything literal.
        let mut j = i + 2;
        while j < cs.len() {
            if cs[j] == '\\' && cs.get(j + 1) == Some(&'E') {
                return Ok(j + 2);
            }
            push_literal(out, cs[j]);
            j += 1;
        }
        return Ok(j);
    }
    match n {
        'a' | 'f' | 't' | 'n' | 'r' | 'v' | 'x' | 'p' | 'P' => {}
        'b' | 'B' | 'A' | 'z' if !in_class => {}
        _ => return Err(format!("error parsing regexp: invalid escape sequence: `\\{}`", n)),
    }
    out.push('\\');
    out.push(n);
    Ok(i + 2)
}

/// Rewrites Go RE2 syntax into the `regex` crate's.
fn translate(p: &str) -> Result<String, String> {
    let cs: Vec<char> = p.chars().collect();
    let mut out = String::with_capacity(p.len() + 8);
    let mut i = 0;
    while i < cs.len() {
        let c = cs[i];
        match c {
            '\\' => i = translate_escape(&cs, i, false, &mut out)?,
            '[' => i = translate_class(&cs, i, &mut out)?,
            '(' if cs.get(i + 1) == Some(&'?')
                && cs.get(i + 2) == Some(&'<')
                && cs.get(i + 3) != Some(&'=')
                && cs.get(i + 3) != Some(&'!') =>
            {
                out.push_str("(?P<");
                i += 3;
            }
            '{' if is_repetition(&cs[i..]) => {
                // Copy the counted repetition through its closing brace.
                while let Some(&d) = cs.get(i) {
                    out.push(d);
                    i += 1;
                    if d == '}' {
                        break;
                    }
                }
            }
            '{' | '}' => {
                // RE2 takes a brace that does not form a repetition literally.
                out.push('\\');
                out.push(c);
                i += 1;
            }
            _ => {
                out.push(c);
                i += 1;
            }
        }
    }
    Ok(out)
}

pub(crate) fn push_literal(out: &mut String, c: char) {
    if RUST_META.contains(c) {
        out.push('\\');
    }
    out.push(c);
}

/// Translates the class starting at `cs[start] == '['`; returns the index past it.
/// RE2 takes `[` inside a class literally (except `[:name:]`), and has no set
/// operators (`&&`, `--`, `~~`), so those are escaped.
fn translate_class(cs: &[char], start: usize, out: &mut String) -> Result<usize, String> {
    let mut i = start + 1;
    out.push('[');
    if cs.get(i) == Some(&'^') {
        out.push('^');
        i += 1;
    }
    let mut first = true;
    loop {
        let Some(&c) = cs.get(i) else {
            return Err(format!("error parsing regexp: missing closing ]: `{}`", cs[start..].iter().collect::<String>()));
        };
        match c {
            ']' if !first => {
                out.push(']');
                return Ok(i + 1);
            }
            '[' if cs.get(i + 1) == Some(&':') => {
                // POSIX class `[:alpha:]` / `[:^alpha:]`
                let close = (i + 2..cs.len()).find(|&j| cs[j] == ':' && cs.get(j + 1) == Some(&']'));
                match close {
                    Some(j) => {
                        out.extend(&cs[i..j + 2]);
                        i = j + 2;
                    }
                    None => {
                        out.push_str("\\[");
                        i += 1;
                    }
                }
            }
            '\\' => i = translate_escape(cs, i, true, out)?,
            '[' | ']' | '&' | '~' => {
                out.push('\\');
                out.push(c);
                i += 1;
            }
            '-' if cs.get(i + 1) == Some(&'-') || (!first && i > 0 && cs[i - 1] == '-') => {
                out.push_str("\\-");
                i += 1;
            }
            _ => {
                out.push(c);
                i += 1;
            }
        }
        first = false;
    }
}

// ---- Go's iteration over matches ----

/// Go's `FindAll*Index` over `s`: successive non-overlapping matches, an
/// empty match right after a previous match ignored; at most `n` (all when n < 0).
/// Each match is its capture locations (group 0 first).
fn find_all(re: &Regex, s: &str, n: i64) -> Vec<Vec<Option<(usize, usize)>>> {
    let mut out = Vec::new();
    let mut locs = re.capture_locations();
    let end = s.len();
    let mut pos = 0usize;
    let mut prev_end: Option<usize> = None;
    while (n < 0 || (out.len() as i64) < n) && pos <= end {
        let Some(m) = re.captures_read_at(&mut locs, s, pos) else { break };
        let (ms, me) = (m.start(), m.end());
        let mut accept = true;
        if me == pos {
            if Some(ms) == prev_end {
                accept = false;
            }
            pos += s[pos..].chars().next().map(char::len_utf8).unwrap_or(1);
        } else {
            pos = me;
        }
        prev_end = Some(me);
        if accept {
            out.push((0..locs.len()).map(|g| locs.get(g)).collect());
        }
    }
    out
}

fn regex_match(_: &mut Ctx, a: &[Value]) -> BuiltinResult {
    let re = compile(arg_str(a, 0)?)?;
    Ok(Value::Bool(re.is_match(arg_str(a, 1)?)))
}

fn regex_is_valid(_: &mut Ctx, a: &[Value]) -> BuiltinResult {
    Ok(Value::Bool(match a.first() {
        Some(Value::String(p)) => compile(p).is_ok(),
        _ => false,
    }))
}

fn strings(v: Vec<&str>) -> Value {
    Value::from_array(v.into_iter().map(Value::from).collect())
}

/// Go's `Regexp.Split(s, -1)`.
fn regex_split(_: &mut Ctx, a: &[Value]) -> BuiltinResult {
    let pattern = arg_str(a, 0)?;
    let re = compile(pattern)?;
    let s = arg_str(a, 1)?;
    if !pattern.is_empty() && s.is_empty() {
        return Ok(strings(vec![""]));
    }
    let mut parts = Vec::new();
    let (mut beg, mut end) = (0usize, 0usize);
    for m in find_all(&re, s, -1) {
        let Some(Some((ms, me))) = m.first().copied() else { continue };
        end = ms;
        if me != 0 {
            parts.push(s.get(beg..end).unwrap_or(""));
        }
        beg = me;
    }
    if end != s.len() {
        parts.push(s.get(beg..).unwrap_or(""));
    }
    Ok(strings(parts))
}

fn regex_find_n(_: &mut Ctx, a: &[Value]) -> BuiltinResult {
    let re = compile(arg_str(a, 0)?)?;
    let s = arg_str(a, 1)?;
    let n = arg_int(a, 2)?;
    let found = find_all(&re, s, n)
        .into_iter()
        .filter_map(|m| m.first().copied().flatten().map(|(x, y)| Value::from(s.get(x..y).unwrap_or(""))))
        .collect();
    Ok(Value::from_array(found))
}

fn regex_find_all_string_submatch_n(_: &mut Ctx, a: &[Value]) -> BuiltinResult {
    let re = compile(arg_str(a, 0)?)?;
    let s = arg_str(a, 1)?;
    let n = arg_int(a, 2)?;
    let found = find_all(&re, s, n)
        .into_iter()
        .map(|m| {
            Value::from_array(
                m.into_iter().map(|g| Value::from(g.and_then(|(x, y)| s.get(x..y)).unwrap_or(""))).collect(),
            )
        })
        .collect();
    Ok(Value::from_array(found))
}

/// Go's `Regexp.ReplaceAllString(base, repl)`, with `$1`/`${name}` expansion.
fn regex_replace(_: &mut Ctx, a: &[Value]) -> BuiltinResult {
    let base = arg_str(a, 0)?;
    let re = compile(arg_str(a, 1)?)?;
    let repl = arg_str(a, 2)?;
    Ok(Value::from(replace_all(&re, base, repl)))
}

fn replace_all(re: &Regex, src: &str, template: &str) -> String {
    let names: Vec<Option<&str>> = re.capture_names().collect();
    let mut locs = re.capture_locations();
    let mut buf = String::with_capacity(src.len());
    let mut last_end = 0usize;
    let mut search = 0usize;
    while search <= src.len() {
        let Some(m) = re.captures_read_at(&mut locs, src, search) else { break };
        let (ms, me) = (m.start(), m.end());
        buf.push_str(src.get(last_end..ms).unwrap_or(""));
        if me > last_end || ms == 0 {
            let groups: Vec<Option<(usize, usize)>> = (0..locs.len()).map(|g| locs.get(g)).collect();
            expand(&mut buf, template, src, &groups, &names);
        }
        last_end = me;
        let width = src.get(search..).and_then(|r| r.chars().next()).map(char::len_utf8).unwrap_or(0);
        if search + width > me {
            search += width;
        } else if search + 1 > me {
            search += 1;
        } else {
            search = me;
        }
    }
    buf.push_str(src.get(last_end..).unwrap_or(""));
    buf
}

/// Go's `Regexp.expand`: `$$`, `$name`, `${name}`, malformed `$` kept as text.
fn expand(dst: &mut String, mut template: &str, src: &str, groups: &[Option<(usize, usize)>], names: &[Option<&str>]) {
    let group_text = |i: usize| groups.get(i).copied().flatten().and_then(|(x, y)| src.get(x..y));
    while let Some(p) = template.find('$') {
        dst.push_str(&template[..p]);
        template = &template[p + 1..];
        if let Some(rest) = template.strip_prefix('$') {
            dst.push('$');
            template = rest;
            continue;
        }
        let Some((name, num, rest)) = extract_name(template) else {
            dst.push('$');
            continue;
        };
        template = rest;
        let text = match num {
            Some(n) => group_text(n),
            None => names.iter().position(|x| *x == Some(name)).and_then(group_text),
        };
        if let Some(t) = text {
            dst.push_str(t);
        }
    }
    dst.push_str(template);
}

fn extract_name(s: &str) -> Option<(&str, Option<usize>, &str)> {
    let (brace, body) = match s.strip_prefix('{') {
        Some(b) => (true, b),
        None => (false, s),
    };
    let len: usize = body.chars().take_while(|c| c.is_alphanumeric() || *c == '_').map(char::len_utf8).sum();
    if len == 0 {
        return None;
    }
    let name = &body[..len];
    let mut rest = &body[len..];
    if brace {
        rest = rest.strip_prefix('}')?;
    }
    let num = if name.bytes().all(|b| b.is_ascii_digit()) && !(name.starts_with('0') && name.len() > 1) && name.len() <= 8 {
        name.parse::<usize>().ok()
    } else {
        None
    };
    Some((name, num, rest))
}

// ---- regex.template_match ----

fn template_cache() -> &'static Cache<(String, u8, u8), Arc<Regex>> {
    static C: OnceLock<Cache<(String, u8, u8), Arc<Regex>>> = OnceLock::new();
    C.get_or_init(Cache::new)
}

/// Byte offsets of balanced delimiter pairs (start, end past the closer).
fn delimiter_indices(s: &str, open: u8, close: u8) -> Result<Vec<(usize, usize)>, String> {
    let mut level = 0i64;
    let mut idx = 0;
    let mut out = Vec::new();
    for (i, &b) in s.as_bytes().iter().enumerate() {
        if b == open {
            level += 1;
            if level == 1 {
                idx = i;
            }
        } else if b == close {
            level -= 1;
            if level == 0 {
                out.push((idx, i + 1));
            } else if level < 0 {
                return Err(format!("unbalanced braces in {:?}", s));
            }
        }
    }
    if level != 0 {
        return Err(format!("unbalanced braces in {:?}", s));
    }
    Ok(out)
}

fn compile_template(tpl: &str, open: u8, close: u8) -> Result<Regex, String> {
    let idxs = delimiter_indices(tpl, open, close)?;
    let mut pattern = String::from("^");
    let mut end = 0;
    for (st, en) in idxs {
        let raw = tpl.get(end..st).ok_or("invalid template")?;
        let inner = tpl.get(st + 1..en - 1).ok_or("invalid template")?;
        end = en;
        // Each variable must be a valid pattern on its own.
        compile_uncached(&format!("^{}$", inner))?;
        pattern.push_str(&regex::escape(raw));
        pattern.push('(');
        pattern.push_str(inner);
        pattern.push(')');
    }
    pattern.push_str(&regex::escape(tpl.get(end..).unwrap_or("")));
    pattern.push('$');
    compile_uncached(&pattern)
}

fn regex_template_match(_: &mut Ctx, a: &[Value]) -> BuiltinResult {
    let tpl = arg_str(a, 0)?;
    let s = arg_str(a, 1)?;
    let open = arg_str(a, 2)?;
    let close = arg_str(a, 3)?;
    if open.len() != 1 {
        return Err(BuiltinError::Eval(format!("start delimiter has to be exactly one character long but is {} long", open.len())));
    }
    if close.len() != 1 {
        return Err(BuiltinError::Eval(format!("end delimiter has to be exactly one character long but is {} long", close.len())));
    }
    let (o, c) = (open.as_bytes()[0], close.as_bytes()[0]);
    let re = template_cache()
        .get_or_try((tpl.to_string(), o, c), |(t, o, c)| compile_template(t, *o, *c).map(Arc::new))
        .map_err(BuiltinError::Eval)?;
    Ok(Value::Bool(re.is_match(s)))
}

// ---- regex.globs_match: do two simple patterns share a string? ----

/// A set of characters as sorted, disjoint, inclusive ranges.
#[derive(Clone, Debug, PartialEq)]
struct CharSet(Vec<(u32, u32)>);

const MAX_CHAR: u32 = 0x10FFFF;

impl CharSet {
    fn any() -> CharSet {
        CharSet(vec![(0, MAX_CHAR)])
    }
    fn single(c: char) -> CharSet {
        CharSet(vec![(c as u32, c as u32)])
    }
    fn normalize(mut r: Vec<(u32, u32)>) -> CharSet {
        r.sort();
        let mut out: Vec<(u32, u32)> = Vec::with_capacity(r.len());
        for (a, b) in r {
            match out.last_mut() {
                Some(last) if a <= last.1.saturating_add(1) => last.1 = last.1.max(b),
                _ => out.push((a, b)),
            }
        }
        CharSet(out)
    }
    fn complement(&self) -> CharSet {
        let mut out = Vec::new();
        let mut next = 0u32;
        for &(a, b) in &self.0 {
            if a > next {
                out.push((next, a - 1));
            }
            next = b.saturating_add(1);
        }
        if next <= MAX_CHAR {
            out.push((next, MAX_CHAR));
        }
        CharSet(out)
    }
    fn intersects(&self, o: &CharSet) -> bool {
        let (mut i, mut j) = (0, 0);
        while let (Some(&(a1, b1)), Some(&(a2, b2))) = (self.0.get(i), o.0.get(j)) {
            if a1.max(a2) <= b1.min(b2) {
                return true;
            }
            if b1 < b2 {
                i += 1;
            } else {
                j += 1;
            }
        }
        false
    }
}

#[derive(Clone, Copy, Debug, PartialEq)]
enum Quant {
    One,
    Opt,
    Star,
    Plus,
}

/// Parses the syntax of OPA's glob intersection: `.` any character,
/// `[...]` (ranges, `^` negation), `*` `+` `?` quantifiers, `\` escapes.
fn parse_glob_re(p: &str) -> Result<Vec<(CharSet, Quant)>, String> {
    let cs: Vec<char> = p.chars().collect();
    // The glob library OPA uses reports `input:<p>, pos:<n>, <why>: the input provided is invalid`.
    let invalid = |pos: usize, why: String| format!("input:{}, pos:{}, {}: the input provided is invalid", p, pos, why);
    let mut toks: Vec<(CharSet, Quant)> = Vec::new();
    let mut i = 0;
    while i < cs.len() {
        let c = cs[i];
        match c {
            '*' | '+' | '?' => {
                let q = match c {
                    '*' => Quant::Star,
                    '+' => Quant::Plus,
                    _ => Quant::Opt,
                };
                match toks.last_mut() {
                    Some(last) if last.1 == Quant::One => last.1 = q,
                    _ => return Err(invalid(i + 1, format!("flag '{}' must be preceded by a non-flag", c))),
                }
                i += 1;
            }
            '.' => {
                toks.push((CharSet::any(), Quant::One));
                i += 1;
            }
            '\\' => {
                let n = *cs.get(i + 1).ok_or_else(|| invalid(i, "input ends with a \\ (escape) character".into()))?;
                toks.push((CharSet::single(n), Quant::One));
                i += 2;
            }
            '[' => {
                let mut j = i + 1;
                let neg = cs.get(j) == Some(&'^');
                if neg {
                    j += 1;
                }
                let mut ranges = Vec::new();
                let mut closed = false;
                while j < cs.len() {
                    let mut a = cs[j];
                    if a == ']' {
                        closed = true;
                        j += 1;
                        break;
                    }
                    if a == '\\' {
                        j += 1;
                        a = *cs.get(j).ok_or_else(|| invalid(j - 1, "input ends with a \\ (escape) character".into()))?;
                    }
                    j += 1;
                    if cs.get(j) == Some(&'-') && cs.get(j + 1).is_some_and(|&x| x != ']') {
                        let mut b = cs[j + 1];
                        j += 2;
                        if b == '\\' {
                            b = *cs.get(j).ok_or_else(|| invalid(j - 1, "input ends with a \\ (escape) character".into()))?;
                            j += 1;
                        }
                        if (b as u32) < (a as u32) {
                            return Err(invalid(j, format!("range is out of order: '{}' comes before '{}' in Unicode", b, a)));
                        }
                        ranges.push((a as u32, b as u32));
                    } else {
                        ranges.push((a as u32, a as u32));
                    }
                }
                if !closed {
                    return Err(invalid(cs.len(), "found [ without matching ]".into()));
                }
                let set = CharSet::normalize(ranges);
                toks.push((if neg { set.complement() } else { set }, Quant::One));
                i = j;
            }
            ']' => return Err(invalid(i + 1, "set-close ']' with no preceding '['".into())),
            _ => {
                toks.push((CharSet::single(c), Quant::One));
                i += 1;
            }
        }
    }
    Ok(toks)
}

/// Whether some string matches both token lists: a search over pairs of positions.
fn intersect(a: &[(CharSet, Quant)], b: &[(CharSet, Quant)]) -> bool {
    let (n, m) = (a.len(), b.len());
    let mut seen = vec![false; (n + 1) * (m + 1)];
    let mut stack = vec![(0usize, 0usize)];
    let skippable = |t: &[(CharSet, Quant)], i: usize| t.get(i).is_some_and(|x| matches!(x.1, Quant::Opt | Quant::Star));
    let repeats = |t: &[(CharSet, Quant)], i: usize| t.get(i).is_some_and(|x| matches!(x.1, Quant::Star | Quant::Plus));
    while let Some((i, j)) = stack.pop() {
        let k = i * (m + 1) + j;
        if seen.get(k).copied().unwrap_or(true) {
            continue;
        }
        seen[k] = true;
        if i == n && j == m {
            return true;
        }
        if skippable(a, i) {
            stack.push((i + 1, j));
        }
        if skippable(b, j) {
            stack.push((i, j + 1));
        }
        if let (Some(x), Some(y)) = (a.get(i), b.get(j)) {
            if x.0.intersects(&y.0) {
                let nis: &[usize] = if repeats(a, i) { &[i, i + 1] } else { &[i + 1] };
                let njs: &[usize] = if repeats(b, j) { &[j, j + 1] } else { &[j + 1] };
                for &ni in nis {
                    for &nj in njs {
                        stack.push((ni, nj));
                    }
                }
            }
        }
    }
    false
}

fn regex_globs_match(_: &mut Ctx, a: &[Value]) -> BuiltinResult {
    let x = parse_glob_re(arg_str(a, 0)?).map_err(BuiltinError::Eval)?;
    let y = parse_glob_re(arg_str(a, 1)?).map_err(BuiltinError::Eval)?;
    Ok(Value::Bool(intersect(&x, &y)))
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn call(f: super::super::BuiltinFn, args: &[&str]) -> BuiltinResult {
        let v: Vec<Value> = args.iter().map(|s| Value::from(*s)).collect();
        f(&mut Ctx::new(0, true), &v)
    }
    fn call_n(f: super::super::BuiltinFn, p: &str, s: &str, n: i64) -> Value {
        f(&mut Ctx::new(0, true), &[Value::from(p), Value::from(s), Value::int(n)]).unwrap()
    }
    fn strs(v: &[&str]) -> Value {
        strings(v.to_vec())
    }

    #[test]
    fn matches() {
        assert_eq!(call(regex_match, &["^[a-z]+\\[[0-9]+\\]$", "foo[1]"]), Ok(Value::Bool(true)));
        assert_eq!(call(regex_match, &["", "x"]), Ok(Value::Bool(true)));
        assert!(matches!(call(regex_match, &["$^[[[", "x"]), Err(BuiltinError::Eval(_))));
    }

    #[test]
    fn go_syntax() {
        // ASCII-only \d, literal braces, [ inside a class, named groups with (?<>)
        assert_eq!(call(regex_match, &["^\\d$", "٣"]), Ok(Value::Bool(false)));
        assert_eq!(call(regex_match, &["^a{$", "a{"]), Ok(Value::Bool(true)));
        assert_eq!(call(regex_match, &["^a{2}$", "aa"]), Ok(Value::Bool(true)));
        assert_eq!(call(regex_match, &["^[[]$", "["]), Ok(Value::Bool(true)));
        assert_eq!(call(regex_match, &["^[a&&b]$", "&"]), Ok(Value::Bool(true)));
        assert_eq!(call(regex_match, &["^[[:alpha:]]+$", "abc"]), Ok(Value::Bool(true)));
        assert_eq!(call(regex_match, &["^(?<x>a)$", "a"]), Ok(Value::Bool(true)));
        assert_eq!(call(regex_match, &["^\\Q*.+\\E$", "*.+"]), Ok(Value::Bool(true)));
        assert_eq!(call(regex_match, &["^[\\d\\s]+$", "1 2"]), Ok(Value::Bool(true)));
        assert_eq!(call(regex_is_valid, &["[a"]), Ok(Value::Bool(false)));
        assert_eq!(regex_is_valid(&mut Ctx::new(0, true), &[Value::int(1)]), Ok(Value::Bool(false)));
    }

    #[test]
    fn split() {
        assert_eq!(call(regex_split, &["^[a-z]+\\[[0-9]+\\]$", ""]), Ok(strs(&[""])));
        assert_eq!(call(regex_split, &["^[a-z]+", "foobar baz"]), Ok(strs(&["", " baz"])));
        assert_eq!(call(regex_split, &["[a-z]+$", "foobar baz"]), Ok(strs(&["foobar ", ""])));
        assert_eq!(call(regex_split, &["^[a-z ]+$", "foobar baz"]), Ok(strs(&["", ""])));
        assert_eq!(call(regex_split, &["a", "banana"]), Ok(strs(&["b", "n", "n", ""])));
        assert_eq!(call(regex_split, &["", "abc"]), Ok(strs(&["a", "b", "c"])));
        assert_eq!(call(regex_split, &["x*", "axbc"]), Ok(strs(&["a", "b", "c"])));
    }

    #[test]
    fn find() {
        assert_eq!(call_n(regex_find_n, "a.", "paranormal", -1), strs(&["ar", "an", "al"]));
        assert_eq!(call_n(regex_find_n, "a.", "paranormal", 2), strs(&["ar", "an"]));
        assert_eq!(call_n(regex_find_n, "a*", "baaac", -1), strs(&["", "aaa", ""]));
        let v = call_n(regex_find_all_string_submatch_n, "[^aouiye]([aouiye])([^aouiye])?", "somestri", -1);
        assert_eq!(v.to_json(), r#"[["som","o","m"],["ri","i",""]]"#);
    }

    #[test]
    fn replace() {
        assert_eq!(call(regex_replace, &["-wy-wxxy-", "w(x*)y", "0"]), Ok(Value::from("-0-0-")));
        assert_eq!(call(regex_replace, &["foo", "(foo)", "$1$1"]), Ok(Value::from("foofoo")));
        assert_eq!(call(regex_replace, &["foo", "(?P<x>o)", "[${x}]$$"]), Ok(Value::from("f[o]$[o]$")));
        assert_eq!(call(regex_replace, &["abc", "x*", "-"]), Ok(Value::from("-a-b-c-")));
        assert_eq!(call(regex_replace, &["foo", "(o)", "$1x"]), Ok(Value::from("f")));
        assert!(call(regex_replace, &["foo", "[", "$1"]).is_err());
    }

    #[test]
    fn template() {
        assert_eq!(call(regex_template_match, &["urn:foo:{.*}", "urn:foo:bar:baz", "{", "}"]), Ok(Value::Bool(true)));
        assert_eq!(call(regex_template_match, &["urn:foo.bar:{[a-z]+}", "urn:foo.bar:baz", "{", "}"]), Ok(Value::Bool(true)));
        assert_eq!(call(regex_template_match, &["urn:foo.bar:{[a-z]+}", "urn:fooXbar:baz", "{", "}"]), Ok(Value::Bool(false)));
        assert_eq!(call(regex_template_match, &["urn:<.*>", "urn:x", "<", ">"]), Ok(Value::Bool(true)));
        assert!(call(regex_template_match, &["urn:{.*", "urn:x", "{", "}"]).is_err());
    }

    #[test]
    fn globs() {
        let g = |a: &str, b: &str| call(regex_globs_match, &[a, b]);
        assert_eq!(g("a.a.[0-9]+z", ".b.b2359825792*594823z"), Ok(Value::Bool(true)));
        assert_eq!(g("[a-z]+", "[0-9]*"), Ok(Value::Bool(false)));
        assert_eq!(g("b.*", "bar"), Ok(Value::Bool(true)));
        assert_eq!(g("[a-z]+\\[[0-9]+\\]", "foo\\[1\\]"), Ok(Value::Bool(true)));
        assert_eq!(g("[a-z]+\\[[0-9]+\\]", "foo[\"bar\"]"), Ok(Value::Bool(false)));
        assert_eq!(g("a*", ""), Ok(Value::Bool(true)));
        assert_eq!(g("[^a]", "a"), Ok(Value::Bool(false)));
        assert!(g("*a", "a").is_err());
    }
}
