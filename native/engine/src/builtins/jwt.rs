//! io.jwt builtins: decoding, signature verification and signing (RustCrypto:
//! rsa, p256, p384, p521, ed25519-dalek, hmac), constrained verification
//! (`io.jwt.decode_verify`).

use super::{arg_object, arg_str, BuiltinError, BuiltinResult, Ctx, Registry};
use crate::value::{Map, Value};
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;
use sha2::{Sha256, Sha384, Sha512};
use signature::{SignatureEncoding, Signer, Verifier};

#[path = "jwt/keys.rs"]
mod keys;

use keys::{Curve, Key, KeyEntry};

pub fn register(r: &mut Registry) {
    r.func("tokens", "io.jwt.decode", "(string) => [object[any: any], object[any: any], string]", decode);
    r.nondeterministic(
        "tokens",
        "io.jwt.decode_verify",
        "(string, object[string: any]) => [boolean, object[any: any], object[any: any]]",
        decode_verify,
    );
    let verify: [(&'static str, super::BuiltinFn); 13] = [
        ("io.jwt.verify_rs256", |_, a| verify_with(a, "RS256")),
        ("io.jwt.verify_rs384", |_, a| verify_with(a, "RS384")),
        ("io.jwt.verify_rs512", |_, a| verify_with(a, "RS512")),
        ("io.jwt.verify_ps256", |_, a| verify_with(a, "PS256")),
        ("io.jwt.verify_ps384", |_, a| verify_with(a, "PS384")),
        ("io.jwt.verify_ps512", |_, a| verify_with(a, "PS512")),
        ("io.jwt.verify_es256", |_, a| verify_with(a, "ES256")),
        ("io.jwt.verify_es384", |_, a| verify_with(a, "ES384")),
        ("io.jwt.verify_es512", |_, a| verify_with(a, "ES512")),
        ("io.jwt.verify_eddsa", |_, a| verify_with(a, "EdDSA")),
        ("io.jwt.verify_hs256", |_, a| verify_hs(a, 256)),
        ("io.jwt.verify_hs384", |_, a| verify_hs(a, 384)),
        ("io.jwt.verify_hs512", |_, a| verify_hs(a, 512)),
    ];
    for (name, f) in verify {
        r.func("tokens", name, "(string, string) => boolean", f);
    }
    r.nondeterministic(
        "tokensign",
        "io.jwt.encode_sign",
        "(object[string: any], object[string: any], object[string: any]) => string",
        encode_sign,
    );
    r.nondeterministic("tokensign", "io.jwt.encode_sign_raw", "(string, string, string) => string", encode_sign_raw);
}

fn eval(msg: impl Into<String>) -> BuiltinError {
    BuiltinError::Eval(msg.into())
}

// ---- base64url with Go's error messages ----

fn b64_value(c: u8) -> Option<u8> {
    match c {
        b'A'..=b'Z' => Some(c - b'A'),
        b'a'..=b'z' => Some(c - b'a' + 26),
        b'0'..=b'9' => Some(c - b'0' + 52),
        b'-' => Some(62),
        b'_' => Some(63),
        _ => None,
    }
}

/// OPA's `base64url.decode`: padding optional, errors as Go's decoder.
fn b64url_decode(s: &str) -> Result<Vec<u8>, String> {
    let b = s.as_bytes();
    if !s.ends_with('=') && b.len() % 4 == 1 {
        return Err(format!("illegal base64url string: {}", s));
    }
    let illegal = |i: usize| format!("illegal base64 data at input byte {}", i);
    let data_len = b.len() - b.iter().rev().take(2).take_while(|c| **c == b'=').count();
    if s.ends_with('=') && !b.len().is_multiple_of(4) {
        return Err(illegal(b.len() - (b.len() % 4).max(1)));
    }
    let mut out = Vec::with_capacity(data_len * 3 / 4);
    let mut acc: u32 = 0;
    let mut bits = 0;
    for (i, &c) in b[..data_len].iter().enumerate() {
        let v = b64_value(c).ok_or_else(|| illegal(i))?;
        acc = (acc << 6) | u32::from(v);
        bits += 6;
        if bits >= 8 {
            bits -= 8;
            out.push((acc >> bits) as u8);
            acc &= (1 << bits) - 1;
        }
    }
    if data_len % 4 == 1 {
        return Err(illegal(data_len));
    }
    Ok(out)
}

fn b64url_encode(b: &[u8]) -> String {
    URL_SAFE_NO_PAD.encode(b)
}

// ---- decoding ----

struct Token<'a> {
    header: &'a str,
    payload: &'a str,
    signature: &'a str,
}

fn split_token(s: &str) -> Result<Token<'_>, BuiltinError> {
    if !s.contains('.') {
        return Err(eval("encoded JWT had no period separators"));
    }
    let parts: Vec<&str> = s.split('.').collect();
    if parts.len() != 3 {
        return Err(eval(format!("encoded JWT must have 3 sections, found {}", parts.len())));
    }
    Ok(Token { header: parts[0], payload: parts[1], signature: parts[2] })
}

