/**
 * The native addon through its JS surface: the real module, loaded by
 * src/native/ as the server loads it.
 */
import { expect } from 'chai';
import { createEngine } from '../../src/engine/native-engine';
import { EngineError } from '../../src/engine/types';
import { CheckResponse } from '../../src/gen/envoy/service/auth/v3/external_auth';
import { nativeAddon, RUST_AVAILABLE, RustCache, RustOPAEngine } from '../../src/native';
import { encodeEnvoyCheckRequest } from '../helpers/envoy-request';

const POLICY = `package envoy.authz

default allow := false

allow if input.method == "GET"
allow if startswith(input.path, "/public/")
`;

function engineWith(source: string, data: unknown = {}) {
  const engine = new RustOPAEngine!();
  engine.compile([{ name: 'policy.rego', source }], JSON.stringify(data));
  return engine;
}

function thrown(f: () => unknown): Error & { code?: string; diagnosticsJson?: string } {
  try {
    f();
  } catch (err) {
    return err as Error & { code?: string };
  }
  throw new Error('expected an error');
}

describe('native: RustOPAEngine', () => {
  it('is loaded', () => {
    expect(RUST_AVAILABLE).to.equal(true);
    expect(nativeAddon!.version()).to.match(/^\d+\.\d+\.\d+$/);
  });

  it('evaluates a prepared decision for each input, undefined and all', () => {
    const engine = engineWith(POLICY);
    const h = engine.prepare('envoy/authz/allow');
    expect(JSON.parse(engine.evaluate(h, JSON.stringify({ method: 'GET' })))).to.deep.equal({ value: true, cacheable: true });
    expect(JSON.parse(engine.evaluate(h, JSON.stringify({ method: 'POST', path: '/public/x' }))).value).to.equal(true);
    expect(JSON.parse(engine.evaluate(h, JSON.stringify({ method: 'POST', path: '/private' }))).value).to.equal(false);
    const missing = engine.prepare('data.envoy.authz.nothing');
    expect(JSON.parse(engine.evaluate(missing, '{}'))).to.deep.equal({ cacheable: true });
  });

  it('reports what the decision reads of the input', () => {
    const engine = engineWith(POLICY);
    const paths = JSON.parse(engine.inputPaths(engine.prepare('envoy/authz/allow'))) as string[][];
    expect(paths.map((p) => p.join('.')).sort()).to.deep.equal(['method', 'path']);
  });

  it('marks decisions that reached a non-deterministic builtin as not cacheable', () => {
    const engine = engineWith('package t\nnow := time.now_ns()\nfixed := 1\n');
    expect(JSON.parse(engine.evaluate(engine.prepare('t/now'))).cacheable).to.equal(false);
    expect(JSON.parse(engine.evaluate(engine.prepare('t/fixed'))).cacheable).to.equal(true);
  });

  it('throws compile errors with a code and located diagnostics', () => {
    const engine = new RustOPAEngine!();
    const err = thrown(() => engine.compile([{ name: 'bad.rego', source: 'package x\n\nallow if {\n' }], '{}'));
    expect(err.code).to.equal('rego_parse_error');
    expect(err.message).to.match(/^bad\.rego:\d+:\d+: rego_parse_error: /);
    const diags = JSON.parse(err.diagnosticsJson!) as Array<{ file: string; line: number }>;
    expect(diags[0].file).to.equal('bad.rego');
    expect(diags[0].line).to.be.greaterThan(0);
  });

  it('throws evaluation errors with OPA codes', () => {
    const engine = engineWith('package t\np := 1 if input.a\np := 2 if input.b\n');
    const err = thrown(() => engine.evaluate(engine.prepare('t/p'), JSON.stringify({ a: true, b: true })));
    expect(err.code).to.equal('eval_conflict_error');
  });

  it('ends a runaway evaluation with a limit error instead of hanging', () => {
    const engine = engineWith('package t\np if { some x in numbers.range(1, 20000); some y in numbers.range(1, 20000); x == y + 50000 }\n');
    const h = engine.prepare('t/p', { maxSteps: 100000 });
    expect(thrown(() => engine.evaluate(h)).code).to.equal('eval_limit_error');
  });

  it('refuses bad arguments with ERR_INVALID_ARG, not a crash', () => {
    const engine = engineWith(POLICY);
    expect(thrown(() => engine.evaluate(99, '{}')).code).to.equal('ERR_INVALID_ARG');
    expect(thrown(() => engine.evaluate(0, '{not json')).code).to.equal('ERR_INVALID_ARG');
    // Arguments of the wrong JavaScript type are refused by napi-rs's conversions, with its codes.
    expect(thrown(() => (engine.compile as (...a: unknown[]) => void)(42, '{}')).code).to.equal('ArrayExpected');
    expect(thrown(() => new RustOPAEngine!().prepare('x')).code).to.equal('ERR_NOT_COMPILED');
  });

  it('refuses an object of the wrong class where a RustCache is expected', () => {
    const engine = engineWith(POLICY);
    const h = engine.prepare('envoy/authz/allow');
    const err = thrown(() => engine.check(h, Buffer.alloc(0), 3, Buffer.alloc(1024), engine as unknown as InstanceType<NonNullable<typeof RustCache>>));
    expect(err.code).to.equal('InvalidArg');
    expect(err.message).to.contain('RustCache');
    expect(thrown(() => (RustOPAEngine!.prototype.evaluate as (...a: unknown[]) => unknown).call(new RustCache!(), 0, '{}'))).to.be.instanceOf(TypeError);
  });

  it('turns a Rust panic into a JavaScript Error (napi-rs catch_unwind), and keeps working', () => {
    const panicForTest = (nativeAddon as unknown as { __panicForTest: () => void }).__panicForTest;
    const err = thrown(() => panicForTest());
    expect(err).to.be.instanceOf(Error);
    expect(err.code).to.equal('GenericFailure');
    expect(err.message).to.contain('panic requested by __panicForTest');
    const engine = engineWith(POLICY);
    expect(JSON.parse(engine.evaluate(engine.prepare('envoy/authz/allow'), '{"method":"GET"}')).value).to.equal(true);
  });

  it('lists its builtins as OPA capabilities', () => {
    const caps = JSON.parse(nativeAddon!.capabilities()) as { builtins: Array<{ name: string; decl: unknown }> };
    const names = caps.builtins.map((b) => b.name);
    expect(names).to.include.members(['count', 'time.now_ns', 'io.jwt.decode_verify', 'net.cidr_contains']);
    expect(caps.builtins.every((b) => typeof b.decl === 'object')).to.equal(true);
  });
});

