//! sark-str: `Str`, the string of the engine's values.
//!
//! Up to `INLINE_MAX` (22) bytes are stored in the value itself (no
//! allocation; most object keys, names and roles are this short), longer
//! ones behind a shared `Arc<str>`. A `Str` is three words, so a `Value`
//! holding one stays 24 bytes, and it reads as a `&str`.
//!
//! This crate exists to hold the two `unsafe` blocks that make the inline
//! form as cheap as the engine's hot path needs (a three-word copy to clone,
//! no UTF-8 validation to read), so that every other crate of the workspace
//! except the Node-API binding carries `#![forbid(unsafe_code)]`. Both
//! blocks rest on one invariant, kept by the two constructors of the inline
//! form (`Str::inline`, from a `&str`, and `InlineStr::ascii`, from bytes
//! checked to be ASCII): the first `len` bytes are UTF-8, and every byte
//! after them is zero. Safe alternatives were measured and cost
//! instructions on every request (`bench/RESULTS.md`, 2026-12-07).

#![deny(unsafe_code)] // allowed by name on the two blocks below
#![deny(unsafe_op_in_unsafe_fn, clippy::undocumented_unsafe_blocks)]
// Failures are values, never panics: no unwrap/expect/panic outside tests (`cargo clippy`).
#![cfg_attr(not(test), deny(clippy::unwrap_used, clippy::expect_used, clippy::panic))]

use std::cmp::Ordering;
use std::fmt;
use std::sync::Arc;

/// A string value: inline up to `INLINE_MAX` bytes, else a shared `Arc<str>`.
pub struct Str(Repr);

enum Repr {
    Inline(InlineStr),
    Shared(Arc<str>),
}

/// As many bytes as fit beside the length in a 24-byte value.
pub const INLINE_MAX: usize = 22;

// The engine's `Value` (a tag in the niche + a `Str`) must stay three words.
const _: () = assert!(std::mem::size_of::<Str>() == 24);
const _: () = assert!(std::mem::size_of::<Option<Str>>() == 24);

/// The text first, at offset 0, and the length last: the length's unused
/// values (23..=255) are where `Repr` and the engine's `Value` keep their
/// variant tags, so a value is three aligned words that moves as such.
/// Aligned to 8 so that the compiler must use that niche: with byte
/// alignment it prefers a tag byte in front, which puts the text at offset 1
/// and turns every move of a string value into unaligned partial copies
/// (store-forwarding stalls).
///
/// Invariant: `bytes[..len]` is UTF-8 (copied from a `&str`, or checked to
/// be ASCII) and `bytes[len..]` is all zero. Only `Str::inline` and
/// `InlineStr::ascii` build one.
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

#[allow(unsafe_code)] // a bitwise copy of an inline string
impl Clone for Str {
    #[inline]
    fn clone(&self) -> Str {
        match &self.0 {
            // SAFETY: an inline string owns nothing (plain bytes and a
            // length, both `Copy`), so a bitwise copy of the whole `Str` is a
            // clone and no drop can run twice. Copied whole it moves as three
            // words; the derived clone copied the text and the length
            // separately, and reading the value back as words then stalled on
            // the partial stores.
            Repr::Inline(_) => unsafe { std::ptr::read(self) },
            Repr::Shared(a) => Str(Repr::Shared(Arc::clone(a))),
        }
    }
}

impl Str {
    #[inline]
    #[allow(unsafe_code)] // inline text is only ever copied from a `&str`
    pub fn as_str(&self) -> &str {
        match &self.0 {
            // SAFETY: the two constructors of `InlineStr` fill `bytes[..len]`
            // with a whole `&str` (`Str::inline`: never cut inside a
            // character) or with bytes all below 0x80 (`InlineStr::ascii`),
            // and nothing writes them afterwards; so the slice is UTF-8.
            // `len <= INLINE_MAX`, so it is in bounds (the indexing checks).
            Repr::Inline(i) => unsafe { std::str::from_utf8_unchecked(&i.bytes[..i.len as usize]) },
            Repr::Shared(a) => a,
        }
    }

    /// Byte order against a plain string (as `Ord` orders two `Str`s).
    #[inline]
    pub fn cmp_str(&self, other: &str) -> Ordering {
        cmp_bytes(self.as_bytes(), other.as_bytes())
    }

    /// The inline form of a short string; `None` when too long to be
    /// inline. `const`, so static keys can be built at compile time.
    #[inline]
    pub const fn inline(s: &str) -> Option<Str> {
        if s.len() > INLINE_MAX {
            return None;
        }
        let mut bytes = [0u8; INLINE_MAX];
        bytes.split_at_mut(s.len()).0.copy_from_slice(s.as_bytes());
        Some(Str(Repr::Inline(InlineStr { bytes, len: InlineLen::new(s.len()) })))
    }

