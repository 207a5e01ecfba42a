//! One Envoy Check, whole: CheckRequest bytes → cache → input document →
//! evaluation → CheckResponse bytes. A `PreparedCheck` is a prepared
//! decision with its Check settings; hosts (the Node-API binding, a wasm
//! build) only convert arguments and supply a clock and randomness.

use crate::input::{check_request_to_input, check_request_to_projected_input, ApiVersion, InputOptions, RequestError};
use crate::projection::Projection;
use crate::protomap::Naming;
use crate::response::{encode_bad_request, encode_check_response, Outcome, ResponseOptions};
use crate::{wire_key, Descriptors};
use sark_cache::Cache;
use sark_engine::{Cancel, EvalLimits, PreparedQuery, PrintLine, Value};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

/// Every PreparedCheck gets its own id: cache keys of different decisions,
/// policy generations or engines sharing one cache never collide.
static NEXT_ID: AtomicU64 = AtomicU64::new(1);

/// Length of a decision id (a UUID in text form).
pub const DECISION_ID_LEN: usize = 36;

/// What a Check needs from where it runs.
pub trait Host {
    /// Wall-clock nanoseconds since the Unix epoch (deadlines, timing).
    fn now_ns(&self) -> i64;
    /// 16 random bytes (a decision id).
    fn random_bytes(&self) -> [u8; 16];
}

/// A decision id: a random (version 4) UUID in text form.
#[derive(Clone, Copy, PartialEq, Eq)]
pub struct DecisionId([u8; DECISION_ID_LEN]);

impl DecisionId {
    pub fn from_random(mut b: [u8; 16]) -> DecisionId {
        const HEX: &[u8; 16] = b"0123456789abcdef";
        b[6] = (b[6] & 0x0f) | 0x40;
        b[8] = (b[8] & 0x3f) | 0x80;
        let hex = |n: u8| HEX.get(usize::from(n & 0x0f)).copied().unwrap_or(b'0');
        let mut out = [b'-'; DECISION_ID_LEN];
        let mut at = 0;
        for (i, x) in b.iter().enumerate() {
            if matches!(i, 4 | 6 | 8 | 10) {
                at += 1;
            }
            if let Some([hi, lo]) = out.get_mut(at..at + 2) {
                (*hi, *lo) = (hex(x >> 4), hex(*x));
            }
            at += 2;
        }
        DecisionId(out)
    }

    pub fn as_bytes(&self) -> &[u8; DECISION_ID_LEN] {
        &self.0
    }

    pub fn as_str(&self) -> &str {
        // Always ASCII hex and dashes.
        std::str::from_utf8(&self.0).unwrap_or_default()
    }
}

impl std::fmt::Debug for DecisionId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Per-decision settings, fixed when a decision is prepared.
#[derive(Clone, Debug, Default)]
pub struct CheckSettings {
    /// Evaluation step budget; `None`: the engine's default.
    pub max_steps: Option<u64>,
    /// Most nested rule and function calls; `None`: the engine's default.
    pub max_depth: Option<u32>,
    /// Wall-clock budget of one evaluation; `None`: none.
    pub timeout: Option<Duration>,
    /// Leave `parsed_body`/`truncated_body` out of the input document.
    pub skip_request_body_parse: bool,
    /// Log the real decision but always allow.
    pub dry_run: bool,
    /// Cache TTL for decisions that reached a non-deterministic builtin; `None`: never cached.
    pub volatile_ttl: Option<Duration>,
    /// A protobuf FileDescriptorSet, base64: gRPC request bodies become `parsed_body`.
    pub proto_descriptor_base64: Option<String>,
    /// Hand back the input document and result each answer came from
    /// (`CheckOutput::decided`), for decision logs; off, a Check pays nothing.
    pub record_decision: bool,
}

/// Settings that cannot be used (a bad descriptor set); code `config_invalid`.
#[derive(Debug, PartialEq)]
pub struct ConfigError(pub String);

impl ConfigError {
    pub const CODE: &'static str = "config_invalid";
}

