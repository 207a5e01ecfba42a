//! String builtins: `concat`, `split`, `replace`, `trim*`, `indexof`,
//! `substring`, `strings.*` and `strings.render_template` (a subset of Go's
//! text/template). Positions and lengths count Unicode code points, as OPA
//! counts runes.

use super::{arg_int, arg_num, arg_object, arg_str, BuiltinError, BuiltinResult, Ctx, Registry};
use crate::number::Number;
use crate::value::Value;
use num_bigint::BigInt;
use num_traits::FromPrimitive;

pub fn register(r: &mut Registry) {
    r.func("strings", "concat", "(string, any<array[string], set[string]>) => string", concat);
    r.func("strings", "contains", "(string, string) => boolean", |_, a| {
        Ok(Value::Bool(arg_str(a, 0)?.contains(arg_str(a, 1)?)))
    });
    r.func("strings", "startswith", "(string, string) => boolean", |_, a| {
        Ok(Value::Bool(arg_str(a, 0)?.starts_with(arg_str(a, 1)?)))
    });
    r.func("strings", "endswith", "(string, string) => boolean", |_, a| {
        Ok(Value::Bool(arg_str(a, 0)?.ends_with(arg_str(a, 1)?)))
    });
    r.func("strings", "format_int", "(number, number) => string", format_int);
    r.func("strings", "indexof", "(string, string) => number", indexof);
    r.func("strings", "indexof_n", "(string, string) => array[number]", indexof_n);
    r.func("strings", "lower", "(string) => string", |_, a| Ok(Value::string(go_lower(arg_str(a, 0)?))));
    r.func("strings", "upper", "(string) => string", |_, a| Ok(Value::string(go_upper(arg_str(a, 0)?))));
    r.func("strings", "replace", "(string, string, string) => string", |_, a| {
        let (s, old, new) = (arg_str(a, 0)?, arg_str(a, 1)?, arg_str(a, 2)?);
        Ok(Value::string(s.replace(old, new)))
    });
    r.func("strings", "strings.replace_n", "(object[string: string], string) => string", replace_n);
    r.func("strings", "split", "(string, string) => array[string]", |_, a| {
        Ok(strings_array(go_split(arg_str(a, 0)?, arg_str(a, 1)?)))
    });
    r.func("strings", "strings.split_n", "(string, string, number) => array[string]", split_n);
    r.func("strings", "substring", "(string, number, number) => string", substring);
    r.func("strings", "trim", "(string, string) => string", |_, a| {
        let cut = arg_str(a, 1)?;
        Ok(Value::string(arg_str(a, 0)?.trim_matches(|c| cut.contains(c))))
    });
    r.func("strings", "trim_left", "(string, string) => string", |_, a| {
        let cut = arg_str(a, 1)?;
        Ok(Value::string(arg_str(a, 0)?.trim_start_matches(|c| cut.contains(c))))
    });
    r.func("strings", "trim_right", "(string, string) => string", |_, a| {
        let cut = arg_str(a, 1)?;
        Ok(Value::string(arg_str(a, 0)?.trim_end_matches(|c| cut.contains(c))))
    });
    r.func("strings", "trim_prefix", "(string, string) => string", |_, a| {
        let (s, p) = (arg_str(a, 0)?, arg_str(a, 1)?);
        Ok(Value::string(s.strip_prefix(p).unwrap_or(s)))
    });
    r.func("strings", "trim_suffix", "(string, string) => string", |_, a| {
        let (s, p) = (arg_str(a, 0)?, arg_str(a, 1)?);
        Ok(Value::string(s.strip_suffix(p).unwrap_or(s)))
    });
    r.func("strings", "trim_space", "(string) => string", |_, a| Ok(Value::string(arg_str(a, 0)?.trim())));
    r.func("strings", "strings.reverse", "(string) => string", |_, a| {
        Ok(Value::string(arg_str(a, 0)?.chars().rev().collect::<String>()))
    });
    r.func("strings", "strings.count", "(string, string) => number", |_, a| {
        let (s, sub) = (arg_str(a, 0)?, arg_str(a, 1)?);
        let n = if sub.is_empty() { s.chars().count() + 1 } else { s.matches(sub).count() };
        Ok(Value::int(n as i64))
    });
    r.func(
        "strings",
        "strings.any_prefix_match",
        "(any<string, array[string], set[string]>, any<string, array[string], set[string]>) => boolean",
        |_, a| any_match(a, |s, p| s.starts_with(p)),
    );
    r.func(
        "strings",
        "strings.any_suffix_match",
        "(any<string, array[string], set[string]>, any<string, array[string], set[string]>) => boolean",
        |_, a| any_match(a, |s, p| s.ends_with(p)),
    );
    r.func("strings", "strings.render_template", "(string, object[string: any]) => string", render_template);
}

fn strings_array<'a>(it: impl IntoIterator<Item = &'a str>) -> Value {
    Value::from_array(it.into_iter().map(Value::string).collect())
}

/// The strings of a string, array or set operand (`kinds` names what is accepted).
fn str_items(a: &[Value], i: usize, allow_string: bool) -> Result<Vec<&str>, BuiltinError> {
    let elems: Box<dyn Iterator<Item = &Value>> = match a.get(i) {
        Some(Value::String(s)) if allow_string => return Ok(vec![s]),
        Some(Value::Array(v)) => Box::new(v.iter()),
        Some(Value::Set(v)) => Box::new(v.iter()),
        Some(v) => {
            let want = if allow_string { "{string, set, array}" } else { "{set, array}" };
            return Err(BuiltinError::Type(format!("operand {} must be one of {} but got {}", i + 1, want, v.type_name())));
        }
        None => return Err(BuiltinError::Eval(format!("missing operand {}", i + 1))),
    };
    let coll = a.get(i).map(Value::type_name).unwrap_or("array");
    elems
        .map(|v| match v {
            Value::String(s) => Ok(&**s),
            v => Err(BuiltinError::Type(format!(
                "operand {} must be {} of strings but got {} containing {}",
                i + 1,
                coll,
                coll,
                v.type_name()
            ))),
        })
        .collect()
}

