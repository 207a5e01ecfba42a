//! Rego values: JSON plus sets, with OPA's total order across types.
//!
//! Composite values sit behind `Arc` so that cloning a value (into a
//! binding, a cache entry, a rule result) is a pointer copy, and a compiled
//! policy with its data can be shared across threads.

use crate::number::Number;
use std::cmp::Ordering;
use std::collections::BTreeSet;
use std::fmt::{self, Write as _};
use std::sync::Arc;

pub use crate::map::Map;
pub use sark_str::{Str, INLINE_MAX};
pub type Set = BTreeSet<Value>;

#[derive(Clone, Debug, PartialEq, Eq, Hash)]
#[derive(Default)]
pub enum Value {
    #[default]
    Null,
    Bool(bool),
    Number(Number),
    String(Str),
    Array(Arc<[Value]>),
    Object(Arc<Map>),
    Set(Arc<Set>),
}

// Values are copied into bindings and results constantly: keep them small.
const _: () = assert!(std::mem::size_of::<Value>() <= 24);
const _: () = assert!(std::mem::size_of::<Option<Value>>() <= 24);

thread_local! {
    /// Strings for static keys (`"attributes"`, field names), made once per
    /// thread: building an input document on every request then costs a
    /// reference count instead of an allocation per key.
    static INTERNED: std::cell::RefCell<std::collections::HashMap<(usize, usize), Value, crate::fasthash::FastHash>> = Default::default();
}

/// The sort rank of strings among the types (`Value::type_rank`).
pub(crate) const STRING_RANK: u8 = 3;

impl Value {
    pub fn string(s: impl Into<Str>) -> Value {
        Value::String(s.into())
    }

    /// The string value of a static key, shared rather than allocated
    /// (short ones need neither: they are stored inline).
    #[inline] // a constant key then folds to a constant value
    pub fn interned(s: &'static str) -> Value {
        match Str::inline(s) {
            Some(inline) => Value::String(inline),
            None => Value::interned_shared(s),
        }
    }

    fn interned_shared(s: &'static str) -> Value {
        let id = (s.as_ptr() as usize, s.len());
        INTERNED
            .try_with(|m| m.borrow_mut().entry(id).or_insert_with(|| Value::string(s)).clone())
            .unwrap_or_else(|_| Value::string(s))
    }
    pub fn from_array(v: Vec<Value>) -> Value {
        Value::Array(v.into())
    }
    /// Appends to an array value (a copy: arrays are immutable slices;
    /// for building long arrays, collect a `Vec` first). Other values are left alone.
    pub fn array_push(&mut self, v: Value) {
        if let Value::Array(a) = self {
            let mut items = Vec::with_capacity(a.len() + 1);
            items.extend(a.iter().cloned());
            items.push(v);
            *a = items.into();
        }
    }
    pub fn from_set(s: Set) -> Value {
        Value::Set(Arc::new(s))
    }
    pub fn from_map(m: Map) -> Value {
        Value::Object(Arc::new(m))
    }
    pub fn empty_object() -> Value {
        Value::Object(Arc::new(Map::new()))
    }
    pub fn empty_set() -> Value {
        Value::Set(Arc::new(Set::new()))
    }
    pub fn empty_array() -> Value {
        Value::Array(Arc::new([]))
    }
    pub fn int(i: i64) -> Value {
        Value::Number(Number::Int(i))
    }
    pub fn float(f: f64) -> Value {
        Value::Number(Number::from_f64(f))
    }