/// The input-document options of some settings (`checkInput` uses them alone).
pub fn input_options(settings: &CheckSettings) -> Result<InputOptions, ConfigError> {
    let descriptors = match &settings.proto_descriptor_base64 {
        None => None,
        Some(b64) => Some(Arc::new(Descriptors::from_base64(b64).map_err(|e| ConfigError(format!("invalid protobuf descriptor set: {}", e)))?)),
    };
    Ok(InputOptions { skip_body_parse: settings.skip_request_body_parse, descriptors })
}

#[derive(Clone, Debug, Default)]
pub struct CheckOptions {
    pub input: InputOptions,
    pub response: ResponseOptions,
    pub limits: EvalLimits,
}

/// What one evaluation came to.
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

/// One Check's result: what to answer, and what to log about it.
#[derive(Debug)]
pub struct CheckOutput {
    pub result: CheckResult,
    pub decision_id: DecisionId,
    /// Answered from the decision cache.
    pub cache_hit: bool,
    /// Nanoseconds spent evaluating and encoding; 0 for a cache hit or a bad request.
    pub eval_ns: u64,
    /// What `print` wrote while evaluating (nothing for a cache hit: it did not evaluate).
    pub prints: Vec<PrintLine>,
    /// With `record_decision`: what the answer was decided on, once the input document is built.
    pub decided: Option<Decided>,
}

/// The input document a Check was decided on and the decision's value
/// (`None`: undefined, or evaluation failed), as decision logs record them.
#[derive(Debug, Clone, PartialEq)]
pub struct Decided {
    pub input: Value,
    pub result: Option<Value>,
}

/// One evaluation's outcome with what it printed and decided.
struct Evaluated {
    result: CheckResult,
    prints: Vec<PrintLine>,
    value: Option<Value>,
}

/// Where Checks memoize their responses: the native cache, or a host's own
/// (the wasm build hands entries to the JavaScript lru-cache). Keys and
/// entries are made here, by PreparedCheck; a cache only stores bytes.
pub trait CheckCache {
    type Entry: AsRef<[u8]>;
    /// The entry under `key`, if present and not expired.
    fn get(&self, key: &[u8]) -> Option<Self::Entry>;
    /// Stores `entry` under `key`, with `ttl` or the cache's default.
    fn set(&self, key: &[u8], entry: &[u8], ttl: Option<Duration>);
}

impl CheckCache for Cache {
    type Entry = Arc<[u8]>;
    fn get(&self, key: &[u8]) -> Option<Arc<[u8]>> {
        Cache::get(self, key)
    }
    fn set(&self, key: &[u8], entry: &[u8], ttl: Option<Duration>) {
        Cache::set(self, key, entry, ttl);
    }
}

/// One Check's request.
pub struct CheckCall<'a, C: CheckCache + ?Sized = Cache> {
    pub request: &'a [u8],
    pub version: ApiVersion,
    pub cache: Option<&'a C>,
    /// The caller's deadline (Envoy's grpc-timeout), ns since the epoch; 0: none.
    pub deadline_ns: i64,
    /// Raised when the caller goes away (the client cancelled): evaluation stops with `eval_cancelled`.
    pub cancel: Option<&'a Cancel>,
}

/// Reused between Checks so a warm Check allocates no cache key.
#[derive(Default)]
pub struct Scratch {
    key: Vec<u8>,
}

/// A prepared decision with everything a Check needs.
pub struct PreparedCheck {
    query: PreparedQuery,
    /// What of a CheckRequest this decision can read, by API version's names.
    projection_v3: Projection,
    projection_v2: Projection,
    id: u64,
    options: CheckOptions,
    /// Relative evaluation budget, ns; 0: none.
    timeout_ns: i64,
    volatile_ttl: Option<Duration>,
    record_decision: bool,
}

/// One Check's output, and whether it only says the inline budget ran out.
struct Run {
    output: CheckOutput,
    over_inline_budget: bool,
}

/// The engine's code for a step, depth or memory bound reached.
const LIMIT_ERROR: &str = "eval_limit_error";

/// `limits` with the step budget lowered to `inline_steps` (0: unchanged);
/// true when it was lowered, so running out may only mean "not inline".
fn inline_limits(mut limits: EvalLimits, inline_steps: u64) -> (EvalLimits, bool) {
    let lowered = inline_steps > 0 && (limits.max_steps == 0 || inline_steps < limits.max_steps);
    if lowered {
        limits.max_steps = inline_steps;
    }
    (limits, lowered)
}

