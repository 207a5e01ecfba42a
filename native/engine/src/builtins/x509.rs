//! crypto.x509 builtins over a minimal DER reader, mapping certificates to
//! the JSON of Go's `x509.Certificate` for the commonly used fields.
//!
//! Partial: `PublicKey` is filled for RSA keys only; `Extensions`,
//! `Policies`, `CRLDistributionPoints`, `OCSPServer` and `URIs` (Go's
//! url.URL objects) are not mapped; certificate chains are not verified.

use super::{arg_str, BuiltinError, BuiltinResult, Ctx, Registry};
use crate::number::Number;
use crate::value::{Map, Value};

pub fn register(r: &mut Registry) {
    r.func("crypto", "crypto.x509.parse_certificates", "(string) => array[object[string: any]]", parse_certificates);
    r.func("crypto", "crypto.x509.parse_certificate_request", "(string) => object[string: any]", parse_certificate_request);
    r.func("crypto", "crypto.x509.parse_rsa_private_key", "(string) => object[string: any]", parse_rsa_private_key);
    r.func("crypto", "crypto.x509.parse_keypair", "(string, string) => object[string: any]", parse_keypair);
}

fn eval(msg: impl Into<String>) -> BuiltinError {
    BuiltinError::Eval(msg.into())
}

// ---- DER ----

fn tlv(input: &[u8]) -> Option<(u8, &[u8], &[u8], &[u8])> {
    let (&tag, rest) = input.split_first()?;
    let (&first, rest) = rest.split_first()?;
    let (len, rest) = if first < 0x80 {
        (usize::from(first), rest)
    } else {
        let n = usize::from(first & 0x7f);
        if n == 0 || n > 4 || rest.len() < n {
            return None;
        }
        (rest[..n].iter().fold(0usize, |acc, b| (acc << 8) | usize::from(*b)), &rest[n..])
    };
    if rest.len() < len {
        return None;
    }
    let whole_len = input.len() - rest.len() + len;
    Some((tag, &rest[..len], &rest[len..], &input[..whole_len]))
}

/// (tag, contents, whole encoding) of each child.
fn children(mut input: &[u8]) -> Option<Vec<(u8, &[u8], &[u8])>> {
    let mut out = Vec::new();
    while !input.is_empty() {
        let (tag, content, rest, whole) = tlv(input)?;
        out.push((tag, content, whole));
        input = rest;
    }
    Some(out)
}

fn oid_arcs(b: &[u8]) -> Vec<u64> {
    let mut arcs = Vec::new();
    let mut acc: u64 = 0;
    for &x in b {
        acc = (acc << 7) | u64::from(x & 0x7f);
        if x & 0x80 == 0 {
            if arcs.is_empty() {
                let first = (acc / 40).min(2);
                arcs.push(first);
                arcs.push(acc - first * 40);
            } else {
                arcs.push(acc);
            }
            acc = 0;
        }
    }
    arcs
}

fn b64(b: &[u8]) -> Value {
    Value::string(base64::encode(b))
}

fn big_uint(b: &[u8]) -> Value {
    Value::Number(Number::from_bigint(num_bigint::BigInt::from_bytes_be(num_bigint::Sign::Plus, b)))
}

fn big_signed(b: &[u8]) -> Value {
    Value::Number(Number::from_bigint(num_bigint::BigInt::from_signed_bytes_be(b)))
}

fn obj(pairs: Vec<(&str, Value)>) -> Value {
    Value::from_map(pairs.into_iter().map(|(k, v)| (Value::string(k), v)).collect())
}

fn strings_or_null(v: Vec<String>) -> Value {
    if v.is_empty() {
        Value::Null
    } else {
        Value::from_array(v.into_iter().map(Value::string).collect())
    }
}

