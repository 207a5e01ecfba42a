//! `uri.parse` and `uri.is_valid` (OPA 1.22): OPA hands the string to Go's
//! `url.Parse`, so this follows that function's rules and error texts (scheme,
//! opaque rootless paths, authority with userinfo/host/port checks, the
//! per-component percent-escape rules, and `raw_path` kept only when the
//! decoded path does not re-encode to the input). No crate parses the way Go
//! does (the `url` crate follows WHATWG and normalises), hence this file.

use super::{arg_str, BuiltinError, BuiltinResult, Ctx, Registry};
use crate::value::{Map, Value};

pub fn register(r: &mut Registry) {
    r.func("uri", "uri.parse", "(string) => object[string: string]", uri_parse);
    r.func("uri", "uri.is_valid", "(string) => boolean", uri_is_valid);
}

fn uri_parse(_: &mut Ctx, a: &[Value]) -> BuiltinResult {
    let s = arg_str(a, 0)?;
    let u = parse(s).map_err(BuiltinError::Eval)?;
    let mut m = Map::new();
    let mut put = |k: &str, v: String| {
        if !v.is_empty() {
            m.insert(Value::from(k), Value::from(v));
        }
    };
    let (hostname, port) = split_host_port(&u.host);
    put("scheme", u.scheme);
    put("hostname", hostname);
    put("port", port);
    if !u.path.is_empty() {
        let raw = if u.raw_path.is_empty() { u.path.clone() } else { u.raw_path };
        put("path", u.path);
        put("raw_path", raw);
    }
    put("raw_query", u.raw_query);
    put("fragment", u.fragment);
    Ok(Value::from_map(m))
}

/// False for the empty string (OPA rejects it on purpose) and for what `url.Parse` rejects.
fn uri_is_valid(_: &mut Ctx, a: &[Value]) -> BuiltinResult {
    Ok(Value::Bool(match a.first() {
        Some(Value::String(s)) => !s.is_empty() && parse(s).is_ok(),
        _ => false,
    }))
}

#[derive(Default)]
struct Url {
    scheme: String,
    host: String,
    path: String,
    raw_path: String,
    raw_query: String,
    fragment: String,
}

#[derive(Clone, Copy, PartialEq)]
enum Mode {
    Path,
    Host,
    Zone,
    UserPassword,
    Fragment,
}

/// `url.Parse`: errors read `parse "<input>": <reason>`.
fn parse(raw: &str) -> Result<Url, String> {
    let (rest, frag) = match raw.split_once('#') {
        Some((u, f)) => (u, Some(f)),
        None => (raw, None),
    };
    let mut u = parse_no_fragment(rest).map_err(|e| format!("parse {}: {}", go_quote(rest), e))?;
    if let Some(f) = frag {
        u.fragment = unescape(f, Mode::Fragment).map_err(|e| format!("parse {}: {}", go_quote(raw), e))?;
    }
    Ok(u)
}

fn parse_no_fragment(raw: &str) -> Result<Url, String> {
    if raw.bytes().any(|b| b < 0x20 || b == 0x7f) {
        return Err("net/url: invalid control character in URL".into());
    }
    let mut u = Url::default();
    if raw == "*" {
        u.path = "*".into();
        return Ok(u);
    }
    let (scheme, rest) = scheme(raw)?;
    u.scheme = scheme.to_ascii_lowercase();
    let mut rest = rest;
    if rest.ends_with('?') && rest.matches('?').count() == 1 {
        rest = &rest[..rest.len() - 1];
    } else if let Some((r, q)) = rest.split_once('?') {
        rest = r;
        u.raw_query = q.to_string();
    }
    if !rest.starts_with('/') {
        if !u.scheme.is_empty() {
            // A rootless path after a scheme is opaque (`mailto:a@b`): no host, no path.
            return Ok(u);
        }
        if rest.split('/').next().is_some_and(|seg| seg.contains(':')) {
            return Err("first path segment in URL cannot contain colon".into());
        }
    }
    if (!u.scheme.is_empty() || !rest.starts_with("///")) && rest.starts_with("//") {
        let authority = &rest[2..];
        let (authority, path) = match authority.find('/') {
            Some(i) => (&authority[..i], &authority[i..]),
            None => (authority, ""),
        };
        u.host = parse_authority(authority)?;
        rest = path;
    }
    u.path = unescape(rest, Mode::Path)?;
    if escape(&u.path, Mode::Path) != rest {
        u.raw_path = rest.to_string();
    }
    Ok(u)
}

fn scheme(raw: &str) -> Result<(&str, &str), String> {
    for (i, c) in raw.bytes().enumerate() {
        match c {
            b'a'..=b'z' | b'A'..=b'Z' => {}
            b'0'..=b'9' | b'+' | b'-' | b'.' if i > 0 => {}
            b':' if i == 0 => return Err("missing protocol scheme".into()),
            b':' => return Ok((&raw[..i], &raw[i + 1..])),
            _ => return Ok(("", raw)),
        }
    }
    Ok(("", raw))
}

/// The host (with port) of `[userinfo@]host[:port]`; the userinfo is checked, then dropped.
fn parse_authority(authority: &str) -> Result<String, String> {
    let at = authority.rfind('@');
    let host = parse_host(at.map_or(authority, |i| &authority[i + 1..]))?;
    if let Some(i) = at {
        let userinfo = &authority[..i];
        let valid = userinfo.chars().all(|c| c.is_ascii_alphanumeric() || "-._:~!$&'()*+,;=%@".contains(c));
        if !valid {
            return Err("net/url: invalid userinfo".into());
        }
        let (user, pass) = userinfo.split_once(':').unwrap_or((userinfo, ""));
        unescape(user, Mode::UserPassword)?;
        unescape(pass, Mode::UserPassword)?;
    }
    Ok(host)
}

