/**
 * `serve` in each of its modes, as a user starts it: the native engine
 * with and without the cache, the wasm engine (SARK_NATIVE=0), the
 * transport ceiling, and bad flag values refused with exit code 2.
 */
import { expect } from 'chai';
import { spawnSync } from 'node:child_process';
import * as path from 'node:path';
import { status as GrpcStatus } from '@grpc/grpc-js';
import { envoyCheckRequest } from '../helpers/envoy-request';
import { checkV3, reflectionRequest, v3Client } from '../helpers/grpc-client';
import { BIN, startServe } from '../helpers/cli';
import { ENGINE_ENV, FIXTURES, ROOT } from '../helpers/server';

const POLICY = path.join(FIXTURES, 'policies', 'decisions.rego');

/** Starts `serve` on the fixture policy with extra flags. */
const serve = (flags: string[], env: NodeJS.ProcessEnv = {}) => startServe(['--policy', POLICY, '--addr', '127.0.0.1:0', ...flags], undefined, env);

describe('cli: serve modes', function () {
  this.timeout(60000);

  const modes: Array<[string[], 'native' | 'wasm']> = [
    [[], 'native'],
    [['--no-cache', '--cache-size', '10'], 'native'],
    [['--cache-ttl', '50', '--eval-timeout', '100'], 'native'],
    [[], 'wasm'],
    [['--cache-ttl', '50', '--eval-timeout', '100'], 'wasm'],
  ];
  for (const [flags, engine] of modes) {
    it(`decides with [${flags.join(' ')}] (${engine} engine)`, async () => {
      const srv = await serve(flags, ENGINE_ENV[engine]);
      const client = v3Client(srv.addr);
      try {
        for (let i = 0; i < 3; i++) {
          expect((await checkV3(client, envoyCheckRequest({ path: '/plain-allow' }))).status?.code).to.equal(GrpcStatus.OK);
          expect((await checkV3(client, envoyCheckRequest({ path: '/plain-deny' }))).status?.code).to.equal(GrpcStatus.PERMISSION_DENIED);
        }
      } finally {
        client.close();
        expect(await srv.stop()).to.equal(0);
      }
    });
  }

  it('answers OK without reading requests in --transport-ceiling mode', async () => {
    const srv = await serve(['--transport-ceiling']);
    const client = v3Client(srv.addr);
    try {
      expect((await checkV3(client, envoyCheckRequest({ path: '/plain-deny' }))).status?.code).to.equal(GrpcStatus.OK);
    } finally {
      client.close();
      await srv.stop();
    }
  });

  it('refuses a CheckRequest larger than --grpc-max-recv-msg-size and keeps serving', async () => {
    const srv = await serve(['--grpc-max-recv-msg-size', '2000']);
    const client = v3Client(srv.addr);
    try {
      const big = envoyCheckRequest({ method: 'POST', path: '/plain-allow', headers: { 'content-type': 'text/plain' }, body: 'x'.repeat(5000) });
      const err = await checkV3(client, big).then(
        () => undefined,
        (e: { code?: number }) => e,
      );
      expect(err?.code).to.equal(GrpcStatus.RESOURCE_EXHAUSTED);
      expect((await checkV3(client, envoyCheckRequest({ path: '/plain-allow' }))).status?.code).to.equal(GrpcStatus.OK);
    } finally {
      client.close();
      await srv.stop();
    }
  });

  it('serves no reflection with --enable-reflection false', async () => {
    const srv = await serve(['--enable-reflection', 'false']);
    try {
      const err = await reflectionRequest(srv.addr, { list_services: '' }).then(
        () => undefined,
        (e: { code?: number }) => e,
      );
      expect(err?.code).to.equal(GrpcStatus.UNIMPLEMENTED);
    } finally {
      await srv.stop();
    }
  });

  for (const [flag, value] of [['--log-level', 'loud'], ['--enable-reflection', 'maybe'], ['--cache-size', '-1'], ['--cache-ttl', 'soon'], ['--eval-timeout', '1.5']]) {
    it(`refuses ${flag} ${value} with exit code 2`, () => {
      const r = spawnSync(process.execPath, [BIN, 'serve', '--policy', POLICY, flag, value], { cwd: ROOT, encoding: 'utf8', timeout: 20000 });
      expect(r.status).to.equal(2);
      expect(r.stderr).to.contain(flag);
    });
  }
});