// Offloaded Checks run on other threads against the one prepared decision
// and cache (shared by `Arc`, never copied per request): both must be
// shareable. (The engine's pools and string table are per thread.)
const _: () = {
    const fn shareable<T: Send + Sync>() {}
    shareable::<PreparedCheck>();
    shareable::<Cache>();
};

/// Cached entries: `[flags][offset u32 LE][response bytes]`, where the
/// decision id sits at `offset` and is replaced on every hit.
const CACHED_DENY: u8 = 1;
const CACHED_CACHEABLE: u8 = 2;
/// The entry also holds the decision's value, for decision logs:
/// `[flags][offset u32][response length u32][response][value JSON]`.
const CACHED_WITH_RESULT: u8 = 4;

impl PreparedCheck {
    pub fn new(query: PreparedQuery, settings: &CheckSettings) -> Result<PreparedCheck, ConfigError> {
        let defaults = EvalLimits::default();
        let options = CheckOptions {
            input: input_options(settings)?,
            response: ResponseOptions { dry_run: settings.dry_run, ..ResponseOptions::default() },
            limits: EvalLimits { max_steps: settings.max_steps.unwrap_or(defaults.max_steps), max_depth: settings.max_depth.unwrap_or(defaults.max_depth), ..defaults },
        };
        let timeout_ns = settings.timeout.map_or(0, |t| i64::try_from(t.as_nanos()).unwrap_or(i64::MAX));
        Ok(PreparedCheck {
            projection_v3: Projection::from_input_paths(query.input_paths(), true),
            projection_v2: Projection::from_input_paths(query.input_paths(), false),
            query,
            id: NEXT_ID.fetch_add(1, Ordering::Relaxed),
            options,
            timeout_ns,
            volatile_ttl: settings.volatile_ttl.filter(|d| !d.is_zero()),
            record_decision: settings.record_decision,
        })
    }

    pub fn query(&self) -> &PreparedQuery {
        &self.query
    }

    pub fn input_options(&self) -> &InputOptions {
        &self.options.input
    }

    /// Limits of one evaluation starting now: the earlier of the prepared
    /// timeout and the caller's deadline (ns since the epoch, 0 = none).
    pub fn limits(&self, now_ns: i64, deadline_ns: i64) -> EvalLimits {
        let mut l = self.options.limits.clone();
        if self.timeout_ns > 0 {
            l.deadline_ns = now_ns.saturating_add(self.timeout_ns);
        }
        if deadline_ns > 0 && (l.deadline_ns == 0 || deadline_ns < l.deadline_ns) {
            l.deadline_ns = deadline_ns;
        }
        l
    }

    /// Runs one Check with the full budgets.
    pub fn check<C: CheckCache + ?Sized>(&self, call: &CheckCall<'_, C>, host: &impl Host, scratch: &mut Scratch) -> CheckOutput {
        self.run(call, host, scratch, 0).output
    }

    /// Runs one Check on the caller's thread (the event loop) spending at
    /// most `inline_steps` of the step budget (0: all of it). `None` when
    /// that was not enough: nothing was answered or cached, and the caller
    /// runs `check` again where a long evaluation holds up nobody
    /// (evaluation is pure, so starting over is safe).
    pub fn check_inline<C: CheckCache + ?Sized>(&self, call: &CheckCall<'_, C>, host: &impl Host, scratch: &mut Scratch, inline_steps: u64) -> Option<CheckOutput> {
        let run = self.run(call, host, scratch, inline_steps);
        (!run.over_inline_budget).then_some(run.output)
    }

