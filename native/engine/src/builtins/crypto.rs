//! crypto builtins: digests and HMACs. The X.509 and key parsing builtins
//! (`crypto.x509.*`, `crypto.parse_private_keys`) live in `x509.rs`.

use super::{arg_str, BuiltinResult, Ctx, Registry};
use crate::value::Value;
use hmac::{Hmac, KeyInit, Mac};
use md5::Md5;
use sha1::Sha1;
use sha2::{Digest, Sha256, Sha512};

pub fn register(r: &mut Registry) {
    r.func("crypto", "crypto.md5", "(string) => string", md5_fn);
    r.func("crypto", "crypto.sha1", "(string) => string", sha1_fn);
    r.func("crypto", "crypto.sha256", "(string) => string", sha256_fn);
    r.func("crypto", "crypto.hmac.md5", "(string, string) => string", hmac_md5);
    r.func("crypto", "crypto.hmac.sha1", "(string, string) => string", hmac_sha1);
    r.func("crypto", "crypto.hmac.sha256", "(string, string) => string", hmac_sha256);
    r.func("crypto", "crypto.hmac.sha512", "(string, string) => string", hmac_sha512);
    r.func("crypto", "crypto.hmac.equal", "(string, string) => boolean", hmac_equal);
}

/// Lower-case hexadecimal, as Go's `%x`.
pub(crate) fn hex(bytes: &[u8]) -> String {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    let mut s = String::with_capacity(bytes.len() * 2);
    for b in bytes {
        s.push(DIGITS[usize::from(b >> 4)] as char);
        s.push(DIGITS[usize::from(b & 15)] as char);
    }
    s
}

fn digest<D: Digest>(args: &[Value]) -> BuiltinResult {
    let s = arg_str(args, 0)?;
    Ok(Value::string(hex(&D::digest(s.as_bytes()))))
}

fn md5_fn(_: &mut Ctx, args: &[Value]) -> BuiltinResult {
    digest::<Md5>(args)
}
fn sha1_fn(_: &mut Ctx, args: &[Value]) -> BuiltinResult {
    digest::<Sha1>(args)
}
fn sha256_fn(_: &mut Ctx, args: &[Value]) -> BuiltinResult {
    digest::<Sha256>(args)
}

/// Raw HMAC bytes for one of the hashes above; any key length is accepted.
macro_rules! hmac_raw {
    ($hash:ty, $key:expr, $msg:expr) => {
        match <Hmac<$hash> as KeyInit>::new_from_slice($key) {
            Ok(mut m) => {
                m.update($msg);
                m.finalize().into_bytes().to_vec()
            }
            Err(_) => Vec::new(),
        }
    };
}

/// HMAC-SHA-256/384/512 (`bits`), used by the JWT builtins.
pub(crate) fn hmac_sha2(bits: u32, key: &[u8], msg: &[u8]) -> Vec<u8> {
    match bits {
        384 => hmac_raw!(sha2::Sha384, key, msg),
        512 => hmac_raw!(Sha512, key, msg),
        _ => hmac_raw!(Sha256, key, msg),
    }
}

/// HMAC of operand 1 keyed by operand 2, hex-encoded.
macro_rules! hmac_builtin {
    ($name:ident, $hash:ty) => {
        fn $name(_: &mut Ctx, args: &[Value]) -> BuiltinResult {
            let msg = arg_str(args, 0)?;
            let key = arg_str(args, 1)?;
            Ok(Value::string(hex(&hmac_raw!($hash, key.as_bytes(), msg.as_bytes()))))
        }
    };
}
hmac_builtin!(hmac_md5, Md5);
hmac_builtin!(hmac_sha1, Sha1);
hmac_builtin!(hmac_sha256, Sha256);
hmac_builtin!(hmac_sha512, Sha512);

/// Constant-time comparison of two MACs (the time depends only on lengths).
pub(crate) fn ct_eq(a: &[u8], b: &[u8]) -> bool {
    if a.len() != b.len() {
        return false;
    }
    a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

fn hmac_equal(_: &mut Ctx, args: &[Value]) -> BuiltinResult {
    let a = arg_str(args, 0)?;
    let b = arg_str(args, 1)?;
    Ok(Value::Bool(ct_eq(a.as_bytes(), b.as_bytes())))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn call(f: super::super::BuiltinFn, args: &[&str]) -> Value {
        let args: Vec<Value> = args.iter().map(|s| Value::string(*s)).collect();
        f(&mut Ctx::new(0, true), &args).unwrap()
    }

    #[test]
    fn digests() {
        assert_eq!(call(md5_fn, &["abc"]), Value::string("900150983cd24fb0d6963f7d28e17f72"));
        assert_eq!(call(sha1_fn, &["abc"]), Value::string("a9993e364706816aba3e25717850c26c9cd0d89d"));
        assert_eq!(
            call(sha256_fn, &["abc"]),
            Value::string("ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad")
        );
    }

    /// Every declaration of this group (time, net, crypto, jwt, x509) parses.
    #[test]
    fn group_decls_parse() {
        let prefixes = ["time.", "net.", "crypto.", "io.jwt."];
        let mut n = 0;
        for b in super::super::registry().iter().filter(|b| prefixes.iter().any(|p| b.name.starts_with(p))) {
            assert!(super::super::types::parse_decl(b.decl).is_ok(), "{}: {}", b.name, b.decl);
            n += 1;
        }
        assert_eq!(n, 49);
    }

    #[test]
    fn hmacs() {
        // RFC 4231 test case 2.
        assert_eq!(
            call(hmac_sha256, &["what do ya want for nothing?", "Jefe"]),
            Value::string("5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843")
        );
        assert_eq!(call(hmac_equal, &["abc", "abc"]), Value::Bool(true));
        assert_eq!(call(hmac_equal, &["abc", "abd"]), Value::Bool(false));
    }
}
