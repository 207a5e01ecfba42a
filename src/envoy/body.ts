/**
 * `parsed_body` and `truncated_body`, as opa-envoy-plugin derives them from
 * the request headers and body: JSON (and any `application/*+json`),
 * url-encoded forms, multipart forms and, given a protobuf descriptor set,
 * gRPC messages (rendered as protojson). Without a descriptor set gRPC
 * bodies are not parsed.
 */
import { createFileRegistry, fromBinary, ScalarType, toJson, type DescMessage, type FileRegistry, type JsonValue } from '@bufbuild/protobuf';
import { FileDescriptorSetSchema } from '@bufbuild/protobuf/wkt';
import { AuthzError } from './errors';
import { parseQuery } from './url';

export interface ParsedBody {
  /** The parsed body; null when absent, truncated or of a type that is not parsed. */
  parsed: unknown;
  /** True when Envoy sent only part of the body. */
  truncated: boolean;
}

const NONE: ParsedBody = { parsed: null, truncated: false };

type BodyKind = 'json' | 'form' | 'multipart' | 'other';

function bodyError(message: string, cause?: unknown): AuthzError {
  return new AuthzError('request_body_invalid', message, { cause });
}

/** What gRPC bodies need: the descriptor set and the request's `parsed_path`. */
export interface GrpcContext {
  /** A serialized FileDescriptorSet (`protoc --include_imports --descriptor_set_out`). */
  protoDescriptor: Uint8Array;
  parsedPath: string[];
}

export function parseBody(headers: Record<string, string>, body: string, rawBody: Uint8Array | undefined, grpc?: GrpcContext): ParsedBody {
  // Envoy marks a body cut at max_request_bytes, whatever the framing.
  if (headers['x-envoy-auth-partial-body'] === 'true') return { parsed: null, truncated: true };
  const contentType = headers['content-type'];
  if (contentType === undefined) return NONE;
  if (!contentType.includes('application/json') && contentType.includes('application/grpc')) return grpcBody(grpc, rawBody);
  let payload = body;
  if (payload === '') {
    if (!rawBody || rawBody.length === 0) return NONE;
    payload = Buffer.from(rawBody.buffer, rawBody.byteOffset, rawBody.length).toString('utf8');
  }
  const kind = bodyKind(contentType);
  if (kind === 'other') return NONE;
  const contentLength = headers['content-length'];
  if (contentLength !== undefined) {
    const cl = contentLength.trim();
    if (!/^[+-]?\d+$/.test(cl)) throw bodyError(`invalid content-length "${contentLength}"`);
    const n = Number(cl);
    if (n !== -1 && n > Buffer.byteLength(payload, 'utf8')) return { parsed: null, truncated: true };
  }
  switch (kind) {
    case 'json':
      return { parsed: parseJson(payload), truncated: false };
    case 'form':
      try {
        return { parsed: parseQuery(payload), truncated: false };
      } catch (err) {
        throw bodyError('invalid form body', err);
      }
    case 'multipart': {
      const b = boundary(contentType);
      return { parsed: b === undefined ? null : multipart(payload, b), truncated: false };
    }
  }
}

/**
 * The limits of the native JSON reader (native/engine/src/json.rs), so both
 * paths give one answer: nesting past what the input document may hold,
 * number texts longer than `MAX_NUMBER_TEXT` and numbers beyond a double's
 * range are invalid bodies. The input may nest 513 levels (0 to 512); a
 * body sits one level down (`input.parsed_body`), a multipart part's JSON three.
 */
const MAX_INPUT_LEVELS = 513;
const BODY_DEPTH = 1;
const MAX_NUMBER_TEXT = 4096;
/** Texts that may hold a number JSON.parse turns into ±Infinity, or a too-long one. */
const MAYBE_OUT_OF_RANGE = new RegExp(`\\d{309}|[eE]\\+?0*\\d{3}|[-+.\\deE]{${MAX_NUMBER_TEXT + 1}}`);