/// Go's `pkix.Name` as JSON.
fn name(content: &[u8]) -> Option<Value> {
    let fields = ["Country", "Organization", "OrganizationalUnit", "Locality", "Province", "StreetAddress", "PostalCode"];
    let mut lists: Vec<Vec<String>> = vec![Vec::new(); fields.len()];
    let (mut cn, mut serial) = (String::new(), String::new());
    let mut names = Vec::new();
    for (_, set, _) in children(content)? {
        for (_, atv, _) in children(set)? {
            let parts = children(atv)?;
            let oid = oid_arcs(parts.first()?.1);
            let value = String::from_utf8_lossy(parts.get(1)?.1).to_string();
            names.push(obj(vec![
                ("Type", Value::from_array(oid.iter().map(|a| Value::int(*a as i64)).collect())),
                ("Value", Value::string(value.as_str())),
            ]));
            if oid.len() == 4 && oid[..3] == [2, 5, 4] {
                match oid[3] {
                    3 => cn = value,
                    5 => serial = value,
                    6 => lists[0].push(value),
                    10 => lists[1].push(value),
                    11 => lists[2].push(value),
                    7 => lists[3].push(value),
                    8 => lists[4].push(value),
                    9 => lists[5].push(value),
                    17 => lists[6].push(value),
                    _ => {}
                }
            }
        }
    }
    let mut m = Map::new();
    for (f, l) in fields.iter().zip(lists) {
        m.insert(Value::string(*f), strings_or_null(l));
    }
    m.insert(Value::string("CommonName"), Value::string(cn));
    m.insert(Value::string("SerialNumber"), Value::string(serial));
    m.insert(Value::string("Names"), if names.is_empty() { Value::Null } else { Value::from_array(names) });
    m.insert(Value::string("ExtraNames"), Value::Null);
    Some(Value::from_map(m))
}

/// UTCTime or GeneralizedTime as Go's RFC 3339 JSON.
fn der_time(tag: u8, b: &[u8]) -> Option<Value> {
    let s = std::str::from_utf8(b).ok()?;
    let s = s.strip_suffix('Z')?;
    let (year, rest) = match tag {
        0x17 => {
            let y: i64 = s.get(..2)?.parse().ok()?;
            (if y >= 50 { 1900 + y } else { 2000 + y }, s.get(2..)?)
        }
        0x18 => (s.get(..4)?.parse().ok()?, s.get(4..)?),
        _ => return None,
    };
    if rest.len() < 10 || !rest.bytes().all(|c| c.is_ascii_digit()) {
        return None;
    }
    Some(Value::string(format!(
        "{:04}-{}-{}T{}:{}:{}Z",
        year,
        &rest[0..2],
        &rest[2..4],
        &rest[4..6],
        &rest[6..8],
        &rest[8..10]
    )))
}

/// Go's SignatureAlgorithm number for an AlgorithmIdentifier OID.
fn sig_alg(oid: &[u64]) -> i64 {
    match oid {
        [1, 2, 840, 113549, 1, 1, 4] => 2,
        [1, 2, 840, 113549, 1, 1, 5] => 3,
        [1, 2, 840, 113549, 1, 1, 11] => 4,
        [1, 2, 840, 113549, 1, 1, 12] => 5,
        [1, 2, 840, 113549, 1, 1, 13] => 6,
        [1, 2, 840, 10045, 4, 1] => 9,
        [1, 2, 840, 10045, 4, 3, 2] => 10,
        [1, 2, 840, 10045, 4, 3, 3] => 11,
        [1, 2, 840, 10045, 4, 3, 4] => 12,
        [1, 2, 840, 113549, 1, 1, 10] => 13,
        [1, 3, 101, 112] => 16,
        _ => 0,
    }
}

/// PublicKeyAlgorithm number and the PublicKey JSON (RSA only).
fn public_key(spki: &[u8]) -> (i64, Value) {
    let parse = || -> Option<(i64, Value)> {
        let items = children(spki)?;
        let alg = children(items.first()?.1)?;
        let oid = oid_arcs(alg.first()?.1);
        let bits = items.get(1)?.1.get(1..)?;
        match oid.as_slice() {
            [1, 2, 840, 113549, 1, 1, 1] => {
                let (_, seq, _, _) = tlv(bits)?;
                let ne = children(seq)?;
                Some((1, obj(vec![("N", big_uint(ne.first()?.1)), ("E", big_uint(ne.get(1)?.1))])))
            }
            [1, 2, 840, 10045, 2, 1] => {
                let coords = bits.get(1..)?;
                let (x, y) = coords.split_at(coords.len() / 2);
                Some((3, obj(vec![("X", big_uint(x)), ("Y", big_uint(y))])))
            }
            [1, 3, 101, 112] => Some((4, b64(bits))),
            _ => Some((0, Value::Null)),
        }
    };
    parse().unwrap_or((0, Value::Null))
}

struct Sans {
    dns: Vec<String>,
    emails: Vec<String>,
    ips: Vec<String>,
    uris: Vec<String>,
}

