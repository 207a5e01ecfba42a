//! `intersection` and `union` over a set of sets.

use super::{arg_set, BuiltinError, BuiltinResult, Ctx, Registry};
use crate::value::{Set, Value};

pub fn register(r: &mut Registry) {
    r.func("sets", "intersection", "(set[set[any]]) => set[any]", intersection);
    r.func("sets", "union", "(set[set[any]]) => set[any]", union);
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
