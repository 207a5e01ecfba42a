//! Rego numbers: exact integers of any size, and floating-point decimals.
//!
//! OPA keeps numbers as arbitrary-precision values; we keep the common case
//! (an integer that fits in i64) unboxed, promote to a big integer on
//! overflow, and use f64 for numbers with a fraction or an exponent.
//! Comparison is numeric across representations, so `1 == 1.0` as in OPA.
//!
//! OPA also keeps a literal's text (Go's `json.Number`) and reads it in a few
//! places: `sprintf` formats `1e2` as a float and `2e308` as its text, an
//! integer operand written `1e2` is refused, and a literal prints as written.
//! A literal keeps its text (`Spelled`) when our value alone would misread it:
//! an integral value written as a float, or a decimal no f64 holds (more
//! significant digits than an f64 keeps, `1e-400`), which then compares as the
//! exact decimal it denotes, as OPA compares. Nothing else keeps a text, so the
//! common cases stay unboxed.

use num_bigint::BigInt;
use num_traits::{Signed, ToPrimitive, Zero};
use std::cmp::Ordering;
use std::fmt;
use std::sync::Arc;

#[derive(Clone, Debug)]
pub enum Number {
    Int(i64),
    Big(Arc<BigInt>),
    Float(f64),
    /// A literal whose text matters (see the module doc): an integral value
    /// written with a fraction or an exponent (`1.0`, `1e2`, `-1e9`, `2e308`),
    /// or a decimal no f64 holds (`0.1234567890123456789`, `1e-400`). Prints
    /// and formats by its text, computes as its value.
    Spelled(Arc<Spelled>),
}

/// The value and text of a `Number::Spelled` literal.
#[derive(Debug)]
pub struct Spelled {
    /// `Int` or `Big`: the integer the text denotes; or `Float`, the nearest
    /// f64 of a decimal it cannot hold (compared by `text` instead).
    value: Number,
    /// The literal as written, as valid JSON (`.5e1` is kept as `0.5e1`).
    text: Box<str>,
}

impl Number {
    /// The longest number text parsed (digits, sign, fraction, exponent):
    /// far beyond any real number, parsed in well under a millisecond.
    pub const MAX_TEXT: usize = 4096;

    /// A big integer, narrowed to `Int` when it fits.
    pub fn from_bigint(b: BigInt) -> Number {
        match b.to_i64() {
            Some(i) => Number::Int(i),
            None => Number::Big(Arc::new(b)),
        }
    }

    /// A float; integral floats that fit in i64 become `Int` so that
    /// results like `4 / 2` print as `2`, as OPA prints them.
    pub fn from_f64(f: f64) -> Number {
        if f.is_finite() && f.fract() == 0.0 && f.abs() < 9.007_199_254_740_992e15 {
            Number::Int(f as i64)
        } else {
            Number::Float(f)
        }
    }

    /// Parses a JSON/Rego number literal (`12`, `-3`, `1.5`, `1e3`, `123456789012345678901234`).
    /// Texts longer than `MAX_TEXT` are refused: exact parsing of a big
    /// integer takes time quadratic in its digits.
    pub fn parse(text: &str) -> Option<Number> {
        if text.len() > Number::MAX_TEXT {
            return None;
        }
        let is_int = !text.contains(['.', 'e', 'E']);
        if is_int {
            if let Ok(i) = text.parse::<i64>() {
                return Some(Number::Int(i));
            }
            return text.parse::<BigInt>().ok().map(Number::from_bigint);
        }
        // Integral literals written with a fraction or exponent (`1e30`, `2.50e1`)
        // stay exact integers, as OPA keeps them, with their text.
        if let Some(n) = Number::parse_big_exponent(text) {
            return Some(Number::spelled(n, text));
        }
        let f: f64 = text.parse().ok()?;
        if !f.is_finite() {
            return None;
        }
        if !Decimal::fits_f64(text, f) {
            return Some(Number::spelled(Number::Float(f), text));
        }
        // `1e3` and `2.0` are integers in value; keep them exact when they are.
        if f.fract() == 0.0 && f.abs() < 9.007_199_254_740_992e15 {
            return Some(Number::spelled(Number::Int(f as i64), text));
        }
        Some(Number::Float(f))
    }

