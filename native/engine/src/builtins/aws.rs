//! `providers.aws.sign_req`: AWS Signature Version 4 request signing, with
//! the `Authorization` header method and a single-chunk payload, as OPA does.
//!
//! OPA's signer differs from the letter of the AWS specification in ways that
//! change the signature bytes, and this implementation follows OPA:
//! - the canonical URI is the URL's escaped path as Go's `URL.EscapedPath`
//!   gives it (an empty path stays empty, the user's %-encoding is kept);
//! - the canonical query string is the raw query, verbatim (not sorted);
//! - header values are signed verbatim (not trimmed);
//! - `x-amz-content-sha256` is added (and signed) only for `s3` and `glacier`;
//! - a request header overrides an AWS header of the same name in the
//!   canonical request, while the output always carries the AWS value.

use super::{type_err, BuiltinError, BuiltinResult, Ctx, Registry};
use crate::value::{Map, Set, Value};
use hmac::{Hmac, Mac};
use sha2::{Digest, Sha256};
use std::collections::BTreeMap;

pub fn register(r: &mut Registry) {
    r.func(
        "providers.aws",
        "providers.aws.sign_req",
        "(object[string: any], object[string: any], number) => object[any: any]",
        sign_req,
    );
}

/// Config keys that must be present, each a string.
const REQUIRED_CONFIG: [&str; 4] = ["aws_service", "aws_access_key", "aws_secret_access_key", "aws_region"];

/// The request keys `http.send` accepts; sign_req validates requests the same way.
const ALLOWED_REQUEST_KEYS: &[&str] = &[
    "method",
    "url",
    "body",
    "enable_redirect",
    "force_json_decode",
    "force_yaml_decode",
    "headers",
    "raw_body",
    "tls_use_system_certs",
    "tls_ca_cert",
    "tls_ca_cert_file",
    "tls_ca_cert_env_variable",
    "tls_client_cert",
    "tls_client_cert_file",
    "tls_client_cert_env_variable",
    "tls_client_key",
    "tls_client_key_file",
    "tls_client_key_env_variable",
    "tls_insecure_skip_verify",
    "tls_server_name",
    "timeout",
    "cache",
    "force_cache",
    "force_cache_duration_seconds",
    "raise_error",
    "caching_mode",
    "max_retry_attempts",
    "cache_ignored_headers",
];

/// Headers proxies commonly rewrite: never part of the signature.
const IGNORED_HEADERS: [&str; 3] = ["authorization", "user-agent", "x-amzn-trace-id"];

const ALGORITHM: &str = "AWS4-HMAC-SHA256";
const UNSIGNED_PAYLOAD: &str = "UNSIGNED-PAYLOAD";

/// An operand error: OPA reports these as type errors, `operand N <message>`.
fn operand_err(pos: usize, msg: String) -> BuiltinError {
    BuiltinError::Type(format!("operand {} {}", pos, msg))
}

/// The string inside a value, or "" for anything else (OPA's `stringFromTerm`).
fn str_or_empty(v: Option<&Value>) -> &str {
    v.and_then(Value::as_str).unwrap_or("")
}

fn key_set<'a>(keys: impl Iterator<Item = &'a str>) -> Value {
    Value::from_set(keys.map(Value::from).collect::<Set>())
}

fn object_operand(v: Option<&Value>) -> Result<&Map, BuiltinError> {
    match v {
        Some(Value::Object(o)) => Ok(o),
        // OPA reports both object operands as operand 1.
        Some(other) => Err(type_err(0, "object", other)),
        None => Err(BuiltinError::Eval("missing operand".into())),
    }
}

