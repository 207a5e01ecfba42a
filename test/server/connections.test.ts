/**
 * Silent and idle connections (issue 16.6): a TCP connection that never
 * completes its HTTP/2 handshake is closed after `handshake_timeout`, an
 * idle one after `idle_timeout`, so silent sockets cannot exhaust the file
 * descriptors and lock new clients out.
 */
import { expect } from 'chai';
import { spawn } from 'node:child_process';
import * as fs from 'node:fs';
import * as http2 from 'node:http2';
import * as net from 'node:net';
import * as os from 'node:os';
import * as path from 'node:path';
import pino from 'pino';
import * as grpc from '@grpc/grpc-js';
import { decisionRef } from '../../src/config/decision-path';
import { loadData, loadPolicyModules } from '../../src/config/policy-files';
import { createEngine } from '../../src/engine/native-engine';
import { AuthorizationClient } from '../../src/gen/envoy/service/auth/v3/external_auth';
import { createAuthzServer, type AuthzServer } from '../../src/server/server';
import { envoyCheckRequest } from '../helpers/envoy-request';
import { checkV3, v3Client } from '../helpers/grpc-client';
import { BIN } from '../helpers/cli';
import { FIXTURES, ROOT } from '../helpers/server';
import { makeCa, makeCert } from '../ops/helpers/certs';
import { Served } from '../ops/helpers/process';

const GrpcStatus = grpc.status;

const POLICY = path.join(FIXTURES, 'policies', 'decisions.rego');

/** Opens `n` TCP connections that send nothing; resolves once all are connected (or refused). */
async function silentSockets(port: number, n: number): Promise<net.Socket[]> {
  const sockets: net.Socket[] = [];
  for (let i = 0; i < n; i++) {
    const s = net.connect(port, '127.0.0.1');
    s.on('error', () => undefined);
    s.resume(); // read, so the server's close is seen
    sockets.push(s);
    await new Promise<void>((resolve) => {
      s.once('connect', () => resolve());
      s.once('close', () => resolve());
    });
  }
  return sockets;
}

const closed = (s: net.Socket) => s.destroyed || s.readyState === 'closed';

async function waitUntil(fn: () => boolean, ms: number): Promise<boolean> {
  const end = Date.now() + ms;
  while (Date.now() < end) {
    if (fn()) return true;
    await new Promise((r) => setTimeout(r, 50));
  }
  return fn();
}

describe('server: handshake and idle timeouts', function () {
  this.timeout(90000);

  it('closes silent sockets and serves a new client, with 300 silent sockets and 256 file descriptors', async () => {
    // A real `serve` limited to 256 descriptors: without the handshake timeout the silent sockets hold them all.
    const cmd = `ulimit -n 256 && exec "${process.execPath}" "${BIN}" serve --policy "${POLICY}" --addr 127.0.0.1:0 --handshake-timeout 1000`;
    const served = new Served(spawn('sh', ['-c', cmd], { cwd: ROOT, stdio: ['ignore', 'pipe', 'pipe'] }));
    const sockets: net.Socket[] = [];
    try {
      const addr = (await served.waitForMsg('serving')).addr as string;
      const port = Number(addr.slice(addr.lastIndexOf(':') + 1));
      sockets.push(...(await silentSockets(port, 300)));
      expect(await waitUntil(() => sockets.every(closed), 10000), `${sockets.filter((s) => !closed(s)).length} silent sockets still open`).to.equal(true);
      const client = v3Client(addr);
      try {
        const res = await Promise.race([checkV3(client, envoyCheckRequest({ path: '/ok' })), new Promise<never>((_, reject) => setTimeout(() => reject(new Error('no answer in 10 s')), 10000))]);
        expect(res.status?.code).to.equal(GrpcStatus.OK);
      } finally {
        client.close();
      }
    } finally {
      for (const s of sockets) s.destroy();
      expect(await served.stop()).to.equal(0);
    }
  });

  describe('in process', () => {
    let server: AuthzServer | null = null;
    afterEach(async () => {
      await server?.close(500);
      server = null;
    });

    const start = async (handshakeTimeoutMs: number, idleTimeoutMs: number, credentials?: grpc.ServerCredentials) => {
      const policy = createEngine().prepare(loadPolicyModules(POLICY), loadData(undefined), decisionRef('envoy/authz/allow'));
      server = createAuthzServer({ policy, addr: '127.0.0.1:0', logger: pino({ level: 'silent' }), handshakeTimeoutMs, idleTimeoutMs, credentials });
      return server.listen();
    };

    it('keeps a connection that completed its handshake past the handshake timeout', async () => {
      const addr = await start(300, 0);
      const session = http2.connect(`http://${addr}`);
      session.on('error', () => undefined);
      try {
        await new Promise<void>((resolve) => session.once('remoteSettings', () => resolve()));
        await new Promise((r) => setTimeout(r, 1200));
        expect(session.closed || session.destroyed).to.equal(false);
      } finally {
        session.destroy();
      }
    });

    it('sends GOAWAY to a connection idle for idle_timeout', async () => {
      const addr = await start(0, 500);
      const session = http2.connect(`http://${addr}`);
      session.on('error', () => undefined);
      try {
        const goaway = await Promise.race([
          new Promise<boolean>((resolve) => session.once('goaway', () => resolve(true))),
          new Promise<boolean>((resolve) => setTimeout(() => resolve(false), 5000)),
        ]);
        expect(goaway).to.equal(true);
      } finally {
        session.destroy();
      }
    });

    it('TLS: closes a socket that never starts its TLS handshake, and serves a TLS client past the timeout', async () => {
      const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'sark-conn-tls-'));
      try {
        makeCa(dir, 'ca');
        makeCert(dir, 'server', 'ca');
        const read = (n: string) => fs.readFileSync(path.join(dir, n));
        const creds = grpc.ServerCredentials.createSsl(null, [{ cert_chain: read('server.crt'), private_key: read('server.key') }], false);
        const addr = await start(500, 0, creds);
        const port = Number(addr.slice(addr.lastIndexOf(':') + 1));
        const [silent] = await silentSockets(port, 1);
        const client = new AuthorizationClient(`localhost:${port}`, grpc.credentials.createSsl(read('ca.crt')));
        try {
          expect(await waitUntil(() => closed(silent), 5000), 'the silent TLS socket is closed').to.equal(true);
          expect((await checkV3(client, envoyCheckRequest({ path: '/ok' }))).status?.code).to.equal(GrpcStatus.OK);
          await new Promise((r) => setTimeout(r, 1000));
          expect((await checkV3(client, envoyCheckRequest({ path: '/ok' }))).status?.code).to.equal(GrpcStatus.OK);
        } finally {
          client.close();
          silent.destroy();
        }
      } finally {
        fs.rmSync(dir, { recursive: true, force: true });
      }
    });

    it('closes a silent socket after the handshake timeout and no sooner', async () => {
      const addr = await start(800, 0);
      const [socket] = await silentSockets(Number(addr.slice(addr.lastIndexOf(':') + 1)), 1);
      try {
        await new Promise((r) => setTimeout(r, 300));
        expect(closed(socket)).to.equal(false);
        expect(await waitUntil(() => closed(socket), 5000)).to.equal(true);
      } finally {
        socket.destroy();
      }
    });
  });
});
