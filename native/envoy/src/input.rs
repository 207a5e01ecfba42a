//! CheckRequest bytes → the input document opa-envoy-plugin gives policies:
//! `attributes` (protomap of the request), `parsed_path`, `parsed_query`,
//! `parsed_body`, `truncated_body`, `version`, `source_principal`.

use crate::body::{self, BodyError};
use crate::descriptor::Descriptors;
use crate::projection::{Projection, Sel};
use crate::protomap::{self, Naming};
use crate::schema;
use crate::url::{self, UrlError};
use crate::wire::{Reader, WireError, LEN};
use sark_engine::value::Map;
use sark_engine::Value;
use std::sync::Arc;

#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub enum ApiVersion {
    V2,
    #[default]
    V3,
}

#[derive(Clone, Debug, Default)]
pub struct InputOptions {
    /// Leave out `parsed_body` and `truncated_body` (`--skip-request-body-parse`).
    pub skip_body_parse: bool,
    /// A protobuf descriptor set (`--proto-descriptor`): gRPC request bodies
    /// of the methods it describes become `parsed_body`, as protojson.
    pub descriptors: Option<Arc<Descriptors>>,
}

/// Why a request could not become an input document.
#[derive(Debug, Clone, PartialEq)]
pub enum RequestError {
    /// The bytes are not a CheckRequest: the gRPC call fails INVALID_ARGUMENT.
    Malformed(WireError),
    /// The HTTP request it describes is unreadable (bad escape in the path or
    /// query, unparseable body): answered with a 400 deny.
    BadUrl(UrlError),
    BadBody(BodyError),
}

impl RequestError {
    /// A snake_case code for logs and metrics; never sent to clients with detail.
    pub fn code(&self) -> &'static str {
        match self {
            RequestError::Malformed(_) => "request_malformed",
            RequestError::BadUrl(_) => "request_path_invalid",
            RequestError::BadBody(_) => "request_body_invalid",
        }
    }
}

fn s(k: &'static str) -> Value {
    Value::interned(k)
}

/// `CheckRequest.attributes` (field 1), decoded as far as `sel` reaches;
/// `None` when absent.
fn decode_attributes(bytes: &[u8], naming: Naming, sel: Sel<'_>) -> Result<Option<Map>, RequestError> {
    let mut r = Reader::new(bytes);
    let mut attrs: Option<Map> = None;
    while !r.done() {
        match r.tag().map_err(RequestError::Malformed)? {
            (1, LEN) => {
                let m = protomap::decode_selected(&schema::ATTRIBUTE_CONTEXT, r.bytes().map_err(RequestError::Malformed)?, naming, sel)
                    .map_err(RequestError::Malformed)?;
                // A message field seen twice merges, as in protobuf.
                match &mut attrs {
                    None => attrs = Some(m),
                    Some(a) => a.extend(m),
                }
            }
            (_, wt) => r.skip(wt).map_err(RequestError::Malformed)?,
        }
    }
    Ok(attrs)
}

/// The whole input document.
pub fn check_request_to_input(bytes: &[u8], version: ApiVersion, opts: &InputOptions) -> Result<Value, RequestError> {
    build(bytes, version, opts, None)
}

/// The input document as far as `projection` reaches: what the prepared
/// decision can read (and what validation needs) is built; the rest of the
/// request is skipped. Same errors as [`check_request_to_input`].
pub fn check_request_to_projected_input(bytes: &[u8], version: ApiVersion, opts: &InputOptions, projection: &Projection) -> Result<Value, RequestError> {
    build(bytes, version, opts, Some(projection))
}

