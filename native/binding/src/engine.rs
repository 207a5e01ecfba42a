//! `RustOPAEngine`: one compiled policy set and its prepared Checks. Only
//! converts arguments: the Check itself is `sark_envoy::PreparedCheck`.

use crate::cache::RustCache;
use crate::errors::{invalid_arg, throw, throw_eval};
use crate::pool::{CheckCancel, CheckPool};
use sark_envoy::result;
use napi::bindgen_prelude::*;
use napi_derive::napi;
use sark_engine::{CompileOptions, Diagnostic, EvalLimits, Policy, SourceFile, Value};
use sark_envoy::check::DecisionId;
use sark_envoy::{ApiVersion, CheckCall, CheckOutput, CheckResult, CheckSettings, Host, PreparedCheck, Scratch};
use std::cell::RefCell;
use std::sync::Arc;
use std::time::Duration;

/// One policy module.
#[napi(object)]
pub struct ModuleSource {
    pub name: String,
    pub source: String,
}

/// How a policy set is compiled.
#[napi(object)]
pub struct CompileSettings {
    pub v0_compatible: Option<bool>,
    pub strict_builtin_errors: Option<bool>,
}

/// Per-decision settings, fixed at `prepare` (see `sark_envoy::CheckSettings`).
#[napi(object)]
pub struct PrepareSettings {
    /// Evaluation step budget.
    pub max_steps: Option<f64>,
    /// Most nested rule and function calls.
    pub max_depth: Option<f64>,
    /// Wall-clock budget of one evaluation, ms; 0 = none.
    pub timeout_ms: Option<f64>,
    pub skip_request_body_parse: Option<bool>,
    pub dry_run: Option<bool>,
    /// Cache TTL (ms) for decisions that reached a non-deterministic builtin; absent = never cached.
    pub volatile_ttl_ms: Option<f64>,
    /// A FileDescriptorSet, base64: gRPC request bodies become `parsed_body`; a bad one throws `config_invalid`.
    pub proto_descriptor_base64: Option<String>,
    /// Each Check result carries the input document and result it was decided on (decision logs).
    pub record_decision: Option<bool>,
}

/// The input-document settings of `checkInput` (as `prepare`'s).
#[napi(object)]
pub struct InputSettings {
    pub skip_request_body_parse: Option<bool>,
    pub proto_descriptor_base64: Option<String>,
}

fn millis(ms: Option<f64>) -> Option<Duration> {
    ms.filter(|ms| *ms > 0.0 && ms.is_finite()).map(|ms| Duration::from_micros((ms * 1000.0) as u64))
}

impl From<PrepareSettings> for CheckSettings {
    fn from(s: PrepareSettings) -> CheckSettings {
        CheckSettings {
            max_steps: s.max_steps.map(|n| n.max(0.0) as u64),
            max_depth: s.max_depth.map(|n| n.clamp(1.0, 100_000.0) as u32),
            timeout: millis(s.timeout_ms),
            skip_request_body_parse: s.skip_request_body_parse.unwrap_or(false),
            dry_run: s.dry_run.unwrap_or(false),
            volatile_ttl: millis(s.volatile_ttl_ms),
            proto_descriptor_base64: s.proto_descriptor_base64,
            record_decision: s.record_decision.unwrap_or(false),
        }
    }
}

/// The Check's clock and randomness: the process's.
struct ProcessHost;

impl Host for ProcessHost {
    fn now_ns(&self) -> i64 {
        now_ns()
    }
    fn random_bytes(&self) -> [u8; 16] {
        rand::random()
    }
}

fn now_ns() -> i64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_nanos() as i64)
}

/// Milliseconds since the epoch (0 or absent: none) as the Check's nanoseconds.
fn deadline_ns(deadline_ms: Option<f64>) -> i64 {
    deadline_ms.filter(|ms| *ms > 0.0 && ms.is_finite()).map_or(0, |ms| (ms * 1e6) as i64)
}

fn parse_json(env: &Env, text: &str, what: &str) -> Result<Value> {
    Value::from_json_str(text).map_err(|e| invalid_arg(env, format!("{} is not valid JSON: {}", what, e)))
}

fn parse_input(env: &Env, input_json: Option<String>) -> Result<Option<Value>> {
    input_json.map(|text| parse_json(env, &text, "input")).transpose()
}

fn api_version(env: &Env, version: u32) -> Result<ApiVersion> {
    match version {
        3 => Ok(ApiVersion::V3),
        2 => Ok(ApiVersion::V2),
        _ => Err(invalid_arg(env, "version must be 2 or 3")),
    }
}