fn sign_req(_: &mut Ctx, a: &[Value]) -> BuiltinResult {
    let req = object_operand(a.first())?;
    let config = object_operand(a.get(1))?;

    // Config: the four required keys, present and strings.
    let missing: Vec<&str> =
        REQUIRED_CONFIG.iter().copied().filter(|k| config.get(&Value::from(*k)).is_none()).collect();
    if !missing.is_empty() {
        return Err(operand_err(
            2,
            format!("missing required AWS config parameters(s): {}", key_set(missing.into_iter())),
        ));
    }
    let invalid: Vec<&str> = REQUIRED_CONFIG
        .iter()
        .copied()
        .filter(|k| !matches!(config.get(&Value::from(*k)), Some(Value::String(_))))
        .collect();
    if !invalid.is_empty() {
        return Err(operand_err(
            2,
            format!("invalid values for required AWS config parameters(s): {}", key_set(invalid.into_iter())),
        ));
    }
    let cfg = |k: &str| str_or_empty(config.get(&Value::from(k)));
    let creds = Credentials {
        access_key: cfg("aws_access_key"),
        secret_key: cfg("aws_secret_access_key"),
        region: cfg("aws_region"),
        service: cfg("aws_service"),
        session_token: cfg("aws_session_token"),
    };

    // Signing time.
    let ts = match a.get(2) {
        Some(Value::Number(n)) => n.int64().ok_or_else(|| {
            operand_err(3, "could not convert time_ns value into a unix timestamp".into())
        })?,
        Some(other) => return Err(type_err(0, "number", other)),
        None => return Err(BuiltinError::Eval("missing operand 3".into())),
    };
    let (date, datetime) = signing_dates(ts)?;

    // Request: http.send's key rules, then the types of the fields used.
    let invalid: Vec<String> = req
        .keys()
        .filter(|k| !k.as_str().is_some_and(|s| ALLOWED_REQUEST_KEYS.contains(&s)))
        .map(|k| match k {
            Value::String(s) => s.to_string(),
            other => other.to_string(),
        })
        .collect();
    if !invalid.is_empty() {
        return Err(operand_err(
            1,
            format!("invalid request parameters(s): {}", key_set(invalid.iter().map(String::as_str))),
        ));
    }
    let missing: Vec<&str> = ["method", "url"].into_iter().filter(|k| req.get(&Value::from(*k)).is_none()).collect();
    if !missing.is_empty() {
        return Err(operand_err(
            1,
            format!("missing required request parameters(s): {}", key_set(missing.into_iter())),
        ));
    }
    let headers: Option<&Map> = match req.get_str("headers") {
        None => None,
        Some(Value::Object(o)) => Some(o),
        Some(other) => {
            return Err(BuiltinError::Type(format!("operand 0 must be object but got {}", other.type_name())))
        }
    };
    let url_v = req.get_str("url");
    let method_v = req.get_str("method");
    let mut bad: Vec<&str> = Vec::new();
    if !matches!(url_v, Some(Value::String(_))) {
        bad.push("url");
    }
    if !matches!(method_v, Some(Value::String(_))) {
        bad.push("method");
    }
    if !bad.is_empty() {
        return Err(operand_err(
            1,
            format!("invalid values for required request parameters(s): {}", key_set(bad.into_iter())),
        ));
    }
    let url = GoUrl::parse(str_or_empty(url_v)).map_err(BuiltinError::Eval)?;
    let method = str_or_empty(method_v);

    let body = body_bytes(req)?;

    let disable_payload_signing = match config.get_str("disable_payload_signing") {
        None => false,
        Some(Value::Bool(b)) => *b,
        Some(_) => {
            return Err(operand_err(2, "invalid value for 'disable_payload_signing' in AWS config".into()));
        }
    };

    // Request headers as single strings, keyed by their original names
    // (non-string keys and values read as "").
    let mut req_headers: BTreeMap<String, String> = BTreeMap::new();
    if let Some(h) = headers {
        for (k, v) in h.iter() {
            req_headers.insert(str_or_empty(Some(k)).to_string(), str_or_empty(Some(v)).to_string());
        }
    }

    let payload_hash = if disable_payload_signing {
        UNSIGNED_PAYLOAD.to_string()
    } else {
        hex(&Sha256::digest(&body))
    };
    let (authorization, aws_headers) =
        sign_v4(&req_headers, method, &url, &payload_hash, &creds, &date, &datetime);

    // Output headers: the request's, then Authorization, then the AWS headers (which win).
    let mut out_headers = Map::new();
    for (k, v) in &req_headers {
        out_headers.insert(Value::from(k.as_str()), Value::from(v.as_str()));
    }
    out_headers.insert(Value::from("Authorization"), Value::from(authorization));
    for (k, v) in aws_headers {
        out_headers.insert(Value::from(k), Value::from(v));
    }
    let mut out = req.clone();
    out.insert(Value::from("headers"), Value::from_map(out_headers));
    Ok(Value::from_map(out))
}

