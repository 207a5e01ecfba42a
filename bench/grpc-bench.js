#!/usr/bin/env node
// `make bench`: drives the real server with h2load using Envoy-shaped
// CheckRequests and prints, side by side in one run, requests/s and p50/p99
// latency for each server mode, plus the ratios the issues ask for:
//   ceiling  — transport ceiling: a precomputed OK, the request is not read
//   native   — the addon's Check (Rust decodes, evaluates, encodes)
//   portable — the same Check in our wasm engine (SARK_NATIVE=0)
//   opa-wasm — an OPA-compiled policy in @open-policy-agent/opa-wasm with a
//              JavaScript Envoy mapping: what a Node user would run instead
//   cached   — the addon's Check with the decision cache on
// (bench/common.js starts each.)
// Server and load generator are pinned to separate cores. gRPC statuses are
// counted server-side (h2load counts HTTP status only) from /metrics.
//
// The machine this runs on is shared and noisy: a neighbour busy for a minute
// used to land entirely on whichever mode was running then, and skewed the
// ratios between modes (b/a 0.77 with all four modes, 0.86 with two). So all
// mode servers are started once, up front, and the rounds are interleaved:
// round r runs every mode once, in an order rotated by r, and each ratio is
// taken within one round (the same minute of noise) before the median over
// rounds is reported. With a round count that is a multiple of the number of
// modes (`make bench`: 12 rounds, 4 modes), every mode runs in every position
// of a round equally often.
'use strict';

const { spawn, spawnSync } = require('node:child_process');
const fs = require('node:fs');
const os = require('node:os');
const path = require('node:path');

const root = path.resolve(__dirname, '..');
const { opt, freePort, requestFile, waitForPort, modeServer } = require('./common');
const { AuthorizationClient, CheckRequest } = require(path.join(root, 'dist/src/gen/envoy/service/auth/v3/external_auth.js'));
const grpc = require('@grpc/grpc-js');
const REQUESTS = Number(opt('requests', 30000));
const CLIENTS = Number(opt('clients', 8));
const STREAMS = Number(opt('streams', 16));
const ROUNDS = Number(opt('rounds', 3));
const POLICY = opt('policy', 'envoy/policies/example.rego');
const MODES = opt('modes', 'ceiling,native,portable,opa-wasm,cached').split(',');
// Pause between two h2load runs: the previous server's background GC threads
// (pinned to the same core as the next server) finish sweeping here instead of
// inside the next mode's measurement.
const SETTLE_MS = Number(opt('settle-ms', 300));

// The ratios the issues ask for, each taken within one round.
const RATIOS = [
  { name: 'native/ceiling (b/a)', num: 'native', den: 'ceiling', bar: 0.8 },
  { name: 'native/opa-wasm', num: 'native', den: 'opa-wasm', bar: 2.3 },
  { name: 'portable/native', num: 'portable', den: 'native', bar: 0.5 },
  { name: 'cached/ceiling', num: 'cached', den: 'ceiling', bar: 0.9 },
].filter((x) => MODES.includes(x.num) && MODES.includes(x.den));


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

/** Median; the mean of the two middle values for an even count, so no side is favoured. */
function median(values) {
  const s = [...values].sort((a, b) => a - b);
  if (s.length === 0) return NaN;
  const m = Math.floor(s.length / 2);
  return s.length % 2 ? s[m] : (s[m - 1] + s[m]) / 2;
}

// Metrics (server-side gRPC status counts) only when the server has them.
const HAS_METRICS = /--metrics-addr/.test(spawnSync(process.execPath, ['bin/sark-authz.js', 'serve', '--help'], { cwd: root, encoding: 'utf8' }).stdout || '');

// Every child still running, so that an error or a signal can end them all.
const servers = [];
let loadGen = null;
const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'sark-bench-'));

async function startServer(mode) {
  const port = await freePort();
  const metricsPort = await freePort();
  const how = modeServer(mode);
  const common = ['--policy', POLICY, '--addr', `127.0.0.1:${port}`];
  // Metrics (server-side gRPC codes) from sark-authz's servers; the opa-wasm server has none.
  const ours = how.args[0] === 'bin/sark-authz.js';
  if (ours) common.push(...(HAS_METRICS ? ['--metrics-addr', `127.0.0.1:${metricsPort}`] : []), '--log-level', 'error');
  // taskset execs node, so this pid is the server's own and a signal reaches it.
  const proc = spawn('taskset', ['-c', '1', process.execPath, ...how.args, ...common],
    { cwd: root, stdio: ['ignore', 'ignore', 'pipe'], env: { ...process.env, ...how.env } });
  const server = { mode, port, metricsPort, proc, stderr: '' };
  servers.push(server);
  proc.stderr.on('data', (d) => { server.stderr += d; });
  await waitForPort(port, proc);
  return server;
}

