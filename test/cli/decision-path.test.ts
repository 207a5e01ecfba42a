/**
 * `serve --path` with a dotted segment, as opa-envoy-plugin reads it:
 * `test/com.foo.envoy.ingress/allow/main` is
 * `data.test["com.foo.envoy.ingress"].allow.main` (issue 15.4), through the
 * real command and server, with both engines (the addon, and the wasm one
 * under SARK_NATIVE=0).
 */
import { expect } from 'chai';
import * as path from 'node:path';
import { status as GrpcStatus } from '@grpc/grpc-js';
import { envoyCheckRequest } from '../helpers/envoy-request';
import { checkV3, v3Client } from '../helpers/grpc-client';
import { startServe } from '../helpers/cli';
import { ENGINE_ENV, FIXTURES } from '../helpers/server';

const POLICY = path.join(FIXTURES, 'policies', 'dotted-package.rego');

describe('cli: serve --path with a dotted segment', function () {
  this.timeout(60000);
  for (const engine of ['native', 'wasm'] as const) {
    it(`decides with data.test["com.foo.envoy.ingress"].allow.main (${engine} engine)`, async () => {
      const srv = await startServe(['--policy', POLICY, '--addr', '127.0.0.1:0', '--path', 'test/com.foo.envoy.ingress/allow/main'], undefined, ENGINE_ENV[engine]);
      const client = v3Client(srv.addr);
      try {
        expect((await checkV3(client, envoyCheckRequest({ path: '/ok' }))).status?.code).to.equal(GrpcStatus.OK);
        expect((await checkV3(client, envoyCheckRequest({ path: '/other' }))).status?.code).to.equal(GrpcStatus.PERMISSION_DENIED);
      } finally {
        client.close();
        expect(await srv.stop()).to.equal(0);
      }
    });
  }
});
