/**
 * Envoy-shaped CheckRequests for differential tests and benchmarks, encoded
 * straight to protobuf bytes (what Envoy puts on the wire), from a seeded
 * generator: random headers, paths with escapes, bodies of every content
 * type, truncation, raw header maps, metadata, peers.
 */

/** A small, seedable PRNG (mulberry32): the same seed gives the same corpus. */
export function rng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** Appends protobuf fields; the subset of the wire format a CheckRequest needs. */
export class ProtoWriter {
  private chunks: number[] = [];

  varint(v: number | bigint): this {
    let x = BigInt.asUintN(64, BigInt(v));
    while (x >= 0x80n) {
      this.chunks.push(Number(x & 0x7fn) | 0x80);
      x >>= 7n;
    }
    this.chunks.push(Number(x));
    return this;
  }
  private tag(n: number, wt: number): void {
    this.varint((n << 3) | wt);
  }
  bytes(n: number, b: Uint8Array): this {
    this.tag(n, 2);
    this.varint(b.length);
    for (const x of b) this.chunks.push(x);
    return this;
  }
  string(n: number, s: string | undefined): this {
    if (s) this.bytes(n, Buffer.from(s, 'utf8'));
    return this;
  }
  uint(n: number, v: number | bigint | undefined): this {
    if (v !== undefined && BigInt(v) !== 0n) {
      this.tag(n, 0);
      this.varint(v);
    }
    return this;
  }
  bool(n: number, v: boolean | undefined, always = false): this {
    if (v || always) {
      this.tag(n, 0);
      this.varint(v ? 1 : 0);
    }
    return this;
  }
  double(n: number, v: number): this {
    this.tag(n, 1);
    const b = Buffer.alloc(8);
    b.writeDoubleLE(v);
    for (const x of b) this.chunks.push(x);
    return this;
  }
  message(n: number, build: (w: ProtoWriter) => void): this {
    const inner = new ProtoWriter();
    build(inner);
    return this.bytes(n, inner.finish());
  }
  finish(): Uint8Array {
    return Uint8Array.from(this.chunks);
  }
}

/** A JSON value for google.protobuf.Struct metadata. */
type Json = null | boolean | number | string | Json[] | { [k: string]: Json };

export interface PeerSpec {
  address?: { ip: string; port: number } | { pipe: string };
  service?: string;
  labels?: Record<string, string>;
  principal?: string;
  certificate?: string;
}

/** The parts of a CheckRequest a test or benchmark sets. */
export interface RequestSpec {
  source?: PeerSpec;
  destination?: PeerSpec;
  time?: { seconds: number; nanos: number };
  http: {
    id?: string;
    method?: string;
    headers?: Record<string, string>;
    /** Raw header list (Envoy's encode_raw_headers): sent as header_map instead of headers. */
    headerMap?: Array<[string, string]>;
    path?: string;
    host?: string;
    scheme?: string;
    size?: number;
    protocol?: string;
    body?: string;
    rawBody?: Uint8Array;
  };
  contextExtensions?: Record<string, string>;
  metadata?: Record<string, { [k: string]: Json }>;
  routeMetadata?: Record<string, { [k: string]: Json }>;
  sni?: string;
}

function writeStructValue(w: ProtoWriter, v: Json): void {
  if (v === null) w.uint(1, 0).bool(1, false, true);
  else if (typeof v === 'number') w.double(2, v);
  else if (typeof v === 'string') w.bytes(3, Buffer.from(v, 'utf8'));
  else if (typeof v === 'boolean') w.bool(4, v, true);
  else if (Array.isArray(v)) w.message(6, (l) => v.forEach((x) => l.message(1, (pv) => writeStructValue(pv, x))));
  else w.message(5, (s) => writeStruct(s, v));
}

function writeStruct(w: ProtoWriter, obj: { [k: string]: Json }): void {
  for (const [k, v] of Object.entries(obj)) {
    w.message(1, (e) => e.string(1, k).message(2, (pv) => writeStructValue(pv, v)));
  }
}

function writeMap(w: ProtoWriter, field: number, m: Record<string, string> | undefined): void {
  for (const [k, v] of Object.entries(m ?? {})) w.message(field, (e) => e.string(1, k).string(2, v));
}

function writePeer(w: ProtoWriter, p: PeerSpec): void {
  if (p.address) {
    const a = p.address;
    w.message(1, (addr) => {
      if ('ip' in a) addr.message(1, (sa) => sa.string(2, a.ip).uint(3, a.port));
      else addr.message(2, (pipe) => pipe.string(1, a.pipe));
    });
  }
  w.string(2, p.service);
  writeMap(w, 3, p.labels);
  w.string(4, p.principal).string(5, p.certificate);
}

function writeMetadata(w: ProtoWriter, md: Record<string, { [k: string]: Json }>): void {
  for (const [ns, st] of Object.entries(md)) w.message(1, (e) => e.string(1, ns).message(2, (s) => writeStruct(s, st)));
}