fn concat(_: &mut Ctx, a: &[Value]) -> BuiltinResult {
    let sep = arg_str(a, 0)?;
    Ok(Value::string(str_items(a, 1, false)?.join(sep)))
}

fn any_match(a: &[Value], f: fn(&str, &str) -> bool) -> BuiltinResult {
    let ss = str_items(a, 0, true)?;
    let ps = str_items(a, 1, true)?;
    Ok(Value::Bool(ss.iter().any(|s| ps.iter().any(|p| f(s, p)))))
}

fn format_int(_: &mut Ctx, a: &[Value]) -> BuiltinResult {
    let n = arg_num(a, 0)?;
    let base = arg_num(a, 1)?;
    let radix = match base.as_i64() {
        Some(b @ (2 | 8 | 10 | 16)) if base.is_integer() => b as u32,
        _ => return Err(BuiltinError::Type("operand 2 must be one of {2, 8, 10, 16}".into())),
    };
    // Truncated toward zero, as Go's big.Float.Int does.
    let i = match n.plain() {
        Number::Float(f) => BigInt::from_f64(f.trunc()).unwrap_or_default(),
        n => n.as_bigint().unwrap_or_default(),
    };
    Ok(Value::string(i.to_str_radix(radix)))
}

/// Rune index of a byte offset.
fn rune_index(s: &str, byte: usize) -> usize {
    s.get(..byte).map(|p| p.chars().count()).unwrap_or(0)
}

fn indexof(_: &mut Ctx, a: &[Value]) -> BuiltinResult {
    let (s, sub) = (arg_str(a, 0)?, arg_str(a, 1)?);
    if sub.is_empty() {
        return Err(BuiltinError::Eval("empty search character".into()));
    }
    Ok(Value::int(match s.find(sub) {
        Some(b) => rune_index(s, b) as i64,
        None => -1,
    }))
}

fn indexof_n(_: &mut Ctx, a: &[Value]) -> BuiltinResult {
    let (s, sub) = (arg_str(a, 0)?, arg_str(a, 1)?);
    if sub.is_empty() {
        return Err(BuiltinError::Eval("empty search character".into()));
    }
    // Every (possibly overlapping) occurrence, by rune position.
    let mut out = Vec::new();
    for (runes, (b, _)) in s.char_indices().enumerate() {
        if s[b..].starts_with(sub) {
            out.push(Value::int(runes as i64));
        }
    }
    Ok(Value::from_array(out))
}

/// Go's `unicode.ToLower` per rune: a rune whose lowercase is several runes stays as it is.
fn go_lower(s: &str) -> String {
    if s.is_ascii() {
        return s.to_ascii_lowercase();
    }
    s.chars()
        .map(|c| {
            if c == '\u{130}' {
                // Simple case mapping (Go's): İ lowers to a plain i.
                return 'i';
            }
            let mut l = c.to_lowercase();
            match (l.next(), l.next()) {
                (Some(x), None) => x,
                _ => c,
            }
        })
        .collect()
}

fn go_upper(s: &str) -> String {
    if s.is_ascii() {
        return s.to_ascii_uppercase();
    }
    s.chars()
        .map(|c| {
            let mut u = c.to_uppercase();
            match (u.next(), u.next()) {
                (Some(x), None) => x,
                _ => c,
            }
        })
        .collect()
}

/// Go's `strings.Split`: an empty separator splits into runes.
fn go_split<'a>(s: &'a str, sep: &str) -> Vec<&'a str> {
    if sep.is_empty() {
        return s.char_indices().map(|(i, c)| &s[i..i + c.len_utf8()]).collect();
    }
    s.split(sep).collect()
}

/// The first `n` parts, or the last `-n` when `n` is negative.
fn split_n(_: &mut Ctx, a: &[Value]) -> BuiltinResult {
    let (s, sep) = (arg_str(a, 0)?, arg_str(a, 1)?);
    let n = arg_int(a, 2)?;
    let parts = go_split(s, sep);
    let k = usize::try_from(n.unsigned_abs()).unwrap_or(usize::MAX).min(parts.len());
    let slice = if n >= 0 { &parts[..k] } else { &parts[parts.len() - k..] };
    Ok(strings_array(slice.iter().copied()))
}

fn substring(_: &mut Ctx, a: &[Value]) -> BuiltinResult {
    let s = arg_str(a, 0)?;
    let start = arg_int(a, 1)?;
    let len = arg_int(a, 2)?;
    if start < 0 {
        return Err(BuiltinError::Eval("negative offset".into()));
    }
    let start = start as usize;
    let mut it = s.char_indices().skip(start);
    let Some((from, _)) = it.next() else { return Ok(Value::string("")) };
    if len < 0 {
        return Ok(Value::string(&s[from..]));
    }
    let len = len as usize;
    let to = if len == 0 {
        from
    } else {
        s[from..].char_indices().nth(len).map(|(i, _)| from + i).unwrap_or(s.len())
    };
    Ok(Value::string(&s[from..to]))
}

/// Go's `strings.NewReplacer` over the pattern pairs in key order: at each
/// position the first key (in sorted order) that matches wins; replaced text
/// is not rescanned; an empty key matches between runes.
fn replace_n(_: &mut Ctx, a: &[Value]) -> BuiltinResult {
    let pats = arg_object(a, 0)?;
    let mut pairs: Vec<(&str, &str)> = Vec::with_capacity(pats.len());
    for (k, v) in pats.iter() {
        let Value::String(k) = k else {
            return Err(BuiltinError::Type("operand 1 non-string key found in pattern object".into()));
        };
        let Value::String(v) = v else {
            return Err(BuiltinError::Type("operand 1 non-string value found in pattern object".into()));
        };
        pairs.push((k, v));
    }
    let s = arg_str(a, 1)?;
    pairs.sort_by(|x, y| x.0.as_bytes().cmp(y.0.as_bytes()));
    if pairs.is_empty() {
        return Ok(Value::string(s));
    }
    let mut out = String::with_capacity(s.len());
    let mut i = 0usize;
    let mut prev_empty = false;
    while i <= s.len() {
        let rest = &s[i..];
        let hit = pairs.iter().find(|(k, _)| !(prev_empty && k.is_empty()) && rest.starts_with(k));
        match hit {
            Some((k, v)) => {
                out.push_str(v);
                prev_empty = k.is_empty();
                i += k.len();
            }
            None => {
                prev_empty = false;
                match rest.chars().next() {
                    Some(c) => {
                        out.push(c);
                        i += c.len_utf8();
                    }
                    None => break,
                }
            }
        }
    }
    Ok(Value::string(out))
}

