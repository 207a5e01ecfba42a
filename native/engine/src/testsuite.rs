//! Runs one case of OPA's conformance format (`note`, `query`, `modules`,
//! `data`, `input`/`input_term`, `want_result`, `want_error`,
//! `want_error_code`, `strict_error`, `sort_bindings`, `skip`) the way OPA's
//! own harness compares: results as a set of binding maps (JSON-normalized),
//! `want_error` as a substring of `file:row: code: message`, the code exactly.


use crate::value::{Map, Value};
use crate::{CompileOptions, EvalLimits, Policy, QueryError, SourceFile};

#[derive(Clone, Debug, PartialEq)]
pub struct CaseOutcome {
    pub pass: bool,
    /// Why it failed (empty when it passed).
    pub reason: String,
    pub skipped: bool,
}

impl CaseOutcome {
    fn pass() -> CaseOutcome {
        CaseOutcome { pass: true, reason: String::new(), skipped: false }
    }
    fn fail(reason: impl Into<String>) -> CaseOutcome {
        CaseOutcome { pass: false, reason: reason.into(), skipped: false }
    }
}

/// Step budget per case: enough for every case in the suite, small enough to stop runaways.
pub const CASE_STEPS: u64 = 20_000_000;

pub fn run_case(case: &Value, v0: bool) -> CaseOutcome {
    run_case_with(case, v0, &EvalLimits { max_steps: CASE_STEPS, max_depth: 512, ..EvalLimits::default() })
}

/// Runs one case with the builtins OPA's test harness adds (`test.sleep`), as
/// OPA runs its suite.
pub fn run_case_with(case: &Value, v0: bool, limits: &EvalLimits) -> CaseOutcome {
    crate::builtins::testing::with_test_builtins(|| run_case_inner(case, v0, limits))
}

fn run_case_inner(case: &Value, v0: bool, limits: &EvalLimits) -> CaseOutcome {
    if let Some(Value::Bool(true)) = case.field("skip") {
        return CaseOutcome { pass: true, reason: "skipped".into(), skipped: true };
    }
    let strict = matches!(case.field("strict_error"), Some(Value::Bool(true)));
    let opts = CompileOptions { v0_compatible: v0, strict_builtin_errors: strict };
    let mut modules = Vec::new();
    if let Some(Value::Array(ms)) = case.field("modules") {
        for (i, m) in ms.iter().enumerate() {
            if let Value::String(s) = m {
                modules.push(SourceFile { name: format!("test-{}.rego", i), text: s.to_string() });
            }
        }
    }
    let data = match case.field("data") {
        Some(v @ Value::Object(_)) => v.clone(),
        _ => Value::empty_object(),
    };
    let want_error = case.field("want_error").and_then(|v| v.as_str()).map(|s| s.to_string());
    let want_code = case.field("want_error_code").and_then(|v| v.as_str()).map(|s| s.to_string());
    let expect_error = want_error.is_some() || want_code.is_some();

    let policy = match Policy::compile(&modules, data, &opts) {
        Ok(p) => p,
        Err(diags) => {
            let Some(d) = diags.first() else { return CaseOutcome::fail("compile failed without diagnostics") };
            let text = diags.iter().map(|d| format!("{}:{}: {}: {}", d.file, d.line, d.code, d.message)).collect::<Vec<_>>().join("\n");
            return check_error(expect_error, want_error.as_deref(), want_code.as_deref(), d.code, &text);
        }
    };
    let input = match (case.field("input"), case.field("input_term")) {
        (Some(v), _) => Some(v.clone()),
        (None, Some(Value::String(t))) => match eval_input_term(t) {
            Ok(v) => Some(v),
            Err(e) => return CaseOutcome::fail(format!("input_term: {}", e)),
        },
        _ => None,
    };
    let query = case.field("query").and_then(|v| v.as_str()).unwrap_or("");
    let res = policy.query(query, input.as_ref(), limits);
    match res {
        Err(QueryError::Compile(diags)) => {
            let code = diags.first().map(|d| d.code).unwrap_or("rego_compile_error");
            let text = diags.iter().map(|d| format!("{}: {}", d.code, d.message)).collect::<Vec<_>>().join("\n");
            check_error(expect_error, want_error.as_deref(), want_code.as_deref(), code, &text)
        }
        Err(QueryError::Eval(e)) => {
            let text = match &e.location {
                Some((f, l, _)) => format!("{}:{}: {}: {}", f, l, e.code, e.message),
                None => format!("{}: {}", e.code, e.message),
            };
            check_error(expect_error, want_error.as_deref(), want_code.as_deref(), e.code, &text)
        }
        Ok(r) => {
            if expect_error {
                return CaseOutcome::fail(format!("expected error {:?} {:?}, got {} result(s)", want_code, want_error, r.rows.len()));
            }
            let sort = matches!(case.field("sort_bindings"), Some(Value::Bool(true)));
            let mut got: Vec<Value> = r
                .rows
                .iter()
                .map(|row| {
                    let m: Map = row.bindings.iter().map(|(k, v)| (Value::from(k.as_str()), normalize(v, sort))).collect();
                    Value::from_map(m)
                })
                .collect();
            let mut want: Vec<Value> = match case.field("want_result") {
                Some(Value::Array(a)) => a.iter().map(|row| normalize_want(row, sort)).collect(),
                _ => Vec::new(),
            };
            got.sort();
            want.sort();
            if got == want {
                CaseOutcome::pass()
            } else {
                let show = |v: &Vec<Value>| Value::from_array(v.clone()).to_json();
                CaseOutcome::fail(format!("want {} got {}", show(&want), show(&got)))
            }
        }
    }
}

