#!/usr/bin/env node
// The path a Node user would take without sark-authz, which `make bench`
// measures against (mode opa-wasm): the policy compiled by OPA
// (`opa build -t wasm`), run by @open-policy-agent/opa-wasm behind a grpc-js
// Authorization service, with a small JavaScript Envoy mapping — ts-proto
// decodes the CheckRequest, the input document is that object as protojson
// would render it (defaults left out) plus parsed_path, parsed_query and
// (JSON only) parsed_body, and the decision (a
// boolean or {allowed, headers, http_status, body}) becomes the
// CheckResponse. Benchmark code only: sark-authz's mapping is the Rust one.
//
// usage: node bench/opa-wasm-server.js --policy FILE --addr HOST:PORT [--entrypoint envoy/authz/allow]
'use strict';

const { execFileSync } = require('node:child_process');
const { randomUUID } = require('node:crypto');
const fs = require('node:fs');
const os = require('node:os');
const path = require('node:path');
const grpc = require('@grpc/grpc-js');
const { loadPolicy } = require('@open-policy-agent/opa-wasm');
const { opt, root } = require('./common');
const { AuthorizationService, CheckResponse } = require(path.join(root, 'dist/src/gen/envoy/service/auth/v3/external_auth.js'));

const POLICY = path.resolve(root, opt('policy', 'envoy/policies/example.rego'));
const ADDR = opt('addr', '127.0.0.1:9191');
const ENTRYPOINT = opt('entrypoint', 'envoy/authz/allow');
const OPA = opt('opa', path.join(root, '.build/go/bin/opa'));

/** policy.wasm of `opa build -t wasm -e ENTRYPOINT POLICY`. */
function compile() {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'sark-opa-wasm-'));
  try {
    execFileSync(OPA, ['build', '-t', 'wasm', '-e', ENTRYPOINT, '-o', path.join(dir, 'bundle.tar.gz'), POLICY]);
    execFileSync('tar', ['-xzf', 'bundle.tar.gz'], { cwd: dir, stdio: ['ignore', 'ignore', 'pipe'] });
    return fs.readFileSync(path.join(dir, 'policy.wasm'));
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
}

/** `/a/b%20c?x=1` → ['a', 'b c']. */
function parsedPath(p) {
  return p.split('?', 1)[0].replace(/^\//, '').split('/').map(decodeURIComponent);
}

/** `?x=1&x=2` → {x: ['1', '2']}. */
function parsedQuery(p) {
  const q = {};
  const at = p.indexOf('?');
  if (at >= 0) for (const [k, v] of new URLSearchParams(p.slice(at + 1))) (q[k] ??= []).push(v);
  return q;
}

function parsedBody(http) {
  if (!http.body || !String(http.headers?.['content-type'] ?? '').startsWith('application/json')) return null;
  try {
    return JSON.parse(http.body);
  } catch {
    return null;
  }
}

/** A decoded message much as protojson renders it: defaults left out, bytes in base64 (timestamps stay {seconds, nanos}). */
function jsonOf(v) {
  if (v instanceof Uint8Array) return v.length > 0 ? Buffer.from(v).toString('base64') : undefined;
  if (Array.isArray(v)) {
    const a = v.map(jsonOf).filter((x) => x !== undefined);
    return a.length > 0 ? a : undefined;
  }
  if (v !== null && typeof v === 'object') {
    const o = {};
    for (const [k, x] of Object.entries(v)) {
      const y = jsonOf(x);
      if (y !== undefined) o[k] = y;
    }
    return Object.keys(o).length > 0 ? o : undefined;
  }
  return v === '' || v === 0 || v === false || v === null ? undefined : v;
}

function toInput(request) {
  const input = jsonOf(request) ?? {};
  const http = request.attributes?.request?.http ?? {};
  input.parsed_path = parsedPath(http.path ?? '');
  input.parsed_query = parsedQuery(http.path ?? '');
  input.parsed_body = parsedBody(http);
  input.truncated_body = false;
  input.version = { encoding: 'protojson', ext_authz: 'v3' };
  return input;
}

function toResponse(decision, decisionId) {
  const obj = typeof decision === 'object' && decision !== null ? decision : {};
  const allowed = decision === true || obj.allowed === true;
  const headers = Object.entries(obj.headers ?? {}).map(([key, value]) => ({ header: { key, value: String(value) } }));
  const res = { status: { code: allowed ? grpc.status.OK : grpc.status.PERMISSION_DENIED }, dynamicMetadata: { decision_id: decisionId } };
  if (allowed) res.okResponse = { headers };
  else res.deniedResponse = { status: { code: obj.http_status ?? 403 }, headers, body: typeof obj.body === 'string' ? obj.body : '' };
  return CheckResponse.fromPartial(res);
}

(async () => {
  const policy = await loadPolicy(compile());
  const server = new grpc.Server();
  server.addService(AuthorizationService, {
    check(call, callback) {
      try {
        const rows = policy.evaluate(toInput(call.request), ENTRYPOINT);
        if (rows.length === 0 || rows[0].result === undefined) throw new Error(`${ENTRYPOINT} is undefined`);
        callback(null, toResponse(rows[0].result, randomUUID()));
      } catch (err) {
        process.stderr.write(`check failed: ${err.message}\n`);
        callback({ code: grpc.status.INTERNAL, details: 'internal error' });
      }
    },
  });
  server.bindAsync(ADDR, grpc.ServerCredentials.createInsecure(), (err) => {
    if (err) {
      console.error(err.message);
      process.exit(1);
    }
  });
  process.on('SIGTERM', () => server.tryShutdown(() => process.exit(0)));
})().catch((err) => {
  console.error(err.stack || String(err));
  process.exit(1);
});
