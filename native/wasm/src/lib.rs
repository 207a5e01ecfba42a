//! sark-wasm: the Rego engine (`sark-engine`) and the Envoy Check
//! (`sark-envoy`) for `wasm32-unknown-unknown` — the same crates as the
//! Node-API addon, no second implementation. Two faces of one module:
//!
//! - `check`: the direct entry points (`sark_*`) the portable engine in
//!   `src/engine/wasm-engine.ts` drives when the addon cannot load: compile,
//!   prepare, evaluate, and the whole Envoy Check over protobuf bytes.
//! - `abi`: OPA's Wasm ABI (`opa_eval_ctx_*`, `eval`, `opa_json_parse`, …) as
//!   `@open-policy-agent/opa-wasm` drives it, evaluating the policy that
//!   `sark-authz build -t wasm` embeds (`embedded`).
//!
//! `host` holds what the target lacks: the clock, entropy and the imports
//! OPA's ABI defines. Everything but `host`'s imports also builds on the host
//! target, so `cargo test --workspace` covers the logic.

pub mod abi;
pub mod check;
pub mod embedded;
pub mod heap;
pub mod host;
