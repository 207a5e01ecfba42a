//! A decision → CheckResponse bytes, mapped as opa-envoy-plugin maps it:
//! a boolean allows or denies; an object carries `allowed` and optionally
//! `headers`, `request_headers_to_remove`, `response_headers_to_add`,
//! `query_parameters_to_set`, `query_parameters_to_remove`, `body`,
//! `http_status`, `dynamic_metadata`. `decision_id` is always added to the
//! dynamic metadata. A v2 response has what v2's CheckResponse has: the
//! status and, in the HTTP response, headers (key and value), and for a
//! deny the HTTP status and body — as the plugin's v2 answer.

use crate::input::ApiVersion;
use crate::wire::Writer;
use sark_engine::Value;

/// gRPC status codes used in CheckResponse.status.
pub const GRPC_OK: i64 = 0;
pub const GRPC_PERMISSION_DENIED: i64 = 7;

/// A decision that cannot become a CheckResponse. The server turns it into
/// a gRPC error (so Envoy applies `status_on_error`); the text is for logs.
#[derive(Debug, Clone, PartialEq)]
pub struct DecisionError(pub String);

#[derive(Clone, Copy, Debug, Default)]
pub struct ResponseOptions {
    /// Log the real decision but always allow (`--dry-run`).
    pub dry_run: bool,
    /// The API the response is for: v2 has no dynamic metadata, header
    /// append actions or the OK response's v3 fields.
    pub api: ApiVersion,
}

/// What the decision said, for logs and metrics.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Outcome {
    Allow,
    Deny,
}

/// Envoy's `type.v3.StatusCode` values: an `http_status` outside this set is an error.
const ENVOY_STATUS_CODES: &[i64] = &[
    100, 200, 201, 202, 203, 204, 205, 206, 207, 208, 226, 300, 301, 302, 303, 304, 305, 307, 308, 400, 401, 402,
    403, 404, 405, 406, 407, 408, 409, 410, 411, 412, 413, 414, 415, 416, 417, 421, 422, 423, 424, 426, 428, 429,
    431, 500, 501, 502, 503, 504, 505, 506, 507, 508, 510, 511,
];

/// One header to add: key, value and Envoy's append action (0 = append if exists or add).
#[derive(Debug, Clone, PartialEq)]
struct Header {
    key: String,
    value: String,
    append_action: Option<i64>,
}

fn malformed(msg: impl Into<String>) -> DecisionError {
    DecisionError(msg.into())
}

pub fn encode_check_response(decision: &Value, decision_id: &str, opts: ResponseOptions) -> Result<(Vec<u8>, Outcome), DecisionError> {
    let (allowed, obj) = match decision {
        Value::Bool(b) => (*b, None),
        Value::Object(o) => match o.get_str("allowed") {
            Some(Value::Bool(b)) => (*b, Some(decision)),
            Some(other) => return Err(malformed(format!("expected allowed to be a boolean but got {}", other.type_name()))),
            None => return Err(malformed("missing \"allowed\" key in decision")),
        },
        other => return Err(malformed(format!("illegal value for policy evaluation result: {}", other.type_name()))),
    };
    let field = |name: &str| obj.and_then(|d| d.field(name));

    let headers = headers_of(field("headers"), "headers")?;
    let mut metadata = match field("dynamic_metadata") {
        None => Vec::new(),
        Some(Value::Object(m)) => m.iter().map(|(k, v)| (key_string(k), v.clone())).collect(),
        Some(other) => return Err(malformed(format!("expected dynamic_metadata to be an object but got {}", other.type_name()))),
    };

    // Room for the status and the decision id without growing.
    let mut w = Writer { buf: Vec::with_capacity(128) };
    let outcome = if allowed { Outcome::Allow } else { Outcome::Deny };
    let grpc_code = if allowed || opts.dry_run { GRPC_OK } else { GRPC_PERMISSION_DENIED };
    w.message_field(1, |st| st.int_field(1, grpc_code));

    let v2 = opts.api == ApiVersion::V2;
    if obj.is_some() && allowed {
        let to_remove = strings_of(field("request_headers_to_remove"), "request_headers_to_remove")?;
        let to_add = headers_of(field("response_headers_to_add"), "response_headers_to_add")?;
        let qp_set = query_params_of(field("query_parameters_to_set"))?;
        let qp_remove = strings_of(field("query_parameters_to_remove"), "query_parameters_to_remove")?;
        w.message_field(3, |ok| {
            for h in &headers {
                ok.message_field(2, |o| write_header_option(o, h, v2));
            }
            if v2 {
                return;
            }
            for s in &to_remove {
                ok.string_field(5, s);
            }
            for h in &to_add {
                ok.message_field(6, |o| write_header_option(o, h, false));
            }
            for (k, v) in &qp_set {
                ok.message_field(7, |q| {
                    q.string_field(1, k);
                    q.string_field(2, v);
                });
            }
            for s in &qp_remove {
                ok.string_field(8, s);
            }
        });
    } else if obj.is_some() && !opts.dry_run {
        let body = match field("body") {
            None => String::new(),
            Some(Value::String(s)) => s.to_string(),
            Some(other) => return Err(malformed(format!("expected body to be a string but got {}", other.type_name()))),
        };
        let status = match field("http_status") {
            None => 403,
            Some(Value::Number(n)) => match n.as_i64() {
                Some(c) if n.is_integer() && ENVOY_STATUS_CODES.contains(&c) => c,
                _ => return Err(malformed(format!("invalid HTTP status code {}", n))),
            },
            Some(other) => return Err(malformed(format!("expected http_status to be a number but got {}", other.type_name()))),
        };
        w.message_field(2, |denied| {
            denied.message_field(1, |hs| hs.int_field(1, status));
            for h in &headers {
                denied.message_field(2, |o| write_header_option(o, h, v2));
            }
            denied.string_field(3, &body);
        });
    } else if opts.dry_run && !allowed {
        w.message_field(3, |_| {});
    }

    metadata.retain(|(k, _)| k != "decision_id");
    if v2 {
        // v2's CheckResponse has no dynamic metadata.
    } else if metadata.is_empty() {
        // The usual decision: the id alone, written without building a list.
        w.message_field(4, |st| write_decision_id(st, decision_id));
    } else {
        metadata.push(("decision_id".to_string(), Value::from(decision_id)));
        metadata.sort_by(|a, b| a.0.cmp(&b.0));
        w.message_field(4, |st| write_struct_fields(st, &metadata));
    }
    Ok((w.buf, outcome))
}