struct Credentials<'a> {
    access_key: &'a str,
    secret_key: &'a str,
    region: &'a str,
    service: &'a str,
    session_token: &'a str,
}

/// `YYYYMMDD` and `YYYYMMDDTHHMMSSZ` of a nanosecond timestamp, in UTC.
fn signing_dates(ns: i64) -> Result<(String, String), BuiltinError> {
    let secs = ns.div_euclid(1_000_000_000);
    let nanos = ns.rem_euclid(1_000_000_000) as u32;
    let t = chrono::DateTime::from_timestamp(secs, nanos).map(|t| t.naive_utc()).ok_or_else(|| {
        operand_err(3, "could not convert time_ns value into a unix timestamp".into())
    })?;
    Ok((t.format("%Y%m%d").to_string(), t.format("%Y%m%dT%H%M%SZ").to_string()))
}

/// The payload: `raw_body` as given (a non-string one is empty) if present,
/// else `body` serialized as Go's `json.Marshal` does, else nothing.
fn body_bytes(req: &Map) -> Result<Vec<u8>, BuiltinError> {
    if let Some(raw) = req.get_str("raw_body") {
        return Ok(str_or_empty(Some(raw)).as_bytes().to_vec());
    }
    let Some(body) = req.get_str("body") else {
        return Ok(Vec::new());
    };
    // json.marshal is Go's encoder (sets as arrays, HTML-safe escaping).
    let marshal = super::registry()
        .get("json.marshal")
        .and_then(|b| b.func)
        .ok_or_else(|| BuiltinError::Eval("json.marshal unavailable".into()))?;
    let mut ctx = Ctx::new(0, false);
    match marshal(&mut ctx, std::slice::from_ref(body))? {
        Value::String(s) => Ok(s.as_bytes().to_vec()),
        _ => Err(BuiltinError::Eval("could not serialize request body".into())),
    }
}

fn hex(bytes: &[u8]) -> String {
    super::crypto::hex(bytes)
}

fn hmac_sha256(key: &[u8], msg: &[u8]) -> Vec<u8> {
    match <Hmac<Sha256> as hmac::KeyInit>::new_from_slice(key) {
        Ok(mut m) => {
            m.update(msg);
            m.finalize().into_bytes().to_vec()
        }
        Err(_) => Vec::new(),
    }
}

/// The SigV4 `Authorization` header and the AWS headers to add to the request.
fn sign_v4(
    req_headers: &BTreeMap<String, String>,
    method: &str,
    url: &GoUrl,
    payload_hash: &str,
    creds: &Credentials,
    date: &str,
    datetime: &str,
) -> (String, BTreeMap<String, String>) {
    let mut aws_headers: BTreeMap<String, String> = BTreeMap::new();
    aws_headers.insert("host".into(), url.host.clone());
    aws_headers.insert("x-amz-date".into(), datetime.to_string());
    if creds.service == "s3" || creds.service == "glacier" {
        aws_headers.insert("x-amz-content-sha256".into(), payload_hash.to_string());
    }
    if !creds.session_token.is_empty() {
        aws_headers.insert("x-amz-security-token".into(), creds.session_token.to_string());
    }

    // Signed headers: the AWS ones, overridden by the request's (lower-cased,
    // minus the ignored ones). Sorted by name, as BTreeMap iterates.
    let mut signed = aws_headers.clone();
    for (k, v) in req_headers {
        let lower = k.to_lowercase();
        if !IGNORED_HEADERS.contains(&lower.as_str()) {
            signed.insert(lower, v.clone());
        }
    }
    let signed_list = signed.keys().map(String::as_str).collect::<Vec<_>>().join(";");

    let mut canonical = String::new();
    canonical.push_str(method);
    canonical.push('\n');
    canonical.push_str(&url.escaped_path());
    canonical.push('\n');
    canonical.push_str(&url.raw_query);
    canonical.push('\n');
    for (k, v) in &signed {
        canonical.push_str(k);
        canonical.push(':');
        canonical.push_str(v);
        canonical.push('\n');
    }
    canonical.push('\n');
    canonical.push_str(&signed_list);
    canonical.push('\n');
    canonical.push_str(payload_hash);

    let scope = format!("{}/{}/{}/aws4_request", date, creds.region, creds.service);
    let string_to_sign =
        format!("{}\n{}\n{}\n{}", ALGORITHM, datetime, scope, hex(&Sha256::digest(canonical.as_bytes())));

    let mut key = hmac_sha256(format!("AWS4{}", creds.secret_key).as_bytes(), date.as_bytes());
    key = hmac_sha256(&key, creds.region.as_bytes());
    key = hmac_sha256(&key, creds.service.as_bytes());
    key = hmac_sha256(&key, b"aws4_request");
    let signature = hex(&hmac_sha256(&key, string_to_sign.as_bytes()));

    let authorization = format!(
        "{} Credential={}/{},SignedHeaders={},Signature={}",
        ALGORITHM, creds.access_key, scope, signed_list, signature
    );
    (authorization, aws_headers)
}

