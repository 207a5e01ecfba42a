//! `parsed_body` and `truncated_body`, as opa-envoy-plugin derives them from
//! the request headers and body: JSON (and, beyond the plugin, any
//! `application/*+json`), url-encoded forms, multipart forms and, given a
//! descriptor set, gRPC messages.

use crate::descriptor::Descriptors;
use crate::protojson;
use crate::url::parse_query;
use sark_engine::value::Map;
use sark_engine::Value;

/// Why a body could not be read. The server answers these with a 400 deny
/// and a generic message; the detail is for logs only.
#[derive(Debug, Clone, PartialEq)]
pub enum BodyError {
    InvalidContentLength,
    InvalidJson(String),
    InvalidForm,
    InvalidMultipart(&'static str),
    /// A gRPC body that cannot be read: a path that is not `/Service/Method`,
    /// a frame shorter than its 5-byte prefix, or a message that does not decode.
    InvalidGrpc(String),
}

/// What gRPC bodies need: the descriptor set and the request's `parsed_path`.
#[derive(Clone, Copy)]
pub struct Grpc<'a> {
    pub descriptors: &'a Descriptors,
    pub parsed_path: &'a Value,
}

/// Where `parsed_body` sits in the input document (`input.parsed_body`):
/// JSON bodies may nest only as deep as the whole input may (a multipart
/// part's JSON is two levels further, `parsed_body.name[i]`).
const BODY_DEPTH: usize = 1;

/// Returns `(parsed_body, truncated_body)`. `parsed_body` is null when the
/// body is absent, truncated, or of a type that is not parsed.
pub fn parse(headers: &Map, body: &str, raw_body: &[u8]) -> Result<(Value, bool), BodyError> {
    parse_with(headers, body, raw_body, None)
}

/// [`parse`], with gRPC bodies decoded when `grpc` gives a descriptor set.
pub fn parse_with(headers: &Map, body: &str, raw_body: &[u8], grpc: Option<Grpc<'_>>) -> Result<(Value, bool), BodyError> {
    let header = |name: &str| headers.get_str(name).and_then(|v| v.as_str());
    // Envoy marks a body cut at max_request_bytes, whatever the framing.
    if header("x-envoy-auth-partial-body") == Some("true") {
        return Ok((Value::Null, true));
    }
    let content_type = match header("content-type") {
        Some(ct) => ct,
        None => return Ok((Value::Null, false)),
    };
    if !content_type.contains("application/json") && content_type.contains("application/grpc") {
        return grpc_body(grpc, raw_body);
    }
    let payload: std::borrow::Cow<str> = if !body.is_empty() {
        body.into()
    } else if !raw_body.is_empty() {
        String::from_utf8_lossy(raw_body)
    } else {
        return Ok((Value::Null, false));
    };
    let kind = body_kind(content_type);
    if kind == BodyKind::Other {
        return Ok((Value::Null, false));
    }
    if let Some(cl) = header("content-length") {
        let cl: i64 = cl.trim().parse().map_err(|_| BodyError::InvalidContentLength)?;
        if cl != -1 && cl > payload.len() as i64 {
            return Ok((Value::Null, true));
        }
    }
    let parsed = match kind {
        BodyKind::Json => sark_engine::json::parse_nested(&payload, BODY_DEPTH).map_err(BodyError::InvalidJson)?,
        BodyKind::Form => Value::from_map(parse_query(&payload).map_err(|_| BodyError::InvalidForm)?),
        BodyKind::Multipart => match boundary(content_type) {
            Some(b) => multipart(&payload, &b)?,
            None => Value::Null,
        },
        BodyKind::Other => Value::Null,
    };
    Ok((parsed, false))
}