describe('native: the Check result', () => {
  const source = 'package envoy.authz\nallow := {"allowed": input.attributes.request.http.method == "GET", "headers": {"x-big": concat("", [p, p, p, p])}}\np := input.attributes.request.http.path\n';
  const request = (method: string, path: string) => encodeEnvoyCheckRequest({ method, path });

  it('carries outcome, decision id, cache hit and evaluation time in one header', () => {
    const policy = createEngine().prepare([{ name: 'p.rego', source }], {}, 'data.envoy.authz.allow');
    const cache = new RustCache!();
    const bytes = policy.checkView(request('GET', '/a'), 3, cache);
    const res = CheckResponse.decode(bytes) as { dynamicMetadata?: Record<string, unknown> };
    expect(policy.last.outcome).to.equal('allow');
    expect(policy.last.cacheHit).to.equal(false);
    expect(policy.last.cacheable).to.equal(true);
    expect(policy.last.evalNs).to.be.greaterThan(0);
    expect(res.dynamicMetadata?.decision_id).to.equal(policy.last.decisionId());
    expect(policy.last.decisionId()).to.match(/^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/);
    const first = policy.last.decisionId();
    policy.checkView(request('GET', '/a'), 3, cache);
    expect([policy.last.cacheHit, policy.last.evalNs]).to.deep.equal([true, 0]);
    expect(policy.last.decisionId()).to.not.equal(first);
    policy.checkView(request('POST', '/a'), 3, cache);
    expect(policy.last.outcome).to.equal('deny');
  });

  it('hands back a larger buffer when a response does not fit, and keeps it', () => {
    const policy = createEngine().prepare([{ name: 'p.rego', source }], {}, 'data.envoy.authz.allow');
    const path = '/' + 'x'.repeat(20_000);
    const big = policy.checkBytes(request('GET', path), 3, null);
    expect(big.bytes.length).to.be.greaterThan(64 * 1024);
    const res = CheckResponse.decode(big.bytes) as { okResponse?: { headers?: Array<{ header?: { key: string; value: string } }> } };
    expect(res.okResponse?.headers?.[0]?.header?.value.length).to.be.greaterThan(64 * 1024);
    expect(policy.checkBytes(request('GET', path), 3, null).bytes.equals(big.bytes)).to.equal(false); // a new decision id
    expect(policy.checkBytes(request('GET', '/s'), 3, null).outcome).to.equal('allow');
  });

  it('throws an error result as EngineError with its code', () => {
    const policy = createEngine().prepare([{ name: 'p.rego', source: 'package envoy.authz\n' }], {}, 'data.envoy.authz.allow');
    let err: unknown;
    try {
      policy.checkBytes(request('GET', '/'), 3, null);
    } catch (e) {
      err = e;
    }
    expect(err).to.be.instanceOf(EngineError);
    expect((err as EngineError).code).to.equal('decision_undefined');
    expect(() => policy.checkBytes(Buffer.from([0xff, 0xff, 0xff]), 3, null)).to.throw(EngineError).with.property('code', 'request_malformed');
  });

  it('refuses a request buffer that overlaps the output buffer', () => {
    const engine = engineWith(POLICY);
    const h = engine.prepare('envoy/authz/allow');
    const out = Buffer.alloc(4096);
    expect(thrown(() => engine.check(h, out.subarray(0, 10), 3, out, null)).code).to.equal('ERR_INVALID_ARG');
    expect(thrown(() => engine.checker(h, null)(out.subarray(0, 10), 3, out, 0, 0)).code).to.equal('ERR_INVALID_ARG');
  });

  it('checker: a check function that answers as check does, through the cache it was made for', () => {
    const engine = engineWith(source);
    const h = engine.prepare('envoy/authz/allow');
    const cache = new RustCache!(100, 1 << 20, 0, 4);
    const check = engine.checker(h, cache);
    const kind = (out: Buffer) => out.readUInt32LE(0);
    const flags = (out: Buffer) => out.readUInt32LE(4);
    const [a, b] = [Buffer.alloc(4096), Buffer.alloc(4096)];
    expect(check(request('GET', '/x'), 3, a, 0, 0)).to.equal(null);
    engine.check(h, request('GET', '/x'), 3, b, null);
    expect([kind(a), kind(b)]).to.deep.equal([0, 0]); // allow, both ways
    expect(check(request('POST', '/x'), 3, a, 0, 0)).to.equal(null);
    expect(kind(a)).to.equal(1); // deny
    check(request('GET', '/x'), 3, a, 0, 0);
    expect(flags(a) & 1).to.equal(1); // a cache hit: the cache given to checker
    expect(cache.size()).to.equal(2);
    expect(thrown(() => check(request('GET', '/x'), 4, a, 0, 0)).code).to.equal('ERR_INVALID_ARG');
    expect(thrown(() => engine.checker(99, null)).code).to.equal('ERR_INVALID_ARG');
  });
});