// ---- strings.render_template: a subset of Go's text/template ----

fn render_template(_: &mut Ctx, a: &[Value]) -> BuiltinResult {
    let src = arg_str(a, 0)?;
    let vars = arg_object(a, 1)?;
    let root = Value::from_map(vars.clone());
    // Errors read like Go's for a template named "template".
    let nodes = tmpl::parse(src).map_err(|e| BuiltinError::Eval(format!("template: template{}", e)))?;
    let mut out = String::new();
    let mut st = tmpl::State { vars: vec![("$".to_string(), Some(root.clone()))], out: &mut out, steps: 0 };
    st.walk(&nodes, &Some(root)).map_err(|e| BuiltinError::Eval(format!("template: template: {}", e)))?;
    // OPA renders Go's `<no value>` (a missing key or a null) as `<undefined>`.
    Ok(Value::string(out.replace("<no value>", "<undefined>")))
}

mod tmpl {
    use crate::number::Number;
    use crate::value::Value;

    /// Upper bound on evaluation steps, so that nested ranges cannot run away.
    const MAX_STEPS: usize = 1_000_000;
    /// Upper bound on nested parentheses in one action (parsing recurses on them).
    const MAX_PARENS: usize = 100;

    #[derive(Debug, Clone)]
    pub enum Node {
        Text(String),
        Action(Pipe),
        If(Pipe, Vec<Node>, Vec<Node>),
        With(Pipe, Vec<Node>, Vec<Node>),
        Range(Pipe, Vec<Node>, Vec<Node>),
        Break,
        Continue,
    }

    #[derive(Debug, Clone, Default)]
    pub struct Pipe {
        decl: Vec<String>,
        assign: bool,
        cmds: Vec<Vec<Arg>>,
    }

    #[derive(Debug, Clone)]
    enum Arg {
        Dot,
        Field(Vec<String>),
        Var(String, Vec<String>),
        Lit(Value),
        Nil,
        Ident(String),
        Sub(Pipe, Vec<String>),
    }

    #[derive(Debug, Clone, PartialEq)]
    enum Tok {
        Ident(String),
        Field(String),
        Var(String),
        Str(String),
        Num(String),
        LParen,
        RParen,
        Pipe,
        Declare,
        Assign,
        Comma,
        Dot,
    }

    /// One `{{...}}` or a run of text.
    enum Item {
        Text(String),
        Action(Vec<Tok>, usize),
    }

    fn lex_action(s: &str, line: usize) -> Result<Vec<Tok>, String> {
        let b: Vec<char> = s.chars().collect();
        let mut i = 0;
        let mut out = Vec::new();
        let mut depth = 0usize;
        let ident_char = |c: char| c == '_' || c.is_alphanumeric();
        while i < b.len() {
            let c = b[i];
            if c.is_whitespace() {
                i += 1;
            } else if c == '(' {
                depth += 1;
                if depth > MAX_PARENS {
                    return Err(format!(":{}: parentheses nested too deeply", line));
                }
                out.push(Tok::LParen);
                i += 1;
            } else if c == ')' {
                depth = depth.saturating_sub(1);
                out.push(Tok::RParen);
                i += 1;
            } else if c == '|' {
                out.push(Tok::Pipe);
                i += 1;
            } else if c == ',' {
                out.push(Tok::Comma);
                i += 1;
            } else if c == ':' && b.get(i + 1) == Some(&'=') {
                out.push(Tok::Declare);
                i += 2;
            } else if c == '=' {
                out.push(Tok::Assign);
                i += 1;
            } else if c == '.' && !b.get(i + 1).is_some_and(|d| d.is_ascii_digit()) {
                // `.` or a field chain `.a.b` (each link its own token).
                let mut j = i + 1;
                while j < b.len() && ident_char(b[j]) {
                    j += 1;
                }
                if j == i + 1 {
                    out.push(Tok::Dot);
                } else {
                    out.push(Tok::Field(b[i + 1..j].iter().collect()));
                }
                i = j;
            } else if c == '$' {
                let mut j = i + 1;
                while j < b.len() && ident_char(b[j]) {
                    j += 1;
                }
                out.push(Tok::Var(b[i..j].iter().collect()));
                i = j;
            } else if c == '"' {
                let mut j = i + 1;
                let mut v = String::new();
                loop {
                    match b.get(j) {
                        None | Some('\n') => return Err(format!(":{}: unterminated quoted string", line)),
                        Some('"') => break,
                        Some('\\') => {
                            j += 1;
                            match b.get(j) {
                                Some('n') => v.push('\n'),
                                Some('t') => v.push('\t'),
                                Some('r') => v.push('\r'),
                                Some('\\') => v.push('\\'),
                                Some('"') => v.push('"'),
                                Some('\'') => v.push('\''),
                                Some(x) => return Err(format!(":{}: invalid syntax: \\{}", line, x)),
                                None => return Err(format!(":{}: unterminated quoted string", line)),
                            }
                        }
                        Some(x) => v.push(*x),
                    }
                    j += 1;
                }
                out.push(Tok::Str(v));
                i = j + 1;
            } else if c == '`' {
                let mut j = i + 1;
                while j < b.len() && b[j] != '`' {
                    j += 1;
                }
                if j >= b.len() {
                    return Err(format!(":{}: unterminated raw quoted string", line));
                }
                out.push(Tok::Str(b[i + 1..j].iter().collect()));
                i = j + 1;
            } else if c.is_ascii_digit() || ((c == '-' || c == '+' || c == '.') && b.get(i + 1).is_some_and(|d| d.is_ascii_digit())) {
                let mut j = i + 1;
                while j < b.len() && (b[j].is_ascii_alphanumeric() || b[j] == '.' || ((b[j] == '-' || b[j] == '+') && matches!(b[j - 1], 'e' | 'E'))) {
                    j += 1;
                }
                out.push(Tok::Num(b[i..j].iter().collect()));
                i = j;
            } else if ident_char(c) {
                let mut j = i;
                while j < b.len() && ident_char(b[j]) {
                    j += 1;
                }
                out.push(Tok::Ident(b[i..j].iter().collect()));
                i = j;
            } else {
                return Err(format!(":{}: unexpected {:?} in command", line, c));
            }
        }
        Ok(out)
    }

