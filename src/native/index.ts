/**
 * The only code that loads the native addon. Exports `RUST_AVAILABLE`,
 * `RustOPAEngine` and `RustCache` with explicit types. When the addon cannot
 * be loaded (or `SARK_NATIVE=0`), `RUST_AVAILABLE` is false and
 * `NATIVE_LOAD_ERROR` says why: the platform, every path tried and each
 * underlying error. Callers choose their fallback.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import type * as Addon from '../../native/binding/index';

export type RustOPAEngineClass = typeof Addon.RustOPAEngine;
export type RustOPAEngineInstance = Addon.RustOPAEngine;
export type RustCacheClass = typeof Addon.RustCache;
export type RustCacheInstance = Addon.RustCache;
export type CheckPoolClass = typeof Addon.CheckPool;
export type CheckPoolInstance = Addon.CheckPool;
export type CheckCancelClass = typeof Addon.CheckCancel;
export type NativeAddon = typeof Addon;

/** Node's platform and arch as napi-rs names artifacts: `linux-x64-gnu`. */
export function platformTriple(): string {
  const { platform, arch } = process;
  if (platform !== 'linux') return `${platform}-${arch}`;
  const glibc = (process.report?.getReport() as { header?: { glibcVersionRuntime?: string } } | undefined)?.header?.glibcVersionRuntime;
  return `${platform}-${arch}-${glibc ? 'gnu' : 'musl'}`;
}

/** Where the addon may be: `SARK_NATIVE_PATH`, then the build output. */
export function candidatePaths(): string[] {
  const root = path.resolve(__dirname, '..', '..', '..');
  const file = `sark-authz.${platformTriple()}.node`;
  const paths = [path.join(root, 'native', 'binding', file)];
  const override = process.env.SARK_NATIVE_PATH;
  return override ? [override, ...paths] : paths;
}

interface LoadResult {
  addon?: NativeAddon;
  error?: string;
}

function load(): LoadResult {
  if (process.env.SARK_NATIVE === '0') {
    return { error: `native addon disabled by SARK_NATIVE=0 (platform ${platformTriple()})` };
  }
  const failures: string[] = [];
  for (const p of candidatePaths()) {
    if (!fs.existsSync(p)) {
      failures.push(`${p}: not found`);
      continue;
    }
    try {
      // eslint-disable-next-line @typescript-eslint/no-require-imports
      return { addon: require(p) as NativeAddon };
    } catch (err) {
      failures.push(`${p}: ${(err as Error).message}`);
    }
  }
  return {
    error: `native addon not loadable for platform ${platformTriple()} (build it with \`make native\`, or set SARK_NATIVE_PATH); tried: ${failures.join('; ')}`,
  };
}

const loaded = load();

export const RUST_AVAILABLE: boolean = loaded.addon !== undefined;
/** Why the addon is not available; undefined when it is. */
export const NATIVE_LOAD_ERROR: string | undefined = loaded.error;
export const RustOPAEngine: RustOPAEngineClass | undefined = loaded.addon?.RustOPAEngine;
export const RustCache: RustCacheClass | undefined = loaded.addon?.RustCache;
export const CheckPool: CheckPoolClass | undefined = loaded.addon?.CheckPool;
export const CheckCancel: CheckCancelClass | undefined = loaded.addon?.CheckCancel;
/** The whole addon (version, capabilities, conformance runner), when loaded. */
export const nativeAddon: NativeAddon | undefined = loaded.addon;

let warned = false;
/** Logs the load failure once (to the given sink, stderr by default). */
export function warnNativeUnavailable(log: (msg: string) => void = (m) => process.stderr.write(`${m}\n`)): void {
  if (RUST_AVAILABLE || warned) return;
  warned = true;
  log(`sark-authz: ${NATIVE_LOAD_ERROR}; falling back to the wasm engine and the lru-cache`);
}
