//! Number literals keep their spelling where OPA reads it (OPA keeps a literal's
//! text, Go's `json.Number`): `sprintf`'s verbs, integer operands, printing.
//! Values still compare, hash and compute by what they denote. Each expectation
//! was checked against `opa eval` v1.22.4.

use sark_engine::{CompileOptions, EvalLimits, Policy, SourceFile, Value};

fn compile(src: &str, strict: bool) -> Policy {
    let files = [SourceFile { name: "test.rego".into(), text: format!("package t\n{}", src) }];
    let opts = CompileOptions { strict_builtin_errors: strict, ..CompileOptions::default() };
    Policy::compile(&files, Value::from_json_str("{}").unwrap(), &opts).unwrap_or_else(|e| panic!("{:?}", e))
}

/// `data.t.p` as JSON, with `input`; `None` when undefined.
fn eval_input(src: &str, input: &str) -> Option<String> {
    let input = Value::from_json_str(input).unwrap();
    compile(src, false).prepare("data.t.p").unwrap().eval(Some(&input), &EvalLimits::default()).unwrap().value.map(|v| v.to_json())
}

fn p(src: &str) -> Option<String> {
    eval_input(src, "{}")
}

/// The error of `data.t.p` with strict builtin errors: `code: message`.
fn strict_err(src: &str) -> String {
    let err = compile(src, true).prepare("data.t.p").unwrap().eval(None, &EvalLimits::default()).unwrap_err();
    format!("{}: {}", err.code, err.message)
}