// ---- the parts of Go's net/url that the signature depends on ----

/// A URL split as Go's `url.Parse` does, keeping what SigV4 signs.
#[derive(Debug, Default, PartialEq)]
struct GoUrl {
    /// `host[:port]` of the authority, without user info.
    host: String,
    /// The path as written (still %-encoded).
    raw_path: String,
    /// The query after `?`, verbatim, without the fragment.
    raw_query: String,
}

/// Whether Go's url package percent-encodes byte `c` in a path.
fn path_byte_needs_escape(c: u8) -> bool {
    !(c.is_ascii_alphanumeric() || b"-_.~$&+,/:;=@".contains(&c))
}


/// Percent-decodes `s`; Go's message for a malformed escape on failure.
fn unescape(s: &str) -> Result<Vec<u8>, String> {
    super::percent_decode(s, false).map_err(|i| {
        let b = s.as_bytes();
        let bad = String::from_utf8_lossy(&b[i..(i + 3).min(b.len())]).into_owned();
        format!("invalid URL escape {}", Value::from(bad))
    })
}

impl GoUrl {
    fn parse(raw: &str) -> Result<GoUrl, String> {
        let fail = |msg: String| format!("parse {}: {}", Value::from(raw), msg);
        if raw.bytes().any(|c| c < 0x20 || c == 0x7f) {
            return Err(fail("net/url: invalid control character in URL".into()));
        }
        let without_fragment = raw.split_once('#').map_or(raw, |(a, _)| a);
        let mut u = GoUrl::default();
        if without_fragment == "*" {
            u.raw_path = "*".into();
            return Ok(u);
        }

        // Scheme: a letter, then letters, digits, + - . up to the first ':'.
        let mut rest = without_fragment;
        let mut has_scheme = false;
        for (i, c) in without_fragment.bytes().enumerate() {
            if c.is_ascii_alphabetic() {
                continue;
            }
            if c.is_ascii_digit() || c == b'+' || c == b'-' || c == b'.' {
                if i == 0 {
                    break;
                }
                continue;
            }
            if c == b':' {
                if i == 0 {
                    return Err(fail("missing protocol scheme".into()));
                }
                has_scheme = true;
                rest = &without_fragment[i + 1..];
            }
            break;
        }

        if rest.ends_with('?') && rest.matches('?').count() == 1 {
            rest = &rest[..rest.len() - 1];
        } else if let Some((before, query)) = rest.split_once('?') {
            u.raw_query = query.to_string();
            rest = before;
        }

        if !rest.starts_with('/') {
            if has_scheme {
                // Opaque URL (`mailto:x`): no host, empty path.
                return Ok(u);
            }
            let first_segment = rest.split('/').next().unwrap_or("");
            if first_segment.contains(':') {
                return Err(fail("first path segment in URL cannot contain colon".into()));
            }
        }

        if (has_scheme || !rest.starts_with("///")) && rest.starts_with("//") {
            let after = &rest[2..];
            let (authority, path) = match after.find('/') {
                Some(i) => (&after[..i], &after[i..]),
                None => (after, ""),
            };
            let host = authority.rsplit_once('@').map_or(authority, |(_, h)| h);
            check_host(host).map_err(fail)?;
            u.host = host.to_string();
            rest = path;
        }

        unescape(rest).map_err(fail)?;
        u.raw_path = rest.to_string();
        Ok(u)
    }

