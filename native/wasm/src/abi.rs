//! OPA's Wasm ABI (version 1.1), as `@open-policy-agent/opa-wasm` drives it:
//! `builtins`, `entrypoints`, `opa_eval_ctx_*` + `eval`, `opa_malloc`,
//! `opa_json_parse` / `opa_json_dump`, `opa_heap_ptr_get` / `_set`. The
//! policy is the one embedded by `sark-authz build -t wasm`; every builtin
//! runs inside the module but the clock, which `builtins()` asks of the host
//! as `time.now_ns` (as OPA-compiled modules do). Values
//! are `sark_engine::Value`s registered in `heap`.
//!
//! Minor version 1 on purpose: from 1.2 on, hosts write the input at the
//! heap pointer's address, which only a bump allocator can give.

use crate::heap::{self, Object};
use crate::host;
use sark_engine::value::Map;
use sark_engine::{EvalLimits, Policy, PreparedQuery, Value};
use std::cell::RefCell;

/// Exported as globals; `src/engine/wasm-module.ts` sets their values
/// (a Rust static exports its address).
#[no_mangle]
#[used]
#[allow(non_upper_case_globals)]
pub static opa_wasm_abi_version: i32 = 1;
#[no_mangle]
#[used]
#[allow(non_upper_case_globals)]
pub static opa_wasm_abi_minor_version: i32 = 1;

struct Compiled {
    /// The data value (address, sequence number) it was compiled with.
    data: (u32, u32),
    policy: Policy,
    prepared: Vec<Option<PreparedQuery>>,
}

#[derive(Default)]
struct Abi {
    compiled: Option<Compiled>,
}

thread_local! {
    static ABI: RefCell<Abi> = RefCell::new(Abi::default());
}

/// The embedded policy, parsed: (modules, entrypoints, options).
fn embedded() -> Result<(Value, Vec<String>, Value), String> {
    let text = crate::embedded::policy_json().ok_or("no policy is embedded in this module (build one with `sark-authz build -t wasm`)")?;
    let doc = Value::from_json_str(std::str::from_utf8(text).map_err(|_| "embedded policy is not UTF-8")?).map_err(|e| format!("embedded policy: {}", e))?;
    let modules = doc.field("modules").cloned().unwrap_or_else(|| Value::from_array(Vec::new()));
    let entrypoints = doc
        .field("entrypoints")
        .and_then(|v| v.as_array())
        .map(|a| a.iter().filter_map(|e| e.as_str().map(str::to_string)).collect())
        .unwrap_or_default();
    let options = doc.field("options").cloned().unwrap_or_else(Value::empty_object);
    Ok((modules, entrypoints, options))
}

fn value_addr(v: Value) -> u32 {
    heap::put(Object::Value(Box::new(v)))
}

/// `opa_malloc(size) -> addr`.
#[no_mangle]
pub extern "C" fn opa_malloc(size: u32) -> u32 {
    host::install_panic_hook();
    heap::put(Object::Bytes(vec![0u8; size.max(1) as usize].into_boxed_slice()))
}

/// `opa_free(addr)`.
#[no_mangle]
pub extern "C" fn opa_free(addr: u32) {
    heap::free(addr);
}

#[no_mangle]
pub extern "C" fn opa_heap_ptr_get() -> u32 {
    heap::mark()
}

#[no_mangle]
pub extern "C" fn opa_heap_ptr_set(mark: u32) {
    heap::reset(mark);
}

/// Bytes at `addr`: a block from `opa_malloc` (or any readable memory, as OPA's hosts may pass).
fn read(addr: u32, len: u32) -> Vec<u8> {
    heap::with_bytes(addr, |b| b.get(..len as usize).map(<[u8]>::to_vec)).flatten().unwrap_or_else(|| {
        // SAFETY: the host passes (addr, len) of memory it wrote; the ABI leaves it to the host.
        unsafe { std::slice::from_raw_parts(addr as usize as *const u8, len as usize) }.to_vec()
    })
}

/// `opa_json_parse(addr, len) -> value`; 0 when the text is not JSON.
#[no_mangle]
pub extern "C" fn opa_json_parse(addr: u32, len: u32) -> u32 {
    host::install_panic_hook();
    let text = read(addr, len);
    match std::str::from_utf8(&text).ok().and_then(|t| Value::from_json_str(t).ok()) {
        Some(v) => value_addr(v),
        None => 0,
    }
}

/// `opa_value_parse`: values cross as JSON here.
#[no_mangle]
pub extern "C" fn opa_value_parse(addr: u32, len: u32) -> u32 {
    opa_json_parse(addr, len)
}

/// A NUL-terminated string on the ABI heap.
fn c_string(s: &str) -> u32 {
    let mut b = Vec::with_capacity(s.len() + 1);
    b.extend_from_slice(s.as_bytes());
    b.push(0);
    heap::put(Object::Bytes(b.into_boxed_slice()))
}

/// `opa_json_dump(value) -> NUL-terminated JSON`.
#[no_mangle]
pub extern "C" fn opa_json_dump(addr: u32) -> u32 {
    let json = heap::value(addr).map_or_else(|| "null".to_string(), |v| v.to_json());
    c_string(&json)
}

#[no_mangle]
pub extern "C" fn opa_value_dump(addr: u32) -> u32 {
    opa_json_dump(addr)
}

/// `builtins() -> {"time.now_ns": 0}`: the clock is the host's (`host::now_ns`);
/// every other builtin is inside the module.
#[no_mangle]
pub extern "C" fn builtins() -> u32 {
    host::install_panic_hook();
    let mut m = Map::new();
    m.insert(Value::from("time.now_ns"), Value::int(i64::from(host::TIME_NOW_NS)));
    value_addr(Value::from_map(m))
}

