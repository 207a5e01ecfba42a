/**
 * Generates well-formed Rego v1 programs (one module, base data, input) for
 * differential testing against `opa eval`. Deterministic: program `index` of
 * `seed` is always the same text. Programs are mostly type-correct and
 * terminating; errors (conflicts, builtin errors, type errors) happen at a
 * modest rate on purpose, since their class is compared too.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';

/** One generated (or saved) program. */
export interface Program {
  /** The module text (package `fuzz`). */
  module: string;
  /** Base data document (rules never write below `data.d`). */
  data: Record<string, unknown>;
  /** Input document, or undefined for none. */
  input?: unknown;
  /** Builtin errors raise (`--strict-builtin-errors`) instead of making the expression undefined. */
  strict: boolean;
  /** The query evaluated: always `data.fuzz`. */
  query: string;
}

/** Rules as structured pieces, so the minimiser can drop parts. */
export interface RuleText {
  /** Head and body lines; body literals are separate entries so they can be dropped. */
  head: string;
  literals: string[];
  /** `else` branches: `else := T if { ... }` with their literals. */
  elses: Array<{ head: string; literals: string[] }>;
}

export interface GeneratedProgram extends Program {
  rules: RuleText[];
}

// ---------------------------------------------------------------- randomness

/** A small seeded PRNG (mulberry32 over a 32-bit hash of seed and index). */
export class Rng {
  private s: number;
  constructor(seed: string) {
    let h = 2166136261;
    for (let i = 0; i < seed.length; i++) h = Math.imul(h ^ seed.charCodeAt(i), 16777619);
    this.s = h >>> 0;
  }
  next(): number {
    let t = (this.s = (this.s + 0x6d2b79f5) >>> 0);
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  }
  int(n: number): number {
    return Math.floor(this.next() * n);
  }
  chance(p: number): boolean {
    return this.next() < p;
  }
  pick<T>(xs: readonly T[]): T {
    return xs[this.int(xs.length)];
  }
}

// ---------------------------------------------------------------- types and builtins

type Ty = 'num' | 'str' | 'bool' | 'null' | 'arr' | 'set' | 'obj' | 'any';
const CONCRETE: Ty[] = ['num', 'str', 'bool', 'null', 'arr', 'set', 'obj'];

/** A capability type declaration (`opa capabilities`). */
interface Decl {
  type: string;
  of?: Decl | Decl[];
  static?: Decl[];
  dynamic?: Decl | { key: Decl; value: Decl };
}

interface Builtin {
  name: string;
  args: Decl[];
  result: Decl;
}

/** Deterministic builtins of OPA's capabilities (non-deterministic, deprecated and internal ones left out). */
export function loadBuiltins(): Builtin[] {
  const file = path.join(__dirname, 'builtins.json');
  // (dist/test/fuzz-opa has no copy: read the source tree's)
  const src = fs.existsSync(file) ? file : path.resolve(__dirname, '..', '..', '..', 'test', 'fuzz-opa', 'builtins.json');
  return JSON.parse(fs.readFileSync(src, 'utf8')) as Builtin[];
}

function tyOf(d: Decl): Ty {
  switch (d.type) {
    case 'number':
      return 'num';
    case 'string':
      return 'str';
    case 'boolean':
      return 'bool';
    case 'null':
      return 'null';
    case 'array':
      return 'arr';
    case 'set':
      return 'set';
    case 'object':
      return 'obj';
    default:
      return 'any';
  }
}

// ---------------------------------------------------------------- literal pools

const NUMS = [
  '0', '1', '-1', '2', '3', '7', '10', '-42', '0.5', '-2.5', '1.25', '3.14159', '1e3', '2.5e-3', '100',
  '9007199254740993', '-9007199254740993', '123456789012345678901234567890', '-98765432109876543210',
  '18446744073709551616', '1e20', '0.1', '0.2', '255', '65536', '1000000',
];
const STRS = [
  '""', '"a"', '"abc"', '"A b C"', '"héllo"', '"日本語"', '"🙂x"', '"a,b,c"', '"  pad  "', '"foo.bar"',
  '"a\\nb"', '"x\\ty"', '"\\u00e9t\\u00e9"', '"1.2.3"', '"1.10.0-rc.1+b"', '"10.0.0.0/8"', '"192.168.1.7"', '"::1"',
  '"{\\"a\\": [1, 2]}"', '"[1,2,3]"', '"YWJj"', '"aGVsbG8gd29ybGQ="', '"616263"', '"2024-01-02T03:04:05Z"',
  '"a*b"', '"*.example.com"', '"%v-%d"', '"%s:%s"', '"ab+c"', '"^[a-z]+$"', '"(\\\\d+)-(\\\\w+)"', '"10KB"', '"1.5Gi"',
  '"3h2m"', '"x=1&y=two"', '"true"', '"-17"', '"0x1F"', '"ABC"', '"a.b.c"', '"/path/to/x"', '"https://ex.com/a?b=1"',
  '"eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxIn0.sig"', '"key: [1, 2]\\nb: x"', '"{{.x}}"', '"12345678901234567890"',
];
const KEYS = ['"a"', '"b"', '"k"', '"x"', '"é"', '""', '"a.b"', '1', '2', 'true', 'null', '[1]'];

