//! Protobuf binary → the protojson rendering of a message, for any message
//! in a [`Descriptors`] set: lowerCamelCase (`json_name`) keys, 64-bit
//! integers as strings, enums by name, bytes as base64, fields at their
//! zero value left out unless they have explicit presence, and the
//! well-known types (Timestamp, Duration, Struct/Value/ListValue, wrappers,
//! FieldMask, Any, Empty) in their JSON forms — as Go's protojson.Marshal
//! and @bufbuild/protobuf's toJson render them.

use crate::descriptor::{Descriptors, Enum, Field, Kind, Message};
use crate::wire::{Reader, WireError, LEN};
use sark_engine::value::Map;
use sark_engine::Value;

/// Messages nested deeper than this are refused (as @bufbuild/protobuf's default).
const MAX_DEPTH: u32 = 100;

#[derive(Debug, Clone, PartialEq)]
pub struct DecodeError(pub String);

type Result<T> = std::result::Result<T, DecodeError>;

fn err<T>(msg: impl Into<String>) -> Result<T> {
    Err(DecodeError(msg.into()))
}

/// Indices between descriptors were resolved when the set was loaded; one
/// that does not resolve is a decode error, never a panic.
fn message(d: &Descriptors, i: usize) -> Result<&Message> {
    d.messages.get(i).ok_or_else(|| DecodeError("unresolved message type".into()))
}

fn enum_of<'d>(d: &'d Descriptors, f: &Field) -> Option<&'d Enum> {
    f.enum_type.and_then(|i| d.enums.get(i))
}

/// The slot of field index `i` (from the message's own descriptor).
fn slot(m: &mut Dyn, i: usize) -> Result<&mut Option<Slot>> {
    m.slots.get_mut(i).ok_or_else(|| DecodeError("field index out of range".into()))
}

fn wire(e: WireError) -> DecodeError {
    DecodeError(format!("cannot decode message: {}", e.0))
}

/// A decoded scalar, before rendering.
#[derive(Debug, Clone, PartialEq)]
enum Raw {
    I64(i64),
    U64(u64),
    F32(f32),
    F64(f64),
    Bool(bool),
    Str(String),
    Bytes(Vec<u8>),
    Enum(i32),
    Msg(Dyn),
}

impl Raw {
    fn is_zero(&self) -> bool {
        match self {
            Raw::I64(v) => *v == 0,
            Raw::U64(v) => *v == 0,
            Raw::F32(v) => v.to_bits() == 0,
            Raw::F64(v) => v.to_bits() == 0,
            Raw::Bool(v) => !*v,
            Raw::Str(s) => s.is_empty(),
            Raw::Bytes(b) => b.is_empty(),
            Raw::Enum(v) => *v == 0,
            Raw::Msg(_) => false,
        }
    }
}

#[derive(Debug, Clone, PartialEq)]
enum Slot {
    One(Raw),
    List(Vec<Raw>),
    /// Entries in wire order; a later entry for a key replaces an earlier one.
    Map(Vec<(Raw, Raw)>),
}

/// A decoded message: its index in the set and its set fields (by field index).
#[derive(Debug, Clone, PartialEq)]
struct Dyn {
    msg: usize,
    slots: Vec<Option<Slot>>,
}

impl Dyn {
    fn new(d: &Descriptors, msg: usize) -> Dyn {
        Dyn { msg, slots: vec![None; d.messages.get(msg).map_or(0, |m| m.fields.len())] }
    }
}

/// Decodes `bytes` as message `msg` of `d` and renders it as protojson.
pub fn decode_to_value(d: &Descriptors, msg: usize, bytes: &[u8]) -> Result<Value> {
    let mut m = Dyn::new(d, msg);
    merge(d, &mut m, bytes, 1)?;
    render_message(d, &m, 1)
}

/// Reads `bytes` into `m`, merging with what it holds (protobuf merge semantics).
fn merge(d: &Descriptors, m: &mut Dyn, bytes: &[u8], depth: u32) -> Result<()> {
    if depth > MAX_DEPTH {
        return err(format!("cannot decode message: maximum nesting depth of {} reached", MAX_DEPTH));
    }
    let desc = message(d, m.msg)?;
    let mut r = Reader::new(bytes);
    while !r.done() {
        let (num, wt) = r.tag().map_err(wire)?;
        let fi = match desc.field_index(num) {
            Some(i) => i,
            None => {
                r.skip_field(num, wt).map_err(wire)?;
                continue;
            }
        };
        let f = desc.fields.get(fi).ok_or_else(|| DecodeError("field index out of range".into()))?;
        if f.map {
            if wt != LEN {
                r.skip_field(num, wt).map_err(wire)?;
                continue;
            }
            let entry = map_entry(d, f, r.bytes().map_err(wire)?, depth)?;
            match slot(m, fi)? {
                Some(Slot::Map(entries)) => entries.push(entry),
                slot => *slot = Some(Slot::Map(vec![entry])),
            }
            continue;
        }
        if f.repeated {
            let mut items = Vec::new();
            if wt == LEN && f.kind.packable() {
                let mut p = Reader::new(r.bytes().map_err(wire)?);
                while !p.done() {
                    if let Some(v) = read_value(d, f, &mut p, None, depth)? {
                        items.push(v);
                    }
                }
            } else if wt == f.kind.wire_type() {
                if let Some(v) = read_value(d, f, &mut r, None, depth)? {
                    items.push(v);
                }
            } else {
                // A wire type that does not fit the field: an unknown field.
                r.skip_field(num, wt).map_err(wire)?;
                continue;
            }
            match slot(m, fi)? {
                Some(Slot::List(list)) => list.extend(items),
                slot => *slot = Some(Slot::List(items)),
            }
            continue;
        }
        if wt != f.kind.wire_type() {
            r.skip_field(num, wt).map_err(wire)?;
            continue;
        }
        // A message field seen again merges into the value it has (unless a
        // sibling oneof member was set since).
        let cell = slot(m, fi)?;
        let existing = match cell.take() {
            Some(Slot::One(Raw::Msg(prev))) => Some(prev),
            other => {
                *cell = other;
                None
            }
        };
        // None: an unknown value of a closed enum, kept as an unknown field.
        if let Some(v) = read_value(d, f, &mut r, existing, depth)? {
            if let Some(o) = f.oneof {
                for (j, (g, s)) in desc.fields.iter().zip(m.slots.iter_mut()).enumerate() {
                    if j != fi && g.oneof == Some(o) {
                        *s = None;
                    }
                }
            }
            *slot(m, fi)? = if !f.explicit_presence && v.is_zero() { None } else { Some(Slot::One(v)) };
        }
    }
    Ok(())
}

