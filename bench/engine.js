#!/usr/bin/env node
// `make bench-engine`: the engine alone. For each policy in envoy/policies/,
// an Envoy-shaped input (40 headers) is built once; the prepared decision
// is evaluated in native code N times per round (input parsed once) and the
// median ns per evaluation is printed. Also memory figures: resident
// memory added by loading large JSON data documents of three shapes, as a
// ratio to their size.
// Prints figures; asserts nothing.
'use strict';

const fs = require('node:fs');
const path = require('node:path');
const { spawnSync } = require('node:child_process');

const root = path.resolve(__dirname, '..');
const { createEngine } = require(path.join(root, 'dist/src/engine/native-engine.js'));
const { loadPolicyModules } = require(path.join(root, 'dist/src/config/policy-files.js'));
const { encodeCheckRequest, envoyRequest } = require(path.join(root, 'dist/test/differential/corpus.js'));
const { opt } = require('./common');

const COUNT = Number(opt('count', 20000));
const ROUNDS = Number(opt('rounds', 7));
const DATA_MB = Number(opt('data-mb', 50));

/** An Envoy-shaped request with 40 headers, as the input document the plugin builds. */
function requestWith40Headers(method, p, role) {
  const headers = { 'x-role': role, authorization: 'Bearer abc.def.ghi', 'content-type': 'application/json' };
  for (let i = 0; headers && Object.keys(headers).length < 34; i++) headers[`x-extra-header-${i}`] = `value-${i}-${'v'.repeat(i % 17)}`;
  const spec = envoyRequest(method, p, headers);
  return Buffer.from(encodeCheckRequest(spec));
}

const median = (xs) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];

function benchPolicy(file) {
  const engine = createEngine();
  const policy = engine.prepare(loadPolicyModules(file), {}, 'data.envoy.authz.allow');
  const cases = [
    ['GET /api/v1/items (viewer)', requestWith40Headers('GET', '/api/v1/items?page=2', 'viewer')],
    ['DELETE /api/v1/items/42 (editor)', requestWith40Headers('DELETE', '/api/v1/items/42', 'editor')],
    ['GET /admin/users (admin)', requestWith40Headers('GET', '/admin/users', 'admin')],
  ];
  const rows = [];
  for (const [name, bytes] of cases) {
    const input = policy.inputDocument(bytes, 3);
    const headerCount = Object.keys(input.attributes.request.http.headers).length;
    policy.benchNative(input, 2000);
    const rounds = Array.from({ length: ROUNDS }, () => policy.benchNative(input, COUNT) / COUNT);
    // The whole native Check (decode + input + eval + encode), for comparison.
    const t0 = process.hrtime.bigint();
    for (let i = 0; i < COUNT; i++) policy.checkBytes(bytes, 3, null);
    const checkNs = Number(process.hrtime.bigint() - t0) / COUNT;
    rows.push({ policy: path.basename(file), request: name, headers: headerCount, eval_ns_median: Math.round(median(rounds)), eval_ns_rounds: rounds.map(Math.round), full_check_ns: Math.round(checkNs) });
  }
  return rows;
}

/**
 * Shapes of data document, each DATA_MB of JSON under one top-level key:
 * `users` — records with ids, names, emails, roles (what the bar is measured on);
 * `bindings` — one large object from user id to role list;
 * `services` — nested records (objects three levels deep, an array of objects).
 */
const DATA_SHAPES = {
  users: (i) => ({ id: 'user-' + i, name: 'User Number ' + i, email: 'user' + i + '@example.com', roles: ['viewer', i % 3 ? 'editor' : 'admin'], active: i % 2 === 0, quota: i * 7, team: 'team-' + (i % 100) }),
  bindings: (i) => [`user-${i}`, ['viewer', i % 3 ? 'editor' : 'admin']],
  services: (i) => ({ name: 'svc-' + i, spec: { replicas: i % 5, labels: { app: 'a' + (i % 50), tier: 'web' }, ports: [{ port: 80 + (i % 3), protocol: 'TCP' }] }, owner: 'team-' + (i % 40) + '@example.com' }),
};

/** Writes a DATA_MB JSON data document of `shape` to a temp file. */
function writeDataFile(shape) {
  const file = path.join(require('node:os').tmpdir(), `sark-bench-data-${process.pid}-${shape}.json`);
  const fd = fs.openSync(file, 'w');
  const keyed = shape === 'bindings';
  fs.writeSync(fd, `{"${shape}":${keyed ? '{' : '['}`);
  const target = DATA_MB * 1024 * 1024;
  let size = 0;
  for (let i = 0; size < target; i++) {
    const item = DATA_SHAPES[shape](i);
    const s = (i ? ',' : '') + (keyed ? `${JSON.stringify(item[0])}:${JSON.stringify(item[1])}` : JSON.stringify(item));
    fs.writeSync(fd, s);
    size += s.length;
  }
  fs.writeSync(fd, keyed ? '}}' : ']}');
  fs.closeSync(fd);
  return file;
}

/**
 * Resident memory the engine adds for a data document, in a fresh process:
 * the JSON text is read into one string first (counted in the baseline), then
 * handed to the engine, which parses it natively; the text stays referenced
 * so only the engine's copy is measured.
 */
