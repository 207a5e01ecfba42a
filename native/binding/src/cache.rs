//! `RustCache`: the native decision cache as a JavaScript class (string keys and values).

use napi::bindgen_prelude::*;
use napi_derive::napi;
use sark_cache::{Cache, CacheConfig};
use std::sync::Arc;
use std::time::Duration;

#[napi]
pub struct RustCache {
    /// Shared with the check functions made for it (`RustOPAEngine::checker`)
    /// and the `CheckPool` threads running offloaded Checks.
    pub(crate) cache: Arc<Cache>,
}

/// What `stats()` returns.
#[napi(object)]
pub struct CacheStats {
    pub hits: f64,
    pub misses: f64,
    pub inserts: f64,
    pub evictions: f64,
    pub expirations: f64,
    pub entries: f64,
    pub bytes: f64,
}

fn ttl(ms: Option<f64>) -> Option<Duration> {
    ms.filter(|ms| *ms > 0.0 && ms.is_finite()).map(|ms| Duration::from_micros((ms * 1000.0) as u64))
}

#[napi]
impl RustCache {
    /// `new RustCache(maxEntries?, maxBytes?, defaultTtlMs?, shards?)`; 0 or absent TTL = no expiry.
    #[napi(constructor, catch_unwind)]
    pub fn new(env: Env, max_entries: Option<f64>, max_bytes: Option<f64>, default_ttl_ms: Option<f64>, shards: Option<f64>) -> Result<RustCache> {
        let d = CacheConfig::default();
        let max_entries = max_entries.unwrap_or(d.max_entries as f64);
        let max_bytes = max_bytes.unwrap_or(d.max_bytes as f64);
        let shards = shards.unwrap_or(d.shards as f64);
        if !(max_entries >= 1.0 && max_bytes >= 1.0 && shards >= 1.0) {
            return Err(crate::errors::invalid_arg(&env, "maxEntries, maxBytes and shards must be at least 1"));
        }
        let config = CacheConfig { max_entries: max_entries as usize, max_bytes: max_bytes as usize, default_ttl: ttl(default_ttl_ms), shards: shards as usize };
        Ok(RustCache { cache: Arc::new(Cache::new(config)) })
    }

    #[napi(catch_unwind)]
    pub fn get(&self, key: String) -> Option<String> {
        self.cache.get(key.as_bytes()).map(|v| String::from_utf8_lossy(&v).into_owned())
    }

    /// False: the entry is larger than the cache allows.
    #[napi(catch_unwind)]
    pub fn set(&self, key: String, value: String, ttl_ms: Option<f64>) -> bool {
        self.cache.set(key.as_bytes(), value.as_bytes(), ttl(ttl_ms))
    }

    #[napi(catch_unwind)]
    pub fn delete(&self, key: String) -> bool {
        self.cache.delete(key.as_bytes())
    }

    #[napi(catch_unwind)]
    pub fn clear(&self) {
        self.cache.clear()
    }

    #[napi(catch_unwind)]
    pub fn size(&self) -> f64 {
        self.cache.len() as f64
    }

    #[napi(catch_unwind)]
    pub fn stats(&self) -> CacheStats {
        let s = self.cache.stats();
        CacheStats {
            hits: s.hits as f64,
            misses: s.misses as f64,
            inserts: s.inserts as f64,
            evictions: s.evictions as f64,
            expirations: s.expirations as f64,
            entries: s.entries as f64,
            bytes: s.bytes as f64,
        }
    }
}
