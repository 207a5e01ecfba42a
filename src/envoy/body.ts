/**
 * `parsed_body` and `truncated_body`, as opa-envoy-plugin derives them from
 * the request headers and body: JSON (and any `application/*+json`),
 * url-encoded forms and multipart forms. gRPC bodies need a descriptor set
 * and are not parsed.
 */
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

export function parseBody(headers: Record<string, string>, body: string, rawBody: Uint8Array | undefined): ParsedBody {
  // Envoy marks a body cut at max_request_bytes, whatever the framing.
  if (headers['x-envoy-auth-partial-body'] === 'true') return { parsed: null, truncated: true };
  const contentType = headers['content-type'];
  if (contentType === undefined) return NONE;
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

function parseJson(text: string): unknown {
  try {
    return JSON.parse(text);
  } catch (err) {
    throw bodyError('invalid JSON body', err);
  }
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
    (out[name] ??= []).push(isJson ? parseJson(split.content) : split.content);
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