/// The decoded header object; JWE headers (with `enc`) are refused.
fn decode_header(t: &Token) -> Result<Value, BuiltinError> {
    let h = b64url_decode(t.header).map_err(|e| eval(format!("JWT header had invalid encoding: {}", e)))?;
    let text = String::from_utf8(h).map_err(|_| eval("JWT header had invalid encoding: invalid UTF-8"))?;
    let v = Value::from_json_str(&text).map_err(|e| eval(format!("bad JWT header: {}", e)))?;
    if v.as_object().is_none() {
        return Err(eval("bad JWT header: not an object"));
    }
    if v.field("enc").is_some() {
        return Err(eval("JWT is a JWE object, which is not supported"));
    }
    Ok(v)
}

fn decode_payload_text(t: &Token) -> Result<String, BuiltinError> {
    let p = b64url_decode(t.payload).map_err(|e| eval(format!("JWT payload had invalid encoding: {}", e)))?;
    String::from_utf8(p).map_err(|_| eval("JWT payload had invalid encoding: invalid UTF-8"))
}

fn json_object(text: &str) -> Result<Value, BuiltinError> {
    let v = Value::from_json_str(text).map_err(|e| eval(format!("failed to parse JSON: {}", e)))?;
    if v.as_object().is_none() {
        return Err(eval("JSON is not an object"));
    }
    Ok(v)
}

fn decode_signature(t: &Token) -> Result<Vec<u8>, BuiltinError> {
    b64url_decode(t.signature).map_err(|e| eval(format!("JWT signature had invalid encoding: {}", e)))
}

fn is_cty_jwt(header: &Value) -> bool {
    header.field("cty").and_then(Value::as_str) == Some("JWT")
}

/// A nested token's text: the payload itself, or the JSON string it encodes.
fn nested_token(payload: String) -> String {
    match Value::from_json_str(&payload) {
        Ok(Value::String(s)) => s.to_string(),
        _ => payload,
    }
}

fn decode(_: &mut Ctx, args: &[Value]) -> BuiltinResult {
    let mut token = arg_str(args, 0)?.to_string();
    loop {
        let t = split_token(&token)?;
        let header = decode_header(&t)?;
        let payload = decode_payload_text(&t)?;
        if is_cty_jwt(&header) {
            token = nested_token(payload);
            continue;
        }
        let payload = json_object(&payload)?;
        let sig = decode_signature(&t)?;
        return Ok(Value::from_array(vec![header, payload, Value::string(super::crypto::hex(&sig))]));
    }
}

// ---- verification ----

/// An RSA public key from a JWK's or certificate's modulus and exponent (1024 to 8192 bits,
/// as Go accepts).
fn rsa_public(n: &[u8], e: &[u8]) -> Option<rsa::PublicKey> {
    let n = rsa::BoxedUint::from_be_slice(n, bits(n)).ok()?;
    let e = rsa::BoxedUint::from_be_slice(e, bits(e)).ok()?;
    rsa::PublicKey::new(n, e).ok()
}

/// The precision, in bits, of an unsigned big-endian integer.
fn bits(b: &[u8]) -> u32 {
    u32::try_from(b.len().max(1) * 8).unwrap_or(u32::MAX)
}

/// `$scheme::VerifyingKey<$hash>` (PKCS#1 v1.5 or PSS) over an RSA key.
macro_rules! rsa_verify {
    ($scheme:ident, $hash:ty, $key:expr, $msg:expr, $sig:expr) => {
        match ($key, rsa::$scheme::Signature::try_from($sig)) {
            (Key::Rsa { n, e }, Ok(sig)) => match rsa_public(n, e) {
                Some(pk) => rsa::$scheme::VerifyingKey::<$hash>::new(pk).verify($msg, &sig).is_ok(),
                None => false,
            },
            _ => false,
        }
    };
}

/// ECDSA with the curve crate's own hash (SHA-256, -384, -512), fixed-size r || s.
macro_rules! ecdsa_verify {
    ($curve:ident, $want:expr, $key:expr, $msg:expr, $sig:expr) => {
        match $key {
            Key::Ec { curve, point } if *curve == $want => {
                match ($curve::ecdsa::VerifyingKey::from_sec1_bytes(point), $curve::ecdsa::Signature::from_slice($sig)) {
                    (Ok(k), Ok(sig)) => k.verify($msg, &sig).is_ok(),
                    _ => false,
                }
            }
            _ => false,
        }
    };
}

fn ed25519_verify(key: &Key, msg: &[u8], sig: &[u8]) -> bool {
    let Key::Ed25519(k) = key else { return false };
    let (Ok(k), Ok(sig)) = (<[u8; 32]>::try_from(k.as_slice()), ed25519_dalek::Signature::from_slice(sig)) else { return false };
    ed25519_dalek::VerifyingKey::from_bytes(&k).is_ok_and(|k| k.verify(msg, &sig).is_ok())
}

/// Verifies `msg` against `sig` with `alg` and one key; false on any mismatch.
fn verify_key(alg: &str, key: &Key, msg: &[u8], sig: &[u8]) -> bool {
    let hs = |bits: u32| match key {
        Key::Oct(k) => super::crypto::ct_eq(&super::crypto::hmac_sha2(bits, k, msg), sig),
        _ => false,
    };
    match alg {
        "RS256" => rsa_verify!(pkcs1v15, Sha256, key, msg, sig),
        "RS384" => rsa_verify!(pkcs1v15, Sha384, key, msg, sig),
        "RS512" => rsa_verify!(pkcs1v15, Sha512, key, msg, sig),
        "PS256" => rsa_verify!(pss, Sha256, key, msg, sig),
        "PS384" => rsa_verify!(pss, Sha384, key, msg, sig),
        "PS512" => rsa_verify!(pss, Sha512, key, msg, sig),
        "ES256" => ecdsa_verify!(p256, Curve::P256, key, msg, sig),
        "ES384" => ecdsa_verify!(p384, Curve::P384, key, msg, sig),
        "ES512" => ecdsa_verify!(p521, Curve::P521, key, msg, sig),
        "EdDSA" => ed25519_verify(key, msg, sig),
        "HS256" => hs(256),
        "HS384" => hs(384),
        "HS512" => hs(512),
        _ => false,
    }
}

