//! Protobuf bytes → Value, the way opa-envoy-plugin's `protomap` renders a
//! message: populated fields only (proto3 defaults left out), JSON names,
//! maps as objects, Struct as a plain object, int64 as numbers, bytes as
//! base64, enums as numbers, Timestamp as `{seconds, nanos}`.

use crate::projection::Sel;
use crate::schema::{self, Field, Kind, Message};
use crate::wire::{Reader, WireError, WireResult, FIXED32, FIXED64, LEN, VARINT};
use num_bigint_free::u64_to_number;
use sark_engine::value::{Map, Str};
use sark_engine::{Number, Value};
use smallvec::SmallVec;
use std::sync::Arc;

/// Which field names to emit: v3's protojson names or v2's Go struct names.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Naming {
    Json,
    Proto,
}

/// Nested Struct values deeper than this are refused, not recursed into.
const MAX_DEPTH: u32 = 64;

pub fn decode(msg: &'static Message, bytes: &[u8], naming: Naming) -> WireResult<Map> {
    decode_selected(msg, bytes, naming, Sel::All)
}

/// Decodes only the fields (and map entries) `sel` names; the rest is
/// skipped on the wire (still checked to be well-formed framing).
pub fn decode_selected(msg: &'static Message, bytes: &[u8], naming: Naming, sel: Sel<'_>) -> WireResult<Map> {
    let mut out = Map::with_capacity(expected_fields(msg, sel));
    decode_into(msg, bytes, naming, &mut out, 0, sel)?;
    Ok(out)
}

fn key(f: &Field, naming: Naming) -> Value {
    let built = match naming {
        Naming::Json => &f.json_key,
        Naming::Proto => &f.proto_key,
    };
    match built {
        Some(k) => Value::String(k.clone()),
        None => Value::interned(field_name(f, naming)),
    }
}

fn utf8(b: &[u8]) -> WireResult<Str> {
    Str::from_utf8(b).ok_or(WireError("string field contains invalid UTF-8"))
}

fn decode_into(msg: &'static Message, bytes: &[u8], naming: Naming, out: &mut Map, depth: u32, sel: Sel<'_>) -> WireResult<()> {
    if depth > MAX_DEPTH {
        return Err(WireError("message nested too deeply"));
    }
    // Map entries and repeated elements are gathered first and placed once
    // at the end: one sort per map, one allocation per array.
    // Inline room for one of each: most messages have at most one map field
    // and one repeated field, so the lists need no allocation of their own.
    let mut maps: SmallVec<[(Value, Vec<(Value, Value)>); 1]> = SmallVec::new();
    let mut arrays: SmallVec<[(Value, Vec<Value>); 1]> = SmallVec::new();
    let mut r = Reader::new(bytes);
    // The last field looked up: map entries and repeated elements come as
    // runs of one field number (a request's headers), looked up once per run.
    let mut last: (u32, u32, Option<(&'static Field, Sel<'_>)>) = (0, 0, None);
    while !r.done() {
        let (num, wt) = r.tag()?;
        if (num, wt) != (last.0, last.1) {
            let found = known_field(msg, num, wt, naming).and_then(|field| sel.child(field_name(field, naming)).map(|sub| (field, sub)));
            last = (num, wt, found);
        }
        let Some((field, sub)) = last.2 else {
            r.skip(wt)?;
            continue;
        };
        match field.kind {
            Kind::MapString => {
                let entry_bytes = r.bytes()?;
                // Unselected entries are skipped before their value is even read.
                if sub.child_bytes(map_entry_key(entry_bytes)?).is_some() {
                    let (mk, mv) = map_entry_strings(entry_bytes)?;
                    if let Some(list) = pending(&mut maps, field, naming) {
                        list.push((Value::String(mk), Value::String(mv)));
                    }
                }
            }
            Kind::MapMessage(m) => {
                let (mk, mv) = map_entry_message(r.bytes()?, m, naming, depth)?;
                if sub.child(&mk).is_some() {
                    if let Some(list) = pending(&mut maps, field, naming) {
                        list.push((Value::String(mk), mv));
                    }
                }
            }
            _ => {
                // Repeated fields and Structs are taken whole once selected.
                let sub = if field.repeated { Sel::All } else { sub };
                let v = scalar_or_message(field, &mut r, naming, depth, sub)?;
                if field.repeated {
                    if let Some(list) = pending(&mut arrays, field, naming) {
                        list.push(v);
                    }
                    continue;
                }
                let k = key(field, naming);
                if is_default(&v) && !field.oneof && !matches!(field.kind, Kind::Message(_) | Kind::Struct) {
                    // proto3: a default scalar is indistinguishable from an absent one.
                    out.remove(&k);
                } else if let Some(Value::Object(mut prev)) = out.insert(k.clone(), v) {
                    // A message field seen twice merges, as in protobuf.
                    if let Some(Value::Object(new)) = out.get_mut(&k) {
                        let merged = Arc::make_mut(&mut prev);
                        for (nk, nv) in new.iter() {
                            merged.insert(nk.clone(), nv.clone());
                        }
                        *new = prev;
                    }
                }
            }
        }
    }
    for (k, entries) in maps {
        // Later entries with an equal key win, as protobuf map semantics say.
        out.insert(k, Value::from_map(entries.into_iter().collect()));
    }
    for (k, items) in arrays {
        out.insert(k, Value::from_array(items));
    }
    Ok(())
}