fn build(bytes: &[u8], version: ApiVersion, opts: &InputOptions, projection: Option<&Projection>) -> Result<Value, RequestError> {
    let naming = match version {
        ApiVersion::V3 => Naming::Json,
        ApiVersion::V2 => Naming::Proto,
    };
    let sel = match projection {
        None => Sel::All,
        Some(p) => p.attributes(),
    };
    // At most seven keys: attributes and the six below.
    let mut input = Map::with_capacity(7);
    if let Some(attrs) = decode_attributes(bytes, naming, sel)? {
        input.insert(s("attributes"), Value::from_map(attrs));
    }

    let empty = Map::new();
    let http = http_request(&input).unwrap_or(&empty);
    // Shared, not copied: the strings stay in the document too.
    let get_str = |k: &'static str| match http.get_str(k) {
        Some(Value::String(a)) => Some(a.clone()),
        _ => None,
    };
    let path_arc = get_str("path");
    let body_arc = get_str("body");
    let path: &str = path_arc.as_deref().unwrap_or("");
    let body_text: &str = body_arc.as_deref().unwrap_or("");
    let raw_body = match http.get_str(if naming == Naming::Json { "rawBody" } else { "raw_body" }) {
        Some(Value::String(b64)) => base64::Engine::decode(&crate::BASE64, b64.as_bytes()).unwrap_or_default(),
        _ => Vec::new(),
    };

    // Beyond the plugin: raw headers (`encode_raw_headers`) folded into the
    // `headers` object that policies already read.
    let header_map_key = if naming == Naming::Json { "headerMap" } else { "header_map" };
    let folded = fold_header_map(http.get_str(header_map_key), naming);
    let mut headers: Arc<Map> = match http.get_str("headers") {
        Some(Value::Object(h)) => h.clone(),
        _ => Arc::new(Map::new()),
    };
    if let Some(folded) = folded {
        let hs = Arc::make_mut(&mut headers);
        for (k, v) in folded {
            hs.entry(k).or_insert(v);
        }
        if !headers.is_empty() {
            set_http_headers(&mut input, (*headers).clone());
        }
    }

    // Computed in the order their errors take precedence; inserted in key
    // order (attributes, parsed_body, parsed_path, parsed_query,
    // source_principal, truncated_body, version), so that every insert is an
    // append rather than a search and a move.
    let parsed_path = url::parsed_path(path).map_err(RequestError::BadUrl)?;
    // A query the decision cannot read is only validated (a bad one is still a 400).
    let parsed_query = if projection.map_or(true, |p| p.wants("parsed_query")) {
        Some(url::parsed_query(path).map_err(RequestError::BadUrl)?)
    } else {
        url::validate_query(path).map_err(RequestError::BadUrl)?;
        None
    };
    let (parsed_body, truncated) = if opts.skip_body_parse {
        (None, None)
    } else {
        let grpc = opts.descriptors.as_deref().map(|descriptors| body::Grpc { descriptors, parsed_path: &parsed_path });
        let (parsed, truncated) = body::parse_with(&headers, body_text, &raw_body, grpc).map_err(RequestError::BadBody)?;
        (Some(parsed), Some(truncated))
    };
    let principal = source_principal(&input);
    if let Some(parsed) = parsed_body {
        input.insert(s("parsed_body"), parsed);
    }
    input.insert(s("parsed_path"), parsed_path);
    if let Some(q) = parsed_query {
        input.insert(s("parsed_query"), q);
    }
    if let Some(p) = principal {
        input.insert(s("source_principal"), p);
    }
    if let Some(truncated) = truncated {
        input.insert(s("truncated_body"), Value::Bool(truncated));
    }
    input.insert(s("version"), version_info(version));
    Ok(Value::from_map(input))
}

thread_local! {
    /// The `version` objects never change: built once per thread.
    static VERSION_INFO: [Value; 2] = [make_version_info(ApiVersion::V3), make_version_info(ApiVersion::V2)];
}

fn version_info(version: ApiVersion) -> Value {
    VERSION_INFO
        .try_with(|[v3, v2]| if version == ApiVersion::V2 { v2.clone() } else { v3.clone() })
        .unwrap_or_else(|_| make_version_info(version))
}

fn make_version_info(version: ApiVersion) -> Value {
    let (api, enc) = match version {
        ApiVersion::V3 => ("v3", "protojson"),
        ApiVersion::V2 => ("v2", "encoding/json"),
    };
    let mut m = Map::new();
    m.insert(s("encoding"), s(enc));
    m.insert(s("ext_authz"), s(api));
    Value::from_map(m)
}

fn http_request(input: &Map) -> Option<&Map> {
    input.get_str("attributes")?.field("request")?.field("http")?.as_object()
}

fn source_principal(input: &Map) -> Option<Value> {
    let p = input.get_str("attributes")?.field("source")?.field("principal")?;
    match p {
        Value::String(x) if !x.is_empty() => Some(p.clone()),
        _ => None,
    }
}

/// `header_map.headers[]` → `{key: value}`; repeated keys joined with `,` as
/// Envoy joins them in `headers`; `raw_value` bytes read as text.
fn fold_header_map(header_map: Option<&Value>, naming: Naming) -> Option<Map> {
    let list = header_map?.field("headers")?.as_array()?;
    let raw_key = if naming == Naming::Json { "rawValue" } else { "raw_value" };
    let mut out: Map = Map::new();
    for hv in list.iter() {
        let key = match hv.field("key").and_then(|k| k.as_str()) {
            Some(k) => k.to_ascii_lowercase(),
            None => continue,
        };
        let value = match (hv.field("value").and_then(|v| v.as_str()), hv.field(raw_key).and_then(|v| v.as_str())) {
            (Some(v), _) => v.to_string(),
            (None, Some(b64)) => String::from_utf8_lossy(&base64::Engine::decode(&crate::BASE64, b64.as_bytes()).unwrap_or_default()).into_owned(),
            (None, None) => String::new(),
        };
        let k = Value::from(key);
        let joined = match out.get(&k).and_then(|v| v.as_str()) {
            Some(prev) => format!("{},{}", prev, value),
            None => value,
        };
        out.insert(k, Value::from(joined));
    }
    Some(out)
}

