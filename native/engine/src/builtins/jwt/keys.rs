//! Keys for the JWT builtins: PEM certificates and public keys (via a
//! minimal DER reader), JWKs and JWK sets, and JWK private keys for signing.

use crate::value::Value;

/// A verification or signing key.
#[derive(Clone, Debug)]
pub enum Key {
    /// RSA modulus and exponent (big-endian, no leading zeros).
    Rsa { n: Vec<u8>, e: Vec<u8> },
    /// Uncompressed EC point (0x04 || x || y) on a named curve.
    Ec { curve: Curve, point: Vec<u8> },
    Ed25519(Vec<u8>),
    /// A symmetric key (JWK `oct`).
    Oct(Vec<u8>),
}

#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Curve {
    P256,
    P384,
    P521,
}

/// A key with the JWK metadata used to choose among several.
#[derive(Clone, Debug)]
pub struct KeyEntry {
    pub key: Key,
    pub kid: Option<String>,
}

// ---- a minimal DER reader ----

/// One TLV: (tag, contents, rest).
pub fn tlv(input: &[u8]) -> Option<(u8, &[u8], &[u8])> {
    let (&tag, rest) = input.split_first()?;
    let (&first, rest) = rest.split_first()?;
    let (len, rest) = if first < 0x80 {
        (usize::from(first), rest)
    } else {
        let n = usize::from(first & 0x7f);
        if n == 0 || n > 4 || rest.len() < n {
            return None;
        }
        let len = rest[..n].iter().fold(0usize, |acc, b| (acc << 8) | usize::from(*b));
        (len, &rest[n..])
    };
    if rest.len() < len {
        return None;
    }
    Some((tag, &rest[..len], &rest[len..]))
}

/// The children of a constructed value.
pub fn children(mut input: &[u8]) -> Option<Vec<(u8, &[u8])>> {
    let mut out = Vec::new();
    while !input.is_empty() {
        let (tag, content, rest) = tlv(input)?;
        out.push((tag, content));
        input = rest;
    }
    Some(out)
}

fn strip_zeros(b: &[u8]) -> Vec<u8> {
    let i = b.iter().take_while(|x| **x == 0).count();
    b[i..].to_vec()
}

const OID_RSA: &[u8] = &[0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x01, 0x01];
const OID_EC: &[u8] = &[0x2a, 0x86, 0x48, 0xce, 0x3d, 0x02, 0x01];
const OID_ED25519: &[u8] = &[0x2b, 0x65, 0x70];
const OID_P256: &[u8] = &[0x2a, 0x86, 0x48, 0xce, 0x3d, 0x03, 0x01, 0x07];
const OID_P384: &[u8] = &[0x2b, 0x81, 0x04, 0x00, 0x22];
const OID_P521: &[u8] = &[0x2b, 0x81, 0x04, 0x00, 0x23];

/// A SubjectPublicKeyInfo (the contents of its SEQUENCE).
pub fn parse_spki(content: &[u8]) -> Option<Key> {
    let items = children(content)?;
    let (alg, bits) = (items.first()?, items.get(1)?);
    if alg.0 != 0x30 || bits.0 != 0x03 {
        return None;
    }
    let alg = children(alg.1)?;
    let oid = alg.first().filter(|(t, _)| *t == 0x06)?.1;
    let key_bytes = bits.1.get(1..)?;
    if oid == OID_RSA {
        let (tag, seq, _) = tlv(key_bytes)?;
        let parts = children(seq).filter(|_| tag == 0x30)?;
        Some(Key::Rsa { n: strip_zeros(parts.first()?.1), e: strip_zeros(parts.get(1)?.1) })
    } else if oid == OID_EC {
        let curve = match alg.get(1)?.1 {
            c if c == OID_P256 => Curve::P256,
            c if c == OID_P384 => Curve::P384,
            c if c == OID_P521 => Curve::P521,
            _ => return None,
        };
        Some(Key::Ec { curve, point: key_bytes.to_vec() })
    } else if oid == OID_ED25519 {
        Some(Key::Ed25519(key_bytes.to_vec()))
    } else {
        None
    }
}

/// The public key of a DER certificate.
pub fn cert_public_key(der: &[u8]) -> Option<Key> {
    let (_, cert, _) = tlv(der)?;
    let (_, tbs, _) = tlv(cert)?;
    let items = children(tbs)?;
    let skip = usize::from(items.first()?.0 == 0xa0);
    let spki = items.get(skip + 5)?;
    parse_spki(spki.1)
}

/// What follows the first PEM block's `-----END ...-----` line (Go's `pem.Decode` rest).
fn after_first_pem_block(s: &str) -> &str {
    let Some(end) = s.find("-----END ") else { return "" };
    let tail = &s[end + "-----END ".len()..];
    match tail.find('\n') {
        Some(nl) => &tail[nl + 1..],
        None => "",
    }
}