    fn run<C: CheckCache + ?Sized>(&self, call: &CheckCall<'_, C>, host: &impl Host, scratch: &mut Scratch, inline_steps: u64) -> Run {
        let decision_id = DecisionId::from_random(host.random_bytes());
        let done = |result, cache_hit, eval_ns| Run { output: CheckOutput { result, decision_id, cache_hit, eval_ns, prints: Vec::new(), decided: None }, over_inline_budget: false };
        let projection = if call.version == ApiVersion::V3 { &self.projection_v3 } else { &self.projection_v2 };
        // The cache key comes from the request bytes the decision can read: a
        // hit answers without decoding anything. (Keys that cannot be made —
        // malformed bytes, huge bodies — just bypass the cache.)
        let cache = call.cache.filter(|_| self.write_key(&mut scratch.key, call, projection));
        if let Some((hit, cached_value)) = cache.and_then(|c| c.get(&scratch.key)).and_then(|entry| from_cached(entry.as_ref(), &decision_id)) {
            let mut out = done(hit, true, 0);
            if self.record_decision {
                // The request decoded only for the log; it decoded before, when the entry was made.
                out.output.decided = check_request_to_input(call.request, call.version, &self.options.input).ok().map(|input| Decided { input, result: cached_value });
            }
            return out;
        }
        // A recorded decision is evaluated on the whole input document, the
        // one logged; the projection only leaves out what the policy cannot read.
        let built = if self.record_decision {
            check_request_to_input(call.request, call.version, &self.options.input)
        } else {
            check_request_to_projected_input(call.request, call.version, &self.options.input, projection)
        };
        let input = match built {
            Ok(v) => v,
            Err(RequestError::Malformed(e)) => return done(CheckResult::Error { code: "request_malformed", detail: e.0.to_string() }, false, 0),
            Err(e) => return done(CheckResult::BadRequest { bytes: encode_bad_request(decision_id.as_str(), call.version), code: e.code() }, false, 0),
        };
        let started = host.now_ns();
        let (mut limits, limited) = inline_limits(self.limits(started, call.deadline_ns), inline_steps);
        limits.cancel = call.cancel.cloned();
        let Evaluated { result, prints, value } = self.evaluate(&input, decision_id.as_str(), &limits, call.version);
        if limited && matches!(result, CheckResult::Error { code: LIMIT_ERROR, .. }) {
            // Out of inline steps (or over a depth or memory bound, which the
            // full run reports the same way): not an answer yet.
            return Run { over_inline_budget: true, ..done(result, false, 0) };
        }
        let eval_ns = u64::try_from(host.now_ns().saturating_sub(started)).unwrap_or(0);
        if let (Some(cache), CheckResult::Response { bytes, outcome, cacheable }) = (cache, &result) {
            let ttl = if *cacheable { None } else { self.volatile_ttl };
            if *cacheable || ttl.is_some() {
                let recorded = if self.record_decision { value.as_ref() } else { None };
                if let Some(entry) = to_cached(bytes, &decision_id, *outcome, *cacheable, recorded) {
                    cache.set(&scratch.key, &entry, ttl);
                }
            }
        }
        let mut out = done(result, false, eval_ns);
        out.output.prints = prints;
        if self.record_decision {
            out.output.decided = Some(Decided { input, result: value });
        }
        out
    }

    /// Writes the cache key of `call` into `key`; false when it cannot be made.
    fn write_key<C: CheckCache + ?Sized>(&self, key: &mut Vec<u8>, call: &CheckCall<'_, C>, projection: &Projection) -> bool {
        key.clear();
        key.extend_from_slice(&self.id.to_le_bytes());
        key.push(if call.version == ApiVersion::V3 { 3 } else { 2 });
        let naming = if call.version == ApiVersion::V3 { Naming::Json } else { Naming::Proto };
        matches!(wire_key::write_wire_key(key, call.request, naming, projection), Ok(true))
    }

    /// Evaluates the decision for an input document and encodes the response
    /// for the API the request came in on.
    pub fn decide(&self, input: &Value, decision_id: &str, limits: &EvalLimits, api: ApiVersion) -> CheckResult {
        self.evaluate(input, decision_id, limits, api).result
    }

