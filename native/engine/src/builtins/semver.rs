//! `semver.is_valid` and `semver.compare` over SemVer 2.0.0 strings.
//!
//! Parsing and precedence come from the `semver` crate. Strict: no leading `v`,
//! no leading zeros in numeric identifiers, no empty pre-release or build
//! sections. Precedence follows the spec (pre-release versions sort before the
//! release; build metadata is ignored).

use super::{arg_str, BuiltinError, BuiltinResult, Ctx, Registry};
use crate::value::Value;
use std::cmp::Ordering;

pub fn register(r: &mut Registry) {
    r.func("semver", "semver.is_valid", "(any) => boolean", is_valid);
    r.func("semver", "semver.compare", "(string, string) => number", compare);
}

/// A strict SemVer 2.0.0 version (the `semver` crate refuses a leading `v`,
/// leading zeros in numeric identifiers and empty sections, as OPA does).
fn parse(s: &str) -> Option<::semver::Version> {
    ::semver::Version::parse(s).ok()
}

fn is_valid(_: &mut Ctx, a: &[Value]) -> BuiltinResult {
    Ok(Value::Bool(matches!(a.first(), Some(Value::String(s)) if parse(s).is_some())))
}

fn compare(_: &mut Ctx, a: &[Value]) -> BuiltinResult {
    let (x, y) = (arg_str(a, 0)?, arg_str(a, 1)?);
    let invalid = |i: usize, s: &str| BuiltinError::Eval(format!("operand {}: string {:?} is not a valid SemVer", i, s));
    let vx = parse(x).ok_or_else(|| invalid(1, x))?;
    let vy = parse(y).ok_or_else(|| invalid(2, y))?;
    // Precedence ignores build metadata (`Ord` on `Version` would not).
    Ok(Value::int(match vx.cmp_precedence(&vy) {
        Ordering::Less => -1,
        Ordering::Equal => 0,
        Ordering::Greater => 1,
    }))
}

#[cfg(test)]
mod tests {
    use super::*;
    fn valid(s: &str) -> bool {
        parse(s).is_some()
    }
    fn cmp(a: &str, b: &str) -> i64 {
        match compare(&mut Ctx::new(0, true), &[Value::string(a), Value::string(b)]) {
            Ok(Value::Number(n)) => n.as_i64().unwrap(),
            e => panic!("{:?}", e),
        }
    }
    #[test]
    fn validity() {
        for ok in ["0.0.0", "1.2.3-0", "1.2.3-0a", "1.2.3+01", "1.0.0-alpha.1+build.5", "10.20.30-rc-1"] {
            assert!(valid(ok), "{}", ok);
        }
        for bad in ["v1.2.3", "01.2.3", "1.02.3", "1.2.03", "1.2.3-01", "1.2.3-alpha.01", "1.2.3-", "1.2.3+", "1.2", "1.2.3.4", "1.2.3-a..b", "1.2.3+a_b", ""] {
            assert!(!valid(bad), "{}", bad);
        }
    }
    #[test]
    fn ordering() {
        let chain = ["1.0.0-alpha", "1.0.0-alpha.1", "1.0.0-alpha.beta", "1.0.0-beta", "1.0.0-beta.2", "1.0.0-beta.11", "1.0.0-rc.1", "1.0.0", "2.0.0", "10.0.0"];
        for w in chain.windows(2) {
            assert_eq!(cmp(w[0], w[1]), -1, "{} < {}", w[0], w[1]);
            assert_eq!(cmp(w[1], w[0]), 1);
        }
        assert_eq!(cmp("1.2.3+01", "1.2.3+2"), 0);
        assert!(compare(&mut Ctx::new(0, true), &[Value::string("1"), Value::string("1.0.0")]).is_err());
    }
}