async function stopServers() {
  await Promise.all(servers.splice(0).map(async (s) => {
    if (s.proc.exitCode === null && s.proc.signalCode === null) {
      const exited = new Promise((r) => s.proc.once('exit', r));
      s.proc.kill('SIGTERM');
      // The server drains for up to --shutdown-grace (5 s); don't wait forever.
      const force = setTimeout(() => s.proc.kill('SIGKILL'), 7000);
      await exited;
      clearTimeout(force);
    }
    if (s.stderr.trim()) process.stderr.write(`[${s.mode}] ${s.stderr.trim().slice(0, 2000)}\n`);
  }));
}

// Clock ticks per second of /proc/PID/stat's utime and stime (USER_HZ; 100 on Linux).
const CLK_TCK = Number(spawnSync('getconf', ['CLK_TCK'], { encoding: 'utf8' }).stdout) || 100;

/** CPU seconds (user + system) a process has used so far; NaN when unreadable. */
function cpuSeconds(pid) {
  try {
    const stat = fs.readFileSync(`/proc/${pid}/stat`, 'utf8');
    // Fields after the parenthesised command name; utime and stime are fields 14 and 15.
    const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    return (Number(f[11]) + Number(f[12])) / CLK_TCK;
  } catch {
    return NaN;
  }
}

/**
 * One h2load run against one server. Asynchronous, so that SIGINT is handled while it runs.
 * Besides h2load's figures, the server's CPU time per request (the server
 * runs its core flat out, so this is the cost that sets its req/s).
 */
function h2load(server, reqFile, log) {
  const cpuBefore = cpuSeconds(server.proc.pid);
  return new Promise((resolve, reject) => {
    const child = spawn('taskset', ['-c', '0', 'h2load', '-n', String(REQUESTS), '-c', String(CLIENTS), '-m', String(STREAMS), '-t', '1',
      '-d', reqFile, '-H', 'content-type: application/grpc', '-H', 'te: trailers', `--log-file=${log}`,
      `http://127.0.0.1:${server.port}/envoy.service.auth.v3.Authorization/Check`], { stdio: ['ignore', 'pipe', 'pipe'] });
    loadGen = child;
    let out = '';
    child.stdout.on('data', (d) => { out += d; });
    child.stderr.on('data', (d) => { out += d; });
    child.on('error', reject);
    child.on('close', (code) => {
      loadGen = null;
      if (code !== 0) return reject(new Error(`h2load against ${server.mode} failed (${code}): ${out}`));
      const rps = Number((out.match(/finished in [^,]+, ([0-9.]+) req\/s/) || [])[1]);
      const lat = fs.readFileSync(log, 'utf8').trim().split('\n').map((l) => Number(l.split('\t')[2])).sort((a, b) => a - b);
      const cpuUs = ((cpuSeconds(server.proc.pid) - cpuBefore) * 1e6) / REQUESTS;
      resolve({ rps, p50: percentile(lat, 50), p99: percentile(lat, 99), cpuUs });
    });
  });
}

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

/** One Check of the bench request to every mode's server: all must answer alike (the ceiling always allows). */
async function sameAnswers(byMode, reqFile) {
  const request = CheckRequest.decode(fs.readFileSync(reqFile).subarray(5));
  const answers = {};
  for (const [mode, server] of Object.entries(byMode)) {
    const client = new AuthorizationClient(`127.0.0.1:${server.port}`, grpc.credentials.createInsecure());
    try {
      const res = await new Promise((resolve, reject) => client.check(request, (err, r) => (err ? reject(err) : resolve(r))));
      answers[mode] = { status: res.status?.code, denied: res.deniedResponse?.status?.code ?? null };
    } finally {
      client.close();
    }
  }
  console.log(`answers to the bench request: ${JSON.stringify(answers)}`);
  const distinct = new Set(Object.values(answers).map((a) => JSON.stringify(a)));
  if (distinct.size > 1) throw new Error('the modes answer the bench request differently');
}

let stopping = false;
for (const sig of ['SIGINT', 'SIGTERM']) {
  process.on(sig, () => {
    if (stopping) return;
    stopping = true;
    console.error(`\n${sig}: stopping the servers`);
    if (loadGen) loadGen.kill('SIGTERM');
    stopServers().finally(() => {
      fs.rmSync(dir, { recursive: true, force: true });
      process.exit(130);
    });
  });
}

