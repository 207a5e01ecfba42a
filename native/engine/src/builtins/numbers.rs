//! Number builtins: rounding, ranges, `rand.intn` and bitwise operations on
//! integers of any size.

use super::{arg_num, arg_str, BuiltinError, BuiltinResult, Ctx, Registry};
use crate::number::Number;
use crate::value::Value;
use num_bigint::BigInt;
use num_traits::{Signed, ToPrimitive, Zero};

/// Ranges longer than this are refused rather than exhausting memory.
const MAX_RANGE: u64 = 10_000_000;

pub fn register(r: &mut Registry) {
    r.func("numbers", "abs", "(number) => number", |_, a| Ok(Value::Number(arg_num(a, 0)?.abs())));
    r.func("numbers", "ceil", "(number) => number", |_, a| rounding(a, f64::ceil));
    r.func("numbers", "floor", "(number) => number", |_, a| rounding(a, f64::floor));
    r.func("numbers", "round", "(number) => number", |_, a| rounding(a, f64::round));
    r.func("numbers", "numbers.range", "(number, number) => array[number]", range);
    r.func("numbers", "numbers.range_step", "(number, number, number) => array[number]", range_step);
    r.nondeterministic("numbers", "rand.intn", "(string, number) => number", intn);
    r.func("bits", "bits.and", "(number, number) => number", |_, a| Ok(big(int(a, 0)? & int(a, 1)?)));
    r.func("bits", "bits.or", "(number, number) => number", |_, a| Ok(big(int(a, 0)? | int(a, 1)?)));
    r.func("bits", "bits.xor", "(number, number) => number", |_, a| Ok(big(int(a, 0)? ^ int(a, 1)?)));
    r.func("bits", "bits.negate", "(number) => number", |_, a| Ok(big(!int(a, 0)?)));
    r.func("bits", "bits.lsh", "(number, number) => number", |_, a| Ok(big(int(a, 0)? << shift(a)?)));
    r.func("bits", "bits.rsh", "(number, number) => number", |_, a| Ok(big(int(a, 0)? >> shift(a)?)));
}

fn big(b: BigInt) -> Value {
    Value::Number(Number::from_bigint(b))
}

/// An integer operand of any size.
fn int(a: &[Value], i: usize) -> Result<BigInt, BuiltinError> {
    let n = arg_num(a, i)?;
    n.as_bigint().filter(|_| n.is_integer()).ok_or_else(|| {
        BuiltinError::Type(format!("operand {} must be integer number but got floating-point number", i + 1))
    })
}

/// The shift operand of `bits.lsh`/`bits.rsh`.
fn shift(a: &[Value]) -> Result<usize, BuiltinError> {
    let s = int(a, 1)?;
    if s.is_negative() {
        return Err(BuiltinError::Type("operand 2 must be an unsigned integer number but got a negative integer".into()));
    }
    s.to_usize().filter(|s| *s <= 1 << 20).ok_or_else(|| BuiltinError::Eval("shift too large".into()))
}

fn rounding(a: &[Value], f: fn(f64) -> f64) -> BuiltinResult {
    match arg_num(a, 0)? {
        Number::Float(x) => Ok(Value::Number(Number::from_f64(f(*x)))),
        n => Ok(Value::Number(n.plain().clone())),
    }
}

fn range(ctx: &mut Ctx, a: &[Value]) -> BuiltinResult {
    build_range(ctx, int(a, 0)?, int(a, 1)?, BigInt::from(1))
}

fn range_step(ctx: &mut Ctx, a: &[Value]) -> BuiltinResult {
    let (from, to, step) = (int(a, 0)?, int(a, 1)?, int(a, 2)?);
    if !step.is_positive() {
        return Err(BuiltinError::Eval("step must be a positive integer".into()));
    }
    build_range(ctx, from, to, step)
}

/// `from` to `to` inclusive by `step` (> 0), descending when `to < from`.
fn build_range(ctx: &mut Ctx, from: BigInt, to: BigInt, step: BigInt) -> BuiltinResult {
    let len = ((&to - &from).abs() / &step).to_u64().unwrap_or(u64::MAX);
    if len >= MAX_RANGE {
        return Err(BuiltinError::Eval(format!("range too large: more than {} elements", MAX_RANGE)));
    }
    // Charged before the array is allocated.
    ctx.charge_bytes((len as usize + 1) * std::mem::size_of::<Value>())?;
    let step = if to < from { -step } else { step };
    let mut out = Vec::with_capacity(len as usize + 1);
    let mut x = from;
    for _ in 0..=len {
        out.push(big(x.clone()));
        x += &step;
    }
    Ok(Value::from_array(out))
}

/// Random in [0, |n|), the same for the same arguments within one query.
fn intn(ctx: &mut Ctx, a: &[Value]) -> BuiltinResult {
    arg_str(a, 0)?;
    let n = int(a, 1)?.abs();
    let key = ("rand.intn".to_string(), a.to_vec());
    if let Some(v) = ctx.memo.get(&key) {
        return Ok(v.clone());
    }
    let v = if n.is_zero() {
        Value::int(0)
    } else {
        let r = BigInt::from(rand::random::<u64>()) * BigInt::from(rand::random::<u64>());
        big(r % n)
    };
    ctx.memo.insert(key, v.clone());
    Ok(v)
}

#[cfg(test)]
mod tests {
    use super::*;
    fn c() -> Ctx {
        Ctx::new(0, true)
    }
    fn ints(v: &[i64]) -> Value {
        Value::from_array(v.iter().map(|i| Value::int(*i)).collect())
    }
    #[test]
    fn round_half_away() {
        assert_eq!(rounding(&[Value::float(-2.5)], f64::round), Ok(Value::int(-3)));
    }
    #[test]
    fn range_desc() {
        assert_eq!(range(&mut c(), &[Value::int(2), Value::int(0)]), Ok(ints(&[2, 1, 0])));
    }
    #[test]
    fn range_step_incl() {
        assert_eq!(range_step(&mut c(), &[Value::int(0), Value::int(4), Value::int(2)]), Ok(ints(&[0, 2, 4])));
    }
    #[test]
    fn rand_memo() {
        let mut ctx = c();
        let a = [Value::string("k"), Value::int(1000)];
        assert_eq!(intn(&mut ctx, &a), intn(&mut ctx, &a));
    }
    #[test]
    fn float_bits() {
        assert!(int(&[Value::float(1.5)], 0).is_err());
    }
}
