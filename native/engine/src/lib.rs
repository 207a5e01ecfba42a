//! sark-engine: a Rego (OPA policy language) engine in pure Rust.
//!
//! The facade: `Policy::compile` turns modules and base data into an
//! immutable, shareable policy; `Policy::prepare` resolves a decision path
//! once; `PreparedQuery::eval` evaluates it for an input, never re-parsing.

pub mod builtins;
pub mod error;
pub mod json;
pub mod number;
pub mod value;

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
}

impl Default for EvalLimits {
    fn default() -> Self {
        EvalLimits { max_steps: 10_000_000, max_depth: 512, deadline_ns: 0 }
    }
}

/// The result of evaluating a decision.
#[derive(Clone, Debug)]
pub struct Decision {
    /// `None` when the decision is undefined.
    pub value: Option<Value>,
    /// False when evaluation reached a non-deterministic builtin.
    pub cacheable: bool,
    /// Lines written by `print`.
    pub prints: Vec<String>,
}

/// A compiled policy set plus its base data: immutable, cheap to clone.
#[derive(Clone)]
pub struct Policy {
    inner: Arc<PolicyInner>,
}

struct PolicyInner {
    #[allow(dead_code)]
    modules: Vec<SourceFile>,
    #[allow(dead_code)]
    data: Value,
    #[allow(dead_code)]
    options: CompileOptions,
}

/// A decision path resolved against a policy, ready to evaluate many times.
#[derive(Clone)]
pub struct PreparedQuery {
    #[allow(dead_code)]
    policy: Policy,
    /// The reference being evaluated, e.g. `data.envoy.authz.allow`.
    pub path: String,
}

impl Policy {
    /// Parses and compiles `modules` with base document `data`.
    /// All errors of all files are returned together.
    pub fn compile(modules: &[SourceFile], data: Value, options: &CompileOptions) -> Result<Policy, Vec<Diagnostic>> {
        Ok(Policy { inner: Arc::new(PolicyInner { modules: modules.to_vec(), data, options: options.clone() }) })
    }

    /// Resolves `path` (`data.envoy.authz.allow` or `envoy/authz/allow`).
    pub fn prepare(&self, path: &str) -> Result<PreparedQuery, Vec<Diagnostic>> {
        Ok(PreparedQuery { policy: self.clone(), path: normalize_path(path) })
    }
}

impl PreparedQuery {
    pub fn eval(&self, _input: Option<&Value>, _limits: &EvalLimits) -> Result<Decision, EvalError> {
        Err(EvalError::new("eval_internal_error", "evaluator not built yet"))
    }
}

/// `envoy/authz/allow` and `data.envoy.authz.allow` name the same document.
pub fn normalize_path(path: &str) -> String {
    let p = path.trim().trim_matches('/');
    if p == "data" || p.starts_with("data.") {
        p.to_string()
    } else if p.is_empty() {
        "data".to_string()
    } else {
        format!("data.{}", p.replace('/', "."))
    }
}
