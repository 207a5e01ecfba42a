//! Go's `url.PathUnescape` and `url.ParseQuery`, which opa-envoy-plugin uses
//! to build `parsed_path` and `parsed_query`: same escapes, same errors.

use std::borrow::Cow;
use sark_engine::value::Map;
use sark_engine::Value;

#[derive(Debug, Clone, PartialEq)]
pub enum UrlError {
    /// `%` not followed by two hex digits.
    InvalidEscape,
    /// `;` in a query (Go rejects it since 1.17).
    Semicolon,
}

/// Percent-decodes; `plus_is_space` for query components. Bytes that are not
/// UTF-8 after decoding become U+FFFD (policies see strings).
pub fn unescape(s: &str, plus_is_space: bool) -> Result<Cow<'_, str>, UrlError> {
    let b = s.as_bytes();
    if !b.iter().any(|&c| c == b'%' || (plus_is_space && c == b'+')) {
        return Ok(Cow::Borrowed(s));
    }
    let out = sark_engine::builtins::percent_decode(s, plus_is_space).map_err(|_| UrlError::InvalidEscape)?;
    Ok(Cow::Owned(String::from_utf8_lossy(&out).into_owned()))
}

/// `parsed_path`, as opa-envoy-plugin builds it since its fix of GHSA-9f29-v6mm-pw6w:
/// the path before `?`, percent-decoded, with *every* leading `/` trimmed,
/// split on `/`. `/` gives `[""]`; `//admin/x` gives `["admin","x"]`, so a
/// policy denying `parsed_path[0] == "admin"` cannot be bypassed with `//`.
pub fn parsed_path(path: &str) -> Result<Value, UrlError> {
    let raw = split_once_ascii(path, b'?').map_or(path, |(p, _)| p);
    let decoded = unescape(raw, false)?;
    let mut rest = decoded.trim_start_matches('/');
    let mut segments = Vec::new();
    while let Some((segment, tail)) = split_once_ascii(rest, b'/') {
        segments.push(Value::from(segment));
        rest = tail;
    }
    segments.push(Value::from(rest));
    Ok(Value::from_array(segments))
}

/// `s.split_once(c)` for an ASCII `c`, by a plain byte scan: paths are
/// short, and `str`'s char searcher costs more in setting up than scanning.
fn split_once_ascii(s: &str, c: u8) -> Option<(&str, &str)> {
    let i = s.bytes().position(|b| b == c)?;
    // An ASCII byte is always a character boundary, so both halves exist.
    Some((s.get(..i)?, s.get(i + 1..)?))
}

/// The query part of a request path (after the first `?`; empty without one).
fn query_of(path: &str) -> &str {
    split_once_ascii(path, b'?').map_or("", |(_, q)| q)
}

/// `parsed_query`: Go's `url.ParseQuery` of the part after `?`, as
/// `{key: [values...]}` with values in order of appearance.
pub fn parsed_query(path: &str) -> Result<Value, UrlError> {
    parse_query(query_of(path)).map(Value::from_map)
}

/// Whether `parsed_query` of `path` would succeed, without building it.
pub fn validate_query(path: &str) -> Result<(), UrlError> {
    // Bytes, not `str` searches: `&`, `;` and `%` are ASCII.
    for part in query_of(path).as_bytes().split(|&c| c == b'&') {
        if part.contains(&b';') {
            return Err(UrlError::Semicolon);
        }
        let mut i = 0;
        while let Some(&c) = part.get(i) {
            if c == b'%' {
                let ok = part.get(i + 1).is_some_and(u8::is_ascii_hexdigit) && part.get(i + 2).is_some_and(u8::is_ascii_hexdigit);
                if !ok {
                    return Err(UrlError::InvalidEscape);
                }
                i += 3;
            } else {
                i += 1;
            }
        }
    }
    Ok(())
}

/// Go's `url.ParseQuery`: pairs split on `&`, `+` as space; the first error wins.
pub fn parse_query(raw: &str) -> Result<Map, UrlError> {
    let mut m = Map::new();
    let mut err = None;
    for part in raw.split('&') {
        if part.contains(';') {
            err.get_or_insert(UrlError::Semicolon);
            continue;
        }
        if part.is_empty() {
            continue;
        }
        let (k, v) = part.split_once('=').unwrap_or((part, ""));
        let (k, v) = match (unescape(k, true), unescape(v, true)) {
            (Ok(k), Ok(v)) => (k, v),
            (Err(e), _) | (_, Err(e)) => {
                err.get_or_insert(e);
                continue;
            }
        };
        m.entry(Value::from(&*k)).or_insert_with(Value::empty_array).array_push(Value::from(&*v));
    }
    match err {
        Some(e) => Err(e),
        None => Ok(m),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn p(s: &str) -> String {
        parsed_path(s).unwrap().to_json()
    }

    #[test]
    fn parses_paths_like_the_plugin() {
        assert_eq!(p("/"), r#"[""]"#);
        assert_eq!(p("/api/v1/products?x=1"), r#"["api","v1","products"]"#);
        assert_eq!(p("/a%2Fb/c%20d"), r#"["a","b","c d"]"#);
        assert_eq!(p("//admin/x"), r#"["admin","x"]"#);
        assert_eq!(p("///admin"), r#"["admin"]"#);
        assert_eq!(p("%2F%2Fadmin/x"), r#"["admin","x"]"#);
        assert_eq!(p("//"), r#"[""]"#);
        assert_eq!(p("/a+b"), r#"["a+b"]"#);
        assert!(parsed_path("/bad%zz").is_err());
    }

    #[test]
    fn byte_scans_split_as_str_split_does() {
        for path in ["", "/", "//", "a", "/a/", "/a//b", "/é/日本?x/y", "?", "/?", "/a?b?c", "/x/y/z/", "///"] {
            let reference = path.split_once('?').map_or(path, |(p, _)| p).trim_start_matches('/').split('/').map(Value::from).collect::<Vec<_>>();
            assert_eq!(parsed_path(path).unwrap(), Value::from_array(reference), "{:?}", path);
            assert_eq!(query_of(path), path.split_once('?').map_or("", |(_, q)| q), "{:?}", path);
        }
    }

    #[test]
    fn validates_queries_as_parsing_does() {
        for q in ["/x", "/x?a=1&b=%20", "/x?a=%zz", "/x?a;b", "/x?%", "/x?a=1&&b", "/x?a=%2", "/x?k%41=v", "/x?a=%zz&b;c", "/x?a;%zz", "/x?a=%2&3", "/x?a=1?b=%41"] {
            assert_eq!(validate_query(q).err(), parsed_query(q).err(), "{}", q);
        }
    }

    #[test]
    fn parses_queries_like_go() {
        let q = parsed_query("/p?b=2&a=1&a=x+y&flag&&c=%41").unwrap();
        assert_eq!(q.to_json(), r#"{"a":["1","x y"],"b":["2"],"c":["A"],"flag":[""]}"#);
        assert_eq!(parsed_query("/p?a=1;b=2"), Err(UrlError::Semicolon));
        assert_eq!(parsed_query("/p?a=%"), Err(UrlError::InvalidEscape));
        assert_eq!(parsed_query("/p").unwrap().to_json(), "{}");
    }
}
