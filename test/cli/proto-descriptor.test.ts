/**
 * `serve --proto-descriptor FILE`: application/grpc request bodies become
 * parsed_body (protojson), with both engines; a file that is not a
 * descriptor set stops serve naming it.
 */
import { expect } from 'chai';
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { status as GrpcStatus } from '@grpc/grpc-js';
import { CheckRequest } from '../../src/gen/envoy/service/auth/v3/external_auth';
import { envoyCheckRequest } from '../helpers/envoy-request';
import { checkV3, v3Client } from '../helpers/grpc-client';
import { BIN, startServe } from '../helpers/cli';
import { ENGINE_ENV, FIXTURES, ROOT } from '../helpers/server';

/** A GetUserRequest{user_id} as a gRPC frame (field 1, string). */
function grpcFrame(id: string): Buffer {
  const msg = Buffer.concat([Buffer.from([0x0a, id.length]), Buffer.from(id)]);
  const head = Buffer.alloc(5);
  head.writeUInt32BE(msg.length, 1);
  return Buffer.concat([head, msg]);
}

function grpcCheck(id: string): CheckRequest {
  const req = envoyCheckRequest({ method: 'POST', path: '/sark.test.v1.UserService/GetUser', headers: { 'content-type': 'application/grpc' } });
  req.attributes!.request!.http!.rawBody = grpcFrame(id);
  return req;
}

describe('cli: serve --proto-descriptor', function () {
  this.timeout(60000);
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'sark-pd-'));
  const descriptor = path.join(dir, 'set.pb');
  before(() => {
    const r = spawnSync('protoc', ['--include_imports', `--descriptor_set_out=${descriptor}`, '-I', path.join(ROOT, 'test', 'fixtures', 'grpc'), 'authz_test.proto'], { encoding: 'utf8' });
    expect(r.status, r.stderr).to.equal(0);
  });
  after(() => fs.rmSync(dir, { recursive: true, force: true }));

  for (const engine of ['native', 'wasm'] as const) {
    it(`decides on the parsed gRPC body (${engine} engine)`, async () => {
      const srv = await startServe(['--policy', path.join(FIXTURES, 'policies', 'grpc-body.rego'), '--addr', '127.0.0.1:0', '--proto-descriptor', descriptor], undefined, ENGINE_ENV[engine]);
      const client = v3Client(srv.addr);
      try {
        expect((await checkV3(client, grpcCheck('42'))).status?.code).to.equal(GrpcStatus.OK);
        expect((await checkV3(client, grpcCheck('7'))).status?.code).to.equal(GrpcStatus.PERMISSION_DENIED);
      } finally {
        client.close();
        expect(await srv.stop()).to.equal(0);
      }
    });
  }

  it('stops with an error naming a file that is not a descriptor set', () => {
    const bad = path.join(dir, 'bad.pb');
    fs.writeFileSync(bad, 'not a descriptor set');
    const r = spawnSync(process.execPath, [BIN, 'serve', '--policy', path.join(FIXTURES, 'policies', 'grpc-body.rego'), '--addr', '127.0.0.1:0', '--proto-descriptor', bad], { cwd: ROOT, encoding: 'utf8', timeout: 20000 });
    expect(r.status).to.equal(1);
    expect(r.stderr).to.contain('config_invalid');
  });
});