/// `entrypoints() -> {"envoy/authz/allow": 0, …}`.
#[no_mangle]
pub extern "C" fn entrypoints() -> u32 {
    host::install_panic_hook();
    let names = embedded().map(|(_, e, _)| e).unwrap_or_default();
    let mut m = Map::new();
    for (i, name) in names.iter().enumerate() {
        m.insert(Value::from(name.as_str()), Value::int(i as i64));
    }
    value_addr(Value::from_map(m))
}

#[no_mangle]
pub extern "C" fn opa_eval_ctx_new() -> u32 {
    host::install_panic_hook();
    heap::put(Object::Ctx(Box::default()))
}

#[no_mangle]
pub extern "C" fn opa_eval_ctx_set_input(ctx: u32, input: u32) {
    heap::with_ctx(ctx, |c| c.input = input);
}

#[no_mangle]
pub extern "C" fn opa_eval_ctx_set_data(ctx: u32, data: u32) {
    heap::with_ctx(ctx, |c| c.data = data);
}

#[no_mangle]
pub extern "C" fn opa_eval_ctx_set_entrypoint(ctx: u32, entrypoint: u32) {
    heap::with_ctx(ctx, |c| c.entrypoint = entrypoint);
}

#[no_mangle]
pub extern "C" fn opa_eval_ctx_get_result(ctx: u32) -> u32 {
    heap::with_ctx(ctx, |c| c.result).unwrap_or(0)
}

/// Evaluates entrypoint `entrypoint` with `data` (compiling the embedded
/// modules against it the first time it is seen) and `input`: the result
/// set, `[{"result": value}]` or `[]`, and the lines `print` wrote.
fn evaluate(entrypoint: u32, data: u32, input: Option<Value>) -> Result<(Value, Vec<String>), String> {
    let data_id = (data, heap::seq(data).unwrap_or(0));
    let query = ABI.with(|a| -> Result<PreparedQuery, String> {
        let mut a = a.borrow_mut();
        if a.compiled.as_ref().map(|c| c.data) != Some(data_id) {
            let (modules, entrypoints, options) = embedded()?;
            let data_value = heap::value(data).filter(|v| matches!(v, Value::Object(_))).unwrap_or_else(Value::empty_object);
            let policy = crate::check::compile(&modules, data_value, &options).map_err(|f| f.message)?;
            let prepared = entrypoints.iter().map(|e| policy.prepare(e).ok()).collect();
            a.compiled = Some(Compiled { data: data_id, policy, prepared });
        }
        let c = a.compiled.as_ref().ok_or("not compiled")?;
        let _ = &c.policy;
        c.prepared.get(entrypoint as usize).cloned().flatten().ok_or_else(|| format!("entrypoint id {} is not valid in this module", entrypoint))
    })?;
    let d = query.eval(input.as_ref(), &EvalLimits::default()).map_err(|e| e.to_string())?;
    let rows = match d.value {
        Some(v) => {
            let mut m = Map::new();
            m.insert(Value::from("result"), v);
            vec![Value::from_map(m)]
        }
        None => Vec::new(),
    };
    Ok((Value::from_array(rows), d.prints.iter().map(|p| format!("{}: {}", p.location, p.message)).collect()))
}

/// Hands an evaluation's prints and errors to the host. Called with no
/// state borrowed: `opa_abort` throws in the host, unwinding through here.
fn report(prints: &[String], error: Option<String>) {
    for line in prints {
        host::println(line);
    }
    if let Some(e) = error {
        host::abort_with(&e);
    }
}

/// `eval(ctx) -> 0`: evaluates the context's entrypoint; the result set is
/// at `opa_eval_ctx_get_result(ctx)`. Errors go to `opa_abort`.
#[no_mangle]
pub extern "C" fn eval(ctx: u32) -> i32 {
    host::install_panic_hook();
    let Some((input, data, entrypoint)) = heap::with_ctx(ctx, |c| (c.input, c.data, c.entrypoint)) else {
        report(&[], Some("eval: unknown context".to_string()));
        return 1;
    };
    let input = if input == 0 { None } else { heap::value(input) };
    match evaluate(entrypoint, data, input) {
        Ok((rows, prints)) => {
            let addr = value_addr(rows);
            heap::with_ctx(ctx, |c| c.result = addr);
            report(&prints, None);
            0
        }
        Err(e) => {
            report(&[], Some(e));
            1
        }
    }
}

/// `opa_eval(_, entrypoint, data, input, input_len, heap_ptr, format) ->
/// NUL-terminated JSON result set`: the one-call evaluation of ABI 1.2, for
/// hosts that put the input in a block from `opa_malloc`.
#[no_mangle]
pub extern "C" fn opa_eval(_reserved: u32, entrypoint: u32, data: u32, input: u32, input_len: u32, _heap_ptr: u32, _format: u32) -> u32 {
    host::install_panic_hook();
    let parsed = if input_len == 0 {
        None
    } else {
        let text = read(input, input_len);
        match std::str::from_utf8(&text).ok().and_then(|t| Value::from_json_str(t).ok()) {
            Some(v) => Some(v),
            None => {
                report(&[], Some("opa_eval: input is not valid JSON".to_string()));
                return 0;
            }
        }
    };
    match evaluate(entrypoint, data, parsed) {
        Ok((rows, prints)) => {
            report(&prints, None);
            c_string(&rows.to_json())
        }
        Err(e) => {
            report(&[], Some(e));
            0
        }
    }
}
