//! encoding builtins: base64, base64url, hex, JSON, YAML and URL query
//! encodings with the behaviour of the Go functions OPA calls (Go's base64
//! decoder and its error offsets, `encoding/json` escaping and
//! `MarshalIndent` layout, yaml.v2's output style, `net/url` query rules),
//! plus `json.verify_schema` / `json.match_schema` over a JSON Schema subset.

use super::{arg_object, arg_str, BuiltinError, BuiltinResult, Ctx, Registry};
use crate::value::{Map, Value};
use std::fmt::Write as _;

pub fn register(r: &mut Registry) {
    r.func("encoding", "base64.encode", "(string) => string", base64_encode);
    r.func("encoding", "base64.decode", "(string) => string", base64_decode);
    r.func("encoding", "base64.is_valid", "(string) => boolean", base64_is_valid);
    r.func("encoding", "base64url.encode", "(string) => string", base64url_encode);
    r.func("encoding", "base64url.encode_no_pad", "(string) => string", base64url_encode_no_pad);
    r.func("encoding", "base64url.decode", "(string) => string", base64url_decode);
    r.func("encoding", "hex.encode", "(string) => string", hex_encode);
    r.func("encoding", "hex.decode", "(string) => string", hex_decode);
    r.func("encoding", "json.marshal", "(any) => string", json_marshal);
    r.func(
        "encoding",
        "json.marshal_with_options",
        "(any, {indent: string, prefix: string, pretty: boolean | string: any}) => string",
        json_marshal_with_options,
    );
    r.func("encoding", "json.unmarshal", "(string) => any", json_unmarshal);
    r.func("encoding", "json.is_valid", "(string) => boolean", json_is_valid);
    r.func("encoding", "yaml.marshal", "(any) => string", yaml_marshal);
    r.func("encoding", "yaml.unmarshal", "(string) => any", yaml_unmarshal);
    r.func("encoding", "yaml.is_valid", "(string) => boolean", yaml_is_valid);
    r.func("encoding", "urlquery.encode", "(string) => string", urlquery_encode);
    r.func("encoding", "urlquery.decode", "(string) => string", urlquery_decode);
    r.func(
        "encoding",
        "urlquery.encode_object",
        "(object[string: any<string, array[string], set[string]>]) => string",
        urlquery_encode_object,
    );
    r.func("encoding", "urlquery.decode_object", "(string) => object[string: array[string]]", urlquery_decode_object);
    schema::register(r);
}

/// Decoded bytes as a string; invalid UTF-8 becomes U+FFFD, as OPA's JSON output shows it.
fn bytes_value(b: Vec<u8>) -> Value {
    match String::from_utf8(b) {
        Ok(s) => Value::from(s),
        Err(e) => Value::from(String::from_utf8_lossy(e.as_bytes()).into_owned()),
    }
}

// ---- base64 (Go's encoding/base64) ----

const STD: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
const URL: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";

fn b64_encode(src: &[u8], alphabet: &[u8; 64], pad: bool) -> String {
    let mut out = String::with_capacity(src.len().div_ceil(3) * 4);
    for chunk in src.chunks(3) {
        let b = [chunk.first().copied().unwrap_or(0), chunk.get(1).copied().unwrap_or(0), chunk.get(2).copied().unwrap_or(0)];
        let v = (u32::from(b[0]) << 16) | (u32::from(b[1]) << 8) | u32::from(b[2]);
        let n = chunk.len() + 1;
        for k in 0..4 {
            if k < n {
                out.push(char::from(alphabet[((v >> (18 - 6 * k)) & 63) as usize]));
            } else if pad {
                out.push('=');
            }
        }
    }
    out
}

/// Go's `Encoding.DecodeString` with padding required (StdEncoding /
/// URLEncoding, non-strict): `\r` and `\n` are skipped; errors give the
/// offset of the offending byte, as `illegal base64 data at input byte N`.
fn b64_decode(src: &[u8], alphabet: &[u8; 64]) -> Result<Vec<u8>, usize> {
    let mut map = [0xffu8; 256];
    for (i, &c) in alphabet.iter().enumerate() {
        map[c as usize] = i as u8;
    }
    let is_nl = |c: u8| c == b'\n' || c == b'\r';
    let mut out = Vec::with_capacity(src.len() / 4 * 3);
    let mut si = 0usize;
    while si < src.len() {
        let mut dbuf = [0u8; 4];
        let mut dlen = 4;
        let mut j = 0usize;
        let mut trailing_err: Option<usize> = None;
        while j < 4 {
            if si == src.len() {
                if j == 0 {
                    return Ok(out);
                }
                // Padding is required: an incomplete quantum is an error.
                return Err(si - j);
            }
            let c = src[si];
            si += 1;
            let v = map[c as usize];
            if v != 0xff {
                dbuf[j] = v;
                j += 1;
                continue;
            }
            if is_nl(c) {
                continue;
            }
            if c != b'=' {
                return Err(si - 1);
            }
            // Padding: the quantum ends here.
            match j {
                0 | 1 => return Err(si - 1),
                2 => {
                    while si < src.len() && is_nl(src[si]) {
                        si += 1;
                    }
                    if si == src.len() {
                        return Err(src.len());
                    }
                    if src[si] != b'=' {
                        return Err(si - 1);
                    }
                    si += 1;
                }
                _ => {}
            }
            while si < src.len() && is_nl(src[si]) {
                si += 1;
            }
            if si < src.len() {
                trailing_err = Some(si);
            }
            dlen = j;
            break;
        }
        let val = (u32::from(dbuf[0]) << 18) | (u32::from(dbuf[1]) << 12) | (u32::from(dbuf[2]) << 6) | u32::from(dbuf[3]);
        let bytes = [(val >> 16) as u8, (val >> 8) as u8, val as u8];
        out.extend_from_slice(&bytes[..dlen - 1]);
        if let Some(e) = trailing_err {
            return Err(e);
        }
    }
    Ok(out)
}

fn illegal_base64(at: usize) -> BuiltinError {
    BuiltinError::Eval(format!("illegal base64 data at input byte {}", at))
}

fn base64_encode(_: &mut Ctx, a: &[Value]) -> BuiltinResult {
    Ok(Value::from(b64_encode(arg_str(a, 0)?.as_bytes(), STD, true)))
}

fn base64_decode(_: &mut Ctx, a: &[Value]) -> BuiltinResult {
    b64_decode(arg_str(a, 0)?.as_bytes(), STD).map(bytes_value).map_err(illegal_base64)
}

fn base64_is_valid(_: &mut Ctx, a: &[Value]) -> BuiltinResult {
    Ok(Value::Bool(b64_decode(arg_str(a, 0)?.as_bytes(), STD).is_ok()))
}

fn base64url_encode(_: &mut Ctx, a: &[Value]) -> BuiltinResult {
    Ok(Value::from(b64_encode(arg_str(a, 0)?.as_bytes(), URL, true)))
}

fn base64url_encode_no_pad(_: &mut Ctx, a: &[Value]) -> BuiltinResult {
    Ok(Value::from(b64_encode(arg_str(a, 0)?.as_bytes(), URL, false)))
}

/// Unpadded input is padded first (RFC 7515 appendix C), as OPA does.
fn base64url_decode(_: &mut Ctx, a: &[Value]) -> BuiltinResult {
    let s = arg_str(a, 0)?;
    let mut padded = s.to_string();
    if !s.ends_with('=') {
        match s.len() % 4 {
            0 => {}
            2 => padded.push_str("=="),
            3 => padded.push('='),
            _ => return Err(BuiltinError::Eval(format!("illegal base64url string: {}", s))),
        }
    }
    b64_decode(padded.as_bytes(), URL).map(bytes_value).map_err(illegal_base64)
}

// ---- hex ----

fn hex_encode(_: &mut Ctx, a: &[Value]) -> BuiltinResult {
    let s = arg_str(a, 0)?;
    let mut out = String::with_capacity(s.len() * 2);
    for b in s.bytes() {
        let _ = write!(out, "{:02x}", b);
    }
    Ok(Value::from(out))
}

/// Go's `%#U` of a byte: `U+0067 'g'`, without the quoted form when unprintable.
fn invalid_hex_byte(b: u8) -> BuiltinError {
    let c = char::from(b);
    let text = if c.is_control() { format!("U+{:04X}", b) } else { format!("U+{:04X} '{}'", b, c) };
    BuiltinError::Eval(format!("encoding/hex: invalid byte: {}", text))
}


