/**
 * DecisionCache on lru-cache, used when the native addon is not available:
 * the same bounds (entries, bytes) and TTL semantics as the native cache.
 */
import { LRUCache } from 'lru-cache';
import type { CacheStats, DecisionCache } from './types';
import type { CacheSizing } from './create-cache';

/** Per-entry bookkeeping charged against the byte bound, as the native cache does. */
const ENTRY_OVERHEAD = 64;

export class LruDecisionCache implements DecisionCache {
  readonly kind = 'lru-cache' as const;
  private readonly lru: LRUCache<string, string>;
  private counters = { hits: 0, misses: 0, inserts: 0, evictions: 0, expirations: 0 };

  constructor(sizing: CacheSizing) {
    this.lru = new LRUCache<string, string>({
      max: sizing.maxEntries,
      maxSize: sizing.maxBytes,
      sizeCalculation: (value, key) => Buffer.byteLength(key) + Buffer.byteLength(value) + ENTRY_OVERHEAD,
      ttl: sizing.ttlMs && sizing.ttlMs > 0 ? sizing.ttlMs : undefined,
      ttlAutopurge: false,
      dispose: (_value, _key, reason) => {
        if (reason === 'evict') this.counters.evictions++;
        else if (reason === 'expire') this.counters.expirations++;
      },
    });
  }

  get(key: string): string | undefined {
    const v = this.lru.get(key);
    if (v === undefined) this.counters.misses++;
    else this.counters.hits++;
    return v;
  }
  set(key: string, value: string, ttlMs?: number): void {
    const size = Buffer.byteLength(key) + Buffer.byteLength(value) + ENTRY_OVERHEAD;
    if (size > this.lru.maxSize) return; // larger than the whole cache: not stored, as natively
    this.lru.set(key, value, ttlMs && ttlMs > 0 ? { ttl: ttlMs } : undefined);
    this.counters.inserts++;
  }
  delete(key: string): boolean {
    return this.lru.delete(key);
  }
  clear(): void {
    this.lru.clear();
  }
  get size(): number {
    return this.lru.size;
  }
  stats(): CacheStats {
    return { ...this.counters, entries: this.lru.size };
  }
}