/** Names of data/input fields, with a JSON value generator. */
const FIELDS = ['a', 'b', 'c', 'n', 's', 'xs', 'ys', 'm', 'deep', 'e'];

// ---------------------------------------------------------------- generator

interface Var {
  name: string;
  ty: Ty;
}

interface RuleInfo {
  name: string;
  kind: 'complete' | 'set' | 'obj' | 'fn' | 'bool' | 'refhead';
  ty: Ty;
  arity: number;
}

/** Paths into data/input with the type found there. */
interface DocPath {
  ref: string;
  ty: Ty;
}

class Gen {
  private varCounter = 0;
  private rules: RuleInfo[] = [];
  private docPaths: DocPath[] = [];
  private depth = 0;

  constructor(
    private readonly rng: Rng,
    private readonly builtins: Builtin[],
  ) {}

  program(): GeneratedProgram {
    const r = this.rng;
    const data = { d: this.jsonObject(3) };
    const input = r.chance(0.9) ? this.jsonObject(3) : undefined;
    this.collectPaths('data.d', data.d);
    if (input !== undefined) this.collectPaths('input', input);
    const n = 2 + r.int(6);
    const out: RuleText[] = [];
    for (let i = 0; i < n; i++) out.push(...this.rule(`r${i}`, i).map(blankUnusedDeclarations));
    const module = render(out);
    return { module, rules: out, data, input, strict: r.chance(0.5), query: 'data.fuzz' };
  }

  // ------------------------------------------------------------ JSON documents

  private jsonValue(depth: number): unknown {
    const r = this.rng;
    if (depth <= 0 || r.chance(0.45)) {
      switch (r.int(6)) {
        case 0:
          return JSON.parse(r.pick(NUMS.filter((n) => n.length < 16)));
        case 1:
        case 2:
          return JSON.parse(r.pick(STRS));
        case 3:
          return r.chance(0.5);
        case 4:
          return null;
        default:
          return r.int(20) - 5;
      }
    }
    if (r.chance(0.05)) return this.deepValue(10 + r.int(40));
    if (r.chance(0.5)) return Array.from({ length: r.int(5) }, () => this.jsonValue(depth - 1));
    return this.jsonObject(depth - 1);
  }

  private deepValue(n: number): unknown {
    let v: unknown = this.rng.int(3);
    for (let i = 0; i < n; i++) v = this.rng.chance(0.5) ? [v] : { x: v };
    return v;
  }

  private jsonObject(depth: number): Record<string, unknown> {
    const o: Record<string, unknown> = {};
    const n = 1 + this.rng.int(5);
    for (let i = 0; i < n; i++) o[this.rng.pick(FIELDS)] = this.jsonValue(depth);
    return o;
  }

  private collectPaths(ref: string, v: unknown, depth = 0): void {
    this.docPaths.push({ ref, ty: jsonTy(v) });
    if (depth > 3 || v === null || typeof v !== 'object') return;
    if (Array.isArray(v)) {
      v.slice(0, 3).forEach((x, i) => this.collectPaths(`${ref}[${i}]`, x, depth + 1));
    } else {
      for (const [k, x] of Object.entries(v)) this.collectPaths(/^[a-z]+$/.test(k) ? `${ref}.${k}` : `${ref}[${JSON.stringify(k)}]`, x, depth + 1);
    }
  }

  // ------------------------------------------------------------ rules

  private fresh(prefix = 'v'): string {
    return `${prefix}${this.varCounter++}`;
  }

