//! `intersection` and `union` over a set of sets.

use super::{arg_set, BuiltinError, BuiltinResult, Ctx, Registry};
use crate::value::{Set, Value};

pub fn register(r: &mut Registry) {
    r.func("sets", "intersection", "(set[set[any]]) => set[any]", intersection);
    r.func("sets", "union", "(set[set[any]]) => set[any]", union);
    // Deprecated (v0 only, as `a - b`); the compiler refuses it in v1 modules.
    r.func("sets", "set_diff", "(set[any], set[any]) => set[any]", set_diff);
}

fn set_diff(_: &mut Ctx, a: &[Value]) -> BuiltinResult {
    let (x, y) = (arg_set(a, 0)?, arg_set(a, 1)?);
    Ok(Value::from_set(x.iter().filter(|v| !y.contains(v)).cloned().collect()))
}

fn inner(a: &[Value]) -> Result<Vec<&Set>, BuiltinError> {
    let outer = arg_set(a, 0)?;
    outer
        .iter()
        .map(|v| match v {
            Value::Set(s) => Ok(&**s),
            v => Err(BuiltinError::Type(format!("operand 1 must be set of set but got set containing {}", v.type_name()))),
        })
        .collect()
}

fn intersection(_: &mut Ctx, a: &[Value]) -> BuiltinResult {
    let sets = inner(a)?;
    let mut it = sets.into_iter();
    let Some(first) = it.next() else { return Ok(Value::empty_set()) };
    let mut acc: Set = first.clone();
    for s in it {
        acc.retain(|x| s.contains(x));
    }
    Ok(Value::from_set(acc))
}

fn union(_: &mut Ctx, a: &[Value]) -> BuiltinResult {
    let mut acc = Set::new();
    for s in inner(a)? {
        acc.extend(s.iter().cloned());
    }
    Ok(Value::from_set(acc))
}

#[cfg(test)]
mod tests {
    use super::*;
    fn set(v: Vec<Value>) -> Value {
        Value::from_set(v.into_iter().collect())
    }
    #[test]
    fn inter() {
        let a = set(vec![set(vec![Value::int(1), Value::int(2)]), set(vec![Value::int(2)])]);
        assert_eq!(intersection(&mut Ctx::new(0, true), &[a]), Ok(set(vec![Value::int(2)])));
    }
    #[test]
    fn uni_empty() {
        assert_eq!(union(&mut Ctx::new(0, true), &[set(vec![])]), Ok(set(vec![])));
    }
}

#[cfg(test)]
mod set_diff_tests {
    use super::*;

    #[test]
    fn set_diff_keeps_what_the_second_set_lacks() {
        let s = |xs: &[i64]| Value::from_set(xs.iter().map(|&x| Value::int(x)).collect());
        assert_eq!(set_diff(&mut Ctx::new(0, true), &[s(&[1, 2, 3]), s(&[2, 4])]), Ok(s(&[1, 3])));
    }
}