fn diagnostics_json(diags: &[Diagnostic]) -> String {
    Value::from_array(diags.iter().map(Diagnostic::to_value).collect()).to_json()
}

/// Throws with the first diagnostic's code, every diagnostic in the message, and `diagnosticsJson`.
fn compile_error(env: &Env, diags: &[Diagnostic]) -> Error {
    let code = diags.first().map_or("rego_compile_error", |d| d.code);
    let message = diags.iter().map(|d| d.to_string()).collect::<Vec<_>>().join("\n");
    throw(env, code, message, Some(diagnostics_json(diags)))
}

/// Parsing a large data document leaves freed scratch memory (the JSON
/// text copy, the string-sharing table) in the allocator; hand it back to
/// the OS so a long-running server's resident size reflects what it keeps.
fn release_freed_memory() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    {
        extern "C" {
            fn malloc_trim(pad: usize) -> i32;
        }
        // SAFETY: glibc's malloc_trim only returns free heap memory to the OS; no pointers are touched.
        unsafe {
            malloc_trim(0);
        }
    }
}

/// One Check's argument glue (`check`, `checker`).
#[allow(clippy::too_many_arguments)]
fn run_check(env: &Env, prepared: &PreparedCheck, request: &[u8], version: u32, out: &mut [u8], cache: Option<&sark_cache::Cache>, deadline_ms: f64, inline_steps: f64, scratch: &mut Scratch) -> Result<Option<Buffer>> {
    let version = api_version(env, version)?;
    // Two views of one buffer would alias a `&mut`: refuse before touching either.
    let (r, o) = (request.as_ptr_range(), out.as_ptr_range());
    if !request.is_empty() && r.start < o.end && o.start < r.end {
        return Err(invalid_arg(env, "request and out must not overlap"));
    }
    let call = CheckCall { request, version, cache, deadline_ns: deadline_ns(Some(deadline_ms)), cancel: None };
    let inline_steps = if inline_steps >= 1.0 && inline_steps.is_finite() { inline_steps as u64 } else { 0 };
    match prepared.check_inline(&call, &ProcessHost, scratch, inline_steps) {
        Some(output) => Ok(result::write(&output, out).map(Buffer::from)),
        None => {
            result::write_offload(out);
            Ok(None)
        }
    }
}

#[napi(js_name = "RustOPAEngine")]
pub struct RustOPAEngine {
    policy: Option<Policy>,
    /// Shared with the check functions made from them (`checker`) and the
    /// `CheckPool` threads running offloaded Checks.
    prepared: Vec<Arc<PreparedCheck>>,
    scratch: Scratch,
}

#[napi]
impl RustOPAEngine {
    #[napi(constructor, catch_unwind)]
    pub fn new() -> Self {
        RustOPAEngine { policy: None, prepared: Vec::new(), scratch: Scratch::default() }
    }

    fn prepared(&self, env: &Env, handle: u32) -> Result<&Arc<PreparedCheck>> {
        self.prepared.get(handle as usize).ok_or_else(|| invalid_arg(env, "unknown prepared handle"))
    }

    /// Compiles `modules` with `dataJson` (a JSON object) as base data, replacing
    /// any earlier policy and its prepared decisions. Throws with the first
    /// diagnostic's code and `diagnosticsJson`.
    #[napi(catch_unwind)]
    pub fn compile(&mut self, env: Env, modules: Vec<ModuleSource>, data_json: String, options: Option<CompileSettings>) -> Result<()> {
        let data = parse_json(&env, &data_json, "data")?;
        if !matches!(data, Value::Object(_)) {
            return Err(invalid_arg(&env, "data must be a JSON object"));
        }
        let files: Vec<SourceFile> = modules.into_iter().map(|m| SourceFile { name: m.name, text: m.source }).collect();
        let options = options.map_or_else(CompileOptions::default, |o| CompileOptions { v0_compatible: o.v0_compatible.unwrap_or(false), strict_builtin_errors: o.strict_builtin_errors.unwrap_or(false) });
        let policy = Policy::compile(&files, data, &options).map_err(|d| compile_error(&env, &d))?;
        release_freed_memory();
        self.policy = Some(policy);
        self.prepared.clear();
        Ok(())
    }

    /// Prepares the decision at `path` (`data.x.y` or `x/y`); returns its handle.
    #[napi(catch_unwind)]
    pub fn prepare(&mut self, env: Env, path: String, options: Option<PrepareSettings>) -> Result<u32> {
        let policy = self.policy.as_ref().ok_or_else(|| throw(&env, "ERR_NOT_COMPILED", "compile() a policy before prepare()", None))?;
        let query = policy.prepare(&path).map_err(|d| compile_error(&env, &d))?;
        let settings = options.map(CheckSettings::from).unwrap_or_default();
        let check = PreparedCheck::new(query, &settings).map_err(|e| throw(&env, sark_envoy::ConfigError::CODE, e.0, None))?;
        self.prepared.push(Arc::new(check));
        Ok((self.prepared.len() - 1) as u32)
    }

