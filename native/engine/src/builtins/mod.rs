//! OPA's builtin functions, registered per category.
//!
//! Each category file exposes `register(&mut Registry)`. A builtin is a plain
//! function over evaluated arguments; the evaluator owns arity checking,
//! undefined propagation and strict/non-strict error handling.
//! Relations and builtins that need the evaluator itself (`walk`, `print`,
//! `trace`, `eq` unification) are implemented by the evaluator and only
//! declared here so that capabilities and type checking know them.

use crate::value::Value;
use std::collections::HashMap;
use std::sync::OnceLock;

pub mod types;

pub mod aggregates;
pub mod arrays;
pub mod aws;
pub mod encoding;
pub mod glob;
pub mod graph;
pub mod graphql;
pub mod crypto;
pub mod jwt;
pub mod language;
pub mod net;
pub mod numbers;
pub mod objects;
pub mod operators;
pub mod regex;
pub mod semver;
pub mod testing;
pub mod sets;
pub mod sprintf;
pub mod strings;
pub mod time;
pub mod typefns;
pub mod units;
pub mod uri;
pub mod uuid;
pub mod x509;

/// Why a builtin call failed. Codes are OPA's: `eval_type_error` for an
/// operand of the wrong type, `eval_builtin_error` for everything else.
#[derive(Clone, Debug, PartialEq)]
pub enum BuiltinError {
    /// An operand had the wrong type: `operand 1 must be string but got number`.
    Type(String),
    /// The call failed for another reason (bad regex, bad JWT, ...).
    Eval(String),
    /// The call has no result (OPA's BuiltinEmpty): the expression is undefined.
    Undefined,
    /// An error that propagates even in non-strict mode (OPA's Halt).
    Halt { code: &'static str, message: String },
}

impl BuiltinError {
    pub fn code(&self) -> &'static str {
        match self {
            BuiltinError::Type(_) => "eval_type_error",
            BuiltinError::Eval(_) | BuiltinError::Undefined => "eval_builtin_error",
            BuiltinError::Halt { code, .. } => code,
        }
    }
}

pub type BuiltinResult = Result<Value, BuiltinError>;

/// Work units of handling `v` once: one per element of a collection, one
/// per 16 bytes of a string or digits of a big number; none for a scalar.
pub fn work_of(v: &Value) -> u64 {
    match v {
        Value::String(s) => (s.len() / 16) as u64,
        Value::Array(a) => a.len() as u64,
        Value::Object(o) => o.len() as u64,
        Value::Set(s) => s.len() as u64,
        Value::Number(n) => match n.plain() {
            crate::number::Number::Big(b) => b.bits() / 53,
            _ => 0,
        },
        _ => 0,
    }
}

/// Builtins whose work does not grow with their operands (a look-up, a
/// prefix test, a type test): charging them by operand size would make an
/// ordinary loop over a large input look expensive. Their results are
/// operands or parts of them, not new values.
fn constant_cost(name: &str) -> bool {
    matches!(
        name,
        "count" | "object.get" | "startswith" | "endswith" | "type_name" | "is_string" | "is_number" | "is_boolean"
            | "is_array" | "is_set" | "is_object" | "is_null" | "cast_array" | "cast_set" | "cast_string" | "cast_boolean"
            | "cast_null" | "cast_object" | "to_number" | "time.now_ns" | "opa.runtime"
    )
}

/// Charges a call before it runs, in proportion to its operands: most
/// builtins read all of them. Scalars and short strings cost nothing, so
/// the usual call never reaches the name test.
#[inline]
pub fn charge_call(ctx: &mut Ctx, name: &str, args: &[Value]) -> Result<(), BuiltinError> {
    let units: u64 = args.iter().map(work_of).sum();
    if units == 0 || constant_cost(name) {
        return Ok(());
    }
    ctx.charge(units)
}

/// Charges the value a call created against the memory bound.
#[inline]
pub fn charge_result(ctx: &mut Ctx, name: &str, v: Value) -> BuiltinResult {
    let bytes = match &v {
        Value::String(s) => s.len(),
        Value::Array(a) => a.len() * std::mem::size_of::<Value>(),
        Value::Object(o) => o.len() * 2 * std::mem::size_of::<Value>(),
        Value::Set(s) => s.len() * std::mem::size_of::<Value>(),
        _ => return Ok(v),
    };
    if bytes >= 64 && !constant_cost(name) {
        ctx.charge_bytes(bytes)?;
    }
    Ok(v)
}