fn hex_decode(_: &mut Ctx, a: &[Value]) -> BuiltinResult {
    let s = arg_str(a, 0)?.as_bytes();
    let mut out = Vec::with_capacity(s.len() / 2);
    for pair in s.chunks(2) {
        match pair {
            [p, q] => {
                let hi = super::hex_val(*p).ok_or_else(|| invalid_hex_byte(*p))?;
                let lo = super::hex_val(*q).ok_or_else(|| invalid_hex_byte(*q))?;
                out.push(hi << 4 | lo);
            }
            [p] => {
                super::hex_val(*p).ok_or_else(|| invalid_hex_byte(*p))?;
                return Err(BuiltinError::Eval("encoding/hex: odd length hex string".into()));
            }
            _ => {}
        }
    }
    Ok(bytes_value(out))
}

// ---- JSON (Go's encoding/json output) ----

/// A string as Go's `json.Marshal` writes it: HTML-safe (`<`, `>`, `&`
/// escaped), `\b` `\f` `\n` `\r` `\t` short forms, U+2028/U+2029 escaped.
fn go_json_string(out: &mut String, s: &str) {
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            '\u{8}' => out.push_str("\\b"),
            '\u{c}' => out.push_str("\\f"),
            '<' | '>' | '&' | '\u{0}'..='\u{1f}' | '\u{2028}' | '\u{2029}' => {
                let _ = write!(out, "\\u{:04x}", c as u32);
            }
            _ => out.push(c),
        }
    }
    out.push('"');
}

/// Object entries as Go writes a `map[string]any`: keys as strings (a
/// non-string key is its JSON text), sorted.
fn json_entries(o: &Map) -> Vec<(String, &Value)> {
    let mut entries: Vec<(String, &Value)> = o
        .iter()
        .map(|(k, v)| match k {
            Value::String(s) => (s.to_string(), v),
            other => {
                let mut t = String::new();
                go_json(&mut t, other, None, 0);
                (t, v)
            }
        })
        .collect();
    entries.sort_by(|a, b| a.0.cmp(&b.0));
    entries
}

/// Go's `json.Marshal` (indent `None`) or `json.MarshalIndent(v, prefix, indent)`.
fn go_json(out: &mut String, v: &Value, indent: Option<(&str, &str)>, depth: usize) {
    let newline = |out: &mut String, d: usize| {
        if let Some((prefix, ind)) = indent {
            out.push('\n');
            out.push_str(prefix);
            for _ in 0..d {
                out.push_str(ind);
            }
        }
    };
    match v {
        Value::Null => out.push_str("null"),
        Value::Bool(b) => out.push_str(if *b { "true" } else { "false" }),
        Value::Number(n) => {
            let _ = write!(out, "{}", n);
        }
        Value::String(s) => go_json_string(out, s),
        Value::Array(_) | Value::Set(_) => {
            let items: Vec<&Value> = match v {
                Value::Array(a) => a.iter().collect(),
                Value::Set(s) => s.iter().collect(),
                _ => Vec::new(),
            };
            out.push('[');
            if !items.is_empty() {
                for (i, item) in items.iter().enumerate() {
                    if i > 0 {
                        out.push(',');
                    }
                    newline(out, depth + 1);
                    go_json(out, item, indent, depth + 1);
                }
                newline(out, depth);
            }
            out.push(']');
        }
        Value::Object(o) => {
            out.push('{');
            if !o.is_empty() {
                for (i, (k, val)) in json_entries(o).into_iter().enumerate() {
                    if i > 0 {
                        out.push(',');
                    }
                    newline(out, depth + 1);
                    go_json_string(out, &k);
                    out.push(':');
                    if indent.is_some() {
                        out.push(' ');
                    }
                    go_json(out, val, indent, depth + 1);
                }
                newline(out, depth);
            }
            out.push('}');
        }
    }
}

fn json_marshal(_: &mut Ctx, a: &[Value]) -> BuiltinResult {
    let v = a.first().ok_or_else(|| BuiltinError::Eval("missing operand 1".into()))?;
    let mut out = String::new();
    go_json(&mut out, v, None, 0);
    Ok(Value::from(out))
}

fn json_marshal_with_options(_: &mut Ctx, a: &[Value]) -> BuiltinResult {
    let v = a.first().ok_or_else(|| BuiltinError::Eval("missing operand 1".into()))?;
    let opts = arg_object(a, 1)?;
    let (mut indent, mut prefix) = ("\t".to_string(), String::new());
    let mut implicit_pretty = false;
    let mut explicit_pretty: Option<bool> = None;
    for (k, val) in opts.iter() {
        let Value::String(key) = k else {
            return Err(BuiltinError::Type(format!("operand 2 failed to stringify key {} : operand must be string but got {}", k, k.type_name())));
        };
        match &**key {
            "prefix" | "indent" => {
                let Value::String(s) = val else {
                    return Err(BuiltinError::Type(format!(
                        "operand 2 key {} failed cast to string: operand must be string but got {}",
                        key,
                        val.type_name()
                    )));
                };
                if &**key == "prefix" {
                    prefix = s.to_string();
                } else {
                    indent = s.to_string();
                }
                implicit_pretty = true;
            }
            "pretty" => {
                let Value::Bool(b) = val else {
                    return Err(BuiltinError::Type(format!(
                        "operand 2 key {} failed cast to bool: operand must be boolean but got {}",
                        key,
                        val.type_name()
                    )));
                };
                explicit_pretty = Some(*b);
            }
            other => return Err(BuiltinError::Type(format!("operand 2 object contained unknown key {}", super::sprintf::go_quote(other, false)))),
        }
    }
    let mut out = String::new();
    if explicit_pretty.unwrap_or(implicit_pretty) {
        // MarshalIndent does not prefix the first line; OPA adds it.
        out.push_str(&prefix);
        go_json(&mut out, v, Some((&prefix, &indent)), 0);
    } else {
        go_json(&mut out, v, None, 0);
    }
    Ok(Value::from(out))
}

fn json_unmarshal(_: &mut Ctx, a: &[Value]) -> BuiltinResult {
    let s = arg_str(a, 0)?;
    crate::json::parse(s).map_err(|e| BuiltinError::Eval(format!("json: {}", e)))
}

fn json_is_valid(_: &mut Ctx, a: &[Value]) -> BuiltinResult {
    Ok(Value::Bool(match a.first() {
        Some(Value::String(s)) => crate::json::parse(s).is_ok(),
        _ => false,
    }))
}

// ---- YAML ----

/// Every document of a YAML stream (an empty stream is one `null` document).
fn yaml_documents(s: &str) -> Result<Vec<Value>, String> {
    if let Some(line) = tab_indented_line(s) {
        return Err(format!("line {}: found character that cannot start any token", line));
    }
    crate::yaml::documents(s, crate::yaml::Options::default())
}

/// The first line (1-based) indented with a tab outside a block scalar:
/// YAML forbids it, Go's parser rejects it, yaml-rust2 lets it through.
fn tab_indented_line(s: &str) -> Option<usize> {
    let mut block_indent: Option<usize> = None;
    for (no, line) in s.lines().enumerate() {
        let spaces = line.len() - line.trim_start_matches(' ').len();
        let content = line.trim();
        if let Some(bi) = block_indent {
            if content.is_empty() || spaces > bi {
                continue;
            }
            block_indent = None;
        }
        if line.starts_with('\t') && !content.is_empty() && !content.starts_with('#') {
            return Some(no + 1);
        }
        // A block scalar header (`key: |`, `- >-`, `|2+`) opens content that may hold tabs.
        let body = content.split(" #").next().unwrap_or("").trim_end();
        let last = body.rsplit([' ', '\t']).next().unwrap_or("");
        if (last.starts_with('|') || last.starts_with('>'))
            && last[1..].chars().all(|c| c.is_ascii_digit() || c == '+' || c == '-')
            && (last.len() == body.len() || body.ends_with(&format!(" {}", last)))
        {
            block_indent = Some(spaces);
        }
    }
    None
}

fn yaml_unmarshal(_: &mut Ctx, a: &[Value]) -> BuiltinResult {
    let s = arg_str(a, 0)?;
    let docs = yaml_documents(s).map_err(|e| BuiltinError::Eval(format!("yaml: {}", e)))?;
    Ok(docs.into_iter().next().unwrap_or(Value::Null))
}

fn yaml_is_valid(_: &mut Ctx, a: &[Value]) -> BuiltinResult {
    Ok(Value::Bool(match a.first() {
        Some(Value::String(s)) => yaml_documents(s).is_ok(),
        _ => false,
    }))
}

fn yaml_marshal(_: &mut Ctx, a: &[Value]) -> BuiltinResult {
    let v = a.first().ok_or_else(|| BuiltinError::Eval("missing operand 1".into()))?;
    let mut out = String::new();
    yaml::node(&mut out, v, 0, false);
    Ok(Value::from(out))
}

