//! `uuid.rfc4122` (a random version 4 UUID, the same for the same key within
//! one query) and `uuid.parse` (version, variant, and the time, clock
//! sequence, node and DCE fields of version 1 and 2 UUIDs).

use super::{arg_str, BuiltinError, BuiltinResult, Ctx, Registry};
use crate::value::{Map, Value};

pub fn register(r: &mut Registry) {
    r.nondeterministic("uuid", "uuid.rfc4122", "(string) => string", rfc4122);
    r.func("uuid", "uuid.parse", "(string) => object[string: any]", parse);
}

fn rfc4122(ctx: &mut Ctx, a: &[Value]) -> BuiltinResult {
    arg_str(a, 0)?;
    let key = ("uuid.rfc4122".to_string(), a.to_vec());
    if let Some(v) = ctx.memo.get(&key) {
        return Ok(v.clone());
    }
    let v = Value::string(uuid::Uuid::new_v4().hyphenated().to_string());
    ctx.memo.insert(key, v.clone());
    Ok(v)
}


/// The 16 bytes of a UUID written as `xxxxxxxx-xxxx-xxxx-xxxx-xxxxxxxxxxxx`,
/// with `{...}` (or any two bytes) around it, with a `urn:uuid:` prefix, or as 32 bare hex digits.
fn parse_bytes(s: &str) -> Option<[u8; 16]> {
    let b = s.as_bytes();
    let hex: Vec<u8> = match b.len() {
        36 | 38 | 45 => {
            let body = match b.len() {
                36 => b,
                // As google/uuid: the 38-byte form's first and last bytes are not checked.
                38 => &b[1..37],
                45 if b[..9].eq_ignore_ascii_case(b"urn:uuid:") => &b[9..],
                _ => return None,
            };
            if [8, 13, 18, 23].iter().any(|i| body.get(*i) != Some(&b'-')) {
                return None;
            }
            body.iter().enumerate().filter(|(i, _)| ![8, 13, 18, 23].contains(i)).map(|(_, c)| *c).collect()
        }
        32 => b.to_vec(),
        _ => return None,
    };
    let mut out = [0u8; 16];
    for (k, pair) in hex.chunks(2).enumerate() {
        let (Some(h), Some(l)) = (pair.first().and_then(|c| super::hex_val(*c)), pair.get(1).and_then(|c| super::hex_val(*c))) else {
            return None;
        };
        *out.get_mut(k)? = h << 4 | l;
    }
    Some(out)
}

fn parse(_: &mut Ctx, a: &[Value]) -> BuiltinResult {
    let s = arg_str(a, 0)?;
    let u = parse_bytes(s).ok_or(BuiltinError::Undefined)?;
    let mut m = Map::new();
    let mut put = |k: &str, v: Value| {
        m.insert(Value::string(k), v);
    };
    let version = u[6] >> 4;
    put("version", Value::int(version as i64));
    let variant = match u[8] {
        x if x & 0xc0 == 0x80 => "RFC4122",
        x if x & 0xe0 == 0xc0 => "Microsoft",
        x if x & 0xe0 == 0xe0 => "Future",
        _ => "Reserved",
    };
    put("variant", Value::string(variant));
    if version == 1 || version == 2 {
        let be32 = |i: usize| u32::from_be_bytes([u[i], u[i + 1], u[i + 2], u[i + 3]]);
        let be16 = |i: usize| u16::from_be_bytes([u[i], u[i + 1]]);
        // 100ns ticks since 1582-10-15, as nanoseconds since the Unix epoch.
        let ticks = (be32(0) as i64) | ((be16(4) as i64) << 32) | (((be16(6) & 0x0fff) as i64) << 48);
        let since_epoch = ticks - 122_192_928_000_000_000;
        let ns = (since_epoch / 10_000_000).wrapping_mul(1_000_000_000).wrapping_add((since_epoch % 10_000_000) * 100);
        put("time", Value::int(ns));
        put("clocksequence", Value::int((be16(8) & 0x3fff) as i64));
        let node: Vec<String> = u[10..16].iter().map(|b| format!("{:02x}", b)).collect();
        put("nodeid", Value::string(node.join("-")));
        let mac = match u[10] & 0b11 {
            0b11 => "local:multicast",
            0b01 => "global:multicast",
            0b10 => "local:unicast",
            _ => "global:unicast",
        };
        put("macvariables", Value::string(mac));
        if version == 2 {
            put("id", Value::int(be32(0) as i64));
            let domain = match u[9] {
                0 => "Person".to_string(),
                1 => "Group".to_string(),
                2 => "Org".to_string(),
                d => format!("Domain{}", d),
            };
            put("domain", Value::string(domain));
        }
    }
    Ok(Value::from_map(m))
}

#[cfg(test)]
mod tests {
    use super::*;
    fn p(s: &str) -> BuiltinResult {
        parse(&mut Ctx::new(0, true), &[Value::string(s)])
    }
    #[test]
    fn v2() {
        let want = Value::from_json_str(
            r#"{"clocksequence": 12800, "domain": "Person", "id": 1000, "macvariables": "local:unicast",
                "nodeid": "32-50-96-b3-9f-47", "time": 1693566990121469600, "variant": "RFC4122", "version": 2}"#,
        )
        .unwrap();
        assert_eq!(p("000003e8-48b9-21ee-b200-325096b39f47"), Ok(want.clone()));
        assert_eq!(p("urn:uuid:000003e8-48b9-21ee-b200-325096b39f47"), Ok(want));
    }
    #[test]
    fn v1_and_forms() {
        let v = p("c2fc67c2-47f2-11ee-b67a-9f3619c7493f").unwrap();
        assert_eq!(v.field("time"), Some(&Value::int(1693481847404333000)));
        assert_eq!(v.field("clocksequence"), Some(&Value::int(13946)));
        assert_eq!(v.field("macvariables"), Some(&Value::string("local:multicast")));
        let v4 = Value::from_json_str(r#"{"variant": "RFC4122", "version": 4}"#).unwrap();
        assert_eq!(p("{00000000-0000-4000-8000-000000000000}"), Ok(v4.clone()));
        assert_eq!(p("00000000000040008000000000000000"), Ok(v4));
        assert_eq!(p("00000000-0000-4000-8000-00000000000g"), Err(BuiltinError::Undefined));
        assert_eq!(p("0000000000004000800000000000000é"), Err(BuiltinError::Undefined));
        assert_eq!(p(""), Err(BuiltinError::Undefined));
    }
    #[test]
    fn memoized() {
        let mut ctx = Ctx::new(0, true);
        let a = [Value::string("k")];
        let x = rfc4122(&mut ctx, &a).unwrap();
        assert_eq!(rfc4122(&mut ctx, &a).unwrap(), x);
        assert_ne!(rfc4122(&mut ctx, &[Value::string("j")]).unwrap(), x);
        assert_eq!(x.as_str().map(str::len), Some(36));
    }
}