function parseJson(text: string, atDepth = BODY_DEPTH): unknown {
  const maxLevels = MAX_INPUT_LEVELS - atDepth;
  if (nestedDeeperThan(text, maxLevels)) throw bodyError(`invalid JSON body: nested deeper than ${maxLevels} levels`);
  if (MAYBE_OUT_OF_RANGE.test(text)) return parseJsonChecked(text);
  try {
    return JSON.parse(text);
  } catch (err) {
    throw bodyError('invalid JSON body', err);
  }
}

/** The slower parse, for the rare body that may hold a number out of range. */
function parseJsonChecked(text: string): unknown {
  let value: unknown;
  try {
    value = JSON.parse(text, (_key, v: unknown) => {
      if (typeof v === 'number' && !Number.isFinite(v)) throw new RangeError('number out of range');
      return v;
    });
  } catch (err) {
    throw bodyError('invalid JSON body', err);
  }
  const tooLong = new RegExp(`[-+.\\deE]{${MAX_NUMBER_TEXT + 1}}`);
  if (tooLong.test(stripStrings(text))) throw bodyError('invalid JSON body: number out of range');
  return value;
}

/** `text` without its string literals (for tests on the JSON syntax around them). */
function stripStrings(text: string): string {
  return text.replace(/"(?:[^"\\]|\\.)*"/g, '""');
}

/** Whether brackets outside strings nest deeper than `max` (linear, no recursion). */
function nestedDeeperThan(text: string, max: number): boolean {
  if (text.length <= 2 * max) return false;
  let depth = 0;
  let inString = false;
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (inString) {
      if (c === 0x5c) i++; // backslash: skip the escaped character
      else if (c === 0x22) inString = false;
    } else if (c === 0x22) {
      inString = true;
    } else if (c === 0x5b || c === 0x7b) {
      if (++depth > max) return true;
    } else if (c === 0x5d || c === 0x7d) {
      depth--;
    }
  }
  return false;
}

function bodyKind(contentType: string): BodyKind {
  if (contentType.includes('application/json')) return 'json';
  if (contentType.includes('application/grpc')) return 'other';
  if (contentType.includes('application/x-www-form-urlencoded')) return 'form';
  if (contentType.includes('multipart/form-data')) return 'multipart';
  const media = (contentType.split(';')[0] ?? '').trim().toLowerCase();
  if (media.startsWith('application/') && media.endsWith('+json')) return 'json';
  return 'other';
}

/** The `boundary` parameter of a media type, quoted or not. */
function boundary(contentType: string): string | undefined {
  for (const param of contentType.split(';').slice(1)) {
    const eq = param.indexOf('=');
    if (eq < 0) continue;
    if (param.slice(0, eq).trim().toLowerCase() === 'boundary') {
      const v = unquote(param.slice(eq + 1).trim());
      return v === '' ? undefined : v;
    }
  }
  return undefined;
}

function unquote(v: string): string {
  return v.length >= 2 && v.startsWith('"') && v.endsWith('"') ? v.slice(1, -1) : v;
}

/** A multipart/form-data body → `{name: [value, ...]}`; a JSON part contributes its parsed value. */
function multipart(payload: string, boundary: string): Record<string, unknown[]> {
  const delim = `--${boundary}`;
  const out: Record<string, unknown[]> = {};
  const start = payload.indexOf(delim);
  if (start < 0) throw bodyError('multipart: no boundary found');
  let rest = payload.slice(start + delim.length);
  for (;;) {
    if (rest.startsWith('--')) break; // closing delimiter
    rest = rest.replace(/^[ \t]+/, '');
    if (rest.startsWith('\r\n')) rest = rest.slice(2);
    else if (rest.startsWith('\n')) rest = rest.slice(1);
    else throw bodyError('multipart: malformed delimiter');
    let end = rest.indexOf(`\r\n${delim}`);
    let next = end + 2 + delim.length;
    if (end < 0) {
      end = rest.indexOf(`\n${delim}`);
      next = end + 1 + delim.length;
    }
    if (end < 0) throw bodyError('multipart: unterminated part');
    const part = rest.slice(0, end);
    rest = rest.slice(next);

    const split = splitHead(part);
    if (!split) throw bodyError('multipart: malformed part headers');
    let name: string | undefined;
    let isJson = false;
    for (const line of split.head.split(/\r?\n/)) {
      const colon = line.indexOf(':');
      if (colon < 0) continue;
      const k = line.slice(0, colon).trim().toLowerCase();
      const v = line.slice(colon + 1);
      if (k === 'content-disposition') name = formName(v);
      else if (k === 'content-type' && v.includes('application/json')) isJson = true;
    }
    if (!name) continue;
    (out[name] ??= []).push(isJson ? parseJson(split.content, BODY_DEPTH + 2) : split.content);
  }
  return out;
}