/// OPA's `getKeysFromCertOrJWK`: a PEM certificate, a PEM public key, a JWK or a JWK set.
pub fn keys_from_cert_or_jwk(s: &str) -> Result<Vec<KeyEntry>, String> {
    if s.trim_start().starts_with("-----BEGIN") {
        let blocks = pem::parse_many(s).map_err(|e| format!("failed to parse a PEM certificate: {}", e))?;
        if blocks.len() > 1 || !after_first_pem_block(s).is_empty() {
            return Err("extra data after a PEM certificate block".into());
        }
        let p = blocks.into_iter().next().ok_or("failed to parse a PEM certificate")?;
        let key = match p.tag() {
            "CERTIFICATE" => cert_public_key(p.contents()).ok_or("failed to parse a PEM certificate: x509: malformed certificate")?,
            "PUBLIC KEY" => {
                let spki = tlv(p.contents()).map(|t| t.1);
                spki.and_then(parse_spki).ok_or("failed to parse a PEM public key: asn1: structure error")?
            }
            _ => return Err("failed to extract a Key from the PEM certificate".into()),
        };
        return Ok(vec![KeyEntry { key, kid: None }]);
    }
    if s.contains("-----BEGIN") || s.trim().is_empty() {
        return Err("failed to parse a PEM certificate".into());
    }
    let v = Value::from_json_str(s).map_err(|e| format!("failed to parse a JWK key (set): {}", e))?;
    parse_jwks(&v).map_err(|e| format!("failed to parse a JWK key (set): {}", e))
}

/// A JWK or a JWK set (`{"keys": [...]}`).
pub fn parse_jwks(v: &Value) -> Result<Vec<KeyEntry>, String> {
    if let Some(keys) = v.field("keys") {
        let keys = keys.as_array().ok_or("keys must be an array")?;
        return keys.iter().map(parse_jwk).collect();
    }
    Ok(vec![parse_jwk(v)?])
}

fn b64_field(v: &Value, name: &str) -> Result<Vec<u8>, String> {
    let s = v.field(name).and_then(Value::as_str).ok_or_else(|| format!("required field {} is missing", name))?;
    super::b64url_decode(s).map_err(|e| format!("failed to decode {}: {}", name, e))
}

/// One public (or symmetric) JWK.
pub fn parse_jwk(v: &Value) -> Result<KeyEntry, String> {
    if v.as_object().is_none() {
        return Err("invalid JWK".into());
    }
    let kty = v.field("kty").and_then(Value::as_str).ok_or("invalid key type from JSON ()")?;
    let key = match kty {
        "RSA" => Key::Rsa { n: strip_zeros(&b64_field(v, "n")?), e: strip_zeros(&b64_field(v, "e")?) },
        "EC" => {
            let crv = v.field("crv").and_then(Value::as_str).unwrap_or("");
            let curve = match crv {
                "P-256" => Curve::P256,
                "P-384" => Curve::P384,
                "P-521" => Curve::P521,
                _ => return Err(format!("invalid curve name {}", crv)),
            };
            let size = match curve {
                Curve::P256 => 32,
                Curve::P384 => 48,
                Curve::P521 => 66,
            };
            let mut point = vec![4u8];
            for f in ["x", "y"] {
                let c = b64_field(v, f)?;
                if c.len() > size {
                    return Err(format!("invalid {} coordinate", f));
                }
                point.extend(std::iter::repeat_n(0, size - c.len()));
                point.extend(c);
            }
            Key::Ec { curve, point }
        }
        "OKP" => Key::Ed25519(b64_field(v, "x")?),
        "oct" => Key::Oct(b64_field(v, "k")?),
        other => return Err(format!("invalid key type from JSON ({})", other)),
    };
    let kid = v.field("kid").and_then(Value::as_str).map(str::to_string);
    Ok(KeyEntry { key, kid })
}

// ---- private JWKs for signing ----

/// A private RSA JWK (`n`, `e`, `d`, `p`, `q`; the CRT values are recomputed).
pub fn rsa_private_key(v: &Value) -> Result<rsa::PrivateKey, String> {
    let uint = |name: &str| -> Result<rsa::BoxedUint, String> {
        let b = strip_zeros(&b64_field(v, name)?);
        let bits = u32::try_from(b.len().max(1) * 8).map_err(|_| format!("invalid {}", name))?;
        rsa::BoxedUint::from_be_slice(&b, bits).map_err(|_| format!("invalid {}", name))
    };
    let (n, e, d) = (uint("n")?, uint("e")?, uint("d")?);
    let primes = vec![uint("p")?, uint("q")?];
    rsa::PrivateKey::from_components(n, e, d, primes).map_err(|e| format!("failed to load RSA key: {}", e))
}

/// A private EC JWK's scalar `d`, left-padded to the curve's size.
pub fn ec_private_scalar(v: &Value, curve: Curve) -> Result<Vec<u8>, String> {
    let size = match curve {
        Curve::P256 => 32,
        Curve::P384 => 48,
        Curve::P521 => 66,
    };
    let d = b64_field(v, "d")?;
    if d.len() > size {
        return Err("invalid private key".into());
    }
    let mut padded = vec![0u8; size - d.len()];
    padded.extend(d);
    Ok(padded)
}