    /// Go's `URL.EscapedPath`: the path as written when it is validly
    /// encoded, else the decoded path re-encoded.
    fn escaped_path(&self) -> String {
        let raw = self.raw_path.as_bytes();
        let valid = raw.iter().all(|&c| b"!$&'()*+,;=:@[]%".contains(&c) || !path_byte_needs_escape(c));
        if valid {
            return self.raw_path.clone();
        }
        let decoded = unescape(&self.raw_path).unwrap_or_else(|_| raw.to_vec());
        let mut out = String::with_capacity(decoded.len() * 3);
        for c in decoded {
            if path_byte_needs_escape(c) {
                out.push('%');
                out.push_str(&hex(&[c]).to_uppercase());
            } else {
                out.push(c as char);
            }
        }
        out
    }
}

/// The checks Go's url.Parse makes on a host: escapes and the port.
fn check_host(host: &str) -> Result<(), String> {
    let port_part = if host.starts_with('[') {
        match host.find(']') {
            Some(i) => &host[i + 1..],
            None => return Err("missing ']' in host".into()),
        }
    } else {
        match host.rfind(':') {
            Some(i) => &host[i..],
            None => "",
        }
    };
    if !port_part.is_empty() {
        let valid = port_part.starts_with(':') && port_part[1..].bytes().all(|c| c.is_ascii_digit());
        if !valid {
            return Err(format!("invalid port {} after host", Value::from(port_part)));
        }
    }
    unescape(host).map(|_| ())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn obj(pairs: &[(&str, Value)]) -> Value {
        Value::from_map(pairs.iter().map(|(k, v)| (Value::from(*k), v.clone())).collect())
    }

    fn config(extra: &[(&str, Value)]) -> Value {
        let mut pairs = vec![
            ("aws_access_key", Value::from("MYAWSACCESSKEYGOESHERE")),
            ("aws_secret_access_key", Value::from("MYAWSSECRETACCESSKEYGOESHERE")),
            ("aws_service", Value::from("s3")),
            ("aws_region", Value::from("us-east-1")),
        ];
        pairs.extend(extra.iter().cloned());
        obj(&pairs)
    }

    const T: i64 = 1451311705000000000;

    fn sign(req: Value, cfg: Value) -> BuiltinResult {
        sign_req(&mut Ctx::new(0, true), &[req, cfg, Value::int(T)])
    }

    fn header(out: &Value, name: &str) -> String {
        out.field("headers").and_then(|h| h.field(name)).and_then(Value::as_str).unwrap_or("").to_string()
    }

    #[test]
    fn aws_simple_no_body() {
        let req = obj(&[("method", Value::from("get")), ("url", Value::from("http://example.com"))]);
        let out = sign(req, config(&[])).unwrap();
        assert_eq!(
            header(&out, "Authorization"),
            "AWS4-HMAC-SHA256 Credential=MYAWSACCESSKEYGOESHERE/20151228/us-east-1/s3/aws4_request,\
             SignedHeaders=host;x-amz-content-sha256;x-amz-date,\
             Signature=0047a7016c81e5c7f29cd522f97e911e04fc472fced0aee7916cbc287ad6c8e3"
        );
        assert_eq!(header(&out, "host"), "example.com");
        assert_eq!(header(&out, "x-amz-date"), "20151228T140825Z");
        assert_eq!(
            header(&out, "x-amz-content-sha256"),
            "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
        );
    }

    #[test]
    fn aws_existing_sha_header_signed_but_replaced() {
        let headers = obj(&[("foo", Value::from("bar")), ("x-amz-content-sha256", Value::from("existing-value"))]);
        let body = obj(&[("example", Value::from_set((1..=4).map(Value::int).collect()))]);
        let req = obj(&[
            ("method", Value::from("get")),
            ("url", Value::from("https://example.com")),
            ("headers", headers),
            ("body", body),
        ]);
        let out = sign(req, config(&[("disable_payload_signing", Value::Bool(true))])).unwrap();
        assert!(header(&out, "Authorization").ends_with(
            "Signature=edcd3ca3fd3acdfbcecad1a1d8062dbc6562d90352e294c336f9727397f9c383"
        ));
        assert_eq!(header(&out, "x-amz-content-sha256"), "UNSIGNED-PAYLOAD");
        assert_eq!(header(&out, "foo"), "bar");
    }

    #[test]
    fn aws_non_s3_has_no_content_header() {
        let req = obj(&[("method", Value::from("GET")), ("url", Value::from("https://x.example.com/a b?q=1"))]);
        let out = sign(req, config(&[("aws_service", Value::from("execute-api"))])).unwrap();
        assert_eq!(header(&out, "x-amz-content-sha256"), "");
        assert!(header(&out, "Authorization").contains("SignedHeaders=host;x-amz-date,"));
    }

    #[test]
    fn aws_config_errors() {
        let req = obj(&[("method", Value::from("get")), ("url", Value::from("http://example.com"))]);
        let cfg = obj(&[("aws_access_key", Value::from("k")), ("aws_service", Value::int(1))]);
        assert_eq!(
            sign(req.clone(), cfg),
            Err(BuiltinError::Type(
                "operand 2 missing required AWS config parameters(s): {\"aws_region\", \"aws_secret_access_key\"}".into()
            ))
        );
        assert_eq!(
            sign(req.clone(), config(&[("aws_region", Value::int(1))])),
            Err(BuiltinError::Type("operand 2 invalid values for required AWS config parameters(s): {\"aws_region\"}".into()))
        );
        assert_eq!(
            sign(req, config(&[("disable_payload_signing", Value::from("yes"))])),
            Err(BuiltinError::Type("operand 2 invalid value for 'disable_payload_signing' in AWS config".into()))
        );
    }

    #[test]
    fn aws_request_errors() {
        let no_url = obj(&[("method", Value::from("get"))]);
        assert_eq!(
            sign(no_url, config(&[])),
            Err(BuiltinError::Type("operand 1 missing required request parameters(s): {\"url\"}".into()))
        );
        let extra = obj(&[("method", Value::from("get")), ("url", Value::from("http://x")), ("foo", Value::Null)]);
        assert_eq!(
            sign(extra, config(&[])),
            Err(BuiltinError::Type("operand 1 invalid request parameters(s): {\"foo\"}".into()))
        );
        let bad_types = obj(&[("method", Value::int(1)), ("url", Value::Null)]);
        assert_eq!(
            sign(bad_types, config(&[])),
            Err(BuiltinError::Type(
                "operand 1 invalid values for required request parameters(s): {\"method\", \"url\"}".into()
            ))
        );
        let bad_url = obj(&[("method", Value::from("get")), ("url", Value::from("http://x/%zz"))]);
        assert_eq!(
            sign(bad_url, config(&[])),
            Err(BuiltinError::Eval("parse \"http://x/%zz\": invalid URL escape \"%zz\"".into()))
        );
        let req = obj(&[("method", Value::from("get")), ("url", Value::from("http://x"))]);
        assert!(matches!(
            sign_req(&mut Ctx::new(0, true), &[req, config(&[]), Value::float(1.5)]),
            Err(BuiltinError::Type(_))
        ));
    }

    #[test]
    fn aws_go_url_parts() {
        let u = GoUrl::parse("https://user:pw@example.com:8443/a%2Fb/c d?x=2&a=1#frag").unwrap();
        assert_eq!(u.host, "example.com:8443");
        assert_eq!(u.raw_query, "x=2&a=1");
        // Not validly encoded as written (a raw space): the decoded path is re-encoded, as Go does.
        assert_eq!(u.escaped_path(), "/a/b/c%20d");
        assert_eq!(GoUrl::parse("http://h/a%2Fb/c").unwrap().escaped_path(), "/a%2Fb/c");
        assert_eq!(GoUrl::parse("http://example.com").unwrap().escaped_path(), "");
        assert_eq!(GoUrl::parse("http://example.com/a%2fb").unwrap().escaped_path(), "/a%2fb");
        assert_eq!(GoUrl::parse("http://example.com/é").unwrap().escaped_path(), "/%C3%A9");
        assert!(GoUrl::parse("http://example.com:abc/").is_err());
        assert!(GoUrl::parse(":foo").is_err());
    }
}
