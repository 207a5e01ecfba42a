//! sark-authz's Node-API addon, on napi-rs: converts arguments and hands
//! them to the pure crates. Exports the classes `RustOPAEngine` and
//! `RustCache` and a few functions; `index.d.ts` is generated from here.
//! Every export catches panics (`catch_unwind`): a panic becomes a
//! JavaScript error, never an abort.

mod cache;
mod engine;
mod errors;
mod pool;

use napi::bindgen_prelude::*;
use napi_derive::napi;
use sark_engine::value::Map;
use sark_engine::Value;

/// The addon's version.
#[napi(catch_unwind)]
pub fn version() -> &'static str {
    env!("CARGO_PKG_VERSION")
}

/// OPA-format capabilities JSON of every builtin this engine has.
#[napi(catch_unwind)]
pub fn capabilities() -> String {
    sark_engine::builtins::types::capabilities_json()
}

/// Bounds the bytes of new values builtins may create in one evaluation,
/// for every later evaluation of the process (0 = unlimited).
#[napi(catch_unwind)]
pub fn set_max_eval_memory(bytes: f64) {
    sark_engine::set_max_eval_memory(if bytes.is_finite() && bytes > 0.0 { bytes as u64 } else { 0 });
}

/// Runs one OPA conformance case; `'{"pass":..,"reason":..,"skipped":..}'`.
/// On its own thread with a large stack: conformance cases recurse deeply.
#[napi(catch_unwind)]
pub fn run_conformance_case(env: Env, case_json: String, v0: bool) -> Result<String> {
    let case = Value::from_json_str(&case_json).map_err(|e| errors::invalid_arg(&env, format!("case is not valid JSON: {}", e)))?;
    let outcome = std::thread::Builder::new()
        .stack_size(64 << 20)
        .spawn(move || std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| sark_engine::testsuite::run_case(&case, v0))))
        .map_err(|e| errors::throw(&env, "ERR_THREAD", e.to_string(), None))?
        .join();
    let (pass, reason, skipped) = match outcome {
        Ok(Ok(o)) => (o.pass, o.reason, o.skipped),
        _ => (false, "engine panicked".to_string(), false),
    };
    let mut m = Map::new();
    m.insert(Value::from("pass"), Value::Bool(pass));
    m.insert(Value::from("reason"), Value::from(reason));
    m.insert(Value::from("skipped"), Value::Bool(skipped));
    Ok(Value::from_map(m).to_json())
}

/// Test-only: panics, so tests can prove a panic in native code becomes a
/// JavaScript error. Hidden from the generated types.
#[napi(js_name = "__panicForTest", skip_typescript, catch_unwind)]
pub fn panic_for_test() {
    panic!("panic requested by __panicForTest")
}
