//! The direct entry points (`sark_*`) of the portable engine: one compiled
//! policy per instance, its prepared decisions, and the whole Envoy Check
//! (CheckRequest bytes in, CheckResponse bytes out), as the addon runs it.
//! Strings and bytes cross as (pointer, length) into memory from
//! `sark_alloc`; every answer is left in one result buffer
//! (`sark_result_ptr` / `sark_result_len`). The Check is the addon's
//! (sark_envoy::PreparedCheck) with this target's host (src/host.rs), its
//! decision cache the host's lru-cache.

use crate::host::{HostCache, WasmHost};
use sark_engine::value::Map;
use sark_engine::{CompileOptions, Diagnostic, EvalLimits, Policy, SourceFile, Value};
use sark_envoy::{ApiVersion, CheckCall, CheckSettings, PreparedCheck, Scratch};
use std::cell::RefCell;

#[derive(Default)]
struct Engine {
    policy: Option<Policy>,
    prepared: Vec<PreparedCheck>,
    scratch: Scratch,
    result: Vec<u8>,
}

thread_local! {
    static ENGINE: RefCell<Engine> = RefCell::new(Engine::default());
}

fn layout(len: usize) -> std::alloc::Layout {
    // A byte array of at most isize::MAX bytes always has a layout; wasm32 memory is far smaller.
    std::alloc::Layout::array::<u8>(len.max(1)).unwrap_or(std::alloc::Layout::new::<u8>())
}

/// `sark_alloc(len) -> ptr`: memory the host writes arguments into (0 when out of memory).
#[no_mangle]
pub extern "C" fn sark_alloc(len: usize) -> *mut u8 {
    crate::host::install_panic_hook();
    // SAFETY: the layout has a non-zero size.
    unsafe { std::alloc::alloc(layout(len)) }
}

/// `sark_free(ptr, len)`: gives back memory from `sark_alloc(len)`.
///
/// # Safety
/// `ptr` must come from `sark_alloc(len)` and not be freed twice.
#[no_mangle]
pub unsafe extern "C" fn sark_free(ptr: *mut u8, len: usize) {
    // SAFETY: as the caller promises, `ptr` was allocated with this layout.
    unsafe { std::alloc::dealloc(ptr, layout(len)) }
}

#[no_mangle]
pub extern "C" fn sark_result_ptr() -> *const u8 {
    ENGINE.with(|e| e.borrow().result.as_ptr())
}

#[no_mangle]
pub extern "C" fn sark_result_len() -> usize {
    ENGINE.with(|e| e.borrow().result.len())
}

/// # Safety
/// `(ptr, len)` must be readable memory of this instance (len 0: any pointer).
unsafe fn bytes<'a>(ptr: *const u8, len: usize) -> &'a [u8] {
    if len == 0 {
        return &[];
    }
    // SAFETY: the caller promises `len` readable bytes at `ptr`.
    unsafe { std::slice::from_raw_parts(ptr, len) }
}

fn text<'a>(ptr: *const u8, len: usize) -> Result<&'a str, Failure> {
    // SAFETY: every entry point documents that its pointers come from `sark_alloc`.
    std::str::from_utf8(unsafe { bytes(ptr, len) }).map_err(|_| Failure::arg("argument is not UTF-8"))
}

fn json(ptr: *const u8, len: usize, what: &str) -> Result<Value, Failure> {
    Value::from_json_str(text(ptr, len)?).map_err(|e| Failure::arg(&format!("{} is not valid JSON: {}", what, e)))
}

/// An error for the host: `{"code", "message", "diagnostics"?}` in the result buffer.
pub(crate) struct Failure {
    code: String,
    pub(crate) message: String,
    diagnostics: Vec<Diagnostic>,
}

impl Failure {
    fn new(code: &str, message: &str) -> Failure {
        Failure { code: code.to_string(), message: message.to_string(), diagnostics: Vec::new() }
    }
    fn arg(message: &str) -> Failure {
        Failure::new("ERR_INVALID_ARG", message)
    }
    fn compile(diags: Vec<Diagnostic>) -> Failure {
        let code = diags.first().map_or("rego_compile_error", |d| d.code);
        let message = diags.iter().map(|d| d.to_string()).collect::<Vec<_>>().join("\n");
        Failure { code: code.to_string(), message, diagnostics: diags }
    }
    fn to_json(&self) -> String {
        let diags = self.diagnostics.iter().map(Diagnostic::to_value).collect();
        let mut m = Map::new();
        m.insert(Value::from("code"), Value::from(self.code.as_str()));
        m.insert(Value::from("message"), Value::from(self.message.as_str()));
        m.insert(Value::from("diagnostics"), Value::from_array(diags));
        Value::from_map(m).to_json()
    }
}