/// A YAML writer in the style of Go's yaml.v2 (what OPA's `yaml.marshal` uses).
mod yaml {
    use crate::value::Value;
    use std::cmp::Ordering;
    use std::fmt::Write as _;

    /// yaml.v2's key order: runs of digits compare numerically, letters sort after other characters.
    pub(super) fn key_cmp(a: &str, b: &str) -> Ordering {
        let (ar, br): (Vec<char>, Vec<char>) = (a.chars().collect(), b.chars().collect());
        let mut i = 0;
        while i < ar.len() && i < br.len() {
            if ar[i] == br[i] {
                i += 1;
                continue;
            }
            let (al, bl) = (ar[i].is_alphabetic(), br[i].is_alphabetic());
            if al && bl {
                return ar[i].cmp(&br[i]);
            }
            if al || bl {
                return if bl { Ordering::Less } else { Ordering::Greater };
            }
            let (mut an, mut bn) = (0i64, 0i64);
            if ar[i] == '0' || br[i] == '0' {
                let mut j = i;
                while j > 0 && ar[j - 1].is_ascii_digit() {
                    j -= 1;
                    if ar[j] != '0' {
                        an = 1;
                        bn = 1;
                        break;
                    }
                }
            }
            let mut ai = i;
            while ai < ar.len() && ar[ai].is_ascii_digit() {
                an = an.wrapping_mul(10).wrapping_add(i64::from(ar[ai] as u8 - b'0'));
                ai += 1;
            }
            let mut bi = i;
            while bi < br.len() && br[bi].is_ascii_digit() {
                bn = bn.wrapping_mul(10).wrapping_add(i64::from(br[bi] as u8 - b'0'));
                bi += 1;
            }
            if an != bn {
                return an.cmp(&bn);
            }
            if ai != bi {
                return ai.cmp(&bi);
            }
            return ar[i].cmp(&br[i]);
        }
        ar.len().cmp(&br.len())
    }

    /// Whether yaml.v2 would read the plain scalar `s` as something other than a string.
    fn resolves_to_non_string(s: &str) -> bool {
        const SPECIAL: &[&str] = &[
            "", "~", "null", "Null", "NULL", "y", "Y", "yes", "Yes", "YES", "n", "N", "no", "No", "NO", "true", "True",
            "TRUE", "false", "False", "FALSE", "on", "On", "ON", "off", "Off", "OFF", ".inf", ".Inf", ".INF", "+.inf",
            "+.Inf", "+.INF", "-.inf", "-.Inf", "-.INF", ".nan", ".NaN", ".NAN", "<<",
        ];
        if SPECIAL.contains(&s) {
            return true;
        }
        let body = s.strip_prefix(['+', '-']).unwrap_or(s);
        let plain: String = body.chars().filter(|&c| c != '_').collect();
        let int_like = |t: &str, radix: u32| !t.is_empty() && t.chars().all(|c| c.is_digit(radix));
        if int_like(&plain, 10)
            || plain.strip_prefix("0x").is_some_and(|t| int_like(t, 16))
            || plain.strip_prefix("0b").is_some_and(|t| int_like(t, 2))
            || plain.strip_prefix("0o").is_some_and(|t| int_like(t, 8))
        {
            return true;
        }
        // float: (\.[0-9]+|[0-9]+(\.[0-9]*)?)([eE][-+]?[0-9]+)?
        let (mant, exp) = match body.find(['e', 'E']) {
            Some(p) => (&body[..p], Some(&body[p + 1..])),
            None => (body, None),
        };
        let mant_ok = match mant.split_once('.') {
            Some((i, f)) => (i.is_empty() && int_like(f, 10)) || (int_like(i, 10) && (f.is_empty() || int_like(f, 10))),
            None => int_like(mant, 10),
        };
        let exp_ok = exp.is_none_or(|e| int_like(e.strip_prefix(['+', '-']).unwrap_or(e), 10));
        if mant_ok && exp_ok {
            return true;
        }
        // base-60 numbers: 1:20, 190:20:30.15
        if let Some((head, _)) = body.split_once(':') {
            if int_like(head, 10) && body.split(':').skip(1).all(|p| !p.is_empty() && p.chars().all(|c| c.is_ascii_digit() || c == '.' || c == '_')) {
                return true;
            }
        }
        false
    }

    fn printable(c: char) -> bool {
        matches!(c, '\n' | '\u{20}'..='\u{7e}' | '\u{85}' | '\u{a0}'..='\u{d7ff}' | '\u{e000}'..='\u{fffd}' | '\u{10000}'..)
            && c != '\u{feff}'
    }

    /// libyaml's test for a block-context plain scalar.
    fn plain_ok(s: &str) -> bool {
        if s.is_empty() || resolves_to_non_string(s) || s.starts_with("---") || s.starts_with("...") {
            return false;
        }
        let cs: Vec<char> = s.chars().collect();
        let blank = |c: Option<&char>| c.is_none_or(|c| *c == ' ' || *c == '\t' || *c == '\n');
        if cs.first() == Some(&' ') || cs.last() == Some(&' ') {
            return false;
        }
        for (i, &c) in cs.iter().enumerate() {
            if !printable(c) || c == '\n' || c == '\t' {
                return false;
            }
            if i == 0 {
                if "#,[]{}&*!|>'\"%@`".contains(c) {
                    return false;
                }
                if (c == '?' || c == ':' || c == '-') && blank(cs.get(1)) {
                    return false;
                }
            } else {
                if c == ':' && blank(cs.get(i + 1)) {
                    return false;
                }
                if c == '#' && cs.get(i - 1).is_some_and(|p| *p == ' ') {
                    return false;
                }
            }
        }
        true
    }

    fn double_quoted(out: &mut String, s: &str) {
        out.push('"');
        for c in s.chars() {
            match c {
                '"' => out.push_str("\\\""),
                '\\' => out.push_str("\\\\"),
                '\0' => out.push_str("\\0"),
                '\u{7}' => out.push_str("\\a"),
                '\u{8}' => out.push_str("\\b"),
                '\t' => out.push_str("\\t"),
                '\n' => out.push_str("\\n"),
                '\u{b}' => out.push_str("\\v"),
                '\u{c}' => out.push_str("\\f"),
                '\r' => out.push_str("\\r"),
                '\u{1b}' => out.push_str("\\e"),
                '\u{85}' => out.push_str("\\N"),
                '\u{a0}' => out.push_str("\\_"),
                '\u{2028}' => out.push_str("\\L"),
                '\u{2029}' => out.push_str("\\P"),
                c if !printable(c) => {
                    let n = c as u32;
                    let _ = if n <= 0xff {
                        write!(out, "\\x{:02X}", n)
                    } else if n <= 0xffff {
                        write!(out, "\\u{:04X}", n)
                    } else {
                        write!(out, "\\U{:08X}", n)
                    };
                }
                c => out.push(c),
            }
        }
        out.push('"');
    }

    /// A string scalar: plain, single-quoted, literal block, or double-quoted.
    fn string(out: &mut String, s: &str, indent: usize, is_key: bool) {
        if plain_ok(s) {
            out.push_str(s);
            return;
        }
        let simple = s.chars().all(|c| printable(c) && c != '\n');
        if s.contains('\n') && !is_key {
            let literal_ok = s.chars().all(|c| printable(c) || c == '\t')
                && !s.starts_with([' ', '\n'])
                && !s.lines().any(|l| l.ends_with(' ') || l.ends_with('\t'));
            if literal_ok {
                let body = s.trim_end_matches('\n');
                let trailing = s.len() - body.len();
                out.push_str(match trailing {
                    0 => "|-",
                    1 => "|",
                    _ => "|+",
                });
                for line in body.split('\n').chain(std::iter::repeat_n("", trailing.saturating_sub(1))) {
                    out.push('\n');
                    if !line.is_empty() {
                        out.push_str(&" ".repeat(indent + 2));
                        out.push_str(line);
                    }
                }
                return;
            }
        }
        if simple && !resolves_to_non_string(s) {
            out.push('\'');
            out.push_str(&s.replace('\'', "''"));
            out.push('\'');
        } else {
            double_quoted(out, s);
        }
    }