    /// OPA's type names, as `type_name` returns them and errors print them.
    pub fn type_name(&self) -> &'static str {
        match self {
            Value::Null => "null",
            Value::Bool(_) => "boolean",
            Value::Number(_) => "number",
            Value::String(_) => "string",
            Value::Array(_) => "array",
            Value::Object(_) => "object",
            Value::Set(_) => "set",
        }
    }

    pub fn as_str(&self) -> Option<&str> {
        match self {
            Value::String(s) => Some(s),
            _ => None,
        }
    }
    pub fn as_bool(&self) -> Option<bool> {
        match self {
            Value::Bool(b) => Some(*b),
            _ => None,
        }
    }
    pub fn as_number(&self) -> Option<&Number> {
        match self {
            Value::Number(n) => Some(n),
            _ => None,
        }
    }
    pub fn as_array(&self) -> Option<&[Value]> {
        match self {
            Value::Array(a) => Some(a),
            _ => None,
        }
    }
    pub fn as_object(&self) -> Option<&Map> {
        match self {
            Value::Object(o) => Some(o),
            _ => None,
        }
    }
    pub fn as_set(&self) -> Option<&Set> {
        match self {
            Value::Set(s) => Some(s),
            _ => None,
        }
    }

    /// Looks up one step: an object key, an array index, or set membership.
    pub fn get(&self, key: &Value) -> Option<&Value> {
        match self {
            Value::Object(o) => o.get(key),
            Value::Array(a) => match key {
                Value::Number(n) => n.int64().and_then(|i| usize::try_from(i).ok()).and_then(|i| a.get(i)),
                _ => None,
            },
            Value::Set(s) => s.get(key),
            _ => None,
        }
    }

    /// Object field by string key.
    pub fn field(&self, key: &str) -> Option<&Value> {
        match self {
            Value::Object(o) => o.get_str(key),
            _ => None,
        }
    }

    /// Parses JSON text into a value; numbers keep full integer precision.
    pub fn from_json_str(text: &str) -> Result<Value, String> {
        crate::json::parse(text)
    }

    /// Serializes as JSON: sets become arrays, non-string object keys are
    /// themselves JSON-encoded into strings, as OPA does.
    pub fn to_json(&self) -> String {
        let mut out = String::new();
        self.write_json(&mut out);
        out
    }

    pub fn write_json(&self, out: &mut String) {
        match self {
            Value::Null => out.push_str("null"),
            Value::Bool(b) => out.push_str(if *b { "true" } else { "false" }),
            Value::Number(n) => {
                let _ = write!(out, "{}", n);
            }
            Value::String(s) => crate::json::write_escaped(out, s),
            Value::Array(a) => write_json_seq(out, a.iter()),
            Value::Set(s) => write_json_seq(out, s.iter()),
            Value::Object(o) => {
                // Keys are written in OPA's sorted order; non-string keys as their JSON text.
                out.push('{');
                let mut entries: Vec<(String, &Value)> = o
                    .iter()
                    .map(|(k, v)| match k {
                        Value::String(s) => (s.to_string(), v),
                        other => (other.to_json(), v),
                    })
                    .collect();
                if o.keys().any(|k| !matches!(k, Value::String(_))) {
                    entries.sort_by(|a, b| a.0.cmp(&b.0));
                }
                for (i, (k, v)) in entries.iter().enumerate() {
                    if i > 0 {
                        out.push(',');
                    }
                    crate::json::write_escaped(out, k);
                    out.push(':');
                    v.write_json(out);
                }
                out.push('}');
            }
        }
    }

    /// Renders in Rego syntax as OPA's `String()` does: used by `sprintf("%v")`,
    /// `print` and error messages (`{"a": 1}`, `{1, 2}`, `set()`).
    pub fn to_rego_string(&self) -> String {
        self.to_string()
    }
}

fn write_json_seq<'a>(out: &mut String, items: impl Iterator<Item = &'a Value>) {
    out.push('[');
    for (i, v) in items.enumerate() {
        if i > 0 {
            out.push(',');
        }
        v.write_json(out);
    }
    out.push(']');
}

impl fmt::Display for Value {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Value::Null => f.write_str("null"),
            Value::Bool(b) => write!(f, "{}", b),
            Value::Number(n) => write!(f, "{}", n),
            Value::String(s) => {
                let mut out = String::new();
                crate::json::write_escaped(&mut out, s);
                f.write_str(&out)
            }
            Value::Array(a) => {
                f.write_str("[")?;
                for (i, v) in a.iter().enumerate() {
                    if i > 0 {
                        f.write_str(", ")?;
                    }
                    write!(f, "{}", v)?;
                }
                f.write_str("]")
            }
            Value::Set(s) => {
                if s.is_empty() {
                    return f.write_str("set()");
                }
                f.write_str("{")?;
                for (i, v) in s.iter().enumerate() {
                    if i > 0 {
                        f.write_str(", ")?;
                    }
                    write!(f, "{}", v)?;
                }
                f.write_str("}")
            }
            Value::Object(o) => {
                f.write_str("{")?;
                for (i, (k, v)) in o.iter().enumerate() {
                    if i > 0 {
                        f.write_str(", ")?;
                    }
                    write!(f, "{}: {}", k, v)?;
                }
                f.write_str("}")
            }
        }
    }
}

impl Value {
    /// Position of the type in OPA's cross-type order:
    /// null < boolean < number < string < array < object < set.
    /// Where values of each type sort among the others (OPA's order).
    pub(crate) fn type_rank(&self) -> u8 {
        match self {
            Value::Null => 0,
            Value::Bool(_) => 1,
            Value::Number(_) => 2,
            Value::String(_) => STRING_RANK,
            Value::Array(_) => 6,
            Value::Object(_) => 7,
            Value::Set(_) => 8,
        }
    }
}