/// The Struct entry `decision_id: "<id>"`, as `write_struct_fields` writes a string.
fn write_decision_id(w: &mut Writer, decision_id: &str) {
    w.message_field(1, |entry| {
        entry.string_field(1, "decision_id");
        entry.message_field(2, |pv| pv.bytes_field(3, decision_id.as_bytes()));
    });
}

/// The 400 deny for a request whose path, query or body cannot be read:
/// a short generic body, never the parser's text.
pub fn encode_bad_request(decision_id: &str, api: ApiVersion) -> Vec<u8> {
    let mut w = Writer::default();
    w.message_field(1, |st| st.int_field(1, GRPC_PERMISSION_DENIED));
    w.message_field(2, |denied| {
        denied.message_field(1, |hs| hs.int_field(1, 400));
        denied.string_field(3, "bad request");
    });
    if api == ApiVersion::V3 {
        w.message_field(4, |st| write_decision_id(st, decision_id));
    }
    w.buf
}

fn key_string(k: &Value) -> String {
    match k {
        Value::String(s) => s.to_string(),
        other => other.to_json(),
    }
}

fn append_action_number(name: &str) -> Option<i64> {
    match name {
        "APPEND_IF_EXISTS_OR_ADD" => Some(0),
        "ADD_IF_ABSENT" => Some(1),
        "OVERWRITE_IF_EXISTS_OR_ADD" => Some(2),
        "OVERWRITE_IF_EXISTS" => Some(3),
        _ => None,
    }
}

/// `headers`: an object, or an array of objects; each value a string, an
/// array of strings, or (beyond the plugin) `{"value"|"values", "append_action"}`.
fn headers_of(v: Option<&Value>, what: &str) -> Result<Vec<Header>, DecisionError> {
    let mut out = Vec::new();
    match v {
        None => {}
        Some(Value::Object(_)) => push_header_object(v.unwrap_or(&Value::Null), what, &mut out)?,
        Some(Value::Array(items)) => {
            for item in items.iter() {
                push_header_object(item, what, &mut out)?;
            }
        }
        Some(other) => return Err(malformed(format!("expected {} to be an object but got {}", what, other.type_name()))),
    }
    Ok(out)
}

