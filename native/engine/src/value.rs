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

/// A string value: up to `INLINE_MAX` bytes are stored in the value itself
/// (no allocation; most keys, names and roles are this short), longer ones
/// behind a shared `Arc<str>`. Reads as a `&str`.
pub struct Str(StrRepr);

#[allow(unsafe_code)] // a bitwise copy of an inline string (below)
impl Clone for Str {
    #[inline]
    fn clone(&self) -> Str {
        match &self.0 {
            // SAFETY: an inline string owns nothing, so a bitwise copy is a
            // clone. Copied whole it moves as three words; the derived clone
            // copied the text and the length separately, and reading the
            // value back as words then stalled on the partial stores.
            StrRepr::Inline(_) => unsafe { std::ptr::read(self) },
            StrRepr::Shared(a) => Str(StrRepr::Shared(Arc::clone(a))),
        }
    }
}

enum StrRepr {
    Inline(InlineStr),
    Shared(Arc<str>),
}

/// The sort rank of strings among the types (`Value::type_rank`).
pub(crate) const STRING_RANK: u8 = 3;

/// As many bytes as fit beside the length in a 24-byte `Value`.
pub const INLINE_MAX: usize = 22;

/// The text first, at offset 0, and the length last: the length's unused
/// values (23..=255) are where `StrRepr` and `Value` keep their variant tags,
/// so a `Value` is three aligned words that moves as such. Aligned to 8 so
/// that the compiler must use that niche: with byte alignment it prefers a
/// tag byte in front, which puts the text at offset 1 and turns every move
/// of a string value into unaligned partial copies (store-forwarding stalls).
#[derive(Clone, Copy)]
#[repr(C, align(8))]
struct InlineStr {
    bytes: [u8; INLINE_MAX],
    len: InlineLen,
}

/// 0..=22, as an enum so the compiler knows the other byte values are free.
#[derive(Clone, Copy)]
#[repr(u8)]
#[rustfmt::skip]
enum InlineLen {
    L0, L1, L2, L3, L4, L5, L6, L7, L8, L9, L10, L11, L12, L13, L14, L15, L16, L17, L18, L19, L20, L21, L22,
}

impl InlineLen {
    #[rustfmt::skip]
    const fn new(n: usize) -> InlineLen {
        use InlineLen::*;
        match n {
            0 => L0, 1 => L1, 2 => L2, 3 => L3, 4 => L4, 5 => L5, 6 => L6, 7 => L7, 8 => L8, 9 => L9, 10 => L10, 11 => L11,
            12 => L12, 13 => L13, 14 => L14, 15 => L15, 16 => L16, 17 => L17, 18 => L18, 19 => L19, 20 => L20, 21 => L21,
            _ => { assert!(n == INLINE_MAX); L22 }
        }
    }
}

const _: () = assert!(InlineLen::L22 as usize == INLINE_MAX);

impl Str {
    #[inline]
    #[allow(unsafe_code)] // inline text is only ever copied from a `&str`
    pub fn as_str(&self) -> &str {
        match &self.0 {
            // SAFETY: inline bytes are only ever copied from a `&str` prefix of length `len`.
            StrRepr::Inline(i) => unsafe { std::str::from_utf8_unchecked(&i.bytes[..i.len as usize]) },
            StrRepr::Shared(a) => a,
        }
    }

    /// Byte order against a plain string (as `Ord` orders two `Str`s).
    #[inline]
    pub fn cmp_str(&self, other: &str) -> Ordering {
        cmp_bytes(self.as_bytes(), other.as_bytes())
    }

    /// The inline form of a short string; `None` when too long to be
    /// inline. `const`, so static keys can be built at compile time.
    pub const fn inline(s: &str) -> Option<Str> {
        if s.len() > INLINE_MAX {
            return None;
        }
        let mut bytes = [0u8; INLINE_MAX];
        bytes.split_at_mut(s.len()).0.copy_from_slice(s.as_bytes());
        Some(Str(StrRepr::Inline(InlineStr { bytes, len: InlineLen::new(s.len()) })))
    }

    /// True when the string lives behind a shared allocation (tests check the boundary).
    #[cfg(test)]
    fn is_shared(&self) -> bool {
        matches!(self.0, StrRepr::Shared(_))
    }
}

impl std::ops::Deref for Str {
    type Target = str;
    #[inline]
    fn deref(&self) -> &str {
        self.as_str()
    }
}

impl AsRef<str> for Str {
    fn as_ref(&self) -> &str {
        self.as_str()
    }
}

