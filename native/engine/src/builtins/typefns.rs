//! Type predicates, `type_name`, `to_number` and the deprecated `cast_*`.

use super::{type_err, BuiltinError, BuiltinResult, Ctx, Registry};
use crate::number::Number;
use crate::value::Value;

pub fn register(r: &mut Registry) {
    r.func("types", "is_number", "(any) => boolean", |_, a| is(a, |v| matches!(v, Value::Number(_))));
    r.func("types", "is_string", "(any) => boolean", |_, a| is(a, |v| matches!(v, Value::String(_))));
    r.func("types", "is_boolean", "(any) => boolean", |_, a| is(a, |v| matches!(v, Value::Bool(_))));
    r.func("types", "is_array", "(any) => boolean", |_, a| is(a, |v| matches!(v, Value::Array(_))));
    r.func("types", "is_set", "(any) => boolean", |_, a| is(a, |v| matches!(v, Value::Set(_))));
    r.func("types", "is_object", "(any) => boolean", |_, a| is(a, |v| matches!(v, Value::Object(_))));
    r.func("types", "is_null", "(any) => boolean", |_, a| is(a, |v| matches!(v, Value::Null)));
    r.func("types", "type_name", "(any) => string", type_name);
    r.func("conversions", "to_number", "(any<null, boolean, number, string>) => number", to_number);
    r.func("casts", "cast_array", "(any) => array[any]", cast_array);
    r.func("casts", "cast_set", "(any) => set[any]", cast_set);
    r.func("casts", "cast_string", "(any) => string", |_, a| cast(a, "string", |v| matches!(v, Value::String(_))));
    r.func("casts", "cast_boolean", "(any) => boolean", |_, a| cast(a, "boolean", |v| matches!(v, Value::Bool(_))));
    r.func("casts", "cast_null", "(any) => null", |_, a| cast(a, "null", |v| matches!(v, Value::Null)));
    r.func("casts", "cast_object", "(any) => object[any: any]", |_, a| cast(a, "object", |v| matches!(v, Value::Object(_))));
}

fn first(a: &[Value]) -> Result<&Value, BuiltinError> {
    a.first().ok_or_else(|| BuiltinError::Eval("missing operand 1".into()))
}

/// OPA's `is_*` are false (not undefined) for other types.
fn is(a: &[Value], p: fn(&Value) -> bool) -> BuiltinResult {
    Ok(Value::Bool(p(first(a)?)))
}

fn type_name(_: &mut Ctx, a: &[Value]) -> BuiltinResult {
    Ok(Value::string(first(a)?.type_name()))
}

fn to_number(_: &mut Ctx, a: &[Value]) -> BuiltinResult {
    match first(a)? {
        Value::Null => Ok(Value::int(0)),
        Value::Bool(b) => Ok(Value::int(*b as i64)),
        v @ Value::Number(_) => Ok(v.clone()),
        Value::String(s) if s.len() > Number::MAX_TEXT => {
            Err(super::limit_error(format!("to_number: operand of {} bytes is longer than the {} a number may have", s.len(), Number::MAX_TEXT)))
        }
        Value::String(s) => parse_number(s).map(Value::Number).ok_or_else(|| {
            let lower = s.to_ascii_lowercase();
            // OPA refuses the Inf/NaN spellings Go's parser would accept as a type error.
            if matches!(lower.trim_start_matches(['+', '-']), "inf" | "infinity" | "nan") {
                BuiltinError::Type(format!("operand 1 must be valid number string, got {}", s.as_ref()))
            } else {
                BuiltinError::Eval(format!("strconv.ParseFloat: parsing {:?}: invalid syntax", s.as_ref()))
            }
        }),
        v => Err(BuiltinError::Type(format!(
            "operand 1 must be one of {{null, boolean, number, string}} but got {}",
            v.type_name()
        ))),
    }
}

/// A number as Go's `json.Number`/`strconv.ParseFloat` accept it; rejects
/// `Inf`/`NaN` spellings, as OPA does.
fn parse_number(s: &str) -> Option<Number> {
    let lower = s.to_ascii_lowercase();
    if lower.contains("inf") || lower.contains("nan") || lower.starts_with("0x") || s.trim() != s || s.is_empty() {
        return None;
    }
    if let Some(n) = Number::parse(s) {
        return Some(n);
    }
    let t = s.strip_prefix('+').unwrap_or(s);
    Number::parse(t).or_else(|| t.parse::<f64>().ok().filter(|f| f.is_finite()).map(Number::from_f64))
}

fn cast_array(_: &mut Ctx, a: &[Value]) -> BuiltinResult {
    match first(a)? {
        v @ Value::Array(_) => Ok(v.clone()),
        Value::Set(s) => Ok(Value::from_array(s.iter().cloned().collect())),
        v => Err(type_err(0, "one of {array, set}", v)),
    }
}

fn cast_set(_: &mut Ctx, a: &[Value]) -> BuiltinResult {
    match first(a)? {
        v @ Value::Set(_) => Ok(v.clone()),
        Value::Array(s) => Ok(Value::from_set(s.iter().cloned().collect())),
        v => Err(type_err(0, "one of {array, set}", v)),
    }
}

fn cast(a: &[Value], want: &str, p: fn(&Value) -> bool) -> BuiltinResult {
    let v = first(a)?;
    if p(v) {
        Ok(v.clone())
    } else {
        Err(type_err(0, want, v))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    fn c() -> Ctx {
        Ctx::new(0, true)
    }
    #[test]
    fn num_str() {
        assert_eq!(to_number(&mut c(), &[Value::string("-1.5")]), Ok(Value::float(-1.5)));
    }
    #[test]
    fn num_inf() {
        assert!(to_number(&mut c(), &[Value::string("Inf")]).is_err());
    }
    #[test]
    fn num_bool() {
        assert_eq!(to_number(&mut c(), &[Value::Bool(true)]), Ok(Value::int(1)));
    }
    #[test]
    fn tn() {
        assert_eq!(type_name(&mut c(), &[Value::empty_set()]), Ok(Value::string("set")));
    }
}
