/**
 * Prepares the linked engine module (native/wasm, `scripts/build-wasm.sh`)
 * for OPA's Wasm hosts, optionally embedding a policy:
 *
 * - Data segments become passive, copied in by a start function that first
 *   grows the imported memory to what the module needs: hosts such as
 *   opa-wasm hand over a 5-page memory, far less than the engine's stack and
 *   static data, and memory can only grow once the module runs.
 * - The exported globals `opa_wasm_abi_version` / `_minor_version` get their
 *   values (a Rust static exports its address, not its value).
 * - `policy` (JSON, see native/wasm/src/embedded.rs) goes into a segment of
 *   its own above the linked memory; the slot `SARK_POLICY_SLOT` gets its
 *   address and length.
 *
 * Only the binary format's section layout is touched; code is not rewritten.
 * Imports outside `env` (wasm-bindgen placeholders that ring pulls in on
 * wasm32, never called) are bound to `env.opa_abort`; so are the direct
 * engine's `sark_host` imports (clock, decision cache), unless the module is
 * for that engine (`hostImports`), which supplies them.
 */

const MAGIC = Buffer.from('\0asm\x01\0\0\0', 'latin1');
const PAGE = 65536;
/** "SARKPOL1" as the two little-endian words of `SARK_POLICY_SLOT`, then address and length 0. */
const SLOT = Buffer.from('SARKPOL1\0\0\0\0\0\0\0\0', 'latin1');

enum Section {
  Type = 1,
  Import = 2,
  Function = 3,
  Global = 6,
  Export = 7,
  Start = 8,
  Code = 10,
  Data = 11,
  DataCount = 12,
}

/** A cursor over bytes, reading the binary format's LEB128 integers. */
class Reader {
  constructor(
    readonly buf: Buffer,
    public pos = 0,
  ) {}
  byte(): number {
    if (this.pos >= this.buf.length) throw new Error('wasm module: unexpected end');
    return this.buf[this.pos++]!;
  }
  u32(): number {
    let result = 0;
    let shift = 0;
    for (;;) {
      const b = this.byte();
      result += (b & 0x7f) * 2 ** shift;
      if ((b & 0x80) === 0) return result;
      shift += 7;
      if (shift > 35) throw new Error('wasm module: bad LEB128');
    }
  }
  bytes(n: number): Buffer {
    if (this.pos + n > this.buf.length) throw new Error('wasm module: unexpected end');
    const b = this.buf.subarray(this.pos, this.pos + n);
    this.pos += n;
    return b;
  }
  name(): string {
    return this.bytes(this.u32()).toString('utf8');
  }
  /** Skips a constant expression (up to its `end`), returning an `i32.const` value if it is one. */
  constExpr(): number | undefined {
    const op = this.byte();
    let value: number | undefined;
    if (op === 0x41) value = this.s32();
    else if (op === 0x42) this.s32();
    else if (op === 0x23) this.u32();
    else if (op === 0x43) this.bytes(4);
    else if (op === 0x44) this.bytes(8);
    else throw new Error(`wasm module: unsupported constant expression 0x${op.toString(16)}`);
    if (this.byte() !== 0x0b) throw new Error('wasm module: constant expression not ended');
    return value;
  }
  s32(): number {
    let result = 0;
    let shift = 0;
    let b: number;
    do {
      b = this.byte();
      result |= (b & 0x7f) << shift;
      shift += 7;
    } while (b & 0x80);
    return shift < 32 && b & 0x40 ? result | (~0 << shift) : result;
  }
}

function u32(n: number): Buffer {
  const out: number[] = [];
  do {
    let b = n & 0x7f;
    n = Math.floor(n / 128);
    if (n !== 0) b |= 0x80;
    out.push(b);
  } while (n !== 0);
  return Buffer.from(out);
}

function s32(n: number): Buffer {
  const out: number[] = [];
  for (;;) {
    const b = n & 0x7f;
    n >>= 7;
    if ((n === 0 && (b & 0x40) === 0) || (n === -1 && (b & 0x40) !== 0)) {
      out.push(b);
      return Buffer.from(out);
    }
    out.push(b | 0x80);
  }
}

function name(s: string): Buffer {
  const b = Buffer.from(s, 'utf8');
  return Buffer.concat([u32(b.length), b]);
}

function vec(items: Buffer[]): Buffer {
  return Buffer.concat([u32(items.length), ...items]);
}

function section(id: number, payload: Buffer): Buffer {
  return Buffer.concat([Buffer.from([id]), u32(payload.length), payload]);
}

interface RawSection {
  id: number;
  payload: Buffer;
}

function sections(wasm: Buffer): RawSection[] {
  if (wasm.length < 8 || !wasm.subarray(0, 8).equals(MAGIC)) throw new Error('not a wasm module (version 1)');
  const r = new Reader(wasm, 8);
  const out: RawSection[] = [];
  while (r.pos < wasm.length) {
    const id = r.byte();
    out.push({ id, payload: r.bytes(r.u32()) });
  }
  return out;
}

