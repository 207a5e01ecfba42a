#!/usr/bin/env node
// The cost of the wasm engine's worker threads (docs/limits.md, Isolation): the first
// offloaded Check of a worker (start, policy compile) against later ones, and RSS with
// one and four workers. Needs `npx tsc` (dist/) and native/wasm/sark-engine.wasm.
// usage: node scripts/measure-wasm-workers.js
'use strict';
const path = require('node:path');
const root = path.resolve(__dirname, '..');
const { WasmEngine } = require(path.join(root, 'dist/src/engine/wasm-engine'));
const { WasmCheckPool } = require(path.join(root, 'dist/src/engine/wasm-pool'));
const { loadPolicyModules } = require(path.join(root, 'dist/src/config/policy-files'));
const { envoyCheckRequest } = require(path.join(root, 'dist/test/helpers/envoy-request'));
const { CheckRequest } = require(path.join(root, 'dist/src/gen/envoy/service/auth/v3/external_auth'));
const enc = (h) => Buffer.from(CheckRequest.encode(envoyCheckRequest({ path: '/x', headers: h })).finish());
(async () => {
  const p = new WasmEngine().prepare(loadPolicyModules(path.join(root, 'test/fixtures/policies/hazards.rego')), {}, 'data.envoy.authz.allow', {});
  const req = enc({ 'x-hazard': 'comprehension', 'x-n': '150' });
  const pool = new WasmCheckPool(4);
  global.gc?.();
  const rss0 = process.memoryUsage().rss;
  let t = process.hrtime.bigint();
  p.checkView(req, 3, null, 0);
  const inlineMs = Number(process.hrtime.bigint() - t) / 1e6;
  t = process.hrtime.bigint();
  await p.checkOffloaded(req, 3, null, 0, pool);
  const firstMs = Number(process.hrtime.bigint() - t) / 1e6;
  const times = [];
  for (let i = 0; i < 5; i++) { t = process.hrtime.bigint(); await p.checkOffloaded(req, 3, null, 0, pool); times.push(Number(process.hrtime.bigint() - t) / 1e6); }
  const rss1 = process.memoryUsage().rss;
  t = process.hrtime.bigint();
  await Promise.all([1, 2, 3, 4].map(() => p.checkOffloaded(req, 3, null, 0, pool)));
  const four = Number(process.hrtime.bigint() - t) / 1e6;
  const rss4 = process.memoryUsage().rss;
  console.log(JSON.stringify({ inlineMs: inlineMs.toFixed(1), firstOffloadedMs: firstMs.toFixed(1), laterOffloadedMs: times.map((x) => x.toFixed(1)), fourConcurrentMs: four.toFixed(1), rssBeforeMB: (rss0 / 1e6).toFixed(1), rssOneWorkerMB: (rss1 / 1e6).toFixed(1), rssFourWorkersMB: (rss4 / 1e6).toFixed(1), workers: pool.workers }));
  pool.close();
})();