/// Runs `f` on the engine; `Ok` bytes become the result and 0 is returned,
/// a failure becomes the result (as JSON) and -1 is returned.
fn run(f: impl FnOnce(&mut Engine) -> Result<Vec<u8>, Failure>) -> i32 {
    crate::host::install_panic_hook();
    ENGINE.with(|e| {
        let mut e = e.borrow_mut();
        match f(&mut e) {
            Ok(out) => {
                e.result = out;
                0
            }
            Err(fail) => {
                e.result = fail.to_json().into_bytes();
                -1
            }
        }
    })
}

fn opt_bool(o: &Value, k: &str) -> bool {
    matches!(o.field(k), Some(Value::Bool(true)))
}

fn opt_num(o: &Value, k: &str) -> Option<f64> {
    o.field(k).and_then(|v| v.as_number()).map(|n| n.as_f64())
}

/// `sark_compile(modules, data, options) -> 0 | -1`: modules `[{name, source}]`,
/// data an object, options `{v0Compatible, strictBuiltinErrors}` (all JSON).
#[no_mangle]
pub extern "C" fn sark_compile(m_ptr: *const u8, m_len: usize, d_ptr: *const u8, d_len: usize, o_ptr: *const u8, o_len: usize) -> i32 {
    run(|e| {
        let modules = json(m_ptr, m_len, "modules")?;
        let data = json(d_ptr, d_len, "data")?;
        let opts = if o_len == 0 { Value::empty_object() } else { json(o_ptr, o_len, "options")? };
        let policy = compile(&modules, data, &opts)?;
        e.policy = Some(policy);
        e.prepared.clear();
        Ok(Vec::new())
    })
}

/// Compiles `[{name, source}]` modules (shared with the ABI's embedded policy).
pub(crate) fn compile(modules: &Value, data: Value, opts: &Value) -> Result<Policy, Failure> {
    let files = modules
        .as_array()
        .ok_or_else(|| Failure::arg("modules must be an array"))?
        .iter()
        .map(|m| {
            let name = m.field("name").and_then(|v| v.as_str()).ok_or_else(|| Failure::arg("module name must be a string"))?;
            let source = m.field("source").and_then(|v| v.as_str()).ok_or_else(|| Failure::arg("module source must be a string"))?;
            Ok(SourceFile { name: name.to_string(), text: source.to_string() })
        })
        .collect::<Result<Vec<_>, Failure>>()?;
    if !matches!(data, Value::Object(_)) {
        return Err(Failure::arg("data must be a JSON object"));
    }
    let options = CompileOptions { v0_compatible: opt_bool(opts, "v0Compatible"), strict_builtin_errors: opt_bool(opts, "strictBuiltinErrors") };
    Policy::compile(&files, data, &options).map_err(Failure::compile)
}

/// A positive number of milliseconds as a duration.
fn millis(ms: Option<f64>) -> Option<std::time::Duration> {
    ms.filter(|n| *n > 0.0 && n.is_finite()).map(|ms| std::time::Duration::from_micros((ms * 1000.0) as u64))
}

/// `sark_prepare(path, options) -> handle | -1`. Options as the addon's
/// `prepare`: `maxSteps`, `maxDepth`, `timeoutMs`, `skipRequestBodyParse`,
/// `dryRun`, `volatileTtlMs`, `protoDescriptorBase64`.
#[no_mangle]
pub extern "C" fn sark_prepare(p_ptr: *const u8, p_len: usize, o_ptr: *const u8, o_len: usize) -> i32 {
    let mut handle = -1;
    let rc = run(|e| {
        let path = text(p_ptr, p_len)?;
        let opts = if o_len == 0 { Value::empty_object() } else { json(o_ptr, o_len, "options")? };
        let policy = e.policy.as_ref().ok_or_else(|| Failure::new("ERR_NOT_COMPILED", "compile a policy before prepare"))?;
        let query = policy.prepare(path).map_err(Failure::compile)?;
        let settings = CheckSettings {
            max_steps: opt_num(&opts, "maxSteps").map(|n| n.max(0.0) as u64),
            max_depth: opt_num(&opts, "maxDepth").map(|n| n.clamp(1.0, 100_000.0) as u32),
            timeout: millis(opt_num(&opts, "timeoutMs")),
            skip_request_body_parse: opt_bool(&opts, "skipRequestBodyParse"),
            dry_run: opt_bool(&opts, "dryRun"),
            volatile_ttl: millis(opt_num(&opts, "volatileTtlMs")),
            record_decision: opt_bool(&opts, "recordDecision"),
            proto_descriptor_base64: match opts.field("protoDescriptorBase64") {
                None | Some(Value::Null) => None,
                Some(Value::String(b64)) => Some(b64.to_string()),
                Some(_) => return Err(Failure::new("config_invalid", "protoDescriptorBase64 must be a base64 string")),
            },
        };
        let check = PreparedCheck::new(query, &settings).map_err(|err| Failure::new(sark_envoy::ConfigError::CODE, &err.0))?;
        e.prepared.push(check);
        handle = (e.prepared.len() - 1) as i32;
        Ok(Vec::new())
    });
    if rc == 0 {
        handle
    } else {
        -1
    }
}