    /// `value` written as `text`, a literal with a fraction or an exponent. The
    /// text is kept as JSON writes a number (`+.5e1` as `0.5e1`, `1.` as `1.0`:
    /// `to_number` accepts Go's wider syntax).
    fn spelled(value: Number, text: &str) -> Number {
        let (sign, unsigned) = match text.strip_prefix('-') {
            Some(t) => ("-", t),
            None => ("", text.strip_prefix('+').unwrap_or(text)),
        };
        let (mant, exp) = match unsigned.find(['e', 'E']) {
            Some(i) => unsigned.split_at(i),
            None => (unsigned, ""),
        };
        let lead = if mant.starts_with('.') { "0" } else { "" };
        let trail = if mant.ends_with('.') { "0" } else { "" };
        let text = format!("{}{}{}{}{}", sign, lead, mant, trail, exp);
        Number::Spelled(Arc::new(Spelled { value, text: text.into() }))
    }

    /// The same number without a literal's text: what a computation on it yields.
    pub fn plain(&self) -> &Number {
        match self {
            Number::Spelled(s) => &s.value,
            n => n,
        }
    }

    /// The integer OPA reads from a number's text (its `Number.Int64`, used for
    /// integer operands and array indices): digits with at most a zero fraction
    /// (`3`, `3.00`), up to 19 characters after the sign, within i64. A literal
    /// written with an exponent (`1e2`) is none, unlike `as_i64`.
    pub fn int64(&self) -> Option<i64> {
        match self {
            Number::Int(i) => Some(*i),
            Number::Spelled(s) => {
                let digits = s.text.strip_prefix(['-', '+']).unwrap_or(&s.text);
                if digits.len() > 19 || digits.contains(['e', 'E']) {
                    return None;
                }
                s.integer().and_then(Number::as_i64)
            }
            n => n.as_i64(),
        }
    }

    /// `12.5e400` as an exact integer, if it is one (exponents up to 10000).
    fn parse_big_exponent(text: &str) -> Option<Number> {
        let (mant, exp) = text.split_once(['e', 'E']).unwrap_or((text, "0"));
        let exp: i64 = exp.parse().ok()?;
        let (neg, mant) = match mant.strip_prefix('-') {
            Some(m) => (true, m),
            None => (false, mant),
        };
        let (int_part, frac) = mant.split_once('.').unwrap_or((mant, ""));
        let frac = frac.trim_end_matches('0');
        let shift = exp - frac.len() as i64;
        if !(0..=10_000).contains(&shift) {
            return None;
        }
        let digits: BigInt = format!("{}{}", int_part, frac).parse().ok()?;
        let v = digits * num_traits::pow(BigInt::from(10), shift as usize);
        Some(Number::from_bigint(if neg { -v } else { v }))
    }

    pub fn is_integer(&self) -> bool {
        match self {
            Number::Int(_) | Number::Big(_) => true,
            Number::Float(f) => f.fract() == 0.0,
            Number::Spelled(s) => !s.is_decimal(),
        }
    }

    pub fn as_i64(&self) -> Option<i64> {
        match self {
            Number::Int(i) => Some(*i),
            Number::Big(_) => None,
            Number::Float(f) => {
                if f.fract() == 0.0 && *f >= i64::MIN as f64 && *f <= i64::MAX as f64 {
                    Some(*f as i64)
                } else {
                    None
                }
            }
            Number::Spelled(s) => s.integer().and_then(Number::as_i64),
        }
    }

    pub fn as_f64(&self) -> f64 {
        match self {
            Number::Int(i) => *i as f64,
            Number::Big(b) => b.to_f64().unwrap_or(f64::NAN),
            Number::Float(f) => *f,
            Number::Spelled(s) => s.value.as_f64(),
        }
    }

    pub fn as_bigint(&self) -> Option<BigInt> {
        match self {
            Number::Int(i) => Some(BigInt::from(*i)),
            Number::Big(b) => Some((**b).clone()),
            Number::Float(f) => {
                if f.fract() == 0.0 {
                    num_bigint::BigInt::from_f64_exact(*f)
                } else {
                    None
                }
            }
            Number::Spelled(s) => s.integer().and_then(Number::as_bigint),
        }
    }

    pub fn is_zero(&self) -> bool {
        match self {
            Number::Int(i) => *i == 0,
            Number::Big(b) => b.is_zero(),
            Number::Float(f) => *f == 0.0,
            Number::Spelled(s) => s.value.is_zero(),
        }
    }

