//! net builtins: CIDR arithmetic with Go's `net.ParseCIDR`/`net.ParseIP`
//! semantics. `net.lookup_ip_addr` needs the network and is not provided.

use super::{arg_str, type_err, BuiltinError, BuiltinResult, Ctx, Registry};
use crate::value::{Set, Value};
use ipnet::{IpNet, Ipv4Net, Ipv6Net};
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

/// The operand type of `net.cidr_contains_matches`, as OPA declares it.
const MATCHES_OPERAND: &str =
    "any<string, array[any<string, array[any]>], object[string: any<string, array[any]>], set[any<string, array[any]>]>";

/// Expanding more addresses than this is refused rather than exhausting memory.
const MAX_EXPAND: u128 = 1 << 24;

pub fn register(r: &mut Registry) {
    r.func("net", "net.cidr_contains", "(string, string) => boolean", cidr_contains);
    r.func("net", "net.cidr_overlap", "(string, string) => boolean", cidr_contains);
    r.func("net", "net.cidr_intersects", "(string, string) => boolean", cidr_intersects);
    r.func("net", "net.cidr_is_valid", "(string) => boolean", cidr_is_valid);
    r.func("net", "net.cidr_expand", "(string) => set[string]", cidr_expand);
    r.func("net", "net.cidr_merge", "(any<array[any<string>], set[string]>) => set[string]", cidr_merge);
    r.func("net", "net.cidr_contains_matches", MATCHES_DECL, cidr_contains_matches);
}

/// `(M, M) => set[[any, any]]` for M = [`MATCHES_OPERAND`].
const MATCHES_DECL: &str = "(any<string, array[any<string, array[any]>], object[string: any<string, array[any]>], set[any<string, array[any]>]>, any<string, array[any<string, array[any]>], object[string: any<string, array[any]>], set[any<string, array[any]>]>) => set[[any, any]]";

/// Go's `net.ParseCIDR`: the address keeps its host bits (callers mask it).
fn parse_cidr(s: &str) -> Result<IpNet, BuiltinError> {
    let bad = || BuiltinError::Eval(format!("invalid CIDR address: {}", s));
    let (addr, len) = s.split_once('/').ok_or_else(bad)?;
    if len.is_empty() || len.len() > 3 || !len.bytes().all(|b| b.is_ascii_digit()) {
        return Err(bad());
    }
    let len: u8 = len.parse().map_err(|_| bad())?;
    match parse_ip(addr).ok_or_else(bad)? {
        IpAddr::V4(a) => Ipv4Net::new(a, len).map(IpNet::V4).map_err(|_| bad()),
        IpAddr::V6(a) => Ipv6Net::new(a, len).map(IpNet::V6).map_err(|_| bad()),
    }
}

/// Go's `net.ParseIP` (no zones, no leading-zero octets).
fn parse_ip(s: &str) -> Option<IpAddr> {
    if s.contains(':') {
        s.parse::<Ipv6Addr>().ok().map(IpAddr::V6)
    } else {
        s.parse::<Ipv4Addr>().ok().map(IpAddr::V4)
    }
}

/// Whether `net` contains `ip`; IPv4-mapped IPv6 addresses count as IPv4, as in Go.
/// Go's `IPNet.Contains`: an IPv4-mapped address (and a network of them) counts as
/// IPv4, and the two families never contain each other (`::/0` holds no IPv4 address).
fn net_contains_ip(net: &IpNet, ip: IpAddr) -> bool {
    let ip = match ip {
        IpAddr::V6(a) => a.to_ipv4_mapped().map_or(ip, IpAddr::V4),
        v4 => v4,
    };
    match (net, ip) {
        (IpNet::V6(n), IpAddr::V4(a)) => {
            n.prefix_len() >= 96 && n.trunc().network().to_ipv4_mapped().is_some() && net.contains(&IpAddr::V6(a.to_ipv6_mapped()))
        }
        (IpNet::V4(_), IpAddr::V6(_)) => false,
        _ => net.contains(&ip),
    }
}

/// Whether `a` contains `b`, an IP or a CIDR.
fn contains_str(a: &IpNet, b: &str) -> Result<bool, BuiltinError> {
    if let Some(ip) = parse_ip(b) {
        return Ok(net_contains_ip(a, ip));
    }
    let b = parse_cidr(b)?.trunc();
    // Networks compare within one family, an IPv4-mapped network counting as IPv4.
    Ok(match (as_v4(a), as_v4(&b)) {
        (Some(x), Some(y)) => x.contains(&y),
        (None, None) => a.contains(&b),
        _ => false,
    })
}