function memoryRatio(shape) {
  const file = writeDataFile(shape);
  const script = `
    const fs = require('node:fs');
    const { createEngine } = require(${JSON.stringify(path.join(root, 'dist/src/engine/native-engine.js'))});
    const text = fs.readFileSync(${JSON.stringify(file)}, 'utf8');
    const engine = createEngine();
    engine.compileJson([{ name: 'w.rego', source: 'package w\\nn := 1\\n' }], '{}', {});
    global.gc(); global.gc();
    const before = process.memoryUsage().rss;
    const compiled = engine.compileJson([{ name: 'p.rego', source: 'package p\\nn := count(data.${shape})\\n' }], text, {});
    const n = compiled.prepare('data.p.n').evaluate({}).value;
    global.gc(); global.gc();
    const after = process.memoryUsage().rss;
    console.log(JSON.stringify({ bytes: Buffer.byteLength(text), items: n, rss_added: after - before }));
  `;
  const runs = [];
  for (let i = 0; i < 3; i++) {
    const r = spawnSync(process.execPath, ['--expose-gc', '-e', script], { encoding: 'utf8', maxBuffer: 1 << 20 });
    if (r.status !== 0) {
      fs.rmSync(file, { force: true });
      return { error: r.stderr.trim().split('\n').pop() };
    }
    runs.push(JSON.parse(r.stdout.trim().split('\n').pop()));
  }
  fs.rmSync(file, { force: true });
  runs.sort((a, b) => a.rss_added - b.rss_added);
  const m = runs[1];
  return { ...m, ratio: +(m.rss_added / m.bytes).toFixed(2), ratios: runs.map((r) => +(r.rss_added / r.bytes).toFixed(2)) };
}

const policies = fs.readdirSync(path.join(root, 'envoy/policies')).filter((f) => f.endsWith('.rego')).map((f) => path.join(root, 'envoy/policies', f));
console.log(`engine benchmark: ${COUNT} evaluations × ${ROUNDS} rounds per case, median ns per evaluation (input parsed once)\n`);
console.log(`${'policy'.padEnd(14)} ${'request'.padEnd(34)} ${'hdrs'.padStart(4)} ${'eval ns'.padStart(8)} ${'full Check ns'.padStart(14)}`);
for (const file of policies) {
  let rows;
  try {
    rows = benchPolicy(file);
  } catch (err) {
    console.log(`${path.basename(file).padEnd(14)} skipped: ${err.code || ''} ${err.message}`);
    continue;
  }
  for (const r of rows) console.log(`${r.policy.padEnd(14)} ${r.request.padEnd(34)} ${String(r.headers).padStart(4)} ${String(r.eval_ns_median).padStart(8)} ${String(r.full_check_ns).padStart(14)}`);
}
/** The decision cache alone: a hit through the JS surface, and the native Check with and without a hit. */
function cacheFigures() {
  const { RustCache } = require(path.join(root, 'dist/src/native/index.js'));
  const { NativeDecisionCache } = require(path.join(root, 'dist/src/cache/native-cache.js'));
  const cache = new RustCache(100000, 64 << 20, 0, 16);
  const keys = Array.from({ length: 1000 }, (_, i) => `rev-7|GET|/api/v1/items/${i}|viewer|10.0.0.${i % 250}`);
  for (const k of keys) cache.set(k, 'x'.repeat(120));
  const N = COUNT * 5;
  let t0 = process.hrtime.bigint();
  for (let i = 0; i < N; i++) cache.get(keys[i % keys.length]);
  const getNs = Number(process.hrtime.bigint() - t0) / N;

  const policy = createEngine().prepare(loadPolicyModules(path.join(root, 'envoy/policies/example.rego')), {}, 'data.envoy.authz.allow');
  const bytes = requestWith40Headers('GET', '/api/v1/items?page=2', 'viewer');
  const dc = new NativeDecisionCache({ maxEntries: 1000, maxBytes: 1 << 20 });
  const time = (c) => {
    for (let i = 0; i < 1000; i++) policy.checkBytes(bytes, 3, c);
    const s = process.hrtime.bigint();
    for (let i = 0; i < COUNT; i++) policy.checkBytes(bytes, 3, c);
    return Number(process.hrtime.bigint() - s) / COUNT;
  };
  const miss = time(null);
  const hit = time(dc.native);
  return { getNs, miss, hit, hitRate: dc.stats().hits / (dc.stats().hits + dc.stats().misses) };
}

const c = cacheFigures();
console.log(`\ndecision cache (native):`);
console.log(`  RustCache.get hit from JavaScript: ${c.getNs.toFixed(0)} ns (120-byte value, 1000 keys)`);
console.log(`  full native Check, example policy, 40 headers: ${c.miss.toFixed(0)} ns uncached, ${c.hit.toFixed(0)} ns on a cache hit (hit rate ${(100 * c.hitRate).toFixed(1)}%)`);

console.log(`\nmemory: resident memory added by a ${DATA_MB} MB JSON data document, as a multiple of its size (median of 3 fresh processes)`);
for (const shape of Object.keys(DATA_SHAPES)) {
  const mem = memoryRatio(shape);
  console.log(mem.error ? `  ${shape}: failed: ${mem.error}` : `  ${shape.padEnd(9)} ${(mem.bytes / 1048576).toFixed(1)} MB, ${mem.items} items → ${(mem.rss_added / 1048576).toFixed(1)} MB resident: ${mem.ratio}× (${mem.ratios.join(', ')})`);
}
