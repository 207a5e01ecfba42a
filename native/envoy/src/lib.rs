//! sark-envoy: the Envoy ext_authz hot path in Rust. CheckRequest bytes
//! become the input document opa-envoy-plugin builds, the prepared
//! decision is evaluated, and the decision becomes CheckResponse bytes —
//! JavaScript only moves bytes.

#![forbid(unsafe_code)]
// Failures are values, never panics: no unwrap/expect/panic or panicking index outside tests (`cargo clippy`).
#![cfg_attr(not(test), deny(clippy::unwrap_used, clippy::expect_used, clippy::panic, clippy::indexing_slicing))]

pub mod body;
pub mod check;
pub mod descriptor;
pub mod input;
pub mod projection;
pub mod protojson;
pub mod protomap;
pub mod response;
pub mod result;
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

pub use check::{CheckCache, CheckCall, CheckOptions, CheckOutput, CheckResult, CheckSettings, ConfigError, Decided, DecisionId, Host, PreparedCheck, Scratch};