/// A limit of the evaluation was reached: ends it whatever the error mode.
pub fn limit_error(message: String) -> BuiltinError {
    BuiltinError::Halt { code: "eval_limit_error", message }
}

/// What one evaluation's builtins may spend: work units (one per element,
/// digit or few bytes handled), bytes of values they create, and the
/// wall-clock deadline. Builtins charge as they go, so a long loop inside
/// one call stops with a clean error instead of running past its budget.
#[derive(Clone, Debug)]
pub struct Budget {
    /// Work units left; spent by `Ctx::charge`.
    work_left: u64,
    /// Bytes of new values builtins may still create.
    bytes_left: u64,
    /// Wall-clock deadline in nanoseconds since the epoch (0 = none).
    deadline_ns: i64,
    /// Work units left before the clock is read again.
    until_clock: u64,
    /// The limits, for error messages.
    max_work: u64,
    max_bytes: u64,
    /// Raised when the caller has gone away; read with the clock.
    cancel: Option<crate::Cancel>,
}

/// Work units between two reads of the clock (a few microseconds of work).
const CLOCK_EVERY: u64 = 4096;

impl Budget {
    /// `0` means unlimited for `max_work` and `max_bytes`, no deadline for `deadline_ns`.
    pub fn new(max_work: u64, max_bytes: u64, deadline_ns: i64) -> Budget {
        let unlimited = |n: u64| if n == 0 { u64::MAX } else { n };
        Budget {
            work_left: unlimited(max_work),
            bytes_left: unlimited(max_bytes),
            deadline_ns,
            until_clock: CLOCK_EVERY,
            max_work,
            max_bytes,
            cancel: None,
        }
    }

    /// The budget, ending when `cancel` is raised too.
    pub fn with_cancel(self, cancel: Option<crate::Cancel>) -> Budget {
        Budget { cancel, ..self }
    }

    pub fn unlimited() -> Budget {
        Budget::new(0, 0, 0)
    }

    /// Bytes of new values still allowed (for builtins that must stop a
    /// growing output before it is complete).
    pub fn bytes_left(&self) -> u64 {
        self.bytes_left
    }

    pub fn max_bytes(&self) -> u64 {
        self.max_bytes
    }
}

/// The clock `Ctx::now` reads instead of the system's, where the target has
/// none (wasm32-unknown-unknown: the host sets the time).
static CLOCK: std::sync::OnceLock<fn() -> i64> = std::sync::OnceLock::new();

/// Installs the clock for targets without one; the first call wins.
pub fn set_clock(clock: fn() -> i64) {
    let _ = CLOCK.set(clock);
}

/// Per-query state shared by the builtins of one evaluation.
pub struct Ctx {
    /// What the builtins of this evaluation may still spend.
    pub budget: Budget,
    /// Nanoseconds since the epoch, fixed for the whole query as OPA does;
    /// read from the clock on first use (most queries never ask).
    now_ns: Option<i64>,
    /// Whether errors are to be raised (the evaluator reads it too).
    pub strict: bool,
    /// Per-query memo for non-deterministic builtins (`rand.intn` returns the
    /// same value for the same arguments within one query, as in OPA).
    pub memo: HashMap<(String, Vec<Value>), Value>,
}

impl Ctx {
    /// A context whose clock reads `now_ns` (tests, replays).
    pub fn new(now_ns: i64, strict: bool) -> Ctx {
        Ctx { budget: Budget::unlimited(), now_ns: Some(now_ns), strict, memo: HashMap::new() }
    }

    /// A context that reads the clock when the query first asks for the time.
    pub fn with_clock(strict: bool) -> Ctx {
        Ctx { budget: Budget::unlimited(), now_ns: None, strict, memo: HashMap::new() }
    }

    pub fn with_budget(self, budget: Budget) -> Ctx {
        Ctx { budget, ..self }
    }

    /// Spends `units` of work; past the budget or the deadline the call
    /// fails with an error that ends the evaluation even in non-strict mode.
    #[inline]
    pub fn charge(&mut self, units: u64) -> Result<(), BuiltinError> {
        let b = &mut self.budget;
        if units < b.until_clock && units < b.work_left {
            b.until_clock -= units;
            b.work_left -= units;
            return Ok(());
        }
        self.charge_slow(units)
    }

