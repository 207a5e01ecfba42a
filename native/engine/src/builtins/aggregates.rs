//! Aggregates over collections: count, sum, product, max, min, sort, all, any.

use super::operators::one_of_err;
use super::{BuiltinError, BuiltinResult, Ctx, Registry};
use crate::number::Number;
use crate::value::Value;

pub fn register(r: &mut Registry) {
    r.func("aggregates", "count", "(any<string, array[any], object[any: any], set[any]>) => number", count);
    r.func("aggregates", "sum", "(any<array[number], set[number]>) => number", sum);
    r.func("aggregates", "product", "(any<array[number], set[number]>) => number", product);
    r.func("aggregates", "max", "(any<array[any], set[any]>) => any", max);
    r.func("aggregates", "min", "(any<array[any], set[any]>) => any", min);
    r.func("aggregates", "sort", "(any<array[any], set[any]>) => array[any]", sort);
    r.func("aggregates", "all", "(any<array[any], set[any]>) => boolean", all);
    r.func("aggregates", "any", "(any<array[any], set[any]>) => boolean", any);
}

fn first(a: &[Value]) -> Result<&Value, BuiltinError> {
    a.first().ok_or_else(|| BuiltinError::Eval("missing operand 1".into()))
}

/// The elements of an array or set operand, in order.
fn elems<'a>(a: &'a [Value], want: &[&str]) -> Result<Box<dyn Iterator<Item = &'a Value> + 'a>, BuiltinError> {
    match first(a)? {
        Value::Array(v) => Ok(Box::new(v.iter())),
        Value::Set(s) => Ok(Box::new(s.iter())),
        v => Err(one_of_err(0, want, v)),
    }
}

fn count(_: &mut Ctx, a: &[Value]) -> BuiltinResult {
    let n = match first(a)? {
        Value::String(s) => s.chars().count(),
        Value::Array(v) => v.len(),
        Value::Object(o) => o.len(),
        Value::Set(s) => s.len(),
        v => return Err(one_of_err(0, &["array", "object", "set", "string"], v)),
    };
    Ok(Value::int(n as i64))
}

fn fold(a: &[Value], init: Number, f: fn(&Number, &Number) -> Number) -> BuiltinResult {
    let container = first(a)?;
    let mut acc = init;
    for e in elems(a, &["set", "array"])? {
        match e {
            Value::Number(n) => acc = f(&acc, n),
            e => {
                return Err(BuiltinError::Type(format!(
                    "operand 1 must be {} of number but got {} containing {}",
                    container.type_name(),
                    container.type_name(),
                    e.type_name()
                )))
            }
        }
    }
    Ok(Value::Number(acc))
}

fn sum(_: &mut Ctx, a: &[Value]) -> BuiltinResult {
    fold(a, Number::Int(0), Number::add)
}

fn product(_: &mut Ctx, a: &[Value]) -> BuiltinResult {
    fold(a, Number::Int(1), Number::mul)
}

fn max(_: &mut Ctx, a: &[Value]) -> BuiltinResult {
    elems(a, &["set", "array"])?.max().cloned().ok_or(BuiltinError::Undefined)
}

fn min(_: &mut Ctx, a: &[Value]) -> BuiltinResult {
    elems(a, &["set", "array"])?.min().cloned().ok_or(BuiltinError::Undefined)
}

fn sort(_: &mut Ctx, a: &[Value]) -> BuiltinResult {
    let mut v: Vec<Value> = elems(a, &["set", "array"])?.cloned().collect();
    v.sort();
    Ok(Value::from_array(v))
}

fn all(_: &mut Ctx, a: &[Value]) -> BuiltinResult {
    Ok(Value::Bool(elems(a, &["array", "set"])?.all(|e| *e == Value::Bool(true))))
}

fn any(_: &mut Ctx, a: &[Value]) -> BuiltinResult {
    Ok(Value::Bool(elems(a, &["array", "set"])?.any(|e| *e == Value::Bool(true))))
}

#[cfg(test)]
mod tests {
    use super::*;
    fn c() -> Ctx {
        Ctx::new(0, true)
    }
    fn arr(v: Vec<Value>) -> Value {
        Value::from_array(v)
    }
    #[test]
    fn count_str() {
        assert_eq!(count(&mut c(), &[Value::string("héllo")]), Ok(Value::int(5)));
    }
    #[test]
    fn sum_ints() {
        assert_eq!(sum(&mut c(), &[arr(vec![Value::int(1), Value::int(2)])]), Ok(Value::int(3)));
    }
    #[test]
    fn sum_bad() {
        assert_eq!(sum(&mut c(), &[arr(vec![Value::string("a")])]), Err(BuiltinError::Type("operand 1 must be array of number but got array containing string".into())));
    }
    #[test]
    fn max_empty() {
        assert_eq!(max(&mut c(), &[arr(vec![])]), Err(BuiltinError::Undefined));
    }
    #[test]
    fn sort_mixed() {
        assert_eq!(sort(&mut c(), &[arr(vec![Value::int(1), Value::Null])]), Ok(arr(vec![Value::Null, Value::int(1)])));
    }
}