    fn split_items(src: &str) -> Result<Vec<Item>, String> {
        let mut items = Vec::new();
        let mut rest = src;
        let mut line = 1;
        let mut trim_next = false;
        while !rest.is_empty() {
            let Some(open) = rest.find("{{") else {
                let mut t = rest;
                if trim_next {
                    t = t.trim_start();
                }
                items.push(Item::Text(t.to_string()));
                break;
            };
            let mut text = &rest[..open];
            if trim_next {
                text = text.trim_start();
            }
            let after = &rest[open + 2..];
            let trim_left = after.starts_with("- ") || after.starts_with("-\t") || after.starts_with("-\n") || after.starts_with("-\r");
            if trim_left {
                text = text.trim_end();
            }
            if !text.is_empty() {
                items.push(Item::Text(text.to_string()));
            }
            line += rest[..open].matches('\n').count();
            let body_start = if trim_left { 2 } else { 0 };
            let body_all = &after[body_start..];
            let close;
            let body;
            let trimmed_comment = body_all.trim_start();
            if trimmed_comment.starts_with("/*") {
                let Some(end) = trimmed_comment.find("*/") else { return Err(format!(":{}: unclosed comment", line)) };
                let offset = body_all.len() - trimmed_comment.len() + end + 2;
                let tail = &body_all[offset..];
                let t2 = tail.trim_start();
                let (trim_r, skip) = if let Some(x) = t2.strip_prefix("-}}") {
                    (true, tail.len() - x.len())
                } else if let Some(x) = t2.strip_prefix("}}") {
                    (false, tail.len() - x.len())
                } else {
                    return Err(format!(":{}: comment ends before closing delimiter", line));
                };
                trim_next = trim_r;
                line += body_all[..offset].matches('\n').count();
                rest = &body_all[offset + skip..];
                continue;
            }
            match body_all.find("}}") {
                Some(c) => {
                    close = c;
                    body = &body_all[..c];
                }
                None => return Err(format!(":{}: unclosed action", line)),
            }
            let mut b = body;
            trim_next = false;
            if b.ends_with(" -") || b.ends_with("\t-") || b.ends_with("\n-") || b.ends_with("\r-") {
                b = &b[..b.len() - 1];
                trim_next = true;
            }
            items.push(Item::Action(lex_action(b, line)?, line));
            line += body.matches('\n').count();
            rest = &body_all[close + 2..];
        }
        Ok(items)
    }

    struct Parser {
        items: Vec<Item>,
        pos: usize,
    }

    /// How a list of nodes ended.
    enum Close {
        Eof,
        End,
        Else(Vec<Tok>),
    }

    pub fn parse(src: &str) -> Result<Vec<Node>, String> {
        let items = split_items(src)?;
        let mut p = Parser { items, pos: 0 };
        let (nodes, end) = p.list(0)?;
        match end {
            Close::Eof => Ok(nodes),
            Close::End => Err(":1: unexpected {{end}}".into()),
            Close::Else(_) => Err(":1: unexpected {{else}}".into()),
        }
    }

    impl Parser {
        fn list(&mut self, depth: usize) -> Result<(Vec<Node>, Close), String> {
            if depth > 100 {
                return Err("template nested too deeply".into());
            }
            let mut nodes = Vec::new();
            while self.pos < self.items.len() {
                let idx = self.pos;
                self.pos += 1;
                let (toks, line) = match &self.items[idx] {
                    Item::Text(t) => {
                        nodes.push(Node::Text(t.clone()));
                        continue;
                    }
                    Item::Action(t, l) => (t.clone(), *l),
                };
                match toks.first() {
                    Some(Tok::Ident(k)) if k == "end" => return Ok((nodes, Close::End)),
                    Some(Tok::Ident(k)) if k == "else" => return Ok((nodes, Close::Else(toks[1..].to_vec()))),
                    Some(Tok::Ident(k)) if k == "if" || k == "with" || k == "range" => {
                        let kind = k.clone();
                        let node = self.control(&kind, &toks[1..], line, depth)?;
                        nodes.push(node);
                    }
                    Some(Tok::Ident(k)) if k == "break" => nodes.push(Node::Break),
                    Some(Tok::Ident(k)) if k == "continue" => nodes.push(Node::Continue),
                    Some(Tok::Ident(k)) if matches!(k.as_str(), "define" | "template" | "block") => {
                        return Err(format!(":{}: {{{{{}}}}} is not supported", line, k))
                    }
                    None => return Err(format!(":{}: missing value for command", line)),
                    _ => nodes.push(Node::Action(pipeline(&toks, line, true)?)),
                }
            }
            Ok((nodes, Close::Eof))
        }

        fn control(&mut self, kind: &str, toks: &[Tok], line: usize, depth: usize) -> Result<Node, String> {
            let pipe = pipeline(toks, line, kind == "range" || kind == "if" || kind == "with")?;
            let (body, end) = self.list(depth + 1)?;
            let els = match end {
                Close::Eof => return Err(format!(":{}: unexpected EOF", line)),
                Close::End => Vec::new(),
                Close::Else(rest) => {
                    if rest.is_empty() {
                        let (els, end2) = self.list(depth + 1)?;
                        match end2 {
                            Close::End => els,
                            Close::Eof => return Err(format!(":{}: unexpected EOF", line)),
                            Close::Else(_) => return Err(format!(":{}: expected end; found {{{{else}}}}", line)),
                        }
                    } else {
                        // `{{else if ...}}` / `{{else with ...}}`: a nested control sharing our `{{end}}`.
                        match rest.first() {
                            Some(Tok::Ident(k)) if (k == "if" || k == "with") && kind != "range" => {
                                let k = k.clone();
                                vec![self.control(&k, &rest[1..], line, depth + 1)?]
                            }
                            _ => return Err(format!(":{}: unexpected {:?} in else", line, rest.first())),
                        }
                    }
                }
            };
            Ok(match kind {
                "if" => Node::If(pipe, body, els),
                "with" => Node::With(pipe, body, els),
                _ => Node::Range(pipe, body, els),
            })
        }
    }