describe('native: RustCache', () => {
  it('gets what was set, and misses the rest', () => {
    const c = new RustCache!(100, 1 << 20, 0, 4);
    expect(c.set('k', 'v')).to.equal(true);
    expect(c.get('k')).to.equal('v');
    expect(c.get('absent')).to.equal(null);
    expect(c.size()).to.equal(1);
    const s = c.stats();
    expect([s.hits, s.misses, s.inserts, s.entries]).to.deep.equal([1, 1, 1, 1]);
  });

  it('evicts the least recently used entry when full', () => {
    const c = new RustCache!(2, 1 << 20, 0, 1);
    c.set('a', '1');
    c.set('b', '2');
    c.get('a');
    c.set('c', '3');
    expect(c.get('b')).to.equal(null);
    expect(c.get('a')).to.equal('1');
    expect(c.stats().evictions).to.equal(1);
  });

  it('expires entries after their TTL', async () => {
    const c = new RustCache!(100, 1 << 20, 0, 1);
    c.set('short', 'x', 30);
    c.set('long', 'y', 60_000);
    await new Promise((r) => setTimeout(r, 60));
    expect(c.get('short')).to.equal(null);
    expect(c.get('long')).to.equal('y');
    expect(c.stats().expirations).to.equal(1);
  });

  it('refuses an entry larger than its byte bound', () => {
    const c = new RustCache!(100, 1000, 0, 1);
    expect(c.set('big', 'x'.repeat(5000))).to.equal(false);
    expect(c.get('big')).to.equal(null);
  });

  it('deletes and clears', () => {
    const c = new RustCache!();
    c.set('a', '1');
    expect(c.delete('a')).to.equal(true);
    expect(c.delete('a')).to.equal(false);
    c.set('b', '2');
    c.clear();
    expect(c.size()).to.equal(0);
  });

  it('refuses nonsense sizes', () => {
    expect(thrown(() => new RustCache!(0)).code).to.equal('ERR_INVALID_ARG');
  });
});
