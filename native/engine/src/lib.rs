//! sark-engine: a Rego (OPA policy language) engine in pure Rust.
//!
//! The facade: `Policy::compile` turns modules and base data into an
//! immutable, shareable policy; `Policy::prepare` resolves a decision path
//! once; `PreparedQuery::eval` evaluates it for an input, never re-parsing.
//! `Policy::query` runs ad-hoc queries (`opa eval` rows); `PreparedQuery::input_paths`
//! lists what a decision can read of the input (decision cache keys);
//! `testsuite::run_case` runs one case of OPA's conformance format.
//!
//! Pipeline: `lexer` (tokens with byte offsets) → `parser` (v1 or v0 syntax,
//! every error of a file) → `ast` → `compile` (names to frame slots or `data`
//! references, calls to builtins or functions, bodies reordered for safety,
//! OPA's compile checks, rules placed in a tree by path, rule indexes) →
//! `eval` (top-down, backtracking, continuation-passing; rule values memoized
//! per query and per `with` context). `annotations` reads `# METADATA`,
//! `analysis` answers static questions. Builtins live in `builtins/`, one file
//! per category; those that need the evaluator are declared in
//! `builtins/language.rs` and implemented in `eval`.

// No unsafe code: the inline string's two unsafe blocks live in `sark-str`.
#![forbid(unsafe_code)]
// Failures are values, never panics: no unwrap/expect/panic outside tests (`cargo clippy`).
#![cfg_attr(not(test), deny(clippy::unwrap_used, clippy::expect_used, clippy::panic))]

pub mod analysis;
pub mod annotations;
pub mod ast;
pub mod ast_json;
pub mod builtins;
pub mod compile;
pub mod error;
pub mod eval;
pub mod fasthash;
pub mod json;
pub mod lexer;
pub mod map;
pub mod number;
pub mod parser;
pub mod query;
pub mod testsuite;
pub mod value;
pub mod yaml;

pub use error::{Diagnostic, EvalError};
pub use number::Number;
pub use value::Value;

use std::sync::Arc;

/// One policy source file.
#[derive(Clone, Debug)]
pub struct SourceFile {
    pub name: String,
    pub text: String,
}

#[derive(Clone, Debug, Default)]
pub struct CompileOptions {
    /// Parse every module as Rego v0 (OPA's `--v0-compatible`).
    pub v0_compatible: bool,
    /// Builtin errors abort evaluation instead of making the expression undefined.
    pub strict_builtin_errors: bool,
}

/// Bounds on one evaluation; exceeding one ends it with a clean error.
#[derive(Clone, Debug)]
pub struct EvalLimits {
    /// Maximum evaluation steps (0 = unlimited).
    pub max_steps: u64,
    /// Maximum nesting of rule/function calls.
    pub max_depth: u32,
    /// Wall-clock deadline in nanoseconds since the epoch (0 = none).
    pub deadline_ns: i64,
    /// Raised by another thread when the caller has gone away; polled with the deadline.
    pub cancel: Option<Cancel>,
}

impl Default for EvalLimits {
    fn default() -> Self {
        EvalLimits { max_steps: 10_000_000, max_depth: 512, deadline_ns: 0, cancel: None }
    }
}

/// Stops an evaluation running on another thread (its caller gave up): the
/// evaluation reads the flag where it reads the clock for its deadline, and
/// ends with `eval_cancelled`. Clones share the flag.
#[derive(Clone, Debug, Default)]
pub struct Cancel(std::sync::Arc<std::sync::atomic::AtomicBool>);

impl Cancel {
    pub fn new() -> Cancel {
        Cancel::default()
    }

    /// Raises the flag; evaluations that hold it stop at their next poll.
    pub fn cancel(&self) {
        self.0.store(true, std::sync::atomic::Ordering::Relaxed);
    }

    pub fn is_cancelled(&self) -> bool {
        self.0.load(std::sync::atomic::Ordering::Relaxed)
    }
}

/// The error of a cancelled evaluation.
pub(crate) const CANCELLED: &str = "eval_cancelled";

/// Bytes of new values the builtins of one evaluation may create, for every
/// evaluation of the process (0 = unlimited). The step budget
/// (`EvalLimits::max_steps`) bounds their work, this bounds their memory.
static MAX_EVAL_MEMORY: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(DEFAULT_MAX_EVAL_MEMORY);

/// 256 MiB: far above what a real policy builds per request, far below a
/// process's memory.
pub const DEFAULT_MAX_EVAL_MEMORY: u64 = 256 << 20;

