//! ECDSA P-521 / SHA-512 signature verification (JWS `ES512`), which ring
//! 0.16 lacks. Verification only: it handles public data, so it need not be
//! constant time. Jacobian coordinates (one field inversion per
//! verification), with reduction by the Mersenne prime p = 2^521 - 1 done by
//! shifts, and Shamir's trick for u1·G + u2·Q.

use num_bigint::BigUint;
use num_traits::{One, Zero};
use sha2::{Digest, Sha512};
use std::sync::OnceLock;

const FIELD_BYTES: usize = 66;

struct Curve {
    p: BigUint,
    n: BigUint,
    b: BigUint,
    g: (BigUint, BigUint),
}

fn hex(s: &str) -> BigUint {
    BigUint::parse_bytes(s.as_bytes(), 16).unwrap_or_default()
}

fn curve() -> &'static Curve {
    static C: OnceLock<Curve> = OnceLock::new();
    C.get_or_init(|| Curve {
        p: (BigUint::one() << 521usize) - BigUint::one(),
        n: hex("01fffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffa51868783bf2f966b7fcc0148f709a5d03bb5c9b8899c47aebb6fb71e91386409"),
        b: hex("0051953eb9618e1c9a1f929a21a0b68540eea2da725b99b315f3b8b489918ef109e156193951ec7e937b1652c0bd3bb1bf073573df883d2c34f1ef451fd46b503f00"),
        g: (
            hex("00c6858e06b70404e9cd9e3ecb662395b4429c648139053fb521f828af606b4d3dbaa14b5e77efe75928fe1dc127a2ffa8de3348b3c1856a429bf97e7e31c2e5bd66"),
            hex("011839296a789a3bc0045c8a5fb42c7d1bd998f54449579b446817afbd17273e662c97ee72995ef42640c550b9013fad0761353c7086a272c24088be94769fd16650"),
        ),
    })
}

/// x mod p for p = 2^521 - 1: fold the high bits onto the low ones.
fn reduce(mut x: BigUint, p: &BigUint) -> BigUint {
    while x.bits() > 521 {
        x = (&x & p) + (x >> 521usize);
    }
    if &x >= p {
        x -= p;
    }
    x
}

struct Field<'a> {
    p: &'a BigUint,
}

impl Field<'_> {
    fn mul(&self, a: &BigUint, b: &BigUint) -> BigUint {
        reduce(a * b, self.p)
    }
    fn sqr(&self, a: &BigUint) -> BigUint {
        self.mul(a, a)
    }
    fn add(&self, a: &BigUint, b: &BigUint) -> BigUint {
        reduce(a + b, self.p)
    }
    fn sub(&self, a: &BigUint, b: &BigUint) -> BigUint {
        reduce(a + self.p - b, self.p)
    }
    fn small(&self, k: u32, a: &BigUint) -> BigUint {
        reduce(a * k, self.p)
    }
}

/// A point in Jacobian coordinates; Z = 0 is the point at infinity.
#[derive(Clone)]
struct Jac {
    x: BigUint,
    y: BigUint,
    z: BigUint,
}

impl Jac {
    fn infinity() -> Jac {
        Jac { x: BigUint::one(), y: BigUint::one(), z: BigUint::zero() }
    }
    fn affine(x: &BigUint, y: &BigUint) -> Jac {
        Jac { x: x.clone(), y: y.clone(), z: BigUint::one() }
    }
    fn is_infinity(&self) -> bool {
        self.z.is_zero()
    }
}

/// Doubling for a = -3 (dbl-2001-b).
fn double(f: &Field, pt: &Jac) -> Jac {
    if pt.is_infinity() || pt.y.is_zero() {
        return Jac::infinity();
    }
    let delta = f.sqr(&pt.z);
    let gamma = f.sqr(&pt.y);
    let beta = f.mul(&pt.x, &gamma);
    let alpha = f.small(3, &f.mul(&f.sub(&pt.x, &delta), &f.add(&pt.x, &delta)));
    let x3 = f.sub(&f.sqr(&alpha), &f.small(8, &beta));
    let z3 = f.sub(&f.sub(&f.sqr(&f.add(&pt.y, &pt.z)), &gamma), &delta);
    let y3 = f.sub(&f.mul(&alpha, &f.sub(&f.small(4, &beta), &x3)), &f.small(8, &f.sqr(&gamma)));
    Jac { x: x3, y: y3, z: z3 }
}