/** Import section: the memory import's limits lowered to `minPages` (no maximum); counts of imported functions and globals. */
function rewriteImports(payload: Buffer, minPages: number, hostImports: boolean): { payload: Buffer; funcs: number; globals: number; memoryMin: number } {
  const r = new Reader(payload);
  const n = r.u32();
  const items: Buffer[] = [];
  let funcs = 0;
  let globals = 0;
  let memoryMin = -1;
  for (let i = 0; i < n; i++) {
    const start = r.pos;
    const module = r.name();
    r.name();
    const kind = r.byte();
    if (kind === 0) {
      const type = r.u32();
      funcs++;
      if (module !== 'env' && !(hostImports && module === 'sark_host')) {
        // wasm-bindgen's placeholders (pulled in by ring on wasm32), never called by the engine:
        // bound to `opa_abort`, which every OPA host provides, so hosts need nothing else.
        items.push(Buffer.concat([name('env'), name('opa_abort'), Buffer.from([0]), u32(type)]));
        continue;
      }
    } else if (kind === 1) {
      r.byte();
      const flags = r.byte();
      r.u32();
      if (flags & 1) r.u32();
    } else if (kind === 2) {
      const head = r.pos;
      const flags = r.byte();
      if (flags & ~1) throw new Error('wasm module: shared or 64-bit memory is not supported');
      memoryMin = r.u32();
      if (flags & 1) r.u32();
      items.push(Buffer.concat([payload.subarray(start, head), Buffer.from([0]), u32(minPages)]));
      continue;
    } else if (kind === 3) {
      r.byte();
      r.byte();
      globals++;
    } else throw new Error(`wasm module: unknown import kind ${kind}`);
    items.push(payload.subarray(start, r.pos));
  }
  if (memoryMin < 0) throw new Error('wasm module: memory is not imported (link with --import-memory)');
  return { payload: vec(items), funcs, globals, memoryMin };
}

function countOf(payload: Buffer): number {
  return new Reader(payload).u32();
}

/** Export section without wasm-bindgen's describe functions (build-time metadata of web-sys, unused here). */
function rewriteExports(payload: Buffer): Buffer {
  const r = new Reader(payload);
  const items: Buffer[] = [];
  for (let n = r.u32(); n > 0; n--) {
    const start = r.pos;
    const exported = r.name();
    r.byte();
    r.u32();
    if (!exported.startsWith('__wbindgen')) items.push(payload.subarray(start, r.pos));
  }
  return vec(items);
}

function exportedGlobals(payload: Buffer): Map<string, number> {
  const r = new Reader(payload);
  const out = new Map<string, number>();
  for (let n = r.u32(); n > 0; n--) {
    const name = r.name();
    const kind = r.byte();
    const index = r.u32();
    if (kind === 3) out.set(name, index);
  }
  return out;
}

/** Global section with the given (module-local) globals' initial values replaced by `i32.const value`. */
function rewriteGlobals(payload: Buffer, values: Map<number, number>): Buffer {
  const r = new Reader(payload);
  const n = r.u32();
  const items: Buffer[] = [];
  for (let i = 0; i < n; i++) {
    const type = r.bytes(2);
    const start = r.pos;
    r.constExpr();
    const v = values.get(i);
    items.push(v === undefined ? Buffer.concat([type, payload.subarray(start, r.pos)]) : Buffer.concat([type, Buffer.from([0x41]), s32(v), Buffer.from([0x0b])]));
  }
  return vec(items);
}

interface Segment {
  offset: number;
  data: Buffer;
}

function activeSegments(payload: Buffer): Segment[] {
  const r = new Reader(payload);
  const out: Segment[] = [];
  for (let n = r.u32(); n > 0; n--) {
    const flags = r.u32();
    if (flags === 1) throw new Error('wasm module: passive data segments are not expected');
    if (flags === 2 && r.u32() !== 0) throw new Error('wasm module: one memory expected');
    const offset = r.constExpr();
    if (offset === undefined) throw new Error('wasm module: data segment offset is not a constant');
    out.push({ offset, data: r.bytes(r.u32()) });
  }
  return out;
}

