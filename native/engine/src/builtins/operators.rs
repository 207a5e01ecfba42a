//! Infix operators: arithmetic, comparison, set intersection (`&`) and union (`|`).
//! `=`, `:=` and `in` are the evaluator's.

use super::{arg_num, arg_set, BuiltinError, BuiltinResult, Builtin, Ctx, Registry};
use crate::value::Value;

fn op(r: &mut Registry, category: &'static str, name: &'static str, infix: &'static str, decl: &'static str, f: super::BuiltinFn) {
    r.add(Builtin { name, decl, infix: Some(infix), deterministic: true, category, func: Some(f) });
}

pub fn register(r: &mut Registry) {
    op(r, "numbers", "plus", "+", "(number, number) => number", plus);
    op(r, "numbers", "minus", "-", "(any<number, set[any]>, any<number, set[any]>) => any<number, set[any]>", minus);
    op(r, "numbers", "mul", "*", "(number, number) => number", mul);
    op(r, "numbers", "div", "/", "(number, number) => number", div);
    op(r, "numbers", "rem", "%", "(number, number) => number", rem);
    op(r, "comparison", "equal", "==", "(any, any) => boolean", equal);
    op(r, "comparison", "neq", "!=", "(any, any) => boolean", neq);
    op(r, "comparison", "lt", "<", "(any, any) => boolean", lt);
    op(r, "comparison", "lte", "<=", "(any, any) => boolean", lte);
    op(r, "comparison", "gt", ">", "(any, any) => boolean", gt);
    op(r, "comparison", "gte", ">=", "(any, any) => boolean", gte);
    op(r, "sets", "and", "&", "(set[any], set[any]) => set[any]", and);
    op(r, "sets", "or", "|", "(set[any], set[any]) => set[any]", or);
}

fn plus(_: &mut Ctx, a: &[Value]) -> BuiltinResult {
    Ok(Value::Number(arg_num(a, 0)?.add(arg_num(a, 1)?)))
}

fn mul(_: &mut Ctx, a: &[Value]) -> BuiltinResult {
    Ok(Value::Number(arg_num(a, 0)?.mul(arg_num(a, 1)?)))
}

fn div(_: &mut Ctx, a: &[Value]) -> BuiltinResult {
    let (x, y) = (arg_num(a, 0)?, arg_num(a, 1)?);
    x.div(y).map(Value::Number).map_err(|e| BuiltinError::Eval(e.into()))
}

fn rem(_: &mut Ctx, a: &[Value]) -> BuiltinResult {
    let (x, y) = (arg_num(a, 0)?, arg_num(a, 1)?);
    if x.is_integer() && y.is_integer() {
        if let (Some(xi), Some(yi)) = (x.as_bigint(), y.as_bigint()) {
            if yi == num_bigint::BigInt::from(0) {
                return Err(BuiltinError::Eval("modulo by zero".into()));
            }
            return Ok(Value::Number(crate::number::Number::from_bigint(xi % yi)));
        }
    }
    x.rem(y).map(Value::Number).map_err(|e| BuiltinError::Eval(e.into()))
}

/// OPA's `NewOperandTypeErr` with several expected types.
pub(crate) fn one_of_err(pos: usize, want: &[&str], got: &Value) -> BuiltinError {
    BuiltinError::Type(format!("operand {} must be one of {{{}}} but got {}", pos + 1, want.join(", "), got.type_name()))
}

fn minus(_: &mut Ctx, a: &[Value]) -> BuiltinResult {
    match (a.first(), a.get(1)) {
        (Some(Value::Number(x)), Some(Value::Number(y))) => Ok(Value::Number(x.sub(y))),
        (Some(Value::Set(x)), Some(Value::Set(y))) => Ok(Value::from_set(x.difference(y).cloned().collect())),
        (Some(x @ (Value::Number(_) | Value::Set(_))), Some(y)) => {
            if matches!(y, Value::Number(_) | Value::Set(_)) {
                Err(super::type_err(1, x.type_name(), y))
            } else {
                Err(one_of_err(1, &["number", "set"], y))
            }
        }
        (Some(x), _) => Err(one_of_err(0, &["number", "set"], x)),
        _ => Err(BuiltinError::Eval("missing operand".into())),
    }
}

fn pair(a: &[Value]) -> Result<(&Value, &Value), BuiltinError> {
    match (a.first(), a.get(1)) {
        (Some(x), Some(y)) => Ok((x, y)),
        _ => Err(BuiltinError::Eval("missing operand".into())),
    }
}

fn equal(_: &mut Ctx, a: &[Value]) -> BuiltinResult {
    pair(a).map(|(x, y)| Value::Bool(x == y))
}
fn neq(_: &mut Ctx, a: &[Value]) -> BuiltinResult {
    pair(a).map(|(x, y)| Value::Bool(x != y))
}
fn lt(_: &mut Ctx, a: &[Value]) -> BuiltinResult {
    pair(a).map(|(x, y)| Value::Bool(x < y))
}
fn lte(_: &mut Ctx, a: &[Value]) -> BuiltinResult {
    pair(a).map(|(x, y)| Value::Bool(x <= y))
}
fn gt(_: &mut Ctx, a: &[Value]) -> BuiltinResult {
    pair(a).map(|(x, y)| Value::Bool(x > y))
}
fn gte(_: &mut Ctx, a: &[Value]) -> BuiltinResult {
    pair(a).map(|(x, y)| Value::Bool(x >= y))
}

fn and(_: &mut Ctx, a: &[Value]) -> BuiltinResult {
    let (x, y) = (arg_set(a, 0)?, arg_set(a, 1)?);
    Ok(Value::from_set(x.intersection(y).cloned().collect()))
}

fn or(_: &mut Ctx, a: &[Value]) -> BuiltinResult {
    let (x, y) = (arg_set(a, 0)?, arg_set(a, 1)?);
    Ok(Value::from_set(x.union(y).cloned().collect()))
}

#[cfg(test)]
mod tests {
    use super::*;
    fn c() -> Ctx {
        Ctx::new(0, true)
    }
    #[test]
    fn add() {
        assert_eq!(plus(&mut c(), &[Value::int(1), Value::int(2)]), Ok(Value::int(3)));
    }
    #[test]
    fn div_zero() {
        assert_eq!(div(&mut c(), &[Value::int(1), Value::int(0)]), Err(BuiltinError::Eval("divide by zero".into())));
    }
    #[test]
    fn rem_float() {
        assert!(rem(&mut c(), &[Value::float(1.5), Value::int(1)]).is_err());
    }
    #[test]
    fn minus_type() {
        assert_eq!(minus(&mut c(), &[Value::string("a"), Value::int(1)]), Err(BuiltinError::Type("operand 1 must be one of {number, set} but got string".into())));
    }
    #[test]
    fn cmp() {
        assert_eq!(lt(&mut c(), &[Value::Null, Value::int(1)]), Ok(Value::Bool(true)));
    }
}