    #[inline(never)]
    fn charge_slow(&mut self, units: u64) -> Result<(), BuiltinError> {
        let b = &mut self.budget;
        if units >= b.work_left {
            b.work_left = 0;
            return Err(limit_error(format!("evaluation exceeded {} steps (inside a builtin)", b.max_work)));
        }
        b.work_left -= units;
        b.until_clock = CLOCK_EVERY;
        if b.deadline_ns > 0 && Ctx::now() > b.deadline_ns {
            return Err(BuiltinError::Halt { code: "eval_timeout", message: "evaluation deadline exceeded".into() });
        }
        if b.cancel.as_ref().is_some_and(crate::Cancel::is_cancelled) {
            return Err(BuiltinError::Halt { code: crate::CANCELLED, message: "evaluation cancelled: the caller has gone away".into() });
        }
        Ok(())
    }

    /// Charges `bytes` of a value about to be created: work in proportion
    /// (one unit per 16 bytes) and the evaluation's memory bound.
    pub fn charge_bytes(&mut self, bytes: usize) -> Result<(), BuiltinError> {
        let bytes = bytes as u64;
        let b = &mut self.budget;
        if bytes > b.bytes_left {
            b.bytes_left = 0;
            return Err(limit_error(format!("evaluation exceeded its memory budget of {} bytes", b.max_bytes)));
        }
        b.bytes_left -= bytes;
        self.charge(bytes / 16 + 1)
    }

    /// The query's time, the same on every call.
    pub fn now_ns(&mut self) -> i64 {
        *self.now_ns.get_or_insert_with(Ctx::now)
    }

    pub fn now() -> i64 {
        if let Some(clock) = CLOCK.get() {
            return clock();
        }
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_nanos() as i64)
            .unwrap_or(0)
    }
}

pub type BuiltinFn = fn(&mut Ctx, &[Value]) -> BuiltinResult;

#[derive(Debug)]
pub struct Builtin {
    /// OPA's name: `count`, `io.jwt.decode_verify`, `plus`.
    pub name: &'static str,
    /// Declared type in the DSL of `types.rs`, e.g. `(string, string) => boolean`.
    pub decl: &'static str,
    /// Infix operator, if the builtin has one (`plus` is `+`).
    pub infix: Option<&'static str>,
    /// False for builtins whose result can change between calls with the
    /// same arguments (time.now_ns, rand.intn, uuid.rfc4122, ...): the
    /// decision cache must not memoize evaluations that reach them.
    pub deterministic: bool,
    /// Category for capabilities output and docs (`strings`, `jwt`, ...).
    pub category: &'static str,
    /// `None` for builtins the evaluator implements itself.
    pub func: Option<BuiltinFn>,
}

#[derive(Default)]
pub struct Registry {
    map: HashMap<&'static str, Builtin>,
}

impl Registry {
    pub fn add(&mut self, b: Builtin) {
        self.map.insert(b.name, b);
    }

    /// Shorthand for a deterministic builtin implemented here.
    pub fn func(&mut self, category: &'static str, name: &'static str, decl: &'static str, f: BuiltinFn) {
        self.add(Builtin { name, decl, infix: None, deterministic: true, category, func: Some(f) });
    }

    /// A builtin whose result may differ between calls.
    pub fn nondeterministic(&mut self, category: &'static str, name: &'static str, decl: &'static str, f: BuiltinFn) {
        self.add(Builtin { name, decl, infix: None, deterministic: false, category, func: Some(f) });
    }

    pub fn get(&self, name: &str) -> Option<&Builtin> {
        self.map.get(name)
    }

    pub fn iter(&self) -> impl Iterator<Item = &Builtin> {
        self.map.values()
    }

    pub fn len(&self) -> usize {
        self.map.len()
    }

    pub fn is_empty(&self) -> bool {
        self.map.is_empty()
    }
}

/// The builtin named `name`: one of `registry()`, or one of OPA's test harness
/// while the conformance runner runs a case (`testing::with_test_builtins`).
pub fn lookup(name: &str) -> Option<&'static Builtin> {
    registry().get(name).or_else(|| testing::lookup(name))
}

/// Every builtin, built once.
pub fn registry() -> &'static Registry {
    static REG: OnceLock<Registry> = OnceLock::new();
    REG.get_or_init(|| {
        let mut r = Registry::default();
        aggregates::register(&mut r);
        arrays::register(&mut r);
        crypto::register(&mut r);
        encoding::register(&mut r);
        glob::register(&mut r);
        graph::register(&mut r);
        jwt::register(&mut r);
        net::register(&mut r);
        numbers::register(&mut r);
        objects::register(&mut r);
        operators::register(&mut r);
        regex::register(&mut r);
        semver::register(&mut r);
        sets::register(&mut r);
        sprintf::register(&mut r);
        strings::register(&mut r);
        time::register(&mut r);
        typefns::register(&mut r);
        units::register(&mut r);
        uri::register(&mut r);
        uuid::register(&mut r);
        x509::register(&mut r);
        aws::register(&mut r);
        graphql::register(&mut r);
        // Last: declarations of evaluator-implemented builtins never replace a category's.
        language::register(&mut r);
        r
    })
}