    /// Go's `strconv.FormatFloat(f, 'g', -1, 64)`.
    fn go_float(f: f64) -> String {
        if f.is_nan() {
            return ".nan".into();
        }
        if f.is_infinite() {
            return if f > 0.0 { "+.inf".into() } else { "-.inf".into() };
        }
        let e = format!("{:e}", f);
        let Some((mant, exp)) = e.split_once('e') else { return e };
        let exp: i32 = exp.parse().unwrap_or(0);
        // Shortest 'g' switches to an exponent below 1e-4 and from 1e6 up.
        if !(-4..6).contains(&exp) {
            let sign = if exp < 0 { '-' } else { '+' };
            format!("{}e{}{:02}", mant, sign, exp.abs())
        } else {
            format!("{}", f)
        }
    }

    fn scalar(out: &mut String, v: &Value, indent: usize) {
        match v {
            Value::Null => out.push_str("null"),
            Value::Bool(b) => out.push_str(if *b { "true" } else { "false" }),
            Value::Number(crate::number::Number::Float(f)) => out.push_str(&go_float(*f)),
            // Through Go's float64, as OPA marshals it (`1e2` is `100`); its text when too big.
            Value::Number(n @ crate::number::Number::Spelled(_)) => match n.as_f64() {
                f if f.is_finite() => out.push_str(&go_float(f)),
                _ => {
                    let _ = write!(out, "{}", n);
                }
            },
            // yaml.v2 reads integers beyond uint64 as floats.
            Value::Number(crate::number::Number::Big(b)) if num_traits::ToPrimitive::to_u64(&**b).is_none() => {
                out.push_str(&go_float(num_traits::ToPrimitive::to_f64(&**b).unwrap_or(f64::NAN)))
            }
            Value::Number(n) => {
                let _ = write!(out, "{}", n);
            }
            Value::String(s) => string(out, s, indent, false),
            Value::Array(_) | Value::Set(_) => out.push_str("[]"),
            Value::Object(_) => out.push_str("{}"),
        }
    }

    fn items(v: &Value) -> Option<Vec<&Value>> {
        match v {
            Value::Array(a) if !a.is_empty() => Some(a.iter().collect()),
            Value::Set(s) if !s.is_empty() => Some(s.iter().collect()),
            _ => None,
        }
    }

    fn entries(v: &Value) -> Option<Vec<(String, &Value)>> {
        match v {
            Value::Object(o) if !o.is_empty() => {
                let mut es: Vec<(String, &Value)> = o
                    .iter()
                    .map(|(k, v)| match k {
                        Value::String(s) => (s.to_string(), v),
                        other => (other.to_json(), v),
                    })
                    .collect();
                es.sort_by(|a, b| key_cmp(&a.0, &b.0));
                Some(es)
            }
            _ => None,
        }
    }

    /// Writes `v` as a block node whose first line starts at the current
    /// position (`inline`) or on a fresh line at column `indent`.
    pub(super) fn node(out: &mut String, v: &Value, indent: usize, inline: bool) {
        if let Some(es) = entries(v) {
            for (i, (k, val)) in es.into_iter().enumerate() {
                if i > 0 || !inline {
                    out.push_str(&" ".repeat(indent));
                }
                string(out, &k, indent, true);
                out.push(':');
                if entries(val).is_some() {
                    out.push('\n');
                    node(out, val, indent + 2, false);
                } else if items(val).is_some() {
                    out.push('\n');
                    node(out, val, indent, false);
                } else {
                    out.push(' ');
                    scalar(out, val, indent);
                    out.push('\n');
                }
            }
        } else if let Some(xs) = items(v) {
            for (i, item) in xs.into_iter().enumerate() {
                if i > 0 || !inline {
                    out.push_str(&" ".repeat(indent));
                }
                out.push_str("- ");
                if entries(item).is_some() || items(item).is_some() {
                    node(out, item, indent + 2, true);
                } else {
                    scalar(out, item, indent);
                    out.push('\n');
                }
            }
        } else {
            scalar(out, v, indent);
            out.push('\n');
        }
    }
}

// ---- URL query encoding (Go's net/url) ----

/// Go's `url.QueryEscape`.
fn query_escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => out.push(char::from(b)),
            b' ' => out.push('+'),
            _ => {
                let _ = write!(out, "%{:02X}", b);
            }
        }
    }
    out
}

/// Go's `url.QueryUnescape`.
fn query_unescape(s: &str) -> Result<String, String> {
    match super::percent_decode(s, true) {
        Ok(bytes) => Ok(String::from_utf8_lossy(&bytes).into_owned()),
        Err(i) => {
            let rest = &s[i..];
            let bad: String = rest.chars().take(3).collect();
            let bad = if rest.len() > 3 { String::from_utf8_lossy(&rest.as_bytes()[..3]).into_owned() } else { bad };
            Err(format!("invalid URL escape {:?}", bad))
        }
    }
}

fn urlquery_encode(_: &mut Ctx, a: &[Value]) -> BuiltinResult {
    Ok(Value::from(query_escape(arg_str(a, 0)?)))
}

fn urlquery_decode(_: &mut Ctx, a: &[Value]) -> BuiltinResult {
    query_unescape(arg_str(a, 0)?).map(Value::from).map_err(BuiltinError::Eval)
}

fn urlquery_encode_object(_: &mut Ctx, a: &[Value]) -> BuiltinResult {
    let o = arg_object(a, 0)?;
    let bad = || BuiltinError::Type("operand 1 expected value to be string, array of strings or set of strings".into());
    let mut pairs: Vec<(String, Vec<&str>)> = Vec::new();
    for (k, v) in o.iter() {
        let key = match k {
            Value::String(s) => s.to_string(),
            other => other.to_json(),
        };
        let vals: Vec<&str> = match v {
            Value::String(s) => vec![s],
            Value::Array(xs) => xs.iter().map(|x| x.as_str().ok_or_else(bad)).collect::<Result<_, _>>()?,
            Value::Set(xs) => xs.iter().map(|x| x.as_str().ok_or_else(bad)).collect::<Result<_, _>>()?,
            _ => return Err(bad()),
        };
        pairs.push((key, vals));
    }
    pairs.sort_by(|x, y| x.0.cmp(&y.0));
    let mut out = String::new();
    for (k, vals) in pairs {
        let ke = query_escape(&k);
        for v in vals {
            if !out.is_empty() {
                out.push('&');
            }
            out.push_str(&ke);
            out.push('=');
            out.push_str(&query_escape(v));
        }
    }
    Ok(Value::from(out))
}

/// Go's `url.ParseQuery`: the first error is reported after the whole query is read.
fn urlquery_decode_object(_: &mut Ctx, a: &[Value]) -> BuiltinResult {
    let q = arg_str(a, 0)?;
    let mut m: Map = Map::new();
    let mut err: Option<String> = None;
    for part in q.split('&') {
        if part.contains(';') {
            err.get_or_insert_with(|| "invalid semicolon separator in query".into());
            continue;
        }
        if part.is_empty() {
            continue;
        }
        let (k, v) = part.split_once('=').unwrap_or((part, ""));
        let (k, v) = match (query_unescape(k), query_unescape(v)) {
            (Ok(k), Ok(v)) => (k, v),
            (Err(e), _) | (_, Err(e)) => {
                err.get_or_insert(e);
                continue;
            }
        };
        m.entry(Value::from(k)).or_insert_with(Value::empty_array).array_push(Value::from(v));
    }
    match err {
        Some(e) => Err(BuiltinError::Eval(e)),
        None => Ok(Value::from_map(m)),
    }
}

// ---- JSON Schema (draft 4 to 7, gojsonschema's messages) ----

mod schema {
    use super::super::{BuiltinError, BuiltinResult, Ctx, Registry};
    use crate::value::{Map, Value};

    pub(super) fn register(r: &mut Registry) {
        r.nondeterministic(
            "encoding",
            "json.verify_schema",
            "(any<string, object[any: any]>) => [boolean, any<null, string>]",
            json_verify_schema,
        );
        r.nondeterministic(
            "encoding",
            "json.match_schema",
            "(any<string, object[any: any]>, any<string, object[any: any]>) => [boolean, array[{desc: string, error: string, field: string, type: string}]]",
            json_match_schema,
        );
    }

    const TYPES: &[&str] = &["array", "boolean", "integer", "number", "null", "object", "string"];
    /// Deeper schemas (or `$ref` chains) are refused.
    const MAX_DEPTH: usize = 256;

    /// A schema or document operand: an object/value, or its JSON text.
    fn operand(v: Option<&Value>, pos: usize, what: &str) -> Result<Value, BuiltinError> {
        match v {
            Some(Value::String(s)) => crate::json::parse(s).map_err(|e| BuiltinError::Eval(format!("{}: {}", what, e))),
            Some(v @ Value::Object(_)) => Ok(v.clone()),
            Some(v) if what == "document" => Ok(v.clone()),
            Some(v) => Err(BuiltinError::Type(format!(
                "operand {} must be one of {{object, string}} but got {}",
                pos + 1,
                v.type_name()
            ))),
            None => Err(BuiltinError::Eval(format!("missing operand {}", pos + 1))),
        }
    }