/** The start function: grow memory to `pages`, then copy each passive segment to its address and drop it. */
function startBody(pages: number, segments: Segment[], chained?: number): Buffer {
  const code: Buffer[] = [
    Buffer.from([0x00]), // no locals
    Buffer.from([0x3f, 0x00, 0x41]), s32(pages), Buffer.from([0x49, 0x04, 0x40]), // if memory.size < pages
    Buffer.from([0x41]), s32(pages), Buffer.from([0x3f, 0x00, 0x6b, 0x40, 0x00, 0x1a, 0x0b]), // memory.grow(pages - size); drop; end
  ];
  segments.forEach((s, i) => {
    code.push(Buffer.from([0x41]), s32(s.offset), Buffer.from([0x41, 0x00, 0x41]), s32(s.data.length));
    code.push(Buffer.from([0xfc, 0x08]), u32(i), Buffer.from([0x00]), Buffer.from([0xfc, 0x09]), u32(i)); // memory.init i; data.drop i
  });
  // The module's own start function, if it had one, runs after memory is set up.
  if (chained !== undefined) code.push(Buffer.from([0x10]), u32(chained));
  code.push(Buffer.from([0x0b]));
  const body = Buffer.concat(code);
  return Buffer.concat([u32(body.length), body]);
}

function appendToVector(payload: Buffer, item: Buffer): Buffer {
  const r = new Reader(payload);
  const n = r.u32();
  return Buffer.concat([u32(n + 1), payload.subarray(r.pos), item]);
}

/** Writes the policy's address and length into `SARK_POLICY_SLOT`, found by its magic words. */
function patchSlot(segments: Segment[], address: number, length: number): void {
  let found = 0;
  for (const s of segments) {
    for (let at = s.data.indexOf(SLOT); at >= 0; at = s.data.indexOf(SLOT, at + 1)) {
      if (found++ === 0) {
        const patched = Buffer.from(s.data);
        patched.writeUInt32LE(address, at + 8);
        patched.writeUInt32LE(length, at + 12);
        s.data = patched;
      }
    }
  }
  if (found !== 1) throw new Error(`wasm module: expected one policy slot, found ${found} (is this sark-engine.wasm?)`);
}

export interface PrepareModuleOptions {
  /** Policy JSON to embed (native/wasm/src/embedded.rs). */
  policy?: Buffer;
  /** Pages of memory the host must give (opa-wasm's default memory is 5 pages). Default 2. */
  importPages?: number;
  /** Keep the `sark_host` imports (for src/engine/wasm-engine.ts, which supplies them). Default false. */
  hostImports?: boolean;
}

/** The engine module rewritten for OPA's hosts (see the file comment). Throws on a module it does not expect. */
export function prepareModule(wasm: Buffer, options: PrepareModuleOptions = {}): Buffer {
  const all = sections(wasm);
  const find = (id: number) => all.find((s) => s.id === id);
  const start = find(Section.Start);
  const chained = start ? new Reader(start.payload).u32() : undefined;
  const imports = find(Section.Import);
  const types = find(Section.Type);
  const functions = find(Section.Function);
  const code = find(Section.Code);
  const data = find(Section.Data);
  if (!imports || !types || !functions || !code || !data) throw new Error('wasm module: missing sections');
  const importPages = options.importPages ?? 2;
  const imp = rewriteImports(imports.payload, importPages, options.hostImports ?? false);
  const segments = activeSegments(data.payload);

  let pages = imp.memoryMin;
  if (options.policy) {
    const address = pages * PAGE;
    patchSlot(segments, address, options.policy.length);
    segments.push({ offset: address, data: options.policy });
    pages += Math.ceil(options.policy.length / PAGE);
  } else {
    patchSlot(segments, 0, 0);
  }

  const globalsAt = exportedGlobals(find(Section.Export)?.payload ?? Buffer.from([0]));
  const values = new Map<number, number>();
  for (const name of ['opa_wasm_abi_version', 'opa_wasm_abi_minor_version']) {
    const index = globalsAt.get(name);
    if (index !== undefined) values.set(index - imp.globals, 1);
  }

  const typeIndex = countOf(types.payload);
  const funcIndex = imp.funcs + countOf(functions.payload);
  const passive = vec(segments.map((s) => Buffer.concat([Buffer.from([0x01]), u32(s.data.length), s.data])));

  const out: Buffer[] = [MAGIC];
  for (const s of all) {
    if (s.id === Section.DataCount || s.id === Section.Start) continue;
    if (s.id === Section.Code) out.push(section(Section.DataCount, u32(segments.length)));
    let payload = s.payload;
    if (s.id === Section.Type) payload = appendToVector(payload, Buffer.from([0x60, 0x00, 0x00]));
    else if (s.id === Section.Import) payload = imp.payload;
    else if (s.id === Section.Function) payload = appendToVector(payload, u32(typeIndex));
    else if (s.id === Section.Global) payload = rewriteGlobals(payload, values);
    else if (s.id === Section.Export) payload = rewriteExports(payload);
    else if (s.id === Section.Code) payload = appendToVector(payload, startBody(pages, segments, chained));
    else if (s.id === Section.Data) payload = passive;
    out.push(section(s.id, payload));
    if (s.id === Section.Export) out.push(section(Section.Start, u32(funcIndex)));
  }
  return Buffer.concat(out);
}
