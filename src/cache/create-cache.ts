/** Chooses the decision cache: native when the addon is loaded, lru-cache otherwise. */
import { RUST_AVAILABLE, warnNativeUnavailable } from '../native';
import { LruDecisionCache } from './lru-fallback';
import { NativeDecisionCache } from './native-cache';
import type { DecisionCache } from './types';

export interface CacheSizing {
  /** Most entries kept. Default 100,000. */
  maxEntries: number;
  /** Most bytes of keys plus values kept. Default 64 MiB. */
  maxBytes: number;
  /** Default time to live in milliseconds; 0 or absent = entries live until evicted. */
  ttlMs?: number;
}

export const DEFAULT_CACHE_SIZING: CacheSizing = { maxEntries: 100_000, maxBytes: 64 * 1024 * 1024 };

export function createDecisionCache(sizing: Partial<CacheSizing> = {}): DecisionCache {
  const s = { ...DEFAULT_CACHE_SIZING, ...sizing };
  if (RUST_AVAILABLE) return new NativeDecisionCache(s);
  warnNativeUnavailable();
  return new LruDecisionCache(s);
}