function splitHead(part: string): { head: string; content: string } | undefined {
  let i = part.indexOf('\r\n\r\n');
  if (i >= 0) return { head: part.slice(0, i), content: part.slice(i + 4) };
  i = part.indexOf('\n\n');
  if (i >= 0) return { head: part.slice(0, i), content: part.slice(i + 2) };
  // A part with no headers at all starts with the blank line.
  if (part.startsWith('\r\n')) return { head: '', content: part.slice(2) };
  if (part.startsWith('\n')) return { head: '', content: part.slice(1) };
  return undefined;
}

/** `form-data; name="field"` → `field` (form-data dispositions only, as Go's FormName). */
function formName(disposition: string): string | undefined {
  const [kind, ...params] = disposition.split(';');
  if (kind?.trim().toLowerCase() !== 'form-data') return undefined;
  for (const p of params) {
    const eq = p.indexOf('=');
    if (eq >= 0 && p.slice(0, eq).trim().toLowerCase() === 'name') return unquote(p.slice(eq + 1).trim());
  }
  return undefined;
}

const registries = new WeakMap<Uint8Array, FileRegistry>();

/**
 * The registry of a serialized FileDescriptorSet, built once per byte array.
 * Throws AuthzError `config_invalid` for bytes that are not a complete set.
 */
export function descriptorRegistry(protoDescriptor: Uint8Array): FileRegistry {
  let registry = registries.get(protoDescriptor);
  if (!registry) {
    try {
      registry = createFileRegistry(fromBinary(FileDescriptorSetSchema, protoDescriptor));
    } catch (err) {
      throw new AuthzError('config_invalid', `invalid protobuf descriptor set: ${err instanceof Error ? err.message : String(err)}`, { cause: err });
    }
    registries.set(protoDescriptor, registry);
  }
  return registry;
}

/**
 * A gRPC request body as opa-envoy-plugin reads it: only `raw_body` (Envoy's
 * `pack_as_bytes`), only the first length-prefixed message, only for a
 * unary or server-streaming method of a service in the set. A compressed
 * message, an unknown service or method, or a client-streaming method give
 * null; a frame longer than the bytes sent is truncated; a path that is not
 * `/Service/Method`, a frame shorter than 5 bytes or a message that does not
 * decode is `request_body_invalid`.
 */
function grpcBody(grpc: GrpcContext | undefined, rawBody: Uint8Array | undefined): ParsedBody {
  if (!grpc) return NONE;
  if (!rawBody || rawBody.length === 0) return NONE;
  const registry = descriptorRegistry(grpc.protoDescriptor);
  if (grpc.parsedPath.length !== 2) throw bodyError('invalid parsed path: not /Service/Method');
  const [serviceName, methodName] = grpc.parsedPath as [string, string];
  if (rawBody.length < 5) throw bodyError('gRPC frame shorter than 5 bytes');
  if (rawBody[0] !== 0) return NONE; // compressed: not supported
  const size = Buffer.from(rawBody.buffer, rawBody.byteOffset, rawBody.length).readUInt32BE(1);
  if (size > rawBody.length - 5) return { parsed: null, truncated: true };
  const service = registry.getService(serviceName);
  const method = service?.methods.find((m) => m.name === methodName);
  if (!method || method.methodKind === 'client_streaming' || method.methodKind === 'bidi_streaming') return NONE;
  let json: JsonValue;
  try {
    const message = fromBinary(method.input, rawBody.subarray(5, 5 + size), { readUnknownFields: false });
    json = toJson(method.input, message, { registry });
  } catch (err) {
    throw bodyError('invalid gRPC message', err);
  }
  return { parsed: float32AsWritten(method.input, json, registry), truncated: false };
}