fn prepared(e: &Engine, handle: i32) -> Result<&PreparedCheck, Failure> {
    usize::try_from(handle).ok().and_then(|h| e.prepared.get(h)).ok_or_else(|| Failure::arg("unknown prepared handle"))
}

/// The prepared limits with a deadline: the earlier of the prepared timeout
/// and the caller's (ms since the epoch, 0 = none).
fn limits(p: &PreparedCheck, deadline_ms: f64) -> EvalLimits {
    p.limits(crate::host::now_ns(), deadline_ns(deadline_ms))
}

fn deadline_ns(deadline_ms: f64) -> i64 {
    if deadline_ms > 0.0 {
        (deadline_ms * 1e6) as i64
    } else {
        0
    }
}

/// `sark_evaluate(handle, input, input_len, has_input, deadline_ms) -> 0 | -1`:
/// result `{"value"?, "cacheable", "prints"?}`.
#[no_mangle]
pub extern "C" fn sark_evaluate(handle: i32, i_ptr: *const u8, i_len: usize, has_input: i32, deadline_ms: f64) -> i32 {
    run(|e| {
        let p = prepared(e, handle)?;
        let input = if has_input != 0 { Some(json(i_ptr, i_len, "input")?) } else { None };
        let d = p.query().eval(input.as_ref(), &limits(p, deadline_ms)).map_err(|err| Failure::new(err.code, &err.to_string()))?;
        Ok(d.to_json().into_bytes())
    })
}

/// `sark_input_paths(handle) -> 0 | -1`: the input paths the decision reads (JSON).
#[no_mangle]
pub extern "C" fn sark_input_paths(handle: i32) -> i32 {
    run(|e| {
        let p = prepared(e, handle)?;
        let paths = p.query().input_paths().iter().map(|path| Value::from_array(path.clone())).collect();
        Ok(Value::from_array(paths).to_json().into_bytes())
    })
}

/// `sark_query(text, input, input_len, has_input) -> 0 | -1`: rows as `opa eval --format json`.
#[no_mangle]
pub extern "C" fn sark_query(q_ptr: *const u8, q_len: usize, i_ptr: *const u8, i_len: usize, has_input: i32) -> i32 {
    run(|e| {
        let query = text(q_ptr, q_len)?;
        let input = if has_input != 0 { Some(json(i_ptr, i_len, "input")?) } else { None };
        let policy = e.policy.as_ref().ok_or_else(|| Failure::new("ERR_NOT_COMPILED", "compile a policy before query"))?;
        match policy.query(query, input.as_ref(), &EvalLimits::default()) {
            Ok(r) => Ok(r.to_json().into_bytes()),
            Err(sark_engine::QueryError::Compile(d)) => Err(Failure::compile(d)),
            Err(sark_engine::QueryError::Eval(err)) => Err(Failure::new(err.code, &err.to_string())),
        }
    })
}

fn api_version(v: i32) -> Result<ApiVersion, Failure> {
    match v {
        3 => Ok(ApiVersion::V3),
        2 => Ok(ApiVersion::V2),
        _ => Err(Failure::arg("version must be 2 or 3")),
    }
}

/// `sark_check_input(request, version, options) -> 0 | -1`: the input document
/// opa-envoy-plugin builds (options `skipRequestBodyParse`, `protoDescriptorBase64`).
#[no_mangle]
pub extern "C" fn sark_check_input(r_ptr: *const u8, r_len: usize, version: i32, o_ptr: *const u8, o_len: usize) -> i32 {
    run(|_| {
        // SAFETY: the request was written by the host into `sark_alloc` memory.
        let request = unsafe { bytes(r_ptr, r_len) };
        let version = api_version(version)?;
        let opts = if o_len == 0 { Value::empty_object() } else { json(o_ptr, o_len, "options")? };
        let descriptors = match opts.field("protoDescriptorBase64") {
            Some(Value::String(b64)) => Some(std::sync::Arc::new(
                sark_envoy::Descriptors::from_base64(b64).map_err(|err| Failure::new("config_invalid", &format!("invalid protobuf descriptor set: {}", err)))?,
            )),
            _ => None,
        };
        let input_opts = sark_envoy::InputOptions { skip_body_parse: opt_bool(&opts, "skipRequestBodyParse"), descriptors };
        let input = sark_envoy::check_request_to_input(request, version, &input_opts).map_err(|err| Failure::new(err.code(), &format!("{:?}", err)))?;
        Ok(input.to_json().into_bytes())
    })
}

