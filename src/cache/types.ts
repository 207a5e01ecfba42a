/** The decision cache contract: native (RustCache) or the lru-cache fallback. */
export interface DecisionCache {
  /** The cached value for `key`, or undefined on a miss or an expired entry. */
  get(key: string): string | undefined;
  /** Stores `value` under `key`; `ttlMs` overrides the default time to live. */
  set(key: string, value: string, ttlMs?: number): void;
  delete(key: string): boolean;
  clear(): void;
  readonly size: number;
  stats(): CacheStats;
  /** 'native' or 'lru-cache', for logs and metrics. */
  readonly kind: 'native' | 'lru-cache';
}

export interface CacheStats {
  hits: number;
  misses: number;
  inserts: number;
  evictions: number;
  expirations: number;
  entries: number;
}
