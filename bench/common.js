// What the end-to-end benchmarks share: the bench request, free ports, the
// server flags of each mode, waiting for a server to listen.
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

function modeFlags(mode) {
  switch (mode) {
    case 'ceiling': return ['--transport-ceiling'];
    case 'native': return ['--hot-path', 'native', '--no-cache'];
    case 'js': return ['--hot-path', 'js', '--no-cache'];
    case 'cached': return ['--hot-path', 'native'];
    default: throw new Error(`unknown mode ${mode}`);
  }
}

module.exports = { root, opt, freePort, requestFile, waitForPort, modeFlags };
