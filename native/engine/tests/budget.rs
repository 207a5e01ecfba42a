//! Evaluation budgets reach inside builtins: work, memory and the deadline
//! stop a long call with a clean error, and a decision that finishes past
//! its deadline is never returned (issue 16.2).

use sark_engine::{CompileOptions, EvalLimits, Policy, SourceFile, Value};
use std::time::{Duration, Instant};

fn policy(src: &str) -> Policy {
    let files = [SourceFile { name: "hostile.rego".into(), text: src.into() }];
    Policy::compile(&files, Value::empty_object(), &CompileOptions::default()).unwrap_or_else(|e| panic!("{:?}", e))
}

fn now_ns() -> i64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_nanos() as i64
}

fn within(ms: u64) -> EvalLimits {
    EvalLimits { deadline_ns: now_ns() + (ms as i64) * 1_000_000, ..Default::default() }
}

/// Evaluates `data.t.allow` with `input`, returning the error code or the value.
fn run(src: &str, input: &Value, limits: &EvalLimits) -> (Result<Option<String>, &'static str>, Duration) {
    let q = policy(src).prepare("data.t.allow").unwrap();
    let t = Instant::now();
    let r = q.eval(Some(input), limits).map(|d| d.value.map(|v| v.to_json())).map_err(|e| e.code);
    (r, t.elapsed())
}

#[test]
fn a_decision_finished_past_its_deadline_is_not_served() {
    // Too few steps for the step counter ever to look at the clock.
    let limits = EvalLimits { deadline_ns: now_ns() - 1, ..Default::default() };
    let (r, _) = run("package t\nallow := true", &Value::Null, &limits);
    assert_eq!(r, Err("eval_timeout"));
}

#[test]
fn union_n_of_many_objects_is_linear() {
    // n one-key objects under one shared key: copying the accumulated object
    // per step made 20,000 of them take seconds. Sixteen times the objects must
    // take about sixteen times as long, not 256: the bound (64×) leaves room
    // for a noisy machine while still telling linear from quadratic.
    let time = |n: usize| {
        let objs: Vec<Value> = (0..n).map(|i| Value::from_json_str(&format!(r#"{{"a":{{"k{}":{}}}}}"#, i, i)).unwrap()).collect();
        let src = format!("package t\nallow if count(object.union_n(input).a) == {}", n);
        let (r, took) = run(&src, &Value::from_array(objs), &within(60_000));
        assert_eq!(r, Ok(Some("true".into())));
        took
    };
    time(1_000);
    let (small, large) = (time(2_000), time(32_000));
    assert!(large < small * 64, "2,000 objects: {:?}, 32,000: {:?}", small, large);
}

#[test]
fn union_n_is_charged_per_object() {
    let objs: Vec<Value> = (0..5_000).map(|i| Value::from_json_str(&format!(r#"{{"k{}":{}}}"#, i, i)).unwrap()).collect();
    let (r, _) = run("package t\nallow if object.union_n(input)", &Value::from_array(objs), &EvalLimits { max_steps: 2_000, ..Default::default() });
    assert_eq!(r, Err("eval_limit_error"));
}

#[test]
fn to_number_of_a_megabyte_is_refused_quickly() {
    let input = Value::from(format!("1{}", "0".repeat(1 << 20)));
    let (r, took) = run("package t\nallow if to_number(input) > 0", &input, &within(300));
    assert_eq!(r, Err("eval_limit_error"));
    assert!(took < Duration::from_millis(300), "took {:?}", took);
}

#[test]
fn repeated_string_doubling_hits_the_memory_bound() {
    // 2^30 bytes if it ran to the end; the default bound is 256 MiB.
    let mut body = String::from("package t\ns0 := \"xxxxxxxxxxxxxxxx\"\n");
    for i in 1..=26 {
        body.push_str(&format!("s{} := concat(\"\", [s{}, s{}])\n", i, i - 1, i - 1));
    }
    body.push_str("allow if count(s26) > 0\n");
    let (r, _) = run(&body, &Value::Null, &within(10_000));
    assert_eq!(r, Err("eval_limit_error"));
}

#[test]
fn sprintf_widths_are_bounded_by_the_memory_budget() {
    let format = "%999999d".repeat(400);
    let src = format!("package t\nallow if count(sprintf(\"{}\", [{}])) > 0", format, vec!["1"; 400].join(","));
    let (r, _) = run(&src, &Value::Null, &within(10_000));
    assert_eq!(r, Err("eval_limit_error"));
}

#[test]
fn limits_end_the_evaluation_even_when_builtin_errors_are_not_strict() {
    // Non-strict mode makes a failing builtin undefined; a limit must not be
    // turned into "undefined" (and so into a `default allow`).
    let input = Value::from("9".repeat(10_000));
    let (r, _) = run("package t\ndefault allow := true\nallow := false if to_number(input) > 0", &input, &EvalLimits::default());
    assert_eq!(r, Err("eval_limit_error"));
}

#[test]
fn builtin_work_checks_the_deadline() {
    // Each call is cheap in steps but long in work: the clock is read from
    // inside the builtins, not only every 1,024 evaluator steps.
    let input = Value::from("ab".repeat(4 << 20));
    let src = "package t\nallow if { some i in numbers.range(1, 200); contains(input, sprintf(\"zz%d\", [i])) }";
    let (r, took) = run(src, &input, &within(50));
    assert!(matches!(r, Err("eval_timeout") | Err("eval_limit_error")), "{:?}", r);
    assert!(took < Duration::from_millis(1_000), "took {:?}", took);
}
