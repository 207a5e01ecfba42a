//! A sharded, bounded LRU cache with per-entry time to live.
//!
//! Keys and values are byte strings: the cache knows nothing of Rego or Envoy.
//! Every operation is O(1): each shard is a hash map into a slab of entries
//! linked in recency order. Bounds are global (entry count and bytes) and split
//! evenly across shards so that no lock is ever held across shards.
//! Entries compare their full key, so a hash collision can never return the
//! value stored under another key.

#![forbid(unsafe_code)]
// Failures are values, never panics: no unwrap/expect/panic or panicking index outside tests (`cargo clippy`).
#![cfg_attr(not(test), deny(clippy::unwrap_used, clippy::expect_used, clippy::panic, clippy::indexing_slicing))]

mod shard;

use shard::Shard;
use std::hash::{BuildHasher, Hasher};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

/// Sizing and expiry of a cache.
#[derive(Clone, Debug)]
pub struct CacheConfig {
    /// Most entries kept (across all shards). At least one per shard is kept.
    pub max_entries: usize,
    /// Most bytes of keys plus values kept (across all shards).
    pub max_bytes: usize,
    /// Time to live of an entry set without an explicit TTL; `None` = no expiry.
    pub default_ttl: Option<Duration>,
    /// Number of independently locked shards (rounded down to a power of two,
    /// and never more than `max_entries`).
    pub shards: usize,
}

impl Default for CacheConfig {
    fn default() -> Self {
        CacheConfig { max_entries: 100_000, max_bytes: 64 << 20, default_ttl: None, shards: 16 }
    }
}

/// Counters since creation (or the last `reset_stats`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct CacheStats {
    pub hits: u64,
    pub misses: u64,
    pub inserts: u64,
    pub evictions: u64,
    pub expirations: u64,
    pub entries: u64,
    pub bytes: u64,
}

#[derive(Default)]
struct Counters {
    hits: AtomicU64,
    misses: AtomicU64,
    inserts: AtomicU64,
    evictions: AtomicU64,
    expirations: AtomicU64,
}

/// The cache. Cheap to share: wrap it in an `Arc`; all methods take `&self`.
pub struct Cache {
    shards: Box<[Mutex<Shard>]>,
    mask: u64,
    default_ttl: Option<Duration>,
    counters: Counters,
    hasher: FxBuild,
}

/// Fast non-cryptographic hashing for shard selection and the shard maps.
/// Collisions cost only speed: entries compare full keys.
#[derive(Clone, Copy, Default)]
pub(crate) struct FxBuild;

pub(crate) struct FxHasher(u64);

impl Hasher for FxHasher {
    fn finish(&self) -> u64 {
        self.0
    }
    fn write(&mut self, bytes: &[u8]) {
        const K: u64 = 0x517c_c1b7_2722_0a95;
        let mut h = self.0;
        let mut chunks = bytes.chunks_exact(8);
        for c in &mut chunks {
            let mut w = [0u8; 8];
            w.copy_from_slice(c);
            h = (h.rotate_left(5) ^ u64::from_le_bytes(w)).wrapping_mul(K);
        }
        for &b in chunks.remainder() {
            h = (h.rotate_left(5) ^ u64::from(b)).wrapping_mul(K);
        }
        self.0 = h;
    }
}

impl BuildHasher for FxBuild {
    type Hasher = FxHasher;
    fn build_hasher(&self) -> FxHasher {
        FxHasher(0)
    }
}

impl Cache {
    pub fn new(config: CacheConfig) -> Cache {
        // Never more shards than entries: each shard holds at least one, so
        // the total bound stays exact for small caches.
        let wanted = config.shards.clamp(1, 1024).min(config.max_entries.max(1));
        let n = 1usize << (usize::BITS - 1 - wanted.leading_zeros());
        let per_entries = (config.max_entries / n).max(1);
        let per_bytes = (config.max_bytes / n).max(1);
        let shards = (0..n).map(|_| Mutex::new(Shard::new(per_entries, per_bytes))).collect::<Vec<_>>();
        Cache {
            shards: shards.into_boxed_slice(),
            mask: (n - 1) as u64,
            default_ttl: config.default_ttl,
            counters: Counters::default(),
            hasher: FxBuild,
        }
    }

    /// The locked shard of `key` (always one: the mask is below the shard count).
    fn shard(&self, key: &[u8]) -> Option<MutexGuard<'_, Shard>> {
        let mut h = self.hasher.build_hasher();
        h.write(key);
        let hash = h.finish();
        // High bits pick the shard; the map rehashes the key itself.
        let idx = ((hash >> 48) & self.mask) as usize;
        // A poisoned shard only means a panic elsewhere mid-operation; the
        // shard's invariants are restored by every operation, so keep going.
        Some(self.shards.get(idx)?.lock().unwrap_or_else(|p| p.into_inner()))
    }

    /// The value under `key`, if present and not expired; marks it most recently used.
    pub fn get(&self, key: &[u8]) -> Option<Arc<[u8]>> {
        let now = Instant::now();
        let mut shard = self.shard(key)?;
        match shard.get(key, now) {
            shard::Lookup::Hit(v) => {
                self.counters.hits.fetch_add(1, Ordering::Relaxed);
                Some(v)
            }
            shard::Lookup::Expired => {
                self.counters.expirations.fetch_add(1, Ordering::Relaxed);
                self.counters.misses.fetch_add(1, Ordering::Relaxed);
                None
            }
            shard::Lookup::Miss => {
                self.counters.misses.fetch_add(1, Ordering::Relaxed);
                None
            }
        }
    }

    /// Stores `value` under `key` with `ttl` (or the default TTL when `None`).
    /// Returns false when the entry alone exceeds a shard's byte bound (it is not stored).
    pub fn set(&self, key: &[u8], value: &[u8], ttl: Option<Duration>) -> bool {
        let expires = ttl.or(self.default_ttl).and_then(|d| Instant::now().checked_add(d));
        let Some(mut shard) = self.shard(key) else { return false };
        match shard.insert(key, value, expires) {
            Some(evicted) => {
                self.counters.inserts.fetch_add(1, Ordering::Relaxed);
                self.counters.evictions.fetch_add(evicted, Ordering::Relaxed);
                true
            }
            None => false,
        }
    }

    pub fn delete(&self, key: &[u8]) -> bool {
        self.shard(key).is_some_and(|mut shard| shard.remove(key))
    }

    /// Drops every entry, shard by shard.
    pub fn clear(&self) {
        for s in self.shards.iter() {
            s.lock().unwrap_or_else(|p| p.into_inner()).clear();
        }
    }

    /// Entries currently stored (expired ones count until touched or evicted).
    pub fn len(&self) -> usize {
        self.shards.iter().map(|s| s.lock().unwrap_or_else(|p| p.into_inner()).len()).sum()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    pub fn stats(&self) -> CacheStats {
        let (mut entries, mut bytes) = (0u64, 0u64);
        for s in self.shards.iter() {
            let s = s.lock().unwrap_or_else(|p| p.into_inner());
            entries += s.len() as u64;
            bytes += s.bytes() as u64;
        }
        let c = &self.counters;
        CacheStats {
            hits: c.hits.load(Ordering::Relaxed),
            misses: c.misses.load(Ordering::Relaxed),
            inserts: c.inserts.load(Ordering::Relaxed),
            evictions: c.evictions.load(Ordering::Relaxed),
            expirations: c.expirations.load(Ordering::Relaxed),
            entries,
            bytes,
        }
    }
}

#[cfg(test)]
mod tests;