/// General addition (add-2007-bl), falling back to doubling for equal points.
fn add(f: &Field, a: &Jac, b: &Jac) -> Jac {
    if a.is_infinity() {
        return b.clone();
    }
    if b.is_infinity() {
        return a.clone();
    }
    let z1z1 = f.sqr(&a.z);
    let z2z2 = f.sqr(&b.z);
    let u1 = f.mul(&a.x, &z2z2);
    let u2 = f.mul(&b.x, &z1z1);
    let s1 = f.mul(&f.mul(&a.y, &b.z), &z2z2);
    let s2 = f.mul(&f.mul(&b.y, &a.z), &z1z1);
    let h = f.sub(&u2, &u1);
    let r = f.small(2, &f.sub(&s2, &s1));
    if h.is_zero() {
        return if r.is_zero() { double(f, a) } else { Jac::infinity() };
    }
    let i = f.sqr(&f.small(2, &h));
    let j = f.mul(&h, &i);
    let v = f.mul(&u1, &i);
    let x3 = f.sub(&f.sub(&f.sqr(&r), &j), &f.small(2, &v));
    let y3 = f.sub(&f.mul(&r, &f.sub(&v, &x3)), &f.small(2, &f.mul(&s1, &j)));
    let z3 = f.mul(&f.sub(&f.sub(&f.sqr(&f.add(&a.z, &b.z)), &z1z1), &z2z2), &h);
    Jac { x: x3, y: y3, z: z3 }
}

/// u1·P + u2·Q in one pass over the bits (Shamir's trick).
fn mul2(f: &Field, u1: &BigUint, p: &Jac, u2: &BigUint, q: &Jac) -> Jac {
    let pq = add(f, p, q);
    let mut acc = Jac::infinity();
    for i in (0..u1.bits().max(u2.bits())).rev() {
        acc = double(f, &acc);
        match (u1.bit(i), u2.bit(i)) {
            (true, true) => acc = add(f, &acc, &pq),
            (true, false) => acc = add(f, &acc, p),
            (false, true) => acc = add(f, &acc, q),
            (false, false) => {}
        }
    }
    acc
}

fn on_curve(c: &Curve, x: &BigUint, y: &BigUint) -> bool {
    let f = Field { p: &c.p };
    if x >= &c.p || y >= &c.p {
        return false;
    }
    // y² = x³ - 3x + b
    let rhs = f.add(&f.sub(&f.mul(&f.sqr(x), x), &f.small(3, x)), &c.b);
    f.sqr(y) == rhs
}

/// Verifies a JWS ES512 signature (`r || s`, 66 bytes each) over `msg` with
/// an uncompressed public point (`0x04 || x || y`).
pub fn verify(point: &[u8], msg: &[u8], sig: &[u8]) -> bool {
    let c = curve();
    if point.len() != 1 + 2 * FIELD_BYTES || point[0] != 0x04 || sig.len() != 2 * FIELD_BYTES {
        return false;
    }
    let qx = BigUint::from_bytes_be(&point[1..1 + FIELD_BYTES]);
    let qy = BigUint::from_bytes_be(&point[1 + FIELD_BYTES..]);
    if !on_curve(c, &qx, &qy) {
        return false;
    }
    let r = BigUint::from_bytes_be(&sig[..FIELD_BYTES]);
    let s = BigUint::from_bytes_be(&sig[FIELD_BYTES..]);
    if r.is_zero() || s.is_zero() || r >= c.n || s >= c.n {
        return false;
    }
    // SHA-512 is shorter than the order: the whole digest is the integer.
    let e = BigUint::from_bytes_be(&Sha512::digest(msg));
    let w = s.modpow(&(&c.n - BigUint::from(2u32)), &c.n);
    let u1 = (&e * &w) % &c.n;
    let u2 = (&r * &w) % &c.n;
    let f = Field { p: &c.p };
    let x = mul2(&f, &u1, &Jac::affine(&c.g.0, &c.g.1), &u2, &Jac::affine(&qx, &qy));
    if x.is_infinity() {
        return false;
    }
    let zinv = x.z.modpow(&(&c.p - BigUint::from(2u32)), &c.p);
    let ax = f.mul(&x.x, &f.sqr(&zinv));
    ax % &c.n == r
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn generator_is_on_the_curve_and_has_order_n() {
        let c = curve();
        assert!(on_curve(c, &c.g.0, &c.g.1));
        let f = Field { p: &c.p };
        let g = Jac::affine(&c.g.0, &c.g.1);
        assert!(mul2(&f, &c.n, &g, &BigUint::zero(), &Jac::infinity()).is_infinity());
        assert!(!mul2(&f, &(&c.n - BigUint::one()), &g, &BigUint::zero(), &Jac::infinity()).is_infinity());
    }

    #[test]
    fn refuses_malformed_inputs() {
        assert!(!verify(&[4u8; 133], b"m", &[1u8; 132]));
        assert!(!verify(&[4u8; 10], b"m", &[1u8; 132]));
        let c = curve();
        let mut point = vec![4u8];
        point.extend(c.g.0.to_bytes_be().iter().rev().chain(std::iter::repeat(&0u8)).take(FIELD_BYTES).collect::<Vec<_>>().into_iter().rev());
        point.extend(c.g.1.to_bytes_be().iter().rev().chain(std::iter::repeat(&0u8)).take(FIELD_BYTES).collect::<Vec<_>>().into_iter().rev());
        assert!(!verify(&point, b"m", &[0u8; 132]));
    }
}