impl PartialOrd for Value {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

impl Ord for Value {
    fn cmp(&self, other: &Self) -> Ordering {
        match (self, other) {
            (Value::Null, Value::Null) => Ordering::Equal,
            (Value::Bool(a), Value::Bool(b)) => a.cmp(b),
            (Value::Number(a), Value::Number(b)) => a.cmp(b),
            (Value::String(a), Value::String(b)) => a.cmp(b),
            (Value::Array(a), Value::Array(b)) => {
                if Arc::ptr_eq(a, b) {
                    return Ordering::Equal;
                }
                a.iter().cmp(b.iter())
            }
            (Value::Object(a), Value::Object(b)) => {
                if Arc::ptr_eq(a, b) {
                    return Ordering::Equal;
                }
                a.iter().cmp(b.iter())
            }
            (Value::Set(a), Value::Set(b)) => {
                if Arc::ptr_eq(a, b) {
                    return Ordering::Equal;
                }
                a.iter().cmp(b.iter())
            }
            _ => self.type_rank().cmp(&other.type_rank()),
        }
    }
}


impl From<bool> for Value {
    fn from(b: bool) -> Self {
        Value::Bool(b)
    }
}
impl From<i64> for Value {
    fn from(i: i64) -> Self {
        Value::Number(Number::Int(i))
    }
}
impl From<f64> for Value {
    fn from(f: f64) -> Self {
        Value::Number(Number::from_f64(f))
    }
}
impl From<Number> for Value {
    fn from(n: Number) -> Self {
        Value::Number(n)
    }
}
impl From<&str> for Value {
    fn from(s: &str) -> Self {
        Value::String(s.into())
    }
}
impl From<String> for Value {
    fn from(s: String) -> Self {
        Value::String(s.into())
    }
}
impl From<Vec<Value>> for Value {
    fn from(v: Vec<Value>) -> Self {
        Value::Array(v.into())
    }
}
impl From<Set> for Value {
    fn from(s: Set) -> Self {
        Value::Set(Arc::new(s))
    }
}
impl From<Map> for Value {
    fn from(m: Map) -> Self {
        Value::Object(Arc::new(m))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn orders_types_like_opa() {
        let vals = vec![
            Value::empty_set(),
            Value::empty_object(),
            Value::empty_array(),
            Value::from("a"),
            Value::int(1),
            Value::Bool(false),
            Value::Null,
        ];
        let mut sorted = vals.clone();
        sorted.sort();
        let names: Vec<_> = sorted.iter().map(|v| v.type_name()).collect();
        assert_eq!(names, ["null", "boolean", "number", "string", "array", "object", "set"]);
    }

    #[test]
    fn json_round_trip() {
        let text = r#"{"a":[1,2.5,"x\n",null,true],"b":{"c":12345678901234567890123}}"#;
        let v = Value::from_json_str(text).unwrap();
        assert_eq!(v.to_json(), text);
    }

    #[test]
    fn strings_order_as_values_inline_or_shared() {
        // The boundary between inline and shared strings does not show in values.
        let short = "x".repeat(INLINE_MAX);
        let long = "x".repeat(INLINE_MAX + 1);
        assert!(Value::from(short.as_str()) < Value::from(long.as_str()));
        assert_eq!(Value::from("héllo 😀").as_str(), Some("héllo 😀"));
        assert_eq!(Value::from(String::new()).as_str(), Some(""));
    }

    #[test]
    fn json_objects_share_keys_and_keep_the_last_duplicate() {
        let v = Value::from_json_str(r#"[{"b":1,"a":2},{"a":3,"b":4},{"a":5,"a":6}]"#).unwrap();
        assert_eq!(v.to_json(), r#"[{"a":2,"b":1},{"a":3,"b":4},{"a":6}]"#);
        let rows = v.as_array().unwrap();
        assert_eq!(rows[0].field("a"), Some(&Value::int(2)));
        assert_eq!(rows[1].field("b"), Some(&Value::int(4)));
    }

    #[test]
    fn renders_rego_syntax() {
        let v = Value::from_json_str(r#"{"a":[1,"x"]}"#).unwrap();
        assert_eq!(v.to_string(), r#"{"a": [1, "x"]}"#);
        assert_eq!(Value::empty_set().to_string(), "set()");
    }
}
