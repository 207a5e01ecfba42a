//! Decision cache keys read straight from the CheckRequest bytes.
//!
//! The key is the raw wire bytes of every field the projection selects —
//! what the prepared decision can read, plus what validation and the derived
//! fields need — each framed with its field number and length. The projected
//! input document is a function of exactly those bytes, so equal keys mean
//! equal decisions under one policy revision: a cache hit needs no decoding.
//! Two encodings of the same value only cost a miss, never a wrong answer.
//!
//! Envoy's raw header list (`header_map`) is filtered by header name: only
//! entries whose (lowercased) name the decision can read, or that body
//! parsing reads, are part of the key, so `x-request-id` and `traceparent`
//! do not defeat the cache when `encode_raw_headers` is on.

use crate::projection::{Projection, Sel};
use crate::protomap::{field_name, known_field, Naming};
use crate::schema::{self, Kind, Message};
use crate::wire::{Reader, WireError, WireResult, FIXED32, FIXED64, LEN, VARINT};

/// Keys longer than this are not worth caching (large bodies).
pub const MAX_KEY_LEN: usize = 16 * 1024;

fn frame(out: &mut Vec<u8>, num: u32, raw: &[u8]) {
    out.extend_from_slice(&num.to_le_bytes());
    out.extend_from_slice(&(raw.len() as u32).to_le_bytes());
    out.extend_from_slice(raw);
}

/// Appends the key of `bytes` to `out`. `false` when the key would exceed
/// [`MAX_KEY_LEN`] (the caller then skips the cache). Malformed bytes are an
/// error, exactly where decoding would fail.
pub fn write_wire_key(out: &mut Vec<u8>, bytes: &[u8], naming: Naming, projection: &Projection) -> WireResult<bool> {
    let start = out.len();
    let mut r = Reader::new(bytes);
    while !r.done() {
        match r.tag()? {
            (1, LEN) => {
                let b = r.bytes()?;
                out.push(b'{');
                walk(out, &schema::ATTRIBUTE_CONTEXT, b, naming, projection.attributes(), 0)?;
                out.push(b'}');
            }
            (_, wt) => r.skip(wt)?,
        }
        if out.len() - start > MAX_KEY_LEN {
            return Ok(false);
        }
    }
    Ok(true)
}

fn walk(out: &mut Vec<u8>, msg: &'static Message, bytes: &[u8], naming: Naming, sel: Sel<'_>, depth: u32) -> WireResult<()> {
    if depth > 64 {
        // Deeper than any Envoy message: take the bytes whole.
        frame(out, 0, bytes);
        return Ok(());
    }
    let mut r = Reader::new(bytes);
    while !r.done() {
        let (num, wt) = r.tag()?;
        let Some(field) = known_field(msg, num, wt, naming) else {
            r.skip(wt)?;
            continue;
        };
        let name = field_name(field, naming);
        let Some(sub) = sel.child(name) else {
            r.skip(wt)?;
            continue;
        };
        // Envoy's raw header list: only the header names the decision reads.
        if std::ptr::eq(msg, &schema::HTTP_REQUEST) && field.number == 13 {
            let headers = sel.child("headers");
            header_map(out, r.bytes()?, headers)?;
            continue;
        }
        match (field.kind, sub) {
            (Kind::Message(m), Sel::Some(_)) if !field.repeated => {
                let b = r.bytes()?;
                out.extend_from_slice(&num.to_le_bytes());
                out.push(b'{');
                walk(out, m, b, naming, sub, depth + 1)?;
                out.push(b'}');
            }
            (Kind::MapString | Kind::MapMessage(_), Sel::Some(_)) => {
                let b = r.bytes()?;
                if sub.child(map_key(b)?).is_some() {
                    frame(out, num, b);
                }
            }
            // Taken whole: scalars by value, everything else by its bytes.
            _ => match wt {
                LEN => frame(out, num, r.bytes()?),
                VARINT => frame(out, num, &r.varint()?.to_le_bytes()),
                FIXED64 => frame(out, num, &r.fixed64()?.to_le_bytes()),
                FIXED32 => frame(out, num, &r.fixed32()?.to_le_bytes()),
                _ => r.skip(wt)?,
            },
        }
    }
    Ok(())
}