    /// `decide`, keeping what the evaluation printed and its value.
    fn evaluate(&self, input: &Value, decision_id: &str, limits: &EvalLimits, api: ApiVersion) -> Evaluated {
        let decision = match self.query.eval(Some(input), limits) {
            Ok(d) => d,
            Err(mut e) => {
                let prints = std::mem::take(&mut e.prints);
                return Evaluated { result: CheckResult::Error { code: e.code, detail: e.to_string() }, prints, value: None };
            }
        };
        let prints = decision.prints;
        let result = match &decision.value {
            None => CheckResult::Error { code: "decision_undefined", detail: format!("{} is undefined", self.query.path) },
            Some(value) => match encode_check_response(value, decision_id, ResponseOptions { api, ..self.options.response }) {
                Ok((bytes, outcome)) => CheckResult::Response { bytes, outcome, cacheable: decision.cacheable },
                Err(e) => CheckResult::Error { code: "decision_invalid", detail: e.0 },
            },
        };
        Evaluated { result, prints, value: decision.value }
    }
}

/// The input document opa-envoy-plugin would build for `request` (decision logs, tests).
pub fn input_document(request: &[u8], version: ApiVersion, options: &InputOptions) -> Result<Value, RequestError> {
    check_request_to_input(request, version, options)
}

/// Where `id` occurs in `bytes`, if exactly once.
/// Where the decision id sits in a response: `Some(None)` when the response
/// carries none (a v2 response has no dynamic metadata), `None` when it is
/// there more than once (the entry could not be patched safely).
fn unique_offset(bytes: &[u8], id: &[u8]) -> Option<Option<usize>> {
    let mut found = None;
    for (i, w) in bytes.windows(id.len()).enumerate() {
        if w == id {
            if found.is_some() {
                return None;
            }
            found = Some(i);
        }
    }
    Some(found)
}

/// The offset stored for a response without a decision id: nothing to patch.
const NO_DECISION_ID: u32 = u32::MAX;

/// The cache entry of a response; `recorded`: the decision's value is kept
/// with it, for decision logs of hits.
fn to_cached(bytes: &[u8], decision_id: &DecisionId, outcome: Outcome, cacheable: bool, recorded: Option<&Value>) -> Option<Vec<u8>> {
    let off = match unique_offset(bytes, decision_id.as_bytes())? {
        Some(at) => u32::try_from(at).ok().filter(|at| *at != NO_DECISION_ID)?,
        None => NO_DECISION_ID,
    };
    let mut flags = if outcome == Outcome::Deny { CACHED_DENY } else { 0 };
    if cacheable {
        flags |= CACHED_CACHEABLE;
    }
    let value_json = recorded.map(Value::to_json);
    let mut v = Vec::with_capacity(bytes.len() + 9 + value_json.as_ref().map_or(0, String::len));
    if value_json.is_some() {
        flags |= CACHED_WITH_RESULT;
    }
    v.push(flags);
    v.extend_from_slice(&off.to_le_bytes());
    if let Some(json) = &value_json {
        v.extend_from_slice(&u32::try_from(bytes.len()).ok()?.to_le_bytes());
        v.extend_from_slice(bytes);
        v.extend_from_slice(json.as_bytes());
    } else {
        v.extend_from_slice(bytes);
    }
    Some(v)
}