/// The network as IPv4 when it is one, or a network of IPv4-mapped addresses.
fn as_v4(n: &IpNet) -> Option<ipnet::Ipv4Net> {
    match n {
        IpNet::V4(x) => Some(*x),
        IpNet::V6(x) if x.prefix_len() >= 96 => {
            let v4 = x.trunc().network().to_ipv4_mapped()?;
            ipnet::Ipv4Net::new(v4, x.prefix_len() - 96).ok()
        }
        IpNet::V6(_) => None,
    }
}

fn cidr_contains(_: &mut Ctx, args: &[Value]) -> BuiltinResult {
    let a = parse_cidr(arg_str(args, 0)?)?;
    let b = arg_str(args, 1)?;
    Ok(Value::Bool(contains_str(&a, b)?))
}

fn cidr_intersects(_: &mut Ctx, args: &[Value]) -> BuiltinResult {
    let a = parse_cidr(arg_str(args, 0)?)?.trunc();
    let b = parse_cidr(arg_str(args, 1)?)?.trunc();
    Ok(Value::Bool(net_contains_ip(&a, b.network()) || net_contains_ip(&b, a.network())))
}

fn cidr_is_valid(_: &mut Ctx, args: &[Value]) -> BuiltinResult {
    Ok(Value::Bool(matches!(args.first(), Some(Value::String(s)) if parse_cidr(s).is_ok())))
}

fn cidr_expand(_: &mut Ctx, args: &[Value]) -> BuiltinResult {
    let net = parse_cidr(arg_str(args, 0)?)?.trunc();
    let host_bits = u32::from(net.max_prefix_len() - net.prefix_len());
    if host_bits >= 128 || (1u128 << host_bits) > MAX_EXPAND {
        return Err(BuiltinError::Eval(format!("CIDR too large to expand: {}", net)));
    }
    let set: Set = net.hosts_all().map(|ip| Value::string(ip.to_string())).collect();
    Ok(Value::from_set(set))
}

/// Every address of the network, including network and broadcast addresses.
trait HostsAll {
    fn hosts_all(&self) -> Box<dyn Iterator<Item = IpAddr>>;
}

impl HostsAll for IpNet {
    fn hosts_all(&self) -> Box<dyn Iterator<Item = IpAddr>> {
        match *self {
            IpNet::V4(n) => {
                let (lo, hi) = (u32::from(n.network()), u32::from(n.broadcast()));
                Box::new((lo..=hi).map(|i| IpAddr::V4(Ipv4Addr::from(i))))
            }
            IpNet::V6(n) => {
                let (lo, hi) = (u128::from(n.network()), u128::from(n.broadcast()));
                Box::new((lo..=hi).map(|i| IpAddr::V6(Ipv6Addr::from(i))))
            }
        }
    }
}

/// One `net.cidr_merge` element: a CIDR, or an IPv4 address with its
/// classful default mask (Go's `IP.DefaultMask`).
fn merge_element(v: &Value) -> Result<IpNet, BuiltinError> {
    let s = v.as_str().ok_or_else(|| BuiltinError::Eval("element must be string".into()))?;
    match parse_ip(s) {
        Some(IpAddr::V4(a)) => {
            let len = match a.octets()[0] {
                0..=127 => 8,
                128..=191 => 16,
                _ => 24,
            };
            Ipv4Net::new(a, len).map(IpNet::V4).map_err(|e| BuiltinError::Eval(e.to_string()))
        }
        Some(IpAddr::V6(_)) => Err(BuiltinError::Eval("IPv6 invalid: needs prefix length".into())),
        None => parse_cidr(s),
    }
}

fn cidr_merge(_: &mut Ctx, args: &[Value]) -> BuiltinResult {
    let items: Vec<&Value> = match args.first() {
        Some(Value::Array(a)) => a.iter().collect(),
        Some(Value::Set(s)) => s.iter().collect(),
        Some(v) => return Err(type_err(0, "any<array[any<string>], set[string]>", v)),
        None => return Err(BuiltinError::Eval("missing operand 1".into())),
    };
    let nets = items.into_iter().map(merge_element).collect::<Result<Vec<_>, _>>()?;
    let set: Set = IpNet::aggregate(&nets).into_iter().map(|n| Value::string(n.to_string())).collect();
    Ok(Value::from_set(set))
}