/** Encodes a CheckRequest (v3 field numbers; v2 shares them for these fields). */
export function encodeCheckRequest(spec: RequestSpec): Uint8Array {
  const w = new ProtoWriter();
  w.message(1, (attrs) => {
    if (spec.source) attrs.message(1, (p) => writePeer(p, spec.source!));
    if (spec.destination) attrs.message(2, (p) => writePeer(p, spec.destination!));
    attrs.message(4, (req) => {
      if (spec.time) req.message(1, (ts) => ts.uint(1, spec.time!.seconds).uint(2, spec.time!.nanos));
      const h = spec.http;
      req.message(2, (http) => {
        http.string(1, h.id).string(2, h.method);
        writeMap(http, 3, h.headers);
        http.string(4, h.path).string(5, h.host).string(6, h.scheme).uint(9, h.size).string(10, h.protocol).string(11, h.body);
        if (h.rawBody && h.rawBody.length) http.bytes(12, h.rawBody);
        if (h.headerMap) http.message(13, (hm) => h.headerMap!.forEach(([k, v]) => hm.message(1, (hv) => hv.string(1, k).bytes(3, Buffer.from(v)))));
      });
    });
    writeMap(attrs, 10, spec.contextExtensions);
    if (spec.metadata) attrs.message(11, (m) => writeMetadata(m, spec.metadata!));
    if (spec.sni) attrs.message(12, (t) => t.string(1, spec.sni));
    if (spec.routeMetadata) attrs.message(13, (m) => writeMetadata(m, spec.routeMetadata!));
  });
  return w.finish();
}

/** A plain request as Envoy sends it for `method path`, with the usual headers. */
export function envoyRequest(method: string, path: string, headers: Record<string, string> = {}, body = ''): RequestSpec {
  return {
    source: { address: { ip: '10.1.2.3', port: 45678 }, principal: 'spiffe://cluster.local/ns/default/sa/frontend' },
    destination: { address: { ip: '10.1.2.4', port: 8080 } },
    time: { seconds: 1764345600, nanos: 123456000 },
    http: {
      id: '10493925136294557937',
      method,
      headers: {
        ':authority': 'api.example.com',
        ':method': method,
        ':path': path,
        ':scheme': 'http',
        'x-request-id': '6c0c0b5e-2c4a-4f0e-9f3c-3f8a3b1e2d10',
        'user-agent': 'curl/8.5.0',
        accept: '*/*',
        ...headers,
      },
      path,
      host: 'api.example.com',
      scheme: 'http',
      protocol: 'HTTP/1.1',
      size: body.length,
      body,
    },
  };
}

const WORDS = ['api', 'v1', 'v2', 'users', 'admin', 'public', 'items', 'orders', 'health', 'a b', 'é', '日本', 'x.y', '_z'];
const ESCAPES = ['%20', '%2F', '%41', '%C3%A9', '%E2%82%AC', '+', '%2B', '%25', '%7E', '%FF', '%zz', '%'];
const METHODS = ['GET', 'POST', 'PUT', 'DELETE', 'PATCH', 'HEAD', 'OPTIONS'];
const ROLES = ['admin', 'ops', 'viewer', 'guest', ''];

function pick<T>(r: () => number, xs: readonly T[]): T {
  return xs[Math.floor(r() * xs.length)];
}

function randomPath(r: () => number): string {
  const n = Math.floor(r() * 5);
  let p = r() < 0.1 ? '//' : '/';
  const segs: string[] = [];
  for (let i = 0; i < n; i++) {
    let s = encodeURI(pick(r, WORDS)).replace(/%20/g, r() < 0.5 ? '%20' : '+');
    if (r() < 0.3) s += pick(r, ESCAPES);
    segs.push(s);
  }
  p += segs.join('/');
  if (r() < 0.1) p += '/';
  if (r() < 0.5) {
    const q: string[] = [];
    const m = 1 + Math.floor(r() * 4);
    for (let i = 0; i < m; i++) {
      const k = pick(r, ['id', 'page', 'q', 'tag', 'x y', 'empty', '']);
      const v = r() < 0.2 ? '' : pick(r, ['1', '2', 'a+b', 'c%20d', 'caf%C3%A9', '%zz', 'x=y']);
      q.push(r() < 0.1 ? k : `${encodeURIComponent(k)}=${v}`);
    }
    p += '?' + q.join(r() < 0.03 ? ';' : '&');
  }
  return p;
}

