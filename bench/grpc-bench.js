#!/usr/bin/env node
// `make bench`: drives the real server with h2load using Envoy-shaped
// CheckRequests and prints, side by side in one run, requests/s and p50/p99
// latency for each server mode, plus the ratios the issues ask for:
//   ceiling  — transport ceiling: a precomputed OK, the request is not read
//   native   — the native hot path (Rust decodes, evaluates, encodes)
//   js       — the JavaScript path (ts-proto decode, JS input mapping, engine via JSON)
//   cached   — the native hot path with the decision cache on
// Server and load generator are pinned to separate cores. gRPC statuses are
// counted server-side (h2load counts HTTP status only) from /metrics.
'use strict';

const { spawn, spawnSync } = require('node:child_process');
const fs = require('node:fs');
const os = require('node:os');
const path = require('node:path');
const net = require('node:net');

const root = path.resolve(__dirname, '..');
const args = process.argv.slice(2);
const opt = (name, dflt) => {
  const i = args.indexOf(`--${name}`);
  return i >= 0 ? args[i + 1] : dflt;
};
const REQUESTS = Number(opt('requests', 30000));
const CLIENTS = Number(opt('clients', 8));
const STREAMS = Number(opt('streams', 16));
const ROUNDS = Number(opt('rounds', 3));
const POLICY = opt('policy', 'envoy/policies/example.rego');
const MODES = opt('modes', 'ceiling,native,js,cached').split(',');

const { encodeCheckRequest, envoyRequest } = require(path.join(root, 'dist/test/differential/corpus.js'));

function freePort() {
  return new Promise((resolve, reject) => {
    const s = net.createServer();
    s.listen(0, '127.0.0.1', () => {
      const { port } = s.address();
      s.close(() => resolve(port));
    });
    s.on('error', reject);
  });
}

/** The gRPC length-prefixed frame of one CheckRequest, as h2load's request body. */
function requestFile(dir) {
  const spec = envoyRequest('GET', '/api/v1/items?page=2', { 'x-role': 'viewer', authorization: 'Bearer abc' });
  const msg = Buffer.from(encodeCheckRequest(spec));
  const frame = Buffer.alloc(5 + msg.length);
  frame.writeUInt8(0, 0);
  frame.writeUInt32BE(msg.length, 1);
  msg.copy(frame, 5);
  const file = path.join(dir, 'check-request.bin');
  fs.writeFileSync(file, frame);
  return file;
}

async function waitForPort(port, ms = 15000) {
  const end = Date.now() + ms;
  while (Date.now() < end) {
    const ok = await new Promise((res) => {
      const c = net.connect(port, '127.0.0.1', () => { c.end(); res(true); });
      c.on('error', () => res(false));
    });
    if (ok) return;
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error(`server did not listen on ${port}`);
}

function modeFlags(mode) {
  switch (mode) {
    case 'ceiling': return ['--transport-ceiling'];
    case 'native': return ['--hot-path', 'native', '--no-cache'];
    case 'js': return ['--hot-path', 'js', '--no-cache'];
    case 'cached': return ['--hot-path', 'native'];
    default: throw new Error(`unknown mode ${mode}`);
  }
}

async function scrapeGrpcCodes(metricsPort) {
  try {
    const text = await (await fetch(`http://127.0.0.1:${metricsPort}/metrics`)).text();
    const counts = {};
    for (const line of text.split('\n')) {
      const m = line.match(/^sark_authz_requests_total\{([^}]*)\}\s+([0-9.e+]+)/);
      if (!m) continue;
      const code = (m[1].match(/grpc_code="([^"]*)"/) || [])[1] || '?';
      counts[code] = (counts[code] || 0) + Number(m[2]);
    }
    return counts;
  } catch {
    return null;
  }
}

function percentile(sorted, p) {
  if (sorted.length === 0) return NaN;
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))];
}