fn push_header_object(obj: &Value, what: &str, out: &mut Vec<Header>) -> Result<(), DecisionError> {
    let map = obj.as_object().ok_or_else(|| malformed(format!("expected {} to be an object but got {}", what, obj.type_name())))?;
    for (k, v) in map.iter() {
        let key = k.as_str().ok_or_else(|| malformed(format!("{} keys must be strings", what)))?.to_string();
        let bad = || malformed(format!("invalid value type for header '{}'", key));
        match v {
            Value::String(s) => out.push(Header { key: key.clone(), value: s.to_string(), append_action: None }),
            Value::Array(vals) => {
                for x in vals.iter() {
                    out.push(Header { key: key.clone(), value: x.as_str().ok_or_else(bad)?.to_string(), append_action: None });
                }
            }
            Value::Object(spec) => {
                let action = match spec.get_str("append_action") {
                    None => None,
                    Some(Value::String(a)) => Some(append_action_number(a).ok_or_else(|| malformed(format!("unknown append_action '{}'", a)))?),
                    Some(_) => return Err(bad()),
                };
                let values: Vec<String> = match (spec.get_str("value"), spec.get_str("values")) {
                    (Some(Value::String(s)), None) => vec![s.to_string()],
                    (None, Some(Value::Array(a))) => a.iter().map(|x| x.as_str().map(str::to_string).ok_or_else(bad)).collect::<Result<_, _>>()?,
                    _ => return Err(bad()),
                };
                for value in values {
                    out.push(Header { key: key.clone(), value, append_action: action });
                }
            }
            _ => return Err(bad()),
        }
    }
    Ok(())
}

fn strings_of(v: Option<&Value>, what: &str) -> Result<Vec<String>, DecisionError> {
    match v {
        None => Ok(Vec::new()),
        Some(Value::Array(a)) => a
            .iter()
            .map(|x| x.as_str().map(str::to_string).ok_or_else(|| malformed(format!("expected {} values to be strings", what))))
            .collect(),
        Some(other) => Err(malformed(format!("expected {} to be an array of strings but got {}", what, other.type_name()))),
    }
}

fn query_params_of(v: Option<&Value>) -> Result<Vec<(String, String)>, DecisionError> {
    let mut out = Vec::new();
    match v {
        None => {}
        Some(Value::Object(m)) => {
            for (k, val) in m.iter() {
                let key = key_string(k);
                match val {
                    Value::String(s) => out.push((key, s.to_string())),
                    Value::Array(a) => {
                        for x in a.iter() {
                            let s = x.as_str().ok_or_else(|| malformed("expected query parameter values to be strings"))?;
                            out.push((key.clone(), s.to_string()));
                        }
                    }
                    _ => return Err(malformed("expected query parameter value to be a string or an array")),
                }
            }
        }
        Some(other) => Err(malformed(format!("expected query_parameters_to_set to be an object but got {}", other.type_name())))?,
    }
    Ok(out)
}

/// A HeaderValueOption; v2's has no append action.
fn write_header_option(w: &mut Writer, h: &Header, v2: bool) {
    w.message_field(1, |hv| {
        hv.string_field(1, &h.key);
        hv.string_field(2, &h.value);
    });
    if let (Some(a), false) = (h.append_action, v2) {
        w.int_field(3, a);
    }
}

/// google.protobuf.Struct fields from (key, value) pairs.
fn write_struct_fields(w: &mut Writer, fields: &[(String, Value)]) {
    for (k, v) in fields {
        w.message_field(1, |entry| {
            entry.string_field(1, k);
            entry.message_field(2, |pv| write_struct_value(pv, v));
        });
    }
}

