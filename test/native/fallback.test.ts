/**
 * Without the native addon (SARK_NATIVE=0): the loader says why, the cache
 * runs on lru-cache, and `serve` stops with the documented message.
 */
import { expect } from 'chai';
import { spawnSync } from 'node:child_process';
import * as path from 'node:path';
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

  it('makes serve stop with the documented message and exit code 1', () => {
    const r = spawnSync(process.execPath, ['bin/sark-authz.js', 'serve', '--policy', path.join('envoy', 'policies', 'example.rego'), '--addr', '127.0.0.1:0'], {
      cwd: ROOT,
      env,
      encoding: 'utf8',
      timeout: 20000,
    });
    expect(r.status).to.equal(1);
    expect(r.stderr).to.match(/native_unavailable: native addon disabled by SARK_NATIVE=0/);
  });
});