// Metrics (server-side gRPC status counts) only when the server has them.
const HAS_METRICS = /--metrics-addr/.test(spawnSync(process.execPath, ['bin/sark-authz.js', 'serve', '--help'], { cwd: root, encoding: 'utf8' }).stdout || '');

async function runMode(mode, reqFile, dir) {
  const port = await freePort();
  const metricsPort = await freePort();
  const server = spawn('taskset', ['-c', '1', process.execPath, 'bin/sark-authz.js', 'serve', '--policy', POLICY,
    '--addr', `127.0.0.1:${port}`, ...(HAS_METRICS ? ['--metrics-addr', `127.0.0.1:${metricsPort}`] : []), '--log-level', 'error', ...modeFlags(mode)],
    { cwd: root, stdio: ['ignore', 'ignore', 'pipe'] });
  let stderr = '';
  server.stderr.on('data', (d) => { stderr += d; });
  try {
    await waitForPort(port);
    const rounds = [];
    for (let r = 0; r < ROUNDS + 1; r++) {
      const log = path.join(dir, `${mode}-${r}.tsv`);
      const res = spawnSync('taskset', ['-c', '0', 'h2load', '-n', String(REQUESTS), '-c', String(CLIENTS), '-m', String(STREAMS), '-t', '1',
        '-d', reqFile, '-H', 'content-type: application/grpc', '-H', 'te: trailers', `--log-file=${log}`,
        `http://127.0.0.1:${port}/envoy.service.auth.v3.Authorization/Check`], { encoding: 'utf8' });
      if (res.status !== 0) throw new Error(`h2load failed: ${res.stderr || res.stdout}`);
      if (r === 0) continue; // warm-up round
      const rps = Number((res.stdout.match(/finished in [^,]+, ([0-9.]+) req\/s/) || [])[1]);
      const lat = fs.readFileSync(log, 'utf8').trim().split('\n').map((l) => Number(l.split('\t')[2])).sort((a, b) => a - b);
      rounds.push({ rps, p50: percentile(lat, 50), p99: percentile(lat, 99) });
    }
    const codes = HAS_METRICS ? await scrapeGrpcCodes(metricsPort) : null;
    const med = (k) => rounds.map((x) => x[k]).sort((a, b) => a - b)[Math.floor(rounds.length / 2)];
    return { mode, rps: med('rps'), p50: med('p50'), p99: med('p99'), codes };
  } finally {
    server.kill('SIGTERM');
    await new Promise((r) => server.once('exit', r));
    if (stderr.trim()) process.stderr.write(`[${mode}] ${stderr.trim().slice(0, 2000)}\n`);
  }
}

(async () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'sark-bench-'));
  const reqFile = requestFile(dir);
  console.log(`machine: ${os.cpus().length} × ${os.cpus()[0].model}, node ${process.version}`);
  console.log(`load: h2load -n ${REQUESTS} -c ${CLIENTS} -m ${STREAMS} on core 0; server on core 1; median of ${ROUNDS} rounds after a warm-up`);
  const results = {};
  for (const mode of MODES) results[mode] = await runMode(mode, reqFile, dir);
  console.log('\nmode      req/s      p50 µs   p99 µs   gRPC codes (server-side)');
  for (const r of Object.values(results)) {
    console.log(`${r.mode.padEnd(9)} ${r.rps.toFixed(0).padStart(8)} ${String(r.p50).padStart(8)} ${String(r.p99).padStart(8)}   ${r.codes ? JSON.stringify(r.codes) : 'n/a'}`);
  }
  const ratio = (a, b) => (results[a] && results[b] ? (results[a].rps / results[b].rps).toFixed(2) : 'n/a');
  console.log(`\nnative/ceiling (b/a) = ${ratio('native', 'ceiling')}   native/js (b/c) = ${ratio('native', 'js')}   cached/ceiling = ${ratio('cached', 'ceiling')}`);
  fs.rmSync(dir, { recursive: true, force: true });
})().catch((e) => {
  console.error(e.stack || String(e));
  process.exit(1);
});
