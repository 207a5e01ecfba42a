#!/usr/bin/env node
// `make soak`: the real server under steady load for a long time (issue 16.5).
//   1. calibrate: closed-loop Checks at CONCURRENCY for a few seconds = max load;
//   2. soak: open-loop at half of it for --minutes, with varied requests (the
//      differential corpus: headers, escapes, bodies of every type, v3) and a
//      policy swap (file rewritten, watcher reloads) every --swap-seconds;
//   3. sample the server's RSS every few seconds.
// Passes when no Check failed, every swap took, and RSS levelled off (the
// last third grows by less than 10% or 16 MiB over the middle third).
// Writes .build/soak.json (rps, p50/p99/max latency, RSS samples).
//   node bench/soak.js [--minutes 30] [--swap-seconds 20] [--rate-fraction 0.5]
// `make soak-short` (CI) runs one minute.
'use strict';

const fs = require('node:fs');
const os = require('node:os');
const path = require('node:path');
const grpc = require('@grpc/grpc-js');
const { opt } = require('./common');

const root = path.resolve(__dirname, '..');
const { corpus } = require(path.join(root, 'dist/test/differential/corpus.js'));
const { startCli } = require(path.join(root, 'dist/test/ops/helpers/process.js'));

const MINUTES = Number(opt('minutes', 30));
const SWAP_SECONDS = Number(opt('swap-seconds', 20));
const RATE_FRACTION = Number(opt('rate-fraction', 0.5));
const CALIBRATE_SECONDS = Number(opt('calibrate-seconds', 5));
// RSS may grow this much between the middle and the last third and still count as
// levelled. Default: 10% of the middle third (at least 16 MiB), for a 30-minute run;
// a run of under a minute is still inside V8's heap warm-up and needs a wider bound.
const MAX_GROWTH_MIB = opt('max-growth-mib', '');
const CONCURRENCY = 64;
const RSS_EVERY_MS = 5000;
const METHOD = '/envoy.service.auth.v3.Authorization/Check';

/** Two policies swapped in turn: the same decision, different rule sets. */
const POLICIES = [
  fs.readFileSync(path.join(root, 'envoy/policies/example.rego'), 'utf8'),
  fs.readFileSync(path.join(root, 'envoy/policies/headers.rego'), 'utf8'),
];

const rssKiB = (pid) => {
  const m = fs.readFileSync(`/proc/${pid}/status`, 'utf8').match(/VmRSS:\s+(\d+) kB/);
  return m ? Number(m[1]) : 0;
};
const pct = (sorted, p) => (sorted.length ? sorted[Math.min(sorted.length - 1, Math.floor(sorted.length * p))] : 0);
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