/// Sets the memory bound of every later evaluation (a setting of the server).
pub fn set_max_eval_memory(bytes: u64) {
    MAX_EVAL_MEMORY.store(bytes, std::sync::atomic::Ordering::Relaxed);
}

pub fn max_eval_memory() -> u64 {
    MAX_EVAL_MEMORY.load(std::sync::atomic::Ordering::Relaxed)
}

/// A decision that finished past its deadline is not served: its caller has
/// given up, and serving it would hide an overrun.
pub(crate) fn check_finished_in_time(deadline_ns: i64) -> Result<(), EvalError> {
    if deadline_ns > 0 && builtins::Ctx::now() > deadline_ns {
        return Err(EvalError::new("eval_timeout", "evaluation deadline exceeded"));
    }
    Ok(())
}

/// The result of evaluating a decision.
#[derive(Clone, Debug)]
pub struct Decision {
    /// `None` when the decision is undefined.
    pub value: Option<Value>,
    /// False when evaluation reached a non-deterministic builtin.
    pub cacheable: bool,
    /// Lines written by `print`.
    pub prints: Vec<PrintLine>,
}

impl Decision {
    /// `{"value"?, "cacheable", "prints"?}` (`value` absent when undefined):
    /// what the addon's and the wasm module's `evaluate` answer.
    pub fn to_json(&self) -> String {
        let mut m = value::Map::new();
        if let Some(v) = &self.value {
            m.insert(Value::from("value"), v.clone());
        }
        m.insert(Value::from("cacheable"), Value::Bool(self.cacheable));
        if !self.prints.is_empty() {
            m.insert(Value::from("prints"), Value::from_array(self.prints.iter().map(PrintLine::to_value).collect()));
        }
        Value::from_map(m).to_json()
    }
}

/// One line written by `print`, with where the call is: OPA's server logs it
/// with `"line": "file.rego:17"`, `opa eval` writes the message alone to stderr.
#[derive(Clone, Debug, PartialEq)]
pub struct PrintLine {
    /// `file:line` of the `print` call.
    pub location: String,
    pub message: String,
}

impl PrintLine {
    /// `{"line": "file.rego:17", "msg": "..."}`, the fields of OPA's log entry.
    pub fn to_value(&self) -> Value {
        let mut m = value::Map::new();
        m.insert(Value::from("line"), Value::from(self.location.as_str()));
        m.insert(Value::from("msg"), Value::from(self.message.as_str()));
        Value::from_map(m)
    }
}

/// A compiled policy set plus its base data: immutable, cheap to clone,
/// shareable across threads.
#[derive(Clone)]
pub struct Policy {
    inner: Arc<PolicyInner>,
}

struct PolicyInner {
    compiled: compile::Compiled,
    data: Value,
    options: CompileOptions,
}

/// A decision path resolved against a policy, ready to evaluate many times.
#[derive(Clone)]
pub struct PreparedQuery {
    policy: Policy,
    /// The reference being evaluated, e.g. `data.envoy.authz.allow`.
    pub path: String,
    term: Arc<ast::Term>,
    input_paths: Arc<Vec<Vec<Value>>>,
}

fn parse_diag(files: &[(String, String)], file: usize, e: &parser::ParseError) -> Diagnostic {
    let (name, src) = files.get(file).map(|(n, s)| (n.as_str(), s.as_str())).unwrap_or(("", ""));
    let (line, col) = lexer::line_col(src, e.offset);
    Diagnostic { code: "rego_parse_error", message: e.message.clone(), file: name.to_string(), line, col }
}

impl Policy {
    /// Parses and compiles `modules` with base document `data`.
    /// All errors of all files are returned together.
    pub fn compile(modules: &[SourceFile], data: Value, options: &CompileOptions) -> Result<Policy, Vec<Diagnostic>> {
        let files: Vec<(String, String)> = modules.iter().map(|m| (m.name.clone(), m.text.clone())).collect();
        let mut diags = Vec::new();
        let mut parsed = Vec::new();
        for (i, m) in modules.iter().enumerate() {
            match parser::parse_module(&m.text, i as u32, options.v0_compatible) {
                Ok(md) => parsed.push(md),
                Err(errs) => diags.extend(errs.iter().map(|e| parse_diag(&files, i, e))),
            }
        }
        if !diags.is_empty() {
            return Err(diags);
        }
        let compiled = compile::Compiler::new(&files).compile(parsed)?;
        let data = if matches!(data, Value::Object(_)) { data } else { Value::empty_object() };
        Ok(Policy { inner: Arc::new(PolicyInner { compiled, data, options: options.clone() }) })
    }

