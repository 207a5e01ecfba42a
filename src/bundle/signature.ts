/**
 * OPA bundle signatures: `.signatures.json` = `{"signatures": [JWT]}`, the
 * JWT's payload listing every file with its SHA-256 (`files: [{name, hash,
 * algorithm}]`), plus `keyid` and optionally `scope`. JSON files are
 * hashed in OPA's canonical form (keys sorted, no spaces, Go's escaping),
 * other files as bytes. Algorithms: RS256, ES256 (public keys, PEM) and
 * HS256 (a shared secret). Uses node:crypto only.
 */
import * as crypto from 'node:crypto';
import { AuthzError } from '../errors';
import type { Bundle } from './archive';

export type SigningAlgorithm = 'RS256' | 'ES256' | 'HS256';

export interface VerificationKey {
  algorithm: SigningAlgorithm;
  /** PEM public key (RS256/ES256) or the shared secret (HS256). */
  key: string;
}

export interface SigningOptions {
  /** Keys by id. */
  keys: Record<string, VerificationKey>;
  /** Key id used when the signature names none. */
  keyid?: string;
  /** Required `scope` claim, if set. */
  scope?: string;
  /** Files not covered by the signature. */
  excludeFiles?: string[];
}

const ALGORITHMS: SigningAlgorithm[] = ['RS256', 'ES256', 'HS256'];

/** Validates the `bundle.signing.keys` config map; throws AuthzError `config_invalid` naming the key. */
export function validateKeys(keys: unknown, at = 'bundle.signing.keys'): Record<string, VerificationKey> {
  if (typeof keys !== 'object' || keys === null || Array.isArray(keys)) throw new AuthzError('config_invalid', `${at}: must be a map of key id to {algorithm, key}`);
  const out: Record<string, VerificationKey> = {};
  for (const [id, k] of Object.entries(keys as Record<string, unknown>)) {
    const v = k as { algorithm?: unknown; key?: unknown };
    if (!ALGORITHMS.includes(v?.algorithm as SigningAlgorithm)) throw new AuthzError('config_invalid', `${at}.${id}.algorithm: must be one of ${ALGORITHMS.join(', ')}`);
    if (typeof v.key !== 'string' || v.key === '') throw new AuthzError('config_invalid', `${at}.${id}.key: must be a PEM public key or an HS256 secret`);
    if (v.algorithm !== 'HS256') {
      try {
        crypto.createPublicKey(v.key);
      } catch (err) {
        throw new AuthzError('config_invalid', `${at}.${id}.key: not a PEM public key (${(err as Error).message})`);
      }
    }
    out[id] = { algorithm: v.algorithm as SigningAlgorithm, key: v.key };
  }
  return out;
}