/// ECDSA with an ASN.1 DER signature, as certificates carry it.
macro_rules! ecdsa_der_verify {
    ($curve:ident, $want:expr, $key:expr, $msg:expr, $sig:expr) => {
        match $key {
            Key::Ec { curve, point } if *curve == $want => {
                match ($curve::ecdsa::VerifyingKey::from_sec1_bytes(point), $curve::ecdsa::Signature::from_der($sig)) {
                    (Ok(k), Ok(sig)) => k.verify($msg, &sig).is_ok(),
                    _ => false,
                }
            }
            _ => false,
        }
    };
}

/// Whether `sig` over `msg` is valid for the SubjectPublicKeyInfo `spki` (its SEQUENCE's
/// contents) under a certificate signature algorithm in Go's `x509.SignatureAlgorithm`
/// numbering (SHA-1 with RSA is accepted, as Go does for chains it is asked to check).
pub(super) fn verify_certificate_signature(go_alg: i64, spki: &[u8], msg: &[u8], sig: &[u8]) -> bool {
    let Some(key) = keys::parse_spki(spki) else { return false };
    let key = &key;
    match go_alg {
        3 => rsa_verify!(pkcs1v15, sha1::Sha1, key, msg, sig),
        4 => rsa_verify!(pkcs1v15, Sha256, key, msg, sig),
        5 => rsa_verify!(pkcs1v15, Sha384, key, msg, sig),
        6 => rsa_verify!(pkcs1v15, Sha512, key, msg, sig),
        10 => ecdsa_der_verify!(p256, Curve::P256, key, msg, sig),
        11 => ecdsa_der_verify!(p384, Curve::P384, key, msg, sig),
        12 => ecdsa_der_verify!(p521, Curve::P521, key, msg, sig),
        16 => ed25519_verify(key, msg, sig),
        _ => false,
    }
}

/// Tries the key whose `kid` matches the header's first, else every key.
fn verify_keys(alg: &str, kid: Option<&str>, keys: &[KeyEntry], msg: &[u8], sig: &[u8]) -> bool {
    if let Some(kid) = kid {
        if let Some(k) = keys.iter().find(|k| k.kid.as_deref() == Some(kid)) {
            return verify_key(alg, &k.key, msg, sig);
        }
    }
    keys.iter().any(|k| verify_key(alg, &k.key, msg, sig))
}

fn verify_with(args: &[Value], alg: &str) -> BuiltinResult {
    let t = split_token(arg_str(args, 0)?)?;
    let keys = keys::keys_from_cert_or_jwk(arg_str(args, 1)?).map_err(eval)?;
    let sig = decode_signature(&t)?;
    let header = decode_header(&t)?;
    let kid = header.field("kid").and_then(Value::as_str);
    let msg = format!("{}.{}", t.header, t.payload);
    Ok(Value::Bool(verify_keys(alg, kid, &keys, msg.as_bytes(), &sig)))
}

fn verify_hs(args: &[Value], bits: u32) -> BuiltinResult {
    // Both operands' types are checked before the token is read, as OPA does.
    let token = arg_str(args, 0)?;
    let secret = arg_str(args, 1)?;
    let t = split_token(token)?;
    let msg = format!("{}.{}", t.header, t.payload);
    let mac = super::crypto::hmac_sha2(bits, secret.as_bytes(), msg.as_bytes());
    let sig = decode_signature(&t)?;
    Ok(Value::Bool(super::crypto::ct_eq(&sig, &mac)))
}

const ALGORITHMS: [&str; 13] =
    ["RS256", "RS384", "RS512", "PS256", "PS384", "PS512", "ES256", "ES384", "ES512", "HS256", "HS384", "HS512", "EdDSA"];

/// The constraints object of `io.jwt.decode_verify`.
struct Constraints {
    keys: Option<Vec<KeyEntry>>,
    secret: Option<String>,
    alg: Option<String>,
    iss: Option<String>,
    aud: Option<String>,
    /// Nanoseconds.
    time: f64,
}

fn parse_constraints(obj: &Map, now_ns: i64) -> Result<Constraints, BuiltinError> {
    let mut c = Constraints { keys: None, secret: None, alg: None, iss: None, aud: None, time: now_ns as f64 };
    for (k, v) in obj {
        let name = k.as_str().ok_or_else(|| eval("token constraint names must be strings"))?;
        let string = || v.as_str().map(str::to_string).ok_or_else(|| eval(format!("{} constraint: must be a string", name)));
        match name {
            "cert" => c.keys = Some(keys::keys_from_cert_or_jwk(&string()?).map_err(eval)?),
            "secret" => c.secret = Some(string()?),
            "alg" => c.alg = Some(string()?),
            "iss" => c.iss = Some(string()?),
            "aud" => c.aud = Some(string()?),
            "time" => {
                c.time = v.as_number().map(|n| n.as_f64()).ok_or_else(|| eval("time constraint: must be a number"))?
            }
            _ => return Err(eval(format!("unknown token validation constraint: {}", name))),
        }
    }
    let n = usize::from(c.keys.is_some()) + usize::from(c.secret.as_deref().is_some_and(|s| !s.is_empty()));
    if n > 1 {
        return Err(eval("duplicate key constraints"));
    }
    if n < 1 {
        return Err(eval("no key constraint"));
    }
    Ok(c)
}