    /// `'{"value":...,"cacheable":bool,"prints"?:[...]}'` (`value` absent when
    /// undefined); evaluation stops at `deadlineMs` (ms since the epoch). Throws
    /// with the engine's error code.
    #[napi(catch_unwind)]
    pub fn evaluate(&self, env: Env, handle: u32, input_json: Option<String>, deadline_ms: Option<f64>) -> Result<String> {
        let p = self.prepared(&env, handle)?;
        let input = parse_input(&env, input_json)?;
        let limits = p.limits(now_ns(), deadline_ns(deadline_ms));
        let d = p.query().eval(input.as_ref(), &limits).map_err(|e| throw(&env, e.code, e.to_string(), None))?;
        Ok(d.to_json())
    }

    /// Evaluates `count` times with the input parsed once; the total
    /// nanoseconds — the engine's own cost, without JSON or JavaScript in the loop.
    #[napi(catch_unwind)]
    pub fn bench(&self, env: Env, handle: u32, input_json: Option<String>, count: f64) -> Result<f64> {
        let p = self.prepared(&env, handle)?;
        let input = parse_input(&env, input_json)?;
        let limits = p.limits(now_ns(), 0);
        let start = std::time::Instant::now();
        for _ in 0..count.max(1.0) as u64 {
            let d = p.query().eval(input.as_ref(), &limits).map_err(|e| throw(&env, e.code, e.to_string(), None))?;
            std::hint::black_box(d);
        }
        Ok(start.elapsed().as_nanos() as f64)
    }

    /// JSON array of the input paths (arrays of steps) the decision can read:
    /// what its cache key is made of; `[]` in the list is the whole input.
    #[napi(catch_unwind)]
    pub fn input_paths(&self, env: Env, handle: u32) -> Result<String> {
        let p = self.prepared(&env, handle)?;
        let paths = p.query().input_paths().iter().map(|path| Value::from_array(path.clone())).collect();
        Ok(Value::from_array(paths).to_json())
    }

    /// One whole Check (`sark_envoy::PreparedCheck::check`) through `cache`
    /// when given, its result written into `out` as sark_envoy::result lays
    /// out. With `inlineSteps` (> 0), evaluation spends at most that many
    /// steps here; beyond, the result is "offload" and the caller runs
    /// `checkAsync`. Returns a new, larger buffer holding the result when it
    /// does not fit `out` (the caller keeps it as its `out`). The server's hot
    /// path uses `checker` instead.
    #[napi(catch_unwind)]
    #[allow(clippy::too_many_arguments)]
    pub fn check(&mut self, env: Env, handle: u32, request: &[u8], version: u32, mut out: BufferSlice, cache: Option<&RustCache>, deadline_ms: Option<f64>, inline_steps: Option<f64>) -> Result<Option<Buffer>> {
        let prepared = self.prepared.get(handle as usize).ok_or_else(|| invalid_arg(&env, "unknown prepared handle"))?;
        let cache = cache.map(|c| c.cache.as_ref());
        run_check(&env, prepared, request, version, &mut out, cache, deadline_ms.unwrap_or(0.0), inline_steps.unwrap_or(0.0), &mut self.scratch)
    }

