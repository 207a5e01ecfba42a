//! Evaluator behaviour through the public facade, one case per line where possible.

use sark_engine::{CompileOptions, EvalLimits, Policy, SourceFile, Value};

fn policy(src: &str) -> Policy {
    let files = [SourceFile { name: "test.rego".into(), text: src.into() }];
    Policy::compile(&files, Value::from_json_str(r#"{"roles":{"bob":["admin"]}}"#).unwrap(), &CompileOptions::default())
        .unwrap_or_else(|e| panic!("{:?}", e))
}

fn eval(src: &str, path: &str, input: &str) -> Option<String> {
    let p = policy(src);
    let input = Value::from_json_str(input).unwrap();
    p.prepare(path).unwrap().eval(Some(&input), &EvalLimits::default()).unwrap().value.map(|v| v.to_json())
}

/// The value of `data.t.p` for a module body under `package t`.
fn p(body: &str) -> Option<String> {
    eval(&format!("package t\n{}", body), "data.t.p", "{}")
}

const ENVOY: &str = r#"
package envoy.authz
import rego.v1
default allow := false
allow if { input.attributes.request.http.method == "GET"; startswith(input.parsed_path[0], "public") }
allow if { some r in data.roles[input.user]; r == "admin"; count(input.parsed_path) > 0 }
allow if input.attributes.request.http.headers["x-role"] in {"admin", "ops"}
"#;

#[test]
fn envoy_default_false() {
    assert_eq!(eval(ENVOY, "envoy/authz/allow", "{}").as_deref(), Some("false"));
}
#[test]
fn envoy_get_public() {
    let i = r#"{"attributes":{"request":{"http":{"method":"GET"}}},"parsed_path":["public","x"]}"#;
    assert_eq!(eval(ENVOY, "data.envoy.authz.allow", i).as_deref(), Some("true"));
}
#[test]
fn envoy_admin_role() {
    let i = r#"{"user":"bob","parsed_path":["a"]}"#;
    assert_eq!(eval(ENVOY, "data.envoy.authz.allow", i).as_deref(), Some("true"));
}
#[test]
fn envoy_header_role() {
    let i = r#"{"attributes":{"request":{"http":{"headers":{"x-role":"ops"}}}}}"#;
    assert_eq!(eval(ENVOY, "data.envoy.authz.allow", i).as_deref(), Some("true"));
}
#[test]
fn envoy_denied() {
    let i = r#"{"attributes":{"request":{"http":{"method":"POST","headers":{"x-role":"dev"}}}},"user":"eve","parsed_path":["public"]}"#;
    assert_eq!(eval(ENVOY, "data.envoy.authz.allow", i).as_deref(), Some("false"));
}

#[test] fn complete_rule() { assert_eq!(p("p := 1").as_deref(), Some("1")); }
#[test] fn undefined_rule() { assert_eq!(p("p if false"), None); }
#[test] fn partial_set() { assert_eq!(p("p contains x if some x in [3, 1, 3]").as_deref(), Some("[1,3]")); }
#[test] fn partial_object() { assert_eq!(p("p[k] := v if some k, v in {\"a\": 1}").as_deref(), Some(r#"{"a":1}"#)); }
#[test] fn ref_head() { assert_eq!(p("p.a.b := 1\np.c[x] := 2 if x := \"d\"").as_deref(), Some(r#"{"a":{"b":1},"c":{"d":2}}"#)); }
#[test] fn else_chain() { assert_eq!(p("p := 1 if false else := 2 if false else := 3").as_deref(), Some("3")); }
#[test] fn functions() { assert_eq!(p("f(x) := x + 1\np := f(1)").as_deref(), Some("2")); }
#[test] fn unify_arrays() { assert_eq!(p("p := x if [x, 2] = [1, y]").as_deref(), Some("1")); }
#[test] fn negation() { assert_eq!(p("q := 1\np if not q == 2").as_deref(), Some("true")); }
#[test] fn comprehension() { assert_eq!(p("p := [x | some x in [1, 2, 3]; x > 1]").as_deref(), Some("[2,3]")); }
#[test] fn object_comprehension() { assert_eq!(p("p := {k: 1 | some k in [\"a\"]}").as_deref(), Some(r#"{"a":1}"#)); }
#[test] fn every_true() { assert_eq!(p("p if every x in [1, 2] { x > 0 }").as_deref(), Some("true")); }
#[test] fn every_false() { assert_eq!(p("p if every x in [1, 2] { x > 1 }"), None); }
#[test] fn with_input() { assert_eq!(p("q := input.x\np := y if y := q with input.x as 5").as_deref(), Some("5")); }
#[test] fn with_function() { assert_eq!(p("f(x) := 1\ng(x) := 2\np := y if y := f(0) with f as g").as_deref(), Some("2")); }
#[test] fn reorders_for_safety() { assert_eq!(p("p := y if { y > 1; y = 2 }").as_deref(), Some("2")); }
#[test] fn package_extent() { assert_eq!(eval("package t\np := 1\nf(x) := x", "data.t", "{}").as_deref(), Some(r#"{"p":1}"#)); }
#[test] fn base_data_under_rules() { assert_eq!(eval("package roles.extra\np := 1", "data.roles", "{}").as_deref(), Some(r#"{"bob":["admin"],"extra":{"p":1}}"#)); }

#[test]
fn conflict_is_an_error() {
    let pol = policy("package t\np := x if some x in [1, 2]");
    let e = pol.prepare("data.t.p").unwrap().eval(None, &EvalLimits::default()).unwrap_err();
    assert_eq!(e.code, "eval_conflict_error");
}

#[test]
fn unsafe_var_is_reported() {
    let files = [SourceFile { name: "x.rego".into(), text: "package t\np if x > 1".into() }];
    let e = Policy::compile(&files, Value::empty_object(), &CompileOptions::default()).err().unwrap();
    assert_eq!(e[0].code, "rego_unsafe_var_error");
}

#[test]
fn step_limit() {
    let pol = policy("package t\np := count([x | some x in [1,2,3,4,5,6,7,8,9,10]; some y in [1,2,3,4,5,6,7,8,9,10]; some z in [1,2,3,4,5,6,7,8,9,10]])");
    let lim = EvalLimits { max_steps: 1000, ..Default::default() };
    let r = pol.prepare("data.t.p").unwrap().eval(None, &lim);
    assert!(r.is_err());
}

#[test]
fn query_rows() {
    let pol = policy("package t\np := 1");
    let r = pol.query("x := data.t.p; y := x + 1", None, &EvalLimits::default()).unwrap();
    assert_eq!(r.rows[0].bindings, vec![("x".to_string(), Value::int(1)), ("y".to_string(), Value::int(2))]);
}

#[test]
fn policy_is_send_sync() {
    fn check<T: Send + Sync>() {}
    check::<Policy>();
    check::<sark_engine::PreparedQuery>();
}

fn paths(src: &str, path: &str) -> Vec<String> {
    let p = policy(src);
    p.prepare(path).unwrap().input_paths().iter().map(|p| Value::from_array(p.clone()).to_json()).collect()
}

#[test]
fn input_paths_of_envoy_policy() {
    assert_eq!(
        paths(ENVOY, "data.envoy.authz.allow"),
        vec![r#"["attributes","request","http","headers","x-role"]"#, r#"["attributes","request","http","method"]"#, r#"["parsed_path"]"#, r#"["user"]"#]
    );
}
#[test]
fn input_paths_dynamic_keeps_prefix() {
    assert_eq!(paths("package t\np if input.a[input.k] == 1", "data.t.p"), vec![r#"["a"]"#, r#"["k"]"#]);
}
#[test]
fn input_paths_whole_input() {
    assert_eq!(paths("package t\np if { x := input; x.a == 1 }\nq if input.b", "data.t.p"), vec!["[]"]);
}
#[test]
fn input_paths_through_functions() {
    assert_eq!(paths("package t\nf(x) := input.z[x]\np if f(1)", "data.t.p"), vec![r#"["z"]"#]);
}
#[test]
fn indexed_rules_select_by_input() {
    let mut src = String::from("package t\n");
    for i in 0..20 {
        src.push_str(&format!("p := {} if input.k == \"k{}\"\n", i, i));
    }
    assert_eq!(eval(&src, "data.t.p", r#"{"k":"k7"}"#).as_deref(), Some("7"));
    assert_eq!(eval(&src, "data.t.p", r#"{"k":"zz"}"#), None);
}
