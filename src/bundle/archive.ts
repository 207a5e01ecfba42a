/**
 * OPA bundles: a gzipped tarball with an optional `.manifest` (revision,
 * roots, rego_version), data files (`data.json`/`data.yaml`, placed at
 * the path of their directory: `a/b/data.json` → `data.a.b`), `.rego`
 * modules and optionally `.signatures.json` and a compiled `policy.wasm`
 * (reported, not evaluated: the `.rego` modules are).
 */
import * as path from 'node:path';
import { promisify } from 'node:util';
import * as zlib from 'node:zlib';
import { Parser, type ReadEntry } from 'tar';
import YAML from 'yaml';
import { AuthzError } from '../errors';
import type { PolicyModule } from '../engine/types';

export interface BundleManifest {
  revision: string;
  /** Paths under `data` the bundle owns. Default `['']`: everything. */
  roots: string[];
  /** 0 = Rego v0 modules, 1 = v1 (default). */
  rego_version?: number;
  metadata?: Record<string, unknown>;
}

export interface Bundle {
  manifest: BundleManifest;
  modules: PolicyModule[];
  data: Record<string, unknown>;
  /** `policy.wasm` files present (served through opa-wasm: see src/engine/opa-wasm-policy.ts). */
  wasm: string[];
  /** Every regular file by its path in the bundle (`/`-separated, no leading `./` or `/`). */
  files: Map<string, Buffer>;
  /** The raw `.signatures.json`, if any. */
  signatures?: Buffer;
}

type Obj = Record<string, unknown>;
const isObject = (v: unknown): v is Obj => typeof v === 'object' && v !== null && !Array.isArray(v);

/** Bounds against archive bombs. */
const MAX_FILES = 10_000;
/** The default of `bundle.size_limit_bytes`. */
export const DEFAULT_SIZE_LIMIT_BYTES = 64 * 1024 * 1024;

const gunzip = promisify(zlib.gunzip);

/**
 * Reads the tarball's regular files, inflating at most `sizeLimitBytes`
 * (off the main thread: a large bundle does not stall Checks). Throws
 * AuthzError `bundle_too_large` past the limit, `bundle_corrupt` otherwise.
 */
export async function readTarGz(archive: Buffer, sizeLimitBytes = DEFAULT_SIZE_LIMIT_BYTES): Promise<Map<string, Buffer>> {
  if (archive.length > sizeLimitBytes) throw tooLarge(`the archive is ${archive.length} bytes`, sizeLimitBytes);
  let tarBytes: Buffer;
  try {
    tarBytes = await gunzip(archive, { maxOutputLength: sizeLimitBytes });
  } catch (err) {
    // zlib stops as soon as the output would pass maxOutputLength.
    if ((err as NodeJS.ErrnoException).code === 'ERR_BUFFER_TOO_LARGE') throw tooLarge('it inflates beyond that', sizeLimitBytes);
    throw new AuthzError('bundle_corrupt', `not a gzip archive: ${(err as Error).message}`, { cause: err });
  }
  const files = new Map<string, Buffer>();
  await new Promise<void>((resolve, reject) => {
    let failed = false;
    const fail = (err: unknown) => {
      if (failed) return;
      failed = true;
      reject(new AuthzError('bundle_corrupt', `not a tar archive: ${(err as Error).message ?? String(err)}`, { cause: err }));
    };
    const parser = new Parser({
      strict: true,
      onReadEntry: (entry: ReadEntry) => {
        if (entry.type !== 'File' && entry.type !== 'OldFile') {
          entry.resume();
          return;
        }
        const name = normalize(entry.path);
        const chunks: Buffer[] = [];
        entry.on('data', (c: Buffer) => chunks.push(c));
        entry.on('end', () => {
          if (name === null) return fail(new Error(`unsafe path "${entry.path}"`));
          if (files.size >= MAX_FILES) return fail(new Error('too many files'));
          files.set(name, Buffer.concat(chunks));
        });
      },
    });
    parser.on('error', fail);
    parser.on('warn', (_code: string, message: string) => fail(new Error(message)));
    parser.on('end', () => (failed ? undefined : resolve()));
    parser.end(tarBytes);
  });
  if (files.size === 0) throw new AuthzError('bundle_corrupt', 'the archive holds no files');
  return files;
}

function tooLarge(what: string, limit: number): AuthzError {
  return new AuthzError('bundle_too_large', `the bundle is larger than bundle.size_limit_bytes (${limit} bytes): ${what}`);
}

/** `./a/b.rego` → `a/b.rego`; null for paths escaping the root. */
function normalize(p: string): string | null {
  const n = path.posix.normalize(p.replace(/\\/g, '/')).replace(/^(\.\/)+/, '').replace(/^\/+/, '');
  if (n === '..' || n.startsWith('../') || n === '.' || n === '') return null;
  return n;
}

