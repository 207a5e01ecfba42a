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
fn step_budget_is_exact_and_zero_means_none() {
    // 1,000 iterations take more than 1,000 steps: refused with a budget of
    // 1,000, answered with none (0) and with the default.
    let pol = policy("package t\np := count([x | some x in numbers.range(1, 1000)])");
    let q = pol.prepare("data.t.p").unwrap();
    let err = q.eval(None, &EvalLimits { max_steps: 1000, ..Default::default() }).err().unwrap();
    assert_eq!(err.code, "eval_limit_error");
    assert!(err.message.contains("1000 steps"), "{}", err.message);
    for max_steps in [0, 10_000_000] {
        let d = q.eval(None, &EvalLimits { max_steps, ..Default::default() }).unwrap();
        assert_eq!(d.value, Some(Value::int(1000)));
    }
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

fn prints(src: &str) -> Vec<String> {
    let p = policy(&format!("package t\n{}", src));
    p.prepare("data.t.p").unwrap().eval(None, &EvalLimits::default()).unwrap().prints.into_iter().map(|l| l.message).collect()
}

#[test]
fn print_location_is_file_and_line() {
    let p = policy("package t\n\np if {\n  print(\"here\")\n}");
    let lines = p.prepare("data.t.p").unwrap().eval(None, &EvalLimits::default()).unwrap().prints;
    assert_eq!(lines.len(), 1);
    assert_eq!(lines[0].location, "test.rego:4");
}

#[test] fn print_values() { assert_eq!(prints("p if print(\"x\", 1, {\"a\": [true]})"), vec![r#"x 1 {"a": [true]}"#]); }
#[test] fn print_undefined() { assert_eq!(prints("p if print(input.nope)"), vec!["<undefined>"]); }
#[test] fn print_cross_product() { assert_eq!(prints("p if print([1, 2][_], \"a\")"), vec!["1 a", "2 a"]); }
#[test] fn default_function() { assert_eq!(p("default f(_) := 0\nf(x) := 1 if x > 5\np := [f(1), f(9)]").as_deref(), Some("[0,1]")); }
#[test] fn function_conflict() { assert!(policy("package t\nf(x) := 1\nf(x) := 2\np := f(1)").prepare("data.t.p").unwrap().eval(None, &EvalLimits::default()).is_err()); }
#[test] fn function_multiple_defs() { assert_eq!(p("f(1) := \"one\"\nf(2) := \"two\"\np := [f(1), f(2)]").as_deref(), Some(r#"["one","two"]"#)); }
#[test] fn with_data_rule() { assert_eq!(p("q := 1\np := y if y := q with data.t.q as 7").as_deref(), Some("7")); }
#[test] fn iterate_partial_set() { assert_eq!(p("s contains x if some x in [1, 2]\np := [y | data.t.s[y]]").as_deref(), Some("[1,2]")); }
#[test] fn object_key_conflict() { assert!(policy("package t\np[k] := v if { some k in [\"a\"]; some v in [1, 2] }").prepare("data.t.p").unwrap().eval(None, &EvalLimits::default()).is_err()); }
#[test] fn output_argument() { assert_eq!(p("p := n if count([1, 2], n)").as_deref(), Some("2")); }
#[test] fn assign_destructure() { assert_eq!(p("p := a + b if [a, b] := [1, 2]").as_deref(), Some("3")); }
#[test] fn cross_type_order() { assert_eq!(p("p := [1 < \"a\", null < false, [] < {}]").as_deref(), Some("[true,true,true]")); }
#[test] fn undefined_not() { assert_eq!(p("p if not input.nope").as_deref(), Some("true")); }
#[test] fn closure_in_comprehension() { assert_eq!(p("p := [y | some y in [1, 2, 3]; y > x] if x := 1").as_deref(), Some("[2,3]")); }
#[test] fn every_key_value() { assert_eq!(p("p if every k, v in [1, 2] { k + 1 == v }").as_deref(), Some("true")); }
#[test] fn every_undefined_domain() { assert_eq!(p("p if every x in input.nope { true }"), None); }
#[test] fn every_non_collection() { assert_eq!(p("p if every x in 42 { true }"), None); }
#[test] fn var_shadows_rule() { assert_eq!(p("q := 1\np := q if q := 2").as_deref(), Some("2")); }
#[test] fn strings_keys_in_data() { assert_eq!(eval("package t\np := data[\"roles\"].bob[0]", "data.t.p", "{}").as_deref(), Some(r#""admin""#)); }
#[test] fn large_literal_array() { assert_eq!(p(&format!("p := count([{}])", vec!["1"; 20000].join(","))).as_deref(), Some("20000")); }
#[test] fn recursion_is_an_error() {
    let files = [SourceFile { name: "x.rego".into(), text: "package t\np if q\nq if p".into() }];
    let e = Policy::compile(&files, Value::empty_object(), &CompileOptions::default()).err().unwrap();
    assert_eq!(e[0].code, "rego_recursion_error");
}
#[test]
fn long_operator_chain_is_an_error_not_a_crash() {
    let src = format!("package t\np := {}", vec!["1"; 5000].join(" + "));
    let files = [SourceFile { name: "x.rego".into(), text: src }];
    assert!(Policy::compile(&files, Value::empty_object(), &CompileOptions::default()).is_err());
}
#[test]
fn query_enumerates() {
    let pol = policy("package t\ns contains x if some x in [\"a\", \"b\"]");
    let r = pol.query("data.t.s[x]", None, &EvalLimits::default()).unwrap();
    assert_eq!(r.rows.len(), 2);
    assert!(r.to_json().starts_with(r#"{"result":[{"bindings":{"x":"a"},"expressions":[{"location":{"col":1,"row":1},"text":"data.t.s[x]","value":"a"}]}"#));
}
#[test] fn template_strings() { assert_eq!(p("x := 2\np := $\"a {x} b {input.nope} {[1]} {\"s\"}\"").as_deref(), Some(r#""a 2 b <undefined> [1] s""#)); }
#[test]
fn indexed_partial_set() {
    let mut src = String::from("package t\n");
    for i in 0..10 {
        src.push_str(&format!("p contains {} if input.k == \"k{}\"\n", i, i));
    }
    src.push_str("p contains 99 if input.z\n");
    assert_eq!(eval(&src, "data.t.p", r#"{"k":"k3","z":true}"#).as_deref(), Some("[3,99]"));
}

/// Every prefix of a policy, and every single-byte corruption of it, compiles or fails cleanly.
#[test]
fn no_panics_on_broken_sources() {
    let src = format!("{}\np[x] := {{k: v | some k, v in input.o}} if {{ x := $\"a{{input.b}}\"; every y in [1] {{ y > 0 }}; not f(1) with input as {{}} }}\nf(a) := a + 1\n", ENVOY);
    let bytes = src.as_bytes();
    for cut in 0..bytes.len() {
        let Ok(text) = std::str::from_utf8(&bytes[..cut]) else { continue };
        let files = [SourceFile { name: "x.rego".into(), text: text.into() }];
        let _ = Policy::compile(&files, Value::empty_object(), &CompileOptions::default());
    }
    for i in (0..bytes.len()).step_by(3) {
        for c in [b'{', b'}', b'[', b'(', b'"', b'|', b' ', b'\n', b'x', b':'] {
            let mut b = bytes.to_vec();
            b[i] = c;
            let Ok(text) = String::from_utf8(b) else { continue };
            let files = [SourceFile { name: "x.rego".into(), text }];
            if let Ok(p) = Policy::compile(&files, Value::empty_object(), &CompileOptions { v0_compatible: i % 2 == 0, ..Default::default() }) {
                if let Ok(q) = p.prepare("data.envoy.authz") {
                    let _ = q.eval(Some(&Value::from_json_str(r#"{"o":{"a":1},"b":2}"#).unwrap()), &EvalLimits::default());
                }
            }
        }
    }
}

#[test]
fn deep_rule_chain() {
    let mut src = String::from("package t\np := p0\n");
    for i in 0..100 {
        src.push_str(&format!("p{} := p{} + 1\n", i, i + 1));
    }
    src.push_str("p100 := 0\n");
    assert_eq!(eval(&src, "data.t.p", "{}").as_deref(), Some("100"));
}

#[test]
fn depth_limit_is_clean() {
    let mut src = String::from("package t\np := p0\n");
    for i in 0..100 {
        src.push_str(&format!("p{} := p{} + 1\n", i, i + 1));
    }
    src.push_str("p100 := 0\n");
    let pol = policy(&src);
    let lim = EvalLimits { max_depth: 20, ..Default::default() };
    assert_eq!(pol.prepare("data.t.p").unwrap().eval(None, &lim).unwrap_err().code, "eval_limit_error");
}

#[test]
fn deep_chain_on_a_small_thread_stack() {
    let h = std::thread::Builder::new()
        .stack_size(512 * 1024)
        .spawn(|| {
            let mut src = String::from("package t\np := p0\n");
            for i in 0..400 {
                src.push_str(&format!("p{} := p{} + 1\n", i, i + 1));
            }
            src.push_str("p400 := 0\n");
            eval(&src, "data.t.p", "{}")
        })
        .unwrap();
    assert_eq!(h.join().unwrap().as_deref(), Some("400"));
}

fn compile_err(src: &str) -> Option<String> {
    let files = [SourceFile { name: "x.rego".into(), text: format!("package t\n{}", src) }];
    Policy::compile(&files, Value::empty_object(), &CompileOptions::default()).err().map(|e| format!("{}: {}", e[0].code, e[0].message))
}
#[test] fn type_error_literal() { assert!(compile_err("p if trace(1)").unwrap().starts_with("rego_type_error: trace: invalid argument(s)")); }
#[test] fn type_error_assigned_var() { assert!(compile_err("p if { x := 1; trace(x) }").unwrap().contains("trace")); }
#[test] fn no_type_error_for_any() { assert_eq!(compile_err("p if { x := input.a; trace(x) }"), None); }
#[test] fn arity_error() { assert!(compile_err("p if count(1, 2, 3)").unwrap().contains("arity mismatch")); }
#[test] fn undefined_function_error() { assert!(compile_err("p if nope(1)").unwrap().contains("undefined function nope")); }
#[test] fn assigned_above() { assert!(compile_err("p if { x := 1; x := 2 }").unwrap().contains("assigned above")); }
#[test]
fn ref_head_key_conflict() {
    let pol = policy("package t\np.a := 1\np[x] := 2 if x := \"a\"");
    assert_eq!(pol.prepare("data.t.p").unwrap().eval(None, &EvalLimits::default()).unwrap_err().code, "eval_conflict_error");
}
#[test]
fn indexed_membership() {
    let mut src = String::from("package t\ndefault p := \"none\"\n");
    for i in 0..8 {
        src.push_str(&format!("p := \"r{}\" if input.m in {{\"a{}\", \"b{}\"}}\n", i, i, i));
    }
    assert_eq!(eval(&src, "data.t.p", r#"{"m":"b5"}"#).as_deref(), Some(r#""r5""#));
    assert_eq!(eval(&src, "data.t.p", r#"{"m":"zz"}"#).as_deref(), Some(r#""none""#));
}
#[test] fn parse_module_ok() { assert!(p("p := rego.parse_module(\"x.rego\", \"package foo\\nq := 1\")").unwrap().contains(r#""name":"q""#)); }
#[test] fn parse_module_error_is_undefined() { assert_eq!(p("p := rego.parse_module(\"x.rego\", \"package foo.\")"), None); }
#[test] fn syntax_edge_cases() {
    assert_eq!(p("p := [x, y, z, w] if {\n x := 1 - -1\n y := [1, 2, 3][1]\n z := {\"if\": 4}[\"if\"] # comment\n w := input.a\n} else := 0").as_deref(), Some("0"));
    assert_eq!(p("p := [x, y, z] if {\n x := 1 - -1\n y := [1, 2, 3][1]\n z := {\"if\": 4}[\"if\"] # comment\n}").as_deref(), Some("[2,2,4]"));
    assert_eq!(p("f(x) := {\"v\": x}\np := f(3).v").as_deref(), Some("3"));
    assert_eq!(p("p if\n  not 1 in [2]").as_deref(), Some("true"));
    assert_eq!(p("p := count([\n  1,\n  2,\n])").as_deref(), Some("2"));
    assert_eq!(p("q[x] if some x in [\"a\"]\np := q").as_deref(), Some(r#"{"a":true}"#));
}
#[test]
fn query_compile_error_location() {
    let pol = policy("package t\np := 1");
    let e = pol.query("x := 1\ny > 2", None, &EvalLimits::default()).unwrap_err().to_string();
    assert!(e.starts_with("<query>:2:1: rego_unsafe_var_error: var y is unsafe"), "{}", e);
}
#[test]
fn safety_reordering_cases() {
    let i = r#"{"a":[1,2],"b":[3,2],"m":{"k":{"v":1}}}"#;
    let e = |src: &str| eval(&format!("package t\n{}", src), "data.t.p", i);
    assert_eq!(e("p if { x = y; y = 1 }").as_deref(), Some("true"));
    assert_eq!(e("p := [x, z] if { [x, y] = [1, z]; z = 2 }").as_deref(), Some("[1,2]"));
    assert_eq!(e("p := {k: v | some k; v := input.m[k]}").as_deref(), Some(r#"{"k":{"v":1}}"#));
    assert_eq!(e("p := [y | some x in [1, 2]; y := [z | some z in [x]]]").as_deref(), Some("[[1],[2]]"));
    assert_eq!(e("p := i if { some i; input.a[i] == input.b[i] }").as_deref(), Some("1"));
    assert_eq!(e("p := [i, j] if { input.a[i] == input.b[j] }").as_deref(), Some("[1,1]"));
    assert_eq!(e("p := z if { x := input.m; x[y].v == 1; z := y }").as_deref(), Some(r#""k""#));
    assert_eq!(e("q contains 1\np if { x = 2; not q[x] }").as_deref(), Some("true"));
    assert_eq!(e("p := x if { x := y + 1; y = 2 }").as_deref(), Some("3"));
}

/// Random token soup never panics the parser, compiler or evaluator.
#[test]
fn token_soup_fuzz() {
    const TOKS: &[&str] = &[
        "p", "q", "x", "y", "f", "input", "data", ".", "[", "]", "{", "}", "(", ")", ":=", "=", "==", "!=", "<", "+", "-", "*", "|", "&",
        ",", ";", ":", "\n", " ", "if", "else", "default", "not", "some", "in", "every", "contains", "with", "as", "1", "\"s\"", "true",
        "null", "_", "import", "package t", "$\"a{x}\"", "`r`", "1.5e3",
    ];
    let mut seed: u64 = 0x9E3779B97F4A7C15;
    let mut next = || {
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        seed
    };
    let mut compiled = 0;
    for _ in 0..3000 {
        let n = 3 + (next() % 25) as usize;
        let mut src = String::from("package t\n");
        // Half the programs start from a valid rule so that the compiler and evaluator get exercised.
        if next() % 2 == 0 {
            src.push_str("p := x if { x := [1, 2][_]; ");
        }
        for _ in 0..n {
            src.push_str(TOKS[(next() % TOKS.len() as u64) as usize]);
            src.push(' ');
        }
        let files = [SourceFile { name: "f.rego".into(), text: src }];
        let v0 = next() % 2 == 0;
        if let Ok(p) = Policy::compile(&files, Value::empty_object(), &CompileOptions { v0_compatible: v0, ..Default::default() }) {
            compiled += 1;
            if let Ok(q) = p.prepare("data.t") {
                let _ = q.eval(Some(&Value::empty_object()), &EvalLimits { max_steps: 10_000, ..Default::default() });
            }
            let _ = p.query("data.t[x]", None, &EvalLimits { max_steps: 10_000, ..Default::default() });
        }
    }
    assert!(compiled > 0);
}

/// Random well-formed programs from a small grammar: whatever they compute,
/// compiling and evaluating them ends in a value, undefined, or a clean error.
#[test]
fn grammar_fuzz() {
    struct G(u64);
    impl G {
        fn n(&mut self, m: u64) -> u64 {
            self.0 ^= self.0 << 13;
            self.0 ^= self.0 >> 7;
            self.0 ^= self.0 << 17;
            self.0 % m
        }
        fn e(&mut self, d: u32) -> String {
            if d == 0 {
                return ["1", "2.5", "\"a\"", "x", "input.a", "null", "true", "[]", "{}", "v"][self.n(10) as usize].to_string();
            }
            let a = self.e(d - 1);
            let b = self.e(d - 1);
            match self.n(12) {
                0 => format!("[{}, {}]", a, b),
                1 => format!("{{{}}}", a),
                2 => format!("{{\"k\": {}}}", a),
                3 => format!("{} + {}", a, b),
                4 => format!("{} == {}", a, b),
                5 => format!("count({})", a),
                6 => format!("[w | some w in {}]", a),
                7 => format!("{}[_]", a),
                8 => format!("f({})", a),
                9 => format!("{{w: 1 | some w in {}}}", a),
                10 => format!("({} | {})", a, b),
                _ => format!("{} in {}", a, b),
            }
        }
        fn lit(&mut self) -> String {
            let e = self.e(2);
            match self.n(6) {
                0 => format!("x := {}", e),
                1 => format!("not {}", e),
                2 => format!("some v in {}", e),
                3 => format!("every v in {} {{ v }}", e),
                4 => format!("{} with input.a as 1", e),
                _ => e,
            }
        }
    }
    let mut g = G(0x2545F4914F6CDD1D);
    let mut evaluated = 0;
    for _ in 0..1500 {
        let src = format!(
            "package t\nf(a) := [a, a]\np := {} if {{\n{}\n{}\n}}\nq contains {} if {{ {} }}\n",
            g.e(2),
            g.lit(),
            g.lit(),
            g.e(1),
            g.lit()
        );
        let files = [SourceFile { name: "f.rego".into(), text: src }];
        if let Ok(p) = Policy::compile(&files, Value::empty_object(), &CompileOptions::default()) {
            if let Ok(q) = p.prepare("data.t") {
                let _ = q.eval(Some(&Value::from_json_str(r#"{"a":[1,{"b":2}]}"#).unwrap()), &EvalLimits { max_steps: 20_000, ..Default::default() });
                evaluated += 1;
            }
        }
    }
    assert!(evaluated > 10, "only {} programs compiled", evaluated);
}
#[test] fn recursion_chain_message() { assert_eq!(compile_err("p if q\nq if r\nr if p").unwrap(), "rego_recursion_error: rule data.t.p is recursive: data.t.p -> data.t.q -> data.t.r -> data.t.p"); }
#[test] fn v1_reserved_rule_names() { assert!(compile_err("input := 1").unwrap().contains("must not shadow input")); }

// ---- cache key derivation: what a decision can read of `input` ----

#[test]
fn input_paths_through_rules_and_else() {
    let src = "package t\nq := 1 if input.a == 1 else := 2 if input.b\np if q == 1\n";
    assert_eq!(paths(src, "data.t.p"), vec![r#"["a"]"#, r#"["b"]"#]);
}
#[test]
fn input_paths_in_comprehensions_and_every() {
    assert_eq!(paths("package t\np if count([x | some x in input.xs; x > input.min]) > 0", "data.t.p"), vec![r#"["min"]"#, r#"["xs"]"#]);
    assert_eq!(paths("package t\np if every x in input.items { x.ok }", "data.t.p"), vec![r#"["items"]"#]);
}
#[test]
fn input_paths_with_replaced_input_parts() {
    // `with input.a as ...` replaces a part; what the real input still provides must be in the key.
    let src = "package t\nq if { input.a == 1; input.b == 2 }\np if q with input.a as 1\n";
    let got = paths(src, "data.t.p");
    assert!(got.contains(&r#"["b"]"#.to_string()), "{:?}", got);
    // A value for `with` read from the input is part of the key too.
    let got = paths("package t\nq if data.x == 1\np if q with data.x as input.y\n", "data.t.p");
    assert!(got.contains(&r#"["y"]"#.to_string()), "{:?}", got);
}
#[test]
fn input_paths_widen_when_the_whole_input_escapes() {
    for src in [
        "package t\np if walk(input, [_, 1])",
        "package t\np if object.get(input, \"a\", 0) == 1",
        "package t\np if { k := data.keys[_]; input[k] == 1 }",
        "package t\nf(x) := x.a\np if f(input) == 1",
        "package t\np if count(input) > 1",
    ] {
        assert_eq!(paths(src, "data.t.p"), vec!["[]"], "{}", src);
    }
}
#[test]
fn input_paths_dynamic_step_from_data_keeps_prefix() {
    assert_eq!(paths("package t\np if { some r in data.roles; input.user.roles[_] == r }", "data.t.p"), vec![r#"["user","roles"]"#]);
}
#[test]
fn input_paths_none_for_constant_decisions() {
    assert_eq!(paths("package t\np := true", "data.t.p"), Vec::<String>::new());
}

// References to rules are resolved to tree nodes at compile time; `with`
// overrides, base data beside rules and constant collections must read as before.
#[test] fn rule_ref_under_with_override() { assert_eq!(p("r := 1\nq := r\np := [a, b, c] if { a := q; b := q with data.t.r as 2; c := data.t.r with data.t.r as 3 }").as_deref(), Some("[1,2,3]")); }
#[test] fn rule_ref_with_input_override() { assert_eq!(p("m := input.x\np := [a, b] if { a := m with input.x as 5; b := m with input as {\"x\": 6} }").as_deref(), Some("[5,6]")); }
#[test]
fn rule_ref_through_other_package_and_base_data() {
    let files = [
        SourceFile { name: "a.rego".into(), text: "package a.b\nr := 7\n".into() },
        SourceFile { name: "t.rego".into(), text: "package t\np := [data.a.b.r + 1, data.a.b, data.roles.bob[0]]\n".into() },
    ];
    let data = Value::from_json_str(r#"{"roles":{"bob":["admin"]},"a":{"b":{"s":1}}}"#).unwrap();
    let pol = Policy::compile(&files, data, &CompileOptions::default()).unwrap();
    let v = pol.prepare("data.t.p").unwrap().eval(None, &EvalLimits::default()).unwrap().value.map(|v| v.to_json());
    assert_eq!(v.as_deref(), Some(r#"[8,{"r":7,"s":1},"admin"]"#));
}
#[test] fn constant_collections_folded() { assert_eq!(p("p := [x | some x in [[1, 2], {\"a\": {3}}, {4, 4}]]").as_deref(), Some(r#"[[1,2],{"a":[3]},[4]]"#)); }

/// OPA evaluates a negated call's reference operands and nested calls before the
/// negation: when one is undefined, `not` fails (found by test/fuzz-opa).
#[test]
fn negation_with_an_undefined_moved_operand_fails() {
    assert_eq!(p(r#"p if { not startswith(input.missing, "a") }"#), None);
    assert_eq!(p(r#"p if { not 1 == count(input.missing) }"#), None);
    assert_eq!(p(r#"p if { not input.missing != "a" }"#), None);
    assert_eq!(p(r#"p if { not [input.missing, 2] = [1, 2] }"#), None);
    assert_eq!(p(r#"p if { not data.roles[input.missing] == 1 }"#), None);
    assert_eq!(p(r#"p if { not 1 == to_number("x") }"#), None);
}
#[test]
fn negation_of_an_undefined_reference_or_unification_side_succeeds() {
    assert_eq!(p(r#"p if { not input.missing == "a" }"#).as_deref(), Some("true"));
    assert_eq!(p(r#"p if { not input.missing }"#).as_deref(), Some("true"));
    assert_eq!(p(r#"p if { not [x | x := input.missing] == [1] }"#).as_deref(), Some("true"));
    assert_eq!(p(r#"p if { not startswith("b", "a") }"#).as_deref(), Some("true"));
}

/// `with` replaces a document only along string path segments, as OPA merges it:
/// `input.xs[0]` is a bad document path, a conflict error (found by test/fuzz-opa).
#[test]
fn with_on_a_non_string_path_segment_is_a_conflict_error() {
    let pol = policy("package t\np if { input.xs[0] == 1 with input.xs[0] as 1 }\nq if { input.a == 1 with input.a as 1 }");
    let err = pol.prepare("data.t.p").unwrap().eval(None, &EvalLimits::default()).unwrap_err();
    assert_eq!(err.code, "eval_conflict_error");
    assert!(err.message.contains("bad document path"), "{}", err.message);
    assert_eq!(pol.prepare("data.t.q").unwrap().eval(None, &EvalLimits::default()).unwrap().value.map(|v| v.to_json()).as_deref(), Some("true"));
}

/// Below a node with rules, an intermediate object exists only when something below
/// it is defined; elsewhere (`s.b` of a lone `s.b.c`) it is `{}` at least, as in OPA
/// (found by test/fuzz-opa).
#[test]
fn undefined_ref_head_leaves_no_empty_intermediate_object() {
    let src = "package t\nr.a.x := input.missing\nr[k].y := 1 if { k := input.missing }\ns.b.c := 1 if false\nu.v := 2";
    assert_eq!(eval(src, "data.t", "{}").as_deref(), Some(r#"{"r":{},"s":{"b":{}},"u":{"v":2}}"#));
}

#[test]
fn print_output_is_bounded_per_evaluation() {
    // 100 lines of 1,000 bytes would be 100 kB; the bound keeps 64 KiB and marks the cut.
    let lines = prints("p contains i if { some i in numbers.range(1, 100); print(concat(\"\", [\"x\" | some _ in numbers.range(1, 1000)])) }");
    let bytes: usize = lines.iter().map(|l| l.len() + 1).sum();
    assert!(bytes <= sark_engine::eval::MAX_PRINT_BYTES + sark_engine::eval::PRINT_TRUNCATED.len(), "{} bytes", bytes);
    assert_eq!(lines.len(), 66);
    assert!(lines.last().unwrap().ends_with(sark_engine::eval::PRINT_TRUNCATED));
    assert!(lines[..65].iter().all(|l| l.len() == 1000));
}

#[test]
fn prints_before_an_error_come_with_it() {
    let p = policy("package t\n\np if {\n  print(\"before\")\n  1 / 0\n}");
    let strict = Policy::compile(
        &[SourceFile { name: "test.rego".into(), text: "package t\n\np := x if {\n  print(\"before\")\n  x := 1 / 0\n}".into() }],
        Value::empty_object(),
        &CompileOptions { strict_builtin_errors: true, ..Default::default() },
    )
    .unwrap();
    let e = strict.prepare("data.t.p").unwrap().eval(None, &EvalLimits::default()).unwrap_err();
    assert_eq!(e.code, "eval_builtin_error");
    assert_eq!(e.prints.iter().map(|l| l.message.as_str()).collect::<Vec<_>>(), vec!["before"]);
    assert_eq!(e.prints[0].location, "test.rego:4");
    drop(p);
}

/// `opa eval --format json` of a query: `[[value, ...] per row]`, or `undefined`.
fn query_values(text: &str) -> String {
    let pol = policy("package t\nq := false\nf(x) := x");
    match pol.query(text, None, &EvalLimits::default()) {
        Ok(r) if r.rows.is_empty() => "undefined".into(),
        Ok(r) => Value::from_array(r.rows.iter().map(|row| Value::from_array(row.expressions.iter().map(|e| e.value.clone()).collect())).collect()).to_json(),
        Err(e) => e.to_string(),
    }
}

#[test]
fn a_one_expression_query_reports_false_as_opa_eval_does() {
    // Each as `opa eval --format json` (v1.22.4) answers it.
    assert_eq!(query_values("1 == 2"), "[[false]]");
    assert_eq!(query_values("false"), "[[false]]");
    assert_eq!(query_values("startswith(\"a\", \"b\")"), "[[false]]");
    assert_eq!(query_values("data.t.q"), "[[false]]");
    assert_eq!(query_values("data.t.q with input as 1"), "[[false]]");
    assert_eq!(query_values("1 == 2 with input as 1"), "[[false]]");
    assert_eq!(query_values("data.t.f(false)"), "[[false]]");
    assert_eq!(query_values("1 == 1"), "[[true]]");
    // Undefined stays undefined; several expressions fail on a false one.
    assert_eq!(query_values("input.x == 1"), "undefined");
    assert_eq!(query_values("not true"), "undefined");
    assert_eq!(query_values("1 == 2; 2 == 2"), "undefined");
    assert_eq!(query_values("x := 1; x == 2"), "undefined");
    // A query that iterates asserts each value, as OPA does.
    assert_eq!(query_values("[1, 2][_] == 1"), "[[true]]");
    assert_eq!(query_values("[x | x := 1] == [2]"), "[[false]]");
}

#[test]
fn integer_operands_are_type_errors_as_opa_reports_them() {
    let strict = |src: &str| {
        let files = [SourceFile { name: "test.rego".into(), text: format!("package t\np := {}", src) }];
        let pol = Policy::compile(&files, Value::empty_object(), &CompileOptions { strict_builtin_errors: true, ..Default::default() }).unwrap();
        let e = pol.prepare("data.t.p").unwrap().eval(None, &EvalLimits::default()).unwrap_err();
        (e.code, e.message.clone())
    };
    // As opa eval --strict-builtin-errors (v1.22.4) reports each.
    assert_eq!(strict("regex.find_n(\"a\", \"aaa\", 1.5)"), ("eval_type_error", "regex.find_n: operand 3 must be integer number but got floating-point number".into()));
    assert_eq!(strict("regex.find_all_string_submatch_n(\"a\", \"aaa\", 100000000000000000000000)").0, "eval_type_error");
    assert_eq!(strict("time.add_date(0, 1.5, 1, 1)"), ("eval_type_error", "time.add_date: operand 2 must be integer number but got floating-point number".into()));
    assert_eq!(strict("time.add_date(0, 1, 1, 2.5)").0, "eval_type_error");
    assert_eq!(strict("time.add_date(1.5, 1, 1, 1)"), ("eval_builtin_error", "time.add_date: timestamp too big".into()));
    // Operand types before their contents, and OPA's wording.
    assert_eq!(strict("io.jwt.verify_hs256(\"abc\", json.unmarshal(\"5\"))"), ("eval_type_error", "io.jwt.verify_hs256: operand 2 must be string but got number".into()));
    assert_eq!(strict("json.marshal_with_options([1], {\"deep\": 1})"), ("eval_type_error", "json.marshal_with_options: operand 2 object contained unknown key \"deep\"".into()));
    assert_eq!(strict("crypto.x509.parse_rsa_private_key(\"\")"), ("eval_builtin_error", "crypto.x509.parse_rsa_private_key: input PEM data was empty".into()));
}

#[test]
fn rsa_private_key_of_text_without_a_key_is_null() {
    // opa eval 'crypto.x509.parse_rsa_private_key(base64.encode("hello"))' (v1.22.4): null.
    assert_eq!(p("p := crypto.x509.parse_rsa_private_key(base64.encode(\"hello\"))").as_deref(), Some("null"));
    // ... and crypto.parse_private_keys of text that is not base64 either: [].
    assert_eq!(p("p := crypto.parse_private_keys(\"2024-01-02T03:04:05Z\")").as_deref(), Some("[]"));
}