/// One value of field `f` (its wire type already checked). `None` for a
/// number that a closed enum does not define.
fn read_value(d: &Descriptors, f: &Field, r: &mut Reader<'_>, existing: Option<Dyn>, depth: u32) -> Result<Option<Raw>> {
    let v = match f.kind {
        Kind::Message | Kind::Group => {
            let sub = f.message.ok_or_else(|| DecodeError("unresolved message type".into()))?;
            let body = if f.kind == Kind::Group { r.group(f.number).map_err(wire)? } else { r.bytes().map_err(wire)? };
            let mut m = existing.unwrap_or_else(|| Dyn::new(d, sub));
            merge(d, &mut m, body, depth + 1)?;
            Raw::Msg(m)
        }
        Kind::Enum => {
            let n = r.varint().map_err(wire)? as i32;
            if let Some(e) = enum_of(d, f) {
                if e.closed && e.name_of(n).is_none() {
                    return Ok(None);
                }
            }
            Raw::Enum(n)
        }
        kind => read_scalar(kind, f.strict_utf8, r)?,
    };
    Ok(Some(v))
}

fn read_scalar(kind: Kind, strict_utf8: bool, r: &mut Reader<'_>) -> Result<Raw> {
    Ok(match kind {
        Kind::Double => Raw::F64(f64::from_bits(r.fixed64().map_err(wire)?)),
        Kind::Float => Raw::F32(f32::from_bits(r.fixed32().map_err(wire)?)),
        Kind::Int64 => Raw::I64(r.varint().map_err(wire)? as i64),
        Kind::Uint64 => Raw::U64(r.varint().map_err(wire)?),
        Kind::Int32 => Raw::I64(r.varint().map_err(wire)? as i32 as i64),
        Kind::Fixed64 => Raw::U64(r.fixed64().map_err(wire)?),
        Kind::Fixed32 => Raw::U64(r.fixed32().map_err(wire)? as u64),
        Kind::Bool => Raw::Bool(r.varint().map_err(wire)? != 0),
        Kind::String => {
            let b = r.bytes().map_err(wire)?;
            if strict_utf8 {
                Raw::Str(std::str::from_utf8(b).map_err(|_| DecodeError("cannot decode message: invalid UTF-8 in a string field".into()))?.to_string())
            } else {
                Raw::Str(String::from_utf8_lossy(b).into_owned())
            }
        }
        Kind::Bytes => Raw::Bytes(r.bytes().map_err(wire)?.to_vec()),
        Kind::Uint32 => Raw::U64(r.varint().map_err(wire)? as u32 as u64),
        Kind::Sfixed32 => Raw::I64(r.fixed32().map_err(wire)? as i32 as i64),
        Kind::Sfixed64 => Raw::I64(r.fixed64().map_err(wire)? as i64),
        Kind::Sint32 => {
            let n = r.varint().map_err(wire)? as u32;
            Raw::I64((((n >> 1) as i32) ^ -((n & 1) as i32)) as i64)
        }
        Kind::Sint64 => {
            let n = r.varint().map_err(wire)?;
            Raw::I64(((n >> 1) as i64) ^ -((n & 1) as i64))
        }
        Kind::Enum => Raw::Enum(r.varint().map_err(wire)? as i32),
        Kind::Message | Kind::Group => return err("unexpected message"),
    })
}

/// The zero value of a field that a map entry left out.
fn zero(d: &Descriptors, f: &Field) -> Raw {
    match f.kind {
        Kind::Double => Raw::F64(0.0),
        Kind::Float => Raw::F32(0.0),
        Kind::Int64 | Kind::Int32 | Kind::Sfixed32 | Kind::Sfixed64 | Kind::Sint32 | Kind::Sint64 => Raw::I64(0),
        Kind::Uint64 | Kind::Fixed64 | Kind::Fixed32 | Kind::Uint32 => Raw::U64(0),
        Kind::Bool => Raw::Bool(false),
        Kind::String => Raw::Str(String::new()),
        Kind::Bytes => Raw::Bytes(Vec::new()),
        Kind::Enum => Raw::Enum(enum_of(d, f).and_then(|e| e.values.first()).map_or(0, |v| v.1)),
        Kind::Message | Kind::Group => Raw::Msg(Dyn::new(d, f.message.unwrap_or(0))),
    }
}

