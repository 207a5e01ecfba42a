//! `RustOPAEngine`: one compiled policy set, its prepared decisions, and the
//! Envoy hot path (CheckRequest bytes in, CheckResponse bytes out).

use crate::cache::CacheState;
use crate::napi::{Call, Env, JsError, JsResult, Tagged, Val};
use sark_cache::Cache;
use sark_engine::value::Map;
use sark_engine::{CompileOptions, Diagnostic, EvalLimits, Policy, PreparedQuery, SourceFile, Value};
use sark_envoy::{ApiVersion, CheckOptions, CheckResult, Naming, Outcome, Projection};
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

/// Every compile gets a fresh revision, so cache keys of different policy
/// generations (even of different engines sharing one cache) never collide.
static NEXT_REVISION: AtomicU64 = AtomicU64::new(1);

/// `check` result flags, below the length (`len * 16 + flags`).
const FLAG_DENY: u64 = 1;
const FLAG_BAD_REQUEST: u64 = 2;
const FLAG_CACHE_HIT: u64 = 4;
const FLAG_CACHEABLE: u64 = 8;
/// `check` failed: details from `lastError()`.
const CHECK_ERROR: f64 = -1.0;

/// Length of a decision id (a UUID in text form).
const DECISION_ID_LEN: usize = 36;

struct Prepared {
    query: PreparedQuery,
    /// What of a CheckRequest this decision can read, by API version's names.
    projection_v3: Projection,
    projection_v2: Projection,
    revision: u64,
    options: CheckOptions,
    /// TTL for cached decisions that reached a non-deterministic builtin;
    /// `None`: such decisions are not cached.
    volatile_ttl: Option<Duration>,
}

#[derive(Default)]
pub struct EngineState {
    policy: Option<(Policy, u64)>,
    prepared: Vec<Prepared>,
    last_error: Option<(String, String)>,
    last_decision_id: String,
    /// Time the last `check` spent evaluating (and encoding); 0 when it did not evaluate.
    last_eval_ns: u64,
    /// A response that did not fit the caller's buffer, kept for `takePending`.
    pending: Option<(Vec<u8>, u64)>,
    key: Vec<u8>,
}

impl Tagged for EngineState {
    const TAG: u64 = 0x5341_524b_454e_4731; // "SARKENG1"
    const NAME: &'static str = "RustOPAEngine";
}

pub fn construct(c: &Call) -> JsResult<Val> {
    c.env.wrap(c.this, EngineState::default())?;
    c.env.undefined()
}

fn state<'a>(c: &Call) -> JsResult<&'a mut EngineState> {
    c.env.unwrap::<EngineState>(c.this)
}

fn parse_json(text: &str, what: &str) -> JsResult<Value> {
    Value::from_json_str(text).map_err(|e| JsError::arg(format!("{} is not valid JSON: {}", what, e)))
}

fn diagnostics_json(diags: &[Diagnostic]) -> String {
    let items = diags
        .iter()
        .map(|d| {
            let mut m = Map::new();
            m.insert(Value::from("code"), Value::from(d.code));
            m.insert(Value::from("message"), Value::from(d.message.as_str()));
            m.insert(Value::from("file"), Value::from(d.file.as_str()));
            m.insert(Value::from("line"), Value::int(i64::from(d.line)));
            m.insert(Value::from("col"), Value::int(i64::from(d.col)));
            Value::from_map(m)
        })
        .collect();
    Value::from_array(items).to_json()
}

fn compile_error(diags: &[Diagnostic]) -> JsError {
    let code = diags.first().map_or("rego_compile_error", |d| d.code);
    let message = diags.iter().map(|d| d.to_string()).collect::<Vec<_>>().join("\n");
    JsError::new(code, message).with("diagnosticsJson", diagnostics_json(diags))
}

/// Parsing a large data document leaves freed scratch memory (the JSON
/// text copy, the string-sharing table) in the allocator; hand it back to
/// the OS so a long-running server's resident size reflects what it keeps.
fn release_freed_memory() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    // SAFETY: malloc_trim only releases free heap memory; no pointers are touched.
    unsafe {
        libc::malloc_trim(0);
    }
}

fn opt_bool(o: &Value, k: &str) -> bool {
    matches!(o.field(k), Some(Value::Bool(true)))
}

