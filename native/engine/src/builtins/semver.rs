//! `semver.is_valid` and `semver.compare` over SemVer 2.0.0 strings.
//!
//! Strict: no leading `v`, no leading zeros in numeric identifiers, no empty
//! pre-release or build sections. Precedence follows the spec (pre-release
//! versions sort before the release; build metadata is ignored).

use super::{arg_str, BuiltinError, BuiltinResult, Ctx, Registry};
use crate::value::Value;
use std::cmp::Ordering;

pub fn register(r: &mut Registry) {
    r.func("semver", "semver.is_valid", "(any) => boolean", is_valid);
    r.func("semver", "semver.compare", "(string, string) => number", compare);
}

#[derive(Debug, PartialEq, Eq)]
enum Ident<'a> {
    Num(&'a str),
    Alnum(&'a str),
}

#[derive(Debug)]
struct Version<'a> {
    major: &'a str,
    minor: &'a str,
    patch: &'a str,
    pre: Vec<Ident<'a>>,
}

/// A numeric identifier: `0` or digits without a leading zero.
fn numeric(s: &str) -> bool {
    !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit()) && (s == "0" || !s.starts_with('0'))
}

fn ident_chars(s: &str) -> bool {
    !s.is_empty() && s.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-')
}

fn parse(s: &str) -> Option<Version<'_>> {
    let (rest, build) = match s.split_once('+') {
        Some((r, b)) => (r, Some(b)),
        None => (s, None),
    };
    if let Some(b) = build {
        if !b.split('.').all(ident_chars) {
            return None;
        }
    }
    let (core, pre) = match rest.split_once('-') {
        Some((c, p)) => (c, Some(p)),
        None => (rest, None),
    };
    let mut parts = core.split('.');
    let (major, minor, patch) = (parts.next()?, parts.next()?, parts.next()?);
    if parts.next().is_some() || !numeric(major) || !numeric(minor) || !numeric(patch) {
        return None;
    }
    let mut ids = Vec::new();
    if let Some(p) = pre {
        for id in p.split('.') {
            if !ident_chars(id) {
                return None;
            }
            if id.bytes().all(|b| b.is_ascii_digit()) {
                if !numeric(id) {
                    return None;
                }
                ids.push(Ident::Num(id));
            } else {
                ids.push(Ident::Alnum(id));
            }
        }
    }
    Some(Version { major, minor, patch, pre: ids })
}

/// Compares digit strings without leading zeros by value.
fn cmp_num(a: &str, b: &str) -> Ordering {
    a.len().cmp(&b.len()).then_with(|| a.cmp(b))
}

fn precedence(a: &Version, b: &Version) -> Ordering {
    cmp_num(a.major, b.major)
        .then_with(|| cmp_num(a.minor, b.minor))
        .then_with(|| cmp_num(a.patch, b.patch))
        .then_with(|| match (a.pre.is_empty(), b.pre.is_empty()) {
            (true, true) => Ordering::Equal,
            (true, false) => Ordering::Greater,
            (false, true) => Ordering::Less,
            (false, false) => {
                for (x, y) in a.pre.iter().zip(b.pre.iter()) {
                    let o = match (x, y) {
                        (Ident::Num(x), Ident::Num(y)) => cmp_num(x, y),
                        (Ident::Num(_), Ident::Alnum(_)) => Ordering::Less,
                        (Ident::Alnum(_), Ident::Num(_)) => Ordering::Greater,
                        (Ident::Alnum(x), Ident::Alnum(y)) => x.as_bytes().cmp(y.as_bytes()),
                    };
                    if o != Ordering::Equal {
                        return o;
                    }
                }
                a.pre.len().cmp(&b.pre.len())
            }
        })
}

fn is_valid(_: &mut Ctx, a: &[Value]) -> BuiltinResult {
    Ok(Value::Bool(matches!(a.first(), Some(Value::String(s)) if parse(s).is_some())))
}

fn compare(_: &mut Ctx, a: &[Value]) -> BuiltinResult {
    let (x, y) = (arg_str(a, 0)?, arg_str(a, 1)?);
    let invalid = |i: usize, s: &str| BuiltinError::Eval(format!("operand {}: string {:?} is not a valid SemVer", i, s));
    let vx = parse(x).ok_or_else(|| invalid(1, x))?;
    let vy = parse(y).ok_or_else(|| invalid(2, y))?;
    Ok(Value::int(match precedence(&vx, &vy) {
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
