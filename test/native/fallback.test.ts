/**
 * Without the native addon (SARK_NATIVE=0): the loader says why, the cache
 * runs on lru-cache, and `serve` answers with the engine compiled to wasm32.
 */
import { expect } from 'chai';
import { spawn, spawnSync } from 'node:child_process';
import * as path from 'node:path';
import { envoyCheckRequest } from '../helpers/envoy-request';
import { checkV3, v3Client } from '../helpers/grpc-client';
import { ROOT } from '../helpers/server';

const env = { ...process.env, SARK_NATIVE: '0' };

function nodeEval(code: string) {
  return spawnSync(process.execPath, ['-e', code], { cwd: ROOT, env, encoding: 'utf8', timeout: 20000 });
}

describe('native: fallback with SARK_NATIVE=0', function () {
  this.timeout(30000);

  it('reports the addon unavailable, with the reason', () => {
    const r = nodeEval(`const n = require('./dist/src/native'); console.log(JSON.stringify({ ok: n.RUST_AVAILABLE, why: n.NATIVE_LOAD_ERROR, engine: n.RustOPAEngine === undefined }))`);
    const out = JSON.parse(r.stdout) as { ok: boolean; why: string; engine: boolean };
    expect(out.ok).to.equal(false);
    expect(out.engine).to.equal(true);
    expect(out.why).to.contain('SARK_NATIVE=0').and.to.match(/platform linux-/);
  });

  it('runs the decision cache on lru-cache with the same bounds', () => {
    const r = nodeEval(`
      const { createDecisionCache } = require('./dist/src/cache/create-cache');
      const c = createDecisionCache({ maxEntries: 2 });
      c.set('a', '1'); c.set('b', '2'); c.get('a'); c.set('c', '3');
      console.log(JSON.stringify({ kind: c.kind, a: c.get('a'), b: c.get('b') ?? null, size: c.size, stats: c.stats() }));`);
    const out = JSON.parse(r.stdout.trim().split('\n').pop()!) as { kind: string; a: string; b: null; size: number; stats: { evictions: number } };
    expect(out).to.include({ kind: 'lru-cache', a: '1', b: null, size: 2 });
    expect(out.stats.evictions).to.equal(1);
    expect(r.stderr).to.contain('native addon disabled by SARK_NATIVE=0');
  });

  it('serves with the wasm engine and the lru-cache: answers as natively, says why once, logs the engine', async () => {
    const child = spawn(process.execPath, ['bin/sark-authz.js', 'serve', '--policy', path.join('envoy', 'policies', 'example.rego'), '--addr', '127.0.0.1:0'], { cwd: ROOT, env, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stderr.on('data', (d) => (stderr += d));
    const exited = new Promise<number | null>((resolve) => child.on('close', resolve));
    try {
      const serving = await new Promise<{ addr: string; engine: string; cache: string }>((resolve, reject) => {
        const timer = setTimeout(() => reject(new Error(`serve did not start: ${stderr}`)), 20000);
        child.on('close', () => reject(new Error(`serve exited: ${stderr}`)));
        child.stdout.on('data', (d) => {
          stdout += d;
          for (const line of stdout.split('\n')) {
            if (!line.startsWith('{')) continue;
            const rec = JSON.parse(line) as { msg?: string; addr: string; engine: string; cache: string };
            if (rec.msg === 'serving') {
              clearTimeout(timer);
              resolve(rec);
            }
          }
        });
      });
      expect(serving).to.include({ engine: 'wasm', cache: 'lru-cache' });
      const client = v3Client(serving.addr);
      try {
        for (let round = 0; round < 2; round++) {
          const allowed = await checkV3(client, envoyCheckRequest({ method: 'GET', path: '/api/v1/items', headers: { 'x-role': 'viewer' } }));
          expect(allowed.status?.code).to.equal(0);
          const denied = await checkV3(client, envoyCheckRequest({ method: 'DELETE', path: '/api/v1/items/42', headers: { 'x-role': 'editor' } }));
          expect(denied.status?.code).to.equal(7);
        }
      } finally {
        client.close();
      }
      expect(stderr.match(/native addon disabled by SARK_NATIVE=0/g) ?? []).to.have.length(1);
      expect(stderr).to.contain('falling back to the wasm engine and the lru-cache');
    } finally {
      child.kill('SIGTERM');
      await exited;
    }
  });
});