    /// Resolves `path` (`data.envoy.authz.allow` or `envoy/authz/allow`).
    pub fn prepare(&self, path: &str) -> Result<PreparedQuery, Vec<Diagnostic>> {
        let norm = normalize_path(path);
        let term = parser::parse_term(&norm, u32::MAX).map_err(|errs| {
            errs.iter()
                .map(|e| Diagnostic { code: "rego_parse_error", message: e.message.clone(), file: "<query>".into(), line: 1, col: e.offset + 1 })
                .collect::<Vec<_>>()
        })?;
        let mut body = vec![ast::Expr { kind: ast::ExprKind::Term(term), with: Vec::new(), span: ast::Span::default() }];
        let mut c = compile::Compiler::new(&[]);
        c.set_tree_for_query(&self.inner.compiled);
        let _ = c.compile_query(&mut body, &[]);
        if !c.diags.is_empty() {
            return Err(c.diags);
        }
        let mut term = match body.pop().map(|e| e.kind) {
            Some(ast::ExprKind::Term(t)) => t,
            _ => return Err(vec![Diagnostic { code: "rego_parse_error", message: "invalid path".into(), file: "<query>".into(), line: 1, col: 1 }]),
        };
        compile::resolve_refs(&self.inner.compiled.tree, &mut term);
        let input_paths = analysis::input_paths(&self.inner.compiled, &term);
        Ok(PreparedQuery { policy: self.clone(), path: norm, term: Arc::new(term), input_paths: Arc::new(input_paths) })
    }

    /// Runs an ad-hoc query (`data.x.p = v; v > 1`), returning rows shaped like
    /// `opa eval --format json`.
    pub fn query(&self, query_text: &str, input: Option<&Value>, limits: &EvalLimits) -> Result<query::QueryResult, QueryError> {
        query::run(self, query_text, input, limits)
    }

    pub(crate) fn compiled(&self) -> &compile::Compiled {
        &self.inner.compiled
    }
    pub(crate) fn data(&self) -> &Value {
        &self.inner.data
    }
    pub(crate) fn options(&self) -> &CompileOptions {
        &self.inner.options
    }
}

/// A query that failed to compile or to evaluate.
#[derive(Clone, Debug)]
pub enum QueryError {
    Compile(Vec<Diagnostic>),
    Eval(EvalError),
}

impl std::fmt::Display for QueryError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            QueryError::Compile(d) => {
                for (i, x) in d.iter().enumerate() {
                    if i > 0 {
                        writeln!(f)?;
                    }
                    write!(f, "{}", x)?;
                }
                Ok(())
            }
            QueryError::Eval(e) => write!(f, "{}", e),
        }
    }
}

impl PreparedQuery {
    /// The input paths (steps after `input`) this decision can read, through
    /// every rule and function it may reach; `[]` in the list means the whole
    /// input. No path is a prefix of another. A decision cache keyed on the
    /// values at these paths is exact.
    pub fn input_paths(&self) -> &[Vec<Value>] {
        &self.input_paths
    }

    pub fn eval(&self, input: Option<&Value>, limits: &EvalLimits) -> Result<Decision, EvalError> {
        let pol = &self.policy.inner;
        let lim = eval::Limits { max_steps: limits.max_steps, max_depth: limits.max_depth, deadline_ns: limits.deadline_ns, cancel: limits.cancel.clone() };
        let mut ev = eval::Evaluator::new(&pol.compiled, pol.data.clone(), input.cloned(), pol.options.strict_builtin_errors, lim);
        let mut frame = eval::Frame::new(0);
        let mut out = None;
        let done = ev.eval_term(&mut frame, &self.term, &mut |_, _, v| {
            out = Some(v);
            Ok(false)
        });
        if let Err(mut e) = done.map(|_| ()).and_then(|()| check_finished_in_time(limits.deadline_ns)) {
            e.prints = std::mem::take(&mut ev.prints);
            return Err(e);
        }
        Ok(Decision { value: out, cacheable: ev.cacheable, prints: std::mem::take(&mut ev.prints) })
    }
}

/// `envoy/authz/allow` and `data.envoy.authz.allow` name the same document.
pub fn normalize_path(path: &str) -> String {
    let p = path.trim().trim_matches('/');
    if p == "data" || p.starts_with("data.") || p.starts_with("data[") {
        p.to_string()
    } else if p.is_empty() {
        "data".to_string()
    } else {
        format!("data.{}", p.replace('/', "."))
    }
}
