//! crypto.x509 builtins over a minimal DER reader, mapping certificates to
//! the JSON of Go's `x509.Certificate` for the commonly used fields.
//!
//! Partial: `PublicKey` is filled for RSA keys only; `Extensions`,
//! `Policies`, `CRLDistributionPoints`, `OCSPServer` and `URIs` (Go's
//! url.URL objects) are not mapped. Chain verification checks a linear
//! chain (root first, leaf last) by signatures, validity periods, CA flags
//! and the `DNSName` option; key usages and name constraints are not checked.

use super::{arg_str, BuiltinError, BuiltinResult, Ctx, Registry};
use crate::number::Number;
use crate::value::{Map, Value};
use base64::engine::general_purpose::{GeneralPurpose, GeneralPurposeConfig, STANDARD, URL_SAFE_NO_PAD};
use base64::engine::DecodePaddingMode;
use base64::Engine as _;

/// Go's `base64.StdEncoding`: padding required, stray bits in the last symbol ignored.
const GO_STD_BASE64: GeneralPurpose = GeneralPurpose::new(
    &base64::alphabet::STANDARD,
    GeneralPurposeConfig::new().with_decode_allow_trailing_bits(true).with_decode_padding_mode(DecodePaddingMode::RequireCanonical),
);

pub fn register(r: &mut Registry) {
    r.func("crypto", "crypto.x509.parse_certificates", "(string) => array[object[string: any]]", parse_certificates);
    r.func("crypto", "crypto.x509.parse_certificate_request", "(string) => object[string: any]", parse_certificate_request);
    r.func("crypto", "crypto.x509.parse_rsa_private_key", "(string) => object[string: any]", parse_rsa_private_key);
    r.func("crypto", "crypto.x509.parse_keypair", "(string, string) => object[string: any]", parse_keypair);
    r.func("crypto", "crypto.parse_private_keys", "(string) => array[object[string: any]]", parse_private_keys);
    r.func(
        "crypto",
        "crypto.x509.parse_and_verify_certificates",
        "(string) => [boolean, array[object[string: any]]]",
        parse_and_verify,
    );
    r.func(
        "crypto",
        "crypto.x509.parse_and_verify_certificates_with_options",
        "(string, object[string: any]) => [boolean, array[object[string: any]]]",
        parse_and_verify_with_options,
    );
}

fn eval(msg: impl Into<String>) -> BuiltinError {
    BuiltinError::Eval(msg.into())
}

// ---- DER ----

/// (tag, contents, rest, whole encoding).
type Tlv<'a> = (u8, &'a [u8], &'a [u8], &'a [u8]);
/// (tag, contents, whole encoding).
type Child<'a> = (u8, &'a [u8], &'a [u8]);

