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
use sark_engine::{EvalLimits, PreparedQuery, Value};
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
}

/// One Check's request.
pub struct CheckCall<'a> {
    pub request: &'a [u8],
    pub version: ApiVersion,
    pub cache: Option<&'a Cache>,
    /// The caller's deadline (Envoy's grpc-timeout), ns since the epoch; 0: none.
    pub deadline_ns: i64,
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
}

/// Cached entries: `[flags][offset u32 LE][response bytes]`, where the
/// decision id sits at `offset` and is replaced on every hit.
const CACHED_DENY: u8 = 1;
const CACHED_CACHEABLE: u8 = 2;

impl PreparedCheck {
    pub fn new(query: PreparedQuery, settings: &CheckSettings) -> Result<PreparedCheck, ConfigError> {
        let defaults = EvalLimits::default();
        let options = CheckOptions {
            input: input_options(settings)?,
            response: ResponseOptions { dry_run: settings.dry_run, ..ResponseOptions::default() },
            limits: EvalLimits { max_steps: settings.max_steps.unwrap_or(defaults.max_steps), max_depth: settings.max_depth.unwrap_or(defaults.max_depth), deadline_ns: 0 },
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

    /// Runs one Check.
    pub fn check(&self, call: &CheckCall<'_>, host: &impl Host, scratch: &mut Scratch) -> CheckOutput {
        let decision_id = DecisionId::from_random(host.random_bytes());
        let done = |result, cache_hit, eval_ns| CheckOutput { result, decision_id, cache_hit, eval_ns };
        let projection = if call.version == ApiVersion::V3 { &self.projection_v3 } else { &self.projection_v2 };
        // The cache key comes from the request bytes the decision can read: a
        // hit answers without decoding anything. (Keys that cannot be made —
        // malformed bytes, huge bodies — just bypass the cache.)
        let cache = call.cache.filter(|_| self.write_key(&mut scratch.key, call, projection));
        if let Some(hit) = cache.and_then(|c| c.get(&scratch.key)).and_then(|entry| from_cached(&entry, &decision_id)) {
            return done(hit, true, 0);
        }
        let input = match check_request_to_projected_input(call.request, call.version, &self.options.input, projection) {
            Ok(v) => v,
            Err(RequestError::Malformed(e)) => return done(CheckResult::Error { code: "request_malformed", detail: e.0.to_string() }, false, 0),
            Err(e) => return done(CheckResult::BadRequest { bytes: encode_bad_request(decision_id.as_str(), call.version), code: e.code() }, false, 0),
        };
        let started = host.now_ns();
        let result = self.decide(&input, decision_id.as_str(), &self.limits(started, call.deadline_ns), call.version);
        let eval_ns = u64::try_from(host.now_ns().saturating_sub(started)).unwrap_or(0);
        if let (Some(cache), CheckResult::Response { bytes, outcome, cacheable }) = (cache, &result) {
            let ttl = if *cacheable { None } else { self.volatile_ttl };
            if *cacheable || ttl.is_some() {
                if let Some(entry) = to_cached(bytes, &decision_id, *outcome, *cacheable) {
                    cache.set(&scratch.key, &entry, ttl);
                }
            }
        }
        done(result, false, eval_ns)
    }

    /// Writes the cache key of `call` into `key`; false when it cannot be made.
    fn write_key(&self, key: &mut Vec<u8>, call: &CheckCall<'_>, projection: &Projection) -> bool {
        key.clear();
        key.extend_from_slice(&self.id.to_le_bytes());
        key.push(if call.version == ApiVersion::V3 { 3 } else { 2 });
        let naming = if call.version == ApiVersion::V3 { Naming::Json } else { Naming::Proto };
        matches!(wire_key::write_wire_key(key, call.request, naming, projection), Ok(true))
    }

    /// Evaluates the decision for an input document and encodes the response
    /// for the API the request came in on.
    pub fn decide(&self, input: &Value, decision_id: &str, limits: &EvalLimits, api: ApiVersion) -> CheckResult {
        let decision = match self.query.eval(Some(input), limits) {
            Ok(d) => d,
            Err(e) => return CheckResult::Error { code: e.code, detail: e.to_string() },
        };
        let value = match decision.value {
            Some(v) => v,
            None => return CheckResult::Error { code: "decision_undefined", detail: format!("{} is undefined", self.query.path) },
        };
        match encode_check_response(&value, decision_id, ResponseOptions { api, ..self.options.response }) {
            Ok((bytes, outcome)) => CheckResult::Response { bytes, outcome, cacheable: decision.cacheable },
            Err(e) => CheckResult::Error { code: "decision_invalid", detail: e.0 },
        }
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

fn to_cached(bytes: &[u8], decision_id: &DecisionId, outcome: Outcome, cacheable: bool) -> Option<Vec<u8>> {
    let off = match unique_offset(bytes, decision_id.as_bytes())? {
        Some(at) => u32::try_from(at).ok().filter(|at| *at != NO_DECISION_ID)?,
        None => NO_DECISION_ID,
    };
    let mut flags = if outcome == Outcome::Deny { CACHED_DENY } else { 0 };
    if cacheable {
        flags |= CACHED_CACHEABLE;
    }
    let mut v = Vec::with_capacity(bytes.len() + 5);
    v.push(flags);
    v.extend_from_slice(&off.to_le_bytes());
    v.extend_from_slice(bytes);
    Some(v)
}

fn from_cached(entry: &[u8], decision_id: &DecisionId) -> Option<CheckResult> {
    let flags = *entry.first()?;
    let off = u32::from_le_bytes(entry.get(1..5)?.try_into().ok()?);
    let mut bytes = entry.get(5..)?.to_vec();
    if off != NO_DECISION_ID {
        let off = off as usize;
        bytes.get_mut(off..off + DECISION_ID_LEN)?.copy_from_slice(decision_id.as_bytes());
    }
    let outcome = if flags & CACHED_DENY != 0 { Outcome::Deny } else { Outcome::Allow };
    Some(CheckResult::Response { bytes, outcome, cacheable: flags & CACHED_CACHEABLE != 0 })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cached_responses_get_a_fresh_decision_id() {
        let id = DecisionId::from_random([7; 16]);
        let bytes = [b"\x0a\x02xy".as_slice(), id.as_bytes(), b"tail"].concat();
        let entry = to_cached(&bytes, &id, Outcome::Deny, true).unwrap();
        let id2 = DecisionId::from_random([9; 16]);
        let Some(CheckResult::Response { bytes: again, outcome, cacheable }) = from_cached(&entry, &id2) else { panic!("not a response") };
        assert_eq!(again, [b"\x0a\x02xy".as_slice(), id2.as_bytes(), b"tail"].concat());
        assert_eq!((outcome, cacheable), (Outcome::Deny, true));
    }

    #[test]
    fn responses_without_a_decision_id_are_cached_as_they_are() {
        // A v2 response carries no dynamic metadata, so no decision id to patch.
        let id = DecisionId::from_random([7; 16]);
        let entry = to_cached(b"\x0a\x02xy", &id, Outcome::Allow, true).unwrap();
        let Some(CheckResult::Response { bytes, .. }) = from_cached(&entry, &DecisionId::from_random([9; 16])) else { panic!("not a response") };
        assert_eq!(bytes, b"\x0a\x02xy");
        // An id found twice cannot be patched safely: not cached.
        let twice = [id.as_bytes().as_slice(), id.as_bytes()].concat();
        assert!(to_cached(&twice, &id, Outcome::Allow, true).is_none());
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

    #[test]
    fn a_bad_descriptor_set_is_a_config_error() {
        let settings = CheckSettings { proto_descriptor_base64: Some("not base64!".into()), ..Default::default() };
        assert!(input_options(&settings).is_err());
    }
}
