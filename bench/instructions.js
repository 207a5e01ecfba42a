#!/usr/bin/env node
// `make bench-instructions`: what each server mode executes per request,
// counted, not timed. Each mode's server runs under valgrind's callgrind with
// instrumentation off; after a warm-up (V8 has optimised the hot code by
// then) instrumentation is switched on for N requests from h2load, and the
// instructions executed are read per shared object: the addon, libc (malloc,
// memcpy), node itself (V8, its garbage collector, nghttp2, libuv) and
// JIT-compiled JavaScript.
//
// Instruction counts do not move with the neighbours on a shared machine,
// so they show small changes that `make bench` cannot resolve. They are not
// time: a cache miss costs more than an instruction. Read them beside `make
// bench`, not instead of it. V8 may still be compiling during the window; the
// share of its optimising compiler is printed so that this is visible.
'use strict';

const { spawn, spawnSync } = require('node:child_process');
const fs = require('node:fs');
const os = require('node:os');
const path = require('node:path');
const { root, opt, freePort, requestFile, waitForPort, modeServer } = require('./common');

const REQUESTS = Number(opt('requests', 5000));
const WARMUP = Number(opt('warmup', 40000));
const POLICY = opt('policy', 'envoy/policies/example.rego');
const MODES = opt('modes', 'ceiling,native,opa-wasm').split(',');
/** Keep the callgrind dumps (for callgrind_annotate per function) and print where they are. */
const KEEP = process.argv.includes('--keep');

for (const tool of ['valgrind', 'callgrind_control', 'callgrind_annotate', 'h2load']) {
  if (spawnSync('sh', ['-c', `command -v ${tool}`]).status !== 0) {
    console.error(`error: ${tool} not found (apt-get install valgrind nghttp2-client)`);
    process.exit(2);
  }
}

const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'sark-instr-'));
const reqFile = requestFile(dir);

function run(cmd, argv) {
  const r = spawnSync(cmd, argv, { encoding: 'utf8', maxBuffer: 64 * 1024 * 1024 });
  if (r.status !== 0) throw new Error(`${cmd} ${argv.join(' ')} failed: ${r.stderr || r.stdout}`);
  return r.stdout;
}

function h2load(port, n) {
  const out = run('h2load', ['-n', String(n), '-c', '8', '-m', '16', '-t', '1', '-d', reqFile,
    '-H', 'content-type: application/grpc', '-H', 'te: trailers', `http://127.0.0.1:${port}/envoy.service.auth.v3.Authorization/Check`]);
  const ok = Number((out.match(/status codes: (\d+) 2xx/) || [])[1]);
  if (ok !== n) throw new Error(`h2load: ${ok} of ${n} requests answered 2xx\n${out}`);
}

/** V8's garbage collector, by its function names (scavenger, marking, sweeping, evacuation, heap walks). */
const GC_FUNCTION = /v8::internal::(Scaveng|Marking|MarkCompact|ConcurrentMarking|MinorMarkCompact|Sweeper|Evacuat|Heap::|HeapObject::SizeFromMap|IterateAndScavenge|PretenuringHandler|BodyDescriptor|MemoryChunk|PagedSpace|SemiSpace|ExternalStringTable)|heap::base::/;

/** Instructions by shared object (and the optimising compiler's share) from one callgrind dump. */
function breakdown(file) {
  const text = run('callgrind_annotate', ['--threshold=100', file]);
  const by = { addon: 0, libc: 0, node: 0, jit: 0, other: 0, turbofan: 0, gc: 0 };
  let total = 0;
  for (const line of text.split('\n')) {
    const m = line.match(/^\s*([\d,]+) \([^)]*\)\s+(.*)$/);
    if (!m) continue;
    const n = Number(m[1].replace(/,/g, ''));
    if (m[2].includes('PROGRAM TOTALS')) {
      total = n;
      continue;
    }
    const obj = (m[2].match(/\[([^\]]*)\]$/) || [])[1] || '';
    if (/sark-authz.*\.node$/.test(obj)) by.addon += n;
    else if (/libc\.so/.test(obj)) by.libc += n;
    else if (/\/node$/.test(obj)) by.node += n;
    else if (obj === '???' || obj === '') by.jit += n;
    else by.other += n;
    if (/v8::internal::compiler::/.test(m[2])) by.turbofan += n;
    else if (GC_FUNCTION.test(m[2])) by.gc += n;
  }
  return { total, ...by };
}