fn map_entry(d: &Descriptors, f: &Field, bytes: &[u8], depth: u32) -> Result<(Raw, Raw)> {
    let entry = message(d, f.message.ok_or_else(|| DecodeError("unresolved map entry".into()))?)?;
    let field = |n| entry.field_index(n).and_then(|i| entry.fields.get(i));
    let (kf, vf) = match (field(1), field(2)) {
        (Some(k), Some(v)) => (k, v),
        _ => return err("malformed map entry type"),
    };
    let (mut key, mut val): (Option<Raw>, Option<Raw>) = (None, None);
    let mut r = Reader::new(bytes);
    while !r.done() {
        let (num, wt) = r.tag().map_err(wire)?;
        match num {
            1 if wt == kf.kind.wire_type() => key = Some(read_scalar(kf.kind, f.strict_utf8, &mut r)?),
            2 if wt == vf.kind.wire_type() => {
                let existing = match val.take() {
                    Some(Raw::Msg(m)) => Some(m),
                    _ => None,
                };
                if vf.kind == Kind::Enum {
                    val = Some(Raw::Enum(r.varint().map_err(wire)? as i32));
                } else {
                    val = read_value(d, vf, &mut r, existing, depth)?;
                }
            }
            _ => r.skip_field(num, wt).map_err(wire)?,
        }
    }
    Ok((key.unwrap_or_else(|| zero(d, kf)), val.unwrap_or_else(|| zero(d, vf))))
}

// ---------------------------------------------------------------- rendering

fn render_message(d: &Descriptors, m: &Dyn, depth: u32) -> Result<Value> {
    if depth > MAX_DEPTH + 1 {
        return err("cannot render message: too deeply nested");
    }
    let desc = message(d, m.msg)?;
    if let Some(v) = render_well_known(d, m, depth)? {
        return Ok(v);
    }
    let mut out = Map::new();
    for (f, slot) in desc.fields.iter().zip(&m.slots) {
        let slot = match slot {
            Some(s) => s,
            None => continue,
        };
        let v = match slot {
            Slot::One(raw) => render_value(d, f, raw, depth)?,
            Slot::List(items) => {
                if items.is_empty() {
                    continue;
                }
                let mut out = Vec::with_capacity(items.len());
                for it in items {
                    out.push(render_value(d, f, it, depth)?);
                }
                Value::from_array(out)
            }
            Slot::Map(entries) => {
                let entry = message(d, f.message.unwrap_or(0))?;
                let vf = match entry.field_index(2).and_then(|i| entry.fields.get(i)) {
                    Some(vf) => vf,
                    None => return err("malformed map entry type"),
                };
                let mut obj = Map::new();
                for (k, v) in entries {
                    obj.insert(Value::from(map_key(k)), render_value(d, vf, v, depth)?);
                }
                Value::from_map(obj)
            }
        };
        out.insert(Value::from(f.json_name.as_str()), v);
    }
    Ok(Value::from_map(out))
}

fn map_key(k: &Raw) -> String {
    match k {
        Raw::I64(v) => v.to_string(),
        Raw::U64(v) => v.to_string(),
        Raw::Bool(b) => b.to_string(),
        Raw::Str(s) => s.clone(),
        _ => String::new(),
    }
}

/// One value of field `f`.
fn render_value(d: &Descriptors, f: &Field, raw: &Raw, depth: u32) -> Result<Value> {
    Ok(match raw {
        Raw::Msg(m) => render_message(d, m, depth + 1)?,
        Raw::Enum(n) => {
            let e = enum_of(d, f);
            match e {
                Some(e) if e.full_name == "google.protobuf.NullValue" => Value::Null,
                Some(e) => match e.name_of(*n) {
                    Some(name) => Value::from(name),
                    None => Value::int(*n as i64),
                },
                None => Value::int(*n as i64),
            }
        }
        raw => render_scalar(f.kind, raw),
    })
}

fn render_scalar(kind: Kind, raw: &Raw) -> Value {
    let wide = matches!(kind, Kind::Int64 | Kind::Uint64 | Kind::Fixed64 | Kind::Sfixed64 | Kind::Sint64);
    match raw {
        Raw::I64(v) if wide => Value::from(v.to_string()),
        Raw::U64(v) if wide => Value::from(v.to_string()),
        Raw::I64(v) => Value::int(*v),
        Raw::U64(v) => Value::int(*v as i64),
        Raw::F32(v) => float(*v as f64, Some(*v)),
        Raw::F64(v) => float(*v, None),
        Raw::Bool(b) => Value::Bool(*b),
        Raw::Str(s) => Value::from(s.as_str()),
        Raw::Bytes(b) => Value::from(base64::Engine::encode(&crate::BASE64, b)),
        Raw::Enum(n) => Value::int(*n as i64),
        Raw::Msg(_) => Value::Null,
    }
}

/// A float as protojson writes it: NaN and the infinities as strings; a
/// 32-bit float as its shortest decimal (`0.1`, not `0.10000000149011612`).
fn float(v: f64, single: Option<f32>) -> Value {
    if v.is_nan() {
        return Value::from("NaN");
    }
    if v.is_infinite() {
        return Value::from(if v > 0.0 { "Infinity" } else { "-Infinity" });
    }
    match single {
        Some(f) => Value::float(format!("{}", f).parse::<f64>().unwrap_or(v)),
        None => Value::float(v),
    }
}