/// A cached response with a fresh decision id, and the decision's value when the entry kept it.
fn from_cached(entry: &[u8], decision_id: &DecisionId) -> Option<(CheckResult, Option<Value>)> {
    let flags = *entry.first()?;
    let off = u32::from_le_bytes(entry.get(1..5)?.try_into().ok()?);
    let (response, value) = if flags & CACHED_WITH_RESULT != 0 {
        let len = u32::from_le_bytes(entry.get(5..9)?.try_into().ok()?) as usize;
        let json = entry.get(9 + len..)?;
        (entry.get(9..9 + len)?, std::str::from_utf8(json).ok().and_then(|j| Value::from_json_str(j).ok()))
    } else {
        (entry.get(5..)?, None)
    };
    let mut bytes = response.to_vec();
    if off != NO_DECISION_ID {
        let off = off as usize;
        bytes.get_mut(off..off + DECISION_ID_LEN)?.copy_from_slice(decision_id.as_bytes());
    }
    let outcome = if flags & CACHED_DENY != 0 { Outcome::Deny } else { Outcome::Allow };
    Some((CheckResult::Response { bytes, outcome, cacheable: flags & CACHED_CACHEABLE != 0 }, value))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cached_responses_get_a_fresh_decision_id() {
        let id = DecisionId::from_random([7; 16]);
        let bytes = [b"\x0a\x02xy".as_slice(), id.as_bytes(), b"tail"].concat();
        let entry = to_cached(&bytes, &id, Outcome::Deny, true, None).unwrap();
        let id2 = DecisionId::from_random([9; 16]);
        let Some((CheckResult::Response { bytes: again, outcome, cacheable }, None)) = from_cached(&entry, &id2) else { panic!("not a response") };
        assert_eq!(again, [b"\x0a\x02xy".as_slice(), id2.as_bytes(), b"tail"].concat());
        assert_eq!((outcome, cacheable), (Outcome::Deny, true));
    }

    #[test]
    fn responses_without_a_decision_id_are_cached_as_they_are() {
        // A v2 response carries no dynamic metadata, so no decision id to patch.
        let id = DecisionId::from_random([7; 16]);
        let entry = to_cached(b"\x0a\x02xy", &id, Outcome::Allow, true, None).unwrap();
        let Some((CheckResult::Response { bytes, .. }, _)) = from_cached(&entry, &DecisionId::from_random([9; 16])) else { panic!("not a response") };
        assert_eq!(bytes, b"\x0a\x02xy");
        // An id found twice cannot be patched safely: not cached.
        let twice = [id.as_bytes().as_slice(), id.as_bytes()].concat();
        assert!(to_cached(&twice, &id, Outcome::Allow, true, None).is_none());
    }

    #[test]
    fn decision_ids_are_uuid_v4() {
        let id = DecisionId::from_random([0xff; 16]);
        assert_eq!(id.as_str(), "ffffffff-ffff-4fff-bfff-ffffffffffff");
        assert_ne!(DecisionId::from_random([1; 16]), DecisionId::from_random([2; 16]));
    }

    #[test]
    fn the_earlier_deadline_wins() {
        let policy = sark_engine::Policy::compile(&[sark_engine::SourceFile { name: "p.rego".into(), text: "package p\nallow := true".into() }], Value::empty_object(), &Default::default()).unwrap();
        let settings = CheckSettings { timeout: Some(Duration::from_nanos(100)), ..Default::default() };
        let p = PreparedCheck::new(policy.prepare("data.p.allow").unwrap(), &settings).unwrap();
        assert_eq!(p.limits(1000, 0).deadline_ns, 1100);
        assert_eq!(p.limits(1000, 1050).deadline_ns, 1050);
        assert_eq!(p.limits(1000, 5000).deadline_ns, 1100);
    }

    struct FixedHost;
    impl Host for FixedHost {
        fn now_ns(&self) -> i64 {
            1
        }
        fn random_bytes(&self) -> [u8; 16] {
            [3; 16]
        }
    }

    fn prepared_recording(src: &str, record_decision: bool) -> PreparedCheck {
        let files = [sark_engine::SourceFile { name: "p.rego".into(), text: src.into() }];
        let policy = sark_engine::Policy::compile(&files, Value::empty_object(), &Default::default()).unwrap();
        PreparedCheck::new(policy.prepare("data.p.allow").unwrap(), &CheckSettings { record_decision, ..Default::default() }).unwrap()
    }

    #[test]
    fn prints_and_the_recorded_decision_come_with_the_output() {
        let src = "package p\n\nallow := {\"allowed\": true, \"headers\": {\"x-p\": concat(\"/\", input.parsed_path)}} if {\n  print(\"checked\", input.parsed_path)\n}";
        // An empty CheckRequest is a valid one: its input document has empty attributes.
        let call = CheckCall { request: &[], version: ApiVersion::V3, cache: None, deadline_ns: 0, cancel: None };
        let plain = prepared_recording(src, false).check(&call, &FixedHost, &mut Scratch::default());
        assert_eq!(plain.prints.iter().map(|l| (l.location.as_str(), l.message.as_str())).collect::<Vec<_>>(), vec![("p.rego:4", "checked [\"\"]")]);
        assert!(plain.decided.is_none());

        let cache = Cache::new(sark_cache::CacheConfig { max_entries: 10, max_bytes: 1 << 20, default_ttl: None, shards: 1 });
        let p = prepared_recording(src, true);
        let call = CheckCall { cache: Some(&cache), ..call };
        let first = p.check(&call, &FixedHost, &mut Scratch::default());
        let decided = first.decided.expect("recorded");
        assert_eq!(decided.input, input_document(&[], ApiVersion::V3, p.input_options()).unwrap());
        assert_eq!(decided.result.as_ref().map(Value::to_json).as_deref(), Some(r#"{"allowed":true,"headers":{"x-p":""}}"#));
        // A hit did not evaluate: no prints, and the result stored with the entry.
        let hit = p.check(&call, &FixedHost, &mut Scratch::default());
        assert!(hit.cache_hit);
        assert!(hit.prints.is_empty());
        assert_eq!(hit.decided, Some(decided));
    }

    /// The process's clock, fixed randomness.
    struct TestHost;

    impl Host for TestHost {
        fn now_ns(&self) -> i64 {
            std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_nanos() as i64)
        }
        fn random_bytes(&self) -> [u8; 16] {
            [7; 16]
        }
    }

    /// `allow` for a cheap GET; with an `x-hazard` header, only after a
    /// 100,000-element comprehension.
    const HAZARD_POLICY: &str = "package p\n\
        default allow := false\n\
        allow if { not input.attributes.request.http.headers[\"x-hazard\"]; input.attributes.request.http.method == \"GET\" }\n\
        allow if { input.attributes.request.http.headers[\"x-hazard\"]; count([x | some x in numbers.range(1, 100000); x % 2 == 0]) == 50000 }\n";

    fn prepared(policy: &str, settings: &CheckSettings) -> PreparedCheck {
        let policy = sark_engine::Policy::compile(&[sark_engine::SourceFile { name: "p.rego".into(), text: policy.into() }], Value::empty_object(), &Default::default()).unwrap();
        PreparedCheck::new(policy.prepare("data.p.allow").unwrap(), settings).unwrap()
    }

    /// A v3 CheckRequest for `GET /` with `headers`.
    fn request(headers: &[(&str, &str)]) -> Vec<u8> {
        let mut w = crate::wire::Writer::default();
        w.message_field(1, |attrs| {
            attrs.message_field(4, |req| {
                req.message_field(2, |http| {
                    http.string_field(2, "GET");
                    for (k, v) in headers {
                        http.message_field(3, |e| {
                            e.string_field(1, k);
                            e.string_field(2, v);
                        });
                    }
                    http.string_field(4, "/");
                });
            });
        });
        w.buf
    }

    fn call<'a>(request: &'a [u8], cache: Option<&'a Cache>, deadline_ns: i64) -> CheckCall<'a> {
        CheckCall { request, version: ApiVersion::V3, cache, deadline_ns, cancel: None }
    }

    fn outcome(output: &CheckOutput) -> Result<Outcome, &'static str> {
        match &output.result {
            CheckResult::Response { outcome, .. } => Ok(*outcome),
            CheckResult::BadRequest { code, .. } | CheckResult::Error { code, .. } => Err(code),
        }
    }

    #[test]
    fn a_cheap_check_is_answered_inline() {
        let p = prepared(HAZARD_POLICY, &CheckSettings::default());
        let out = p.check_inline(&call(&request(&[]), None, 0), &TestHost, &mut Scratch::default(), 1000).expect("answered inline");
        assert_eq!(outcome(&out), Ok(Outcome::Allow));
    }

    #[test]
    fn an_expensive_check_runs_out_inline_leaves_the_cache_alone_and_completes_in_full() {
        let p = prepared(HAZARD_POLICY, &CheckSettings::default());
        let cache = Cache::new(Default::default());
        let req = request(&[("x-hazard", "1")]);
        assert!(p.check_inline(&call(&req, Some(&cache), 0), &TestHost, &mut Scratch::default(), 1000).is_none());
        assert_eq!(cache.len(), 0, "nothing cached for an unfinished Check");
        let out = p.check(&call(&req, Some(&cache), 0), &TestHost, &mut Scratch::default());
        assert_eq!((outcome(&out), out.cache_hit), (Ok(Outcome::Allow), false));
        assert_eq!(cache.len(), 1, "the full run caches its decision");
        // With no inline limit (0), the inline run is the full one.
        let again = p.check_inline(&call(&req, None, 0), &TestHost, &mut Scratch::default(), 0).expect("full budget");
        assert_eq!(outcome(&again), Ok(Outcome::Allow));
    }

    #[test]
    fn the_inline_budget_never_raises_the_full_one() {
        // A full budget below the inline one: running out is the answer (an error), not a reason to offload.
        let p = prepared(HAZARD_POLICY, &CheckSettings { max_steps: Some(500), ..Default::default() });
        let out = p.check_inline(&call(&request(&[("x-hazard", "1")]), None, 0), &TestHost, &mut Scratch::default(), 1_000_000).expect("final");
        assert_eq!(outcome(&out), Err("eval_limit_error"));
        assert_eq!(inline_limits(EvalLimits { max_steps: 0, ..Default::default() }, 10).0.max_steps, 10);
        assert!(!inline_limits(EvalLimits::default(), 0).1);
    }

    #[test]
    fn a_decision_past_its_deadline_is_not_served() {
        let p = prepared(HAZARD_POLICY, &CheckSettings::default());
        let past = TestHost.now_ns() - 1;
        let out = p.check(&call(&request(&[("x-hazard", "1")]), None, past), &TestHost, &mut Scratch::default());
        assert_eq!(outcome(&out), Err("eval_timeout"));
        let soon = TestHost.now_ns() + 1_000_000; // 1 ms: the comprehension takes longer
        let out = p.check(&call(&request(&[("x-hazard", "1")]), None, soon), &TestHost, &mut Scratch::default());
        assert_eq!(outcome(&out), Err("eval_timeout"));
    }

    #[test]
    fn a_cancelled_check_stops_without_an_answer_or_a_cache_entry() {
        let p = prepared(HAZARD_POLICY, &CheckSettings::default());
        let cache = Cache::new(Default::default());
        let req = request(&[("x-hazard", "1")]);
        let cancel = Cancel::new();
        cancel.cancel();
        let cancelled = CheckCall { cancel: Some(&cancel), ..call(&req, Some(&cache), 0) };
        let out = p.check(&cancelled, &TestHost, &mut Scratch::default());
        assert_eq!(outcome(&out), Err("eval_cancelled"));
        assert_eq!(cache.len(), 0);
        // Raised from another thread while the evaluation runs.
        let p = Arc::new(p);
        let cancel = Cancel::new();
        let running = {
            let (p, cancel, req) = (Arc::clone(&p), cancel.clone(), req.clone());
            std::thread::spawn(move || {
                let cancellable = CheckCall { cancel: Some(&cancel), ..call(&req, None, 0) };
                // Check after Check until the flag stops one.
                (0..100_000).map(|_| outcome(&p.check(&cancellable, &TestHost, &mut Scratch::default()))).find(|o| *o != Ok(Outcome::Allow))
            })
        };
        std::thread::sleep(Duration::from_millis(20));
        cancel.cancel();
        assert_eq!(running.join().unwrap(), Some(Err("eval_cancelled")));
    }

    #[test]
    fn one_prepared_check_and_cache_serve_other_threads() {
        let p = Arc::new(prepared(HAZARD_POLICY, &CheckSettings::default()));
        let cache = Arc::new(Cache::new(Default::default()));
        let req = request(&[("x-hazard", "1")]);
        let here = p.check(&call(&req, Some(&cache), 0), &TestHost, &mut Scratch::default());
        let threads: Vec<_> = (0..2)
            .map(|_| {
                let (p, cache, req) = (Arc::clone(&p), Arc::clone(&cache), req.clone());
                std::thread::spawn(move || {
                    let hit = p.check(&call(&req, Some(&cache), 0), &TestHost, &mut Scratch::default());
                    let fresh = p.check(&call(&req, None, 0), &TestHost, &mut Scratch::default());
                    (outcome(&hit), hit.cache_hit, outcome(&fresh))
                })
            })
            .collect();
        for t in threads {
            assert_eq!(t.join().unwrap(), (outcome(&here), true, outcome(&here)));
        }
    }

    #[test]
    fn a_bad_descriptor_set_is_a_config_error() {
        let settings = CheckSettings { proto_descriptor_base64: Some("not base64!".into()), ..Default::default() };
        assert!(input_options(&settings).is_err());
    }
}