fn general_names(b: &[u8], sans: &mut Sans) -> Option<()> {
    let (_, seq, _, _) = tlv(b)?;
    for (tag, content, _) in children(seq)? {
        let text = || String::from_utf8_lossy(content).to_string();
        match tag {
            0x81 => sans.emails.push(text()),
            0x82 => sans.dns.push(text()),
            0x86 => sans.uris.push(text()),
            0x87 => {
                let ip = match content.len() {
                    4 => <[u8; 4]>::try_from(content).ok().map(|a| std::net::Ipv4Addr::from(a).to_string()),
                    16 => <[u8; 16]>::try_from(content).ok().map(|a| std::net::Ipv6Addr::from(a).to_string()),
                    _ => None,
                };
                sans.ips.extend(ip);
            }
            _ => {}
        }
    }
    Some(())
}

/// One DER certificate as Go's `x509.Certificate` JSON.
fn certificate(der: &[u8]) -> Option<Value> {
    let (tag, cert, _, raw) = tlv(der)?;
    if tag != 0x30 {
        return None;
    }
    let top = children(cert)?;
    let (_, tbs, raw_tbs) = *top.first()?;
    let sig_alg_oid = oid_arcs(children(top.get(1)?.1)?.first()?.1);
    let signature = top.get(2)?.1.get(1..)?;
    let items = children(tbs)?;
    let mut i = 0;
    let mut version = 1;
    if items.first()?.0 == 0xa0 {
        let (_, v, _, _) = tlv(items[0].1)?;
        version = v.last().map(|x| i64::from(*x) + 1)?;
        i = 1;
    }
    let serial = items.get(i)?;
    let issuer = items.get(i + 2)?;
    let validity = children(items.get(i + 3)?.1)?;
    let subject = items.get(i + 4)?;
    let spki = items.get(i + 5)?;
    let (pk_alg, pk) = public_key(spki.1);
    let mut sans = Sans { dns: Vec::new(), emails: Vec::new(), ips: Vec::new(), uris: Vec::new() };
    let (mut is_ca, mut bc_valid, mut max_path, mut ski, mut aki) = (false, false, -1i64, Value::Null, Value::Null);
    if let Some((_, exts, _)) = items.iter().find(|(t, _, _)| *t == 0xa3) {
        let (_, seq, _, _) = tlv(exts)?;
        for (_, ext, _) in children(seq)? {
            let parts = children(ext)?;
            let oid = oid_arcs(parts.first()?.1);
            let value = parts.last()?.1;
            match oid.as_slice() {
                [2, 5, 29, 17] => general_names(value, &mut sans)?,
                [2, 5, 29, 19] => {
                    bc_valid = true;
                    let (_, bc, _, _) = tlv(value)?;
                    for (t, c, _) in children(bc)? {
                        match t {
                            0x01 => is_ca = c.first().is_some_and(|b| *b != 0),
                            0x02 => max_path = c.iter().fold(0i64, |a, b| (a << 8) | i64::from(*b)),
                            _ => {}
                        }
                    }
                    if max_path < 0 {
                        max_path = -1;
                    }
                }
                [2, 5, 29, 14] => ski = tlv(value).map(|(_, k, _, _)| b64(k)).unwrap_or(Value::Null),
                [2, 5, 29, 35] => {
                    let (_, seq, _, _) = tlv(value)?;
                    if let Some((_, k, _)) = children(seq)?.into_iter().find(|(t, _, _)| *t == 0x80) {
                        aki = b64(k);
                    }
                }
                _ => {}
            }
        }
    }
    Some(obj(vec![
        ("Raw", b64(raw)),
        ("RawTBSCertificate", b64(raw_tbs)),
        ("RawSubjectPublicKeyInfo", b64(spki.2)),
        ("RawSubject", b64(subject.2)),
        ("RawIssuer", b64(issuer.2)),
        ("Signature", b64(signature)),
        ("SignatureAlgorithm", Value::int(sig_alg(&sig_alg_oid))),
        ("PublicKeyAlgorithm", Value::int(pk_alg)),
        ("PublicKey", pk),
        ("Version", Value::int(version)),
        ("SerialNumber", big_signed(serial.1)),
        ("Issuer", name(issuer.1)?),
        ("Subject", name(subject.1)?),
        ("NotBefore", der_time(validity.first()?.0, validity.first()?.1)?),
        ("NotAfter", der_time(validity.get(1)?.0, validity.get(1)?.1)?),
        ("BasicConstraintsValid", Value::Bool(bc_valid)),
        ("IsCA", Value::Bool(is_ca)),
        ("MaxPathLen", Value::int(if bc_valid { max_path } else { 0 })),
        ("MaxPathLenZero", Value::Bool(bc_valid && max_path == 0)),
        ("SubjectKeyId", ski),
        ("AuthorityKeyId", aki),
        ("DNSNames", strings_or_null(sans.dns)),
        ("EmailAddresses", strings_or_null(sans.emails)),
        ("IPAddresses", strings_or_null(sans.ips)),
        ("URIStrings", strings_or_null(sans.uris)),
    ]))
}