fn decode_verify(ctx: &mut Ctx, args: &[Value]) -> BuiltinResult {
    let mut token = arg_str(args, 0)?.to_string();
    let c = parse_constraints(arg_object(args, 1)?, ctx.now_ns())?;
    let unverified = || Ok(Value::from_array(vec![Value::Bool(false), Value::empty_object(), Value::empty_object()]));
    let (header, payload_text) = loop {
        let t = split_token(&token)?;
        let header = decode_header(&t)?;
        let alg = header.field("alg").and_then(Value::as_str).unwrap_or("");
        // A JWS must name its algorithm (RFC 7515 4.1.1): without, the token is not verified.
        if alg.is_empty() || c.alg.as_deref().is_some_and(|a| a != alg) {
            return unverified();
        }
        // No critical header extension is understood (RFC 7515 4.1.11).
        if header.field("crit").is_some() {
            return unverified();
        }
        if !ALGORITHMS.contains(&alg) {
            return Err(eval(format!("unknown JWS algorithm: {}", alg)));
        }
        let sig = decode_signature(&t)?;
        let msg = format!("{}.{}", t.header, t.payload);
        let kid = header.field("kid").and_then(Value::as_str);
        let ok = match (&c.keys, &c.secret) {
            (Some(keys), _) => verify_keys(alg, kid, keys, msg.as_bytes(), &sig),
            (None, Some(secret)) => verify_key(alg, &Key::Oct(secret.as_bytes().to_vec()), msg.as_bytes(), &sig),
            _ => false,
        };
        if !ok {
            return unverified();
        }
        let payload = decode_payload_text(&t)?;
        if is_cty_jwt(&header) {
            token = nested_token(payload);
            continue;
        }
        break (header, payload);
    };
    let payload = json_object(&payload_text)?;
    if let Some(iss) = &c.iss {
        if payload.field("iss").and_then(Value::as_str) != Some(iss.as_str()) {
            return unverified();
        }
    }
    match payload.field("aud") {
        Some(aud) => {
            let want = c.aud.as_deref().unwrap_or("");
            let ok = match aud {
                Value::String(s) => &**s == want,
                Value::Array(a) => a.iter().any(|e| e.as_str() == Some(want)),
                _ => false,
            };
            if !ok {
                return unverified();
            }
        }
        None if c.aud.as_deref().is_some_and(|a| !a.is_empty()) => return unverified(),
        None => {}
    }
    let now_s = c.time / 1e9;
    if let Some(exp) = payload.field("exp") {
        let exp = exp.as_number().ok_or_else(|| eval("exp value must be a number"))?;
        if now_s >= exp.as_f64() {
            return unverified();
        }
    }
    if let Some(nbf) = payload.field("nbf") {
        let nbf = nbf.as_number().ok_or_else(|| eval("nbf value must be a number"))?;
        if now_s < nbf.as_f64() {
            return unverified();
        }
    }
    Ok(Value::from_array(vec![Value::Bool(true), header, payload]))
}

// ---- signing ----

fn encode_sign(_: &mut Ctx, args: &[Value]) -> BuiltinResult {
    let header = arg_object(args, 0)?;
    let payload = arg_object(args, 1)?;
    let key = arg_object(args, 2)?;
    let (h, p, k) = (Value::Object(header.clone().into()), Value::Object(payload.clone().into()), Value::Object(key.clone().into()));
    sign_raw(&h.to_json(), &p.to_json(), &k)
}

fn encode_sign_raw(_: &mut Ctx, args: &[Value]) -> BuiltinResult {
    let header = arg_str(args, 0)?;
    let payload = arg_str(args, 1)?;
    let jwk = arg_str(args, 2)?;
    let key = Value::from_json_str(jwk).map_err(|e| eval(format!("failed to parse JWK: {}", e)))?;
    let key = match key.field("keys").and_then(Value::as_array).and_then(|k| k.first()) {
        Some(first) => first.clone(),
        None => key,
    };
    sign_raw(header, payload, &key)
}