    pub fn is_negative(&self) -> bool {
        match self {
            Number::Int(i) => *i < 0,
            Number::Big(b) => b.is_negative(),
            Number::Float(f) => *f < 0.0,
            // `-1e-400` is negative though its nearest f64 is -0.
            Number::Spelled(s) if s.is_decimal() => s.text.starts_with('-'),
            Number::Spelled(s) => s.value.is_negative(),
        }
    }

    pub fn add(&self, o: &Number) -> Number {
        match (self, o) {
            (Number::Int(a), Number::Int(b)) => match a.checked_add(*b) {
                Some(r) => Number::Int(r),
                None => Number::from_bigint(BigInt::from(*a) + BigInt::from(*b)),
            },
            _ => match (self.exact(), o.exact()) {
                (Some(a), Some(b)) => Number::from_bigint(a + b),
                _ => Number::from_f64(self.as_f64() + o.as_f64()),
            },
        }
    }

    pub fn sub(&self, o: &Number) -> Number {
        self.add(&o.plain().neg())
    }

    pub fn mul(&self, o: &Number) -> Number {
        match (self, o) {
            (Number::Int(a), Number::Int(b)) => match a.checked_mul(*b) {
                Some(r) => Number::Int(r),
                None => Number::from_bigint(BigInt::from(*a) * BigInt::from(*b)),
            },
            _ => match (self.exact(), o.exact()) {
                (Some(a), Some(b)) => Number::from_bigint(a * b),
                _ => Number::from_f64(self.as_f64() * o.as_f64()),
            },
        }
    }

    /// Division; `Err` on division by zero. Exact when the quotient is an integer.
    pub fn div(&self, o: &Number) -> Result<Number, &'static str> {
        if o.is_zero() {
            return Err("divide by zero");
        }
        if let (Some(a), Some(b)) = (self.exact(), o.exact()) {
            if (&a % &b).is_zero() {
                return Ok(Number::from_bigint(a / b));
            }
        }
        Ok(Number::from_f64(self.as_f64() / o.as_f64()))
    }

    /// Remainder with the sign of the dividend (Go's `%`); integers only, as in OPA.
    pub fn rem(&self, o: &Number) -> Result<Number, &'static str> {
        match (self.exact(), o.exact()) {
            (Some(a), Some(b)) => {
                if b.is_zero() {
                    Err("modulo by zero")
                } else {
                    Ok(Number::from_bigint(a % b))
                }
            }
            _ => Err("modulo on floating-point number"),
        }
    }

    pub fn neg(&self) -> Number {
        match self {
            Number::Int(i) => match i.checked_neg() {
                Some(r) => Number::Int(r),
                None => Number::from_bigint(-BigInt::from(*i)),
            },
            Number::Big(b) => Number::from_bigint(-(**b).clone()),
            Number::Float(f) => Number::Float(-*f),
            // `-1e2` is a literal too: the parser negates `1e2` when it reads `-1e2`.
            Number::Spelled(s) => {
                let text = match s.text.strip_prefix('-') {
                    Some(t) => t.to_string(),
                    None => format!("-{}", s.text),
                };
                Number::Spelled(Arc::new(Spelled { value: s.value.neg(), text: text.into() }))
            }
        }
    }

    /// The absolute value, computed (`abs(-1e2)` is `100`, as OPA's).
    pub fn abs(&self) -> Number {
        let n = self.plain();
        if n.is_negative() {
            n.neg()
        } else {
            n.clone()
        }
    }

    /// The exact integer value, if this number is an integer.
    fn exact(&self) -> Option<BigInt> {
        match self {
            Number::Int(i) => Some(BigInt::from(*i)),
            Number::Big(b) => Some((**b).clone()),
            Number::Float(_) => None,
            Number::Spelled(s) => s.value.exact(),
        }
    }
}

impl Spelled {
    /// A decimal no f64 holds (its `value` is only the nearest f64).
    fn is_decimal(&self) -> bool {
        matches!(self.value, Number::Float(_))
    }

    /// The integer value, unless this is such a decimal.
    fn integer(&self) -> Option<&Number> {
        (!self.is_decimal()).then_some(&self.value)
    }
}