(async () => {
  try {
    const reqFile = requestFile(dir);
    console.log(`machine: ${os.cpus().length} × ${os.cpus()[0].model}, node ${process.version}`);
    console.log(`load: h2load -n ${REQUESTS} -c ${CLIENTS} -m ${STREAMS} on core 0; all ${MODES.length} servers on core 1, up for the whole run;`);
    console.log(`      ${ROUNDS} interleaved rounds after one warm-up per mode, each round every mode once in a rotated order`);

    // Sequentially, so that one server's start-up (policy compile) is not
    // measured as another's; then one warm-up round each (JIT, pools, caches).
    const byMode = {};
    for (const mode of MODES) byMode[mode] = await startServer(mode);
    await sameAnswers(byMode, reqFile);
    for (const mode of MODES) {
      await h2load(byMode[mode], reqFile, path.join(dir, `${mode}-warmup.tsv`));
      await sleep(SETTLE_MS);
    }

    const rounds = [];
    for (let r = 0; r < ROUNDS; r++) {
      // Rotated by r, so that no mode always runs first (or right after a given other).
      const order = MODES.map((_, i) => MODES[(i + r) % MODES.length]);
      const round = { order, results: {} };
      for (const mode of order) {
        round.results[mode] = await h2load(byMode[mode], reqFile, path.join(dir, `${mode}-${r}.tsv`));
        await sleep(SETTLE_MS);
      }
      round.ratios = {};
      for (const x of RATIOS) round.ratios[x.name] = round.results[x.num].rps / round.results[x.den].rps;
      rounds.push(round);
      console.log(`round ${r + 1}/${ROUNDS} [${order.join(' ')}]: ` +
        order.map((m) => `${m} ${round.results[m].rps.toFixed(0)}`).join(', ') +
        (RATIOS.length ? '   ' + RATIOS.map((x) => `${x.num}/${x.den} ${round.ratios[x.name].toFixed(2)}`).join(' ') : ''));
    }

    // The servers stayed up, so each counter covers the warm-up and every round.
    const results = {};
    for (const mode of MODES) {
      const of = (k) => median(rounds.map((rd) => rd.results[mode][k]));
      results[mode] = { mode, rps: of('rps'), p50: of('p50'), p99: of('p99'), cpuUs: of('cpuUs'),
        codes: HAS_METRICS ? await scrapeGrpcCodes(byMode[mode].metricsPort) : null };
    }

    console.log('\nmode      req/s      p50 µs   p99 µs   server CPU µs/req   gRPC codes (server-side)');
    for (const r of Object.values(results)) {
      console.log(`${r.mode.padEnd(9)} ${r.rps.toFixed(0).padStart(8)} ${r.p50.toFixed(0).padStart(8)} ${r.p99.toFixed(0).padStart(8)}   ${r.cpuUs.toFixed(1).padStart(17)}   ${r.codes ? JSON.stringify(r.codes) : 'n/a'}`);
    }

    if (RATIOS.length) {
      // The headline is the median of the per-round ratios, not the ratio of
      // the medians: each per-round ratio compares modes under the same noise.
      console.log('\nratios: median of the per-round ratios (bar)');
      for (const x of RATIOS) {
        const per = rounds.map((rd) => rd.ratios[x.name]);
        const med = median(per);
        console.log(`  ${x.name.padEnd(21)} = ${med.toFixed(3)}  (≥ ${x.bar}: ${med >= x.bar ? 'met' : 'NOT met'})` +
          `   per round: ${per.map((v) => v.toFixed(2)).join(' ')}` +
          `   ratio of median req/s: ${(results[x.num].rps / results[x.den].rps).toFixed(2)}` +
          // Server CPU per request is steadier than req/s when the load generator's core is shared.
          `   inverse ratio of server CPU µs/req: ${(results[x.den].cpuUs / results[x.num].cpuUs).toFixed(2)}`);
      }
    }
    if (results.ceiling) {
      // grpc-js's own per-request work is in every mode: req/s ratios between two
      // modes are bounded by it. What each mode adds to it is the decision's cost.
      const base = results.ceiling.cpuUs;
      console.log('\ndecision cost: server CPU µs/req above the transport ceiling (median rounds)');
      for (const r of Object.values(results)) {
        if (r.mode !== 'ceiling') console.log(`  ${r.mode.padEnd(9)} ${(r.cpuUs - base).toFixed(1).padStart(8)}`);
      }
      if (results.native && results['opa-wasm']) {
        const extra = (m) => results[m].cpuUs - base;
        console.log(`  opa-wasm/native decision cost = ${(extra('opa-wasm') / extra('native')).toFixed(2)}×;` +
          ` a free decision would give native/opa-wasm req/s at most ${(results.ceiling.rps / results['opa-wasm'].rps).toFixed(2)} (ceiling/opa-wasm)`);
      }
    }
  } finally {
    await stopServers();
    fs.rmSync(dir, { recursive: true, force: true });
  }
})().catch((e) => {
  if (stopping) return; // the signal handler reports and exits once the servers are down
  console.error(e.stack || String(e));
  process.exit(1);
});