/// `protoDescriptorBase64`: a FileDescriptorSet for gRPC request bodies,
/// loaded once; a bad one is `config_invalid`.
fn opt_descriptors(o: &Value) -> JsResult<Option<std::sync::Arc<sark_envoy::Descriptors>>> {
    match o.field("protoDescriptorBase64") {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(b64)) => sark_envoy::Descriptors::from_base64(b64)
            .map(|d| Some(std::sync::Arc::new(d)))
            .map_err(|e| JsError::new("config_invalid", format!("invalid protobuf descriptor set: {}", e))),
        Some(_) => Err(JsError::new("config_invalid", "protoDescriptorBase64 must be a base64 string".to_string())),
    }
}

fn opt_num(o: &Value, k: &str) -> Option<f64> {
    o.field(k).and_then(|v| v.as_number()).map(|n| n.as_f64())
}

/// `compile(modulesJson, dataJson, optionsJson)`: modules `[{name, source}]`,
/// data an object, options `{v0Compatible, strictBuiltinErrors}`.
/// Throws with the first diagnostic's code and `diagnosticsJson`.
pub fn compile(c: &Call) -> JsResult<Val> {
    let env = c.env;
    let modules = parse_json(&env.get_string(c.arg(0)?, "modules")?, "modules")?;
    let data = parse_json(&env.get_string(c.arg(1)?, "data")?, "data")?;
    let opts = if env.is_nullish(c.arg(2)?)? { Value::empty_object() } else { parse_json(&env.get_string(c.arg(2)?, "options")?, "options")? };
    let files = modules
        .as_array()
        .ok_or_else(|| JsError::arg("modules must be an array"))?
        .iter()
        .map(|m| {
            let name = m.field("name").and_then(|v| v.as_str()).ok_or_else(|| JsError::arg("module name must be a string"))?;
            let text = m.field("source").and_then(|v| v.as_str()).ok_or_else(|| JsError::arg("module source must be a string"))?;
            Ok(SourceFile { name: name.to_string(), text: text.to_string() })
        })
        .collect::<JsResult<Vec<_>>>()?;
    if !matches!(data, Value::Object(_)) {
        return Err(JsError::arg("data must be a JSON object"));
    }
    let options = CompileOptions { v0_compatible: opt_bool(&opts, "v0Compatible"), strict_builtin_errors: opt_bool(&opts, "strictBuiltinErrors") };
    let policy = Policy::compile(&files, data, &options).map_err(|d| compile_error(&d))?;
    release_freed_memory();
    let st = state(c)?;
    st.policy = Some((policy, NEXT_REVISION.fetch_add(1, Ordering::Relaxed)));
    st.prepared.clear();
    env.undefined()
}

/// `prepare(path, optionsJson?) -> handle`. Options: `maxSteps`, `maxDepth`,
/// `timeoutMs` (evaluation limits), `skipRequestBodyParse`, `dryRun`,
/// `volatileTtlMs` (cache TTL for non-deterministic decisions; absent = never cached),
/// `protoDescriptorBase64` (a FileDescriptorSet, base64: gRPC bodies become
/// `parsed_body`; a bad one throws `config_invalid`).
pub fn prepare(c: &Call) -> JsResult<Val> {
    let env = c.env;
    let path = env.get_string(c.arg(0)?, "path")?;
    let opts = if env.is_nullish(c.arg(1)?)? { Value::empty_object() } else { parse_json(&env.get_string(c.arg(1)?, "options")?, "options")? };
    let st = state(c)?;
    let (policy, revision) = st.policy.as_ref().ok_or_else(|| JsError::new("ERR_NOT_COMPILED", "compile() a policy before prepare()"))?;
    let query = policy.prepare(&path).map_err(|d| compile_error(&d))?;
    let defaults = EvalLimits::default();
    let mut options = CheckOptions::default();
    options.input.skip_body_parse = opt_bool(&opts, "skipRequestBodyParse");
    options.input.descriptors = opt_descriptors(&opts)?;
    options.response.dry_run = opt_bool(&opts, "dryRun");
    options.limits = EvalLimits {
        max_steps: opt_num(&opts, "maxSteps").map_or(defaults.max_steps, |n| n.max(0.0) as u64),
        max_depth: opt_num(&opts, "maxDepth").map_or(defaults.max_depth, |n| n.clamp(1.0, 100_000.0) as u32),
        deadline_ns: 0,
    };
    let timeout_ms = opt_num(&opts, "timeoutMs").unwrap_or(0.0);
    let volatile_ttl = opt_num(&opts, "volatileTtlMs").filter(|n| *n > 0.0).map(|ms| Duration::from_micros((ms * 1000.0) as u64));
    let projection_v3 = Projection::from_input_paths(query.input_paths(), true);
    let projection_v2 = Projection::from_input_paths(query.input_paths(), false);
    st.prepared.push(Prepared { query, projection_v3, projection_v2, revision: *revision, options, volatile_ttl });
    let handle = st.prepared.len() - 1;
    if timeout_ms > 0.0 {
        // Stored as a relative budget; turned into a deadline per evaluation.
        st.prepared[handle].options.limits.deadline_ns = -((timeout_ms * 1e6) as i64);
    }
    env.number(handle as f64)
}

