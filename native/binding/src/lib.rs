//! sark-authz's Node-API addon: glue over the pure crates. Exports the
//! classes `RustOPAEngine` and `RustCache` and a few functions. All `unsafe`
//! code lives in `napi.rs` (and the declarations in `napi_sys.rs`).

mod cache;
mod engine;
mod napi;
mod napi_sys;

use napi::{js_callbacks, Call, Env, JsError, JsResult, Val};
use sark_engine::value::Map;
use sark_engine::Value;

js_callbacks! {
    engine_new => engine::construct;
    engine_compile => engine::compile;
    engine_prepare => engine::prepare;
    engine_evaluate => engine::evaluate;
    engine_bench => engine::bench;
    engine_input_paths => engine::input_paths;
    engine_check => engine::check;
    engine_take_pending => engine::take_pending;
    engine_check_input => engine::check_input;
    engine_last_error => engine::last_error;
    engine_last_decision_id => engine::last_decision_id;
    engine_last_eval_ns => engine::last_eval_ns;
    engine_query => engine::query;
    cache_new => cache::construct;
    cache_get => cache::get;
    cache_set => cache::set;
    cache_delete => cache::delete;
    cache_clear => cache::clear;
    cache_size => cache::size;
    cache_stats => cache::stats;
    fn_version => version;
    fn_capabilities => capabilities;
    fn_run_conformance_case => run_conformance_case;
    fn_panic_for_test => panic_for_test;
}

fn version(c: &Call) -> JsResult<Val> {
    c.env.string(env!("CARGO_PKG_VERSION"))
}

/// OPA-format capabilities JSON of every builtin this engine has.
fn capabilities(c: &Call) -> JsResult<Val> {
    c.env.string(&sark_engine::builtins::types::capabilities_json())
}

/// `runConformanceCase(caseJson, v0) -> '{"pass":..,"reason":..,"skipped":..}'`.
/// Runs on its own thread with a large stack: conformance cases recurse deeply.
fn run_conformance_case(c: &Call) -> JsResult<Val> {
    let text = c.env.get_string(c.arg(0)?, "case")?;
    let v0 = c.env.get_bool(c.arg(1)?, "v0")?;
    let case = Value::from_json_str(&text).map_err(|e| JsError::arg(format!("case is not valid JSON: {}", e)))?;
    let outcome = std::thread::Builder::new()
        .stack_size(64 << 20)
        .spawn(move || std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| sark_engine::testsuite::run_case(&case, v0))))
        .map_err(|e| JsError::new("ERR_THREAD", e.to_string()))?
        .join();
    let (pass, reason, skipped) = match outcome {
        Ok(Ok(o)) => (o.pass, o.reason, o.skipped),
        _ => (false, "engine panicked".to_string(), false),
    };
    let mut m = Map::new();
    m.insert(Value::from("pass"), Value::Bool(pass));
    m.insert(Value::from("reason"), Value::from(reason));
    m.insert(Value::from("skipped"), Value::Bool(skipped));
    c.env.string(&Value::from_map(m).to_json())
}

/// Test-only: panics, so tests can prove a panic becomes a JS error (`RUST_PANIC`).
fn panic_for_test(_c: &Call) -> JsResult<Val> {
    panic!("panic requested by __panicForTest")
}

fn init(env: Env, exports: Val) -> JsResult<()> {
    let engine = env.define_class(
        "RustOPAEngine",
        engine_new,
        &[
            ("compile", engine_compile),
            ("prepare", engine_prepare),
            ("evaluate", engine_evaluate),
            ("bench", engine_bench),
            ("inputPaths", engine_input_paths),
            ("check", engine_check),
            ("takePending", engine_take_pending),
            ("checkInput", engine_check_input),
            ("lastError", engine_last_error),
            ("lastDecisionId", engine_last_decision_id),
            ("lastEvalNs", engine_last_eval_ns),
            ("query", engine_query),
        ],
    )?;
    env.set(exports, "RustOPAEngine", engine)?;
    let cache = env.define_class(
        "RustCache",
        cache_new,
        &[
            ("get", cache_get),
            ("set", cache_set),
            ("delete", cache_delete),
            ("clear", cache_clear),
            ("size", cache_size),
            ("stats", cache_stats),
        ],
    )?;
    env.set(exports, "RustCache", cache)?;
    for (name, f) in [
        ("version", fn_version as napi::RawCallback),
        ("capabilities", fn_capabilities),
        ("runConformanceCase", fn_run_conformance_case),
        ("__panicForTest", fn_panic_for_test),
    ] {
        env.set(exports, name, env.function(name, f)?)?;
    }
    Ok(())
}

/// The entry point Node looks up when loading a Node-API addon.
///
/// # Safety
/// Called by Node with a valid environment and exports object.
#[no_mangle]
pub unsafe extern "C" fn napi_register_module_v1(env: napi_sys::napi_env, exports: napi_sys::napi_value) -> napi_sys::napi_value {
    napi::register(env, exports, init)
}