/// Signs `payload` under the literal `header` text with a private JWK.
fn sign_raw(header: &str, payload: &str, jwk: &Value) -> BuiltinResult {
    // OPA 1.22 (jwx v3's jwsbb) words header problems so.
    let bad_alg = |why: &str| eval(format!("missing or invalid 'alg' header: {}", why));
    if header.trim().is_empty() {
        return Err(bad_alg("cannot parse JSON: cannot parse empty string; unparsed tail: \"\""));
    }
    let h = match Value::from_json_str(header) {
        Ok(h) => h,
        Err(_) if header.trim_start().starts_with('{') => return Err(bad_alg("cannot parse JSON")),
        Err(_) => Value::Null,
    };
    let alg = match h.field("alg") {
        None => return Err(bad_alg("jwsbb: header \"alg\" not found")),
        Some(Value::String(a)) if ALGORITHMS.contains(&&**a) => a.to_string(),
        Some(Value::String(a)) => return Err(eval(format!("unknown JWS algorithm: {}", a))),
        Some(other) => {
            let kind = match other {
                Value::Bool(b) => b.to_string(),
                Value::Number(_) => "number".to_string(),
                other => other.type_name().to_string(),
            };
            return Err(bad_alg(&format!("value doesn't contain string; it contains {}", kind)));
        }
    };
    let typ = h.field("typ").and_then(Value::as_str).unwrap_or("");
    if (typ.is_empty() || typ == "JWT") && Value::from_json_str(payload).is_err() {
        return Err(eval("type is JWT but payload is not JSON"));
    }
    let signing_input = format!("{}.{}", b64url_encode(header.as_bytes()), b64url_encode(payload.as_bytes()));
    let sig = sign_bytes(&alg, jwk, signing_input.as_bytes()).map_err(eval)?;
    Ok(Value::string(format!("{}.{}", signing_input, b64url_encode(&sig))))
}

/// `$scheme::SigningKey<$hash>` over a private RSA JWK (PSS salts come from the OS).
macro_rules! rsa_sign {
    ($scheme:ident, $hash:ty, $jwk:expr, $msg:expr) => {{
        let key = keys::rsa_private_key($jwk)?;
        rsa::$scheme::SigningKey::<$hash>::new(key).try_sign($msg).map(|s| s.to_vec()).map_err(|_| "failed to sign payload".to_string())
    }};
}

/// Deterministic ECDSA (RFC 6979) with a private EC JWK's `d`, fixed-size r || s.
macro_rules! ecdsa_sign {
    ($curve:ident, $want:expr, $entry:expr, $jwk:expr, $msg:expr) => {{
        let Key::Ec { curve, .. } = &$entry.key else { return Err("invalid key type for ECDSA".into()) };
        if *curve != $want {
            return Err("invalid key type for ECDSA".into());
        }
        let d = keys::ec_private_scalar($jwk, $want)?;
        let key = $curve::ecdsa::SigningKey::from_slice(&d).map_err(|e| format!("failed to load EC key: {}", e))?;
        let sig: $curve::ecdsa::Signature = key.try_sign($msg).map_err(|_| "failed to sign payload".to_string())?;
        Ok(sig.to_bytes().to_vec())
    }};
}

