//! `RustCache`: the native decision cache as a JS class (string keys and values).

use crate::napi::{Call, JsError, JsResult, Tagged, Val};
use sark_cache::{Cache, CacheConfig};
use std::time::Duration;

pub struct CacheState {
    pub cache: Cache,
}

impl Tagged for CacheState {
    const TAG: u64 = 0x5341_524b_4341_4331; // "SARKCAC1"
    const NAME: &'static str = "RustCache";
}

fn ttl(ms: f64) -> Option<Duration> {
    (ms > 0.0 && ms.is_finite()).then(|| Duration::from_micros((ms * 1000.0) as u64))
}

/// `new RustCache(maxEntries?, maxBytes?, defaultTtlMs?, shards?)`; 0 or absent TTL = no expiry.
pub fn construct(c: &Call) -> JsResult<Val> {
    let env = c.env;
    let d = CacheConfig::default();
    let max_entries = env.get_number_or(c.arg(0)?, d.max_entries as f64, "maxEntries")?;
    let max_bytes = env.get_number_or(c.arg(1)?, d.max_bytes as f64, "maxBytes")?;
    let ttl_ms = env.get_number_or(c.arg(2)?, 0.0, "defaultTtlMs")?;
    let shards = env.get_number_or(c.arg(3)?, d.shards as f64, "shards")?;
    if !(max_entries >= 1.0 && max_bytes >= 1.0 && shards >= 1.0) {
        return Err(JsError::arg("maxEntries, maxBytes and shards must be at least 1"));
    }
    let config = CacheConfig { max_entries: max_entries as usize, max_bytes: max_bytes as usize, default_ttl: ttl(ttl_ms), shards: shards as usize };
    env.wrap(c.this, CacheState { cache: Cache::new(config) })?;
    env.undefined()
}

fn cache<'a>(c: &Call) -> JsResult<&'a Cache> {
    Ok(&c.env.unwrap::<CacheState>(c.this)?.cache)
}

/// `get(key) -> string | undefined`.
pub fn get(c: &Call) -> JsResult<Val> {
    let key = c.env.get_string(c.arg(0)?, "key")?;
    match cache(c)?.get(key.as_bytes()) {
        Some(v) => c.env.string(&String::from_utf8_lossy(&v)),
        None => c.env.undefined(),
    }
}

/// `set(key, value, ttlMs?) -> boolean` (false: the entry is larger than the cache allows).
pub fn set(c: &Call) -> JsResult<Val> {
    let env = c.env;
    let key = env.get_string(c.arg(0)?, "key")?;
    let value = env.get_string(c.arg(1)?, "value")?;
    let ttl_ms = env.get_number_or(c.arg(2)?, 0.0, "ttlMs")?;
    env.boolean(cache(c)?.set(key.as_bytes(), value.as_bytes(), ttl(ttl_ms)))
}

pub fn delete(c: &Call) -> JsResult<Val> {
    let key = c.env.get_string(c.arg(0)?, "key")?;
    c.env.boolean(cache(c)?.delete(key.as_bytes()))
}

pub fn clear(c: &Call) -> JsResult<Val> {
    cache(c)?.clear();
    c.env.undefined()
}

pub fn size(c: &Call) -> JsResult<Val> {
    c.env.number(cache(c)?.len() as f64)
}

/// `stats() -> {hits, misses, inserts, evictions, expirations, entries, bytes}`.
pub fn stats(c: &Call) -> JsResult<Val> {
    let s = cache(c)?.stats();
    let env = c.env;
    let o = env.object()?;
    for (k, v) in [
        ("hits", s.hits),
        ("misses", s.misses),
        ("inserts", s.inserts),
        ("evictions", s.evictions),
        ("expirations", s.expirations),
        ("entries", s.entries),
        ("bytes", s.bytes),
    ] {
        env.set(o, k, env.number(v as f64)?)?;
    }
    Ok(o)
}