fn tlv(input: &[u8]) -> Option<Tlv<'_>> {
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
fn children(mut input: &[u8]) -> Option<Vec<Child<'_>>> {
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
    Value::string(STANDARD.encode(b))
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
    let (mut key_usage, mut ext_key_usage) = (0i64, Vec::new());
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
                [2, 5, 29, 15] => {
                    let (_, bits, _, _) = tlv(value)?;
                    for i in 0..9usize {
                        let byte = bits.get(1 + i / 8).copied().unwrap_or(0);
                        if byte & (0x80 >> (i % 8)) != 0 {
                            key_usage |= 1 << i;
                        }
                    }
                }
                [2, 5, 29, 37] => {
                    let (_, seq, _, _) = tlv(value)?;
                    for (_, oid, _) in children(seq)? {
                        ext_key_usage.extend(ext_key_usage_number(&oid_arcs(oid)));
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
        ("KeyUsage", Value::int(key_usage)),
        (
            "ExtKeyUsage",
            if ext_key_usage.is_empty() {
                Value::Null
            } else {
                Value::from_array(ext_key_usage.into_iter().map(Value::int).collect())
            },
        ),
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

/// Go's ExtKeyUsage number for a purpose OID.
fn ext_key_usage_number(oid: &[u64]) -> Option<i64> {
    match oid {
        [2, 5, 29, 37, 0] => Some(0),
        [1, 3, 6, 1, 5, 5, 7, 3, n @ 1..=9] => Some(*n as i64),
        _ => None,
    }
}

/// OPA's names for the `KeyUsages` option, in Go's ExtKeyUsage order.
const EXT_KEY_USAGE_NAMES: [&str; 14] = [
    "KeyUsageAny",
    "KeyUsageServerAuth",
    "KeyUsageClientAuth",
    "KeyUsageCodeSigning",
    "KeyUsageEmailProtection",
    "KeyUsageIPSECEndSystem",
    "KeyUsageIPSECTunnel",
    "KeyUsageIPSECUser",
    "KeyUsageTimeStamping",
    "KeyUsageOCSPSigning",
    "KeyUsageMicrosoftServerGatedCrypto",
    "KeyUsageNetscapeServerGatedCrypto",
    "KeyUsageMicrosoftCommercialCodeSigning",
    "KeyUsageMicrosoftKernelCodeSigning",
];

// ---- inputs: PEM, base64 of PEM, or base64 of DER ----

/// Go's `base64.StdEncoding.DecodeString` with its error message.
fn std_b64(s: &str) -> Result<Vec<u8>, BuiltinError> {
    GO_STD_BASE64.decode(s).map_err(|e| {
        let at = match e {
            base64::DecodeError::InvalidByte(i, _) | base64::DecodeError::InvalidLastSymbol { offset: i, .. } => i,
            base64::DecodeError::InvalidLength(_) | base64::DecodeError::InvalidPadding => s.len() - s.len() % 4,
        };
        eval(format!("illegal base64 data at input byte {}", at))
    })
}

/// PEM blocks of the given type, in order.
fn pem_blocks(text: &[u8], tag: &str) -> Result<Vec<Vec<u8>>, BuiltinError> {
    let blocks = pem::parse_many(text).map_err(|e| eval(format!("failed to parse PEM: {}", e)))?;
    Ok(blocks.into_iter().filter(|p| p.tag() == tag).map(|p| p.into_contents()).collect())
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

/// Go's `encoding/asn1` (which parses certificate requests) on DER that does not open
/// with a SEQUENCE: its error text, e.g. `asn1: structure error: tags don't match (16 vs
/// {class:1 tag:2 length:97 isCompound:true}) {optional:false ...} certificateRequest @2`.
fn outer_sequence_error(der: &[u8], type_name: &str) -> Option<String> {
    let Some(&first) = der.first() else { return Some("asn1: syntax error: sequence truncated".into()) };
    if first == 0x30 || first & 0x1f == 0x1f {
        return None; // a SEQUENCE (or a multi-byte tag, left to the parser below)
    }
    let (length, header) = match *der.get(1)? {
        l if l < 0x80 => (usize::from(l), 2),
        l => {
            let n = usize::from(l & 0x7f);
            let bytes = der.get(2..2 + n)?;
            (bytes.iter().fold(0usize, |acc, b| acc.saturating_mul(256).saturating_add(usize::from(*b))), 2 + n)
        }
    };
    Some(format!(
        "asn1: structure error: tags don't match (16 vs {{class:{} tag:{} length:{} isCompound:{}}}) {{optional:false explicit:false application:false private:false defaultValue:<nil> tag:<nil> stringType:0 timeType:0 set:false omitEmpty:false}} {} @{}",
        first >> 6,
        first & 0x1f,
        length,
        first & 0x20 != 0,
        type_name,
        header
    ))
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
    if let Some(e) = outer_sequence_error(&der, "certificateRequest") {
        return Err(eval(e));
    }
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
    match p.tag() {
        "RSA PRIVATE KEY" => Ok(p.contents().to_vec()),
        "PRIVATE KEY" => {
            let bad = || eval("x509: failed to parse private key");
            let (_, seq, _, _) = tlv(p.contents()).ok_or_else(bad)?;
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
        pairs.push((k, Value::string(URL_SAFE_NO_PAD.encode(&item.1[i..]))));
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
    let input = arg_str(args, 0)?;
    if input.is_empty() {
        return Err(eval("input PEM data was empty"));
    }
    let text = key_text(input)?;
    // As OPA: text with no private key block in it is null, not an error.
    let has_key = pem::parse_many(&text).is_ok_and(|blocks| blocks.iter().any(|b| b.tag().ends_with("PRIVATE KEY")));
    if !has_key {
        return Ok(Value::Null);
    }
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
    let key = keys.iter().find(|p| p.tag().ends_with("PRIVATE KEY"));
    let key = key.ok_or_else(|| eval("tls: failed to find any PEM data in key input"))?;
    let leaf = certificate(&ders[0]).ok_or_else(|| eval("x509: malformed certificate"))?;
    let private = if key.tag() == "EC PRIVATE KEY" { Value::empty_object() } else {
        rsa_private_der(pem::encode(key).as_bytes()).and_then(|d| rsa_jwk(&d)).unwrap_or_else(|_| Value::empty_object())
    };
    Ok(obj(vec![
        ("Certificate", Value::from_array(ders.iter().map(|d| b64(d)).collect())),
        ("PrivateKey", private),
        ("Leaf", leaf),
    ]))
}

// ---- private keys as Go's key structs ----

/// Go's `rsa.PrivateKey` JSON from PKCS#1 DER.
fn go_rsa_key(pkcs1: &[u8]) -> Option<Value> {
    let (_, seq, _, _) = tlv(pkcs1)?;
    let it = children(seq)?;
    let n = |i: usize| it.get(i).map(|x| big_uint(x.1));
    Some(obj(vec![
        ("N", n(1)?),
        ("E", n(2)?),
        ("D", n(3)?),
        ("Primes", Value::from_array(vec![n(4)?, n(5)?])),
        (
            "Precomputed",
            obj(vec![("Dp", n(6)?), ("Dq", n(7)?), ("Qinv", n(8)?), ("CRTValues", Value::empty_array())]),
        ),
    ]))
}

/// Go's `ecdsa.PrivateKey` JSON from SEC1 ECPrivateKey DER (the curve has no exported fields).
fn go_ec_key(sec1: &[u8]) -> Option<Value> {
    let (_, seq, _, _) = tlv(sec1)?;
    let it = children(seq)?;
    let d = it.get(1).filter(|x| x.0 == 0x04)?.1;
    let (_, bits, _, _) = tlv(it.iter().find(|x| x.0 == 0xa1)?.1)?;
    let point = bits.get(2..)?;
    let (x, y) = point.split_at(point.len() / 2);
    Some(obj(vec![("Curve", Value::empty_object()), ("X", big_uint(x)), ("Y", big_uint(y)), ("D", big_uint(d))]))
}

fn go_private_key(tag: &str, der: &[u8]) -> Result<Option<Value>, BuiltinError> {
    let parsed = match tag {
        "RSA PRIVATE KEY" => go_rsa_key(der),
        "EC PRIVATE KEY" => go_ec_key(der),
        "PRIVATE KEY" => {
            let inner = || -> Option<Value> {
                let (_, seq, _, _) = tlv(der)?;
                let it = children(seq)?;
                let alg = oid_arcs(children(it.get(1)?.1)?.first()?.1);
                let key = it.get(2).filter(|x| x.0 == 0x04)?.1;
                match alg.as_slice() {
                    [1, 2, 840, 113549, 1, 1, 1] => go_rsa_key(key),
                    [1, 2, 840, 10045, 2, 1] => go_ec_key(key),
                    _ => None,
                }
            };
            inner()
        }
        _ => return Ok(None),
    };
    parsed.map(Some).ok_or_else(|| eval("x509: failed to parse private key"))
}

fn parse_private_keys(_: &mut Ctx, args: &[Value]) -> BuiltinResult {
    let input = arg_str(args, 0)?;
    if input.is_empty() {
        return Ok(Value::Null);
    }
    // As OPA: base64 when it decodes as such, else the text itself.
    let text = std_b64(input).unwrap_or_else(|_| input.as_bytes().to_vec());
    let blocks = pem::parse_many(&text).map_err(|e| eval(format!("failed to parse PEM: {}", e)))?;
    let mut keys = Vec::new();
    for b in &blocks {
        keys.extend(go_private_key(b.tag(), b.contents())?);
    }
    Ok(Value::from_array(keys))
}

// ---- chain verification ----

/// Seconds since the epoch of a `YYYY-MM-DDTHH:MM:SSZ` string.
fn rfc3339_secs(v: &Value) -> Option<i64> {
    let s = v.as_str()?;
    let num = |r: std::ops::Range<usize>| s.get(r).and_then(|x| x.parse::<i64>().ok());
    let (y, m, d) = (num(0..4)?, num(5..7)?, num(8..10)?);
    let (hh, mm, ss) = (num(11..13)?, num(14..16)?, num(17..19)?);
    let y2 = if m <= 2 { y - 1 } else { y };
    let era = y2.div_euclid(400);
    let yoe = y2 - era * 400;
    let doy = (153 * (if m > 2 { m - 3 } else { m + 9 }) + 2) / 5 + d - 1;
    let days = era * 146_097 + yoe * 365 + yoe / 4 - yoe / 100 + doy - 719_468;
    Some(days * 86_400 + hh * 3600 + mm * 60 + ss)
}

/// Whether `child` (DER) carries a valid signature by `issuer_spki` (DER SPKI contents).
fn signed_by(child: &[u8], issuer_spki: &[u8]) -> bool {
    let check = || -> Option<bool> {
        let (_, cert, _, _) = tlv(child)?;
        let top = children(cert)?;
        let tbs = top.first()?.2;
        let alg = oid_arcs(children(top.get(1)?.1)?.first()?.1);
        let signature = top.get(2)?.1.get(1..)?;
        Some(super::jwt::verify_certificate_signature(sig_alg(&alg), issuer_spki, tbs, signature))
    };
    check().unwrap_or(false)
}

fn field_bool(v: &Value, f: &str) -> bool {
    v.field(f).and_then(Value::as_bool).unwrap_or(false)
}

/// Verifies certs[last] up to certs[0]; returns the chain leaf first.
fn verify_chain(ders: &[Vec<u8>], parsed: &[Value], now_s: i64, dns: Option<&str>, usages: &[i64]) -> bool {
    if ders.len() < 2 {
        return false;
    }
    for (i, c) in parsed.iter().enumerate() {
        let (Some(nb), Some(na)) = (c.field("NotBefore").and_then(rfc3339_secs), c.field("NotAfter").and_then(rfc3339_secs)) else {
            return false;
        };
        if now_s < nb || now_s > na {
            return false;
        }
        if i + 1 < parsed.len() && !(field_bool(c, "BasicConstraintsValid") && field_bool(c, "IsCA")) {
            return false;
        }
    }
    for i in 1..ders.len() {
        let Some(spki) = tlv_spki(&ders[i - 1]) else { return false };
        if !signed_by(&ders[i], &spki) {
            return false;
        }
    }
    // Go's checkChainForKeyUsage: every certificate that restricts its
    // extended key usage must allow one of the requested usages.
    if !usages.contains(&0) {
        for c in parsed {
            let ekus: Vec<i64> = c.field("ExtKeyUsage").and_then(Value::as_array).map(|a| {
                a.iter().filter_map(|v| v.as_number().and_then(|n| n.as_i64())).collect()
            }).unwrap_or_default();
            if ekus.is_empty() || ekus.contains(&0) {
                continue;
            }
            if !usages.iter().any(|u| ekus.contains(u)) {
                return false;
            }
        }
    }
    if let Some(dns) = dns.filter(|d| !d.is_empty()) {
        let leaf = &parsed[parsed.len() - 1];
        let names = leaf.field("DNSNames").and_then(Value::as_array).map(<[Value]>::to_vec).unwrap_or_default();
        let ok = names.iter().filter_map(Value::as_str).any(|n| {
            n.eq_ignore_ascii_case(dns)
                || n.strip_prefix("*.").is_some_and(|suffix| {
                    dns.split_once('.').is_some_and(|(_, rest)| rest.eq_ignore_ascii_case(suffix))
                })
        });
        if !ok {
            return false;
        }
    }
    true
}

/// The SubjectPublicKeyInfo contents of a DER certificate.
fn tlv_spki(der: &[u8]) -> Option<Vec<u8>> {
    let (_, cert, _, _) = tlv(der)?;
    let (_, tbs, _, _) = tlv(cert)?;
    let items = children(tbs)?;
    let skip = usize::from(items.first()?.0 == 0xa0);
    Some(items.get(skip + 5)?.1.to_vec())
}

fn verify_result(input: &str, now_ns: i64, dns: Option<&str>, usages: &[i64]) -> Value {
    let invalid = || Value::from_array(vec![Value::Bool(false), Value::empty_array()]);
    let Ok(ders) = cert_ders(input) else { return invalid() };
    let Some(parsed) = ders.iter().map(|d| certificate(d)).collect::<Option<Vec<_>>>() else { return invalid() };
    if !verify_chain(&ders, &parsed, now_ns.div_euclid(1_000_000_000), dns, usages) {
        return invalid();
    }
    let chain: Vec<Value> = parsed.into_iter().rev().collect();
    Value::from_array(vec![Value::Bool(true), Value::from_array(chain)])
}

fn parse_and_verify(ctx: &mut Ctx, args: &[Value]) -> BuiltinResult {
    // Go's default: the chain must be valid for server authentication.
    Ok(verify_result(arg_str(args, 0)?, ctx.now_ns(), None, &[1]))
}

fn parse_and_verify_with_options(ctx: &mut Ctx, args: &[Value]) -> BuiltinResult {
    let input = arg_str(args, 0)?;
    let opts = super::arg_object(args, 1)?;
    let mut now = ctx.now_ns();
    let mut dns = None;
    let mut usages = vec![1];
    for (k, v) in opts.iter() {
        match (k.as_str(), v) {
            (Some("CurrentTime"), Value::Number(n)) => now = n.as_i64().unwrap_or(now),
            (Some("DNSName"), Value::String(s)) => dns = Some(s.to_string()),
            (Some("KeyUsages"), Value::Array(a)) => {
                usages = a
                    .iter()
                    .map(|u| {
                        let name = u.as_str().unwrap_or("");
                        EXT_KEY_USAGE_NAMES
                            .iter()
                            .position(|n| *n == name)
                            .map(|i| i as i64)
                            .ok_or_else(|| eval(format!("invalid entries for KeyUsages: {}", u)))
                    })
                    .collect::<Result<_, _>>()?;
            }
            (Some("MaxConstraintComparisions"), _) => {}
            (Some(other), _) => return Err(eval(format!("invalid option key {}", other))),
            (None, _) => return Err(eval("invalid option key")),
        }
    }
    Ok(verify_result(input, now, dns.as_deref(), &usages))
}

#[cfg(test)]
mod tests {
    use super::*;

    // Test-only PKI generated with openssl for these tests (valid until 2126).
    const CA: &str = "-----BEGIN CERTIFICATE-----\nMIIBszCCAVmgAwIBAgIUV4OiwYNwrApi2jEENk6doRHBrC4wCgYIKoZIzj0EAwIw\nLjELMAkGA1UEBhMCVVMxDTALBgNVBAoMBFNhcmsxEDAOBgNVBAMMB3NhcmstY2Ew\nIBcNMjYxMTI4MjExOTAyWhgPMjEyNjExMDQyMTE5MDJaMC4xCzAJBgNVBAYTAlVT\nMQ0wCwYDVQQKDARTYXJrMRAwDgYDVQQDDAdzYXJrLWNhMFkwEwYHKoZIzj0CAQYI\nKoZIzj0DAQcDQgAEBvO5F8icVYVut0LZodwhLeOkjxBdktBWL6V+VG8hmtpaqtOB\nbqQ+SS5uMfwNgK2dzsxLW3LK5csnCoh5HeCV+qNTMFEwHQYDVR0OBBYEFEwrCjc/\nQxaNsVK5T7Q0wirk60ywMB8GA1UdIwQYMBaAFEwrCjc/QxaNsVK5T7Q0wirk60yw\nMA8GA1UdEwEB/wQFMAMBAf8wCgYIKoZIzj0EAwIDSAAwRQIgYptNikV0raocIOI9\nzBhBHoLS8wsRKqBgSDlLRYLM+hkCIQCnc+Tp62bJL0zCMIiPB/9Uuc8UNUb9wRJx\nqP1mFDRAWQ==\n-----END CERTIFICATE-----";
    const LEAF: &str = "-----BEGIN CERTIFICATE-----\nMIIB0jCCAXigAwIBAgIUT1qWM7qLVLpyOvBarphv++lt93swCgYIKoZIzj0EAwIw\nLjELMAkGA1UEBhMCVVMxDTALBgNVBAoMBFNhcmsxEDAOBgNVBAMMB3NhcmstY2Ew\nIBcNMjYxMTI4MjExOTAyWhgPMjEyNjExMDQyMTE5MDJaMBcxFTATBgNVBAMMDGxl\nYWYuZXhhbXBsZTBZMBMGByqGSM49AgEGCCqGSM49AwEHA0IABDkKKWtBF5LHorxU\nVXcJqpek2j9JlJyiTc9eV2Xwh8zHmVZeM9c4tiukBS3Cn5JEBhAbcUKIc5X6kE1w\nTYIRoo6jgYgwgYUwOAYDVR0RBDEwL4IMbGVhZi5leGFtcGxlhwQKAAABhhlzcGlm\nZmU6Ly9leGFtcGxlLmNvbS9sZWFmMAkGA1UdEwQCMAAwHQYDVR0OBBYEFFA/NJT5\nQTC0e2vb21OX2lTh/UUwMB8GA1UdIwQYMBaAFEwrCjc/QxaNsVK5T7Q0wirk60yw\nMAoGCCqGSM49BAMCA0gAMEUCIF7gc787RGCiJzJnls15Bi/HxKh6NL42LVCtghZV\nMhEOAiEAoYhS87bbsIGwKCi3/pcD1mN9vJo29ITJSyThQOMBEWE=\n-----END CERTIFICATE-----";
    const CSR: &str = "-----BEGIN CERTIFICATE REQUEST-----\nMIHRMHkCAQAwFzEVMBMGA1UEAwwMbGVhZi5leGFtcGxlMFkwEwYHKoZIzj0CAQYI\nKoZIzj0DAQcDQgAEOQopa0EXkseivFRVdwmql6TaP0mUnKJNz15XZfCHzMeZVl4z\n1zi2K6QFLcKfkkQGEBtxQohzlfqQTXBNghGijqAAMAoGCCqGSM49BAMCA0gAMEUC\nICkMcSOdV8/cQe2Wej4SJXGHvw3LbqvL2oEMf/muyKTIAiEAvyUmSQTXKw9IMXA/\nOpALoZ81dTSzKoKatbKrcnjXJn4=\n-----END CERTIFICATE REQUEST-----";
    /// A leaf for client authentication only (extendedKeyUsage=clientAuth).
    const CLIENT: &str = "-----BEGIN CERTIFICATE-----\nMIIBrDCCAVOgAwIBAgIUT1qWM7qLVLpyOvBarphv++lt93wwCgYIKoZIzj0EAwIw\nLjELMAkGA1UEBhMCVVMxDTALBgNVBAoMBFNhcmsxEDAOBgNVBAMMB3NhcmstY2Ew\nIBcNMjYxMTI4MjEyMTI3WhgPMjEyNjExMDQyMTIxMjdaMBcxFTATBgNVBAMMDGxl\nYWYuZXhhbXBsZTBZMBMGByqGSM49AgEGCCqGSM49AwEHA0IABDkKKWtBF5LHorxU\nVXcJqpek2j9JlJyiTc9eV2Xwh8zHmVZeM9c4tiukBS3Cn5JEBhAbcUKIc5X6kE1w\nTYIRoo6jZDBiMBMGA1UdJQQMMAoGCCsGAQUFBwMCMAsGA1UdDwQEAwIHgDAdBgNV\nHQ4EFgQUUD80lPlBMLR7a9vbU5faVOH9RTAwHwYDVR0jBBgwFoAUTCsKNz9DFo2x\nUrlPtDTCKuTrTLAwCgYIKoZIzj0EAwIDRwAwRAIgXx8HgYlgWCM4KKiQ5A/MT85I\nWH9ztpi4/ioBIgPYYl4CID/1W1DFM92WvbCpVxQ2DDgvFKQYrMKPhmzxl2vnqRjJ\n-----END CERTIFICATE-----";
    const RSA_KEY: &str = "-----BEGIN PRIVATE KEY-----\nMIIEvgIBADANBgkqhkiG9w0BAQEFAASCBKgwggSkAgEAAoIBAQDCh4s03ijjKnp2\n4VP5RIrbN03FPvM8GT2DnGGIWn40wEmCWkCfj1euU+e9RpsdHPh28Rmd9hmB8sgf\nW8jfnIVXwNzd0k+FNBeykd1dalwmTxesTjx2sI7zxpSvXp58TnpZvHMFq1SIfeby\n/OKvijrqozGVG4WSJ0OU4ZAoCuQJEnY4N110xTTlkwR44Di9+I9A6FsJH3Ug98wp\nhapUg8g3wYHSqcy95RlKUWAbwZZ/DkBZVofovGSOTCAE6XijXnsHeU8ilFc3DL6t\nBHu+wh/tE9JN0YrIkmVN0Rn5dana1BHWSXRGJBwLuR/2x1t+a42WROKwWKIcj3TY\nf1HWAgEjAgMBAAECggEADsTbBR+He9UXc9EgXqtyiLmGgQmKJATyjlHKzIm6TTz6\nwm0hvOYqzQR3x/9apXeJRwEqZbtv16rcFhgSLyVOBl870DzjEVo8IQWWszybqcOV\nfjJ5FWB1lKfTVWEvUoFkI/inxEVsEeolJPZIK6BTYB8VvkasTxqwtIFPlYqwzMi6\neQO5SuRsPNZLyLzpDl8t2OlEEsBRBZ3xrmNSVIxHo9uYycdaN8aECBq4kkw2X5NU\nfV3+ZvCGjXepcDxcjoyJ4ruk8uFofFdX2E+DWdvqlI7/oQFNZd/CG4TaMuVHq13m\n+bxFDp4BujOzpV0/55sxZm+A/Ljsxl01qjXWV9HPuQKBgQDmk6n230UXDx3mNbrD\nfdkbCVM+WjOw5Pp1UCUseUrKiXExOYMf85NKIiyKs4S3qOG83MOvkDoEc2zRYyqu\naUI2JuRgfuPQOkvQnU7kGU53fsR90WiloMQBpbYG83045tYKp5aInUUG3zUsK0Nf\nRT1utz4f0Zkzmho2Etb01VeKJwKBgQDX+mVSfJQs7wGUgrzRibgYlE6xxLunqmdl\nwK47AwfukIdm8VRugvi5ZUv8pU2pA2WaYWZrxY20FuquurEdZIAp0Up3LcxgnkPl\nWYoVLunZ5thz7Aa9yXAq27rO2O0/VrsBP/2jHtOkm1oP+CDgwZq7ZwPFwcBd0yZw\nWUKZqcIapQKBgQDYPzTwK4WIkszf0xRNtAGhsaU4nTBNfvLGg1vZ0geq3CwklmO7\n250Pse1ESAj4lpLfpcyBIyrGcdpkpjSpTl6imuck+Nx/tazVAjOzCWjl+SYfOf6D\nF7u8L8X/zuxqKVQkufgcOCM8xqn/urN87lsnMwQ4o0KjequKezDOfieTkQKBgQCh\nB1lKIgZcZir4bm2XkSYIdXMjCbqcLOoArKN67iyYy3uY3jAEYXROzl7UVO9NJ3I2\no444pkeb0UZS1nE9p/QCub/akfQCyZ13v8W7O4ox4/LYo073a9xMqB1lIcnp4qF1\nMh/K4i4MWaPRqj/hM5hJR2pBpM7nZYoQVAzbAv3s3QKBgCCIfEfx7KUE6xpKish/\npq6FYQFSDnmr7YdGSw0/ELH7Jtx4lqZf4DQDi64eo10MlyVgG766it1PSmNCspd6\nbB8nLv4VTgAk9lAmucrQEnHBDn/GUM7mP5ODZagFoGkpERS6LjEvA1pvX/8EesRt\nxB5SdCh4ZoA/bZezyxH0UVE4\n-----END PRIVATE KEY-----";

    #[test]
    fn csr_not_a_sequence_as_go_asn1() {
        assert_eq!(outer_sequence_error(b"", "certificateRequest").as_deref(), Some("asn1: syntax error: sequence truncated"));
        let e = outer_sequence_error(b"badstring", "certificateRequest").unwrap();
        assert!(e.starts_with("asn1: structure error: tags don't match (16 vs {class:1 tag:2 length:97 isCompound:true})"), "{e}");
        assert!(e.ends_with(" certificateRequest @2"), "{e}");
        assert_eq!(outer_sequence_error(&[0x30, 0x00], "certificateRequest"), None);
    }

    fn s(x: &str) -> Value {
        Value::string(x)
    }
    fn call(f: super::super::BuiltinFn, args: Vec<Value>) -> BuiltinResult {
        f(&mut Ctx::new(1_800_000_000_000_000_000, true), &args)
    }

    #[test]
    fn certificate_fields() {
        let certs = call(parse_certificates, vec![s(&format!("{}\n{}", CA, LEAF))]).unwrap();
        let ca = certs.get(&Value::int(0)).unwrap();
        let leaf = certs.get(&Value::int(1)).unwrap();
        assert_eq!(ca.field("Subject").and_then(|n| n.field("CommonName")), Some(&s("sark-ca")));
        assert_eq!(ca.field("Subject").and_then(|n| n.field("Organization")), Some(&Value::from_array(vec![s("Sark")])));
        assert_eq!(ca.field("IsCA"), Some(&Value::Bool(true)));
        assert_eq!(leaf.field("Issuer").and_then(|n| n.field("CommonName")), Some(&s("sark-ca")));
        assert_eq!(leaf.field("DNSNames"), Some(&Value::from_array(vec![s("leaf.example")])));
        assert_eq!(leaf.field("IPAddresses"), Some(&Value::from_array(vec![s("10.0.0.1")])));
        assert_eq!(leaf.field("URIStrings"), Some(&Value::from_array(vec![s("spiffe://example.com/leaf")])));
        assert_eq!(leaf.field("EmailAddresses"), Some(&Value::Null));
        assert_eq!(leaf.field("Version"), Some(&Value::int(3)));
        assert_eq!(leaf.field("PublicKeyAlgorithm"), Some(&Value::int(3)));
    }

    #[test]
    fn inputs_and_errors() {
        let b64_pem = STANDARD.encode(CA);
        assert!(call(parse_certificates, vec![s(&b64_pem)]).is_ok());
        let e = call(parse_certificates, vec![s("YmFkc3RyaW5n")]).unwrap_err();
        assert_eq!(e, eval("x509: malformed certificate"));
        let e = call(parse_certificates, vec![s("foobar")]).unwrap_err();
        assert!(matches!(e, BuiltinError::Eval(m) if m.starts_with("illegal base64")));
    }

    #[test]
    fn chain_verification() {
        let ok = call(parse_and_verify, vec![s(&format!("{}\n{}", CA, LEAF))]).unwrap();
        assert_eq!(ok.get(&Value::int(0)), Some(&Value::Bool(true)));
        let chain = ok.get(&Value::int(1)).unwrap();
        assert_eq!(chain.get(&Value::int(0)).and_then(|c| c.field("Subject")).and_then(|n| n.field("CommonName")), Some(&s("leaf.example")));
        // Wrong order: the leaf cannot sign the CA.
        let bad = call(parse_and_verify, vec![s(&format!("{}\n{}", LEAF, CA))]).unwrap();
        assert_eq!(bad.get(&Value::int(0)), Some(&Value::Bool(false)));
        let only_one = call(parse_and_verify, vec![s(CA)]).unwrap();
        assert_eq!(only_one.get(&Value::int(0)), Some(&Value::Bool(false)));
        let opts = |k: &str, v: Value| Value::from_map([(s(k), v)].into_iter().collect());
        let both = format!("{}\n{}", CA, LEAF);
        let dns_ok = call(parse_and_verify_with_options, vec![s(&both), opts("DNSName", s("leaf.example"))]).unwrap();
        assert_eq!(dns_ok.get(&Value::int(0)), Some(&Value::Bool(true)));
        let dns_bad = call(parse_and_verify_with_options, vec![s(&both), opts("DNSName", s("other.example"))]).unwrap();
        assert_eq!(dns_bad.get(&Value::int(0)), Some(&Value::Bool(false)));
        let expired = call(parse_and_verify_with_options, vec![s(&both), opts("CurrentTime", Value::int(i64::MAX))]).unwrap();
        assert_eq!(expired.get(&Value::int(0)), Some(&Value::Bool(false)));
    }

    #[test]
    fn extended_key_usage() {
        let chain = format!("{}\n{}", CA, CLIENT);
        let certs = call(parse_certificates, vec![s(&chain)]).unwrap();
        let leaf = certs.get(&Value::int(1)).unwrap();
        assert_eq!(leaf.field("ExtKeyUsage"), Some(&Value::from_array(vec![Value::int(2)])));
        assert_eq!(leaf.field("KeyUsage"), Some(&Value::int(1)));
        // Server authentication is the default purpose, as in Go.
        let v = call(parse_and_verify, vec![s(&chain)]).unwrap();
        assert_eq!(v.get(&Value::int(0)), Some(&Value::Bool(false)));
        let usages = Value::from_array(vec![s("KeyUsageClientAuth")]);
        let opts = Value::from_map([(s("KeyUsages"), usages)].into_iter().collect());
        let v = call(parse_and_verify_with_options, vec![s(&chain), opts]).unwrap();
        assert_eq!(v.get(&Value::int(0)), Some(&Value::Bool(true)));
    }

    #[test]
    fn csr_and_keys() {
        let csr = call(parse_certificate_request, vec![s(CSR)]).unwrap();
        assert_eq!(csr.field("Subject").and_then(|n| n.field("CommonName")), Some(&s("leaf.example")));
        let jwk = call(parse_rsa_private_key, vec![s(RSA_KEY)]).unwrap();
        assert_eq!(jwk.field("kty"), Some(&s("RSA")));
        assert_eq!(jwk.field("e"), Some(&s("AQAB")));
        assert!(call(parse_rsa_private_key, vec![s("invalid")]).is_err());
        let keys = call(parse_private_keys, vec![s(RSA_KEY)]).unwrap();
        assert_eq!(keys.get(&Value::int(0)).and_then(|k| k.field("E")), Some(&Value::int(65537)));
        assert_eq!(call(parse_private_keys, vec![s("")]), Ok(Value::Null));
    }
}