function mergeAt(target: Obj, at: string[], value: unknown, file: string): void {
  if (at.length === 0) {
    if (!isObject(value)) throw new AuthzError('bundle_invalid', `${file}: data at the root must be an object`);
    mergeObjects(target, value, file);
    return;
  }
  let node = target;
  for (const seg of at.slice(0, -1)) {
    if (node[seg] === undefined) node[seg] = {};
    if (!isObject(node[seg])) throw new AuthzError('bundle_invalid', `${file}: data conflicts at ${at.join('.')}`);
    node = node[seg] as Obj;
  }
  const last = at[at.length - 1];
  if (isObject(node[last]) && isObject(value)) mergeObjects(node[last] as Obj, value, file);
  else if (node[last] !== undefined) throw new AuthzError('bundle_invalid', `${file}: data conflicts at ${at.join('.')}`);
  else node[last] = value;
}

function mergeObjects(into: Obj, from: Obj, file: string): void {
  for (const [k, v] of Object.entries(from)) {
    if (isObject(into[k]) && isObject(v)) mergeObjects(into[k] as Obj, v, file);
    else if (into[k] !== undefined) throw new AuthzError('bundle_invalid', `${file}: data conflicts at key "${k}"`);
    else into[k] = v;
  }
}

function parseManifest(bytes: Buffer | undefined): BundleManifest {
  if (!bytes) return { revision: '', roots: [''] };
  let m: unknown;
  try {
    m = JSON.parse(bytes.toString('utf8'));
  } catch (err) {
    throw new AuthzError('bundle_invalid', `.manifest: not JSON: ${(err as Error).message}`);
  }
  if (!isObject(m)) throw new AuthzError('bundle_invalid', '.manifest: must be a JSON object');
  const revision = m.revision ?? '';
  if (typeof revision !== 'string') throw new AuthzError('bundle_invalid', '.manifest: revision must be a string');
  const roots = m.roots ?? [''];
  if (!Array.isArray(roots) || !roots.every((r) => typeof r === 'string')) throw new AuthzError('bundle_invalid', '.manifest: roots must be a list of strings');
  const rv = m.rego_version;
  if (rv !== undefined && rv !== 0 && rv !== 1) throw new AuthzError('bundle_invalid', '.manifest: rego_version must be 0 or 1');
  return { revision, roots: (roots as string[]).map((r) => r.replace(/^\/+|\/+$/g, '')), rego_version: rv as number | undefined, metadata: isObject(m.metadata) ? m.metadata : undefined };
}

/** Whether `p` (slash path under data) is inside one of `roots`. */
function underRoots(p: string, roots: string[]): boolean {
  return roots.some((r) => r === '' || p === r || p.startsWith(`${r}/`));
}

/**
 * Parses a bundle archive of at most `sizeLimitBytes`, compressed or inflated.
 * Throws AuthzError `bundle_too_large`, `bundle_corrupt` (archive) or `bundle_invalid` (content).
 */
export async function parseBundle(archive: Buffer, sizeLimitBytes = DEFAULT_SIZE_LIMIT_BYTES): Promise<Bundle> {
  const files = await readTarGz(archive, sizeLimitBytes);
  const manifest = parseManifest(files.get('.manifest'));
  const modules: PolicyModule[] = [];
  const data: Obj = {};
  const wasm: string[] = [];
  for (const [name, bytes] of [...files].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))) {
    const base = path.posix.basename(name);
    const dir = path.posix.dirname(name);
    const at = dir === '.' ? [] : dir.split('/');
    if (name === '.manifest' || name === '.signatures.json') continue;
    if (name.endsWith('.rego')) {
      const source = bytes.toString('utf8');
      const pkg = /^\s*package\s+([A-Za-z_][\w.]*)/m.exec(source.replace(/#[^\n]*/g, ''));
      const pkgPath = pkg ? pkg[1].replace(/\./g, '/') : '';
      if (pkg && !underRoots(pkgPath, manifest.roots)) throw new AuthzError('bundle_invalid', `${name}: package ${pkg[1]} is outside the bundle roots ${JSON.stringify(manifest.roots)}`);
      modules.push({ name: `bundle/${name}`, source });
    } else if (base === 'data.json' || base === 'data.yaml' || base === 'data.yml') {
      let value: unknown;
      try {
        value = base === 'data.json' ? JSON.parse(bytes.toString('utf8')) : YAML.parse(bytes.toString('utf8'));
      } catch (err) {
        throw new AuthzError('bundle_invalid', `${name}: ${(err as Error).message}`);
      }
      if (at.length > 0 && !underRoots(at.join('/'), manifest.roots)) throw new AuthzError('bundle_invalid', `${name}: data path ${at.join('/')} is outside the bundle roots`);
      mergeAt(data, at, value, name);
    } else if (base === 'policy.wasm') {
      wasm.push(name);
    }
  }
  return { manifest, modules, data, wasm, files, signatures: files.get('.signatures.json') };
}