/// The (key, CIDR-or-IP) pairs of one `net.cidr_contains_matches` operand.
fn match_entries(v: &Value, pos: usize) -> Result<Vec<(Value, String)>, BuiltinError> {
    let element = |e: &Value| -> Result<String, BuiltinError> {
        let s = match e {
            Value::String(s) => Some(s.to_string()),
            Value::Array(a) => a.first().and_then(Value::as_str).map(str::to_string),
            _ => None,
        };
        s.ok_or_else(|| BuiltinError::Eval(format!("operand {}: element must be string or non-empty array", pos + 1)))
    };
    match v {
        Value::String(s) => Ok(vec![(v.clone(), s.to_string())]),
        Value::Array(a) => a.iter().enumerate().map(|(i, e)| Ok((Value::int(i as i64), element(e)?))).collect(),
        Value::Set(s) => s.iter().map(|e| Ok((e.clone(), element(e)?))).collect(),
        Value::Object(o) => o.iter().map(|(k, e)| Ok((k.clone(), element(e)?))).collect(),
        _ => Err(type_err(pos, MATCHES_OPERAND, v)),
    }
}

fn cidr_contains_matches(_: &mut Ctx, args: &[Value]) -> BuiltinResult {
    let missing = || BuiltinError::Eval("missing operands".into());
    let a = match_entries(args.first().ok_or_else(missing)?, 0)?;
    let b = match_entries(args.get(1).ok_or_else(missing)?, 1)?;
    let mut out = Set::new();
    for (ka, ca) in &a {
        let net = parse_cidr(ca)?;
        for (kb, cb) in &b {
            if contains_str(&net, cb)? {
                out.insert(Value::from_array(vec![ka.clone(), kb.clone()]));
            }
        }
    }
    Ok(Value::from_set(out))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn call(f: super::super::BuiltinFn, args: Vec<Value>) -> BuiltinResult {
        f(&mut Ctx::new(0, true), &args)
    }
    fn s(x: &str) -> Value {
        Value::string(x)
    }
    fn strs(xs: &[&str]) -> Value {
        Value::from_set(xs.iter().map(|x| s(x)).collect())
    }

    #[test]
    fn contains() {
        assert_eq!(call(cidr_contains, vec![s("10.0.0.0/8"), s("10.1.2.3")]), Ok(Value::Bool(true)));
        assert_eq!(call(cidr_contains, vec![s("10.0.0.0/8"), s("10.1.0.0/16")]), Ok(Value::Bool(true)));
        assert_eq!(call(cidr_contains, vec![s("10.0.0.0/16"), s("10.0.0.0/8")]), Ok(Value::Bool(false)));
        assert_eq!(call(cidr_contains, vec![s("fd00::/8"), s("fd00::1")]), Ok(Value::Bool(true)));
        assert_eq!(
            call(cidr_contains, vec![s("10.0.0.0/33"), s("10.0.0.1")]),
            Err(BuiltinError::Eval("invalid CIDR address: 10.0.0.0/33".into()))
        );
    }

    #[test]
    fn intersects_and_valid() {
        assert_eq!(call(cidr_intersects, vec![s("10.0.0.0/8"), s("10.2.0.0/16")]), Ok(Value::Bool(true)));
        assert_eq!(call(cidr_intersects, vec![s("10.0.0.0/16"), s("11.0.0.0/8")]), Ok(Value::Bool(false)));
        assert_eq!(call(cidr_is_valid, vec![s("10.0.0.0/8")]), Ok(Value::Bool(true)));
        assert_eq!(call(cidr_is_valid, vec![s("10.0.0.0")]), Ok(Value::Bool(false)));
    }

    #[test]
    fn expand_and_merge() {
        assert_eq!(
            call(cidr_expand, vec![s("192.168.1.1/30")]),
            Ok(strs(&["192.168.1.0", "192.168.1.1", "192.168.1.2", "192.168.1.3"]))
        );
        let merged = call(cidr_merge, vec![Value::from_array(vec![s("192.0.128.0/24"), s("192.0.129.0/24")])]);
        assert_eq!(merged, Ok(strs(&["192.0.128.0/23"])));
        let v6 = call(cidr_merge, vec![Value::from_array(vec![s("::1")])]);
        assert_eq!(v6, Err(BuiltinError::Eval("IPv6 invalid: needs prefix length".into())));
    }

    #[test]
    fn contains_matches() {
        let a = Value::from_array(vec![s("1.1.2.0/24"), s("1.1.1.0/24")]);
        let b = Value::from_array(vec![s("1.1.1.1"), s("1.1.2.1")]);
        let pair = |x, y| Value::from_array(vec![Value::int(x), Value::int(y)]);
        let want = Value::from_set([pair(0, 1), pair(1, 0)].into_iter().collect());
        assert_eq!(call(cidr_contains_matches, vec![a, b]), Ok(want));
    }
}
