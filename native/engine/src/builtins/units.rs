//! `units.parse` and `units.parse_bytes`: amounts with SI (`K`, `M`, `G`...)
//! and binary (`Ki`, `Mi`, `KiB`...) suffixes, computed exactly.
//!
//! `units.parse` keeps the case of the first unit letter (`m` is milli, `M`
//! is mega) and returns an integer when the amount is whole, else a decimal
//! rounded to 10 places; `units.parse_bytes` ignores case and truncates to a
//! whole number of bytes. Both drop `"` characters and refuse spaces.

use super::{arg_str, BuiltinError, BuiltinResult, Ctx, Registry};
use crate::number::Number;
use crate::value::Value;
use num_bigint::BigInt;
use num_integer::Integer;
use num_traits::{Signed, Zero};

pub fn register(r: &mut Registry) {
    r.func("units", "units.parse", "(string) => number", parse);
    r.func("units", "units.parse_bytes", "(string) => number", parse_bytes);
}

/// Exponents with more digits than this are refused (as OPA does).
const MAX_EXPONENT_DIGITS: usize = 6;
/// Largest power of ten an amount may reach; beyond it the result would be
/// an integer of more than this many digits.
const MAX_POW10: i64 = 10_000;

fn err(msg: &str) -> BuiltinError {
    BuiltinError::Eval(msg.to_string())
}

/// Splits `10.5e3KiB` into the amount `10.5e3` and the unit `KiB`. An `e`
/// belongs to the amount only when a digit or sign follows it.
fn split_amount(s: &str) -> Result<(&str, &str), BuiltinError> {
    let b = s.as_bytes();
    let mut boundary = None;
    let mut i = 0;
    while i < b.len() {
        let c = b[i];
        if !(c.is_ascii_digit() || c == b'.' || c == b'e' || c == b'E' || c == b'+' || c == b'-') {
            boundary = Some(i);
            break;
        }
        if c == b'e' || c == b'E' {
            match b.get(i + 1) {
                Some(n) if n.is_ascii_digit() || *n == b'+' || *n == b'-' => {}
                _ => {
                    boundary = Some(i);
                    break;
                }
            }
            if matches!(b.get(i + 1), Some(b'+' | b'-')) {
                i += 1;
            }
            let digits = b[i + 1..].iter().take_while(|d| d.is_ascii_digit()).count();
            if digits > MAX_EXPONENT_DIGITS {
                return Err(err("exponent too large"));
            }
        }
        i += 1;
    }
    Ok(match boundary {
        None => (s, ""),
        Some(k) => (&s[..k], &s[k..]),
    })
}

/// An exact decimal: `mant × 10^exp`.
struct Decimal {
    mant: BigInt,
    exp: i64,
}

/// `[+-]digits[.digits][e[+-]digits]`, at least one mantissa digit.
fn parse_decimal(s: &str) -> Option<Decimal> {
    let (mant_s, exp_s) = match s.find(['e', 'E']) {
        Some(i) => (&s[..i], Some(&s[i + 1..])),
        None => (s, None),
    };
    let (neg, body) = match mant_s.as_bytes().first() {
        Some(b'-') => (true, &mant_s[1..]),
        Some(b'+') => (false, &mant_s[1..]),
        _ => (false, mant_s),
    };
    let (ip, fp) = body.split_once('.').unwrap_or((body, ""));
    if ip.is_empty() && fp.is_empty() {
        return None;
    }
    if !ip.bytes().all(|c| c.is_ascii_digit()) || !fp.bytes().all(|c| c.is_ascii_digit()) {
        return None;
    }
    let mut exp: i64 = match exp_s {
        Some(e) => {
            let digits = e.strip_prefix(['+', '-']).unwrap_or(e);
            if digits.is_empty() || !digits.bytes().all(|c| c.is_ascii_digit()) {
                return None;
            }
            e.parse().ok()?
        }
        None => 0,
    };
    let digits = format!("{}{}", ip, fp);
    let mut mant: BigInt = digits.parse().ok()?;
    exp -= fp.len() as i64;
    if neg {
        mant = -mant;
    }
    Some(Decimal { mant, exp })
}

fn pow10(n: i64) -> BigInt {
    num_traits::pow(BigInt::from(10), n.max(0) as usize)
}

/// `amount × mult × 10^shift` as a fraction `num / den` (den > 0).
fn scaled(d: &Decimal, mult: u64, shift: i64) -> Result<(BigInt, BigInt), BuiltinError> {
    let num = &d.mant * BigInt::from(mult);
    let e = d.exp + shift;
    if num.is_zero() {
        return Ok((num, BigInt::from(1)));
    }
    let digits = num.magnitude().bits() as i64 * 30103 / 100000 + 1;
    if e + digits > MAX_POW10 {
        return Err(err("exponent too large"));
    }
    if e >= 0 {
        return Ok((num * pow10(e), BigInt::from(1)));
    }
    if -e > digits + MAX_POW10 {
        // Smaller than any rounding below can show: zero.
        return Ok((BigInt::zero(), BigInt::from(1)));
    }
    Ok((num, pow10(-e)))
}

/// Strips quotes and refuses spaces; then amount and unit.
fn prepare(s: &str, no_amount: &'static str) -> Result<(String, String), BuiltinError> {
    let s = s.replace('"', "");
    if s.contains(' ') {
        return Err(err("spaces not allowed in resource strings"));
    }
    let (num, unit) = split_amount(&s)?;
    if num.is_empty() {
        return Err(err(no_amount));
    }
    Ok((num.to_string(), unit.to_string()))
}

