/**
 * The native addon through its JS surface: the real module, loaded by
 * src/native/ as the server loads it.
 */
import { expect } from 'chai';
import { nativeAddon, RUST_AVAILABLE, RustCache, RustOPAEngine } from '../../src/native';

const POLICY = `package envoy.authz

default allow := false

allow if input.method == "GET"
allow if startswith(input.path, "/public/")
`;

function engineWith(source: string, data: unknown = {}) {
  const engine = new RustOPAEngine!();
  engine.compile(JSON.stringify([{ name: 'policy.rego', source }]), JSON.stringify(data), null);
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
    const h = engine.prepare('envoy/authz/allow', null);
    expect(JSON.parse(engine.evaluate(h, JSON.stringify({ method: 'GET' })))).to.deep.equal({ value: true, cacheable: true });
    expect(JSON.parse(engine.evaluate(h, JSON.stringify({ method: 'POST', path: '/public/x' }))).value).to.equal(true);
    expect(JSON.parse(engine.evaluate(h, JSON.stringify({ method: 'POST', path: '/private' }))).value).to.equal(false);
    const missing = engine.prepare('data.envoy.authz.nothing', null);
    expect(JSON.parse(engine.evaluate(missing, '{}'))).to.deep.equal({ cacheable: true });
  });

  it('reports what the decision reads of the input', () => {
    const engine = engineWith(POLICY);
    const paths = JSON.parse(engine.inputPaths(engine.prepare('envoy/authz/allow', null))) as string[][];
    expect(paths.map((p) => p.join('.')).sort()).to.deep.equal(['method', 'path']);
  });

  it('marks decisions that reached a non-deterministic builtin as not cacheable', () => {
    const engine = engineWith('package t\nnow := time.now_ns()\nfixed := 1\n');
    expect(JSON.parse(engine.evaluate(engine.prepare('t/now', null), null)).cacheable).to.equal(false);
    expect(JSON.parse(engine.evaluate(engine.prepare('t/fixed', null), null)).cacheable).to.equal(true);
  });

  it('throws compile errors with a code and located diagnostics', () => {
    const engine = new RustOPAEngine!();
    const err = thrown(() => engine.compile(JSON.stringify([{ name: 'bad.rego', source: 'package x\n\nallow if {\n' }]), '{}', null));
    expect(err.code).to.equal('rego_parse_error');
    expect(err.message).to.match(/^bad\.rego:\d+:\d+: rego_parse_error: /);
    const diags = JSON.parse(err.diagnosticsJson!) as Array<{ file: string; line: number }>;
    expect(diags[0].file).to.equal('bad.rego');
    expect(diags[0].line).to.be.greaterThan(0);
  });

  it('throws evaluation errors with OPA codes', () => {
    const engine = engineWith('package t\np := 1 if input.a\np := 2 if input.b\n');
    const err = thrown(() => engine.evaluate(engine.prepare('t/p', null), JSON.stringify({ a: true, b: true })));
    expect(err.code).to.equal('eval_conflict_error');
  });

  it('ends a runaway evaluation with a limit error instead of hanging', () => {
    const engine = engineWith('package t\np if { some x in numbers.range(1, 20000); some y in numbers.range(1, 20000); x == y + 50000 }\n');
    const h = engine.prepare('t/p', JSON.stringify({ maxSteps: 100000 }));
    expect(thrown(() => engine.evaluate(h, null)).code).to.equal('eval_limit_error');
  });

  it('refuses bad arguments with ERR_INVALID_ARG, not a crash', () => {
    const engine = engineWith(POLICY);
    expect(thrown(() => engine.evaluate(99, '{}')).code).to.equal('ERR_INVALID_ARG');
    expect(thrown(() => engine.evaluate(0, '{not json')).code).to.equal('ERR_INVALID_ARG');
    expect(thrown(() => (engine.compile as (...a: unknown[]) => void)(42, '{}')).code).to.equal('ERR_INVALID_ARG');
    expect(thrown(() => new RustOPAEngine!().prepare('x', null)).code).to.equal('ERR_NOT_COMPILED');
  });

  it('refuses an object of the wrong class where a RustCache is expected', () => {
    const engine = engineWith(POLICY);
    const h = engine.prepare('envoy/authz/allow', null);
    const err = thrown(() => engine.check(h, Buffer.alloc(0), 3, Buffer.alloc(1024), engine as unknown as InstanceType<NonNullable<typeof RustCache>>));
    expect(err.code).to.equal('ERR_INVALID_ARG');
    expect(err.message).to.contain('RustCache');
    expect(thrown(() => (RustOPAEngine!.prototype.evaluate as (...a: unknown[]) => unknown).call(new RustCache!(), 0, '{}'))).to.be.instanceOf(TypeError);
  });

  it('turns a Rust panic into an Error with code RUST_PANIC, and keeps working', () => {
    const err = thrown(() => nativeAddon!.__panicForTest());
    expect(err.code).to.equal('RUST_PANIC');
    expect(err.message).to.contain('panic requested by __panicForTest');
    const engine = engineWith(POLICY);
    expect(JSON.parse(engine.evaluate(engine.prepare('envoy/authz/allow', null), '{"method":"GET"}')).value).to.equal(true);
  });

  it('lists its builtins as OPA capabilities', () => {
    const caps = JSON.parse(nativeAddon!.capabilities()) as { builtins: Array<{ name: string; decl: unknown }> };
    const names = caps.builtins.map((b) => b.name);
    expect(names).to.include.members(['count', 'time.now_ns', 'io.jwt.decode_verify', 'net.cidr_contains']);
    expect(caps.builtins.every((b) => typeof b.decl === 'object')).to.equal(true);
  });
});

describe('native: RustCache', () => {
  it('gets what was set, and misses the rest', () => {
    const c = new RustCache!(100, 1 << 20, 0, 4);
    expect(c.set('k', 'v')).to.equal(true);
    expect(c.get('k')).to.equal('v');
    expect(c.get('absent')).to.equal(undefined);
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
    expect(c.get('b')).to.equal(undefined);
    expect(c.get('a')).to.equal('1');
    expect(c.stats().evictions).to.equal(1);
  });

  it('expires entries after their TTL', async () => {
    const c = new RustCache!(100, 1 << 20, 0, 1);
    c.set('short', 'x', 30);
    c.set('long', 'y', 60_000);
    await new Promise((r) => setTimeout(r, 60));
    expect(c.get('short')).to.equal(undefined);
    expect(c.get('long')).to.equal('y');
    expect(c.stats().expirations).to.equal(1);
  });

  it('refuses an entry larger than its byte bound', () => {
    const c = new RustCache!(100, 1000, 0, 1);
    expect(c.set('big', 'x'.repeat(5000))).to.equal(false);
    expect(c.get('big')).to.equal(undefined);
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