// ------------------------------------------------------- well-known types

/// The raw value of field `number` of `m`, if set.
fn raw_field<'m>(d: &Descriptors, m: &'m Dyn, number: u32) -> Option<&'m Slot> {
    let i = d.messages.get(m.msg)?.field_index(number)?;
    m.slots.get(i)?.as_ref()
}

fn one_i64(d: &Descriptors, m: &Dyn, number: u32) -> i64 {
    match raw_field(d, m, number) {
        Some(Slot::One(Raw::I64(v))) => *v,
        Some(Slot::One(Raw::U64(v))) => *v as i64,
        _ => 0,
    }
}

fn one_str<'m>(d: &Descriptors, m: &'m Dyn, number: u32) -> &'m str {
    match raw_field(d, m, number) {
        Some(Slot::One(Raw::Str(s))) => s,
        _ => "",
    }
}

fn has_custom_json(full_name: &str) -> bool {
    matches!(
        full_name,
        "google.protobuf.Any"
            | "google.protobuf.Timestamp"
            | "google.protobuf.Duration"
            | "google.protobuf.FieldMask"
            | "google.protobuf.Struct"
            | "google.protobuf.Value"
            | "google.protobuf.ListValue"
    ) || is_wrapper(full_name)
}

fn is_wrapper(full_name: &str) -> bool {
    matches!(
        full_name,
        "google.protobuf.DoubleValue"
            | "google.protobuf.FloatValue"
            | "google.protobuf.Int64Value"
            | "google.protobuf.UInt64Value"
            | "google.protobuf.Int32Value"
            | "google.protobuf.UInt32Value"
            | "google.protobuf.BoolValue"
            | "google.protobuf.StringValue"
            | "google.protobuf.BytesValue"
    )
}

fn render_well_known(d: &Descriptors, m: &Dyn, depth: u32) -> Result<Option<Value>> {
    let desc = message(d, m.msg)?;
    let name = desc.full_name.as_str();
    if !name.starts_with("google.protobuf.") {
        return Ok(None);
    }
    let v = match name {
        "google.protobuf.Timestamp" => Value::from(timestamp(one_i64(d, m, 1), one_i64(d, m, 2))?),
        "google.protobuf.Duration" => Value::from(duration(one_i64(d, m, 1), one_i64(d, m, 2))?),
        "google.protobuf.FieldMask" => {
            let mut paths = Vec::new();
            if let Some(Slot::List(items)) = raw_field(d, m, 1) {
                for p in items {
                    if let Raw::Str(p) = p {
                        let camel = crate::descriptor::json_camel_case(p);
                        if snake_case(&camel) != *p {
                            return err(format!("cannot render google.protobuf.FieldMask: path {:?} has no lowerCamelCase form", p));
                        }
                        paths.push(camel);
                    }
                }
            }
            Value::from(paths.join(","))
        }
        "google.protobuf.Struct" => {
            let mut obj = Map::new();
            if let Some(Slot::Map(entries)) = raw_field(d, m, 1) {
                for (k, v) in entries {
                    let v = match v {
                        Raw::Msg(vm) => render_message(d, vm, depth + 1)?,
                        _ => return err("malformed google.protobuf.Struct"),
                    };
                    obj.insert(Value::from(map_key(k)), v);
                }
            }
            Value::from_map(obj)
        }
        "google.protobuf.ListValue" => {
            let mut out = Vec::new();
            if let Some(Slot::List(items)) = raw_field(d, m, 1) {
                for it in items {
                    match it {
                        Raw::Msg(vm) => out.push(render_message(d, vm, depth + 1)?),
                        _ => return err("malformed google.protobuf.ListValue"),
                    }
                }
            }
            Value::from_array(out)
        }
        "google.protobuf.Value" => {
            let set = desc.fields.iter().zip(&m.slots).find(|(_, s)| s.is_some());
            match set {
                None => return err("cannot render google.protobuf.Value: no kind is set"),
                Some((f, Some(Slot::One(raw)))) => match (f.number, raw) {
                    (1, _) => Value::Null,
                    (2, Raw::F64(x)) if !x.is_finite() => return err("cannot render google.protobuf.Value: NaN or Infinity"),
                    (2, Raw::F64(x)) => Value::float(*x),
                    (3, Raw::Str(s)) => Value::from(s.as_str()),
                    (4, Raw::Bool(b)) => Value::Bool(*b),
                    (5, Raw::Msg(vm)) | (6, Raw::Msg(vm)) => render_message(d, vm, depth + 1)?,
                    _ => return err("malformed google.protobuf.Value"),
                },
                Some(_) => return err("malformed google.protobuf.Value"),
            }
        }
        "google.protobuf.Any" => {
            let type_url = one_str(d, m, 1);
            if type_url.is_empty() {
                return Ok(Some(Value::empty_object()));
            }
            let type_name = type_url.rsplit('/').next().unwrap_or("");
            let inner = d
                .message_by_name(type_name)
                .ok_or_else(|| DecodeError(format!("cannot render google.protobuf.Any: {:?} is not in the descriptor set", type_url)))?;
            let value: &[u8] = match raw_field(d, m, 2) {
                Some(Slot::One(Raw::Bytes(b))) => b,
                _ => &[],
            };
            let mut im = Dyn::new(d, inner);
            merge(d, &mut im, value, depth + 1)?;
            let rendered = render_message(d, &im, depth + 1)?;
            let mut obj = if has_custom_json(&message(d, inner)?.full_name) {
                let mut o = Map::new();
                o.insert(Value::from("value"), rendered);
                o
            } else {
                match rendered {
                    Value::Object(o) => (*o).clone(),
                    _ => Map::new(),
                }
            };
            obj.insert(Value::from("@type"), Value::from(type_url));
            Value::from_map(obj)
        }
        w if is_wrapper(w) => {
            let Some(i) = desc.field_index(1) else { return Ok(None) };
            let Some(f) = desc.fields.get(i) else { return Ok(None) };
            let raw = match m.slots.get(i) {
                Some(Some(Slot::One(raw))) => raw.clone(),
                _ => zero(d, f),
            };
            render_value(d, f, &raw, depth)?
        }
        _ => return Ok(None),
    };
    Ok(Some(v))
}

