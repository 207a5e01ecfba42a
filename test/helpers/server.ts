/** Starts the real server (real engine, real policy) on a free loopback port. */
import * as path from 'node:path';
import pino from 'pino';
import { decisionRef } from '../../src/config/decision-path';
import { loadData, loadPolicyModules } from '../../src/config/policy-files';
import { createEngine } from '../../src/engine/native-engine';
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

/** How a test server decides: which hot path, with or without the decision cache. */
export interface ServerMode {
  name: string;
  hotPath: HotPath;
  cache: boolean;
}

/** Every way the server can answer; end-to-end suites run once per mode. */
export const SERVER_MODES: ServerMode[] = [
  { name: 'native hot path', hotPath: 'native', cache: false },
  { name: 'native hot path + decision cache', hotPath: 'native', cache: true },
  { name: 'TypeScript path', hotPath: 'js', cache: false },
];

export async function startServer(
  policy: string,
  decisionPath = 'envoy/authz/allow',
  dataFile?: string,
  mode: ServerMode = SERVER_MODES[0],
  observer?: CheckObserver,
): Promise<Running> {
  const prepared = createEngine().prepare(loadPolicyModules(policy), loadData(dataFile), decisionRef(decisionPath));
  const server = createAuthzServer({
    policy: prepared,
    addr: '127.0.0.1:0',
    logger: pino({ level: 'silent' }),
    hotPath: mode.hotPath,
    cache: mode.cache ? createDecisionCache({ maxEntries: 1000 }) : null,
    observer,
  });
  const addr = await server.listen();
  return { addr, server, close: () => server.close(1000) };
}
