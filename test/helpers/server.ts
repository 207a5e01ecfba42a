/** Starts the real server (real engine, real policy) on a free loopback port. */
import * as path from 'node:path';
import pino from 'pino';
import { decisionRef } from '../../src/config/decision-path';
import { loadData, loadPolicyModules } from '../../src/config/policy-files';
import { createEngine } from '../../src/engine/native-engine';
import { WasmEngine } from '../../src/engine/wasm-engine';
import { LruDecisionCache } from '../../src/cache/lru-fallback';
import { createDecisionCache } from '../../src/cache/create-cache';
import { createAuthzServer, type AuthzServer, type CheckObserver, type HotPath } from '../../src/server/server';

/** The repository root (dist/test/helpers → ../../..). */
export const ROOT = path.resolve(__dirname, '..', '..', '..');
export const FIXTURES = path.join(ROOT, 'test', 'fixtures');

export interface Running {
  addr: string;
  server: AuthzServer;
  close(): Promise<void>;
}

/** How a test server decides: which engine and hot path, with or without the decision cache. */
export interface ServerMode {
  name: string;
  hotPath: HotPath;
  cache: boolean;
  /** `wasm`: the engine compiled to wasm32, with the lru-cache, as serve runs without the addon. Default native. */
  engine?: 'native' | 'wasm';
}

/** Every way the server can answer; end-to-end suites run once per mode. */
export const SERVER_MODES: ServerMode[] = [
  { name: 'native hot path', hotPath: 'native', cache: false },
  { name: 'native hot path + decision cache', hotPath: 'native', cache: true },
  { name: 'TypeScript path', hotPath: 'js', cache: false },
  { name: 'wasm engine (no addon)', hotPath: 'native', cache: false, engine: 'wasm' },
  { name: 'wasm engine + lru-cache (no addon)', hotPath: 'native', cache: true, engine: 'wasm' },
];

export async function startServer(
  policy: string,
  decisionPath = 'envoy/authz/allow',
  dataFile?: string,
  mode: ServerMode = SERVER_MODES[0],
  observer?: CheckObserver,
): Promise<Running> {
  const wasm = mode.engine === 'wasm';
  // An observer (a decision logger) gets the input and result each answer was decided on.
  const prepared = (wasm ? new WasmEngine() : createEngine()).prepare(loadPolicyModules(policy), loadData(dataFile), decisionRef(decisionPath), { recordDecision: observer !== undefined });
  const cache = !mode.cache ? null : wasm ? new LruDecisionCache({ maxEntries: 1000, maxBytes: 64 * 1024 * 1024 }) : createDecisionCache({ maxEntries: 1000 });
  const server = createAuthzServer({
    policy: prepared,
    addr: '127.0.0.1:0',
    logger: pino({ level: 'silent' }),
    hotPath: mode.hotPath,
    cache,
    observer,
  });
  const addr = await server.listen();
  return { addr, server, close: () => server.close(1000) };
}