/// `fooBar` → `foo_bar`, to check a FieldMask path round-trips.
fn snake_case(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 4);
    for c in s.chars() {
        if c.is_ascii_uppercase() {
            out.push('_');
            out.push(c.to_ascii_lowercase());
        } else {
            out.push(c);
        }
    }
    out
}

const TIMESTAMP_MIN: i64 = -62_135_596_800; // 0001-01-01T00:00:00Z
const TIMESTAMP_MAX: i64 = 253_402_300_799; // 9999-12-31T23:59:59Z
const DURATION_MAX: i64 = 315_576_000_000;

/// RFC 3339 in UTC with 0, 3, 6 or 9 fractional digits.
fn timestamp(seconds: i64, nanos: i64) -> Result<String> {
    if !(TIMESTAMP_MIN..=TIMESTAMP_MAX).contains(&seconds) {
        return err("cannot render google.protobuf.Timestamp: must be from 0001-01-01T00:00:00Z to 9999-12-31T23:59:59Z inclusive");
    }
    if !(0..=999_999_999).contains(&nanos) {
        return err("cannot render google.protobuf.Timestamp: nanos out of range");
    }
    let days = seconds.div_euclid(86_400);
    let secs = seconds.rem_euclid(86_400);
    let (y, mo, da) = civil_from_days(days);
    Ok(format!("{:04}-{:02}-{:02}T{:02}:{:02}:{:02}{}Z", y, mo, da, secs / 3600, secs / 60 % 60, secs % 60, fraction(nanos)))
}

/// `.123`, `.123456`, `.123456789` or nothing.
fn fraction(nanos: i64) -> String {
    if nanos == 0 {
        return String::new();
    }
    let s = format!("{:09}", nanos);
    if s.ends_with("000000") {
        format!(".{}", &s[..3])
    } else if s.ends_with("000") {
        format!(".{}", &s[..6])
    } else {
        format!(".{}", s)
    }
}

fn duration(seconds: i64, nanos: i64) -> Result<String> {
    if !(-DURATION_MAX..=DURATION_MAX).contains(&seconds) {
        return err("cannot render google.protobuf.Duration: value out of range");
    }
    if !(-999_999_999..=999_999_999).contains(&nanos) {
        return err("cannot render google.protobuf.Duration: nanos out of range");
    }
    if (seconds > 0 && nanos < 0) || (seconds < 0 && nanos > 0) {
        return err("cannot render google.protobuf.Duration: nanos sign must match seconds sign");
    }
    let sign = if seconds == 0 && nanos < 0 { "-" } else { "" };
    Ok(format!("{}{}{}s", sign, seconds, fraction(nanos.abs())))
}

/// Days since 1970-01-01 → (year, month, day), proleptic Gregorian.
fn civil_from_days(days: i64) -> (i64, i64, i64) {
    let z = days + 719_468;
    let era = if z >= 0 { z } else { z - 146_096 } / 146_097;
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    (year, month, day)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formats_times() {
        assert_eq!(timestamp(0, 0).unwrap(), "1970-01-01T00:00:00Z");
        assert_eq!(timestamp(1_764_000_000, 5_000_000).unwrap(), "2025-11-24T16:00:00.005Z");
        assert_eq!(timestamp(TIMESTAMP_MIN, 1).unwrap(), "0001-01-01T00:00:00.000000001Z");
        assert_eq!(timestamp(TIMESTAMP_MAX, 120_000).unwrap(), "9999-12-31T23:59:59.000120Z");
        assert_eq!(timestamp(-1, 0).unwrap(), "1969-12-31T23:59:59Z");
        assert!(timestamp(TIMESTAMP_MAX + 1, 0).is_err());
        assert!(timestamp(0, -1).is_err());
        assert_eq!(duration(0, 0).unwrap(), "0s");
        assert_eq!(duration(-1, -500_000_000).unwrap(), "-1.500s");
        assert_eq!(duration(0, -1000).unwrap(), "-0.000001s");
        assert_eq!(duration(3600, 1).unwrap(), "3600.000000001s");
        assert!(duration(1, -1).is_err());
    }

    #[test]
    fn renders_float32_shortest() {
        assert_eq!(float(0.1f32 as f64, Some(0.1f32)).to_json(), "0.1");
        assert_eq!(float(f64::NAN, None).as_str(), Some("NaN"));
        assert_eq!(float(f64::NEG_INFINITY, None).as_str(), Some("-Infinity"));
    }
}

