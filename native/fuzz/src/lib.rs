//! The fuzz targets' bodies, one function per target. The libFuzzer
//! binaries in `fuzz_targets/` call them; `native/envoy/tests/fuzz_corpus.rs`
//! includes this file to replay the committed corpora under `cargo test`,
//! so CI exercises every target on stable without building for libFuzzer.
//! A panic is a finding; errors are the expected answer to bad input.

use sark_engine::builtins::{registry, Ctx};
use sark_engine::value::Map;
use sark_engine::{CompileOptions, EvalLimits, Policy, SourceFile, Value};
use sark_envoy::{check_request_to_input, ApiVersion, Descriptors, InputOptions};
use std::sync::OnceLock;

/// The Rego lexer and parser, v1 and v0 syntax: any text gives a module or
/// parse errors, never a panic or unbounded recursion.
pub fn rego_parse(data: &[u8]) {
    if let Ok(src) = std::str::from_utf8(data) {
        let _ = sark_engine::parser::parse_module(src, 0, false);
        let _ = sark_engine::parser::parse_module(src, 0, true);
    }
}

/// Compiler and evaluator: a module that compiles is evaluated whole
/// (`data`) under small limits; errors are fine, panics and overruns are not.
pub fn rego_eval(data: &[u8]) {
    let Ok(src) = std::str::from_utf8(data) else { return };
    sark_engine::set_max_eval_memory(16 << 20);
    let files = [SourceFile { name: "fuzz.rego".into(), text: src.into() }];
    for strict in [false, true] {
        let opts = CompileOptions { strict_builtin_errors: strict, ..Default::default() };
        let Ok(policy) = Policy::compile(&files, Value::empty_object(), &opts) else { return };
        let limits = EvalLimits { max_steps: 50_000, max_depth: 64, ..EvalLimits::default() };
        let input = Value::from_json_str(r#"{"a":[1,"x",{"b":null}],"s":"hello"}"#).unwrap();
        let _ = policy.query("data", Some(&input), &limits);
    }
}

/// The JSON reader used for data, bodies and `json.unmarshal`: what it
/// accepts, its own writer writes back to the same value. One exception
/// (docs/conformance.md, decimals beyond float64): a number with a fraction
/// is read as a float64, so `1000…0.5` with 145 digits becomes 1e144, which
/// the writer prints as `1e+144`, an exact integer on reading. OPA keeps
/// the decimal text; we don't yet. There the written text must still read
/// back to a value that is stable from then on.
pub fn json(data: &[u8]) {
    let Ok(text) = std::str::from_utf8(data) else { return };
    if let Ok(v) = Value::from_json_str(text) {
        let written = v.to_json();
        // `1e9999` reads as an exact integer of 10,000 digits, which the reader
        // refuses as text (numbers are limited to MAX_TEXT characters,
        // docs/limits.md): a clean error, and only for such numbers.
        let Ok(again) = Value::from_json_str(&written) else {
            assert!(written.len() > sark_engine::Number::MAX_TEXT, "own output parses: {}", written);
            return;
        };
        if has_float(&v) {
            let third = Value::from_json_str(&again.to_json()).expect("own output parses");
            assert_eq!(again, third);
        } else {
            assert_eq!(v, again);
        }
    }
}

fn has_float(v: &Value) -> bool {
    match v {
        Value::Number(sark_engine::Number::Float(_)) => true,
        Value::Array(a) => a.iter().any(has_float),
        Value::Object(m) => m.iter().any(|(k, v)| has_float(k) || has_float(v)),
        Value::Set(s) => s.iter().any(has_float),
        _ => false,
    }
}

/// The CheckRequest decoder and the input builder (paths, queries, headers,
/// bodies), for API v3 and v2: bytes give an input or a request error.
pub fn check_request(data: &[u8]) {
    let Some((&sel, bytes)) = data.split_first() else { return };
    let version = if sel & 1 == 0 { ApiVersion::V3 } else { ApiVersion::V2 };
    let opts = InputOptions { skip_body_parse: sel & 2 != 0, descriptors: None };
    let _ = check_request_to_input(bytes, version, &opts);
}

const TYPES: &[&str] = &[
    "application/json",
    "application/json; charset=utf-8",
    "application/x-www-form-urlencoded",
    "multipart/form-data; boundary=XyZ",
    "multipart/mixed; boundary=\"a b\"",
    "application/cloudevents+json",
    "text/plain",
    "application/grpc",
];

/// The body parsers (JSON, form, multipart, and the rest by content type):
/// the first byte picks a content type, the rest is the body, given both as
/// text and as raw bytes as Envoy may send it.
pub fn request_body(data: &[u8]) {
    let Some((&sel, body)) = data.split_first() else { return };
    let mut headers = Map::new();
    headers.insert(Value::from("content-type"), Value::from(TYPES[sel as usize % TYPES.len()]));
    if sel & 0x80 != 0 {
        headers.insert(Value::from("x-envoy-auth-partial-body"), Value::from("false"));
    }
    match std::str::from_utf8(body) {
        Ok(text) if sel & 0x40 == 0 => {
            let _ = sark_envoy::body::parse(&headers, text, &[]);
        }
        _ => {
            let _ = sark_envoy::body::parse(&headers, "", body);
        }
    }
}

/// Built by `protoc --include_imports` from test/fixtures/grpc (see README).
static SET: &[u8] = include_bytes!("../descriptors/authz_test.pb");

fn descriptors() -> &'static Descriptors {
    static D: OnceLock<Descriptors> = OnceLock::new();
    D.get_or_init(|| Descriptors::from_bytes(SET).expect("test descriptor set"))
}

/// gRPC bodies through a descriptor set: protobuf bytes of any message of
/// the test descriptor set rendered as protojson; and the descriptor set
/// reader itself on the same bytes.
pub fn protojson(data: &[u8]) {
    let Some((&sel, bytes)) = data.split_first() else { return };
    let d = descriptors();
    let n = d.messages.len();
    if n > 0 {
        let _ = sark_envoy::protojson::decode_to_value(d, sel as usize % n, bytes);
    }
    let _ = Descriptors::from_bytes(data);
}

/// JWT decoding (`io.jwt.decode`) on any token text.
pub fn jwt(data: &[u8]) {
    let Ok(token) = std::str::from_utf8(data) else { return };
    let decode = registry().get("io.jwt.decode").and_then(|b| b.func).expect("io.jwt.decode");
    let _ = decode(&mut Ctx::new(0, true), &[Value::from(token)]);
}

/// `yaml.unmarshal` on any text: a value or an error, bounded in time and memory.
pub fn yaml(data: &[u8]) {
    let Ok(text) = std::str::from_utf8(data) else { return };
    let unmarshal = registry().get("yaml.unmarshal").and_then(|b| b.func).expect("yaml.unmarshal");
    let _ = unmarshal(&mut Ctx::new(0, true), &[Value::from(text)]);
}