async function measure(mode) {
  const port = await freePort();
  const out = path.join(dir, `callgrind.${mode}`);
  const how = modeServer(mode);
  // Under valgrind a connection's HTTP/2 handshake can take longer than serve's default 5 s.
  const logLevel = how.args[0] === 'bin/sark-authz.js' ? ['--log-level', 'error', '--handshake-timeout', '0'] : [];
  const proc = spawn('valgrind', ['--tool=callgrind', '--instr-atstart=no', '--smc-check=all-non-file', `--callgrind-out-file=${out}`,
    process.execPath, ...how.args, '--policy', POLICY, '--addr', `127.0.0.1:${port}`, ...logLevel],
    { cwd: root, stdio: ['ignore', 'ignore', 'pipe'], env: { ...process.env, ...how.env } });
  let stderr = '';
  proc.stderr.on('data', (d) => { stderr += d; });
  const exited = new Promise((r) => proc.once('exit', r));
  try {
    await waitForPort(port, proc, 180000);
    h2load(port, WARMUP);
    run('callgrind_control', ['-i', 'on', String(proc.pid)]);
    h2load(port, REQUESTS);
    run('callgrind_control', ['-i', 'off', String(proc.pid)]);
    run('callgrind_control', ['-d', String(proc.pid)]);
  } catch (err) {
    throw new Error(`${mode}: ${err.message}\n${stderr.slice(-2000)}`);
  } finally {
    proc.kill('SIGKILL');
    await exited;
  }
  // The dump requested above (`.1`); the file without a suffix is the empty exit dump.
  const b = breakdown(`${out}.1`);
  const per = Object.fromEntries(Object.entries(b).map(([k, v]) => [k, v / REQUESTS]));
  return per;
}

(async () => {
  console.log(`callgrind, ${REQUESTS} requests counted after ${WARMUP} warm-up, h2load -c 8 -m 16; policy ${POLICY}`);
  const results = {};
  for (const mode of MODES) {
    process.stdout.write(`measuring ${mode} ...\n`);
    results[mode] = await measure(mode);
  }
  const k = (x) => (x / 1000).toFixed(1).padStart(7);
  console.log('\nthousands of instructions per request');
  console.log('mode        total   addon    libc    node     JIT   other   (in node: optimising compiler, GC)');
  for (const mode of MODES) {
    const r = results[mode];
    console.log(`${mode.padEnd(8)} ${k(r.total)} ${k(r.addon)} ${k(r.libc)} ${k(r.node)} ${k(r.jit)} ${k(r.other)}   (${k(r.turbofan).trim()}, ${k(r.gc).trim()})`);
  }
  // V8 keeps compiling (and flushing, and recompiling) functions, and its
  // collector's work depends on where collections fall: both differ from run
  // to run by more than the modes differ. Compare without them as well.
  const work = (m) => results[m].total - results[m].turbofan - results[m].gc;
  console.log('\nwithout the optimising compiler and the garbage collector:');
  for (const mode of MODES) console.log(`${mode.padEnd(8)} ${k(work(mode))}`);
  if (results.native && results.ceiling) {
    const extra = work('native') - work('ceiling');
    const all = results.native.total - results.ceiling.total;
    console.log(`native adds ${k(extra).trim()}k instructions per request to the ceiling's (${k(all).trim()}k counting everything): ` +
      `ceiling/native = ${(work('ceiling') / work('native')).toFixed(3)} (${(results.ceiling.total / results.native.total).toFixed(3)})`);
  }
  if (results.native && results['opa-wasm']) {
    console.log(`opa-wasm/native = ${(work('opa-wasm') / work('native')).toFixed(2)} (${(results['opa-wasm'].total / results.native.total).toFixed(2)})`);
  }
  if (KEEP) console.log(`callgrind dumps kept in ${dir} (callgrind.<mode>.1)`);
  else fs.rmSync(dir, { recursive: true, force: true });
})().catch((err) => {
  console.error(err.message);
  process.exit(1);
});