fn set_http_headers(input: &mut Map, headers: Map) {
    // attributes.request.http.headers = headers, rebuilding the Arc path.
    let path = ["attributes", "request", "http"];
    fn set(obj: &mut Map, path: &[&'static str], headers: Map) {
        match path.split_first() {
            None => {
                obj.insert(s("headers"), Value::from_map(headers));
            }
            Some((first, rest)) => {
                if let Some(Value::Object(child)) = obj.get_mut(&s(first)) {
                    set(Arc::make_mut(child), rest, headers);
                }
            }
        }
    }
    set(input, &path, headers);
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::wire::Writer;

    /// A CheckRequest as Envoy fills it for `GET /api/items?id=7`.
    fn envoy_request(path: &str, extra_headers: &[(&str, &str)], body: &str) -> Vec<u8> {
        let mut w = Writer::default();
        w.message_field(1, |attrs| {
            attrs.message_field(1, |src| {
                src.message_field(1, |addr| {
                    addr.message_field(1, |sa| {
                        sa.string_field(2, "10.0.0.7");
                        sa.uint_field(3, 53122);
                    })
                });
                src.string_field(4, "spiffe://cluster.local/ns/default/sa/web");
            });
            attrs.message_field(4, |req| {
                req.message_field(1, |ts| {
                    ts.int_field(1, 1_764_000_000);
                    ts.int_field(2, 5);
                });
                req.message_field(2, |http| {
                    http.string_field(1, "14414468293557563000");
                    http.string_field(2, "GET");
                    let mut headers = vec![(":method", "GET"), (":path", path), ("x-request-id", "abc")];
                    headers.extend_from_slice(extra_headers);
                    for (k, v) in headers {
                        http.message_field(3, |e| {
                            e.string_field(1, k);
                            e.string_field(2, v);
                        });
                    }
                    http.string_field(4, path);
                    http.string_field(5, "example.com");
                    http.string_field(10, "HTTP/1.1");
                    http.string_field(11, body);
                });
            });
        });
        w.buf
    }

    #[test]
    fn builds_the_plugin_input_document() {
        let bytes = envoy_request("/api/items?id=7", &[], "");
        let v = check_request_to_input(&bytes, ApiVersion::V3, &InputOptions::default()).unwrap();
        assert_eq!(v.field("parsed_path").unwrap().to_json(), r#"["api","items"]"#);
        assert_eq!(v.field("parsed_query").unwrap().to_json(), r#"{"id":["7"]}"#);
        assert_eq!(v.field("parsed_body"), Some(&Value::Null));
        assert_eq!(v.field("truncated_body"), Some(&Value::Bool(false)));
        assert_eq!(v.field("source_principal").unwrap().as_str(), Some("spiffe://cluster.local/ns/default/sa/web"));
        assert_eq!(v.field("version").unwrap().to_json(), r#"{"encoding":"protojson","ext_authz":"v3"}"#);
        let attrs = v.field("attributes").unwrap();
        assert_eq!(attrs.field("request").unwrap().field("time").unwrap().to_json(), r#"{"nanos":5,"seconds":1764000000}"#);
        assert_eq!(
            attrs.field("source").unwrap().field("address").unwrap().to_json(),
            r#"{"socketAddress":{"address":"10.0.0.7","portValue":53122}}"#
        );
    }

    #[test]
    fn body_errors_and_bad_paths_are_request_errors() {
        let bytes = envoy_request("/x", &[("content-type", "application/json")], "{not json");
        assert!(matches!(check_request_to_input(&bytes, ApiVersion::V3, &InputOptions::default()), Err(RequestError::BadBody(_))));
        let skip = InputOptions { skip_body_parse: true, ..Default::default() };
        let v = check_request_to_input(&bytes, ApiVersion::V3, &skip).unwrap();
        assert!(v.field("parsed_body").is_none());
        let bytes = envoy_request("/x%zz", &[], "");
        assert!(matches!(check_request_to_input(&bytes, ApiVersion::V3, &InputOptions::default()), Err(RequestError::BadUrl(_))));
        assert!(matches!(check_request_to_input(&[0x0a, 0x10], ApiVersion::V3, &InputOptions::default()), Err(RequestError::Malformed(_))));
    }
}