fn prepared<'a>(st: &'a EngineState, env: Env, v: Val) -> JsResult<&'a Prepared> {
    let h = env.get_number(v, "handle")?;
    st.prepared.get(h as usize).filter(|_| h >= 0.0 && h.fract() == 0.0).ok_or_else(|| JsError::arg("unknown prepared handle"))
}

fn now_ns() -> i64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_nanos() as i64)
}

/// Limits for one evaluation: a relative timeout becomes an absolute deadline.
fn limits_now(l: &EvalLimits) -> EvalLimits {
    let mut l = l.clone();
    if l.deadline_ns < 0 {
        l.deadline_ns = now_ns().saturating_add(-l.deadline_ns);
    }
    l
}

/// The earlier of the prepared deadline and the caller's (ms since the epoch, 0 = none).
fn with_deadline(mut l: EvalLimits, deadline_ms: f64) -> EvalLimits {
    let ns = if deadline_ms > 0.0 { (deadline_ms * 1e6) as i64 } else { 0 };
    if ns > 0 && (l.deadline_ns == 0 || ns < l.deadline_ns) {
        l.deadline_ns = ns;
    }
    l
}

/// `evaluate(handle, inputJson|null, deadlineMs?) -> '{"value":...,"cacheable":bool}'`
/// (`value` absent when undefined). Throws with the engine's error code.
pub fn evaluate(c: &Call) -> JsResult<Val> {
    let env = c.env;
    let st = state(c)?;
    let p = prepared(st, env, c.arg(0)?)?;
    let input = if env.is_nullish(c.arg(1)?)? { None } else { Some(parse_json(&env.get_string(c.arg(1)?, "input")?, "input")?) };
    let deadline_ms = env.get_number_or(c.arg(2)?, 0.0, "deadlineMs")?;
    let d = p.query.eval(input.as_ref(), &with_deadline(limits_now(&p.options.limits), deadline_ms)).map_err(|e| JsError::new(e.code, e.to_string()))?;
    let mut m = Map::new();
    if let Some(v) = d.value {
        m.insert(Value::from("value"), v);
    }
    m.insert(Value::from("cacheable"), Value::Bool(d.cacheable));
    if !d.prints.is_empty() {
        m.insert(Value::from("prints"), Value::from_array(d.prints.iter().map(sark_engine::PrintLine::to_value).collect()));
    }
    env.string(&Value::from_map(m).to_json())
}

/// `bench(handle, inputJson|null, count) -> ns`: evaluates `count` times
/// with the input parsed once, returning the total nanoseconds — the
/// engine's own cost, without JSON or JavaScript in the loop.
pub fn bench(c: &Call) -> JsResult<Val> {
    let env = c.env;
    let st = state(c)?;
    let p = prepared(st, env, c.arg(0)?)?;
    let input = if env.is_nullish(c.arg(1)?)? { None } else { Some(parse_json(&env.get_string(c.arg(1)?, "input")?, "input")?) };
    let count = env.get_number(c.arg(2)?, "count")?.max(1.0) as u64;
    let limits = limits_now(&p.options.limits);
    let start = std::time::Instant::now();
    for _ in 0..count {
        let d = p.query.eval(input.as_ref(), &limits).map_err(|e| JsError::new(e.code, e.to_string()))?;
        std::hint::black_box(d);
    }
    env.number(start.elapsed().as_nanos() as f64)
}