/// The value of one hexadecimal digit.
pub(crate) fn hex_val(c: u8) -> Option<u8> {
    match c {
        b'0'..=b'9' => Some(c - b'0'),
        b'a'..=b'f' => Some(c - b'a' + 10),
        b'A'..=b'F' => Some(c - b'A' + 10),
        _ => None,
    }
}

/// Percent-decodes `s` as Go's url package does (`+` is a space when
/// `plus_is_space`, as in query components). A `%` not followed by two hex
/// digits fails with its byte offset, for the caller's own message. Shared
/// by the builtins (urlquery, AWS signing) and the Envoy input (paths, queries).
pub fn percent_decode(s: &str, plus_is_space: bool) -> Result<Vec<u8>, usize> {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        match b[i] {
            b'%' => match (b.get(i + 1).copied().and_then(hex_val), b.get(i + 2).copied().and_then(hex_val)) {
                (Some(h), Some(l)) => {
                    out.push(h << 4 | l);
                    i += 3;
                }
                _ => return Err(i),
            },
            b'+' if plus_is_space => {
                out.push(b' ');
                i += 1;
            }
            c => {
                out.push(c);
                i += 1;
            }
        }
    }
    Ok(out)
}

// ---- argument helpers: one line per operand in each builtin ----

/// `operand N must be T but got U`, OPA's wording (N counts from 1).
pub fn type_err(pos: usize, want: &str, got: &Value) -> BuiltinError {
    BuiltinError::Type(format!("operand {} must be {} but got {}", pos + 1, want, got.type_name()))
}

pub fn arg_str(args: &[Value], i: usize) -> Result<&str, BuiltinError> {
    match args.get(i) {
        Some(Value::String(s)) => Ok(s),
        Some(v) => Err(type_err(i, "string", v)),
        None => Err(BuiltinError::Eval(format!("missing operand {}", i + 1))),
    }
}

pub fn arg_num(args: &[Value], i: usize) -> Result<&crate::number::Number, BuiltinError> {
    match args.get(i) {
        Some(Value::Number(n)) => Ok(n),
        Some(v) => Err(type_err(i, "number", v)),
        None => Err(BuiltinError::Eval(format!("missing operand {}", i + 1))),
    }
}

/// An integer operand that fits in i64 (OPA's `IntOperand`): a fraction or a
/// larger integer is a type error, as OPA words it for both.
pub fn arg_int(args: &[Value], i: usize) -> Result<i64, BuiltinError> {
    let n = arg_num(args, i)?;
    n.int64().ok_or_else(|| BuiltinError::Type(format!("operand {} must be integer number but got floating-point number", i + 1)))
}

pub fn arg_bool(args: &[Value], i: usize) -> Result<bool, BuiltinError> {
    match args.get(i) {
        Some(Value::Bool(b)) => Ok(*b),
        Some(v) => Err(type_err(i, "boolean", v)),
        None => Err(BuiltinError::Eval(format!("missing operand {}", i + 1))),
    }
}

pub fn arg_array(args: &[Value], i: usize) -> Result<&[Value], BuiltinError> {
    match args.get(i) {
        Some(Value::Array(a)) => Ok(a),
        Some(v) => Err(type_err(i, "array", v)),
        None => Err(BuiltinError::Eval(format!("missing operand {}", i + 1))),
    }
}

pub fn arg_object(args: &[Value], i: usize) -> Result<&crate::value::Map, BuiltinError> {
    match args.get(i) {
        Some(Value::Object(o)) => Ok(o),
        Some(v) => Err(type_err(i, "object", v)),
        None => Err(BuiltinError::Eval(format!("missing operand {}", i + 1))),
    }
}

pub fn arg_set(args: &[Value], i: usize) -> Result<&crate::value::Set, BuiltinError> {
    match args.get(i) {
        Some(Value::Set(s)) => Ok(s),
        Some(v) => Err(type_err(i, "set", v)),
        None => Err(BuiltinError::Eval(format!("missing operand {}", i + 1))),
    }
}