    fn pipeline(toks: &[Tok], line: usize, allow_decl: bool) -> Result<Pipe, String> {
        let mut p = Pipe::default();
        let mut rest = toks;
        // Declarations: `$x :=`, `$x =`, `$i, $v :=`.
        if allow_decl {
            if let Some(Tok::Var(v)) = rest.first() {
                match (rest.get(1), rest.get(2), rest.get(3)) {
                    (Some(Tok::Declare), ..) | (Some(Tok::Assign), ..) => {
                        p.assign = rest.get(1) == Some(&Tok::Assign);
                        p.decl.push(v.clone());
                        rest = &rest[2..];
                    }
                    (Some(Tok::Comma), Some(Tok::Var(v2)), Some(Tok::Declare | Tok::Assign)) => {
                        p.assign = rest.get(3) == Some(&Tok::Assign);
                        p.decl.push(v.clone());
                        p.decl.push(v2.clone());
                        rest = &rest[4..];
                    }
                    _ => {}
                }
            }
        }
        let mut pos = 0;
        loop {
            let (cmd, n) = command(rest, pos, line)?;
            if cmd.is_empty() {
                return Err(format!(":{}: missing value for command", line));
            }
            p.cmds.push(cmd);
            pos = n;
            match rest.get(pos) {
                None => break,
                Some(Tok::Pipe) => pos += 1,
                Some(t) => return Err(format!(":{}: unexpected {:?} in operand", line, t)),
            }
        }
        Ok(p)
    }

    /// Operands up to `|`, `)` or the end; returns the next position.
    fn command(toks: &[Tok], mut pos: usize, line: usize) -> Result<(Vec<Arg>, usize), String> {
        let mut args = Vec::new();
        while let Some(t) = toks.get(pos) {
            let arg = match t {
                Tok::Pipe | Tok::RParen => break,
                Tok::Dot => Arg::Dot,
                Tok::Field(f) => {
                    let mut chain = vec![f.clone()];
                    while let Some(Tok::Field(g)) = toks.get(pos + 1) {
                        chain.push(g.clone());
                        pos += 1;
                    }
                    Arg::Field(chain)
                }
                Tok::Var(v) => {
                    let mut chain = Vec::new();
                    while let Some(Tok::Field(g)) = toks.get(pos + 1) {
                        chain.push(g.clone());
                        pos += 1;
                    }
                    Arg::Var(v.clone(), chain)
                }
                Tok::Str(s) => Arg::Lit(Value::string(s.as_str())),
                Tok::Num(n) => Arg::Lit(Value::Number(Number::parse(n).ok_or_else(|| format!(":{}: bad number syntax: {:?}", line, n))?)),
                Tok::Ident(k) if k == "true" => Arg::Lit(Value::Bool(true)),
                Tok::Ident(k) if k == "false" => Arg::Lit(Value::Bool(false)),
                Tok::Ident(k) if k == "nil" => Arg::Nil,
                Tok::Ident(k) => {
                    if !FUNCS.contains(&k.as_str()) {
                        return Err(format!(":{}: function {:?} not defined", line, k));
                    }
                    Arg::Ident(k.clone())
                }
                Tok::LParen => {
                    // Find the matching parenthesis.
                    let mut depth = 0;
                    let mut j = pos;
                    loop {
                        match toks.get(j) {
                            Some(Tok::LParen) => depth += 1,
                            Some(Tok::RParen) => {
                                depth -= 1;
                                if depth == 0 {
                                    break;
                                }
                            }
                            Some(_) => {}
                            None => return Err(format!(":{}: unclosed left paren", line)),
                        }
                        j += 1;
                    }
                    let inner = pipeline(&toks[pos + 1..j], line, false)?;
                    pos = j;
                    let mut chain = Vec::new();
                    while let Some(Tok::Field(g)) = toks.get(pos + 1) {
                        chain.push(g.clone());
                        pos += 1;
                    }
                    Arg::Sub(inner, chain)
                }
                t => return Err(format!(":{}: unexpected {:?} in operand", line, t)),
            };
            args.push(arg);
            pos += 1;
        }
        Ok((args, pos))
    }

    const FUNCS: &[&str] = &["and", "or", "not", "len", "index", "eq", "ne", "lt", "le", "gt", "ge", "print", "println", "printf"];

    /// A value, or `None` for a missing map key (printed as `<undefined>`).
    type V = Option<Value>;

    enum Flow {
        Normal,
        Break,
        Continue,
    }