fn map_key(entry: &[u8]) -> WireResult<&str> {
    let mut r = Reader::new(entry);
    let mut k: &[u8] = &[];
    while !r.done() {
        match r.tag()? {
            (1, LEN) => k = r.bytes()?,
            (_, wt) => r.skip(wt)?,
        }
    }
    // Decoding fails on the same bytes.
    std::str::from_utf8(k).map_err(|_| WireError("string field contains invalid UTF-8"))
}

/// `header_map.headers[]` entries whose lowercased key `headers` selects.
fn header_map(out: &mut Vec<u8>, bytes: &[u8], headers: Option<Sel<'_>>) -> WireResult<()> {
    let Some(headers) = headers else { return Ok(()) };
    let mut r = Reader::new(bytes);
    out.extend_from_slice(&13u32.to_le_bytes());
    out.push(b'[');
    while !r.done() {
        match r.tag()? {
            (1, LEN) => {
                let entry = r.bytes()?;
                let key = map_key(entry)?.to_ascii_lowercase();
                if headers.child(&key).is_some() {
                    frame(out, 1, entry);
                }
            }
            (_, wt) => r.skip(wt)?,
        }
    }
    out.push(b']');
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::wire::Writer;
    use sark_engine::Value;

    /// A CheckRequest with the given headers (as the map, or as Envoy's raw list).
    fn request(path: &str, headers: &[(&str, &str)], raw_list: bool) -> Vec<u8> {
        let mut w = Writer::default();
        w.message_field(1, |attrs| {
            attrs.message_field(4, |req| {
                req.message_field(2, |http| {
                    http.string_field(2, "GET");
                    if raw_list {
                        http.message_field(13, |hm| {
                            for (k, v) in headers {
                                hm.message_field(1, |hv| {
                                    hv.string_field(1, k);
                                    hv.bytes_field(3, v.as_bytes());
                                });
                            }
                        });
                    } else {
                        for (k, v) in headers {
                            http.message_field(3, |e| {
                                e.string_field(1, k);
                                e.string_field(2, v);
                            });
                        }
                    }
                    http.string_field(4, path);
                });
            });
        });
        w.buf
    }

    fn key(bytes: &[u8]) -> Vec<u8> {
        let paths = vec![
            vec![Value::from("attributes"), Value::from("request"), Value::from("http"), Value::from("headers"), Value::from("x-role")],
            vec![Value::from("parsed_path")],
        ];
        let p = Projection::from_input_paths(&paths, true);
        let mut out = Vec::new();
        assert!(write_wire_key(&mut out, bytes, Naming::Json, &p).unwrap());
        out
    }

    #[test]
    fn volatile_headers_do_not_change_the_key() {
        for raw in [false, true] {
            let a = key(&request("/a", &[("x-role", "admin"), ("x-request-id", "1")], raw));
            let b = key(&request("/a", &[("x-role", "admin"), ("x-request-id", "2")], raw));
            assert_eq!(a, b, "raw list: {}", raw);
        }
    }

    #[test]
    fn what_the_decision_reads_changes_the_key() {
        for raw in [false, true] {
            let base = key(&request("/a", &[("x-role", "admin")], raw));
            assert_ne!(base, key(&request("/a", &[("x-role", "viewer")], raw)));
            assert_ne!(base, key(&request("/b", &[("x-role", "admin")], raw)));
            // Header names are case-insensitive in the raw list, as folding makes them.
            if raw {
                assert_ne!(key(&request("/a", &[("X-Role", "viewer")], true)), base);
            }
        }
        // Body headers are always part of it: they decide how the body parses.
        assert_ne!(key(&request("/a", &[("content-type", "a/b")], false)), key(&request("/a", &[("content-type", "c/d")], false)));
    }

    #[test]
    fn malformed_bytes_are_an_error_and_huge_keys_are_refused() {
        let p = Projection::from_input_paths(&[vec![]], true);
        assert!(write_wire_key(&mut Vec::new(), &[0x0a, 0x10], Naming::Json, &p).is_err());
        let big = request(&format!("/{}", "x".repeat(MAX_KEY_LEN + 10)), &[], false);
        assert_eq!(write_wire_key(&mut Vec::new(), &big, Naming::Json, &p).ok(), Some(false));
    }
}