impl std::borrow::Borrow<str> for Str {
    fn borrow(&self) -> &str {
        self.as_str()
    }
}

impl PartialEq for Str {
    #[inline]
    fn eq(&self, other: &Str) -> bool {
        match (&self.0, &other.0) {
            // Unused inline bytes are always zero, so equal texts have equal
            // arrays: a few word compares instead of a call into `memcmp`.
            (StrRepr::Inline(a), StrRepr::Inline(b)) => a.len as u8 == b.len as u8 && a.bytes == b.bytes,
            (StrRepr::Shared(a), StrRepr::Shared(b)) if Arc::ptr_eq(a, b) => true,
            _ => self.as_str() == other.as_str(),
        }
    }
}
impl Eq for Str {}

impl PartialEq<str> for Str {
    fn eq(&self, other: &str) -> bool {
        self.as_str() == other
    }
}
impl PartialEq<&str> for Str {
    fn eq(&self, other: &&str) -> bool {
        self.as_str() == *other
    }
}

impl PartialOrd for Str {
    fn partial_cmp(&self, other: &Str) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}
impl Ord for Str {
    #[inline]
    fn cmp(&self, other: &Str) -> Ordering {
        match (&self.0, &other.0) {
            (StrRepr::Inline(a), StrRepr::Inline(b)) => a.order_words().cmp(&b.order_words()).then((a.len as u8).cmp(&(b.len as u8))),
            _ => cmp_bytes(self.as_bytes(), other.as_bytes()),
        }
    }
}

impl InlineStr {
    /// The text as three big-endian words. Unused bytes are zero, so the
    /// words order as the texts do, except that a text ordering before
    /// another it is a prefix of (or equal to) only shows in the lengths.
    #[inline]
    #[allow(clippy::expect_used)] // an 8-byte range is 8 bytes
    fn order_words(&self) -> (u64, u64, u64) {
        let b = &self.bytes;
        let word = |i: usize| u64::from_be_bytes(b[i..i + 8].try_into().expect("8 bytes"));
        let mut last = [0u8; 8];
        last[..INLINE_MAX - 16].copy_from_slice(&b[16..]);
        (word(0), word(8), u64::from_be_bytes(last))
    }
}

/// Byte order, a word at a time: object keys and rule names are short, and
/// a call into `memcmp` costs more than comparing them here.
#[inline]
#[allow(clippy::expect_used)] // an 8-byte range is 8 bytes
fn cmp_bytes(a: &[u8], b: &[u8]) -> Ordering {
    let n = a.len().min(b.len());
    let mut i = 0;
    while i + 8 <= n {
        let x = u64::from_be_bytes(a[i..i + 8].try_into().expect("8 bytes"));
        let y = u64::from_be_bytes(b[i..i + 8].try_into().expect("8 bytes"));
        if x != y {
            return x.cmp(&y);
        }
        i += 8;
    }
    while i < n {
        if a[i] != b[i] {
            return a[i].cmp(&b[i]);
        }
        i += 1;
    }
    a.len().cmp(&b.len())
}

impl std::hash::Hash for Str {
    fn hash<H: std::hash::Hasher>(&self, state: &mut H) {
        self.as_str().hash(state)
    }
}

impl fmt::Debug for Str {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(self.as_str(), f)
    }
}

impl fmt::Display for Str {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl From<&str> for Str {
    fn from(s: &str) -> Str {
        Str::inline(s).unwrap_or_else(|| Str(StrRepr::Shared(s.into())))
    }
}
impl From<&String> for Str {
    fn from(s: &String) -> Str {
        Str::from(s.as_str())
    }
}
impl From<String> for Str {
    fn from(s: String) -> Str {
        Str::inline(&s).unwrap_or_else(|| Str(StrRepr::Shared(s.into())))
    }
}
impl From<Box<str>> for Str {
    fn from(s: Box<str>) -> Str {
        Str::inline(&s).unwrap_or_else(|| Str(StrRepr::Shared(s.into())))
    }
}
impl From<Arc<str>> for Str {
    fn from(s: Arc<str>) -> Str {
        Str::inline(&s).unwrap_or(Str(StrRepr::Shared(s)))
    }
}
impl From<&Arc<str>> for Str {
    fn from(s: &Arc<str>) -> Str {
        Str::from(s.clone())
    }
}
impl From<std::borrow::Cow<'_, str>> for Str {
    fn from(s: std::borrow::Cow<'_, str>) -> Str {
        match s {
            std::borrow::Cow::Borrowed(b) => Str::from(b),
            std::borrow::Cow::Owned(o) => Str::from(o),
        }
    }
}
impl From<char> for Str {
    fn from(c: char) -> Str {
        Str::from(c.encode_utf8(&mut [0u8; 4]) as &str)
    }
}
impl From<Str> for Arc<str> {
    fn from(s: Str) -> Arc<str> {
        match s.0 {
            StrRepr::Shared(a) => a,
            StrRepr::Inline(_) => Arc::from(s.as_str()),
        }
    }
}
impl From<Str> for String {
    fn from(s: Str) -> String {
        s.as_str().to_string()
    }
}

