/** DecisionCache on the native RustCache (sharded LRU with TTL, bounded by entries and bytes). */
import { RustCache, type RustCacheInstance } from '../native';
import type { CacheStats, DecisionCache } from './types';
import type { CacheSizing } from './create-cache';

export class NativeDecisionCache implements DecisionCache {
  readonly kind = 'native' as const;
  /** The native cache, for the native Check hot path. */
  readonly native: RustCacheInstance;

  constructor(sizing: CacheSizing) {
    if (!RustCache) throw new Error('native addon not loaded');
    this.native = new RustCache(sizing.maxEntries, sizing.maxBytes, sizing.ttlMs ?? 0);
  }

  get(key: string): string | undefined {
    return this.native.get(key) ?? undefined;
  }
  set(key: string, value: string, ttlMs?: number): void {
    this.native.set(key, value, ttlMs);
  }
  delete(key: string): boolean {
    return this.native.delete(key);
  }
  clear(): void {
    this.native.clear();
  }
  get size(): number {
    return this.native.size();
  }
  stats(): CacheStats {
    const s = this.native.stats();
    return { hits: s.hits, misses: s.misses, inserts: s.inserts, evictions: s.evictions, expirations: s.expirations, entries: s.entries };
  }
}