/// How many fields of `m` a selection can produce: room enough for most
/// messages without growing, not more than a few entries.
fn expected_fields(m: &Message, sel: Sel<'_>) -> usize {
    match sel {
        Sel::All => m.fields.len().min(8),
        Sel::Some(n) => n.children.len().min(m.fields.len()),
    }
}

/// The list gathered for `field` (a message has few such fields: a scan is enough).
fn pending<'l, T>(lists: &'l mut SmallVec<[(Value, Vec<T>); 1]>, field: &Field, naming: Naming) -> Option<&'l mut Vec<T>> {
    let name = field_name(field, naming);
    let i = match lists.iter().position(|(key, _)| key.as_str() == Some(name)) {
        Some(i) => i,
        None => {
            lists.push((key(field, naming), Vec::new()));
            lists.len() - 1
        }
    };
    lists.get_mut(i).map(|(_, list)| list)
}

/// The field `num` of `msg` as this API version knows it, if the wire type
/// fits. Unknown numbers (v3 additions, for v2) and mismatched wire types
/// are skipped by callers, as protobuf readers do.
pub(crate) fn known_field(msg: &'static Message, num: u32, wt: u32, naming: Naming) -> Option<&'static Field> {
    msg.field(num).filter(|f| wire_type_of(f.kind) == wt && !(f.v3_only && naming == Naming::Proto))
}

/// The naming's field name: JSON names for v3, proto names for v2.
pub(crate) fn field_name(f: &Field, naming: Naming) -> &'static str {
    match naming {
        Naming::Json => f.json,
        Naming::Proto => f.proto,
    }
}

pub(crate) fn wire_type_of(kind: Kind) -> u32 {
    match kind {
        Kind::Bool | Kind::Int32 | Kind::Int64 | Kind::Uint32 | Kind::Uint64 | Kind::Enum => VARINT,
        Kind::Double => FIXED64,
        Kind::Float => FIXED32,
        _ => LEN,
    }
}

fn is_default(v: &Value) -> bool {
    match v {
        Value::String(s) => s.is_empty(),
        Value::Bool(b) => !*b,
        Value::Number(n) => n.is_zero(),
        _ => false,
    }
}

fn scalar_or_message(field: &Field, r: &mut Reader, naming: Naming, depth: u32, sel: Sel<'_>) -> WireResult<Value> {
    Ok(match field.kind {
        Kind::String => Value::String(utf8(r.bytes()?)?),
        Kind::Bytes => Value::string(base64::Engine::encode(&crate::BASE64, r.bytes()?)),
        Kind::Bool => Value::Bool(r.varint()? != 0),
        Kind::Int32 | Kind::Enum => Value::int(r.varint()? as i32 as i64),
        Kind::Int64 => Value::int(r.varint()? as i64),
        Kind::Uint32 => Value::int(r.varint()? as u32 as i64),
        Kind::Uint64 => Value::Number(u64_to_number(r.varint()?)),
        Kind::Double => Value::float(f64::from_bits(r.fixed64()?)),
        Kind::Float => Value::float(f32::from_bits(r.fixed32()?) as f64),
        Kind::Message(m) => {
            let mut inner = Map::with_capacity(expected_fields(m, sel));
            decode_into(m, r.bytes()?, naming, &mut inner, depth + 1, sel)?;
            Value::from_map(inner)
        }
        Kind::Struct => decode_struct(r.bytes()?, depth + 1)?,
        Kind::MapString | Kind::MapMessage(_) => return Err(WireError("map field outside a message")),
    })
}