  private rule(name: string, i: number): RuleText[] {
    const r = this.rng;
    const kind = r.pick(['complete', 'complete', 'default', 'bool', 'set', 'set', 'obj', 'fn', 'fn', 'else', 'refhead', 'refhead', 'multi'] as const);
    const env: Var[] = [];
    switch (kind) {
      case 'complete': {
        const lits = this.body(env, 1 + r.int(4));
        const [t, ty] = this.term(env, r.pick(CONCRETE));
        this.rules.push({ name, kind: 'complete', ty, arity: 0 });
        return [{ head: `${name} := ${t} if`, literals: lits, elses: [] }];
      }
      case 'default': {
        const [dt, dty] = this.literal(r.pick(CONCRETE), 1);
        const lits = this.body(env, 1 + r.int(3));
        const [t] = this.term(env, dty);
        this.rules.push({ name, kind: 'complete', ty: dty, arity: 0 });
        return [
          { head: `default ${name} := ${dt}`, literals: [], elses: [] },
          { head: `${name} := ${t} if`, literals: lits, elses: [] },
        ];
      }
      case 'bool': {
        const lits = this.body(env, 1 + r.int(4));
        this.rules.push({ name, kind: 'bool', ty: 'bool', arity: 0 });
        return [{ head: `${name} if`, literals: lits, elses: [] }];
      }
      case 'set': {
        const defs: RuleText[] = [];
        const n = 1 + r.int(2);
        for (let k = 0; k < n; k++) {
          const e: Var[] = [];
          const lits = this.body(e, 1 + r.int(4), true);
          const [t] = this.term(e, 'any');
          defs.push({ head: `${name} contains ${t} if`, literals: lits, elses: [] });
        }
        this.rules.push({ name, kind: 'set', ty: 'set', arity: 0 });
        return defs;
      }
      case 'obj': {
        const lits = this.body(env, 1 + r.int(4), true);
        const [k] = this.term(env, r.pick(['str', 'num', 'str'] as Ty[]));
        const [v] = this.term(env, 'any');
        this.rules.push({ name, kind: 'obj', ty: 'obj', arity: 0 });
        return [{ head: `${name}[${k}] := ${v} if`, literals: lits, elses: [] }];
      }
      case 'fn': {
        const arity = 1 + r.int(2);
        const defs: RuleText[] = [];
        const n = 1 + r.int(2);
        const resTy = r.pick(CONCRETE);
        for (let k = 0; k < n; k++) {
          const params: string[] = [];
          const e: Var[] = [];
          for (let a = 0; a < arity; a++) {
            if (k > 0 && r.chance(0.3)) {
              params.push(this.literal(r.pick(['num', 'str'] as Ty[]), 0)[0]);
            } else {
              const p = this.fresh('p');
              params.push(p);
              e.push({ name: p, ty: 'any' });
            }
          }
          const lits = this.body(e, r.int(3));
          const [t] = this.term(e, resTy);
          defs.push({ head: `${name}(${params.join(', ')}) := ${t}${lits.length ? ' if' : ''}`, literals: lits, elses: [] });
        }
        this.rules.push({ name, kind: 'fn', ty: resTy, arity });
        return defs;
      }
      case 'else': {
        const ty = r.pick(CONCRETE);
        const lits = this.body(env, 1 + r.int(3));
        const [t] = this.term(env, ty);
        const elses: RuleText['elses'] = [];
        const n = 1 + r.int(2);
        for (let k = 0; k < n; k++) {
          const e: Var[] = [];
          const last = k === n - 1 && r.chance(0.5);
          const l = last ? [] : this.body(e, 1 + r.int(2));
          const [et] = this.term(e, ty);
          elses.push({ head: `else := ${et}${last ? '' : ' if'}`, literals: l });
        }
        this.rules.push({ name, kind: 'complete', ty, arity: 0 });
        return [{ head: `${name} := ${t} if`, literals: lits, elses }];
      }
      case 'refhead': {
        const defs: RuleText[] = [];
        const n = 1 + r.int(2);
        for (let k = 0; k < n; k++) {
          const e: Var[] = [];
          const lits = this.body(e, 1 + r.int(3), true);
          const [v] = this.term(e, 'any');
          const strVars = e.filter((x) => x.ty === 'str' || x.ty === 'num');
          const shape = r.int(3);
          let head: string;
          if (shape === 0 || strVars.length === 0) head = `${name}.${r.pick(['a', 'b'])}.${r.pick(['x', 'y'])} := ${v} if`;
          else if (shape === 1) head = `${name}.${r.pick(['a', 'b'])}[${r.pick(strVars).name}] := ${v} if`;
          else head = `${name}[${r.pick(strVars).name}].${r.pick(['x', 'y'])} := ${v} if`;
          defs.push({ head, literals: lits, elses: [] });
        }
        this.rules.push({ name, kind: 'refhead', ty: 'obj', arity: 0 });
        return defs;
      }
      case 'multi': {
        const lits = this.body(env, 1 + r.int(3), true);
        const [t] = this.term(env, 'any');
        this.rules.push({ name, kind: 'refhead', ty: 'obj', arity: 0 });
        return [{ head: `${name}.${r.pick(['a', 'b'])} contains ${t} if`, literals: lits, elses: [] }];
      }
    }
  }