/// An exact decimal, `±digits × 10^exp`, for comparing numbers beyond f64.
#[derive(PartialEq, Eq)]
struct Decimal {
    negative: bool,
    /// Without trailing zeros; zero for the number zero.
    digits: BigInt,
    exp: i64,
}

impl Decimal {
    /// The decimal a number denotes: an integer exactly, a float as the
    /// shortest text that reads back as it (the text OPA gives a computed float).
    fn of(n: &Number) -> Decimal {
        match n {
            Number::Spelled(s) if s.is_decimal() => Decimal::parse(&s.text),
            Number::Spelled(s) => Decimal::of(&s.value),
            Number::Float(f) => Decimal::parse(&format!("{:e}", f)),
            n => Decimal::integer(n.exact().unwrap_or_default()),
        }
    }

    fn integer(i: BigInt) -> Decimal {
        Decimal { negative: i.is_negative(), digits: i.abs(), exp: 0 }.normalized()
    }

    /// A JSON number's text (`-12.50e-3`); `parse` has checked its syntax.
    fn parse(text: &str) -> Decimal {
        let (negative, unsigned) = match text.strip_prefix('-') {
            Some(t) => (true, t),
            None => (false, text.strip_prefix('+').unwrap_or(text)),
        };
        let (mant, exp) = unsigned.split_once(['e', 'E']).unwrap_or((unsigned, "0"));
        let (int_part, frac) = mant.split_once('.').unwrap_or((mant, ""));
        // An exponent beyond i64 saturates: beyond any magnitude that matters.
        let exp: i64 = exp.parse().unwrap_or(if exp.starts_with('-') { i64::MIN / 2 } else { i64::MAX / 2 });
        let digits: BigInt = format!("0{}{}", int_part, frac).parse().unwrap_or_default();
        Decimal { negative, digits, exp: exp.saturating_sub(frac.len() as i64) }.normalized()
    }

    fn normalized(mut self) -> Decimal {
        if self.digits.is_zero() {
            return Decimal { negative: false, digits: BigInt::zero(), exp: 0 };
        }
        let ten = BigInt::from(10);
        while (&self.digits % &ten).is_zero() {
            self.digits /= &ten;
            self.exp += 1;
        }
        self
    }

    /// Whether `f`, parsed from `text`, is the number `text` denotes as far as
    /// anyone can tell: its shortest text denotes the same decimal. Up to 15
    /// significant digits always do (within f64's normal range).
    fn fits_f64(text: &str, f: f64) -> bool {
        let mant = text.split(['e', 'E']).next().unwrap_or(text);
        let significant = mant.bytes().filter(u8::is_ascii_digit).skip_while(|&b| b == b'0').count();
        if significant <= 15 && (f == 0.0 || f.is_normal()) && (f != 0.0 || significant == 0) {
            return true;
        }
        Decimal::parse(text) == Decimal::parse(&format!("{:e}", f))
    }

    /// The position of the leading digit: `digits × 10^exp` lies in [10^(m-1), 10^m).
    fn magnitude(&self) -> i64 {
        self.digits.to_string().len() as i64 + self.exp
    }
}

impl Ord for Decimal {
    fn cmp(&self, other: &Self) -> Ordering {
        let sign = |d: &Decimal| if d.digits.is_zero() { 0 } else if d.negative { -1 } else { 1 };
        let (a, b) = (sign(self), sign(other));
        if a != b || a == 0 {
            return a.cmp(&b);
        }
        let abs = match self.magnitude().cmp(&other.magnitude()) {
            Ordering::Equal => {
                // Same leading position: the exponents differ by fewer than the digits.
                let exp = self.exp.min(other.exp);
                let scale = |d: &Decimal| &d.digits * num_traits::pow(BigInt::from(10), (d.exp - exp) as usize);
                scale(self).cmp(&scale(other))
            }
            o => o,
        };
        if a < 0 {
            abs.reverse()
        } else {
            abs
        }
    }
}

