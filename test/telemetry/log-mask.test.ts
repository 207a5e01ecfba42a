/**
 * Default decision-log masking (issue 16.8): the usual secret-bearing
 * headers and query parameters never reach a decision log, through the
 * real server and the real logger writing a file.
 */
import { expect } from 'chai';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import pino from 'pino';
import { envoyCheckRequest } from '../helpers/envoy-request';
import { checkV3, v3Client } from '../helpers/grpc-client';
import { FIXTURES, SERVER_MODES, startServer, type Running } from '../helpers/server';
import { createDecisionLogger, type DecisionEvent, type DecisionLogger } from '../../src/telemetry/decision-log';
import { redactQuery, SECRET_HEADERS } from '../../src/telemetry/log-mask';
import { eventually } from '../ops/helpers/process';

const POLICY = path.join(FIXTURES, 'policies', 'decisions.rego');

describe('telemetry: default decision-log masking', function () {
  this.timeout(60000);
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'sark-mask-'));
  let running: Running | null = null;
  let logger: DecisionLogger | null = null;
  after(() => fs.rmSync(dir, { recursive: true, force: true }));
  afterEach(async () => {
    await running?.close();
    await logger?.close();
    running = null;
    logger = null;
  });

  const readEvents = (file: string) => (fs.existsSync(file) ? fs.readFileSync(file, 'utf8').trim().split('\n').filter(Boolean).map((l) => JSON.parse(l) as DecisionEvent) : []);

  it('erases secret headers and query parameters, keeping the rest', async () => {
    const file = path.join(dir, 'default.jsonl');
    logger = createDecisionLogger({ file, logger: pino({ level: 'silent' }) });
    running = await startServer(POLICY, 'envoy/authz/allow', undefined, SERVER_MODES[0], logger);
    const client = v3Client(running.addr);
    const secrets: Record<string, string> = {};
    const headers: Record<string, string> = { 'x-role': 'viewer' };
    for (const h of SECRET_HEADERS) headers[h] = secrets[h] = `secret-header-${h}`;
    try {
      await checkV3(client, envoyCheckRequest({ path: '/ok?access_token=secret-q1&Api_Key=secret-q2&page=2&X-Amz-Signature=secret-q3', headers })).catch(() => undefined);
    } finally {
      client.close();
    }
    await eventually(() => readEvents(file).length >= 1, 20000, 'the event in the file');
    const text = fs.readFileSync(file, 'utf8');
    expect(text).to.not.include('secret-');
    const [event] = readEvents(file);
    const input = event.input as any;
    expect(input.attributes.request.http.headers['x-role']).to.equal('viewer');
    expect(input.attributes.request.http.path).to.equal('/ok?access_token=REDACTED&Api_Key=REDACTED&page=2&X-Amz-Signature=REDACTED');
    expect(input.parsed_query).to.deep.equal({ page: ['2'] });
    expect(event.erased).to.include('/input/attributes/request/http/headers/proxy-authorization').and.include('/input/attributes/request/http/headers/x-api-key').and.include('/input/parsed_query/access_token');
    expect(event.masked).to.include('/input/attributes/request/http/path');
  });

  it('a configured mask replaces the default', async () => {
    const file = path.join(dir, 'configured.jsonl');
    logger = createDecisionLogger({ file, mask: ['/input/attributes/request/http/headers/x-role'], logger: pino({ level: 'silent' }) });
    running = await startServer(POLICY, 'envoy/authz/allow', undefined, SERVER_MODES[0], logger);
    const client = v3Client(running.addr);
    try {
      await checkV3(client, envoyCheckRequest({ path: '/ok?access_token=visible', headers: { 'x-role': 'viewer', 'x-api-key': 'visible-key' } })).catch(() => undefined);
    } finally {
      client.close();
    }
    await eventually(() => readEvents(file).length >= 1, 20000, 'the event in the file');
    const input = readEvents(file)[0].input as any;
    expect(input.attributes.request.http.headers).to.not.have.property('x-role');
    expect(input.attributes.request.http.headers['x-api-key']).to.equal('visible-key');
    expect(input.parsed_query.access_token).to.deep.equal(['visible']);
  });

  const paths: Array<[string, string]> = [
    ['/a', '/a'],
    ['/a?x=1', '/a?x=1'],
    ['/a?token=t#frag', '/a?token=REDACTED#frag'],
    ['/a?access%5Ftoken=t&token', '/a?access%5Ftoken=REDACTED&token'],
  ];
  for (const [given, want] of paths) it(`redacts ${given} → ${want}`, () => expect(redactQuery(given)).to.equal(want));
});
