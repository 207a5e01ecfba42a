//! Errors as data: a code (OPA's), a message and, where known, a location.

use std::fmt;

/// A compile-time problem: parse, type, safety, conflict.
/// Codes are OPA's: `rego_parse_error`, `rego_compile_error`,
/// `rego_type_error`, `rego_unsafe_var_error`, `rego_recursion_error`.
#[derive(Clone, Debug, PartialEq)]
pub struct Diagnostic {
    pub code: &'static str,
    pub message: String,
    pub file: String,
    /// 1-based; 0 when unknown.
    pub line: u32,
    pub col: u32,
}

impl Diagnostic {
    /// `{"code", "message", "file", "line", "col"}`, as diagnostics cross to JavaScript.
    pub fn to_value(&self) -> crate::Value {
        use crate::Value;
        let mut m = crate::value::Map::new();
        m.insert(Value::from("code"), Value::from(self.code));
        m.insert(Value::from("message"), Value::from(self.message.as_str()));
        m.insert(Value::from("file"), Value::from(self.file.as_str()));
        m.insert(Value::from("line"), Value::int(i64::from(self.line)));
        m.insert(Value::from("col"), Value::int(i64::from(self.col)));
        Value::from_map(m)
    }
}

impl fmt::Display for Diagnostic {
    /// `file:line:col: code: message`, the shape editors and CI logs link to.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.line > 0 {
            write!(f, "{}:{}:{}: {}: {}", self.file, self.line, self.col, self.code, self.message)
        } else {
            write!(f, "{}: {}: {}", self.file, self.code, self.message)
        }
    }
}

/// A run-time failure. Codes are OPA's: `eval_conflict_error`,
/// `eval_type_error`, `eval_builtin_error`, plus our own
/// `eval_limit_error` (step budget, depth) and `eval_timeout` (deadline).
///
/// Boxed: every evaluation step returns a `Result<_, EvalError>`, and one
/// pointer keeps that result in registers instead of a 72-byte copy.
#[derive(Clone, Debug, PartialEq)]
pub struct EvalError(Box<EvalErrorData>);

/// The fields of an [`EvalError`] (read through it).
#[derive(Clone, Debug, PartialEq)]
pub struct EvalErrorData {
    pub code: &'static str,
    pub message: String,
    /// (file, line, col) of the expression that failed, when known.
    pub location: Option<(String, u32, u32)>,
    /// Lines `print` wrote before the failure (logged with it).
    pub prints: Vec<crate::PrintLine>,
}

impl EvalError {
    pub fn new(code: &'static str, message: impl Into<String>) -> EvalError {
        EvalError(Box::new(EvalErrorData { code, message: message.into(), location: None, prints: Vec::new() }))
    }
}

impl std::ops::Deref for EvalError {
    type Target = EvalErrorData;
    fn deref(&self) -> &EvalErrorData {
        &self.0
    }
}

impl std::ops::DerefMut for EvalError {
    fn deref_mut(&mut self) -> &mut EvalErrorData {
        &mut self.0
    }
}

impl fmt::Display for EvalError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.location {
            Some((file, line, col)) => write!(f, "{}:{}:{}: {}: {}", file, line, col, self.code, self.message),
            None => write!(f, "{}: {}", self.code, self.message),
        }
    }
}

impl std::error::Error for EvalError {}