/// A gRPC request body as opa-envoy-plugin reads it: only `raw_body`
/// (Envoy's `pack_as_bytes`), only the first length-prefixed message, and
/// only for a unary or server-streaming method of a service in the set.
/// A compressed message, an unknown service or method, or a client-streaming
/// method give null; a frame longer than the bytes Envoy sent is truncated.
fn grpc_body(grpc: Option<Grpc<'_>>, raw_body: &[u8]) -> Result<(Value, bool), BodyError> {
    let g = match grpc {
        Some(g) => g,
        None => return Ok((Value::Null, false)),
    };
    if raw_body.is_empty() {
        return Ok((Value::Null, false));
    }
    // A gRPC call of method M on service S is a POST to /S/M.
    let (service, method) = match g.parsed_path.as_array() {
        Some([s, m]) => (s.as_str().unwrap_or(""), m.as_str().unwrap_or("")),
        _ => return Err(BodyError::InvalidGrpc("invalid parsed path: not /Service/Method".into())),
    };
    let Some((&[compressed, a, b, c, d], rest)) = raw_body.split_first_chunk::<5>() else {
        return Err(BodyError::InvalidGrpc("gRPC frame shorter than 5 bytes".into()));
    };
    if compressed != 0 {
        return Ok((Value::Null, false)); // compressed: not supported
    }
    let size = u32::from_be_bytes([a, b, c, d]) as usize;
    let Some(message) = rest.get(..size) else {
        return Ok((Value::Null, true));
    };
    let m = match g.descriptors.method(service, method) {
        Some(m) if !m.client_streaming => m,
        _ => return Ok((Value::Null, false)),
    };
    let v = protojson::decode_to_value(g.descriptors, m.input, message).map_err(|e| BodyError::InvalidGrpc(e.0))?;
    Ok((v, false))
}

#[derive(Debug, PartialEq, Clone, Copy)]
enum BodyKind {
    Json,
    Form,
    Multipart,
    Other,
}

fn body_kind(content_type: &str) -> BodyKind {
    if content_type.contains("application/json") {
        return BodyKind::Json;
    }
    // gRPC bodies need a descriptor set; without one they are not parsed.
    if content_type.contains("application/grpc") {
        return BodyKind::Other;
    }
    if content_type.contains("application/x-www-form-urlencoded") {
        return BodyKind::Form;
    }
    if content_type.contains("multipart/form-data") {
        return BodyKind::Multipart;
    }
    let media = content_type.split(';').next().unwrap_or("").trim().to_ascii_lowercase();
    if media.starts_with("application/") && media.ends_with("+json") {
        return BodyKind::Json;
    }
    BodyKind::Other
}

/// The `boundary` parameter of a media type, quoted or not.
fn boundary(content_type: &str) -> Option<String> {
    for param in content_type.split(';').skip(1) {
        let (k, v) = match param.split_once('=') {
            Some(kv) => kv,
            None => continue,
        };
        if k.trim().eq_ignore_ascii_case("boundary") {
            let v = v.trim();
            let v = v.strip_prefix('"').and_then(|s| s.strip_suffix('"')).unwrap_or(v);
            if v.is_empty() {
                return None;
            }
            return Some(v.to_string());
        }
    }
    None
}

/// A multipart/form-data body → `{name: [value, ...]}`; a part whose own
/// content type is JSON contributes the parsed JSON value.
fn multipart(payload: &str, boundary: &str) -> Result<Value, BodyError> {
    let delim = format!("--{}", boundary);
    let mut out = Map::new();
    let mut rest = match payload.find(&delim) {
        Some(i) => &payload[i + delim.len()..],
        None => return Err(BodyError::InvalidMultipart("no boundary found")),
    };
    loop {
        if rest.starts_with("--") {
            break; // closing delimiter
        }
        // The delimiter line ends with CRLF (or LF).
        rest = rest.trim_start_matches([' ', '\t']);
        rest = rest.strip_prefix("\r\n").or_else(|| rest.strip_prefix('\n')).ok_or(BodyError::InvalidMultipart("malformed delimiter"))?;
        let end = rest.find(&format!("\r\n{}", delim)).map(|i| (i, i + 2 + delim.len()));
        let end = end.or_else(|| rest.find(&format!("\n{}", delim)).map(|i| (i, i + 1 + delim.len())));
        let (part_end, next) = end.ok_or(BodyError::InvalidMultipart("unterminated part"))?;
        let part = &rest[..part_end];
        rest = &rest[next..];

        let (head, content) = split_head(part).ok_or(BodyError::InvalidMultipart("malformed part headers"))?;
        let mut name = None;
        let mut is_json = false;
        for line in head.lines() {
            let (k, v) = match line.split_once(':') {
                Some(kv) => kv,
                None => continue,
            };
            if k.trim().eq_ignore_ascii_case("content-disposition") {
                name = form_name(v);
            } else if k.trim().eq_ignore_ascii_case("content-type") && v.contains("application/json") {
                is_json = true;
            }
        }
        let name = match name {
            Some(n) if !n.is_empty() => n,
            _ => continue,
        };
        let value = if is_json {
            sark_engine::json::parse_nested(content, BODY_DEPTH + 2).map_err(BodyError::InvalidJson)?
        } else {
            Value::from(content)
        };
        out.entry(Value::from(name)).or_insert_with(Value::empty_array).array_push(value);
    }
    Ok(Value::from_map(out))
}