/// The key of a map entry (field 1), borrowed from the wire. Only compared
/// with selected names here: an entry that is kept has its key checked to be
/// UTF-8 when it is read (`map_entry_strings`).
fn map_entry_key(bytes: &[u8]) -> WireResult<&[u8]> {
    let mut r = Reader::new(bytes);
    let mut k: &[u8] = b"";
    while !r.done() {
        match r.tag()? {
            (1, LEN) => k = r.bytes()?,
            (_, wt) => r.skip(wt)?,
        }
    }
    Ok(k)
}

/// A `map<string, string>` entry (read only when kept).
fn map_entry_strings(bytes: &[u8]) -> WireResult<(Str, Str)> {
    let mut r = Reader::new(bytes);
    let (mut k, mut v) = (Str::default(), Str::default());
    while !r.done() {
        match r.tag()? {
            (1, LEN) => k = utf8(r.bytes()?)?,
            (2, LEN) => v = utf8(r.bytes()?)?,
            (_, wt) => r.skip(wt)?,
        }
    }
    Ok((k, v))
}

fn map_entry_message(bytes: &[u8], m: &'static Message, naming: Naming, depth: u32) -> WireResult<(Str, Value)> {
    let mut r = Reader::new(bytes);
    let mut k: Str = "".into();
    let mut v = Value::empty_object();
    while !r.done() {
        match r.tag()? {
            (1, LEN) => k = utf8(r.bytes()?)?,
            (2, LEN) => {
                let b = r.bytes()?;
                v = if std::ptr::eq(m, &schema::STRUCT_MARKER) {
                    decode_struct(b, depth + 1)?
                } else {
                    let mut inner = Map::new();
                    decode_into(m, b, naming, &mut inner, depth + 1, Sel::All)?;
                    Value::from_map(inner)
                };
            }
            (_, wt) => r.skip(wt)?,
        }
    }
    Ok((k, v))
}

/// google.protobuf.Struct → a plain object (`structpb.Struct.AsMap`).
fn decode_struct(bytes: &[u8], depth: u32) -> WireResult<Value> {
    if depth > MAX_DEPTH {
        return Err(WireError("message nested too deeply"));
    }
    let mut out = Map::new();
    let mut r = Reader::new(bytes);
    while !r.done() {
        match r.tag()? {
            (schema::STRUCT_FIELDS, LEN) => {
                let mut e = Reader::new(r.bytes()?);
                let mut k: Str = "".into();
                let mut v = Value::Null;
                while !e.done() {
                    match e.tag()? {
                        (1, LEN) => k = utf8(e.bytes()?)?,
                        (2, LEN) => v = decode_struct_value(e.bytes()?, depth + 1)?,
                        (_, wt) => e.skip(wt)?,
                    }
                }
                out.insert(Value::String(k), v);
            }
            (_, wt) => r.skip(wt)?,
        }
    }
    Ok(Value::from_map(out))
}

/// google.protobuf.Value → its JSON value; no kind set reads as null.
fn decode_struct_value(bytes: &[u8], depth: u32) -> WireResult<Value> {
    if depth > MAX_DEPTH {
        return Err(WireError("message nested too deeply"));
    }
    let mut r = Reader::new(bytes);
    let mut v = Value::Null;
    while !r.done() {
        match r.tag()? {
            (schema::VALUE_NULL, VARINT) => {
                r.varint()?;
                v = Value::Null;
            }
            (schema::VALUE_NUMBER, FIXED64) => v = Value::float(f64::from_bits(r.fixed64()?)),
            (schema::VALUE_STRING, LEN) => v = Value::String(utf8(r.bytes()?)?),
            (schema::VALUE_BOOL, VARINT) => v = Value::Bool(r.varint()? != 0),
            (schema::VALUE_STRUCT, LEN) => v = decode_struct(r.bytes()?, depth + 1)?,
            (schema::VALUE_LIST, LEN) => {
                let mut items = Vec::new();
                let mut l = Reader::new(r.bytes()?);
                while !l.done() {
                    match l.tag()? {
                        (schema::LIST_VALUES, LEN) => items.push(decode_struct_value(l.bytes()?, depth + 1)?),
                        (_, wt) => l.skip(wt)?,
                    }
                }
                v = Value::from_array(items);
            }
            (_, wt) => r.skip(wt)?,
        }
    }
    Ok(v)
}