/// `inputPaths(handle) -> JSON` — the input paths the decision can read
/// (what its cache key is made of); `[]` in the list is the whole input.
pub fn input_paths(c: &Call) -> JsResult<Val> {
    let st = state(c)?;
    let p = prepared(st, c.env, c.arg(0)?)?;
    let paths = p.query.input_paths().iter().map(|path| Value::from_array(path.clone())).collect();
    c.env.string(&Value::from_array(paths).to_json())
}

fn api_version(env: Env, v: Val) -> JsResult<ApiVersion> {
    match env.get_number(v, "version")? as i64 {
        3 => Ok(ApiVersion::V3),
        2 => Ok(ApiVersion::V2),
        _ => Err(JsError::arg("version must be 2 or 3")),
    }
}

/// `checkInput(request, version, optionsJson?) -> inputJson`: the input
/// document opa-envoy-plugin would build (for decision logs and tests).
/// Options: `skipRequestBodyParse`, `protoDescriptorBase64` (as `prepare`).
/// Throws `request_malformed`, `request_path_invalid`, `request_body_invalid`
/// or `config_invalid`.
pub fn check_input(c: &Call) -> JsResult<Val> {
    let env = c.env;
    let request = env.get_buffer(c.arg(0)?, "request")?;
    let version = api_version(env, c.arg(1)?)?;
    let opts = if env.is_nullish(c.arg(2)?)? { Value::empty_object() } else { parse_json(&env.get_string(c.arg(2)?, "options")?, "options")? };
    let input_opts = sark_envoy::InputOptions { skip_body_parse: opt_bool(&opts, "skipRequestBodyParse"), descriptors: opt_descriptors(&opts)? };
    let input = sark_envoy::check_request_to_input(request, version, &input_opts).map_err(|e| JsError::new(e.code(), format!("{:?}", e)))?;
    env.string(&input.to_json())
}

/// A random (version 4) UUID in text form.
fn new_decision_id() -> String {
    use rand::Rng;
    const HEX: &[u8; 16] = b"0123456789abcdef";
    let mut b: [u8; 16] = rand::thread_rng().gen();
    b[6] = (b[6] & 0x0f) | 0x40;
    b[8] = (b[8] & 0x3f) | 0x80;
    let mut out = String::with_capacity(DECISION_ID_LEN);
    for (i, x) in b.iter().enumerate() {
        if matches!(i, 4 | 6 | 8 | 10) {
            out.push('-');
        }
        out.push(char::from(HEX[usize::from(x >> 4)]));
        out.push(char::from(HEX[usize::from(x & 0x0f)]));
    }
    out
}

/// Where `id` occurs in `bytes`, if exactly once.
fn unique_offset(bytes: &[u8], id: &[u8]) -> Option<usize> {
    let mut found = None;
    for (i, w) in bytes.windows(id.len()).enumerate() {
        if w == id {
            if found.is_some() {
                return None;
            }
            found = Some(i);
        }
    }
    found
}

/// `check(handle, request, version, out, cache|null, deadlineMs?) -> number`.
///
/// The whole Check in native code: decode, input document, cache lookup,
/// evaluation, encode. Writes the CheckResponse into `out` and returns
/// `len * 16 + flags` (flags: 1 deny, 2 bad request, 4 cache hit,
/// 8 cacheable). `-1`: no response (see `lastError()`); `≤ -2`: `out` is too
/// small, `-(n + 2)` bytes are needed — call `takePending(bigger)`.
pub fn check(c: &Call) -> JsResult<Val> {
    let env = c.env;
    let st = state(c)?;
    let handle = c.arg(0)?;
    let request = env.get_buffer(c.arg(1)?, "request")?;
    let version = api_version(env, c.arg(2)?)?;
    let out = env.get_buffer(c.arg(3)?, "out")?;
    let cache = if env.is_nullish(c.arg(4)?)? { None } else { Some(&env.unwrap::<CacheState>(c.arg(4)?)?.cache) };
    // The caller's deadline (Envoy's grpc-timeout), ms since the epoch.
    let deadline_ms = env.get_number_or(c.arg(5)?, 0.0, "deadlineMs")?;
    let h = env.get_number(handle, "handle")? as usize;
    let result = run_check(st, h, request, version, cache, deadline_ms)?;
    let code = match result {
        Ok((bytes, flags)) => deliver(st, out, bytes, flags),
        Err((code, detail)) => {
            st.last_error = Some((code.to_string(), detail));
            CHECK_ERROR
        }
    };
    env.number(code)
}