#[test]
fn sprintf_f_of_integral_literals_written_as_floats() {
    assert_eq!(p(r#"p := sprintf("%f, %3.1f, %.3f", [0.0, 100.0, .0])"#).as_deref(), Some(r#""0.000000, 100.0, 0.000""#));
    assert_eq!(p(r#"p := sprintf("%f", [1e2])"#).as_deref(), Some(r#""100.000000""#));
    assert_eq!(p(r#"p := sprintf("%v %v %d %d", [1.0, 1e2, 1e2, 100])"#).as_deref(), Some(r#""1 100 %!d(float64=100) 100""#));
    assert_eq!(p(r#"p := sprintf("%f", [-1e9])"#).as_deref(), Some(r#""-1000000000.000000""#));
}

#[test]
fn sprintf_of_a_literal_beyond_float64_is_its_text() {
    assert_eq!(p(r#"p := sprintf("hi %v", [2e308])"#).as_deref(), Some(r#""hi 2e308""#));
    assert_eq!(p(r#"p := sprintf("%d", [1e400])"#).as_deref(), Some(r#""%!d(string=1e400)""#));
    // An integer written with digits only stays a big integer.
    assert_eq!(p(r#"p := sprintf("%d", [123456789012345678901234567890])"#).as_deref(), Some(r#""123456789012345678901234567890""#));
}

#[test]
fn from_input_json_too() {
    assert_eq!(eval_input(r#"p := sprintf("%f|%v|%d", [input.one, input.e, input.one])"#, r#"{"one": 1.0, "e": 1e0}"#).as_deref(), Some(r#""1.000000|1|%!d(float64=1)""#));
}

#[test]
fn integer_operand_written_with_an_exponent_is_refused() {
    // OPA's IntOperand reads the text: a zero fraction passes, an exponent does not.
    assert_eq!(p(r#"p := substring("abc", 1.0, 1)"#).as_deref(), Some(r#""b""#));
    assert_eq!(p(r#"p := substring("abc", 1e0, 1)"#), None);
    assert_eq!(strict_err(r#"p := substring("abc", 1e0, 1)"#), "eval_type_error: substring: operand 2 must be integer number but got floating-point number");
    assert_eq!(p(r#"p := time.add_date(0, 1.0, 0, 0)"#).as_deref(), Some("31536000000000000"));
    assert_eq!(p(r#"p := time.add_date(0, 1e1, 0, 0)"#), None);
    assert_eq!(p(r#"p := substring("abc", to_number("1e0"), 1)"#), None);
    // More than 19 characters after the sign is more than OPA reads as an integer.
    assert_eq!(p(r#"p := substring("abcd", 1.00000000000000000000, 1)"#), None);
    // Integer-valued operands of any spelling: numbers.range reads the value.
    assert_eq!(p("p := numbers.range(1e0, 3)").as_deref(), Some("[1,2,3]"));
    assert_eq!(eval_input(r#"p := substring("abc", input.e, 1)"#, r#"{"e": 1e0}"#), None);
}

#[test]
fn aws_signing_time_written_with_an_exponent_is_refused() {
    let src = r#"p := providers.aws.sign_req({"method": "get", "url": "http://example.com"}, {"aws_access_key": "a", "aws_secret_access_key": "b", "aws_service": "s3", "aws_region": "us-east-1"}, -1e9)"#;
    assert_eq!(strict_err(src), "eval_type_error: providers.aws.sign_req: operand 3 could not convert time_ns value into a unix timestamp");
}

#[test]
fn literals_print_as_written() {
    assert_eq!(p("p := [1.0, 1e2, 2e308, 1e400, -1e2, -0.0, 3]").as_deref(), Some("[1.0,1e2,2e308,1e400,-1e2,-0.0,3]"));
    assert_eq!(p(r#"p := json.marshal([1.0, 1e2])"#).as_deref(), Some(r#""[1.0,1e2]""#));
    assert_eq!(p("p := {1e2: 1}").as_deref(), Some(r#"{"1e2":1}"#));
    assert_eq!(p(r#"p := to_number("1e1")"#).as_deref(), Some("1e1"));
    assert_eq!(p("p := max([1.0])").as_deref(), Some("1.0"));
    // `.0` is kept as valid JSON.
    assert_eq!(p("p := .0").as_deref(), Some("0.0"));
}

#[test]
fn computed_numbers_do_not_keep_a_spelling() {
    assert_eq!(p("p := [1.0 + 0, 1e2 * 1, abs(-1e2), round(1e2), floor(1.0), ceil(1e2), sum([1e2]), 1e2 / 1]").as_deref(), Some("[1,100,100,100,1,100,100,100]"));
    assert_eq!(p(r#"p := [units.parse("1e2"), units.parse_bytes("1e2")]"#).as_deref(), Some("[100,100]"));
    assert_eq!(p("p := 1e2 % 3").as_deref(), Some("1"));
    assert_eq!(p(r#"p := yaml.marshal([1e2, 1.0, 2e308])"#).as_deref(), Some(r#""- 100\n- 1\n- 2e308\n""#));
}

#[test]
fn equality_order_and_hashing_by_value() {
    assert_eq!(p("p := [1.0 == 1, 1e2 == 100, [1.0] == [1], {1e2} == {100}, {\"a\": 1e2} == {\"a\": 100}, 1e400 > 1e399, 1e2 < 101]").as_deref(), Some("[true,true,true,true,true,true,true]"));
    assert_eq!(p("p := count({1.0, 1, 1e0})").as_deref(), Some("1"));
    assert_eq!(p("p := {1e2: \"a\"}[100]").as_deref(), Some(r#""a""#));
}

#[test]
fn array_index_as_opa_reads_it() {
    // A zero fraction indexes; an exponent does not (OPA's `Number.Int`).
    let input = r#"{"a": [1, 2], "one": 1.0, "e": 1e0}"#;
    assert_eq!(eval_input("p := input.a[input.one]", input).as_deref(), Some("2"));
    assert_eq!(eval_input("p := input.a[input.e]", input), None);
}

#[test]
fn decimals_beyond_float64_compare_exactly() {
    // OPA compares the decimals the texts denote; no f64 tells these apart.
    assert_eq!(p("p := [0.1234567890123456789 > 0.1234567890123456788, 0.1234567890123456789 == 0.1234567890123456788, 1e-400 > 0, -1e-400 < 0, 1e-400 < 1e-399, 1e-400 < 0.5]").as_deref(), Some("[true,false,true,true,true,true]"));
    assert_eq!(p("p := count({0.1234567890123456789, 0.1234567890123456788, 0.12345678901234567890})").as_deref(), Some("2"));
    // They print as written, and format as their nearest float (OPA's %v of 1e-400 is 0).
    assert_eq!(p("p := [1e-400, 0.1234567890123456789]").as_deref(), Some("[1e-400,0.1234567890123456789]"));
    assert_eq!(p(r#"p := sprintf("%v", [1e-400])"#).as_deref(), Some(r#""0""#));
    assert_eq!(p(r#"p := substring("abc", 1e-400, 1)"#), None);
    // Up to 17 significant digits an f64 holds them: plain floats, as before.
    assert_eq!(p("p := [0.1 < 0.10000000000001, 0.10 == 0.1, 3.50 == 3.5]").as_deref(), Some("[true,true,true]"));
}

#[test]
fn array_slice_indices_are_integer_operands() {
    assert_eq!(p("p := array.slice([1, 2, 3], 1.0, 9)").as_deref(), Some("[2,3]"));
    assert_eq!(p("p := array.slice([1, 2, 3], 1.5, 3)"), None);
    assert_eq!(p("p := array.slice([1, 2, 3], 1e0, 3)"), None);
    assert_eq!(strict_err("p := array.slice([1, 2, 3], 0, 99999999999999999999)"), "eval_type_error: array.slice: operand 3 must be integer number but got floating-point number");
}

#[test]
fn a_fraction_beyond_float64_is_no_integer_operand() {
    // Its nearest f64 is 1, but OPA reads the text: not an integer.
    assert_eq!(p(r#"p := substring("abc", 1.00000000000000001, 1)"#), None);
    assert_eq!(p("p := 1.00000000000000001 > 1").as_deref(), Some("true"));
}

#[test]
fn sprintf_names_go_types_and_keeps_flags_on_a_bad_verb() {
    // OPA hands sprintf an int64, a float64, a *big.Int or a string.
    assert_eq!(p(r#"p := sprintf("%s|%T|%T|%T|%T", [5, 1, 1.5, "a", 1e400])"#).as_deref(), Some(r#""%!s(int64=5)|int64|float64|string|string""#));
    // Go prints the argument of a bad verb with the verb's width and precision.
    assert_eq!(
        p(r#"p := sprintf("%5d|%.1d|%05s|%-4d|%.2f|%+x|%08.3d", ["x", 1.25, 3, "y", 2e308, true, "abcdef"])"#).as_deref(),
        Some(r#""%!d(string=    x)|%!d(float64=1)|%!s(int64=00003)|%!d(string=y   )|%!f(string=2e)|74727565|%!d(string=00000abc)""#)
    );
}