// ---- inputs: PEM, base64 of PEM, or base64 of DER ----

/// Go's `base64.StdEncoding.DecodeString` with its error message.
fn std_b64(s: &str) -> Result<Vec<u8>, BuiltinError> {
    base64::decode_config(s, base64::STANDARD).map_err(|e| {
        let at = match e {
            base64::DecodeError::InvalidByte(i, _) | base64::DecodeError::InvalidLastSymbol(i, _) => i,
            base64::DecodeError::InvalidLength => s.len() - s.len() % 4,
        };
        eval(format!("illegal base64 data at input byte {}", at))
    })
}

/// PEM blocks of the given type, in order.
fn pem_blocks(text: &[u8], tag: &str) -> Result<Vec<Vec<u8>>, BuiltinError> {
    let blocks = pem::parse_many(text).map_err(|e| eval(format!("failed to parse PEM: {}", e)))?;
    Ok(blocks.into_iter().filter(|p| p.tag == tag).map(|p| p.contents).collect())
}

/// DER certificates from PEM, base64 PEM or base64 DER (OPA's `getX509CertsFromString`).
fn cert_ders(input: &str) -> Result<Vec<Vec<u8>>, BuiltinError> {
    if input.starts_with("-----BEGIN") {
        return pem_blocks(input.as_bytes(), "CERTIFICATE");
    }
    let raw = std_b64(input)?;
    if raw.starts_with(b"-----BEGIN") {
        return pem_blocks(&raw, "CERTIFICATE");
    }
    let mut out = Vec::new();
    let mut rest = raw.as_slice();
    while !rest.is_empty() {
        let (_, _, next, whole) = tlv(rest).ok_or_else(|| eval("x509: malformed certificate"))?;
        out.push(whole.to_vec());
        rest = next;
    }
    Ok(out)
}

fn parse_certificates(_: &mut Ctx, args: &[Value]) -> BuiltinResult {
    let ders = cert_ders(arg_str(args, 0)?)?;
    let certs = ders.iter().map(|d| certificate(d).ok_or_else(|| eval("x509: malformed certificate")));
    Ok(Value::from_array(certs.collect::<Result<_, _>>()?))
}

fn parse_certificate_request(_: &mut Ctx, args: &[Value]) -> BuiltinResult {
    let input = arg_str(args, 0)?;
    let raw = if input.starts_with("-----BEGIN") { input.as_bytes().to_vec() } else { std_b64(input)? };
    let der = if raw.starts_with(b"-----BEGIN") {
        let blocks = pem_blocks(&raw, "CERTIFICATE REQUEST")?;
        blocks.into_iter().next().ok_or_else(|| eval("invalid PEM-encoded certificate signing request"))?
    } else {
        raw
    };
    let malformed = || eval("x509: malformed certificate request");
    let (_, csr, _, whole) = tlv(&der).ok_or_else(malformed)?;
    let top = children(csr).ok_or_else(malformed)?;
    let (_, info, raw_info) = *top.first().ok_or_else(malformed)?;
    let sig_oid = top.get(1).and_then(|a| children(a.1)).and_then(|c| c.first().map(|o| oid_arcs(o.1)));
    let items = children(info).ok_or_else(malformed)?;
    let version = items.first().and_then(|v| v.1.last()).map(|v| i64::from(*v)).ok_or_else(malformed)?;
    let subject = items.get(1).ok_or_else(malformed)?;
    let spki = items.get(2).ok_or_else(malformed)?;
    let (pk_alg, pk) = public_key(spki.1);
    Ok(obj(vec![
        ("Raw", b64(whole)),
        ("RawTBSCertificateRequest", b64(raw_info)),
        ("RawSubjectPublicKeyInfo", b64(spki.2)),
        ("RawSubject", b64(subject.2)),
        ("Version", Value::int(version)),
        ("Signature", top.get(2).and_then(|s| s.1.get(1..)).map(b64).unwrap_or(Value::Null)),
        ("SignatureAlgorithm", Value::int(sig_oid.map(|o| sig_alg(&o)).unwrap_or(0))),
        ("PublicKeyAlgorithm", Value::int(pk_alg)),
        ("PublicKey", pk),
        ("Subject", name(subject.1).ok_or_else(malformed)?),
    ]))
}