fn parse_host(host: &str) -> Result<String, String> {
    if host.starts_with('[') {
        let Some(i) = host.rfind(']') else { return Err("missing ']' in host".into()) };
        let colon_port = &host[i + 1..];
        if !valid_optional_port(colon_port) {
            return Err(format!("invalid port {} after host", go_quote(colon_port)));
        }
        // An IPv6 zone (`%25eth0`) has its own escaping rules.
        if let Some(z) = host[..i].find("%25") {
            return Ok(unescape(&host[..z], Mode::Host)? + &unescape(&host[z..i], Mode::Zone)? + &unescape(&host[i..], Mode::Host)?);
        }
    } else if let Some(i) = host.rfind(':') {
        let colon_port = &host[i..];
        if !valid_optional_port(colon_port) {
            return Err(format!("invalid port {} after host", go_quote(colon_port)));
        }
    }
    unescape(host, Mode::Host)
}

fn valid_optional_port(p: &str) -> bool {
    p.is_empty() || (p.starts_with(':') && p.bytes().skip(1).all(|b| b.is_ascii_digit()))
}

/// `url.URL.Hostname()` and `.Port()`.
fn split_host_port(host_port: &str) -> (String, String) {
    let (mut host, mut port) = (host_port, "");
    if let Some(i) = host.rfind(':') {
        if valid_optional_port(&host[i..]) {
            port = &host[i + 1..];
            host = &host[..i];
        }
    }
    if host.len() >= 2 && host.starts_with('[') && host.ends_with(']') {
        host = &host[1..host.len() - 1];
    }
    (host.to_string(), port.to_string())
}

fn should_escape(c: u8, mode: Mode) -> bool {
    if c.is_ascii_alphanumeric() {
        return false;
    }
    if matches!(mode, Mode::Host | Mode::Zone) && b"!$&'()*+,;=:[]<>\"".contains(&c) {
        return false;
    }
    match c {
        b'-' | b'_' | b'.' | b'~' => false,
        b'$' | b'&' | b'+' | b',' | b'/' | b':' | b';' | b'=' | b'?' | b'@' => match mode {
            Mode::Path => c == b'?',
            Mode::UserPassword => matches!(c, b'@' | b'/' | b'?' | b':'),
            Mode::Fragment => false,
            Mode::Host | Mode::Zone => true,
        },
        b'!' | b'(' | b')' | b'*' if mode == Mode::Fragment => false,
        _ => true,
    }
}

fn hex(c: u8) -> Option<u8> {
    (c as char).to_digit(16).map(|d| d as u8)
}

/// Go's `unescape`: checks every escape first (with the host's rules), then decodes.
fn unescape(s: &str, mode: Mode) -> Result<String, String> {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        match b[i] {
            b'%' => {
                let (Some(h), Some(l)) = (b.get(i + 1).and_then(|&c| hex(c)), b.get(i + 2).and_then(|&c| hex(c))) else {
                    let end = (i + 3).min(b.len());
                    return Err(format!("invalid URL escape {}", go_quote(&String::from_utf8_lossy(&b[i..end]))));
                };
                let esc = &s[i..i + 3];
                let v = (h << 4) | l;
                // In a host, escapes may only encode non-ASCII bytes (and `%25` in a zone).
                if mode == Mode::Host && h < 8 && esc != "%25" {
                    return Err(format!("invalid URL escape {}", go_quote(esc)));
                }
                if mode == Mode::Zone && esc != "%25" && v != b' ' && should_escape(v, Mode::Host) {
                    return Err(format!("invalid URL escape {}", go_quote(esc)));
                }
                out.push(v);
                i += 3;
            }
            c => {
                if matches!(mode, Mode::Host | Mode::Zone) && c < 0x80 && should_escape(c, mode) {
                    return Err(format!("invalid character {} in host name", go_quote(&(c as char).to_string())));
                }
                out.push(c);
                i += 1;
            }
        }
    }
    Ok(String::from_utf8_lossy(&out).into_owned())
}

fn escape(s: &str, mode: Mode) -> String {
    let mut out = String::with_capacity(s.len());
    for &c in s.as_bytes() {
        if should_escape(c, mode) {
            out.push_str(&format!("%{:02X}", c));
        } else {
            out.push(c as char);
        }
    }
    out
}

/// Go's `%q`: printable characters as they are, others escaped.
fn go_quote(s: &str) -> String {
    let mut out = String::from("\"");
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\t' => out.push_str("\\t"),
            '\r' => out.push_str("\\r"),
            c if (c as u32) < 0x20 || c as u32 == 0x7f => out.push_str(&format!("\\x{:02x}", c as u32)),
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn go_parse_rules() {
        let u = parse("https://u:p@example.com:8080/a%2Fb?q=1#f%20x").unwrap();
        assert_eq!((u.scheme.as_str(), u.host.as_str(), u.path.as_str(), u.raw_path.as_str()), ("https", "example.com:8080", "/a/b", "/a%2Fb"));
        assert_eq!((u.raw_query.as_str(), u.fragment.as_str()), ("q=1", "f x"));
        assert_eq!(parse("http://exa%6dple.com/").err().unwrap(), r#"parse "http://exa%6dple.com/": invalid URL escape "%6d""#);
        assert_eq!(parse("http://[::1").err().unwrap(), r#"parse "http://[::1": missing ']' in host"#);
        assert_eq!(parse("/a%21b").unwrap().raw_path, "");
        assert!(parse("1a:b").is_err());
    }
}
