/**
 * Go's `url.PathUnescape` and `url.ParseQuery`, which opa-envoy-plugin uses
 * for `parsed_path` and `parsed_query`: the same escapes and the same errors.
 */
import { AuthzError } from './errors';

const HEX = /^[0-9a-fA-F]{2}$/;

/** Percent-decodes `s`; `plusIsSpace` for query components. Invalid UTF-8 becomes U+FFFD. */
export function unescape(s: string, plusIsSpace: boolean): string {
  if (!s.includes('%') && !(plusIsSpace && s.includes('+'))) return s;
  const bytes: number[] = [];
  const src = Buffer.from(s, 'utf8');
  for (let i = 0; i < src.length; ) {
    const c = src[i]!;
    if (c === 0x25 /* % */) {
      const hex = src.subarray(i + 1, i + 3).toString('latin1');
      if (!HEX.test(hex)) throw new AuthzError('request_path_invalid', `invalid URL escape "%${hex}"`);
      bytes.push(parseInt(hex, 16));
      i += 3;
    } else if (c === 0x2b /* + */ && plusIsSpace) {
      bytes.push(0x20);
      i += 1;
    } else {
      bytes.push(c);
      i += 1;
    }
  }
  return Buffer.from(bytes).toString('utf8');
}

/**
 * `parsed_path`, as opa-envoy-plugin builds it since its fix of
 * GHSA-9f29-v6mm-pw6w: the path before `?`, percent-decoded, with every
 * leading `/` trimmed, split on `/`. `/` gives `[""]`; `//admin/x` gives
 * `["admin", "x"]`, so `//` cannot slip past a rule on the first segment.
 */
export function parsedPath(path: string): string[] {
  const q = path.indexOf('?');
  const decoded = unescape(q >= 0 ? path.slice(0, q) : path, false);
  return decoded.replace(/^\/+/, '').split('/');
}

/** `parsed_query`: Go's `url.ParseQuery` of the part after `?`, `{key: [values...]}`. */
export function parsedQuery(path: string): Record<string, string[]> {
  const q = path.indexOf('?');
  return parseQuery(q >= 0 ? path.slice(q + 1) : '');
}

/** Go's `url.ParseQuery`: pairs split on `&`, `+` as space, `;` refused; the first error wins. */
export function parseQuery(raw: string): Record<string, string[]> {
  const out: Record<string, string[]> = Object.create(null);
  let first: AuthzError | undefined;
  for (const part of raw.split('&')) {
    if (part.includes(';')) {
      first ??= new AuthzError('request_path_invalid', 'invalid semicolon separator in query');
      continue;
    }
    if (part === '') continue;
    const eq = part.indexOf('=');
    try {
      const k = unescape(eq >= 0 ? part.slice(0, eq) : part, true);
      const v = unescape(eq >= 0 ? part.slice(eq + 1) : '', true);
      (out[k] ??= []).push(v);
    } catch (err) {
      first ??= AuthzError.from(err);
    }
  }
  if (first) throw first;
  return { ...out };
}