/** Go's json.Marshal of a string: HTML-safe escaping. */
function goString(s: string): string {
  return JSON.stringify(s).replace(/[<>&\u2028\u2029]/g, (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`);
}

/** OPA's canonical JSON for hashing. */
export function canonicalJson(v: unknown): string {
  if (v === null || typeof v !== 'object') return typeof v === 'string' ? goString(v) : JSON.stringify(v);
  if (Array.isArray(v)) return `[${v.map(canonicalJson).join(',')}]`;
  const keys = Object.keys(v as Record<string, unknown>).sort();
  return `{${keys.map((k) => `${goString(k)}:${canonicalJson((v as Record<string, unknown>)[k])}`).join(',')}}`;
}

/** The SHA-256 (hex) OPA records for a bundle file. */
export function fileHash(name: string, bytes: Buffer): string {
  const h = crypto.createHash('sha256');
  if (name.endsWith('.json')) {
    let value: unknown;
    try {
      value = JSON.parse(bytes.toString('utf8'));
    } catch {
      h.update(bytes);
      return h.digest('hex');
    }
    h.update(canonicalJson(value));
  } else {
    h.update(bytes);
  }
  return h.digest('hex');
}

function b64url(s: string): Buffer {
  return Buffer.from(s.replace(/-/g, '+').replace(/_/g, '/'), 'base64');
}

function fail(message: string): never {
  throw new AuthzError('bundle_signature_invalid', message);
}

/** Verifies one compact JWS; returns its payload. */
function verifyJwt(token: string, options: SigningOptions): { files?: Array<{ name: string; hash: string; algorithm?: string }>; keyid?: string; scope?: string } {
  const parts = token.split('.');
  if (parts.length !== 3) fail('signature is not a compact JWT');
  let header: { alg?: string; kid?: string };
  let payload: { files?: Array<{ name: string; hash: string; algorithm?: string }>; keyid?: string; scope?: string };
  try {
    header = JSON.parse(b64url(parts[0]).toString('utf8'));
    payload = JSON.parse(b64url(parts[1]).toString('utf8'));
  } catch {
    fail('signature JWT header or payload is not JSON');
  }
  const keyid = payload.keyid ?? header.kid ?? options.keyid;
  if (!keyid) fail('signature names no key and bundle.signing.keyid is not set');
  const key = options.keys[keyid];
  if (!key) fail(`signature key "${keyid}" is not configured`);
  if (header.alg !== key.algorithm) fail(`signature algorithm ${String(header.alg)} does not match key "${keyid}" (${key.algorithm})`);
  const signed = Buffer.from(`${parts[0]}.${parts[1]}`);
  const sig = b64url(parts[2]);
  let ok = false;
  try {
    if (key.algorithm === 'HS256') {
      const mac = crypto.createHmac('sha256', key.key).update(signed).digest();
      ok = mac.length === sig.length && crypto.timingSafeEqual(mac, sig);
    } else if (key.algorithm === 'RS256') {
      ok = crypto.verify('sha256', signed, key.key, sig);
    } else {
      ok = crypto.verify('sha256', signed, { key: key.key, dsaEncoding: 'ieee-p1363' }, sig);
    }
  } catch {
    ok = false;
  }
  if (!ok) fail(`signature does not verify with key "${keyid}"`);
  if (options.scope !== undefined && payload.scope !== options.scope) fail(`signature scope ${JSON.stringify(payload.scope)} is not ${JSON.stringify(options.scope)}`);
  return payload;
}

/**
 * Verifies a bundle against its `.signatures.json`: the JWT's signature,
 * then every file's hash, and that no file is unsigned or missing.
 * Throws AuthzError `bundle_signature_invalid`.
 */
export function verifyBundle(bundle: Bundle, options: SigningOptions): void {
  if (!bundle.signatures) fail('the bundle is not signed (.signatures.json missing) and signing keys are configured');
  let doc: { signatures?: unknown };
  try {
    doc = JSON.parse(bundle.signatures.toString('utf8'));
  } catch {
    fail('.signatures.json is not JSON');
  }
  if (!Array.isArray(doc.signatures) || doc.signatures.length !== 1 || typeof doc.signatures[0] !== 'string') fail('.signatures.json must hold exactly one signature');
  const payload = verifyJwt(doc.signatures[0] as string, options);
  const listed = new Map<string, string>();
  for (const f of payload.files ?? []) {
    if (typeof f?.name !== 'string' || typeof f.hash !== 'string') fail('signature files entries need name and hash');
    if (f.algorithm !== undefined && f.algorithm !== 'SHA-256') fail(`${f.name}: hash algorithm ${f.algorithm} is not supported (SHA-256 is)`);
    listed.set(f.name.replace(/^\/+/, ''), f.hash.toLowerCase());
  }
  const excluded = new Set(options.excludeFiles ?? []);
  for (const [name, bytes] of bundle.files) {
    if (name === '.signatures.json' || excluded.has(name)) continue;
    const want = listed.get(name);
    if (want === undefined) fail(`${name}: not covered by the signature`);
    if (fileHash(name, bytes) !== want) fail(`${name}: hash does not match the signature`);
    listed.delete(name);
  }
  for (const name of listed.keys()) if (!excluded.has(name)) fail(`${name}: signed but missing from the bundle`);
}

/** Signs `files` as `opa build --signing-alg ALG` does (tests and tooling). */
export function signFiles(files: Map<string, Buffer>, alg: SigningAlgorithm, key: string | crypto.KeyObject, keyid: string, scope?: string): string {
  const enc = (o: unknown) => Buffer.from(JSON.stringify(o)).toString('base64url');
  const header = enc({ alg, typ: 'JWT' });
  const payload = enc({ files: [...files].map(([name, b]) => ({ name, hash: fileHash(name, b), algorithm: 'SHA-256' })), keyid, ...(scope ? { scope } : {}) });
  const data = Buffer.from(`${header}.${payload}`);
  const sig =
    alg === 'HS256'
      ? crypto.createHmac('sha256', key as string).update(data).digest()
      : alg === 'RS256'
        ? crypto.sign('sha256', data, key)
        : crypto.sign('sha256', data, { key: key as crypto.KeyObject, dsaEncoding: 'ieee-p1363' });
  return JSON.stringify({ signatures: [`${header}.${payload}.${sig.toString('base64url')}`] });
}