async function main() {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'sark-soak-'));
  const policyFile = path.join(dir, 'authz.rego');
  fs.writeFileSync(policyFile, POLICIES[0]);
  const served = startCli(['serve', '--policy', dir, '--addr', '127.0.0.1:0', '--log-level', 'info']);
  const addr = (await served.waitForMsg('serving')).addr;
  const pid = served.child.pid;
  const client = new grpc.Client(addr, grpc.credentials.createInsecure());
  const requests = corpus(20261207, 2000).map((c) => Buffer.from(c.bytes));
  let next = 0;
  const call = () =>
    new Promise((resolve) => {
      const bytes = requests[next++ % requests.length];
      const t = process.hrtime.bigint();
      const at = Date.now();
      client.makeUnaryRequest(METHOD, (b) => b, (b) => b, bytes, { deadline: at + 5000 }, (err) => {
        resolve({ ok: !err, code: err?.code, ms: Number(process.hrtime.bigint() - t) / 1e6, at });
      });
    });

  try {
    // 1. Calibrate.
    let done = 0;
    const until = Date.now() + CALIBRATE_SECONDS * 1000;
    await Promise.all(Array.from({ length: CONCURRENCY }, async () => {
      while (Date.now() < until) {
        await call();
        done++;
      }
    }));
    const maxRps = done / CALIBRATE_SECONDS;
    const rate = Math.max(1, Math.round(maxRps * RATE_FRACTION));
    console.log(`max load ${maxRps.toFixed(0)} Checks/s; soaking at ${rate}/s for ${MINUTES} min, policy swap every ${SWAP_SECONDS}s`);

    // 2. Soak, open loop: a batch every 10 ms, at most 4 * CONCURRENCY in flight.
    const latencies = [];
    const failures = new Map();
    const rss = [];
    let sent = 0, inFlight = 0, skipped = 0, swaps = 0;
    // Where time went when something was slow: the slowest Checks (when, and how long
    // after the last policy swap) and this generator's own event-loop lag (a starved
    // generator skips sends and adds latency the server did not cause).
    const slowest = [];
    const swapTimes = [];
    let maxGeneratorLagMs = 0;
    let lastTick = Date.now();
    const start = Date.now();
    const end = start + MINUTES * 60_000;
    let nextSwap = start + SWAP_SECONDS * 1000;
    let nextRss = start;
    while (Date.now() < end) {
      const now = Date.now();
      const due = Math.floor(((now - start) / 1000) * rate) - sent;
      for (let i = 0; i < due; i++) {
        sent++;
        if (inFlight >= 4 * CONCURRENCY) {
          skipped++;
          continue;
        }
        inFlight++;
        void call().then((r) => {
          inFlight--;
          latencies.push(r.ms);
          if (r.ms > 100) slowest.push(r);
          if (!r.ok) failures.set(r.code, (failures.get(r.code) ?? 0) + 1);
        });
      }
      if (now >= nextSwap) {
        swaps++;
        swapTimes.push(now);
        fs.writeFileSync(policyFile, POLICIES[swaps % POLICIES.length]);
        nextSwap += SWAP_SECONDS * 1000;
      }
      if (now >= nextRss) {
        rss.push({ s: Math.round((now - start) / 1000), kib: rssKiB(pid) });
        nextRss += RSS_EVERY_MS;
      }
      await sleep(10);
      maxGeneratorLagMs = Math.max(maxGeneratorLagMs, Date.now() - lastTick - 10);
      lastTick = Date.now();
    }
    while (inFlight > 0) await sleep(10);
    const sinceSwap = (at) => {
      const before = swapTimes.filter((s) => s <= at);
      return before.length ? Math.round(at - before[before.length - 1]) : null;
    };
    const worst = slowest.sort((a, b) => b.ms - a.ms).slice(0, 5)
      .map((r) => ({ ms: Math.round(r.ms), atSecond: Math.round((r.at - start) / 1000), msAfterSwap: sinceSwap(r.at) }));

    // 3. Verdict.
    const activations = served.records.filter((r) => r.msg === 'policy activated').length;
    const sorted = latencies.sort((a, b) => a - b);
    const third = Math.max(1, Math.floor(rss.length / 3));
    const middle = Math.max(...rss.slice(third, 2 * third).map((x) => x.kib), 0);
    const last = Math.max(...rss.slice(2 * third).map((x) => x.kib), 0);
    const growth = last - middle;
    const levelled = growth < (MAX_GROWTH_MIB ? Number(MAX_GROWTH_MIB) * 1024 : Math.max(0.1 * middle, 16 * 1024));
    const failed = [...failures.values()].reduce((a, b) => a + b, 0);
    const report = {
      minutes: MINUTES, maxRps: Math.round(maxRps), rate, sent, answered: latencies.length, failed, failures: Object.fromEntries(failures), skipped,
      swaps, reloadRecords: activations,
      latencyMs: { p50: pct(sorted, 0.5), p99: pct(sorted, 0.99), max: sorted[sorted.length - 1] ?? 0 },
      over100ms: slowest.length, worst, maxGeneratorLagMs,
      rssKiB: { first: rss[0]?.kib, middleThirdMax: middle, lastThirdMax: last, growth, levelled }, rss,
      machine: `${os.cpus().length} cores, load ${os.loadavg().map((x) => x.toFixed(1)).join(' ')}`,
    };
    fs.mkdirSync(path.join(root, '.build'), { recursive: true });
    fs.writeFileSync(path.join(root, '.build', 'soak.json'), JSON.stringify(report, null, 2));
    const { rss: _samples, ...summary } = report;
    console.log(JSON.stringify(summary, null, 2));
    const ok = failed === 0 && skipped === 0 && levelled && activations >= swaps;
    console.log(ok ? 'soak: PASS' : 'soak: FAIL');
    process.exitCode = ok ? 0 : 1;
  } finally {
    client.close();
    await served.stop();
    fs.rmSync(dir, { recursive: true, force: true });
  }
}

main().catch((e) => {
  console.error(e);
  process.exit(1);
});