impl PartialOrd for Decimal {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

trait FromF64Exact {
    fn from_f64_exact(f: f64) -> Option<BigInt>;
}
impl FromF64Exact for BigInt {
    fn from_f64_exact(f: f64) -> Option<BigInt> {
        num_traits::FromPrimitive::from_f64(f)
    }
}

impl PartialEq for Number {
    fn eq(&self, other: &Self) -> bool {
        self.cmp(other) == Ordering::Equal
    }
}
impl Eq for Number {}

impl PartialOrd for Number {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

impl Ord for Number {
    fn cmp(&self, other: &Self) -> Ordering {
        match (self, other) {
            (Number::Int(a), Number::Int(b)) => a.cmp(b),
            (Number::Float(a), Number::Float(b)) => a.total_cmp(b),
            (Number::Big(a), Number::Big(b)) => a.cmp(b),
            (Number::Int(a), Number::Big(b)) => BigInt::from(*a).cmp(b),
            (Number::Big(a), Number::Int(b)) => (**a).cmp(&BigInt::from(*b)),
            (Number::Spelled(a), _) if a.is_decimal() => Decimal::of(self).cmp(&Decimal::of(other)),
            (_, Number::Spelled(b)) if b.is_decimal() => Decimal::of(self).cmp(&Decimal::of(other)),
            (Number::Spelled(a), _) => a.value.cmp(other),
            (_, Number::Spelled(b)) => self.cmp(&b.value),
            (Number::Float(_), _) | (_, Number::Float(_)) => {
                // Mixed: compare exactly when the float is integral, else as floats.
                if let (Some(a), Some(b)) = (self.as_bigint(), other.as_bigint()) {
                    a.cmp(&b)
                } else {
                    self.as_f64().total_cmp(&other.as_f64())
                }
            }
        }
    }
}

impl std::hash::Hash for Number {
    fn hash<H: std::hash::Hasher>(&self, state: &mut H) {
        // Equal numbers must hash equally across representations.
        match self.as_i64() {
            Some(i) => i.hash(state),
            None => match self.plain() {
                Number::Big(b) => b.hash(state),
                _ => self.as_f64().to_bits().hash(state),
            },
        }
    }
}

impl fmt::Display for Number {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Number::Int(i) => write!(f, "{}", i),
            Number::Big(b) => write!(f, "{}", b),
            Number::Spelled(s) => f.write_str(&s.text),
            Number::Float(x) => {
                // Go renders large/small magnitudes with an exponent; keep JSON valid either way.
                let a = x.abs();
                if a != 0.0 && !(1e-6..1e21).contains(&a) {
                    let s = format!("{:e}", x);
                    // Rust writes `1e21`; Go writes `1e+21`.
                    if let Some((m, e)) = s.split_once('e') {
                        if e.starts_with('-') {
                            write!(f, "{}e{}", m, e)
                        } else {
                            write!(f, "{}e+{}", m, e)
                        }
                    } else {
                        write!(f, "{}", s)
                    }
                } else {
                    write!(f, "{}", x)
                }
            }
        }
    }
}

impl From<i64> for Number {
    fn from(i: i64) -> Self {
        Number::Int(i)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_literals() {
        assert_eq!(Number::parse("12"), Some(Number::Int(12)));
        assert_eq!(Number::parse("1e3"), Some(Number::Int(1000)));
        assert!(matches!(Number::parse("123456789012345678901234567890"), Some(Number::Big(_))));
        assert!(matches!(Number::parse("1.5"), Some(Number::Float(_))));
        assert!(Number::parse("1e400").unwrap() > Number::parse("1e399").unwrap());
        assert_eq!(Number::parse("1e30").unwrap().add(&Number::Int(1)).to_string(), "1000000000000000000000000000001");
        assert_eq!(Number::parse("2.50e1"), Some(Number::Int(25)));
        assert!(matches!(Number::parse("1e-3"), Some(Number::Float(_))));
    }

    #[test]
    fn compares_across_representations() {
        assert_eq!(Number::Int(1), Number::Float(1.0));
        assert!(Number::Int(1) < Number::Float(1.5));
        assert!(Number::parse("99999999999999999999").unwrap() > Number::Int(i64::MAX));
    }

    #[test]
    fn promotes_on_overflow() {
        let r = Number::Int(i64::MAX).add(&Number::Int(1));
        assert_eq!(r.to_string(), "9223372036854775808");
        assert_eq!(Number::Int(4).div(&Number::Int(2)).unwrap(), Number::Int(2));
        assert_eq!(Number::Int(3).div(&Number::Int(2)).unwrap(), Number::Float(1.5));
        assert!(Number::Int(1).div(&Number::Int(0)).is_err());
    }
}
