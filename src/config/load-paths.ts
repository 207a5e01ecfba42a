/**
 * `-d PATH` loading as `opa eval` does it: `.rego` files become modules;
 * `.json`/`.yaml`/`.yml` files become data, placed at the path of their
 * directory relative to the `-d` root (`-d dir` with `dir/a/b/data.json`
 * gives `data.a.b`; a file given directly is merged at the root).
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import YAML from 'yaml';
import { AuthzError } from '../errors';
import type { PolicyModule } from '../engine/types';

export interface LoadedPaths {
  modules: PolicyModule[];
  data: Record<string, unknown>;
}

type Obj = Record<string, unknown>;

const isObject = (v: unknown): v is Obj => typeof v === 'object' && v !== null && !Array.isArray(v);

/** Merges `value` into `target` at `at`; objects merge key by key, anything else conflicts. */
function mergeAt(target: Obj, at: string[], value: unknown, file: string): void {
  let node = target;
  for (const seg of at) {
    if (!isObject(node[seg])) {
      if (node[seg] !== undefined) throw new AuthzError('config_invalid', `${file}: data conflicts at ${at.join('.')}`);
      node[seg] = {};
    }
    node = node[seg] as Obj;
  }
  if (!isObject(value)) {
    if (at.length === 0) throw new AuthzError('config_invalid', `${file}: data at the root must be an object`);
    const parent = at.slice(0, -1).reduce<Obj>((n, s) => n[s] as Obj, target);
    parent[at[at.length - 1]] = value;
    return;
  }
  mergeObjects(node, value, file);
}

function mergeObjects(into: Obj, from: Obj, file: string): void {
  for (const [k, v] of Object.entries(from)) {
    if (isObject(into[k]) && isObject(v)) mergeObjects(into[k] as Obj, v, file);
    else if (into[k] !== undefined) throw new AuthzError('config_invalid', `${file}: data conflicts at key "${k}"`);
    else into[k] = v;
  }
}

function parseData(file: string): unknown {
  const text = fs.readFileSync(file, 'utf8');
  try {
    return /\.ya?ml$/i.test(file) ? YAML.parse(text) : JSON.parse(text);
  } catch (err) {
    throw new AuthzError('config_invalid', `${file}: ${(err as Error).message}`, { cause: err });
  }
}

function walk(dir: string): string[] {
  const out: string[] = [];
  for (const e of fs.readdirSync(dir, { withFileTypes: true }).sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0))) {
    if (e.name.startsWith('.')) continue;
    const p = path.join(dir, e.name);
    if (e.isDirectory()) out.push(...walk(p));
    else if (e.isFile()) out.push(p);
  }
  return out;
}

/** Loads every `-d` path. Throws AuthzError `config_invalid` naming the file. */
export function loadPaths(paths: string[]): LoadedPaths {
  const modules: PolicyModule[] = [];
  const data: Obj = {};
  for (const root of paths) {
    let stat: fs.Stats;
    try {
      stat = fs.statSync(root);
    } catch {
      throw new AuthzError('config_invalid', `${root}: no such file or directory`);
    }
    const files = stat.isDirectory() ? walk(root) : [root];
    for (const file of files) {
      if (file.endsWith('.rego')) {
        modules.push({ name: file, source: fs.readFileSync(file, 'utf8') });
      } else if (/\.(json|ya?ml)$/i.test(file)) {
        const rel = stat.isDirectory() ? path.relative(root, path.dirname(file)) : '';
        const at = rel === '' ? [] : rel.split(path.sep);
        mergeAt(data, at, parseData(file), file);
      } else if (!stat.isDirectory()) {
        throw new AuthzError('config_invalid', `${file}: not a .rego, .json or .yaml file`);
      }
    }
  }
  return { modules, data };
}

/** Reads `-i FILE` (JSON or YAML). */
export function loadInput(file: string): unknown {
  if (!fs.existsSync(file)) throw new AuthzError('config_invalid', `${file}: no such file or directory`);
  return parseData(file);
}

/**
 * The input document as JSON text for the engine: a JSON file's own text
 * (checked), so numbers reach the engine as written (`1e400`, `1.0`), as
 * OPA reads them; YAML converted.
 */
export function loadInputJson(file: string): string {
  const value = loadInput(file);
  return /\.ya?ml$/i.test(file) ? (JSON.stringify(value) ?? 'null') : fs.readFileSync(file, 'utf8');
}