impl Value {
    pub fn string(s: impl Into<Str>) -> Value {
        Value::String(s.into())
    }

    /// The string value of a static key, shared rather than allocated
    /// (short ones need neither: they are stored inline).
    pub fn interned(s: &'static str) -> Value {
        if let Some(inline) = Str::inline(s) {
            return Value::String(inline);
        }
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
    fn compile_time_strings_equal_run_time_ones() {
        const KEY: Option<Str> = Str::inline("socketAddress");
        assert_eq!(KEY, Some(Str::from("socketAddress")));
        assert_eq!(Str::inline("networkNamespaceFilepath"), None);
        assert_eq!(Str::from("ab").cmp_str("abc"), Ordering::Less);
        assert_eq!(Str::from("abcdefghij").cmp_str("abcdefghij"), Ordering::Equal);
        // Inline equality compares lengths too: a trailing NUL is text, not padding.
        assert_ne!(Str::from("ab"), Str::from("ab\0"));
        assert_eq!(Str::from(""), Str::from(String::new().as_str()));
        assert_ne!(Str::from("a"), Str::from("b"));
    }

    #[test]
    fn strings_read_alike_inline_or_shared() {
        let short = "x".repeat(INLINE_MAX);
        let long = "x".repeat(INLINE_MAX + 1);
        assert!(!Str::from(short.as_str()).is_shared());
        assert!(Str::from(long.as_str()).is_shared());
        // The same text compares, orders and hashes the same in either form.
        let shared_short = Str(StrRepr::Shared(Arc::from(short.as_str())));
        assert_eq!(Str::from(short.as_str()), shared_short);
        assert_eq!(Str::from(short.as_str()).cmp(&shared_short), Ordering::Equal);
        let h = |s: &Str| {
            use std::hash::{Hash, Hasher};
            let mut st = std::collections::hash_map::DefaultHasher::new();
            s.hash(&mut st);
            st.finish()
        };
        assert_eq!(h(&Str::from(short.as_str())), h(&shared_short));
        assert!(Value::from(short.as_str()) < Value::from(long.as_str()));
        assert_eq!(Value::from("héllo 😀").as_str(), Some("héllo 😀"));
        assert_eq!(Value::from(String::new()).as_str(), Some(""));
    }

    #[test]
    fn byte_order_word_at_a_time_matches_slices() {
        let words = ["", "a", "ab", "abcdefgh", "abcdefgi", "abcdefghi", "abcdefgh\u{0}", "b", "ä", "zzzzzzzzzzzzzzzzzz", "zzzzzzzzzzzzzzzzzy"];
        for a in words {
            for b in words {
                assert_eq!(cmp_bytes(a.as_bytes(), b.as_bytes()), a.as_bytes().cmp(b.as_bytes()), "{:?} vs {:?}", a, b);
            }
        }
    }

    #[test]
    fn inline_strings_order_as_their_bytes() {
        // Prefixes, NUL bytes, the word boundaries (8, 16) and the inline limit (22).
        let texts = ["", "\u{0}", "\u{0}\u{0}", "a", "a\u{0}", "ab", "abcdefg", "abcdefgh", "abcdefgh\u{0}", "abcdefghi", "abcdefgi", "abcdefghijklmnop", "abcdefghijklmnoq", "abcdefghijklmnopq", "abcdefghijklmnopqrstuv", "abcdefghijklmnopqrstuw", "abcdefghijklmnopqrstu\u{0}", "b", "ä", "\u{7f}"];
        for a in texts {
            for b in texts {
                let (x, y) = (Str::from(a), Str::from(b));
                assert_eq!(x.cmp(&y), a.as_bytes().cmp(b.as_bytes()), "{:?} vs {:?}", a, b);
                assert_eq!(x == y, a == b, "{:?} vs {:?}", a, b);
            }
        }
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