mod num_bigint_free {
    use super::Number;
    /// A uint64 as a Rego number, exact beyond i64's range.
    pub fn u64_to_number(v: u64) -> Number {
        match i64::try_from(v) {
            Ok(i) => Number::Int(i),
            Err(_) => Number::parse(&v.to_string()).unwrap_or(Number::Float(v as f64)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::projection::Projection;
    use crate::wire::Writer;

    #[test]
    fn leaves_out_defaults_and_keeps_set_fields() {
        let mut w = Writer::default();
        w.message_field(4, |req| {
            req.message_field(2, |http| {
                http.string_field(2, "GET");
                http.string_field(4, "/x");
                http.int_field(9, 0);
                http.message_field(3, |e| {
                    e.string_field(1, ":path");
                    e.string_field(2, "/x");
                });
            })
        });
        let m = decode(&schema::ATTRIBUTE_CONTEXT, &w.buf, Naming::Json).unwrap();
        let v = Value::from_map(m);
        assert_eq!(v.to_json(), r#"{"request":{"http":{"headers":{":path":"/x"},"method":"GET","path":"/x"}}}"#);
    }

    #[test]
    fn renders_struct_metadata_as_plain_objects() {
        let mut w = Writer::default();
        w.message_field(1, |entry| {
            entry.string_field(1, "envoy.filters.http.jwt_authn");
            entry.message_field(2, |st| {
                st.message_field(1, |fe| {
                    fe.string_field(1, "sub");
                    fe.message_field(2, |val| val.string_field(3, "alice"));
                });
                st.message_field(1, |fe| {
                    fe.string_field(1, "n");
                    fe.message_field(2, |val| val.double_field(2, 2.0));
                });
            });
        });
        let m = decode(&schema::METADATA, &w.buf, Naming::Json).unwrap();
        assert_eq!(Value::from_map(m).to_json(), r#"{"filterMetadata":{"envoy.filters.http.jwt_authn":{"n":2,"sub":"alice"}}}"#);
    }

    /// A projection naming `attributes.request.http.{method, headers.x-role}`.
    fn method_and_role() -> Projection {
        let path = |steps: &[&str]| steps.iter().map(|s| Value::from(*s)).collect::<Vec<_>>();
        let paths = vec![path(&["attributes", "request", "http", "method"]), path(&["attributes", "request", "http", "headers", "x-role"])];
        Projection::from_input_paths(&paths, true)
    }

    #[test]
    fn selected_entries_survive_interleaved_and_repeated_fields() {
        // Header entries split by other fields, a field repeated (last wins), an unselected header.
        let mut w = Writer::default();
        w.message_field(4, |req| {
            req.message_field(2, |http| {
                let header = |http: &mut Writer, k: &str, v: &str| {
                    http.message_field(3, |e| {
                        e.string_field(1, k);
                        e.string_field(2, v);
                    })
                };
                header(http, "x-role", "viewer");
                http.string_field(2, "GET");
                header(http, "user-agent", "curl");
                http.string_field(2, "POST");
                header(http, "x-role", "admin");
            })
        });
        let projection = method_and_role();
        let m = decode_selected(&schema::ATTRIBUTE_CONTEXT, &w.buf, Naming::Json, projection.attributes()).unwrap();
        assert_eq!(Value::from_map(m).to_json(), r#"{"request":{"http":{"headers":{"x-role":"admin"},"method":"POST"}}}"#);
    }

    #[test]
    fn a_header_key_that_is_not_utf8_is_refused_when_read() {
        let request = |key: &[u8]| {
            let mut w = Writer::default();
            w.message_field(4, |req| {
                req.message_field(2, |http| {
                    http.message_field(3, |e| {
                        e.bytes_field(1, key);
                        e.string_field(2, "v");
                    })
                })
            });
            w.buf
        };
        let projection = method_and_role();
        // Not selected: skipped like its value. Read whole: refused.
        assert!(decode_selected(&schema::ATTRIBUTE_CONTEXT, &request(&[0xff, b'x']), Naming::Json, projection.attributes()).is_ok());
        assert!(decode(&schema::ATTRIBUTE_CONTEXT, &request(&[0xff, b'x']), Naming::Json).is_err());
    }

    #[test]
    fn refuses_invalid_utf8_and_truncation() {
        let mut w = Writer::default();
        w.bytes_field(2, &[0xff, 0xfe]);
        assert!(decode(&schema::PEER, &w.buf, Naming::Json).is_err());
        assert!(decode(&schema::PEER, &[0x0a, 0x05, 0x01], Naming::Json).is_err());
    }
}
