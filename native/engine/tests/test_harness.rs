//! `test.sleep`, the builtin OPA's test harness registers: offered to the
//! conformance runner's cases only, never to a policy compiled otherwise.

use sark_engine::testsuite::{run_case, yaml_to_value};
use sark_engine::{CompileOptions, Policy, SourceFile, Value};

const TIME_CACHING: &str = r#"
query: data.t.p = x
modules:
  - |
    package t
    p if {
      time.now_ns(t0)
      test.sleep("10ms")
      time.now_ns(t1)
      t0 == t1
    }
want_result:
  - x: true
"#;

fn compile_error(src: &str) -> Option<String> {
    let files = [SourceFile { name: "p.rego".into(), text: src.into() }];
    Policy::compile(&files, Value::empty_object(), &CompileOptions::default()).err().map(|d| format!("{}: {}", d[0].code, d[0].message))
}

#[test]
fn a_case_may_sleep_and_time_stays_the_same() {
    let case = yaml_to_value(TIME_CACHING).unwrap();
    let start = std::time::Instant::now();
    let outcome = run_case(&case, false);
    assert!(outcome.pass, "{}", outcome.reason);
    assert!(start.elapsed() >= std::time::Duration::from_millis(10));
}

#[test]
fn a_policy_outside_the_runner_cannot_sleep() {
    let src = "package t\np if test.sleep(\"10ms\")";
    assert_eq!(compile_error(src).as_deref(), Some("rego_type_error: undefined function test.sleep"));
    // Not after a case has run on this thread either.
    assert!(run_case(&yaml_to_value(TIME_CACHING).unwrap(), false).pass);
    assert_eq!(compile_error(src).as_deref(), Some("rego_type_error: undefined function test.sleep"));
}
