/** Starts the real server (real engine, real policy) on a free loopback port. */
import * as path from 'node:path';
import pino from 'pino';
import { decisionRef, loadData, loadPolicyModules } from '../../src/config/policy-files';
import { createEngine } from '../../src/engine/native-engine';
import { createAuthzServer, type AuthzServer } from '../../src/server/server';

/** The repository root (dist/test/helpers → ../../..). */
export const ROOT = path.resolve(__dirname, '..', '..', '..');
export const FIXTURES = path.join(ROOT, 'test', 'fixtures');

export interface Running {
  addr: string;
  server: AuthzServer;
  close(): Promise<void>;
}

export async function startServer(policy: string, decisionPath = 'envoy/authz/allow', dataFile?: string): Promise<Running> {
  const prepared = createEngine().prepare(loadPolicyModules(policy), loadData(dataFile), decisionRef(decisionPath));
  const server = createAuthzServer({ policy: prepared, addr: '127.0.0.1:0', logger: pino({ level: 'silent' }) });
  const addr = await server.listen();
  return { addr, server, close: () => server.close(1000) };
}