fn deliver(st: &mut EngineState, out: &mut [u8], bytes: Vec<u8>, flags: u64) -> f64 {
    match out.get_mut(..bytes.len()) {
        Some(dst) => {
            dst.copy_from_slice(&bytes);
            (bytes.len() as u64 * 16 + flags) as f64
        }
        None => {
            let need = bytes.len();
            st.pending = Some((bytes, flags));
            -((need + 2) as f64)
        }
    }
}

/// `takePending(out) -> number`: the response `check` could not fit, same encoding.
pub fn take_pending(c: &Call) -> JsResult<Val> {
    let st = state(c)?;
    let out = c.env.get_buffer(c.arg(0)?, "out")?;
    let (bytes, flags) = st.pending.take().ok_or_else(|| JsError::new("ERR_NO_PENDING", "no pending response"))?;
    c.env.number(deliver(st, out, bytes, flags))
}

type CheckOutcome = Result<(Vec<u8>, u64), (&'static str, String)>;

fn run_check(st: &mut EngineState, h: usize, request: &[u8], version: ApiVersion, cache: Option<&Cache>, deadline_ms: f64) -> JsResult<CheckOutcome> {
    st.last_eval_ns = 0;
    let p = st.prepared.get(h).ok_or_else(|| JsError::arg("unknown prepared handle"))?;
    let decision_id = new_decision_id();
    let projection = if version == ApiVersion::V3 { &p.projection_v3 } else { &p.projection_v2 };
    // The cache key comes from the request bytes the decision can read: a
    // hit answers without decoding anything. (Keys that cannot be made —
    // malformed bytes, huge bodies — just bypass the cache.)
    let mut keyed = false;
    if let Some(cache) = cache {
        let key = &mut st.key;
        key.clear();
        key.extend_from_slice(&(h as u64).to_le_bytes());
        key.extend_from_slice(&p.revision.to_le_bytes());
        key.push(if version == ApiVersion::V3 { 3 } else { 2 });
        let naming = if version == ApiVersion::V3 { Naming::Json } else { Naming::Proto };
        keyed = matches!(sark_envoy::wire_key::write_wire_key(key, request, naming, projection), Ok(true));
        if keyed {
            if let Some(hit) = cache.get(key) {
                if let Some(bytes) = from_cached(&hit, &decision_id) {
                    st.last_decision_id = decision_id;
                    let flags = hit.first().map_or(0, |f| u64::from(*f)) | FLAG_CACHE_HIT;
                    return Ok(Ok((bytes, flags)));
                }
            }
        }
    }
    let input = match sark_envoy::check_request_to_projected_input(request, version, &p.options.input, projection) {
        Ok(v) => v,
        Err(sark_envoy::RequestError::Malformed(e)) => return Ok(Err(("request_malformed", e.0.to_string()))),
        Err(_) => {
            st.last_decision_id = decision_id.clone();
            return Ok(Ok((sark_envoy::encode_bad_request(&decision_id, version), FLAG_BAD_REQUEST)));
        }
    };
    let mut options = p.options.clone();
    options.response.api = version;
    options.limits = with_deadline(limits_now(&options.limits), deadline_ms);
    let started = std::time::Instant::now();
    let result = sark_envoy::decide(&p.query, &input, &decision_id, &options);
    st.last_eval_ns = started.elapsed().as_nanos() as u64;
    let outcome = match result {
        CheckResult::Response { bytes, outcome, cacheable } => {
            let mut flags = if outcome == Outcome::Deny { FLAG_DENY } else { 0 };
            if cacheable {
                flags |= FLAG_CACHEABLE;
            }
            if let (Some(cache), true) = (cache, keyed) {
                let ttl = if cacheable { None } else { p.volatile_ttl };
                if cacheable || ttl.is_some() {
                    if let Some(entry) = to_cached(&bytes, &decision_id, flags) {
                        cache.set(&st.key, &entry, ttl);
                    }
                }
            }
            Ok((bytes, flags))
        }
        CheckResult::BadRequest { bytes, .. } => Ok((bytes, FLAG_BAD_REQUEST)),
        CheckResult::Error { code, detail } => Err((code, detail)),
    };
    st.last_decision_id = decision_id;
    Ok(outcome)
}

/// A cached response: `[flags][offset u32 LE][response bytes]`, where the
/// decision id sits at `offset` and is replaced on every hit.
fn to_cached(bytes: &[u8], decision_id: &str, flags: u64) -> Option<Vec<u8>> {
    let off = unique_offset(bytes, decision_id.as_bytes())?;
    let mut v = Vec::with_capacity(bytes.len() + 5);
    v.push((flags & (FLAG_DENY | FLAG_CACHEABLE)) as u8);
    v.extend_from_slice(&(off as u32).to_le_bytes());
    v.extend_from_slice(bytes);
    Some(v)
}

fn from_cached(entry: &[u8], decision_id: &str) -> Option<Vec<u8>> {
    let off = u32::from_le_bytes(entry.get(1..5)?.try_into().ok()?) as usize;
    let mut bytes = entry.get(5..)?.to_vec();
    bytes.get_mut(off..off + DECISION_ID_LEN)?.copy_from_slice(decision_id.as_bytes().get(..DECISION_ID_LEN)?);
    Some(bytes)
}

/// `lastError() -> '{"code":..,"detail":..}'` for the last failed `check`.
pub fn last_error(c: &Call) -> JsResult<Val> {
    let st = state(c)?;
    let mut m = Map::new();
    if let Some((code, detail)) = &st.last_error {
        m.insert(Value::from("code"), Value::from(code.as_str()));
        m.insert(Value::from("detail"), Value::from(detail.as_str()));
    }
    c.env.string(&Value::from_map(m).to_json())
}

/// `lastEvalNs() -> number`: nanoseconds the last `check` spent evaluating
/// the decision and encoding the response; 0 for a cache hit or a bad request.
pub fn last_eval_ns(c: &Call) -> JsResult<Val> {
    let st = state(c)?;
    c.env.number(st.last_eval_ns as f64)
}

/// `lastDecisionId() -> string`: the decision id of the last `check`.
pub fn last_decision_id(c: &Call) -> JsResult<Val> {
    let st = state(c)?;
    c.env.string(&st.last_decision_id)
}

/// `query(text, inputJson|null) -> JSON` shaped like `opa eval --format json`.
pub fn query(c: &Call) -> JsResult<Val> {
    let env = c.env;
    let text = env.get_string(c.arg(0)?, "query")?;
    let input = if env.is_nullish(c.arg(1)?)? { None } else { Some(parse_json(&env.get_string(c.arg(1)?, "input")?, "input")?) };
    let st = state(c)?;
    let (policy, _) = st.policy.as_ref().ok_or_else(|| JsError::new("ERR_NOT_COMPILED", "compile() a policy before query()"))?;
    match policy.query(&text, input.as_ref(), &EvalLimits::default()) {
        Ok(r) => env.string(&r.to_json()),
        Err(sark_engine::QueryError::Compile(d)) => Err(compile_error(&d)),
        Err(sark_engine::QueryError::Eval(e)) => Err(JsError::new(e.code, e.to_string())),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cached_responses_get_a_fresh_decision_id() {
        let id = new_decision_id();
        let bytes = [b"\x0a\x02xy".as_slice(), id.as_bytes(), b"tail"].concat();
        let entry = to_cached(&bytes, &id, FLAG_DENY).unwrap();
        let id2 = new_decision_id();
        let again = from_cached(&entry, &id2).unwrap();
        assert_eq!(again, [b"\x0a\x02xy".as_slice(), id2.as_bytes(), b"tail"].concat());
        assert_eq!(entry[0] as u64, FLAG_DENY);
    }

    #[test]
    fn decision_ids_are_uuid_v4() {
        let id = new_decision_id();
        assert_eq!(id.len(), DECISION_ID_LEN);
        assert_eq!(&id[14..15], "4");
        assert_ne!(id, new_decision_id());
    }
}