    pub struct State<'a> {
        pub vars: Vec<(String, V)>,
        pub out: &'a mut String,
        pub steps: usize,
    }

    fn truthy(v: &V) -> bool {
        match v {
            None | Some(Value::Null) => false,
            Some(Value::Bool(b)) => *b,
            Some(Value::Number(n)) => !n.is_zero(),
            Some(Value::String(s)) => !s.is_empty(),
            Some(Value::Array(a)) => !a.is_empty(),
            Some(Value::Object(o)) => !o.is_empty(),
            Some(Value::Set(s)) => !s.is_empty(),
        }
    }

    /// Go's `%v` of the Go value OPA converts a Rego value to.
    fn print_go(out: &mut String, v: &V) {
        match v {
            None | Some(Value::Null) => out.push_str("<no value>"),
            Some(v) => print_value(out, v),
        }
    }

    fn print_value(out: &mut String, v: &Value) {
        match v {
            Value::Null => out.push_str("<nil>"),
            Value::Bool(b) => out.push_str(if *b { "true" } else { "false" }),
            Value::Number(n) => out.push_str(&n.to_string()),
            Value::String(s) => out.push_str(s),
            Value::Array(a) => seq(out, a.iter()),
            Value::Set(s) => seq(out, s.iter()),
            Value::Object(o) => {
                out.push_str("map[");
                for (i, (k, v)) in o.iter().enumerate() {
                    if i > 0 {
                        out.push(' ');
                    }
                    print_value(out, k);
                    out.push(':');
                    print_value(out, v);
                }
                out.push(']');
            }
        }
    }

    fn seq<'a>(out: &mut String, it: impl Iterator<Item = &'a Value>) {
        out.push('[');
        for (i, v) in it.enumerate() {
            if i > 0 {
                out.push(' ');
            }
            print_value(out, v);
        }
        out.push(']');
    }

    fn field(v: V, name: &str) -> Result<V, String> {
        match v {
            Some(Value::Object(o)) => Ok(o.get(&Value::string(name)).cloned()),
            None | Some(Value::Null) => Ok(None),
            Some(other) => Err(format!("can't evaluate field {} in type {}", name, other.type_name())),
        }
    }

    fn chain(mut v: V, names: &[String]) -> Result<V, String> {
        for n in names {
            v = field(v, n)?;
        }
        Ok(v)
    }

    impl State<'_> {
        fn tick(&mut self) -> Result<(), String> {
            self.steps += 1;
            if self.steps > MAX_STEPS {
                return Err("template evaluation too long".into());
            }
            Ok(())
        }

        fn var(&self, name: &str) -> Result<V, String> {
            self.vars
                .iter()
                .rev()
                .find(|(n, _)| n == name)
                .map(|(_, v)| v.clone())
                .ok_or_else(|| format!("undefined variable: {}", name))
        }

        fn set_var(&mut self, name: &str, v: V, assign: bool) -> Result<(), String> {
            if assign {
                match self.vars.iter_mut().rev().find(|(n, _)| n == name) {
                    Some(slot) => slot.1 = v,
                    None => return Err(format!("undefined variable: {}", name)),
                }
            } else {
                self.vars.push((name.to_string(), v));
            }
            Ok(())
        }

        pub fn walk(&mut self, nodes: &[Node], dot: &V) -> Result<(), String> {
            match self.walk_flow(nodes, dot)? {
                Flow::Normal => Ok(()),
                _ => Err("{{break}} or {{continue}} outside {{range}}".into()),
            }
        }

        fn walk_flow(&mut self, nodes: &[Node], dot: &V) -> Result<Flow, String> {
            let mark = self.vars.len();
            let r = self.walk_inner(nodes, dot);
            self.vars.truncate(mark);
            r
        }

        fn walk_inner(&mut self, nodes: &[Node], dot: &V) -> Result<Flow, String> {
            for n in nodes {
                self.tick()?;
                match n {
                    Node::Text(t) => self.out.push_str(t),
                    Node::Action(p) => {
                        let v = self.pipe(p, dot)?;
                        if p.decl.is_empty() {
                            print_go(self.out, &v);
                        }
                    }
                    Node::If(p, body, els) => {
                        let v = self.pipe(p, dot)?;
                        let f = if truthy(&v) { self.walk_flow(body, dot)? } else { self.walk_flow(els, dot)? };
                        if !matches!(f, Flow::Normal) {
                            return Ok(f);
                        }
                    }
                    Node::With(p, body, els) => {
                        let v = self.pipe(p, dot)?;
                        let f = if truthy(&v) { self.walk_flow(body, &v)? } else { self.walk_flow(els, dot)? };
                        if !matches!(f, Flow::Normal) {
                            return Ok(f);
                        }
                    }
                    Node::Range(p, body, els) => {
                        let mut bare = p.clone();
                        bare.decl.clear();
                        let v = self.pipe(&bare, dot)?;
                        let pairs: Vec<(Value, Value)> = match &v {
                            None | Some(Value::Null) => Vec::new(),
                            Some(Value::Array(a)) => a.iter().enumerate().map(|(i, x)| (Value::int(i as i64), x.clone())).collect(),
                            Some(Value::Set(s)) => s.iter().enumerate().map(|(i, x)| (Value::int(i as i64), x.clone())).collect(),
                            Some(Value::Object(o)) => o.iter().map(|(k, x)| (k.clone(), x.clone())).collect(),
                            Some(Value::Number(n)) if n.is_integer() => {
                                let k = n.as_i64().unwrap_or(0).clamp(0, MAX_STEPS as i64);
                                (0..k).map(|i| (Value::int(i), Value::int(i))).collect()
                            }
                            Some(other) => return Err(format!("range can't iterate over {}", other)),
                        };
                        if pairs.is_empty() {
                            let f = self.walk_flow(els, dot)?;
                            if !matches!(f, Flow::Normal) {
                                return Ok(f);
                            }
                            continue;
                        }
                        for (k, x) in pairs {
                            let mark = self.vars.len();
                            match p.decl.as_slice() {
                                [v1] => self.set_var(v1, Some(x.clone()), p.assign)?,
                                [v1, v2] => {
                                    self.set_var(v1, Some(k), p.assign)?;
                                    self.set_var(v2, Some(x.clone()), p.assign)?;
                                }
                                _ => {}
                            }
                            let f = self.walk_flow(body, &Some(x));
                            self.vars.truncate(mark);
                            if let Flow::Break = f? {
                                break;
                            }
                        }
                    }
                    Node::Break => return Ok(Flow::Break),
                    Node::Continue => return Ok(Flow::Continue),
                }
            }
            Ok(Flow::Normal)
        }

        fn pipe(&mut self, p: &Pipe, dot: &V) -> Result<V, String> {
            let mut last: Option<V> = None;
            for cmd in &p.cmds {
                last = Some(self.cmd(cmd, dot, last)?);
            }
            let v = last.unwrap_or(None);
            if let Some(name) = p.decl.first() {
                self.set_var(name, v.clone(), p.assign)?;
            }
            Ok(v)
        }

        fn arg(&mut self, a: &Arg, dot: &V) -> Result<V, String> {
            self.tick()?;
            match a {
                Arg::Dot => Ok(dot.clone()),
                Arg::Field(c) => chain(dot.clone(), c),
                Arg::Var(n, c) => chain(self.var(n)?, c),
                Arg::Lit(v) => Ok(Some(v.clone())),
                Arg::Nil => Ok(Some(Value::Null)),
                Arg::Ident(f) => self.call(f, &[], dot, None),
                Arg::Sub(p, c) => {
                    let v = self.pipe(p, dot)?;
                    chain(v, c)
                }
            }
        }

        fn cmd(&mut self, cmd: &[Arg], dot: &V, prev: Option<V>) -> Result<V, String> {
            match cmd.first() {
                Some(Arg::Ident(f)) => self.call(f, &cmd[1..], dot, prev),
                Some(a) => {
                    if cmd.len() > 1 || prev.is_some() {
                        return Err("can't give argument to non-function".into());
                    }
                    self.arg(a, dot)
                }
                None => Err("empty command".into()),
            }
        }

        fn call(&mut self, f: &str, args: &[Arg], dot: &V, prev: Option<V>) -> Result<V, String> {
            // `and`/`or` short-circuit.
            if f == "and" || f == "or" {
                if args.is_empty() && prev.is_none() {
                    return Err(format!("wrong number of args for {}: want at least 1 got 0", f));
                }
                let mut last = None;
                for a in args {
                    let v = self.arg(a, dot)?;
                    if truthy(&v) == (f == "or") {
                        return Ok(v);
                    }
                    last = Some(v);
                }
                if let Some(p) = prev {
                    return Ok(p);
                }
                return Ok(last.unwrap_or(None));
            }
            let mut vals = Vec::with_capacity(args.len() + 1);
            for a in args {
                vals.push(self.arg(a, dot)?);
            }
            if let Some(p) = prev {
                vals.push(p);
            }
            let want = |n: usize| -> Result<(), String> {
                if vals.len() != n {
                    return Err(format!("wrong number of args for {}: want {} got {}", f, n, vals.len()));
                }
                Ok(())
            };
            match f {
                "not" => {
                    want(1)?;
                    Ok(Some(Value::Bool(!truthy(&vals[0]))))
                }
                "len" => {
                    want(1)?;
                    let n = match &vals[0] {
                        Some(Value::String(s)) => s.len(),
                        Some(Value::Array(a)) => a.len(),
                        Some(Value::Object(o)) => o.len(),
                        Some(Value::Set(s)) => s.len(),
                        Some(v) => return Err(format!("error calling len: len of type {}", v.type_name())),
                        None => return Err("error calling len: len of nil pointer".into()),
                    };
                    Ok(Some(Value::int(n as i64)))
                }
                "index" => {
                    let Some((first, keys)) = vals.split_first() else {
                        return Err("wrong number of args for index: want at least 1 got 0".into());
                    };
                    let mut cur = first.clone();
                    for k in keys {
                        cur = match (&cur, k) {
                            (Some(Value::Object(o)), Some(k)) => o.get(k).cloned(),
                            (Some(Value::Array(a)), Some(Value::Number(n))) => match n.as_i64().and_then(|i| usize::try_from(i).ok()) {
                                Some(i) if i < a.len() => a.get(i).cloned(),
                                _ => return Err(format!("error calling index: index out of range: {}", n)),
                            },
                            (Some(Value::String(s)), Some(Value::Number(n))) => match n.as_i64().and_then(|i| usize::try_from(i).ok()) {
                                Some(i) if i < s.len() => Some(Value::int(s.as_bytes()[i] as i64)),
                                _ => return Err(format!("error calling index: index out of range: {}", n)),
                            },
                            (None, _) | (Some(Value::Null), _) => None,
                            (Some(v), _) => return Err(format!("error calling index: can't index item of type {}", v.type_name())),
                        };
                    }
                    Ok(cur)
                }
                "eq" => {
                    if vals.len() < 2 {
                        return Err("error calling eq: missing argument for comparison".into());
                    }
                    let a0 = &vals[0];
                    Ok(Some(Value::Bool(vals[1..].iter().any(|b| b == a0))))
                }
                "ne" => {
                    want(2)?;
                    Ok(Some(Value::Bool(vals[0] != vals[1])))
                }
                "lt" | "le" | "gt" | "ge" => {
                    want(2)?;
                    let (a, b) = match (&vals[0], &vals[1]) {
                        (Some(a @ Value::Number(_)), Some(b @ Value::Number(_))) | (Some(a @ Value::String(_)), Some(b @ Value::String(_))) => (a, b),
                        _ => return Err(format!("error calling {}: incompatible types for comparison", f)),
                    };
                    let o = a.cmp(b);
                    Ok(Some(Value::Bool(match f {
                        "lt" => o.is_lt(),
                        "le" => o.is_le(),
                        "gt" => o.is_gt(),
                        _ => o.is_ge(),
                    })))
                }
                "print" | "println" => {
                    let mut s = String::new();
                    for (i, v) in vals.iter().enumerate() {
                        let is_str = |v: &V| matches!(v, Some(Value::String(_)));
                        if i > 0 && (f == "println" || (!is_str(v) && !is_str(&vals[i - 1]))) {
                            s.push(' ');
                        }
                        print_go(&mut s, v);
                    }
                    if f == "println" {
                        s.push('\n');
                    }
                    Ok(Some(Value::string(s)))
                }
                "printf" => {
                    let Some((Some(Value::String(fmt)), rest)) = vals.split_first() else {
                        return Err("error calling printf: format must be a string".into());
                    };
                    let rest: Vec<Value> = rest.iter().map(|v| v.clone().unwrap_or(Value::Null)).collect();
                    Ok(Some(Value::string(crate::builtins::sprintf::format(fmt, &rest))))
                }
                _ => Err(format!("function {:?} not defined", f)),
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    fn c() -> Ctx {
        Ctx::new(0, true)
    }
    fn s(x: &str) -> Value {
        Value::string(x)
    }
    fn obj(j: &str) -> Value {
        Value::from_json_str(j).unwrap()
    }
    fn call(f: BuiltinFn, a: Vec<Value>) -> BuiltinResult {
        f(&mut c(), &a)
    }
    use super::super::BuiltinFn;

    #[test]
    fn replace_n_semantics() {
        let r = |p: &str, x: &str| call(replace_n, vec![obj(p), s(x)]).unwrap();
        assert_eq!(r(r#"{"info": "X", "anotherinfo": "Y"}"#, "anotherinfo"), s("Y"));
        assert_eq!(r(r#"{"a": "YY", "bba": "bX"}"#, "bbab"), s("bXb"));
        assert_eq!(r(r#"{"ab": "b", "b": "Y"}"#, "baaabbbba"), s("YaabYYYa"));
        assert_eq!(r(r#"{"a": "Xa", "ab": "X", "ba": "bYa", "aaa": "X"}"#, "aaaaab"), s("XaXaXaXaXab"));
        assert_eq!(r(r#"{"": "X"}"#, ""), s("X"));
        assert_eq!(r(r#"{"": "X", "a": "Y"}"#, "ab"), s("XYXbX"));
        assert_eq!(r(r#"{"": "-", "é": "e"}"#, "aéb"), s("-a-e-b-"));
        assert_eq!(r(r#"{"": "-"}"#, "é"), s("-é-"));
    }

    #[test]
    fn substrings() {
        let sub = |x: &str, a: i64, b: i64| call(substring, vec![s(x), Value::int(a), Value::int(b)]);
        assert_eq!(sub("abcdefgh", 2, -1), Ok(s("cdefgh")));
        assert_eq!(sub("aåäö", 2, -1), Ok(s("äö")));
        assert_eq!(sub("åäö", 4, -1), Ok(s("")));
        assert_eq!(sub("åäö", 1, 1), Ok(s("ä")));
        assert_eq!(sub("åäö", 1, 0), Ok(s("")));
        assert!(sub("abc", -1, 1).is_err());
        assert!(call(substring, vec![s("abc"), Value::float(1.5), Value::int(1)]).is_err());
    }

    #[test]
    fn index_and_count() {
        assert_eq!(call(indexof, vec![s("skön var våren"), s("vår")]), Ok(Value::int(9)));
        assert_eq!(call(indexof, vec![s("μ"), s("μμ")]), Ok(Value::int(-1)));
        assert_eq!(call(indexof_n, vec![s("aaa"), s("aa")]), Ok(Value::from(vec![Value::int(0), Value::int(1)])));
        assert!(call(indexof, vec![s("a"), s("")]).is_err());
    }

    #[test]
    fn split_and_format() {
        assert_eq!(call(split_n, vec![s("a.b.c.d"), s("."), Value::int(-2)]), Ok(Value::from(vec![s("c"), s("d")])));
        assert_eq!(call(split_n, vec![s("abc"), s(""), Value::int(2)]), Ok(Value::from(vec![s("a"), s("b")])));
        assert!(matches!(call(split_n, vec![s("a"), s("."), Value::float(1.5)]), Err(BuiltinError::Type(_))));
        assert_eq!(call(format_int, vec![Value::float(15.5), Value::int(16)]), Ok(s("f")));
        assert_eq!(call(format_int, vec![Value::float(-15.5), Value::int(2)]), Ok(s("-1111")));
        assert!(call(format_int, vec![Value::int(1), Value::int(3)]).is_err());
    }

    #[test]
    fn collections() {
        let arr = Value::from(vec![s("a"), Value::int(1)]);
        assert_eq!(
            call(concat, vec![s(","), arr]),
            Err(BuiltinError::Type("operand 2 must be array of strings but got array containing number".into()))
        );
        assert_eq!(
            call(concat, vec![s(","), Value::int(1)]),
            Err(BuiltinError::Type("operand 2 must be one of {set, array} but got number".into()))
        );
        assert_eq!(go_upper("straße"), "STRAßE");
        assert_eq!(go_lower("ΑΣ"), "ασ");
        assert_eq!(go_lower("İ"), "i");
    }

    fn render(t: &str, vars: &str) -> Result<String, BuiltinError> {
        match call(render_template, vec![s(t), obj(vars)])? {
            Value::String(x) => Ok(x.to_string()),
            _ => unreachable!(),
        }
    }

    #[test]
    fn templates() {
        assert_eq!(render("{{.test}}", r#"{"test": "hello world"}"#).unwrap(), "hello world");
        assert_eq!(render("{{.test}}", r#"{"test": 2023}"#).unwrap(), "2023");
        assert_eq!(
            render(r#"{{range $i, $name := .hellonames}}{{if $i}},{{end}}hello {{$name}}{{end}}"#, r#"{"hellonames": ["rohan", "john doe"]}"#).unwrap(),
            "hello rohan,hello john doe"
        );
        assert_eq!(render("test {{.foo}} {{.bar}} {{.baz}}", r#"{"baz": 1}"#).unwrap(), "test <undefined> <undefined> 1");
        assert_eq!(render("{{if eq .a 1}}one{{else if eq .a 2}}two{{else}}many{{end}}", r#"{"a": 2}"#).unwrap(), "two");
        assert_eq!(render("{{- /* c */ -}}  {{ .a -}}  !", r#"{"a": "x"}"#).unwrap(), "x!");
        assert_eq!(render("{{range .xs}}[{{.}}]{{else}}none{{end}}", r#"{"xs": []}"#).unwrap(), "none");
        assert_eq!(render("{{with .o}}{{.k}}{{end}} {{len .xs}} {{index .xs 1}}", r#"{"o": {"k": "v"}, "xs": [1, 2]}"#).unwrap(), "v 2 2");
        assert_eq!(render("{{printf \"%05d\" .n}} {{.n | printf \"%x\"}}", r#"{"n": 42}"#).unwrap(), "00042 2a");
        assert_eq!(render("{{$x := .a}}{{$x}}", r#"{"a": [1, "b"]}"#).unwrap(), "[1 b]");
        assert!(render("{{.a", "{}").is_err());
        assert!(render("{{if .a}}", "{}").is_err());
        assert!(render("{{foo .a}}", "{}").is_err());
        assert!(render(&format!("{{{{{}.a{}}}}}", "(".repeat(100_000), ")".repeat(100_000)), "{}").is_err());
        assert!(render(&"{{if true}}".repeat(100_000), "{}").is_err());
        assert!(render("{{range $i := .xs}}{{range $.xs}}{{range $.xs}}x{{end}}{{end}}{{end}}", &format!("{{\"xs\": [{}]}}", vec!["1"; 200].join(","))).is_err());
        assert_eq!(render("{{(.a).b}} {{(len .xs)}}", r#"{"a": {"b": 7}, "xs": [1]}"#).unwrap(), "7 1");
        assert_eq!(render("{{.n}} {{.xs}} <no value>", r#"{"n": null, "xs": [null]}"#).unwrap(), "<undefined> [<nil>] <undefined>");
    }
}