/// The PKCS#1 RSAPrivateKey inside a PEM block (PKCS#1 or PKCS#8).
fn rsa_private_der(pem_text: &[u8]) -> Result<Vec<u8>, BuiltinError> {
    let p = pem::parse(pem_text).map_err(|_| eval("failed to parse PEM block containing the key"))?;
    match p.tag.as_str() {
        "RSA PRIVATE KEY" => Ok(p.contents),
        "PRIVATE KEY" => {
            let bad = || eval("x509: failed to parse private key");
            let (_, seq, _, _) = tlv(&p.contents).ok_or_else(bad)?;
            let items = children(seq).ok_or_else(bad)?;
            Ok(items.get(2).filter(|i| i.0 == 0x04).ok_or_else(bad)?.1.to_vec())
        }
        _ => Err(eval("failed to parse PEM block containing the key")),
    }
}

/// An RSA private key as a JWK, as OPA returns it.
fn rsa_jwk(pkcs1: &[u8]) -> Result<Value, BuiltinError> {
    let bad = || eval("x509: failed to parse RSA private key");
    let (_, seq, _, _) = tlv(pkcs1).ok_or_else(bad)?;
    let items = children(seq).ok_or_else(bad)?;
    let names = ["n", "e", "d", "p", "q", "dp", "dq", "qi"];
    let mut pairs = vec![("kty", Value::string("RSA"))];
    for (k, item) in names.iter().zip(items.iter().skip(1)) {
        let i = item.1.iter().take_while(|b| **b == 0).count();
        pairs.push((k, Value::string(base64::encode_config(&item.1[i..], base64::URL_SAFE_NO_PAD))));
    }
    if pairs.len() != names.len() + 1 {
        return Err(bad());
    }
    Ok(obj(pairs))
}

fn key_text(input: &str) -> Result<Vec<u8>, BuiltinError> {
    if input.starts_with("-----BEGIN") {
        Ok(input.as_bytes().to_vec())
    } else {
        std_b64(input)
    }
}

fn parse_rsa_private_key(_: &mut Ctx, args: &[Value]) -> BuiltinResult {
    let text = key_text(arg_str(args, 0)?)?;
    rsa_jwk(&rsa_private_der(&text)?)
}

/// Go's `tls.Certificate` JSON: the chain as base64 DER and the leaf parsed.
/// The private key is checked to be PEM but not matched against the certificate.
fn parse_keypair(_: &mut Ctx, args: &[Value]) -> BuiltinResult {
    let certs = key_text(arg_str(args, 0)?)?;
    let key = key_text(arg_str(args, 1)?)?;
    let ders = pem_blocks(&certs, "CERTIFICATE")?;
    if ders.is_empty() {
        return Err(eval("tls: failed to find any PEM data in certificate input"));
    }
    let keys = pem::parse_many(&key).map_err(|e| eval(format!("failed to parse PEM: {}", e)))?;
    let key = keys.iter().find(|p| p.tag.ends_with("PRIVATE KEY"));
    let key = key.ok_or_else(|| eval("tls: failed to find any PEM data in key input"))?;
    let leaf = certificate(&ders[0]).ok_or_else(|| eval("x509: malformed certificate"))?;
    let private = if key.tag == "EC PRIVATE KEY" { Value::empty_object() } else {
        rsa_private_der(pem::encode(key).as_bytes()).and_then(|d| rsa_jwk(&d)).unwrap_or_else(|_| Value::empty_object())
    };
    Ok(obj(vec![
        ("Certificate", Value::from_array(ders.iter().map(|d| b64(d)).collect())),
        ("PrivateKey", private),
        ("Leaf", leaf),
    ]))
}
