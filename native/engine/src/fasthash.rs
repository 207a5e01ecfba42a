//! A small multiplicative hasher for maps keyed by trusted, dense values
//! (tree node indexes, pointers of static strings). SipHash's flooding
//! resistance buys nothing there and costs time on every evaluation.

use std::hash::{BuildHasher, Hasher};

#[derive(Clone, Copy, Default)]
pub struct FastHash;

pub struct FastHasher(u64);

const K: u64 = 0x517c_c1b7_2722_0a95;

impl Hasher for FastHasher {
    fn finish(&self) -> u64 {
        self.0
    }
    fn write(&mut self, bytes: &[u8]) {
        for &b in bytes {
            self.0 = (self.0.rotate_left(5) ^ u64::from(b)).wrapping_mul(K);
        }
    }
    fn write_usize(&mut self, n: usize) {
        self.0 = (self.0.rotate_left(5) ^ n as u64).wrapping_mul(K);
    }
}

impl BuildHasher for FastHash {
    type Hasher = FastHasher;
    fn build_hasher(&self) -> FastHasher {
        FastHasher(0)
    }
}