fn check_error(expect: bool, want: Option<&str>, code: Option<&str>, got_code: &str, text: &str) -> CaseOutcome {
    if !expect {
        return CaseOutcome::fail(format!("unexpected error: {}", text));
    }
    if let Some(c) = code {
        if c != got_code {
            return CaseOutcome::fail(format!("want code {} got {}", c, text));
        }
    }
    if let Some(w) = want {
        if !text.contains(w) {
            return CaseOutcome::fail(format!("want error containing {:?} got {}", w, text));
        }
    }
    CaseOutcome::pass()
}

/// The JSON view of a result, as OPA's harness sees it (sets become arrays).
fn normalize(v: &Value, sort: bool) -> Value {
    let v = Value::from_json_str(&v.to_json()).unwrap_or(Value::Null);
    if sort {
        sort_arrays(v)
    } else {
        v
    }
}

fn normalize_want(row: &Value, sort: bool) -> Value {
    match row {
        Value::Object(o) => Value::from_map(o.iter().map(|(k, v)| (k.clone(), normalize(v, sort))).collect()),
        other => normalize(other, sort),
    }
}

fn sort_arrays(v: Value) -> Value {
    match v {
        Value::Array(a) => {
            let mut items: Vec<Value> = a.iter().cloned().collect();
            items.sort();
            Value::from_array(items)
        }
        other => other,
    }
}

fn eval_input_term(t: &str) -> Result<Value, String> {
    let p = Policy::compile(&[], Value::empty_object(), &CompileOptions::default()).map_err(|e| format!("{:?}", e))?;
    let r = p.query(&format!("__input__ = {}", t), None, &EvalLimits::default()).map_err(|e| e.to_string())?;
    r.rows
        .first()
        .and_then(|row| row.bindings.iter().find(|(k, _)| k == "__input__").map(|(_, v)| v.clone()))
        .ok_or_else(|| "input_term is undefined".to_string())
}

/// Marks plain integer scalars too large for the YAML reader (more than 18
/// digits) as tagged strings, outside block scalars (module text is left
/// alone); `yaml_to_value` turns them back into exact numbers.
pub fn protect_big_ints(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut block_indent: Option<usize> = None;
    for line in text.split_inclusive('\n') {
        let body = line.trim_end_matches(['\n', '\r']);
        let indent = body.len() - body.trim_start().len();
        if let Some(bi) = block_indent {
            if body.trim().is_empty() || indent > bi {
                out.push_str(line);
                continue;
            }
            block_indent = None;
        }
        let t = body.trim_end();
        if t.ends_with('|') || t.ends_with("|-") || t.ends_with("|+") || t.ends_with('>') || t.ends_with(">-") {
            block_indent = Some(indent + if body.trim_start().starts_with("- ") { 2 } else { 0 });
            out.push_str(line);
            continue;
        }
        // `key: 123…`, `- 123…`, `- key: 123…`
        let value_start = match t.rfind(": ") {
            Some(p) => p + 2,
            None => match t.trim_start().strip_prefix("- ") {
                Some(_) => t.len() - t.trim_start().len() + 2,
                None => {
                    out.push_str(line);
                    continue;
                }
            },
        };
        let v = &t[value_start..];
        let digits = v.strip_prefix('-').unwrap_or(v);
        if digits.len() > 18 && digits.chars().all(|c| c.is_ascii_digit()) {
            out.push_str(&t[..value_start]);
            out.push_str("\"\\0bigint:");
            out.push_str(v);
            out.push('"');
            out.push_str(&line[body.len()..]);
            out.push_str(&body[t.len()..]);
        } else {
            out.push_str(line);
        }
    }
    out
}

/// A conformance file's YAML text as a `Value` (big integers marked by
/// `protect_big_ints` read back exactly).
pub fn yaml_to_value(text: &str) -> Result<Value, String> {
    crate::yaml::first_document(text, crate::yaml::Options { big_int_strings: true })
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
mod tests {
    use super::*;

    fn case(y: &str) -> Value {
        yaml_to_value(y).unwrap()
    }

    #[test]
    fn passes_a_simple_case() {
        let c = case("query: data.t.p = x\nmodules: [\"package t\\np := 1\"]\nwant_result: [{x: 1}]");
        assert_eq!(run_case(&c, false), CaseOutcome::pass());
    }
    #[test]
    fn undefined_matches_empty() {
        let c = case("query: data.t.p = x\nmodules: [\"package t\\np if false\"]\nwant_result: []");
        assert!(run_case(&c, false).pass);
    }
    #[test]
    fn error_code_is_compared() {
        let c = case("query: data.t.p = x\nmodules: [\"package t\\np := x if some x in [1,2]\"]\nwant_error_code: eval_conflict_error");
        assert!(run_case(&c, false).pass);
    }
    #[test]
    fn input_term_is_evaluated() {
        let c = case("query: input.a = x\ninput_term: '{\"a\": {1, 2}}'\nwant_result: [{x: [1, 2]}]");
        assert!(run_case(&c, false).pass);
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod yaml_tests {
    use super::*;

    #[test]
    fn big_ints_from_yaml() {
        let text = protect_big_ints("x: 123456789012345678901234567890\ny:\n  - -99999999999999999999\nm: |\n  p := 123456789012345678901234567890\n");
        let v = yaml_to_value(&text).unwrap();
        assert_eq!(v.to_json(), r#"{"m":"p := 123456789012345678901234567890\n","x":123456789012345678901234567890,"y":[-99999999999999999999]}"#);
    }
}