    /// The Envoy hot path: the Check of decision `handle` through `cache` as a
    /// plain function `(request, version, out, deadlineMs, inlineSteps) => Buffer | null`
    /// that works as `check` does. A method call costs napi-rs's per-call
    /// registry of native borrows (a shared map under a lock, an allocated
    /// scope: about 1,200 instructions, over 3% of a whole Check); this
    /// function owns what it uses (the decision, the cache, its scratch) and
    /// borrows nothing from JavaScript objects but its buffers.
    #[napi(catch_unwind, ts_return_type = "(request: Buffer, version: number, out: Buffer, deadlineMs: number, inlineSteps: number) => Buffer | null")]
    pub fn checker<'env>(&self, env: &'env Env, handle: u32, cache: Option<&RustCache>) -> Result<Function<'env, Unknown<'env>, Option<Buffer>>> {
        let prepared = Arc::clone(self.prepared(env, handle)?);
        let cache = cache.map(|c| Arc::clone(&c.cache));
        let scratch = RefCell::new(Scratch::default());
        env.create_function_from_closure("check", move |ctx| {
            let env = &*ctx.env;
            let request: &mut [u8] = ctx.get(0)?;
            let version: u32 = ctx.get(1)?;
            let mut out: BufferSlice = ctx.get(2)?;
            let deadline_ms: f64 = ctx.get(3)?;
            let inline_steps: f64 = ctx.get(4)?;
            // No JavaScript runs during a Check, so this borrow never fails; if it did, it fails cleanly.
            let mut scratch = scratch.try_borrow_mut().map_err(|_| invalid_arg(env, "check is already running"))?;
            run_check(env, &prepared, request, version, &mut out, cache.as_deref(), deadline_ms, inline_steps, &mut scratch)
        })
    }

    /// One whole Check with the full budgets on a `pool` thread, resolving
    /// to its result laid out as `check` writes it (a new buffer). Throws
    /// `capacity_exhausted` when every thread of the pool is busy. `cancel`
    /// raised stops the evaluation early (`eval_cancelled`).
    #[napi(catch_unwind, ts_return_type = "Promise<Buffer>")]
    #[allow(clippy::too_many_arguments)]
    pub fn check_async<'env>(&self, env: &'env Env, handle: u32, request: &[u8], version: u32, cache: Option<&RustCache>, deadline_ms: Option<f64>, pool: &CheckPool, cancel: Option<&CheckCancel>) -> Result<Object<'env>> {
        let version = api_version(env, version)?;
        let prepared = Arc::clone(self.prepared(env, handle)?);
        let cache = cache.map(|c| Arc::clone(&c.cache));
        // The request's memory belongs to JavaScript: the thread gets a copy.
        let request = request.to_vec();
        let deadline_ns = deadline_ns(deadline_ms);
        let cancel = cancel.map(|c| c.flag.clone());
        // Admitted before the promise exists: a promise never settled would keep Node's loop alive.
        let slot = pool.admit().ok_or_else(|| throw(env, "capacity_exhausted", format!("all {} Check threads are busy", pool.capacity()), None))?;
        let (deferred, promise) = env.create_deferred::<Buffer, _>()?;
        pool.run(move || {
            let run = || {
                let call = CheckCall { request: &request, version, cache: cache.as_deref(), deadline_ns, cancel: cancel.as_ref() };
                prepared.check(&call, &ProcessHost, &mut Scratch::default())
            };
            let output = std::panic::catch_unwind(std::panic::AssertUnwindSafe(run)).unwrap_or_else(|_| CheckOutput {
                result: CheckResult::Error { code: "internal", detail: "the engine panicked".into() },
                decision_id: DecisionId::from_random(rand::random()),
                cache_hit: false,
                eval_ns: 0,
                prints: Vec::new(),
                decided: None,
            });
            let bytes = result::to_vec(&output);
            drop(slot);
            deferred.resolve(move |_| Ok(Buffer::from(bytes)));
        });
        Ok(promise)
    }

    /// The input document opa-envoy-plugin would build for a CheckRequest, as
    /// JSON (decision logs, tests). Throws `request_malformed`,
    /// `request_path_invalid`, `request_body_invalid` or `config_invalid`.
    #[napi(catch_unwind)]
    pub fn check_input(&self, env: Env, request: &[u8], version: u32, options: Option<InputSettings>) -> Result<String> {
        let version = api_version(&env, version)?;
        let settings = CheckSettings {
            skip_request_body_parse: options.as_ref().and_then(|o| o.skip_request_body_parse).unwrap_or(false),
            proto_descriptor_base64: options.and_then(|o| o.proto_descriptor_base64),
            ..CheckSettings::default()
        };
        let input_options = sark_envoy::check::input_options(&settings).map_err(|e| throw(&env, sark_envoy::ConfigError::CODE, e.0, None))?;
        let input = sark_envoy::check::input_document(request, version, &input_options).map_err(|e| throw(&env, e.code(), format!("{:?}", e), None))?;
        Ok(input.to_json())
    }

    /// An ad-hoc query; JSON shaped like `opa eval --format json`.
    #[napi(catch_unwind)]
    pub fn query(&self, env: Env, text: String, input_json: Option<String>) -> Result<String> {
        let input = parse_input(&env, input_json)?;
        let policy = self.policy.as_ref().ok_or_else(|| throw(&env, "ERR_NOT_COMPILED", "compile() a policy before query()", None))?;
        match policy.query(&text, input.as_ref(), &EvalLimits::default()) {
            Ok(r) => Ok(r.to_json()),
            Err(sark_engine::QueryError::Compile(d)) => Err(compile_error(&env, &d)),
            Err(sark_engine::QueryError::Eval(e)) => Err(throw_eval(&env, &e)),
        }
    }
}
