//! io.jwt builtins: decoding, signature verification (ring), constrained
//! verification (`io.jwt.decode_verify`) and signing.

use super::{arg_object, arg_str, BuiltinError, BuiltinResult, Ctx, Registry};
use crate::value::{Map, Value};
use ring::signature::{self, RsaPublicKeyComponents, UnparsedPublicKey, VerificationAlgorithm};

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
    if s.ends_with('=') && b.len() % 4 != 0 {
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
    base64::encode_config(b, base64::URL_SAFE_NO_PAD)
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

fn decode(_: &mut Ctx, args: &[Value]) -> BuiltinResult {
    let mut token = arg_str(args, 0)?.to_string();
    loop {
        let t = split_token(&token)?;
        let header = decode_header(&t)?;
        let payload = decode_payload_text(&t)?;
        if is_cty_jwt(&header) {
            token = payload;
            continue;
        }
        let payload = json_object(&payload)?;
        let sig = decode_signature(&t)?;
        return Ok(Value::from_array(vec![header, payload, Value::string(super::crypto::hex(&sig))]));
    }
}

// ---- verification ----

/// Verifies `msg` against `sig` with `alg` and one key; false on any mismatch.
fn verify_key(alg: &str, key: &Key, msg: &[u8], sig: &[u8]) -> bool {
    let rsa = |params: &'static signature::RsaParameters| match key {
        Key::Rsa { n, e } => RsaPublicKeyComponents { n, e }.verify(params, msg, sig).is_ok(),
        _ => false,
    };
    let ec = |curve: Curve, a: &'static dyn VerificationAlgorithm| match key {
        Key::Ec { curve: c, point } if *c == curve => UnparsedPublicKey::new(a, point).verify(msg, sig).is_ok(),
        _ => false,
    };
    let hs = |bits: u32| match key {
        Key::Oct(k) => super::crypto::ct_eq(&super::crypto::hmac_sha2(bits, k, msg), sig),
        _ => false,
    };
    match alg {
        "RS256" => rsa(&signature::RSA_PKCS1_2048_8192_SHA256),
        "RS384" => rsa(&signature::RSA_PKCS1_2048_8192_SHA384),
        "RS512" => rsa(&signature::RSA_PKCS1_2048_8192_SHA512),
        "PS256" => rsa(&signature::RSA_PSS_2048_8192_SHA256),
        "PS384" => rsa(&signature::RSA_PSS_2048_8192_SHA384),
        "PS512" => rsa(&signature::RSA_PSS_2048_8192_SHA512),
        "ES256" => ec(Curve::P256, &signature::ECDSA_P256_SHA256_FIXED),
        "ES384" => ec(Curve::P384, &signature::ECDSA_P384_SHA384_FIXED),
        "EdDSA" => match key {
            Key::Ed25519(k) => UnparsedPublicKey::new(&signature::ED25519, k).verify(msg, sig).is_ok(),
            _ => false,
        },
        "HS256" => hs(256),
        "HS384" => hs(384),
        "HS512" => hs(512),
        // ES512 (P-521) is not supported by ring 0.16: never verifies.
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
    let t = split_token(arg_str(args, 0)?)?;
    let secret = arg_str(args, 1)?;
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
    let c = parse_constraints(arg_object(args, 1)?, ctx.now_ns)?;
    let unverified = || Ok(Value::from_array(vec![Value::Bool(false), Value::empty_object(), Value::empty_object()]));
    let (header, payload_text) = loop {
        let t = split_token(&token)?;
        let header = decode_header(&t)?;
        let alg = header.field("alg").and_then(Value::as_str).unwrap_or("");
        if c.alg.as_deref().is_some_and(|a| a != alg) {
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
            token = payload;
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
    if header.trim().is_empty() {
        return Err(eval("missing or invalid 'alg' header: cannot parse JSON: cannot parse empty string"));
    }
    let first = header.trim_start().chars().next().unwrap_or(' ');
    if !matches!(first, '{' | '[' | '"' | '-' | '0'..='9' | 't' | 'f' | 'n') {
        return Err(eval(format!("invalid character '{}' looking for beginning of value", first)));
    }
    let h = Value::from_json_str(header).map_err(|_| eval("missing or invalid 'alg' header: cannot parse JSON"))?;
    let alg = match h.field("alg") {
        None => return Err(eval("unsupported signature algorithm")),
        Some(Value::String(a)) if ALGORITHMS.contains(&&**a) => a.to_string(),
        Some(Value::String(a)) => return Err(eval(format!("unknown JWS algorithm: {}", a))),
        Some(_) => return Err(eval("missing or invalid 'alg' header: cannot parse JSON")),
    };
    let typ = h.field("typ").and_then(Value::as_str).unwrap_or("");
    if (typ.is_empty() || typ == "JWT") && Value::from_json_str(payload).is_err() {
        return Err(eval("type is JWT but payload is not JSON"));
    }
    let signing_input = format!("{}.{}", b64url_encode(header.as_bytes()), b64url_encode(payload.as_bytes()));
    let sig = sign_bytes(&alg, jwk, signing_input.as_bytes()).map_err(eval)?;
    Ok(Value::string(format!("{}.{}", signing_input, b64url_encode(&sig))))
}

fn sign_bytes(alg: &str, jwk: &Value, msg: &[u8]) -> Result<Vec<u8>, String> {
    let entry = keys::parse_jwk(jwk)?;
    let rng = ring::rand::SystemRandom::new();
    let rsa = |enc: &'static dyn signature::RsaEncoding| -> Result<Vec<u8>, String> {
        let der = keys::rsa_private_der(jwk)?;
        let kp = signature::RsaKeyPair::from_der(&der).map_err(|e| format!("failed to load RSA key: {}", e))?;
        let mut sig = vec![0u8; kp.public_modulus_len()];
        kp.sign(enc, &rng, msg, &mut sig).map_err(|_| "failed to sign payload".to_string())?;
        Ok(sig)
    };
    let ec = |a: &'static signature::EcdsaSigningAlgorithm| -> Result<Vec<u8>, String> {
        let Key::Ec { curve, point } = &entry.key else { return Err("invalid key type for ECDSA".into()) };
        let pkcs8 = keys::ec_private_pkcs8(jwk, *curve, point)?;
        let kp = signature::EcdsaKeyPair::from_pkcs8(a, &pkcs8).map_err(|e| format!("failed to load EC key: {}", e))?;
        kp.sign(&rng, msg).map(|s| s.as_ref().to_vec()).map_err(|_| "failed to sign payload".to_string())
    };
    let hs = |bits| match &entry.key {
        Key::Oct(k) => Ok(super::crypto::hmac_sha2(bits, k, msg)),
        _ => Err("invalid key type for HMAC".to_string()),
    };
    match alg {
        "HS256" => hs(256),
        "HS384" => hs(384),
        "HS512" => hs(512),
        "RS256" => rsa(&signature::RSA_PKCS1_SHA256),
        "RS384" => rsa(&signature::RSA_PKCS1_SHA384),
        "RS512" => rsa(&signature::RSA_PKCS1_SHA512),
        "PS256" => rsa(&signature::RSA_PSS_SHA256),
        "PS384" => rsa(&signature::RSA_PSS_SHA384),
        "PS512" => rsa(&signature::RSA_PSS_SHA512),
        "ES256" => ec(&signature::ECDSA_P256_SHA256_FIXED_SIGNING),
        "ES384" => ec(&signature::ECDSA_P384_SHA384_FIXED_SIGNING),
        "EdDSA" => {
            let d = jwk.field("d").and_then(Value::as_str).ok_or("required field d is missing")?;
            let seed = b64url_decode(d)?;
            let Key::Ed25519(public) = &entry.key else { return Err("invalid key type for EdDSA".into()) };
            let kp = signature::Ed25519KeyPair::from_seed_and_public_key(&seed, public).map_err(|e| e.to_string())?;
            Ok(kp.sign(msg).as_ref().to_vec())
        }
        other => Err(format!("unsupported signature algorithm {}", other)),
    }
}