/// Decoding against a descriptor set that protoc builds from
/// `test/fixtures/grpc/*.proto` at the repository root (Debian's protobuf-compiler).
#[cfg(test)]
mod descriptor_set_tests {
    use super::*;
    use crate::body::{parse_with, BodyError, Grpc};
    use crate::wire::{Writer, FIXED32, FIXED64, START_GROUP, END_GROUP};
    use std::sync::OnceLock;

    fn descriptors() -> &'static Descriptors {
        static SET: OnceLock<Descriptors> = OnceLock::new();
        SET.get_or_init(|| {
            // The same fixtures the TypeScript tests use.
            let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/../../test/fixtures/grpc");
            let out = std::env::temp_dir().join(format!("sark-envoy-protojson-{}.pb", std::process::id()));
            let status = std::process::Command::new("protoc")
                .arg("--include_imports")
                .arg(format!("--descriptor_set_out={}", out.display()))
                .arg(format!("-I{}", dir))
                .args(["authz_test.proto", "legacy_test.proto"])
                .status()
                .expect("protoc (protobuf-compiler) must be installed");
            assert!(status.success(), "protoc failed");
            let bytes = std::fs::read(&out).unwrap();
            let _ = std::fs::remove_file(&out);
            Descriptors::from_bytes(&bytes).unwrap()
        })
    }

    fn tag(w: &mut Writer, num: u32, wt: u32) {
        w.varint(((num as u64) << 3) | wt as u64);
    }

    fn decode(msg: &str, bytes: &[u8]) -> Result<Value> {
        let d = descriptors();
        decode_to_value(d, d.message_by_name(msg).unwrap(), bytes)
    }

    fn address(w: &mut Writer, street: &str, zip: u64) {
        w.string_field(1, street);
        w.uint_field(2, zip);
    }

    fn create_user_request() -> Vec<u8> {
        let mut w = Writer::default();
        w.message_field(1, |u| {
            u.string_field(1, "u1");
            u.int_field(2, -5);
            u.int_field(3, 1 << 40);
            u.uint_field(4, u64::MAX);
            u.uint_field(5, 5); // sint32 -3
            u.uint_field(6, 1); // sint64 -1
            tag(u, 7, FIXED32);
            u.buf.extend_from_slice(&7u32.to_le_bytes());
            tag(u, 8, FIXED64);
            u.buf.extend_from_slice(&9u64.to_le_bytes());
            tag(u, 9, FIXED32);
            u.buf.extend_from_slice(&(-2i32).to_le_bytes());
            tag(u, 10, FIXED64);
            u.buf.extend_from_slice(&(-4i64).to_le_bytes());
            u.bool_field(11, true);
            tag(u, 12, FIXED32);
            u.buf.extend_from_slice(&0.1f32.to_le_bytes());
            u.double_field(13, 2.5);
            u.bytes_field(14, &[0, 1, 2, 255]);
            u.uint_field(15, 2);
            u.bytes_field(16, &[1, 7]); // packed: ROLE_READER, 7
            u.message_field(17, |a| address(a, "Main", 12345));
            u.message_field(18, |a| address(a, "A", 1));
            u.message_field(18, |a| address(a, "B", 0));
            u.bytes_field(19, &[3, 4]);
            u.uint_field(19, 5);
            u.string_field(20, "a");
            u.string_field(20, "b");
            u.message_field(21, |e| {
                e.string_field(1, "k");
                e.string_field(2, "v");
            });
            u.message_field(22, |e| {
                e.uint_field(1, 7);
                e.message_field(2, |a| address(a, "Seven", 7));
            });
            u.message_field(23, |e| {
                e.bool_field(1, true);
                e.uint_field(2, 1);
            });
            tag(u, 24, 0);
            u.varint(0); // optional, present at zero
            u.string_field(25, "x@example.com");
            u.uint_field(26, 42); // oneof: phone replaces email
            u.string_field(28, "custom");
            u.uint_field(999, 1); // unknown field
        });
        w.message_field(2, |t| {
            t.int_field(1, 1_764_000_000);
            t.int_field(2, 5_000_000);
        });
        w.message_field(3, |t| {
            t.int_field(1, 90);
            t.int_field(2, 500_000_000);
        });
        w.message_field(4, |s| {
            s.message_field(1, |e| {
                e.string_field(1, "a");
                e.message_field(2, |v| v.double_field(2, 1.5));
            });
            s.message_field(1, |e| {
                e.string_field(1, "b");
                e.message_field(2, |v| {
                    v.message_field(6, |l| {
                        l.message_field(1, |x| x.bool_field(4, true));
                        l.message_field(1, |x| {
                            tag(x, 1, 0);
                            x.varint(0);
                        });
                    })
                });
            });
        });
        w.message_field(6, |v| v.int_field(1, 9_007_199_254_740_993));
        w.message_field(7, |_| {});
        w.message_field(9, |m| {
            m.string_field(1, "user.user_id");
            m.string_field(1, "ttl");
        });
        w.message_field(10, |a| {
            a.string_field(1, "type.googleapis.com/sark.test.v1.Address");
            let mut inner = Writer::default();
            address(&mut inner, "Any St", 9);
            a.bytes_field(2, &inner.buf);
        });
        w.message_field(11, |_| {});
        w.buf
    }

    #[test]
    fn renders_a_message_as_protojson() {
        let v = decode("sark.test.v1.CreateUserRequest", &create_user_request()).unwrap();
        let user = v.field("user").unwrap();
        let get = |k: &str| user.field(k).map(|v| v.to_json()).unwrap_or_else(|| "<absent>".into());
        assert_eq!(get("userId"), r#""u1""#);
        assert_eq!(get("age"), "-5");
        assert_eq!(get("accountId"), r#""1099511627776""#);
        assert_eq!(get("quotaBytes"), r#""18446744073709551615""#);
        assert_eq!(get("delta"), "-3");
        assert_eq!(get("bigDelta"), r#""-1""#);
        assert_eq!(get("f32"), "7");
        assert_eq!(get("f64"), r#""9""#);
        assert_eq!(get("sf32"), "-2");
        assert_eq!(get("sf64"), r#""-4""#);
        assert_eq!(get("admin"), "true");
        assert_eq!(get("score"), "0.1");
        assert_eq!(get("ratio"), "2.5");
        assert_eq!(get("avatar"), r#""AAEC/w==""#);
        assert_eq!(get("role"), r#""ROLE_WRITER""#);
        assert_eq!(get("extraRoles"), r#"["ROLE_READER",7]"#);
        assert_eq!(get("homeAddress"), r#"{"streetName":"Main","zipCode":12345}"#);
        assert_eq!(get("otherAddresses"), r#"[{"streetName":"A","zipCode":1},{"streetName":"B"}]"#);
        assert_eq!(get("luckyNumbers"), "[3,4,5]");
        assert_eq!(get("tags"), r#"["a","b"]"#);
        assert_eq!(get("labels"), r#"{"k":"v"}"#);
        assert_eq!(get("addressesById"), r#"{"7":{"streetName":"Seven","zipCode":7}}"#);
        assert_eq!(get("flags"), r#"{"true":"ROLE_READER"}"#);
        assert_eq!(get("optCount"), "0");
        assert_eq!(get("email"), "<absent>");
        assert_eq!(get("phone"), r#""42""#);
        assert_eq!(get("customName"), r#""custom""#);
        let top = |k: &str| v.field(k).map(|v| v.to_json()).unwrap_or_else(|| "<absent>".into());
        assert_eq!(top("createTime"), r#""2025-11-24T16:00:00.005Z""#);
        assert_eq!(top("ttl"), r#""90.500s""#);
        assert_eq!(top("attributes"), r#"{"a":1.5,"b":[true,null]}"#);
        assert_eq!(top("bigWrapper"), r#""9007199254740993""#);
        assert_eq!(top("nameWrapper"), r#""""#);
        assert_eq!(top("updateMask"), r#""user.userId,ttl""#);
        assert_eq!(top("details"), r#"{"@type":"type.googleapis.com/sark.test.v1.Address","streetName":"Any St","zipCode":9}"#);
        assert_eq!(top("nothing"), "{}");
        assert_eq!(top("flagWrapper"), "<absent>");
    }

    #[test]
    fn proto3_zero_values_are_left_out_and_messages_merge() {
        let mut w = Writer::default();
        w.message_field(17, |a| address(a, "First", 1));
        w.message_field(17, |a| a.uint_field(2, 2)); // merges: street kept
        tag(&mut w, 2, 0);
        w.varint(0); // age 0: implicit presence, left out
        assert_eq!(decode("sark.test.v1.User", &w.buf).unwrap().to_json(), r#"{"homeAddress":{"streetName":"First","zipCode":2}}"#);
        assert_eq!(decode("sark.test.v1.User", &[]).unwrap().to_json(), "{}");
    }

    #[test]
    fn proto2_presence_closed_enums_and_groups() {
        let mut w = Writer::default();
        tag(&mut w, 1, 0);
        w.varint(0); // count 0, present
        w.uint_field(3, 9); // not a Level: unknown, left out
        w.bytes_field(5, &[1, 2]);
        tag(&mut w, 6, START_GROUP);
        w.string_field(7, "k");
        tag(&mut w, 6, END_GROUP);
        assert_eq!(decode("sark.test.legacy.Ping", &w.buf).unwrap().to_json(), r#"{"count":0,"extra":{"key":"k"},"samples":[1,2]}"#);
    }

    #[test]
    fn bad_messages_are_errors() {
        assert!(decode("sark.test.v1.User", &[0x0a, 0x05, b'a']).is_err()); // truncated
        assert!(decode("sark.test.v1.User", &[0x0a, 0x01, 0xff]).is_err()); // proto3 string, bad UTF-8
        let mut w = Writer::default();
        w.message_field(2, |t| t.int_field(1, 253_402_300_800));
        assert!(decode("sark.test.v1.CreateUserRequest", &w.buf).is_err()); // timestamp out of range
        let mut w = Writer::default();
        w.message_field(5, |_| {}); // a Value with no kind
        assert!(decode("sark.test.v1.CreateUserRequest", &w.buf).is_err());
        let mut w = Writer::default();
        w.message_field(10, |a| a.string_field(1, "type.googleapis.com/no.Such"));
        assert!(decode("sark.test.v1.CreateUserRequest", &w.buf).is_err());
        // Nesting past the limit.
        let mut b: Vec<u8> = Vec::new(); // a ListValue
        for _ in 0..150 {
            let mut value = Writer::default();
            value.bytes_field(6, &b);
            let mut list = Writer::default();
            list.bytes_field(1, &value.buf);
            b = list.buf;
        }
        let mut w = Writer::default();
        w.bytes_field(13, &b);
        assert!(decode("sark.test.v1.CreateUserRequest", &w.buf).unwrap_err().0.contains("depth"));
    }

    fn frame(flag: u8, msg: &[u8]) -> Vec<u8> {
        let mut out = vec![flag];
        out.extend_from_slice(&(msg.len() as u32).to_be_bytes());
        out.extend_from_slice(msg);
        out
    }

    fn grpc_parse(path: &[&str], content_type: &str, raw: &[u8]) -> std::result::Result<(Value, bool), BodyError> {
        let headers: sark_engine::value::Map = [(Value::from("content-type"), Value::from(content_type))].into_iter().collect();
        let parsed_path = Value::from_array(path.iter().map(|s| Value::from(*s)).collect());
        parse_with(&headers, "", raw, Some(Grpc { descriptors: descriptors(), parsed_path: &parsed_path }))
    }

    #[test]
    fn grpc_bodies_follow_the_plugin() {
        let get_user = {
            let mut w = Writer::default();
            w.string_field(1, "u7");
            w.bytes_field(2, &[1, 2]);
            w.buf
        };
        let svc = "sark.test.v1.UserService";
        let (v, t) = grpc_parse(&[svc, "GetUser"], "application/grpc", &frame(0, &get_user)).unwrap();
        assert_eq!((v.to_json().as_str(), t), (r#"{"ids":["1","2"],"userId":"u7"}"#, false));
        // Only the first message of several is read.
        let mut two = frame(0, &get_user);
        two.extend(frame(0, &[0x0a, 0x01, b'z']));
        assert_eq!(grpc_parse(&[svc, "GetUser"], "application/grpc+proto", &two).unwrap().0.to_json(), r#"{"ids":["1","2"],"userId":"u7"}"#);
        // Compressed, unknown method or service, client streaming: null.
        assert_eq!(grpc_parse(&[svc, "GetUser"], "application/grpc", &frame(1, &get_user)).unwrap(), (Value::Null, false));
        assert_eq!(grpc_parse(&[svc, "Nope"], "application/grpc", &frame(0, &get_user)).unwrap(), (Value::Null, false));
        assert_eq!(grpc_parse(&["no.Svc", "GetUser"], "application/grpc", &frame(0, &get_user)).unwrap(), (Value::Null, false));
        assert_eq!(grpc_parse(&[svc, "UploadUsers"], "application/grpc", &frame(0, &[])).unwrap(), (Value::Null, false));
        assert_eq!(grpc_parse(&[svc, "WatchUsers"], "application/grpc", &frame(0, &get_user)).unwrap().0.field("userId").unwrap().as_str(), Some("u7"));
        // A frame longer than the bytes sent: truncated.
        let mut cut = frame(0, &get_user);
        cut.truncate(cut.len() - 1);
        assert_eq!(grpc_parse(&[svc, "GetUser"], "application/grpc", &cut).unwrap(), (Value::Null, true));
        // No body: null. A short frame, a bad path or a bad message: errors.
        assert_eq!(grpc_parse(&[svc, "GetUser"], "application/grpc", &[]).unwrap(), (Value::Null, false));
        assert!(matches!(grpc_parse(&[svc, "GetUser"], "application/grpc", &[0, 0, 0]), Err(BodyError::InvalidGrpc(_))));
        assert!(matches!(grpc_parse(&[svc], "application/grpc", &frame(0, &get_user)), Err(BodyError::InvalidGrpc(_))));
        assert!(matches!(grpc_parse(&[svc, "GetUser"], "application/grpc", &frame(0, &[0x0a, 0x09])), Err(BodyError::InvalidGrpc(_))));
        // Without a descriptor set, gRPC bodies are not parsed.
        let headers: sark_engine::value::Map = [(Value::from("content-type"), Value::from("application/grpc"))].into_iter().collect();
        assert_eq!(parse_with(&headers, "", &frame(0, &get_user), None).unwrap(), (Value::Null, false));
    }

    #[test]
    fn bad_descriptor_sets_are_refused() {
        assert!(Descriptors::from_bytes(&[0x0a, 0x05]).is_err());
        // A file importing one the set lacks.
        let mut w = Writer::default();
        w.message_field(1, |f| {
            f.string_field(1, "a.proto");
            f.string_field(3, "google/protobuf/timestamp.proto");
        });
        let e = Descriptors::from_bytes(&w.buf).unwrap_err();
        assert!(e.0.contains("--include_imports"), "{}", e.0);
        // A field naming a type the set lacks.
        let mut w = Writer::default();
        w.message_field(1, |f| {
            f.string_field(1, "a.proto");
            f.message_field(4, |m| {
                m.string_field(1, "M");
                m.message_field(2, |fd| {
                    fd.string_field(1, "x");
                    fd.uint_field(3, 1);
                    fd.uint_field(5, 11);
                    fd.string_field(6, ".no.Such");
                });
            });
        });
        assert!(Descriptors::from_bytes(&w.buf).unwrap_err().0.contains("unresolved"));
        assert!(Descriptors::from_bytes(&[]).unwrap().service_count() == 0);
    }
}