fn parse(_: &mut Ctx, a: &[Value]) -> BuiltinResult {
    let (num, unit) = prepare(arg_str(a, 0)?, "no amount provided")?;
    // Only the letters after the first are case-insensitive: `m` is milli, `M` mega.
    let unit = match unit.char_indices().nth(1) {
        Some((i, _)) => format!("{}{}", &unit[..i], unit[i..].to_lowercase()),
        None => unit,
    };
    let (mult, shift): (u64, i64) = match unit.as_str() {
        "m" => (1, -3),
        "" => (1, 0),
        "k" | "K" => (1, 3),
        "ki" | "Ki" => (1 << 10, 0),
        "M" => (1, 6),
        "mi" | "Mi" => (1 << 20, 0),
        "g" | "G" => (1, 9),
        "gi" | "Gi" => (1 << 30, 0),
        "t" | "T" => (1, 12),
        "ti" | "Ti" => (1 << 40, 0),
        "p" | "P" => (1, 15),
        "pi" | "Pi" => (1 << 50, 0),
        "e" | "E" => (1, 18),
        "ei" | "Ei" => (1 << 60, 0),
        other => return Err(BuiltinError::Eval(format!("unit {} not recognized", other))),
    };
    let d = parse_decimal(&num).ok_or_else(|| err("could not parse amount to a number"))?;
    let (n, den) = scaled(&d, mult, shift)?;
    let (q, r) = n.div_rem(&den);
    if r.is_zero() {
        return Ok(Value::Number(Number::from_bigint(q)));
    }
    // Rounded to 10 decimal places, half away from zero.
    let scale = pow10(10);
    let two = BigInt::from(2);
    let rounded: BigInt = (n.abs() * &scale * &two + &den) / (&den * &two);
    let mut digits = rounded.to_string();
    if digits.len() <= 10 {
        digits = format!("{}{}", "0".repeat(11 - digits.len()), digits);
    }
    let (ip, fp) = digits.split_at(digits.len() - 10);
    let text = format!("{}{}.{}", if n.is_negative() { "-" } else { "" }, ip, fp);
    Number::parse(&text).map(Value::Number).ok_or_else(|| err("could not parse amount to a number"))
}

fn parse_bytes(_: &mut Ctx, a: &[Value]) -> BuiltinResult {
    let lower = arg_str(a, 0)?.to_lowercase();
    let (num, unit) = prepare(&lower, "no byte amount provided")?;
    let (mult, shift): (u64, i64) = match unit.as_str() {
        "" => (1, 0),
        "kb" | "k" => (1, 3),
        "kib" | "ki" => (1 << 10, 0),
        "mb" | "m" => (1, 6),
        "mib" | "mi" => (1 << 20, 0),
        "gb" | "g" => (1, 9),
        "gib" | "gi" => (1 << 30, 0),
        "tb" | "t" => (1, 12),
        "tib" | "ti" => (1 << 40, 0),
        "pb" | "p" => (1, 15),
        "pib" | "pi" => (1 << 50, 0),
        "eb" | "e" => (1, 18),
        "eib" | "ei" => (1 << 60, 0),
        other => return Err(BuiltinError::Eval(format!("byte unit {} not recognized", other))),
    };
    let d = parse_decimal(&num).ok_or_else(|| err("could not parse byte amount to a number"))?;
    let (n, den) = scaled(&d, mult, shift)?;
    // Truncated toward zero.
    Ok(Value::Number(Number::from_bigint(n / den)))
}

#[cfg(test)]
mod tests {
    use super::*;
    fn p(s: &str) -> BuiltinResult {
        parse(&mut Ctx::new(0, true), &[Value::string(s)])
    }
    fn pb(s: &str) -> BuiltinResult {
        parse_bytes(&mut Ctx::new(0, true), &[Value::string(s)])
    }
    fn n(s: &str) -> Value {
        Value::Number(Number::parse(s).unwrap())
    }
    #[test]
    fn units() {
        assert_eq!(p("500m"), Ok(n("0.5")));
        assert_eq!(p("0.0005K"), Ok(n("0.5")));
        assert_eq!(p("1.1Ki"), Ok(n("1126.4")));
        assert_eq!(p("-3.5E2m"), Ok(n("-0.35")));
        assert_eq!(p("10e"), Ok(n("10000000000000000000")));
        assert_eq!(p("10KI"), Ok(n("10240")));
        assert_eq!(p("1e-2"), Ok(n("0.01")));
        assert_eq!(p("1m"), Ok(n("0.001")));
        assert_eq!(p("\"100TI\""), Ok(n("109951162777600")));
        assert_eq!(p(""), Err(err("no amount provided")));
        assert_eq!(p("G"), Err(err("no amount provided")));
        assert_eq!(p("0.0.0"), Err(err("could not parse amount to a number")));
        assert_eq!(p("100 k"), Err(err("spaces not allowed in resource strings")));
        assert_eq!(p("10e10000000Ei"), Err(err("exponent too large")));
        assert_eq!(p("10x"), Err(err("unit x not recognized")));
        assert!(p("1e999999").is_err());
        assert_eq!(p("1e-999999"), Ok(n("0")));
    }
    #[test]
    fn bytes() {
        assert_eq!(pb("1.1KiB"), Ok(n("1126")));
        assert_eq!(pb("1e-2KB"), Ok(n("10")));
        assert_eq!(pb("10eib"), Ok(n("11529215046068469760")));
        assert_eq!(pb(".0"), Ok(n("0")));
        assert_eq!(pb("5E"), Ok(n("5000000000000000000")));
        assert_eq!(pb("\"100TIB\""), Ok(n("109951162777600")));
        assert_eq!(pb(".5.2"), Err(err("could not parse byte amount to a number")));
        assert_eq!(pb("foo"), Err(err("no byte amount provided")));
        assert_eq!(pb("1xb"), Err(err("byte unit xb not recognized")));
    }
}