  // ------------------------------------------------------------ bodies

  /** `n` literals, binding new variables into `env`; `iterate` favours `some` first. */
  private body(env: Var[], n: number, iterate = false): string[] {
    const out: string[] = [];
    if (iterate) out.push(this.someIn(env));
    for (let i = 0; i < n; i++) out.push(this.literalExpr(env));
    return out;
  }

  private someIn(env: Var[]): string {
    const r = this.rng;
    const [coll] = this.collection(env);
    if (r.chance(0.5)) {
      const k = this.fresh();
      const v = this.fresh();
      env.push({ name: k, ty: 'any' }, { name: v, ty: 'any' });
      return `some ${k}, ${v} in ${coll}`;
    }
    const x = this.fresh();
    env.push({ name: x, ty: 'any' });
    return `some ${x} in ${coll}`;
  }

  private literalExpr(env: Var[]): string {
    const r = this.rng;
    const lit = this.plainLiteral(env);
    if (r.chance(0.15) && !/^(some|every) /.test(lit)) return `${lit}${this.withModifier()}`;
    return lit;
  }

  private plainLiteral(env: Var[]): string {
    const r = this.rng;
    this.depth++;
    try {
      const choice = this.depth > 2 ? r.int(4) : r.int(11);
      switch (choice) {
        case 0:
        case 1: {
          const ty = r.pick([...CONCRETE, 'any'] as Ty[]);
          const [t, tty] = this.term(env, ty);
          const v = this.fresh();
          env.push({ name: v, ty: tty });
          return `${v} := ${t}`;
        }
        case 2: {
          const ty = r.pick(['num', 'str', 'num', 'bool'] as Ty[]);
          const [a] = this.term(env, ty);
          const [b] = this.term(env, ty);
          return `${a} ${r.pick(['==', '!=', '<', '<=', '>', '>='])} ${b}`;
        }
        case 3:
          return this.boolCall(env);
        case 4:
          return this.someIn(env);
        case 5: {
          const bools = this.rules.filter((x) => x.kind === 'bool');
          if (bools.length > 0 && r.chance(0.3)) return `not ${r.pick(bools).name}`;
          if (r.chance(0.5)) return `not ${this.boolCall(env)}`;
          const ty = r.pick(['num', 'str', 'bool', 'null'] as Ty[]);
          const [a] = this.term(env, ty);
          const [b] = this.term(env, ty);
          return `not ${a} ${r.pick(['==', '!=', '<'])} ${b}`;
        }
        case 6: {
          const [coll] = this.collection(env);
          const x = this.fresh();
          const e = [...env, { name: x, ty: 'any' as Ty }];
          const lits = [this.plainLiteral(e)];
          if (r.chance(0.3)) lits.push(this.plainLiteral(e));
          return `every ${x} in ${coll} { ${lits.join('; ')} }`;
        }
        case 7: {
          // Nested refs with variables bound by iteration.
          const p = r.pick(this.docPaths.filter((d) => d.ty === 'arr' || d.ty === 'obj').concat([{ ref: 'data.d', ty: 'obj' }]));
          const k = this.fresh();
          const v = this.fresh();
          env.push({ name: k, ty: 'any' }, { name: v, ty: 'any' });
          return `${v} := ${p.ref}[${k}]`;
        }
        case 8: {
          const ruleRefs = this.rules.filter((x) => x.kind === 'bool' || x.kind === 'set' || x.kind === 'obj');
          if (ruleRefs.length === 0) return this.boolCall(env);
          const rr = r.pick(ruleRefs);
          if (rr.kind === 'bool') return rr.name;
          const v = this.fresh();
          env.push({ name: v, ty: 'any' });
          return rr.kind === 'set' ? `some ${v} in ${rr.name}` : `${v} := ${rr.name}[_]`;
        }
        case 9: {
          const [t, ty] = this.comprehension(env);
          const v = this.fresh();
          env.push({ name: v, ty });
          return `${v} := ${t}`;
        }
        default: {
          // Membership of an untyped value (a variable or a document ref): a literal of another
          // type than the collection's elements is a type error, which other literals cover.
          const [c] = this.collection(env);
          const untyped = env.filter((v) => v.ty === 'any').map((v) => v.name).concat(this.docPaths.map((d) => d.ref));
          if (untyped.length === 0) return this.boolCall(env);
          return `${r.pick(untyped)} in ${c}`;
        }
      }
    } finally {
      this.depth--;
    }
  }