function randomJson(r: () => number, depth = 0): Json {
  const k = Math.floor(r() * (depth > 2 ? 4 : 6));
  switch (k) {
    case 0: return null;
    case 1: return r() < 0.5;
    case 2: return Math.floor(r() * 2000) - 1000 + (r() < 0.3 ? 0.5 : 0);
    case 3: return pick(r, ['', 'alice', 'bob', 'x"y', 'línea\n2']);
    case 4: return Array.from({ length: Math.floor(r() * 3) }, () => randomJson(r, depth + 1));
    default: {
      const o: { [k: string]: Json } = {};
      for (let i = 0; i < Math.floor(r() * 3); i++) o[pick(r, ['sub', 'iss', 'n', 'roles', 'nested'])] = randomJson(r, depth + 1);
      return o;
    }
  }
}

function randomBody(r: () => number): { contentType?: string; body: string; raw?: boolean; lengthDelta?: number } {
  const json = JSON.stringify(randomJson(r));
  switch (Math.floor(r() * 9)) {
    case 0: return { contentType: 'application/json', body: json };
    case 1: return { contentType: 'application/json; charset=utf-8', body: r() < 0.5 ? json : '{bad json', raw: r() < 0.3 };
    case 2: return { contentType: 'application/vnd.api+json', body: json };
    case 3: return { contentType: 'application/x-www-form-urlencoded', body: 'a=1&b=x+y&a=%C3%A9' + (r() < 0.2 ? '&c=%zz' : '') };
    case 4: {
      const b = 'BOUNDARY' + Math.floor(r() * 1000);
      const body = `--${b}\r\nContent-Disposition: form-data; name="user"\r\n\r\nalice\r\n--${b}\r\nContent-Disposition: form-data; name="meta"\r\nContent-Type: application/json\r\n\r\n${json}\r\n--${b}--\r\n`;
      return { contentType: `multipart/form-data; boundary=${b}`, body };
    }
    case 5: return { contentType: 'text/plain', body: 'hello' };
    case 6: return { contentType: 'application/grpc', body: '', raw: true };
    case 7: return { contentType: 'application/json', body: json, lengthDelta: 10 };
    default: return { body: '' };
  }
}

/** The n-th random Envoy-shaped request of a seeded corpus. */
export function randomRequest(r: () => number): RequestSpec {
  const method = pick(r, METHODS);
  const path = randomPath(r);
  const spec = envoyRequest(method, path);
  const headers = spec.http.headers!;
  headers['x-request-id'] = `${Math.floor(r() * 1e9)}-${Math.floor(r() * 1e9)}`;
  if (r() < 0.5) headers.traceparent = `00-${Math.floor(r() * 1e12).toString(16).padStart(32, '0')}-${Math.floor(r() * 1e8).toString(16).padStart(16, '0')}-01`;
  if (r() < 0.6) headers['x-role'] = pick(r, ROLES);
  if (r() < 0.3) headers.authorization = `Bearer ${Math.floor(r() * 1e9).toString(36)}`;
  if (r() < 0.2) headers['x-custom-' + Math.floor(r() * 5)] = pick(r, WORDS);
  const b = randomBody(r);
  if (b.contentType) headers['content-type'] = b.contentType;
  if (b.body && r() < 0.7) headers['content-length'] = String(Buffer.byteLength(b.body) + (b.lengthDelta ?? 0));
  if (r() < 0.05) headers['content-length'] = 'abc';
  if (r() < 0.05) headers['x-envoy-auth-partial-body'] = 'true';
  if (b.raw) spec.http.rawBody = Buffer.from(b.body || '\u0000\u0000\u0000\u0000\u0002\u0008\u0001');
  else spec.http.body = b.body;
  spec.http.id = String(Math.floor(r() * 1e15));
  spec.time = { seconds: 1764000000 + Math.floor(r() * 1e6), nanos: Math.floor(r() * 1e9) };
  if (r() < 0.15) {
    // Envoy's encode_raw_headers: a header list instead of the map, duplicates kept.
    spec.http.headerMap = Object.entries(headers);
    if (r() < 0.5) spec.http.headerMap.push(['x-dup', 'one'], ['x-dup', 'two']);
    delete spec.http.headers;
  }
  if (r() < 0.3) spec.source!.labels = { app: pick(r, WORDS), version: 'v' + Math.floor(r() * 3) };
  if (r() < 0.3) delete spec.source!.principal;
  if (r() < 0.1) spec.source!.address = { pipe: '/var/run/envoy.sock' };
  if (r() < 0.3) spec.contextExtensions = { virtual_host: pick(r, WORDS) };
  if (r() < 0.3) spec.metadata = { 'envoy.filters.http.jwt_authn': { payload: randomJson(r) } };
  if (r() < 0.1) spec.routeMetadata = { 'sark.route': { name: pick(r, WORDS) } };
  if (r() < 0.1) spec.sni = 'api.example.com';
  return spec;
}

/** `count` requests from `seed`, as protobuf bytes with their specs. */
export function corpus(seed: number, count: number): Array<{ spec: RequestSpec; bytes: Uint8Array }> {
  const r = rng(seed);
  return Array.from({ length: count }, () => {
    const spec = randomRequest(r);
    return { spec, bytes: encodeCheckRequest(spec) };
  });
}