    /// `[false, "jsonschema: <why>"]` for a bad schema, as OPA words it.
    fn json_verify_schema(_: &mut Ctx, a: &[Value]) -> BuiltinResult {
        let invalid = |e: &str| Ok(Value::from_array(vec![Value::Bool(false), Value::from(format!("jsonschema: {}", e))]));
        let schema = match operand(a.first(), 0, "schema") {
            Ok(s) => s,
            Err(BuiltinError::Eval(_)) => return invalid("invalid JSON string"),
            Err(e) => return Err(e),
        };
        match check(&schema, &schema, 0) {
            Ok(()) => Ok(Value::from_array(vec![Value::Bool(true), Value::Null])),
            Err(e) => invalid(&e),
        }
    }

    fn json_match_schema(_: &mut Ctx, a: &[Value]) -> BuiltinResult {
        let doc = operand(a.first(), 0, "document")?;
        let schema = operand(a.get(1), 1, "schema")?;
        check(&schema, &schema, 0).map_err(|e| BuiltinError::Eval(format!("json.match_schema: {}", e)))?;
        let mut errs = Vec::new();
        validate(&schema, &schema, &doc, "(root)", &mut errs, 0);
        let list: Vec<Value> = errs
            .into_iter()
            .map(|e| {
                let field = e.context.strip_prefix("(root).").unwrap_or(&e.context).to_string();
                let mut m = Map::new();
                m.insert(Value::from("desc"), Value::from(e.desc.clone()));
                m.insert(Value::from("error"), Value::from(format!("{}: {}", field, e.desc)));
                m.insert(Value::from("field"), Value::from(field));
                m.insert(Value::from("type"), Value::from(e.kind));
                Value::from_map(m)
            })
            .collect();
        Ok(Value::from_array(vec![Value::Bool(list.is_empty()), Value::from_array(list)]))
    }

    // ---- schema well-formedness ----

    fn check_type_name(t: &Value) -> Result<(), String> {
        match t {
            Value::String(s) if TYPES.contains(&&**s) => Ok(()),
            Value::String(s) => Err(format!(
                "has a primitive type that is NOT VALID -- given: /{}/ Expected valid values are:[{}]",
                s,
                TYPES.join(" ")
            )),
            other => Err(format!("Invalid type. Expected: string, given: {}", type_of(other))),
        }
    }

    fn check(s: &Value, root: &Value, depth: usize) -> Result<(), String> {
        if depth > MAX_DEPTH {
            return Err("schema nested too deeply".into());
        }
        let o = match s {
            Value::Bool(_) => return Ok(()),
            Value::Object(o) => o,
            other => return Err(format!("Invalid type. Expected: object, given: {}", type_of(other))),
        };
        let get = |k: &str| o.get(&Value::from(k));
        if let Some(r) = get("$ref") {
            let r = r.as_str().ok_or("$ref must be a string")?;
            resolve(root, r).ok_or_else(|| format!("Reference {} is not resolvable", r))?;
        }
        match get("type") {
            None => {}
            Some(Value::Array(ts)) => ts.iter().try_for_each(check_type_name)?,
            Some(t) => check_type_name(t)?,
        }
        if let Some(e) = get("enum") {
            if !matches!(e, Value::Array(_)) {
                return Err("enum must be an array".into());
            }
        }
        if let Some(r) = get("required") {
            match r {
                Value::Array(xs) if xs.iter().all(|x| matches!(x, Value::String(_))) => {}
                _ => return Err("required must be an array of strings".into()),
            }
        }
        for k in ["minLength", "maxLength", "minItems", "maxItems", "minProperties", "maxProperties"] {
            if let Some(v) = get(k) {
                if !v.as_number().is_some_and(|n| n.is_integer() && n.as_f64() >= 0.0) {
                    return Err(format!("{} must be of an integer", k));
                }
            }
        }
        for k in ["minimum", "maximum", "multipleOf"] {
            if let Some(v) = get(k) {
                if v.as_number().is_none() {
                    return Err(format!("{} must be of a number", k));
                }
            }
        }
        if let Some(v) = get("multipleOf") {
            if v.as_number().is_some_and(|n| n.as_f64() <= 0.0) {
                return Err("multipleOf must be strictly greater than 0".into());
            }
        }
        if let Some(p) = get("pattern") {
            let p = p.as_str().ok_or("pattern must be a string")?;
            crate::builtins::regex::compile(p).map_err(|_| format!("Invalid regex pattern '{}'", p))?;
        }
        for k in ["properties", "patternProperties", "definitions", "$defs"] {
            match get(k) {
                None => {}
                Some(Value::Object(m)) => {
                    for (name, sub) in m.iter() {
                        if k == "patternProperties" {
                            let p = name.as_str().unwrap_or("");
                            crate::builtins::regex::compile(p).map_err(|_| format!("Invalid regex pattern '{}'", p))?;
                        }
                        check(sub, root, depth + 1)?;
                    }
                }
                Some(_) => return Err(format!("{} must be an object", k)),
            }
        }
        for k in ["additionalProperties", "additionalItems", "not", "contains", "propertyNames", "if", "then", "else"] {
            if let Some(v) = get(k) {
                check(v, root, depth + 1)?;
            }
        }
        match get("items") {
            Some(Value::Array(xs)) => xs.iter().try_for_each(|x| check(x, root, depth + 1))?,
            Some(x) => check(x, root, depth + 1)?,
            None => {}
        }
        for k in ["allOf", "anyOf", "oneOf"] {
            match get(k) {
                None => {}
                Some(Value::Array(xs)) if !xs.is_empty() => xs.iter().try_for_each(|x| check(x, root, depth + 1))?,
                Some(_) => return Err(format!("{} must be an array with at least one element", k)),
            }
        }
        if let Some(Value::Object(deps)) = get("dependencies") {
            for d in deps.values() {
                if !matches!(d, Value::Array(_)) {
                    check(d, root, depth + 1)?;
                }
            }
        }
        Ok(())
    }

