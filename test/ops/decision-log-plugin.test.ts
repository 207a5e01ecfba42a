/**
 * Decision logs as opa-envoy-plugin writes them, through the real server on
 * both hot paths: no `revision` without a bundle (the files' content hash
 * is `policy_hash`), the real reason in `error` (while the client gets a
 * generic status), and on every path the very input (descriptor set
 * included) and result the Check was answered with.
 */
import { expect } from 'chai';
import { execFileSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import pino from 'pino';
import { createDecisionCache } from '../../src/cache/create-cache';
import { createEngine } from '../../src/engine/native-engine';
import { CheckRequest, CheckResponse } from '../../src/gen/envoy/service/auth/v3/external_auth';
import { AUTHORIZATION_SERVICES, createAuthzServer } from '../../src/server/server';
import { createDecisionLogger, type DecisionEvent } from '../../src/telemetry/decision-log';
import { rawCall } from '../helpers/grpc-client';
import { FIXTURES, SERVER_MODES, type ServerMode } from '../helpers/server';

const POLICY = `package logged

default allow := false

allow := {"allowed": true, "dynamic_metadata": {"nonce": uuid.rfc4122("n"), "author": input.parsed_body.author}} if input.parsed_path[0] == "com.book.BookService"

allow := {"allowed": true} if input.parsed_path == ["ok"]

allow := "yes" if input.parsed_path == ["string"]
`;

function descriptorSet(): Uint8Array {
  const dir = path.join(FIXTURES, 'opa-envoy-plugin');
  const out = path.join(fs.mkdtempSync(path.join(os.tmpdir(), 'sark-dlp-')), 'set.pb');
  execFileSync('protoc', ['--include_imports', `--descriptor_set_out=${out}`, `-I${dir}`, 'book.proto']);
  const bytes = new Uint8Array(fs.readFileSync(out));
  fs.rmSync(path.dirname(out), { recursive: true, force: true });
  return bytes;
}

function request(path: string, headers: Record<string, string> = {}, extra: { body?: string; rawBody?: Buffer } = {}): Buffer {
  return Buffer.from(CheckRequest.encode(CheckRequest.fromPartial({ attributes: { request: { http: { method: 'POST', path, headers, ...extra } } } })).finish());
}

/** Serves POLICY in `mode` with a file decision log; runs `send`; returns the logged events in order. */
async function logged(mode: ServerMode, set: Uint8Array, send: (call: (bytes: Buffer) => Promise<Buffer | Error>) => Promise<void>): Promise<DecisionEvent[]> {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'sark-dlp-'));
  const file = path.join(dir, 'decisions.jsonl');
  const logger = createDecisionLogger({ file, policyInfo: () => ({ revision: 'c0ffee0123456789' }), logger: pino({ level: 'silent' }) });
  const policy = createEngine().prepare([{ name: 'logged.rego', source: POLICY }], {}, 'data.logged.allow', {
    protoDescriptorBase64: Buffer.from(set).toString('base64'),
    recordDecision: true,
  });
  const server = createAuthzServer({
    policy,
    addr: '127.0.0.1:0',
    logger: pino({ level: 'silent' }),
    hotPath: mode.hotPath,
    cache: mode.cache ? createDecisionCache({ maxEntries: 100 }) : null,
    check: { input: { protoDescriptor: set } },
    observer: logger,
  });
  const addr = await server.listen();
  try {
    await send((bytes) => rawCall(addr, `/${AUTHORIZATION_SERVICES.v3}/Check`, bytes).catch((err: Error) => err));
  } finally {
    await server.close(1000);
    await logger.close();
  }
  const events = fs.readFileSync(file, 'utf8').trim().split('\n').map((l) => JSON.parse(l) as DecisionEvent);
  fs.rmSync(dir, { recursive: true, force: true });
  return events;
}

describe('ops: decision logs as opa-envoy-plugin writes them', function () {
  this.timeout(60_000);
  const set = descriptorSet();
  // A gRPC call GetBooksViaAuthor{author: "John"}, framed, as Envoy sends it with pack_as_bytes.
  const book = Buffer.from('AAAAAAYKBEpvaG4=', 'base64');

  for (const mode of SERVER_MODES) {
    describe(mode.name, () => {
      it('leaves revision empty without a bundle and logs the real reason of errors', async () => {
        let statusDetails = '';
        const events = await logged(mode, set, async (call) => {
          expect(await call(request('/ok'))).to.be.instanceOf(Buffer);
          const invalid = await call(request('/string'));
          expect(invalid).to.be.instanceOf(Error);
          statusDetails = (invalid as Error & { details: string }).details;
          const bad = await call(request('/items', { 'content-type': 'application/json' }, { body: '{"a":' }));
          expect(CheckResponse.decode(bad as Buffer).deniedResponse?.body).to.equal('bad request');
        });
        expect(events).to.have.length(3);
        const [ok, invalid, bad] = events;
        for (const e of events) {
          expect(e).to.not.have.property('revision');
          expect(e.policy_hash).to.equal('c0ffee0123456789');
        }
        expect(ok.result).to.deep.equal({ allowed: true });
        // The client gets a generic status; the log has the reason.
        expect(statusDetails).to.not.include('illegal value');
        expect(invalid.error?.code).to.equal('decision_invalid');
        expect(invalid.error?.message).to.include('illegal value for policy evaluation result');
        expect(bad.error?.code).to.equal('request_body_invalid');
        expect(bad.error?.message).to.not.match(/could not be turned into|was denied as a bad request/);
        expect(bad.error?.message.length).to.be.greaterThan(0);
      });

      it('logs the input built with the descriptor set, as the decision was', async () => {
        let nonce: unknown;
        const events = await logged(mode, set, async (call) => {
          const res = await call(request('/com.book.BookService/GetBooksViaAuthor', { 'content-type': 'application/grpc' }, { rawBody: book }));
          const meta = CheckResponse.decode(res as Buffer).dynamicMetadata;
          expect(meta?.author).to.equal('John');
          nonce = meta?.nonce;
        });
        const [e] = events;
        expect((e.input as { parsed_body?: unknown }).parsed_body).to.deep.equal({ author: 'John' });
        expect((e.result as { dynamic_metadata: { author: string } }).dynamic_metadata.author).to.equal('John');
        // The result the Check was answered with, not a second evaluation (uuid.rfc4122 differs on each).
        expect((e.result as { dynamic_metadata: { nonce: unknown } }).dynamic_metadata.nonce).to.equal(nonce);
      });
    });
  }
});
