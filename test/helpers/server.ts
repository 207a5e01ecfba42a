/** Starts the real server (real engine, real policy) on a free loopback port. */
import * as path from 'node:path';
import pino from 'pino';
import { decisionRef } from '../../src/config/decision-path';
import { loadData, loadPolicyModules } from '../../src/config/policy-files';
import { createEngine } from '../../src/engine/native-engine';
import { WasmEngine } from '../../src/engine/wasm-engine';
import { LruDecisionCache } from '../../src/cache/lru-fallback';
import { createDecisionCache } from '../../src/cache/create-cache';
import { createAuthzServer, type AuthzServer, type CheckObserver } from '../../src/server/server';

/** The repository root (dist/test/helpers → ../../..). */
export const ROOT = path.resolve(__dirname, '..', '..', '..');
export const FIXTURES = path.join(ROOT, 'test', 'fixtures');

export interface Running {
  addr: string;
  server: AuthzServer;
  close(): Promise<void>;
}

/** How a test server decides: which engine, with or without the decision cache. */
export interface ServerMode {
  name: string;
  cache: boolean;
  /** `wasm`: the engine compiled to wasm32, with the lru-cache, as serve runs without the addon. Default native. */
  engine?: 'native' | 'wasm';
}

/** Every way the server can answer; end-to-end suites run once per mode. */
export const SERVER_MODES: ServerMode[] = [
  { name: 'native engine', cache: false },
  { name: 'native engine + decision cache', cache: true },
  { name: 'wasm engine (no addon)', cache: false, engine: 'wasm' },
  { name: 'wasm engine + lru-cache (no addon)', cache: true, engine: 'wasm' },
];

/** The engine of `mode`: the addon's, or the same engine in WebAssembly. */
export function engineFor(mode: ServerMode) {
  return mode.engine === 'wasm' ? new WasmEngine() : createEngine();
}

/** The decision cache of `mode`, if any: the native one, or lru-cache as serve runs it without the addon. */
export function cacheFor(mode: ServerMode, maxEntries = 1000) {
  if (!mode.cache) return null;
  return mode.engine === 'wasm' ? new LruDecisionCache({ maxEntries, maxBytes: 64 * 1024 * 1024 }) : createDecisionCache({ maxEntries });
}

/** `serve`'s environment for an engine: SARK_NATIVE=0 keeps the addon out. */
export const ENGINE_ENV: Record<'native' | 'wasm', NodeJS.ProcessEnv> = { native: {}, wasm: { SARK_NATIVE: '0' } };

export async function startServer(
  policy: string,
  decisionPath = 'envoy/authz/allow',
  dataFile?: string,
  mode: ServerMode = SERVER_MODES[0],
  observer?: CheckObserver,
): Promise<Running> {
  // An observer (a decision logger) gets the input and result each answer was decided on.
  const prepared = engineFor(mode).prepare(loadPolicyModules(policy), loadData(dataFile), decisionRef(decisionPath), { recordDecision: observer !== undefined });
  const cache = cacheFor(mode);
  const server = createAuthzServer({
    policy: prepared,
    addr: '127.0.0.1:0',
    logger: pino({ level: 'silent' }),
    cache,
    observer,
  });
  const addr = await server.listen();
  return { addr, server, close: () => server.close(1000) };
}
