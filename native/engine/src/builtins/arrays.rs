//! Array builtins: concat, slice, reverse, flatten.

use super::{arg_array, arg_int, BuiltinResult, Ctx, Registry};
use crate::value::Value;

pub fn register(r: &mut Registry) {
    r.func("array", "array.concat", "(array[any], array[any]) => array[any]", concat);
    r.func("array", "array.slice", "(array[any], number, number) => array[any]", slice);
    r.func("array", "array.reverse", "(array[any]) => array[any]", reverse);
    r.func("array", "array.flatten", "(array[any]) => array[any]", flatten);
}

fn concat(_: &mut Ctx, a: &[Value]) -> BuiltinResult {
    let (x, y) = (arg_array(a, 0)?, arg_array(a, 1)?);
    Ok(Value::from_array(x.iter().chain(y.iter()).cloned().collect()))
}

/// Indices are integer operands (OPA's `IntOperand`: `1.5` and `1e0` are
/// refused), clamped to the array.
fn slice(_: &mut Ctx, a: &[Value]) -> BuiltinResult {
    let arr = arg_array(a, 0)?;
    let len = arr.len() as i64;
    let start = arg_int(a, 1)?.clamp(0, len);
    let stop = arg_int(a, 2)?.clamp(0, len);
    if start >= stop {
        return Ok(Value::empty_array());
    }
    Ok(Value::from_array(arr[start as usize..stop as usize].to_vec()))
}

fn reverse(_: &mut Ctx, a: &[Value]) -> BuiltinResult {
    Ok(Value::from_array(arg_array(a, 0)?.iter().rev().cloned().collect()))
}

/// One level only, as OPA: `[[1], [[2]]]` becomes `[1, [2]]`.
fn flatten(_: &mut Ctx, a: &[Value]) -> BuiltinResult {
    let mut out = Vec::new();
    for x in arg_array(a, 0)? {
        match x {
            Value::Array(inner) => out.extend(inner.iter().cloned()),
            x => out.push(x.clone()),
        }
    }
    Ok(Value::from_array(out))
}

#[cfg(test)]
mod tests {
    use super::*;
    fn ints(v: &[i64]) -> Value {
        Value::from_array(v.iter().map(|i| Value::int(*i)).collect())
    }
    #[test]
    fn slice_clamps() {
        assert_eq!(slice(&mut Ctx::new(0, true), &[ints(&[1, 2, 3]), Value::int(-1), Value::int(10)]), Ok(ints(&[1, 2, 3])));
    }
    #[test]
    fn slice_empty() {
        assert_eq!(slice(&mut Ctx::new(0, true), &[ints(&[1, 2, 3]), Value::int(2), Value::int(1)]), Ok(ints(&[])));
    }
    #[test]
    fn flat() {
        let nested = Value::from_array(vec![Value::int(1), ints(&[2, 3])]);
        assert_eq!(flatten(&mut Ctx::new(0, true), &[nested]), Ok(ints(&[1, 2, 3])));
    }
    #[test]
    fn flat_one_level_only() {
        let deep = Value::from_array(vec![ints(&[1]), Value::from_array(vec![ints(&[2])])]);
        assert_eq!(flatten(&mut Ctx::new(0, true), &[deep]), Ok(Value::from_array(vec![Value::int(1), ints(&[2])])));
    }
}