  private withModifier(): string {
    const r = this.rng;
    const fns = this.rules.filter((x) => x.kind === 'fn');
    const choice = r.int(5);
    if (choice === 0 || choice === 1) {
      const p = r.pick(this.docPaths.filter((d) => d.ref.startsWith('input')).concat([{ ref: 'input', ty: 'obj' }, { ref: 'input.a', ty: 'any' }]));
      return ` with ${p.ref.replace(/\[\d+\]$/, '')} as ${this.literal(r.pick(CONCRETE), 2)[0]}`;
    }
    if (choice === 2) {
      const p = r.pick(this.docPaths.filter((d) => d.ref.startsWith('data.d') && !/\[/.test(d.ref)).concat([{ ref: 'data.d.zz', ty: 'any' }]));
      return ` with ${p.ref} as ${this.literal(r.pick(CONCRETE), 2)[0]}`;
    }
    if (choice === 3 && fns.length > 0) {
      const f = r.pick(fns);
      const other = fns.filter((g) => g.arity === f.arity && g !== f);
      if (other.length > 0 && r.chance(0.5)) return ` with ${f.name} as ${r.pick(other).name}`;
      return ` with ${f.name} as ${this.literal(f.ty, 1)[0]}`;
    }
    const b = r.pick(this.builtins.filter((x) => x.args.length <= 2 && !x.name.includes('jwt')));
    const sameArity = fns.filter((g) => g.arity === b.args.length);
    if (sameArity.length > 0 && r.chance(0.5)) return ` with ${b.name} as ${r.pick(sameArity).name}`;
    return ` with ${b.name} as ${this.literal(tyOf(b.result), 1)[0]}`;
  }

  private boolCall(env: Var[]): string {
    const bs = this.builtins.filter((b) => b.result.type === 'boolean');
    return this.call(env, this.rng.pick(bs));
  }

  // ------------------------------------------------------------ terms

  private collection(env: Var[]): [string, Ty] {
    const r = this.rng;
    const colls = env.filter((v) => v.ty === 'arr' || v.ty === 'set' || v.ty === 'obj');
    if (colls.length > 0 && r.chance(0.3)) {
      const v = r.pick(colls);
      return [v.name, v.ty];
    }
    const docs = this.docPaths.filter((d) => d.ty === 'arr' || d.ty === 'obj');
    if (docs.length > 0 && r.chance(0.4)) {
      const d = r.pick(docs);
      return [d.ref, d.ty];
    }
    const rulesColl = this.rules.filter((x) => x.kind === 'set' || x.kind === 'obj' || x.kind === 'refhead');
    if (rulesColl.length > 0 && r.chance(0.3)) {
      const x = r.pick(rulesColl);
      return [x.name, x.ty];
    }
    return this.literal(r.pick(['arr', 'set', 'obj'] as Ty[]), 2);
  }

  /** A term of type `ty` (`any`: whatever comes); returns its text and its (best known) type. */
  term(env: Var[], ty: Ty): [string, Ty] {
    const r = this.rng;
    this.depth++;
    try {
      const deep = this.depth > 4;
      const vars = env.filter((v) => ty === 'any' || v.ty === ty || v.ty === 'any');
      const c = deep ? r.int(3) : r.int(10);
      if (c === 0 && vars.length > 0) {
        const v = r.pick(vars);
        return [v.name, v.ty];
      }
      if (c <= 1) return this.literal(ty, 2);
      if (c === 2) {
        const docs = this.docPaths.filter((d) => ty === 'any' || d.ty === ty);
        if (docs.length > 0) {
          const d = r.pick(docs);
          return [d.ref, d.ty];
        }
        return this.literal(ty, 2);
      }
      if (c <= 5) {
        const bs = this.builtins.filter((b) => ty === 'any' || tyOf(b.result) === ty || tyOf(b.result) === 'any');
        const b = r.pick(bs);
        return [this.call(env, b), tyOf(b.result)];
      }
      if (c === 6 && (ty === 'num' || ty === 'any')) {
        const [a] = this.term(env, 'num');
        const [b] = this.term(env, 'num');
        return [`(${a} ${r.pick(['+', '-', '*', '/', '%'])} ${b})`, 'num'];
      }
      if (c === 6 && ty === 'set') {
        const [a] = this.term(env, 'set');
        const [b] = this.term(env, 'set');
        return [`(${a} ${r.pick(['|', '&', '-'])} ${b})`, 'set'];
      }
      if (c === 7 && (ty === 'arr' || ty === 'set' || ty === 'obj' || ty === 'any')) return this.comprehension(env, ty === 'any' ? undefined : ty);
      if (c === 8) {
        const rs = this.rules.filter((x) => x.kind !== 'fn' && (ty === 'any' || x.ty === ty || x.ty === 'any'));
        if (rs.length > 0) {
          const x = r.pick(rs);
          return [x.name, x.ty];
        }
      }
      if (c === 9) {
        const fs = this.rules.filter((x) => x.kind === 'fn' && (ty === 'any' || x.ty === ty));
        if (fs.length > 0) {
          const f = r.pick(fs);
          const args = Array.from({ length: f.arity }, () => this.term(env, r.pick(['num', 'str', 'any'] as Ty[]))[0]);
          return [`${f.name}(${args.join(', ')})`, f.ty];
        }
      }
      if (ty === 'arr' || ty === 'obj' || ty === 'set') {
        // A composite built from terms.
        const n = r.int(3);
        const items = Array.from({ length: n }, () => this.term(env, 'any')[0]);
        if (ty === 'arr') return [`[${items.join(', ')}]`, 'arr'];
        if (ty === 'set') return [n === 0 ? 'set()' : `{${items.join(', ')}}`, 'set'];
        return [`{${items.map((x) => `${r.pick(KEYS)}: ${x}`).join(', ')}}`, 'obj'];
      }
      return this.literal(ty, 2);
    } finally {
      this.depth--;
    }
  }

  private comprehension(env: Var[], want?: Ty): [string, Ty] {
    const r = this.rng;
    const kind: Ty = want ?? r.pick(['arr', 'set', 'obj'] as Ty[]);
    const e = [...env];
    const lits = [this.someIn(e)];
    if (r.chance(0.6)) lits.push(this.plainLiteral(e));
    const [t] = this.term(e, 'any');
    if (kind === 'obj') {
      const keyVars = e.slice(env.length);
      const k = keyVars.length > 0 ? r.pick(keyVars).name : this.term(e, 'str')[0];
      return [`{${k}: ${t} | ${lits.join('; ')}}`, 'obj'];
    }
    if (kind === 'set') return [`{${t} | ${lits.join('; ')}}`, 'set'];
    return [`[${t} | ${lits.join('; ')}]`, 'arr'];
  }

  /** A builtin call with type-correct (sometimes edge-case, sometimes wrong) arguments. */
  private call(env: Var[], b: Builtin): string {
    const r = this.rng;
    // Untyped parameters (`equal`, `lt`…) get one concrete type for all: two different
    // known types are a type error, which the 1% of wrong literals below already covers.
    const shared: Decl = { type: r.pick(['number', 'string', 'array', 'boolean']) };
    const args = b.args.map((d) => {
      if (r.chance(0.01)) return this.literal(r.pick(CONCRETE), 1)[0];
      return this.argFor(env, b.name, d.type === 'any' && d.of === undefined ? shared : d);
    });
    return `${b.name}(${args.join(', ')})`;
  }

  private argFor(env: Var[], fn: string, d: Decl): string {
    const r = this.rng;
    if (d.type === 'any' && Array.isArray(d.of) && d.of.length > 0) return this.argFor(env, fn, r.pick(d.of));
    const ty = tyOf(d);
    // Builtins whose work grows with an argument's value get small values only: both sides
    // would run for hours (we have no cost accounting inside builtins yet).
    const bounded = BOUNDED_BUILTINS.has(fn);
    if (ty === 'str' && (bounded || r.chance(0.6))) return r.pick(stringPool(fn));
    if (ty === 'num' && (bounded || r.chance(0.5))) return r.pick(numberPool(fn));
    if (d.type === 'array' && Array.isArray(d.static)) return `[${d.static.map((x) => this.argFor(env, fn, x)).join(', ')}]`;
    if (d.type === 'array' && d.dynamic && r.chance(0.5)) {
      const el = d.dynamic as Decl;
      return `[${Array.from({ length: r.int(4) }, () => this.argFor(env, fn, el)).join(', ')}]`;
    }
    if (d.type === 'set' && d.of && !Array.isArray(d.of) && r.chance(0.5)) {
      const n = r.int(4);
      return n === 0 ? 'set()' : `{${Array.from({ length: n }, () => this.argFor(env, fn, d.of as Decl)).join(', ')}}`;
    }
    return this.term(env, ty)[0];
  }

  /** A literal of a type (edge cases favoured). */
  literal(ty: Ty, depth: number): [string, Ty] {
    const r = this.rng;
    const t = ty === 'any' ? r.pick(CONCRETE) : ty;
    switch (t) {
      case 'num':
        return [r.pick(NUMS), 'num'];
      case 'str':
        return [r.pick(STRS), 'str'];
      case 'bool':
        return [r.chance(0.5) ? 'true' : 'false', 'bool'];
      case 'null':
        return ['null', 'null'];
      case 'arr': {
        if (depth <= 0) return ['[]', 'arr'];
        const n = r.int(4);
        return [`[${Array.from({ length: n }, () => this.literal('any', depth - 1)[0]).join(', ')}]`, 'arr'];
      }
      case 'set': {
        const n = depth <= 0 ? 0 : r.int(4);
        if (n === 0) return ['set()', 'set'];
        return [`{${Array.from({ length: n }, () => this.literal(r.pick(['num', 'str', 'arr'] as Ty[]), depth - 1)[0]).join(', ')}}`, 'set'];
      }
      default: {
        if (depth <= 0) return ['{}', 'obj'];
        const n = r.int(4);
        const keys = [...new Set(Array.from({ length: n }, () => r.pick(KEYS)))];
        return [`{${keys.map((k) => `${k}: ${this.literal('any', depth - 1)[0]}`).join(', ')}}`, 'obj'];
      }
    }
  }
}

/**
 * OPA rejects a variable declared by `some`/`every` and never used
 * (`declared var x unused`): such declarations become `_`.
 */
function blankUnusedDeclarations(rule: RuleText): RuleText {
  const all = [rule.head, ...rule.literals, ...rule.elses.flatMap((e) => [e.head, ...e.literals])].join('\n');
  const uses = (v: string): number => all.match(new RegExp(`\\b${v}\\b`, 'g'))?.length ?? 0;
  const fix = (lit: string): string =>
    lit.replace(/\b(some|every) (v\d+)(, (v\d+))? in /g, (_m, kw: string, a: string, _b: string | undefined, c: string | undefined) => {
      const x = uses(a) > 1 ? a : '_';
      if (c === undefined) return `${kw} ${x} in `;
      return `${kw} ${x}, ${uses(c) > 1 ? c : '_'} in `;
    });
  return { head: fix(rule.head), literals: rule.literals.map(fix), elses: rule.elses.map((e) => ({ head: fix(e.head), literals: e.literals.map(fix) })) };
}

function jsonTy(v: unknown): Ty {
  if (v === null) return 'null';
  if (Array.isArray(v)) return 'arr';
  switch (typeof v) {
    case 'number':
      return 'num';
    case 'string':
      return 'str';
    case 'boolean':
      return 'bool';
    case 'object':
      return 'obj';
    default:
      return 'any';
  }
}

const BOUNDED_BUILTINS = new Set(['net.cidr_expand', 'numbers.range', 'numbers.range_step', 'bits.lsh', 'strings.replace_n', 'format_int']);

/** Strings that mean something to a builtin family, so calls get past argument parsing. */
function stringPool(fn: string): string[] {
  if (fn.startsWith('regex.') || fn === 'regex.match') return ['"^a"', '"[a-z]+"', '"(\\\\w)(\\\\d)?"', '"a|b"', '"["', '".*"', '"é+"', '"x{2,}"'];
  if (fn.startsWith('semver.')) return ['"1.2.3"', '"1.10.0"', '"1.2.3-alpha"', '"1.2.3+b"', '"v1.2"', '"0.0.0"'];
  if (fn === 'net.cidr_expand') return ['"10.1.2.0/30"', '"192.168.0.1"', '"fe80::/126"', '"10.0.0.0/33"', '"x"'];
  if (fn.startsWith('net.cidr')) return ['"10.0.0.0/8"', '"10.1.2.0/24"', '"192.168.0.1"', '"::1/128"', '"fe80::/120"', '"10.0.0.0/33"', '"x"'];
  if (fn.startsWith('time.')) return ['"2024-01-02T03:04:05Z"', '"2006-01-02"', '"RFC3339"', '"1h30m"', '"-2h"', '"UTC"', '"Europe/Paris"', '"Mon Jan 2"', '"1.5s"'];
  if (fn.startsWith('units.')) return ['"10K"', '"1.5Gi"', '"100m"', '"12"', '"1e3"', '"1 KB"', '"-5Mi"'];
  if (fn.startsWith('base64')) return ['"YWJj"', '"aGVsbG8="', '"a"', '"_-8"', '"!!"'];
  if (fn.startsWith('hex.')) return ['"616263"', '"6"', '"zz"', '""'];
  if (fn.startsWith('json.') || fn.startsWith('yaml.')) return ['"{\\"a\\": 1}"', '"[1, 2.5, \\"x\\"]"', '"1e400"', '"a: 1\\nb: [x]"', '"{"', '"null"'];
  if (fn.startsWith('glob.')) return ['"*.com"', '"a.*"', '"**"', '"{a,b}"', '"[a-c]?"', '"a\\\\*"'];
  if (fn.startsWith('urlquery.')) return ['"a=1&b=2"', '"x=%20y"', '"%zz"', '"a&a=3"'];
  if (fn.startsWith('uuid.')) return ['"00000000-0000-0000-0000-000000000000"', '"6ba7b810-9dad-11d1-80b4-00c04fd430c8"', '"x"'];
  if (fn === 'sprintf') return ['"%v"', '"%d-%s"', '"%x"', '"%5.2f"', '"%v %v"', '"%q"', '"%%"'];
  if (fn === 'format_int') return ['"x"'];
  if (fn === 'to_number') return ['"12"', '"-1.5"', '"1e3"', '"0x10"', '"abc"', '"  3"'];
  if (fn.startsWith('uri.')) return ['"https://u@ex.com:8080/p?q=1#f"', '"/rel"', '"::"', '"mailto:a@b"'];
  if (fn.startsWith('graphql.')) return ['"{ a }"', '"type Query { a: Int }"', '"query { a }"', '"{"'];
  if (fn.startsWith('strings.render_template')) return ['"{{.a}}"', '"x"', '"{{"'];
  return STRS;
}

function numberPool(fn: string): string[] {
  if (fn.startsWith('bits.') || fn === 'format_int' || fn === 'numbers.range' || fn === 'numbers.range_step' || fn.startsWith('array.slice') || fn === 'substring') {
    return ['0', '1', '2', '3', '5', '-1', '-3', '8', '16', '63', '64', '1.5', '100'];
  }
  if (fn.startsWith('time.')) return ['0', '1704164645000000000', '-1', '1e18', '1'];
  return NUMS;
}

/** The module text: `package fuzz`, then each rule with one body literal a line. */
export function render(rules: RuleText[]): string {
  const lines = ['package fuzz', ''];
  for (const rule of rules) {
    lines.push(ruleText(rule.head, rule.literals) + rule.elses.map((e) => ' ' + ruleText(e.head, e.literals)).join(''));
    lines.push('');
  }
  return lines.join('\n');
}

function ruleText(head: string, literals: string[]): string {
  if (literals.length === 0) return head.replace(/ if$/, '');
  return `${head} {\n${literals.map((l) => `\t${l}`).join('\n')}\n}`;
}

/** OPA builtins the engine does not have yet (docs/conformance.md): drawing them would only measure that. */
const NOT_YET_BUILTINS = new Set(['uri.parse', 'uri.is_valid']);

let builtinsCache: Builtin[] | undefined;

/** Program `index` of the run with `seed`. */
export function generate(seed: string, index: number): GeneratedProgram {
  builtinsCache ??= loadBuiltins().filter((b) => !NOT_YET_BUILTINS.has(b.name));
  return new Gen(new Rng(`${seed}/${index}`), builtinsCache).program();
}