/// `sark_check(handle, request, version, use_cache, deadline_ms, inline_steps) -> 0 | -1`:
/// the whole Check, through the host's cache when `use_cache` is 1. The
/// result holds the Check's result as sark_envoy::result lays it out (as the
/// addon writes it); -1: bad arguments, the result holds `{"code", "message"}`.
/// With `inline_steps` (> 0) evaluation spends at most that many steps: beyond,
/// the result is "offload" and the host runs the Check again, whole, in
/// another instance (a worker thread), as the addon's `check` does.
#[no_mangle]
pub extern "C" fn sark_check(handle: i32, r_ptr: *const u8, r_len: usize, version: i32, use_cache: i32, deadline_ms: f64, inline_steps: f64) -> i32 {
    run(|e| {
        let p = usize::try_from(handle).ok().and_then(|h| e.prepared.get(h)).ok_or_else(|| Failure::arg("unknown prepared handle"))?;
        // SAFETY: the request was written by the host into `sark_alloc` memory.
        let request = unsafe { bytes(r_ptr, r_len) };
        let call = CheckCall { request, version: api_version(version)?, cache: (use_cache != 0).then_some(&HostCache), deadline_ns: deadline_ns(deadline_ms), cancel: None };
        let inline_steps = if inline_steps >= 1.0 && inline_steps.is_finite() { inline_steps as u64 } else { 0 };
        match p.check_inline(&call, &WasmHost, &mut e.scratch, inline_steps) {
            Some(output) => Ok(sark_envoy::result::to_vec(&output)),
            None => {
                let mut out = vec![0; sark_envoy::result::HEADER_LEN];
                sark_envoy::result::write_offload(&mut out);
                Ok(out)
            }
        }
    })
}

/// `sark_respond(decision, decision_len, has_decision, version, dry_run, bad_request, eval_ns) -> 0 | -1`:
/// the Envoy response for a decision made outside this module (a policy.wasm
/// built by OPA, run by opa-wasm, on the input `sark_check_input` built), in
/// the Check result layout with a fresh decision id: a 400 deny when
/// `bad_request` is 1, an error when there is no decision or it is not one
/// Envoy's mapping reads. -1: bad arguments.
#[no_mangle]
pub extern "C" fn sark_respond(d_ptr: *const u8, d_len: usize, has_decision: i32, version: i32, dry_run: i32, bad_request: i32, eval_ns: f64) -> i32 {
    run(|_| {
        let api = api_version(version)?;
        let decision_id = sark_envoy::DecisionId::from_random(sark_envoy::Host::random_bytes(&WasmHost));
        let result = if bad_request != 0 {
            sark_envoy::CheckResult::BadRequest { bytes: sark_envoy::encode_bad_request(decision_id.as_str(), api), code: "request_invalid" }
        } else if has_decision == 0 {
            sark_envoy::CheckResult::Error { code: "decision_undefined", detail: "the decision is undefined".to_string() }
        } else {
            let decision = json(d_ptr, d_len, "decision")?;
            let options = sark_envoy::ResponseOptions { api, dry_run: dry_run != 0 };
            match sark_envoy::encode_check_response(&decision, decision_id.as_str(), options) {
                Ok((bytes, outcome)) => sark_envoy::CheckResult::Response { bytes, outcome, cacheable: false },
                Err(e) => sark_envoy::CheckResult::Error { code: "decision_invalid", detail: e.0 },
            }
        };
        let output = sark_envoy::CheckOutput { result, decision_id, cache_hit: false, eval_ns: eval_ns.max(0.0) as u64, prints: Vec::new(), decided: None };
        Ok(sark_envoy::result::to_vec(&output))
    })
}

/// `sark_conformance_case(case, case_len, v0) -> 0 | -1`: one case of OPA's
/// conformance format (`test-suite` without the addon); result
/// `{"pass", "reason", "skipped"}`.
#[no_mangle]
pub extern "C" fn sark_conformance_case(c_ptr: *const u8, c_len: usize, v0: i32) -> i32 {
    run(|_| {
        let case = json(c_ptr, c_len, "case")?;
        let outcome = sark_engine::testsuite::run_case(&case, v0 != 0);
        let mut m = Map::new();
        m.insert(Value::from("pass"), Value::Bool(outcome.pass));
        m.insert(Value::from("reason"), Value::from(outcome.reason));
        m.insert(Value::from("skipped"), Value::Bool(outcome.skipped));
        Ok(Value::from_map(m).to_json().into_bytes())
    })
}