fn write_struct_value(w: &mut Writer, v: &Value) {
    match v {
        Value::Null => {
            // null_value is a oneof member: written even though it is 0.
            w.varint(1 << 3);
            w.varint(0);
        }
        Value::Bool(b) => {
            w.varint(4 << 3);
            w.varint(*b as u64);
        }
        Value::Number(n) => w.double_field(2, n.as_f64()),
        Value::String(s) => w.bytes_field(3, s.as_bytes()),
        Value::Object(m) => w.message_field(5, |st| {
            let fields: Vec<(String, Value)> = m.iter().map(|(k, v)| (key_string(k), v.clone())).collect();
            write_struct_fields(st, &fields)
        }),
        Value::Array(a) => w.message_field(6, |l| {
            for x in a.iter() {
                l.message_field(1, |pv| write_struct_value(pv, x));
            }
        }),
        Value::Set(s) => w.message_field(6, |l| {
            for x in s.iter() {
                l.message_field(1, |pv| write_struct_value(pv, x));
            }
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn enc(json: &str) -> Result<Vec<u8>, DecisionError> {
        encode_check_response(&Value::from_json_str(json).unwrap(), "id-1", ResponseOptions::default()).map(|r| r.0)
    }

    #[test]
    fn boolean_decisions_set_only_the_status() {
        let allow = enc("true").unwrap();
        // status {} then dynamic_metadata {decision_id}
        assert_eq!(&allow[..2], &[0x0a, 0x00]);
        let deny = enc("false").unwrap();
        assert_eq!(&deny[..4], &[0x0a, 0x02, 0x08, 0x07]);
    }

    #[test]
    fn the_decision_id_alone_is_written_as_any_struct_field() {
        let id = "9a7f3c1e-55b2-4d0e-8f6a-0c2b9e41d7aa";
        let mut direct = Writer::default();
        write_decision_id(&mut direct, id);
        let mut listed = Writer::default();
        write_struct_fields(&mut listed, &[("decision_id".to_string(), Value::from(id))]);
        assert_eq!(direct.buf, listed.buf);
        // With other metadata the id joins the sorted list; without, it stands alone.
        let with_meta = encode_check_response(&Value::from_json_str(r#"{"allowed":true,"dynamic_metadata":{"a":1}}"#).unwrap(), id, ResponseOptions::default()).unwrap().0;
        let alone = encode_check_response(&Value::Bool(true), id, ResponseOptions::default()).unwrap().0;
        assert!(alone.ends_with(&direct.buf));
        assert!(with_meta.ends_with(&direct.buf), "decision_id sorts after a");
    }

    #[test]
    fn rejects_malformed_decisions() {
        assert!(enc(r#"{"headers":{}}"#).is_err());
        assert!(enc(r#"{"allowed":"yes"}"#).is_err());
        assert!(enc(r#"{"allowed":false,"http_status":999}"#).is_err());
        assert!(enc(r#"{"allowed":false,"body":1}"#).is_err());
        assert!(enc(r#"{"allowed":true,"headers":{"x":1}}"#).is_err());
        assert!(enc(r#""allow""#).is_err());
    }

    /// Top-level field numbers of a message.
    fn fields(buf: &[u8]) -> Vec<u32> {
        let mut r = crate::wire::Reader::new(buf);
        let mut out = Vec::new();
        while !r.done() {
            let (n, wt) = r.tag().unwrap();
            out.push(n);
            r.skip(wt).unwrap();
        }
        out
    }

    #[test]
    fn v2_responses_have_only_v2_fields() {
        let v2 = ResponseOptions { api: ApiVersion::V2, ..Default::default() };
        let allow = r#"{"allowed":true,"headers":{"x":{"value":"1","append_action":"OVERWRITE_IF_EXISTS"}},"request_headers_to_remove":["a"],"response_headers_to_add":{"b":"2"},"query_parameters_to_set":{"c":"3"},"query_parameters_to_remove":["d"],"dynamic_metadata":{"e":1}}"#;
        let (bytes, _) = encode_check_response(&Value::from_json_str(allow).unwrap(), "id", v2).unwrap();
        assert_eq!(fields(&bytes), vec![1, 3], "status and ok_response, no dynamic_metadata");
        let mut r = crate::wire::Reader::new(&bytes);
        r.tag().unwrap();
        r.skip(crate::wire::LEN).unwrap();
        r.tag().unwrap();
        let ok = r.bytes().unwrap();
        assert_eq!(fields(ok), vec![2], "ok_response: headers only");
        let mut r = crate::wire::Reader::new(ok);
        r.tag().unwrap();
        assert_eq!(fields(r.bytes().unwrap()), vec![1], "header option: no append action");
        let deny = Value::from_json_str(r#"{"allowed":false,"headers":{"x":"1"},"body":"no","dynamic_metadata":{"e":1}}"#).unwrap();
        assert_eq!(fields(&encode_check_response(&deny, "id", v2).unwrap().0), vec![1, 2]);
        assert_eq!(fields(&encode_check_response(&Value::Bool(true), "id", v2).unwrap().0), vec![1]);
        assert_eq!(fields(&encode_bad_request("id", ApiVersion::V2)), vec![1, 2]);
        assert_eq!(fields(&encode_bad_request("id", ApiVersion::V3)), vec![1, 2, 4]);
        // v3 keeps everything.
        let (v3, _) = encode_check_response(&Value::from_json_str(allow).unwrap(), "id", ResponseOptions::default()).unwrap();
        assert_eq!(fields(&v3), vec![1, 3, 4]);
    }

    #[test]
    fn dry_run_always_allows() {
        let d = Value::from_json_str(r#"{"allowed":false,"http_status":401}"#).unwrap();
        let (bytes, outcome) = encode_check_response(&d, "x", ResponseOptions { dry_run: true, ..Default::default() }).unwrap();
        assert_eq!(outcome, Outcome::Deny);
        assert_eq!(&bytes[..4], &[0x0a, 0x00, 0x1a, 0x00]);
    }
}