    /// The string of `bytes` if they are UTF-8, `None` if not. Short ASCII
    /// text (most header names and values, methods, addresses) is checked a
    /// word at a time as it is copied in, which costs less than
    /// `std::str::from_utf8`'s general validation; everything else goes
    /// through that. Either way the bytes are validated: ASCII is UTF-8.
    #[inline]
    pub fn from_utf8(bytes: &[u8]) -> Option<Str> {
        if let Some(inline) = InlineStr::ascii(bytes) {
            return Some(Str(Repr::Inline(inline)));
        }
        std::str::from_utf8(bytes).ok().map(Str::from)
    }

    /// True when the text lives behind a shared allocation (strings longer than `INLINE_MAX`).
    #[inline]
    pub fn is_shared(&self) -> bool {
        matches!(self.0, Repr::Shared(_))
    }
}

impl Default for Str {
    /// The empty string (inline).
    #[inline]
    fn default() -> Str {
        Str(Repr::Inline(InlineStr { bytes: [0; INLINE_MAX], len: InlineLen::L0 }))
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
    #[inline]
    fn as_ref(&self) -> &str {
        self.as_str()
    }
}

impl std::borrow::Borrow<str> for Str {
    #[inline]
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
            (Repr::Inline(a), Repr::Inline(b)) => a.len as u8 == b.len as u8 && a.bytes == b.bytes,
            (Repr::Shared(a), Repr::Shared(b)) if Arc::ptr_eq(a, b) => true,
            _ => self.as_str() == other.as_str(),
        }
    }
}
impl Eq for Str {}

impl PartialEq<str> for Str {
    #[inline]
    fn eq(&self, other: &str) -> bool {
        self.as_str() == other
    }
}
impl PartialEq<&str> for Str {
    #[inline]
    fn eq(&self, other: &&str) -> bool {
        self.as_str() == *other
    }
}

impl PartialOrd for Str {
    #[inline]
    fn partial_cmp(&self, other: &Str) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}
impl Ord for Str {
    #[inline]
    fn cmp(&self, other: &Str) -> Ordering {
        match (&self.0, &other.0) {
            (Repr::Inline(a), Repr::Inline(b)) => a.order_words().cmp(&b.order_words()).then((a.len as u8).cmp(&(b.len as u8))),
            _ => cmp_bytes(self.as_bytes(), other.as_bytes()),
        }
    }
}

impl InlineStr {
    /// `text` inline if it fits and is all ASCII (so UTF-8, and the
    /// invariant holds); `None` otherwise, to be validated in full.
    #[inline]
    #[allow(clippy::expect_used)] // an 8-byte range is 8 bytes
    fn ascii(text: &[u8]) -> Option<InlineStr> {
        let mut bytes = [0u8; INLINE_MAX];
        bytes.get_mut(..text.len())?.copy_from_slice(text);
        let word = |i: usize| u64::from_ne_bytes(bytes[i..i + 8].try_into().expect("8 bytes"));
        let mut last = [0u8; 8];
        last[..INLINE_MAX - 16].copy_from_slice(&bytes[16..]);
        // Unused bytes are zero, so they pass; any byte >= 0x80 fails.
        if (word(0) | word(8) | u64::from_ne_bytes(last)) & 0x8080_8080_8080_8080 != 0 {
            return None;
        }
        Some(InlineStr { bytes, len: InlineLen::new(text.len()) })
    }

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
    #[inline]
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
    #[inline]
    fn from(s: &str) -> Str {
        Str::inline(s).unwrap_or_else(|| Str(Repr::Shared(s.into())))
    }
}
impl From<&String> for Str {
    #[inline]
    fn from(s: &String) -> Str {
        Str::from(s.as_str())
    }
}
impl From<String> for Str {
    #[inline]
    fn from(s: String) -> Str {
        Str::inline(&s).unwrap_or_else(|| Str(Repr::Shared(s.into())))
    }
}
impl From<Box<str>> for Str {
    #[inline]
    fn from(s: Box<str>) -> Str {
        Str::inline(&s).unwrap_or_else(|| Str(Repr::Shared(s.into())))
    }
}
impl From<Arc<str>> for Str {
    #[inline]
    fn from(s: Arc<str>) -> Str {
        Str::inline(&s).unwrap_or(Str(Repr::Shared(s)))
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
            Repr::Shared(a) => a,
            Repr::Inline(_) => Arc::from(s.as_str()),
        }
    }
}
impl From<Str> for String {
    fn from(s: Str) -> String {
        s.as_str().to_string()
    }
}

#[cfg(test)]
mod tests;
