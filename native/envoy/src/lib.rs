//! sark-envoy: the Envoy ext_authz hot path in Rust. CheckRequest bytes
//! become the input document opa-envoy-plugin builds, the prepared
//! decision is evaluated, and the decision becomes CheckResponse bytes —
//! JavaScript only moves bytes.

pub mod body;
pub mod descriptor;
pub mod input;
pub mod projection;
pub mod protojson;
pub mod protomap;
pub mod response;
pub mod schema;
pub mod url;
pub mod wire;
pub mod wire_key;

/// Standard base64, padding optional when decoding (as base64 0.13 read it).
pub(crate) const BASE64: base64::engine::GeneralPurpose = base64::engine::GeneralPurpose::new(
    &base64::alphabet::STANDARD,
    base64::engine::GeneralPurposeConfig::new().with_decode_padding_mode(base64::engine::DecodePaddingMode::Indifferent),
);

pub use descriptor::{DescriptorError, Descriptors};
pub use input::{check_request_to_input, check_request_to_projected_input, ApiVersion, InputOptions, RequestError};
pub use projection::Projection;
pub use protomap::Naming;
pub use response::{encode_bad_request, encode_check_response, DecisionError, Outcome, ResponseOptions};

use sark_engine::{EvalLimits, PreparedQuery, Value};

#[derive(Clone, Debug, Default)]
pub struct CheckOptions {
    pub input: InputOptions,
    pub response: ResponseOptions,
    pub limits: EvalLimits,
}

/// What one Check came to.
#[derive(Debug)]
pub enum CheckResult {
    /// A CheckResponse to send: allow or deny.
    Response { bytes: Vec<u8>, outcome: Outcome, cacheable: bool },
    /// A 400 deny for a request whose path, query or body cannot be read;
    /// `code` (`request_path_invalid`, `request_body_invalid`) is for logs and metrics.
    BadRequest { bytes: Vec<u8>, code: &'static str },
    /// No response can be given: the call fails with a gRPC error chosen by
    /// `code` (`request_malformed`, `decision_undefined`, `decision_invalid`,
    /// or an engine code such as `eval_conflict_error`); `detail` is for logs.
    Error { code: &'static str, detail: String },
}

/// Decodes, evaluates and encodes one Check.
/// `opts.response.api` is set from `version`.
pub fn check(prepared: &PreparedQuery, request: &[u8], version: ApiVersion, decision_id: &str, opts: &CheckOptions) -> CheckResult {
    let input = match check_request_to_input(request, version, &opts.input) {
        Ok(v) => v,
        Err(RequestError::Malformed(e)) => return CheckResult::Error { code: "request_malformed", detail: e.0.to_string() },
        Err(e) => return CheckResult::BadRequest { bytes: encode_bad_request(decision_id, version), code: e.code() },
    };
    let mut opts = opts.clone();
    opts.response.api = version;
    decide(prepared, &input, decision_id, &opts)
}

/// Evaluates a prepared decision for an input document and encodes the response.
pub fn decide(prepared: &PreparedQuery, input: &Value, decision_id: &str, opts: &CheckOptions) -> CheckResult {
    let decision = match prepared.eval(Some(input), &opts.limits) {
        Ok(d) => d,
        Err(e) => return CheckResult::Error { code: e.code, detail: e.to_string() },
    };
    let value = match decision.value {
        Some(v) => v,
        None => return CheckResult::Error { code: "decision_undefined", detail: format!("{} is undefined", prepared.path) },
    };
    match encode_check_response(&value, decision_id, opts.response) {
        Ok((bytes, outcome)) => CheckResult::Response { bytes, outcome, cacheable: decision.cacheable },
        Err(e) => CheckResult::Error { code: "decision_invalid", detail: e.0 },
    }
}