    /// `#`, `#/definitions/x`, `#/properties/a~1b`: a JSON pointer into the root schema.
    fn resolve<'a>(root: &'a Value, r: &str) -> Option<&'a Value> {
        let ptr = r.strip_prefix('#')?;
        let mut cur = root;
        for tok in ptr.split('/').skip(1) {
            let tok = super::query_unescape(tok).ok()?.replace("~1", "/").replace("~0", "~");
            cur = match cur {
                Value::Object(o) => o.get(&Value::from(tok.as_str()))?,
                Value::Array(a) => a.get(tok.parse::<usize>().ok()?)?,
                _ => return None,
            };
        }
        Some(cur)
    }

    // ---- validation ----

    struct Err {
        context: String,
        kind: &'static str,
        desc: String,
    }

    fn type_of(v: &Value) -> &'static str {
        match v {
            Value::Number(n) if n.is_integer() => "integer",
            Value::Number(_) => "number",
            Value::Set(_) => "array",
            other => other.type_name(),
        }
    }

    fn is_type(v: &Value, t: &str) -> bool {
        let vt = type_of(v);
        vt == t || (t == "number" && vt == "integer")
    }

    fn num(v: &Value) -> Option<f64> {
        v.as_number().map(|n| n.as_f64())
    }

    /// A limit as gojsonschema prints it.
    fn show(v: &Value) -> String {
        v.to_json()
    }

    /// Equality as JSON values (1 == 1.0; sets as arrays).
    fn json_eq(a: &Value, b: &Value) -> bool {
        match (a, b) {
            (Value::Number(x), Value::Number(y)) => x.as_f64() == y.as_f64() && x == y,
            _ => a.to_json() == b.to_json() || a == b,
        }
    }

    fn child(ctx: &str, name: &str) -> String {
        format!("{}.{}", ctx, name)
    }

    fn add(errs: &mut Vec<Err>, ctx: &str, kind: &'static str, desc: String) {
        errs.push(Err { context: ctx.to_string(), kind, desc });
    }

    fn validate(s: &Value, root: &Value, v: &Value, ctx: &str, errs: &mut Vec<Err>, depth: usize) {
        if depth > MAX_DEPTH {
            add(errs, ctx, "internal", "schema nested too deeply".into());
            return;
        }
        let o = match s {
            Value::Bool(true) => return,
            Value::Bool(false) => {
                add(errs, ctx, "false", "False always fails validation".into());
                return;
            }
            Value::Object(o) => o,
            _ => return,
        };
        let get = |k: &str| o.get(&Value::from(k));
        if let Some(Value::String(r)) = get("$ref") {
            if let Some(target) = resolve(root, r) {
                validate(target, root, v, ctx, errs, depth + 1);
            }
            return;
        }
        let field = ctx.strip_prefix("(root).").unwrap_or(ctx).to_string();

        // type
        if let Some(t) = get("type") {
            let (ok, expected) = match t {
                Value::String(t) => (is_type(v, t), t.to_string()),
                Value::Array(ts) => (
                    ts.iter().any(|t| t.as_str().is_some_and(|t| is_type(v, t))),
                    format!("[{}]", ts.iter().filter_map(Value::as_str).collect::<Vec<_>>().join(",")),
                ),
                _ => (true, String::new()),
            };
            if !ok {
                add(errs, ctx, "invalid_type", format!("Invalid type. Expected: {}, given: {}", expected, type_of(v)));
                return;
            }
        }

        // combinators
        if let Some(Value::Array(subs)) = get("anyOf") {
            let mut best: Option<Vec<Err>> = None;
            let mut any = false;
            for sub in subs.iter() {
                let mut e = Vec::new();
                validate(sub, root, v, ctx, &mut e, depth + 1);
                if e.is_empty() {
                    any = true;
                    break;
                }
                if best.as_ref().is_none_or(|b| e.len() < b.len()) {
                    best = Some(e);
                }
            }
            if !any {
                add(errs, ctx, "number_any_of", "Must validate at least one schema (anyOf)".into());
                errs.extend(best.unwrap_or_default());
            }
        }
        if let Some(Value::Array(subs)) = get("oneOf") {
            let mut n = 0;
            let mut best: Option<Vec<Err>> = None;
            for sub in subs.iter() {
                let mut e = Vec::new();
                validate(sub, root, v, ctx, &mut e, depth + 1);
                if e.is_empty() {
                    n += 1;
                } else if best.as_ref().is_none_or(|b| e.len() < b.len()) {
                    best = Some(e);
                }
            }
            if n != 1 {
                errs.push(Err { context: ctx.to_string(), kind: "number_one_of", desc: "Must validate one and only one schema (oneOf)".into() });
                if n == 0 {
                    errs.extend(best.unwrap_or_default());
                }
            }
        }
        if let Some(Value::Array(subs)) = get("allOf") {
            let mut all = true;
            for sub in subs.iter() {
                let mut e = Vec::new();
                validate(sub, root, v, ctx, &mut e, depth + 1);
                all &= e.is_empty();
                errs.extend(e);
            }
            if !all {
                errs.push(Err { context: ctx.to_string(), kind: "number_all_of", desc: "Must validate all the schemas (allOf)".into() });
            }
        }
        if let Some(sub) = get("not") {
            let mut e = Vec::new();
            validate(sub, root, v, ctx, &mut e, depth + 1);
            if e.is_empty() {
                errs.push(Err { context: ctx.to_string(), kind: "number_not", desc: "Must not validate the schema (not)".into() });
            }
        }
        if let Some(cond) = get("if") {
            let mut e = Vec::new();
            validate(cond, root, v, ctx, &mut e, depth + 1);
            let (branch, kind, desc) = if e.is_empty() {
                (get("then"), "condition_then", "Must validate \"then\" as \"if\" was valid")
            } else {
                (get("else"), "condition_else", "Must validate \"else\" as \"if\" was not valid")
            };
            if let Some(b) = branch {
                let mut e = Vec::new();
                validate(b, root, v, ctx, &mut e, depth + 1);
                if !e.is_empty() {
                    errs.extend(e);
                    errs.push(Err { context: ctx.to_string(), kind, desc: desc.into() });
                }
            }
        }

        // enum, const
        if let Some(Value::Array(allowed)) = get("enum") {
            if !allowed.iter().any(|x| json_eq(x, v)) {
                let list = allowed.iter().map(show).collect::<Vec<_>>().join(", ");
                add(errs, ctx, "enum", format!("{} must be one of the following: {}", field, list));
            }
        }
        if let Some(c) = get("const") {
            if !json_eq(c, v) {
                add(errs, ctx, "const", format!("{} does not match: {}", field, show(c)));
            }
        }

        // numbers
        if let Some(x) = num(v) {
            if let Some(m) = get("multipleOf").and_then(num) {
                let q = x / m;
                if m > 0.0 && (q - q.round()).abs() > 1e-9 {
                    add(errs, ctx, "multiple_of", format!("Must be a multiple of {}", show(get("multipleOf").unwrap_or(&Value::Null))));
                }
            }
            let excl = |k: &str| get(k);
            if let Some(min) = get("minimum") {
                let m = num(min).unwrap_or(f64::NEG_INFINITY);
                if matches!(excl("exclusiveMinimum"), Some(Value::Bool(true))) {
                    if x <= m {
                        add(errs, ctx, "number_gt", format!("Must be greater than {}", show(min)));
                    }
                } else if x < m {
                    add(errs, ctx, "number_gte", format!("Must be greater than or equal to {}", show(min)));
                }
            }
            if let Some(Value::Number(m)) = excl("exclusiveMinimum") {
                if x <= m.as_f64() {
                    add(errs, ctx, "number_gt", format!("Must be greater than {}", m));
                }
            }
            if let Some(max) = get("maximum") {
                let m = num(max).unwrap_or(f64::INFINITY);
                if matches!(excl("exclusiveMaximum"), Some(Value::Bool(true))) {
                    if x >= m {
                        add(errs, ctx, "number_lt", format!("Must be less than {}", show(max)));
                    }
                } else if x > m {
                    add(errs, ctx, "number_lte", format!("Must be less than or equal to {}", show(max)));
                }
            }
            if let Some(Value::Number(m)) = excl("exclusiveMaximum") {
                if x >= m.as_f64() {
                    add(errs, ctx, "number_lt", format!("Must be less than {}", m));
                }
            }
        }

        // strings
        if let Value::String(st) = v {
            let len = st.chars().count() as f64;
            if let Some(m) = get("minLength") {
                if len < num(m).unwrap_or(0.0) {
                    add(errs, ctx, "string_gte", format!("String length must be greater than or equal to {}", show(m)));
                }
            }
            if let Some(m) = get("maxLength") {
                if len > num(m).unwrap_or(f64::INFINITY) {
                    add(errs, ctx, "string_lte", format!("String length must be less than or equal to {}", show(m)));
                }
            }
            if let Some(Value::String(p)) = get("pattern") {
                if let Ok(re) = crate::builtins::regex::compile(p) {
                    if !re.is_match(st) {
                        add(errs, ctx, "pattern", format!("Does not match pattern '{}'", p));
                    }
                }
            }
        }

        // arrays
        let items: Option<Vec<&Value>> = match v {
            Value::Array(a) => Some(a.iter().collect()),
            Value::Set(s) => Some(s.iter().collect()),
            _ => None,
        };
        if let Some(items) = items {
            let n = items.len() as f64;
            if let Some(m) = get("minItems") {
                if n < num(m).unwrap_or(0.0) {
                    add(errs, ctx, "array_min_items", format!("Array must have at least {} items", show(m)));
                }
            }
            if let Some(m) = get("maxItems") {
                if n > num(m).unwrap_or(f64::INFINITY) {
                    add(errs, ctx, "array_max_items", format!("Array must have at most {} items", show(m)));
                }
            }
            if matches!(get("uniqueItems"), Some(Value::Bool(true))) {
                'outer: for i in 0..items.len() {
                    for j in i + 1..items.len() {
                        if json_eq(items[i], items[j]) {
                            add(errs, ctx, "unique", format!("array items[{},{}] must be unique", i, j));
                            break 'outer;
                        }
                    }
                }
            }
            match get("items") {
                Some(Value::Array(schemas)) => {
                    for (i, item) in items.iter().enumerate() {
                        match schemas.get(i) {
                            Some(sub) => validate(sub, root, item, &child(ctx, &i.to_string()), errs, depth + 1),
                            None => match get("additionalItems") {
                                Some(Value::Bool(false)) => {
                                    errs.push(Err { context: ctx.to_string(), kind: "array_no_additional_items", desc: "No additional items allowed on array".into() });
                                    break;
                                }
                                Some(sub @ Value::Object(_)) => validate(sub, root, item, &child(ctx, &i.to_string()), errs, depth + 1),
                                _ => {}
                            },
                        }
                    }
                }
                Some(sub) => {
                    for (i, item) in items.iter().enumerate() {
                        validate(sub, root, item, &child(ctx, &i.to_string()), errs, depth + 1);
                    }
                }
                None => {}
            }
            if let Some(sub) = get("contains") {
                let found = items.iter().any(|item| {
                    let mut e = Vec::new();
                    validate(sub, root, item, ctx, &mut e, depth + 1);
                    e.is_empty()
                });
                if !found {
                    errs.push(Err { context: ctx.to_string(), kind: "contains", desc: "At least one of the items must match".into() });
                }
            }
        }

        // objects
        if let Value::Object(obj) = v {
            let n = obj.len() as f64;
            if let Some(m) = get("minProperties") {
                if n < num(m).unwrap_or(0.0) {
                    add(errs, ctx, "array_min_properties", format!("Must have at least {} properties", show(m)));
                }
            }
            if let Some(m) = get("maxProperties") {
                if n > num(m).unwrap_or(f64::INFINITY) {
                    add(errs, ctx, "array_max_properties", format!("Must have at most {} properties", show(m)));
                }
            }
            if let Some(Value::Array(req)) = get("required") {
                for r in req.iter() {
                    if let Value::String(name) = r {
                        if !obj.contains_key(r) {
                            add(errs, ctx, "required", format!("{} is required", name));
                        }
                    }
                }
            }
            if let Some(Value::Object(deps)) = get("dependencies") {
                for (k, d) in deps.iter() {
                    if !obj.contains_key(k) {
                        continue;
                    }
                    match d {
                        Value::Array(names) => {
                            for dn in names.iter() {
                                if !obj.contains_key(dn) {
                                    add(errs, ctx, "missing_dependency", format!("Has a dependency on {}", dn.as_str().unwrap_or("")));
                                }
                            }
                        }
                        sub => validate(sub, root, v, ctx, errs, depth + 1),
                    }
                }
            }
            let props = match get("properties") {
                Some(Value::Object(p)) => Some(p),
                _ => None,
            };
            let pattern_props: Vec<(regex::Regex, &Value)> = match get("patternProperties") {
                Some(Value::Object(p)) => p
                    .iter()
                    .filter_map(|(k, s)| Some(((*crate::builtins::regex::compile(k.as_str()?).ok()?).clone(), s)))
                    .collect(),
                _ => Vec::new(),
            };
            for (k, val) in obj.iter() {
                let name = match k {
                    Value::String(s) => s.to_string(),
                    other => other.to_json(),
                };
                let cctx = child(ctx, &name);
                let mut matched = false;
                if let Some(sub) = props.and_then(|p| p.get(k)) {
                    matched = true;
                    validate(sub, root, val, &cctx, errs, depth + 1);
                }
                for (re, sub) in &pattern_props {
                    if re.is_match(&name) {
                        matched = true;
                        validate(sub, root, val, &cctx, errs, depth + 1);
                    }
                }
                if !matched {
                    match get("additionalProperties") {
                        Some(Value::Bool(false)) => errs.push(Err {
                            context: ctx.to_string(),
                            kind: "additional_property_not_allowed",
                            desc: format!("Additional property {} is not allowed", name),
                        }),
                        Some(sub @ Value::Object(_)) => validate(sub, root, val, &cctx, errs, depth + 1),
                        _ => {}
                    }
                }
                if let Some(sub) = get("propertyNames") {
                    let mut e = Vec::new();
                    validate(sub, root, &Value::from(name.as_str()), &cctx, &mut e, depth + 1);
                    if !e.is_empty() {
                        errs.push(Err {
                            context: ctx.to_string(),
                            kind: "invalid_property_name",
                            desc: format!("Property \"{}\" does not match pattern", name),
                        });
                    }
                }
            }
        }
    }

    #[cfg(test)]
    #[allow(clippy::unwrap_used)]
    mod tests {
        use super::*;

        fn json(t: &str) -> Value {
            Value::from_json_str(t).unwrap()
        }
        fn m(doc: &str, schema: &str) -> String {
            json_match_schema(&mut Ctx::new(0, true), &[json(doc), json(schema)]).unwrap().to_json()
        }

        #[test]
        fn match_schema() {
            let s = r#"{"properties": {"id": {"type": "integer"}}, "required": ["id"]}"#;
            assert_eq!(m(r#"{"id": 5}"#, s), "[true,[]]");
            assert_eq!(
                m(r#"{"id": "foo"}"#, s),
                r#"[false,[{"desc":"Invalid type. Expected: integer, given: string","error":"id: Invalid type. Expected: integer, given: string","field":"id","type":"invalid_type"}]]"#
            );
            assert_eq!(
                m("{}", s),
                r#"[false,[{"desc":"id is required","error":"(root): id is required","field":"(root)","type":"required"}]]"#
            );
            assert!(m(r#"{"value": "allow"}"#, r#"{"enum": []}"#).starts_with("[false"));
            assert!(m(r#"{"a": [1, 2, 2]}"#, r#"{"properties": {"a": {"uniqueItems": true, "items": {"minimum": 2}}}}"#).contains("a.0"));
            assert_eq!(m(r#"{"a": 1}"#, r##"{"definitions": {"x": {"type": "object"}}, "$ref": "#/definitions/x"}"##), "[true,[]]");
            assert!(m(r#"{"a": 1, "b": 2}"#, r#"{"properties": {"a": {}}, "additionalProperties": false}"#).contains("Additional property b is not allowed"));
        }

        #[test]
        fn invalid_schema() {
            let e = json_match_schema(&mut Ctx::new(0, true), &[json("{}"), json(r#"{"properties": {"id": {"type": "unknown"}}}"#)]);
            assert_eq!(
                e,
                Err(BuiltinError::Eval("json.match_schema: has a primitive type that is NOT VALID -- given: /unknown/ Expected valid values are:[array boolean integer number null object string]".into()))
            );
            let v = json_verify_schema(&mut Ctx::new(0, true), &[Value::from(r#"{"type": "string"}"#)]).unwrap();
            assert_eq!(v.to_json(), "[true,null]");
            let v = json_verify_schema(&mut Ctx::new(0, true), &[Value::from(r#"{"type": 1}"#)]).unwrap();
            assert!(v.to_json().starts_with("[false,"));
        }
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn call(f: super::super::BuiltinFn, args: Vec<Value>) -> BuiltinResult {
        f(&mut Ctx::new(0, true), &args)
    }
    fn s1(f: super::super::BuiltinFn, x: &str) -> BuiltinResult {
        call(f, vec![Value::from(x)])
    }
    fn json(t: &str) -> Value {
        Value::from_json_str(t).unwrap()
    }

    #[test]
    fn base64() {
        assert_eq!(s1(base64_encode, "there"), Ok(Value::from("dGhlcmU=")));
        assert_eq!(s1(base64_encode, "subjects?_d"), Ok(Value::from("c3ViamVjdHM/X2Q=")));
        assert_eq!(s1(base64_decode, "c3ViamVjdHM/X2Q="), Ok(Value::from("subjects?_d")));
        assert_eq!(s1(base64_decode, "aGVs\nbG8="), Ok(Value::from("hello")));
        assert_eq!(s1(base64_decode, ""), Ok(Value::from("")));
        assert_eq!(s1(base64_decode, "aGVsbG8"), Err(illegal_base64(4)));
        assert_eq!(s1(base64_decode, "aGVsbG8=x"), Err(illegal_base64(8)));
        assert_eq!(s1(base64_decode, "a==="), Err(illegal_base64(1)));
        assert_eq!(s1(base64_decode, "aG!s"), Err(illegal_base64(2)));
        assert_eq!(s1(base64_decode, "aGk="), Ok(Value::from("hi")));
        assert_eq!(s1(base64_decode, "aA=="), Ok(Value::from("h")));
        assert_eq!(s1(base64_decode, "aA="), Err(illegal_base64(3)));
        assert_eq!(s1(base64_is_valid, "aGVsbG8"), Ok(Value::Bool(false)));
        assert_eq!(s1(base64url_encode, "subjects?_d"), Ok(Value::from("c3ViamVjdHM_X2Q=")));
        assert_eq!(s1(base64url_encode_no_pad, "hello"), Ok(Value::from("aGVsbG8")));
        assert_eq!(s1(base64url_decode, "aGVsbG8"), Ok(Value::from("hello")));
        assert_eq!(s1(base64url_decode, "aGVsbG8="), Ok(Value::from("hello")));
        assert!(s1(base64url_decode, "aGVsb").is_err());
    }

    #[test]
    fn hex() {
        assert_eq!(s1(hex_encode, "hello"), Ok(Value::from("68656c6c6f")));
        assert_eq!(s1(hex_decode, "68656C6c6f"), Ok(Value::from("hello")));
        assert_eq!(s1(hex_decode, "fghijkl"), Err(BuiltinError::Eval("encoding/hex: invalid byte: U+0067 'g'".into())));
        assert_eq!(s1(hex_decode, "abc"), Err(BuiltinError::Eval("encoding/hex: odd length hex string".into())));
    }

    #[test]
    fn json_marshal_like_go() {
        let v = json(r#"[{"foo": [1, 2, 3], "b": "<a&b>\u0001\u2028\b", "a": null, "n": 1.5, "big": 123456789012345678901234567890}]"#);
        assert_eq!(
            call(json_marshal, vec![v.clone()]),
            Ok(Value::from(r#"[{"a":null,"b":"\u003ca\u0026b\u003e\u0001\u2028\b","big":123456789012345678901234567890,"foo":[1,2,3],"n":1.5}]"#))
        );
        let mut m = Map::new();
        m.insert(Value::int(1), Value::from_set([Value::int(2)].into_iter().collect()));
        assert_eq!(call(json_marshal, vec![Value::from_map(m)]), Ok(Value::from(r#"{"1":[2]}"#)));
        let opts = json(r#"{"pretty": true}"#);
        assert_eq!(
            call(json_marshal_with_options, vec![json(r#"{"a": [1, {}], "b": []}"#), opts]),
            Ok(Value::from("{\n\t\"a\": [\n\t\t1,\n\t\t{}\n\t],\n\t\"b\": []\n}"))
        );
        let opts = json(r#"{"prefix": "--", "indent": "  "}"#);
        assert_eq!(call(json_marshal_with_options, vec![json(r#"{"a": 1}"#), opts]), Ok(Value::from("--{\n--  \"a\": 1\n--}")));
        let opts = json(r#"{"prefix": "--", "pretty": false}"#);
        assert_eq!(call(json_marshal_with_options, vec![json(r#"{"a": 1}"#), opts]), Ok(Value::from(r#"{"a":1}"#)));
        assert!(matches!(call(json_marshal_with_options, vec![json("1"), json(r#"{"x": 1}"#)]), Err(BuiltinError::Type(_))));
    }

    #[test]
    fn json_unmarshal_and_valid() {
        assert_eq!(s1(json_unmarshal, r#"{"a": [1, "x"]}"#), Ok(json(r#"{"a": [1, "x"]}"#)));
        assert!(s1(json_unmarshal, "{").is_err());
        assert_eq!(s1(json_is_valid, "plainstring"), Ok(Value::Bool(false)));
        assert_eq!(call(json_is_valid, vec![Value::int(1)]), Ok(Value::Bool(false)));
    }

    #[test]
    fn yaml_valid_and_unmarshal() {
        assert_eq!(s1(yaml_is_valid, "foo:\n - qux: bar\n - baz: 2"), Ok(Value::Bool(true)));
        assert_eq!(s1(yaml_is_valid, "foo:\n - qux: bar\n - baz: {"), Ok(Value::Bool(false)));
        assert_eq!(s1(yaml_is_valid, "  test:\ntest1: hello\n"), Ok(Value::Bool(false)));
        assert_eq!(s1(yaml_is_valid, "a: 1\n---\n\tb: 2\n"), Ok(Value::Bool(false)));
        assert_eq!(s1(yaml_is_valid, "a: 1\n---\nb: 2\n"), Ok(Value::Bool(true)));
        assert_eq!(s1(yaml_unmarshal, "a: 1\n---\nb: 2\n"), Ok(json(r#"{"a": 1}"#)));
        assert_eq!(s1(yaml_unmarshal, ""), Ok(Value::Null));
    }

    /// `levels` anchored sequences, each holding nine aliases of the one before
    /// (the "billion laughs" shape): 9^levels nodes once aliases are expanded.
    fn alias_bomb(levels: usize) -> String {
        let mut s = String::from("a0: &a0 [lol, lol, lol, lol, lol, lol, lol, lol, lol]\n");
        for i in 1..levels {
            s.push_str(&format!("a{i}: &a{i} [{}]\n", vec![format!("*a{}", i - 1); 9].join(", ")));
        }
        s
    }

    #[test]
    fn yaml_refuses_excessive_aliasing_like_go() {
        // Six levels already expand to over 500k nodes, nearly all through aliases: yaml.v2
        // (OPA's decoder) refuses it; ten levels (3.5e9 nodes) must fail as fast.
        for levels in [6, 10] {
            let bomb = alias_bomb(levels);
            let started = std::time::Instant::now();
            assert_eq!(s1(yaml_unmarshal, &bomb), Err(BuiltinError::Eval("yaml: document contains excessive aliasing".into())));
            assert_eq!(s1(yaml_is_valid, &bomb), Ok(Value::Bool(false)));
            assert!(started.elapsed() < std::time::Duration::from_secs(2), "{levels} levels took {:?}", started.elapsed());
        }
        // Moderate aliasing stays valid, with the aliased values in place.
        let small = alias_bomb(3);
        assert_eq!(s1(yaml_is_valid, &small), Ok(Value::Bool(true)));
        let v = s1(yaml_unmarshal, &small).unwrap();
        assert_eq!(v.field("a2").and_then(|a| a.as_array().map(|a| a.len())), Some(9));
        assert_eq!(s1(yaml_unmarshal, "a: &x {k: [1]}\nb: *x\n"), Ok(json(r#"{"a": {"k": [1]}, "b": {"k": [1]}}"#)));
        // An alias inside its own anchor is refused, not expanded forever.
        assert!(s1(yaml_unmarshal, "a: &x [1, *x]\n").is_err());
    }

    #[test]
    fn yaml_marshal_like_yaml_v2() {
        let y = |t: &str| call(yaml_marshal, vec![json(t)]).unwrap().as_str().unwrap().to_string();
        assert_eq!(y(r#"[{"foo": [1, 2, 3]}]"#), "- foo:\n  - 1\n  - 2\n  - 3\n");
        assert_eq!(y(r#"{"a": {"b": [], "c": {}}, "d": [[1, 2], {"e": "x"}]}"#), "a:\n  b: []\n  c: {}\nd:\n- - 1\n  - 2\n- e: x\n");
        assert_eq!(y(r#"{"a": "true", "b": "", "c": "x: y", "d": "1.5", "e": "a\nb", "f": "it's: x"}"#), "a: \"true\"\nb: \"\"\nc: 'x: y'\nd: \"1.5\"\ne: |-\n  a\n  b\nf: 'it''s: x'\n");
        assert_eq!(y(r#"{"a10": 1, "a2": 2, "b": 3}"#), "a2: 2\na10: 1\nb: 3\n");
        assert_eq!(y(r#""hello""#), "hello\n");
        assert_eq!(y("1.5"), "1.5\n");
        assert_eq!(y("null"), "null\n");
        // round trip
        let v = json(r##"{"a": ["x", "y: z", "", "#c", "- d", "multi\nline\n"], "b": {"c": [{"d": 1, "e": [true, null]}]}}"##);
        let text = call(yaml_marshal, vec![v.clone()]).unwrap();
        assert_eq!(call(yaml_unmarshal, vec![text]), Ok(v));
    }

    #[test]
    fn urlquery() {
        assert_eq!(s1(urlquery_encode, "a=b+1"), Ok(Value::from("a%3Db%2B1")));
        assert_eq!(s1(urlquery_encode, "a b/é"), Ok(Value::from("a+b%2F%C3%A9")));
        assert_eq!(s1(urlquery_decode, "a+b%2F%C3%A9"), Ok(Value::from("a b/é")));
        assert_eq!(s1(urlquery_decode, "a%zzb"), Err(BuiltinError::Eval("invalid URL escape \"%zz\"".into())));
        assert_eq!(s1(urlquery_decode, "a%2"), Err(BuiltinError::Eval("invalid URL escape \"%2\"".into())));
        let o = json(r#"{"c": "d", "a": ["b+1", "c+2"], "e": []}"#);
        assert_eq!(call(urlquery_encode_object, vec![o]), Ok(Value::from("a=b%2B1&a=c%2B2&c=d")));
        assert_eq!(s1(urlquery_decode_object, "a=value_a1&b=value_b&a=value_a2"), Ok(json(r#"{"a": ["value_a1", "value_a2"], "b": ["value_b"]}"#)));
        assert_eq!(s1(urlquery_decode_object, "a=value_a1&b"), Ok(json(r#"{"a": ["value_a1"], "b": [""]}"#)));
        assert_eq!(s1(urlquery_decode_object, ""), Ok(json("{}")));
        assert!(s1(urlquery_decode_object, "a=1;b=2").is_err());
    }
}