fn split_head(part: &str) -> Option<(&str, &str)> {
    if let Some(i) = part.find("\r\n\r\n") {
        return Some((&part[..i], &part[i + 4..]));
    }
    if let Some(i) = part.find("\n\n") {
        return Some((&part[..i], &part[i + 2..]));
    }
    // A part with no headers at all starts with the blank line.
    part.strip_prefix("\r\n").or_else(|| part.strip_prefix('\n')).map(|c| ("", c))
}

/// `form-data; name="field"` → `field` (only for form-data dispositions, as Go's FormName).
fn form_name(disposition: &str) -> Option<String> {
    let mut parts = disposition.split(';');
    if !parts.next()?.trim().eq_ignore_ascii_case("form-data") {
        return None;
    }
    for p in parts {
        if let Some((k, v)) = p.split_once('=') {
            if k.trim().eq_ignore_ascii_case("name") {
                let v = v.trim();
                return Some(v.strip_prefix('"').and_then(|s| s.strip_suffix('"')).unwrap_or(v).to_string());
            }
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    fn hdrs(pairs: &[(&str, &str)]) -> Map {
        pairs.iter().map(|(k, v)| (Value::from(*k), Value::from(*v))).collect()
    }

    #[test]
    fn parses_json_and_vendor_json() {
        let (v, t) = parse(&hdrs(&[("content-type", "application/json")]), r#"{"a":1}"#, b"").unwrap();
        assert_eq!((v.to_json().as_str(), t), (r#"{"a":1}"#, false));
        let (v, _) = parse(&hdrs(&[("content-type", "application/vnd.api+json; charset=utf-8")]), "[1]", b"").unwrap();
        assert_eq!(v.to_json(), "[1]");
        assert!(matches!(parse(&hdrs(&[("content-type", "application/json")]), "{bad", b""), Err(BodyError::InvalidJson(_))));
    }

    #[test]
    fn detects_truncation() {
        let h = hdrs(&[("content-type", "application/json"), ("content-length", "100")]);
        assert_eq!(parse(&h, r#"{"a":"#, b"").unwrap(), (Value::Null, true));
        let h = hdrs(&[("x-envoy-auth-partial-body", "true")]);
        assert_eq!(parse(&h, "", b"").unwrap(), (Value::Null, true));
    }

    #[test]
    fn parses_forms() {
        let (v, _) = parse(&hdrs(&[("content-type", "application/x-www-form-urlencoded")]), "a=1&b=x+y&a=2", b"").unwrap();
        assert_eq!(v.to_json(), r#"{"a":["1","2"],"b":["x y"]}"#);
        let body = "--XX\r\nContent-Disposition: form-data; name=\"user\"\r\n\r\nalice\r\n--XX\r\nContent-Disposition: form-data; name=\"meta\"\r\nContent-Type: application/json\r\n\r\n{\"k\":true}\r\n--XX--\r\n";
        let (v, _) = parse(&hdrs(&[("content-type", "multipart/form-data; boundary=XX")]), body, b"").unwrap();
        assert_eq!(v.to_json(), r#"{"meta":[{"k":true}],"user":["alice"]}"#);
    }

    #[test]
    fn ignores_other_types_and_raw_body_fallback() {
        assert_eq!(parse(&hdrs(&[("content-type", "text/plain")]), "hi", b"").unwrap(), (Value::Null, false));
        let (v, _) = parse(&hdrs(&[("content-type", "application/json")]), "", b"[true]").unwrap();
        assert_eq!(v.to_json(), "[true]");
    }
}
