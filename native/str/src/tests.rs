use super::*;
use std::hash::{Hash, Hasher};

fn hash(s: &Str) -> u64 {
    let mut st = std::collections::hash_map::DefaultHasher::new();
    s.hash(&mut st);
    st.finish()
}

/// The same text forced into the shared form, however short.
fn shared(s: &str) -> Str {
    Str(Repr::Shared(Arc::from(s)))
}

/// Texts around every boundary: empty, NUL bytes, the word boundaries (8,
/// 16), the inline limit (22, 23), multi-byte characters ending exactly at
/// the limit or crossing it.
const TEXTS: &[&str] = &[
    "", "\u{0}", "\u{0}\u{0}", "a", "a\u{0}", "ab", "abcdefg", "abcdefgh", "abcdefgh\u{0}", "abcdefghi", "abcdefgi",
    "abcdefghijklmnop", "abcdefghijklmnoq", "abcdefghijklmnopq", "abcdefghijklmnopqrstuv", "abcdefghijklmnopqrstuw",
    "abcdefghijklmnopqrstu\u{0}", "abcdefghijklmnopqrstuvw", "b", "ä", "\u{7f}", "héllo 😀", "ääääääääääää",
    "ääääääääääää\u{0}", "aääääääääää", "😀😀😀😀😀a", "😀😀😀😀😀ab", "zzzzzzzzzzzzzzzzzz", "zzzzzzzzzzzzzzzzzy",
];

#[test]
fn short_strings_are_inline_long_ones_shared() {
    assert!(!Str::from("x".repeat(INLINE_MAX).as_str()).is_shared());
    assert!(Str::from("x".repeat(INLINE_MAX + 1).as_str()).is_shared());
    // 20 bytes + a 4-byte character = 24: shared; 18 + 4 = 22: inline.
    assert!(Str::from("abcdefghijklmnopqrst😀").is_shared());
    assert!(!Str::from("abcdefghijklmnopqr😀").is_shared());
    const KEY: Option<Str> = Str::inline("socketAddress");
    assert_eq!(KEY, Some(Str::from("socketAddress")));
    assert!(Str::inline("networkNamespaceFilepath").is_none());
}

#[test]
fn reads_back_the_text_it_was_made_from() {
    for &t in TEXTS {
        for s in [Str::from(t), Str::from(t.to_string()), Str::from(Arc::<str>::from(t)), Str::from(Box::<str>::from(t))] {
            assert_eq!(s.as_str(), t);
            assert_eq!(s.clone().as_str(), t);
            assert_eq!(s.len(), t.len());
            assert_eq!(s.is_shared(), t.len() > INLINE_MAX, "{:?}", t);
            assert_eq!(String::from(s.clone()), t);
            assert_eq!(&*Arc::<str>::from(s), t);
        }
    }
    assert_eq!(Str::from('ä').as_str(), "ä");
    assert_eq!(format!("{} {:?}", Str::from("a\"b"), Str::from("a\"b")), "a\"b \"a\\\"b\"");
}

#[test]
fn clones_are_equal_and_share_long_text() {
    let long = Str::from("x".repeat(100));
    let copy = long.clone();
    assert!(std::ptr::eq(long.as_str(), copy.as_str()), "a long string's clone shares its text");
    drop(long);
    assert_eq!(copy.as_str(), "x".repeat(100));
    let short = Str::from("short");
    let copy = short.clone();
    drop(short);
    assert_eq!(copy, Str::from("short"));
}

#[test]
fn equal_order_and_hash_agree_with_the_text_in_either_form() {
    for &a in TEXTS {
        for &b in TEXTS {
            let want = a.as_bytes().cmp(b.as_bytes());
            for (x, y) in [(Str::from(a), Str::from(b)), (shared(a), Str::from(b)), (Str::from(a), shared(b)), (shared(a), shared(b))] {
                assert_eq!(x.cmp(&y), want, "{:?} vs {:?}", a, b);
                assert_eq!(x == y, a == b, "{:?} vs {:?}", a, b);
                assert_eq!(x.cmp_str(b), want, "{:?} vs {:?}", a, b);
                if a == b {
                    assert_eq!(hash(&x), hash(&y));
                }
            }
        }
    }
    // Inline equality compares lengths too: a trailing NUL is text, not padding.
    assert_ne!(Str::from("ab"), Str::from("ab\0"));
    assert_eq!(Str::from(""), Str::from(String::new().as_str()));
    assert_eq!(Str::default(), Str::from(""));
}

#[test]
fn byte_order_word_at_a_time_matches_slices() {
    for &a in TEXTS {
        for &b in TEXTS {
            assert_eq!(cmp_bytes(a.as_bytes(), b.as_bytes()), a.as_bytes().cmp(b.as_bytes()), "{:?} vs {:?}", a, b);
        }
    }
}

#[test]
fn from_utf8_validates_short_and_long_bytes() {
    for &t in TEXTS {
        let s = Str::from_utf8(t.as_bytes()).expect("valid UTF-8");
        assert_eq!(s.as_str(), t);
        assert_eq!(s, Str::from(t));
        assert_eq!(s.is_shared(), t.len() > INLINE_MAX, "{:?}", t);
    }
    let invalid: &[&[u8]] = &[
        b"\xff", b"a\xff", b"abcdefghijklmnopqrstu\xff", b"\xffbcdefghijklmnopqrstuv", b"abcdefghijklmnopqrstuvw\xff",
        b"\xc3", b"\xc3\x28", b"\xe2\x82", b"\xc0\xaf", b"\xed\xa0\x80", b"\xf8\x88\x80\x80\x80", b"\x80",
    ];
    for b in invalid {
        assert!(Str::from_utf8(b).is_none(), "{:?}", b);
        assert!(std::str::from_utf8(b).is_err(), "{:?}", b);
    }
}
