// What the end-to-end benchmarks share: the bench request, free ports, how
// each mode's server is started, waiting for a server to listen.
'use strict';

const fs = require('node:fs');
const net = require('node:net');
const path = require('node:path');

const root = path.resolve(__dirname, '..');

/** The value after `--name` on the command line, or `dflt`. */
function opt(name, dflt) {
  const args = process.argv.slice(2);
  const i = args.indexOf(`--${name}`);
  return i >= 0 ? args[i + 1] : dflt;
}
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

async function waitForPort(port, server, ms = 15000) {
  const end = Date.now() + ms;
  while (Date.now() < end) {
    if (server.exitCode !== null || server.signalCode !== null) throw new Error(`server exited before listening on ${port}`);
    const ok = await new Promise((res) => {
      const c = net.connect(port, '127.0.0.1', () => { c.end(); res(true); });
      c.on('error', () => res(false));
    });
    if (ok) return;
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error(`server did not listen on ${port}`);
}

/**
 * How a mode's server starts: the script and arguments before the common
 * flags (`--policy`, `--addr`, ...) and extra environment.
 *   ceiling  — `serve --transport-ceiling`: a precomputed OK, the request is not read
 *   native   — `serve --no-cache`: the whole Check in the addon
 *   portable — the same under SARK_NATIVE=0: the Check in our wasm engine (no addon)
 *   opa-wasm — what a Node user would run instead: an OPA-compiled policy in
 *              @open-policy-agent/opa-wasm, with a JavaScript Envoy mapping (bench/opa-wasm-server.js)
 *   cached   — `serve`: the addon with the decision cache on
 */
function modeServer(mode) {
  const serve = (...flags) => ({ args: ['bin/sark-authz.js', 'serve', ...flags], env: {} });
  switch (mode) {
    case 'ceiling': return serve('--transport-ceiling');
    case 'native': return serve('--no-cache');
    case 'portable': return { ...serve('--no-cache'), env: { SARK_NATIVE: '0' } };
    case 'opa-wasm': return { args: ['bench/opa-wasm-server.js'], env: {} };
    case 'cached': return serve();
    default: throw new Error(`unknown mode ${mode}`);
  }
}

module.exports = { root, opt, freePort, requestFile, waitForPort, modeServer };
