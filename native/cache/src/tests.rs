use super::*;
use std::thread;

fn one_shard(entries: usize, bytes: usize) -> Cache {
    Cache::new(CacheConfig { max_entries: entries, max_bytes: bytes, default_ttl: None, shards: 1 })
}

#[test]
fn get_after_set_returns_the_value() {
    let c = Cache::new(CacheConfig::default());
    assert!(c.set(b"k", b"v", None));
    assert_eq!(c.get(b"k").as_deref(), Some(&b"v"[..]));
    assert_eq!(c.get(b"other"), None);
    let s = c.stats();
    assert_eq!((s.hits, s.misses, s.inserts, s.entries), (1, 1, 1, 1));
}

#[test]
fn least_recently_used_is_evicted_first() {
    let c = one_shard(2, 1 << 20);
    c.set(b"a", b"1", None);
    c.set(b"b", b"2", None);
    assert!(c.get(b"a").is_some()); // a is now the most recent
    c.set(b"c", b"3", None);
    assert!(c.get(b"b").is_none());
    assert!(c.get(b"a").is_some());
    assert!(c.get(b"c").is_some());
    assert_eq!(c.stats().evictions, 1);
}

#[test]
fn byte_bound_evicts_and_oversized_entries_are_refused() {
    let c = one_shard(1000, 3 * (64 + 2 + 100));
    for k in 0..5u8 {
        c.set(&[b'k', k], &[0u8; 100], None);
    }
    assert_eq!(c.len(), 3);
    assert!(c.stats().bytes <= 3 * 166);
    assert!(!c.set(b"huge", &[0u8; 10_000], None));
    assert!(c.get(b"huge").is_none());
}

#[test]
fn entries_expire_after_their_ttl() {
    let c = one_shard(10, 1 << 20);
    c.set(b"short", b"1", Some(Duration::from_millis(20)));
    c.set(b"long", b"2", Some(Duration::from_secs(60)));
    thread::sleep(Duration::from_millis(40));
    assert!(c.get(b"short").is_none());
    assert!(c.get(b"long").is_some());
    assert_eq!(c.stats().expirations, 1);
    assert_eq!(c.len(), 1);
}

#[test]
fn default_ttl_applies_when_none_given() {
    let c = Cache::new(CacheConfig { default_ttl: Some(Duration::from_millis(10)), ..CacheConfig::default() });
    c.set(b"k", b"v", None);
    thread::sleep(Duration::from_millis(25));
    assert!(c.get(b"k").is_none());
}

#[test]
fn replacing_a_key_keeps_one_entry_and_accounts_bytes() {
    let c = one_shard(10, 1 << 20);
    c.set(b"k", b"short", None);
    c.set(b"k", b"a much longer value", None);
    assert_eq!(c.len(), 1);
    assert_eq!(c.stats().bytes as usize, 1 + 19 + 64);
    assert_eq!(c.get(b"k").as_deref(), Some(&b"a much longer value"[..]));
}

#[test]
fn delete_and_clear() {
    let c = Cache::new(CacheConfig::default());
    c.set(b"a", b"1", None);
    c.set(b"b", b"2", None);
    assert!(c.delete(b"a"));
    assert!(!c.delete(b"a"));
    c.clear();
    assert!(c.is_empty());
    assert_eq!(c.stats().bytes, 0);
}

#[test]
fn slots_are_reused_after_eviction() {
    let c = one_shard(4, 1 << 20);
    for i in 0..10_000u32 {
        c.set(&i.to_le_bytes(), b"v", None);
    }
    assert_eq!(c.len(), 4);
    for i in 9_996..10_000u32 {
        assert!(c.get(&i.to_le_bytes()).is_some());
    }
}

#[test]
fn concurrent_use_keeps_bounds_and_values() {
    let c = Arc::new(Cache::new(CacheConfig { max_entries: 1000, ..CacheConfig::default() }));
    let threads: Vec<_> = (0..4u32)
        .map(|t| {
            let c = c.clone();
            thread::spawn(move || {
                for i in 0..20_000u32 {
                    let k = format!("{}-{}", t, i % 700);
                    c.set(k.as_bytes(), k.as_bytes(), None);
                    if let Some(v) = c.get(k.as_bytes()) {
                        assert_eq!(&*v, k.as_bytes());
                    }
                }
            })
        })
        .collect();
    for t in threads {
        t.join().unwrap();
    }
    assert!(c.len() <= 1000);
}

#[test]
fn small_caches_keep_their_total_bound_across_shards() {
    let c = Cache::new(CacheConfig { max_entries: 2, ..CacheConfig::default() });
    for i in 0..50u32 {
        c.set(&i.to_le_bytes(), b"v", None);
    }
    assert!(c.len() <= 2, "{} entries", c.len());
    assert!(c.stats().evictions >= 48);
}