fn sign_bytes(alg: &str, jwk: &Value, msg: &[u8]) -> Result<Vec<u8>, String> {
    let entry = keys::parse_jwk(jwk)?;
    let hs = |bits| match &entry.key {
        Key::Oct(k) => Ok(super::crypto::hmac_sha2(bits, k, msg)),
        _ => Err("invalid key type for HMAC".to_string()),
    };
    match alg {
        "HS256" => hs(256),
        "HS384" => hs(384),
        "HS512" => hs(512),
        "RS256" => rsa_sign!(pkcs1v15, Sha256, jwk, msg),
        "RS384" => rsa_sign!(pkcs1v15, Sha384, jwk, msg),
        "RS512" => rsa_sign!(pkcs1v15, Sha512, jwk, msg),
        "PS256" => rsa_sign!(pss, Sha256, jwk, msg),
        "PS384" => rsa_sign!(pss, Sha384, jwk, msg),
        "PS512" => rsa_sign!(pss, Sha512, jwk, msg),
        "ES256" => ecdsa_sign!(p256, Curve::P256, entry, jwk, msg),
        "ES384" => ecdsa_sign!(p384, Curve::P384, entry, jwk, msg),
        "ES512" => ecdsa_sign!(p521, Curve::P521, entry, jwk, msg),
        "EdDSA" => {
            let d = jwk.field("d").and_then(Value::as_str).ok_or("required field d is missing")?;
            let seed = <[u8; 32]>::try_from(b64url_decode(d)?.as_slice()).map_err(|_| "invalid EdDSA private key".to_string())?;
            let Key::Ed25519(public) = &entry.key else { return Err("invalid key type for EdDSA".into()) };
            let key = ed25519_dalek::SigningKey::from_bytes(&seed);
            if key.verifying_key().as_bytes().as_slice() != public.as_slice() {
                return Err("invalid EdDSA private key: public key does not match".into());
            }
            Ok(key.sign(msg).to_bytes().to_vec())
        }
        other => Err(format!("unsupported signature algorithm {}", other)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    // Test-only keys generated for these tests.
    const RSA_JWK: &str = r#"{"kty":"RSA","n":"oTQ_AuclUHlMCuUnz2OJY4_ywf6FASHrILjF89C2c4rk2Z2qXoeKYJVZVJWTq0xJF4A7Py7O1AlJD7LujY9CCZbkkHuulqeX-EbudYi3f-kuoXz-_KjeV9VB8KOQBXWGj7oSv2GINQYsR6FRf4LJY4Sh_ye0BHzpI1EvBatxPKsLclzHd0BpY7JdfLhEGzynojtpmqFezmdKuNk_h6DPs-oSKcyuh8wz4D56rpPXraccfjRLthNQ_aLAUemCo0kVfa_cuxfBqCjOboqoziPQccbELiJGf5mHBMNrcn-4kSoHVio34m0frc1UCMW7v_nTb4SDSyME3GIXvyTIscSdfQ","e":"AQAB","d":"IApkY81Ri1cwmBHIAd6E1jcsRwaxpPH66_wNzFI1kW2P4vkFfdhu1peYs8kvGqME_BjOrdY94cMetHIaHCTXOVS2hUkwAF27ROvERbQw1MmiLRLNE6b02nxWqN-5pnwfjL2tMEDQc8mQT4Ru0GtMX-1izXY0v5ecNxrRv8y9qxL7PKqtL9mOcGawGSx-dF4hnEuTud5c3pcAAs4IS3ObiPzU-P4YGOJvpjd0v87wjnwFk98xKDd1EMMMlZf06CcbSUgM2W80RsXPmf_4LQJM2JnqTBEv7OzxL-9Lz9wpm8yOIdIPE4hu6UMFa1NYP3N_6COQ1n10p8m_WIusvfPcOQ","p":"2MNTtA0eSLzX-3dN3o_kolrmXIjvYjPlr-Y7cmEany6ClvKNIpfPr03ProV8b9io0c7S72RrtSsAkC2HTp2rTM338RKrZuIf_qIiFW2_5H_SFwNCgPTvbn5BzXXy98oOD5uSOLooU2VaFRGBIE90WPEyPTnrhuJp84-TWp-iVRc","q":"vmJZ5FDOPivhuSpP83YbaUPFdz7bKjgWK27vfzeBnFNmV5unc0X6OkVU_mh1dSsF1ldl-n95M9CWXqr07DUtJNnyNXIFz5dqcMKhNlHqlj2GuEqaq_2UAOyxQtAsgMnRceJyPs0-5LKyFTdSX2dUKX2p3hoOCoKg3BfElMFZJos","dp":"H3AM1sNETiZdaNI_z_Sso0Ntv6P4nBSMznskygz9UHLta7kX8Rl1fKZbZaNkjdAtg-hsPV4iJO9ssHx58FP7wTLqL-OWSmCnZUXcjaESQLCtJrtJTOy5QRw8rPDbYUbDzU2x4lpVeOrtKrsUMDx10mSA9dJNr41s8m8zXuRiJdc","dq":"T3mDCPpqfi2XVtLA-WMOYkz2O6czmlY7evoeZD7pjjaKfHvv1QEbSgPzTRiSH81L7IQjgASCtgyXGQHIqGoyZDXPFFx67IPK3TOCVMixYvJgMMKD-tQqWpB0Fu4MBd853Y6oHmtTm-i0yoKDkmvyCDf7F0pNHjoVqIsLdwWXj60","qi":"e3MeZosrfXIBwS7OQxhYwtPOJoNDxJB8XHTrk6y_F90BNY4B-xHyjT1lr9VSBOABojf4waDpWN9FiWbn4V0KDLUlcHPQetpV-w2QPD0BD4EHIiILfaOI4w9v3BWddqNps6-4WZpnHJP5ViW4ZRRSVAch3KCPvLASDL-FUxY08Rs"}"#;
    const RSA_PUB: &str = "-----BEGIN PUBLIC KEY-----\nMIIBIjANBgkqhkiG9w0BAQEFAAOCAQ8AMIIBCgKCAQEAoTQ/AuclUHlMCuUnz2OJ\nY4/ywf6FASHrILjF89C2c4rk2Z2qXoeKYJVZVJWTq0xJF4A7Py7O1AlJD7LujY9C\nCZbkkHuulqeX+EbudYi3f+kuoXz+/KjeV9VB8KOQBXWGj7oSv2GINQYsR6FRf4LJ\nY4Sh/ye0BHzpI1EvBatxPKsLclzHd0BpY7JdfLhEGzynojtpmqFezmdKuNk/h6DP\ns+oSKcyuh8wz4D56rpPXraccfjRLthNQ/aLAUemCo0kVfa/cuxfBqCjOboqoziPQ\nccbELiJGf5mHBMNrcn+4kSoHVio34m0frc1UCMW7v/nTb4SDSyME3GIXvyTIscSd\nfQIDAQAB\n-----END PUBLIC KEY-----";
    const EC_JWK: &str = r#"{"kty":"EC","crv":"P-256","x":"O01UWsm4xLEN-PnoDI0LWNLMZUB9QtHtXttXx9_VsN4","y":"zFfzlDbKIA51X45VlQHBROgyvIdZeIjm05U5j4VGnF8","d":"0PWe0Ez7LbVwTnbFTzam5pVNPBDGvBK3e2L0PWImjdk"}"#;
    const EC_PUB: &str = "-----BEGIN PUBLIC KEY-----\nMFkwEwYHKoZIzj0CAQYIKoZIzj0DAQcDQgAEO01UWsm4xLEN+PnoDI0LWNLMZUB9\nQtHtXttXx9/VsN7MV/OUNsogDnVfjlWVAcFE6DK8h1l4iObTlTmPhUacXw==\n-----END PUBLIC KEY-----";

    /// Test-only keys made for these tests, with tokens that OPA v1.22.4's
    /// `io.jwt.encode_sign` signed with them: (alg, private JWK, public PEM, OPA's token).
    const OPA_SIGNED: [(&str, &str, &str, &str); 3] = [
        ("ES384", r#"{"kty":"EC","crv":"P-384","x":"HJ-8-e6rUPtNRfwC3d5mxqfPkUlx4kctH6RijZyRr_S1oh3QMIfD7oXp4ZjaoTtD","y":"7PjMYnq6gt3tNrYHORQxwfQLe9WLIhdumQz-dTZFASgili_Lqzb2WmZzPIBLRQv9","d":"6U1GxVp_6XH8HgHODN5lC39MOJPG7GGoKBoHak9c7BjLhyj5BqorZY16kIfMCpQA"}"#, "-----BEGIN PUBLIC KEY-----\nMHYwEAYHKoZIzj0CAQYFK4EEACIDYgAEHJ+8+e6rUPtNRfwC3d5mxqfPkUlx4kct\nH6RijZyRr/S1oh3QMIfD7oXp4ZjaoTtD7PjMYnq6gt3tNrYHORQxwfQLe9WLIhdu\nmQz+dTZFASgili/Lqzb2WmZzPIBLRQv9\n-----END PUBLIC KEY-----", "eyJhbGciOiJFUzM4NCJ9.eyJpc3MiOiJvcGEifQ.kcoTqlpsZCAfryat44-pCIDU-XrjT4_9F1vTNUh6CQZJDq85j9_f1Vy1fjhjUc_qi-lGX0GCBGE74B5vEKljIHBC48ZqqTOgw4t3OIj34EYs2PgCmXsNYmQdNzxSqBoM"),
        ("ES512", r#"{"kty":"EC","crv":"P-521","x":"AXJE0eK6kZSdy-S6rfF4sDYYX8MNQXFcQXukW44GGZ0S__SHJxjQRzOaoRtrdeZezUtY-JguBP-7uQ2JfB6tJJPL","y":"AI5q2PL7UvFzOM_1Qe0T2c_mAE7Nho0lUcwJda58v6V1wXrE-fgEKA4uFxD4ypaHG2s_TG48XBxN_RTTe9fyKBVy","d":"AJXc1Rn6SVqN8GBk3wTtQJFku5WzYU67gNzIAx2ca915wck9s-9ueS1K7rARKJH4fsLNMq-R8Udo1mIaCGmhFyJa"}"#, "-----BEGIN PUBLIC KEY-----\nMIGbMBAGByqGSM49AgEGBSuBBAAjA4GGAAQBckTR4rqRlJ3L5Lqt8XiwNhhfww1B\ncVxBe6RbjgYZnRL/9IcnGNBHM5qhG2t15l7NS1j4mC4E/7u5DYl8Hq0kk8sAjmrY\n8vtS8XM4z/VB7RPZz+YATs2GjSVRzAl1rny/pXXBesT5+AQoDi4XEPjKlocbaz9M\nbjxcHE39FNN71/IoFXI=\n-----END PUBLIC KEY-----", "eyJhbGciOiJFUzUxMiJ9.eyJpc3MiOiJvcGEifQ.ADPc-nG-Dg35NBk8Kez7cSNtZjgLE9BjsShcaraqwCE6LkGem4kANHxoyw3REEYjKk7B6VmUFaBg3LsWO71SdeVrAPd0GZHPs7xzZ4ClCWeXVqjS6P-HergOLiVgZcaFMSNGpSVBy92mqnZigk-P3OwqGhJed86ulpjt5-3ygwDv9LEp"),
        ("EdDSA", r#"{"kty":"OKP","crv":"Ed25519","x":"VgdpeObwfWmFU2uvTxE_ZYS5QIlfxXZTVBWjZL60Ck0","d":"LiYhWOd6GUlZ9cP5ZG6N2YH55RqtId3tIsLxNXY_048"}"#, "-----BEGIN PUBLIC KEY-----\nMCowBQYDK2VwAyEAVgdpeObwfWmFU2uvTxE/ZYS5QIlfxXZTVBWjZL60Ck0=\n-----END PUBLIC KEY-----", "eyJhbGciOiJFZERTQSJ9.eyJpc3MiOiJvcGEifQ.6WLvY0kMOldFWnHSR2x_q6WVm2Mm0ugdIzqpk6ig2Qa24m6mq4Zfh_auErG1tjbA02qNP5LYOR-66hzDP0wVBw"),
    ];

    fn s(x: &str) -> Value {
        Value::string(x)
    }
    fn call(f: super::super::BuiltinFn, args: Vec<Value>) -> BuiltinResult {
        f(&mut Ctx::new(1_000_000_000_000_000_000, true), &args)
    }
    fn sign(header: &str, payload: &str, jwk: &str) -> String {
        let t = call(encode_sign_raw, vec![s(header), s(payload), s(jwk)]).unwrap();
        t.as_str().unwrap().to_string()
    }
    fn registered(name: &str) -> super::super::BuiltinFn {
        super::super::registry().get(name).and_then(|b| b.func).unwrap()
    }

    #[test]
    fn base64url_errors_as_go() {
        assert_eq!(b64url_decode("eyJhIjoxfQ"), Ok(br#"{"a":1}"#.to_vec()));
        assert_eq!(b64url_decode("eyJh^%zI"), Err("illegal base64 data at input byte 4".into()));
    }

    #[test]
    fn decode_errors() {
        let d = |t: &str| call(decode, vec![s(t)]);
        assert_eq!(d("abc"), Err(eval("encoded JWT had no period separators")));
        assert_eq!(d("a.b"), Err(eval("encoded JWT must have 3 sections, found 2")));
    }

    #[test]
    fn hs256_round_trip() {
        let jwk = r#"{"kty":"oct","k":"c2VjcmV0"}"#;
        let t = sign(r#"{"alg":"HS256","typ":"JWT"}"#, r#"{"sub":"0"}"#, jwk);
        assert_eq!(call(registered("io.jwt.verify_hs256"), vec![s(&t), s("secret")]), Ok(Value::Bool(true)));
        assert_eq!(call(registered("io.jwt.verify_hs256"), vec![s(&t), s("other")]), Ok(Value::Bool(false)));
        let got = call(decode, vec![s(&t)]).unwrap();
        assert_eq!(got.get(&Value::int(1)).and_then(|p| p.field("sub")), Some(&s("0")));
    }

    #[test]
    fn rs256_and_es256_round_trip() {
        for (alg, jwk, public) in [("RS256", RSA_JWK, RSA_PUB), ("PS256", RSA_JWK, RSA_PUB), ("ES256", EC_JWK, EC_PUB)] {
            let t = sign(&format!(r#"{{"alg":"{}"}}"#, alg), r#"{"iss":"me"}"#, jwk);
            let verify = registered(&format!("io.jwt.verify_{}", alg.to_lowercase()));
            assert_eq!(call(verify, vec![s(&t), s(public)]), Ok(Value::Bool(true)), "{}", alg);
            let tampered = t.replacen(".", ".e30", 1);
            assert_eq!(call(verify, vec![s(&tampered), s(public)]), Ok(Value::Bool(false)), "{}", alg);
            // The public half of the JWK verifies too.
            assert_eq!(call(verify, vec![s(&t), s(jwk)]), Ok(Value::Bool(true)), "{}", alg);
        }
    }

    #[test]
    fn opa_signed_tokens_verify_and_ours_round_trip() {
        for (alg, jwk, public, opa_token) in OPA_SIGNED {
            let verify = registered(&format!("io.jwt.verify_{}", alg.to_lowercase()));
            assert_eq!(call(verify, vec![s(opa_token), s(public)]), Ok(Value::Bool(true)), "{} from OPA", alg);
            let ours = sign(&format!(r#"{{"alg":"{}"}}"#, alg), r#"{"iss":"sark"}"#, jwk);
            assert_eq!(call(verify, vec![s(&ours), s(public)]), Ok(Value::Bool(true)), "{}", alg);
            assert_eq!(call(verify, vec![s(&ours), s(jwk)]), Ok(Value::Bool(true)), "{} with the JWK", alg);
            let tampered = ours.replacen(".", ".e30", 1);
            assert_eq!(call(verify, vec![s(&tampered), s(public)]), Ok(Value::Bool(false)), "{}", alg);
            // A key of another algorithm never verifies.
            assert_eq!(call(verify, vec![s(&ours), s(RSA_PUB)]), Ok(Value::Bool(false)), "{}", alg);
        }
        for alg in ["RS384", "RS512", "PS384", "PS512"] {
            let t = sign(&format!(r#"{{"alg":"{}"}}"#, alg), "{}", RSA_JWK);
            let verify = registered(&format!("io.jwt.verify_{}", alg.to_lowercase()));
            assert_eq!(call(verify, vec![s(&t), s(RSA_PUB)]), Ok(Value::Bool(true)), "{}", alg);
        }
    }

    #[test]
    fn decode_verify_constraints() {
        let jwk = r#"{"kty":"oct","k":"c2VjcmV0"}"#;
        let t = sign(r#"{"alg":"HS256"}"#, r#"{"iss":"me","aud":"you","exp":2000000000,"nbf":900000000}"#, jwk);
        let c = |pairs: &[(&str, Value)]| Value::from_map(pairs.iter().map(|(k, v)| (s(k), v.clone())).collect());
        let ok = |cons: Value| call(decode_verify, vec![s(&t), cons]).unwrap().get(&Value::int(0)).cloned();
        assert_eq!(ok(c(&[("secret", s("secret")), ("aud", s("you"))])), Some(Value::Bool(true)));
        assert_eq!(ok(c(&[("secret", s("secret"))])), Some(Value::Bool(false)), "aud claim without constraint");
        assert_eq!(ok(c(&[("secret", s("secret")), ("aud", s("you")), ("iss", s("x"))])), Some(Value::Bool(false)));
        let late = c(&[("secret", s("secret")), ("aud", s("you")), ("time", Value::int(2_000_000_000_000_000_000))]);
        assert_eq!(ok(late), Some(Value::Bool(false)));
        assert_eq!(ok(c(&[("secret", s("nope")), ("aud", s("you"))])), Some(Value::Bool(false)));
        assert_eq!(call(decode_verify, vec![s(&t), c(&[])]), Err(eval("no key constraint")));
        let bad = c(&[("secret", s("secret")), ("foo", s("x"))]);
        assert_eq!(call(decode_verify, vec![s(&t), bad]), Err(eval("unknown token validation constraint: foo")));
    }

    #[test]
    fn sign_header_errors() {
        let jwk = r#"{"kty":"oct","k":"c2VjcmV0"}"#;
        let e = |h: &str| call(encode_sign_raw, vec![s(h), s("{}"), s(jwk)]).unwrap_err();
        assert_eq!(e("{}"), eval("missing or invalid 'alg' header: jwsbb: header \"alg\" not found"));
        assert_eq!(e(r#"{"alg":"dummy"}"#), eval("unknown JWS algorithm: dummy"));
        assert_eq!(call(encode_sign_raw, vec![s(r#"{"alg":"HS256"}"#), s("e"), s(jwk)]), Err(eval("type is JWT but payload is not JSON")));
    }
}