const CUSTOM_JSON = new Set([
  'google.protobuf.Timestamp',
  'google.protobuf.Duration',
  'google.protobuf.FieldMask',
  'google.protobuf.Struct',
  'google.protobuf.Value',
  'google.protobuf.ListValue',
  'google.protobuf.DoubleValue',
  'google.protobuf.Int64Value',
  'google.protobuf.UInt64Value',
  'google.protobuf.Int32Value',
  'google.protobuf.UInt32Value',
  'google.protobuf.BoolValue',
  'google.protobuf.StringValue',
  'google.protobuf.BytesValue',
]);

/** A float32 as its shortest decimal, as Go's protojson writes it (`0.1`, not `0.10000000149011612`). */
function shortestFloat32(v: JsonValue): JsonValue {
  if (typeof v !== 'number' || !Number.isFinite(v)) return v;
  for (let p = 1; p < 10; p++) {
    const d = Number(v.toPrecision(p));
    if (Math.fround(d) === v) return d;
  }
  return v;
}

function isObject(v: JsonValue): v is { [k: string]: JsonValue } {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

/** Rewrites the float32 values of `json` (the rendering of a `desc` message) with {@link shortestFloat32}. */
function float32AsWritten(desc: DescMessage, json: JsonValue, registry: FileRegistry): JsonValue {
  if (desc.typeName === 'google.protobuf.FloatValue') return shortestFloat32(json);
  if (desc.typeName === 'google.protobuf.Any') {
    const typeUrl = isObject(json) ? json['@type'] : undefined;
    if (!isObject(json) || typeof typeUrl !== 'string') return json;
    const inner = registry.getMessage(typeUrl.slice(typeUrl.lastIndexOf('/') + 1));
    if (!inner) return json;
    if (inner.typeName === 'google.protobuf.Any' || inner.typeName === 'google.protobuf.FloatValue' || CUSTOM_JSON.has(inner.typeName)) {
      if (json.value !== undefined) json.value = float32AsWritten(inner, json.value, registry);
      return json;
    }
    return float32AsWritten(inner, json, registry);
  }
  if (CUSTOM_JSON.has(desc.typeName) || !isObject(json)) return json;
  for (const f of desc.fields) {
    const v = json[f.jsonName];
    if (v === undefined) continue;
    switch (f.fieldKind) {
      case 'scalar':
        if (f.scalar === ScalarType.FLOAT) json[f.jsonName] = shortestFloat32(v);
        break;
      case 'message':
        json[f.jsonName] = float32AsWritten(f.message, v, registry);
        break;
      case 'list':
        if (Array.isArray(v)) {
          if (f.listKind === 'scalar' && f.scalar === ScalarType.FLOAT) json[f.jsonName] = v.map(shortestFloat32);
          else if (f.listKind === 'message') json[f.jsonName] = v.map((item) => float32AsWritten(f.message, item, registry));
        }
        break;
      case 'map':
        if (isObject(v)) {
          for (const k of Object.keys(v)) {
            if (f.mapKind === 'scalar' && f.scalar === ScalarType.FLOAT) v[k] = shortestFloat32(v[k] as JsonValue);
            else if (f.mapKind === 'message') v[k] = float32AsWritten(f.message, v[k] as JsonValue, registry);
          }
        }
        break;
    }
  }
  return json;
}
