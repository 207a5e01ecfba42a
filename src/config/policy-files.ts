/**
 * Reading what `serve` needs from disk: Rego modules from a file or a
 * directory, base data from a JSON or YAML file, a descriptor set.
 * The only code that touches the file system for the server.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import YAML from 'yaml';
import { AuthzError } from '../errors';
import type { PolicyModule } from '../engine/types';

/**
 * Loads `policyPath`: one `.rego` file, or every `.rego` file under a
 * directory (recursively, sorted, hidden entries skipped). Module names are
 * the paths as reached from `policyPath`, so diagnostics name the file the
 * way the user typed it. Throws AuthzError `config_invalid`.
 */
export function loadPolicyModules(policyPath: string): PolicyModule[] {
  const stat = statOrThrow(policyPath, 'policy');
  const files = stat.isDirectory() ? regoFilesUnder(policyPath) : [policyPath];
  if (files.length === 0) throw new AuthzError('config_invalid', `no .rego files under ${policyPath}`);
  return files.map((name) => ({ name, source: readText(name) }));
}

function regoFilesUnder(dir: string): string[] {
  const out: string[] = [];
  const entries = fs.readdirSync(dir, { withFileTypes: true }).sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
  for (const e of entries) {
    if (e.name.startsWith('.')) continue;
    const p = path.join(dir, e.name);
    if (e.isDirectory()) out.push(...regoFilesUnder(p));
    else if (e.name.endsWith('.rego') && (e.isFile() || isLinkToFile(p))) out.push(p);
  }
  return out;
}

/**
 * A symbolic link to a regular file counts as that file: Kubernetes mounts a
 * ConfigMap as links into a hidden `..data` directory. Broken links are skipped;
 * links to directories are not followed (no cycles).
 */
function isLinkToFile(p: string): boolean {
  try {
    return fs.lstatSync(p).isSymbolicLink() && fs.statSync(p).isFile();
  } catch {
    return false;
  }
}

/** Loads base data: a JSON object, or YAML for `.yaml`/`.yml`. Absent → `{}`. Throws AuthzError `config_invalid`. */
export function loadData(dataPath: string | undefined): Record<string, unknown> {
  if (dataPath === undefined) return {};
  statOrThrow(dataPath, 'data');
  const text = readText(dataPath);
  let value: unknown;
  try {
    value = /\.ya?ml$/i.test(dataPath) ? YAML.parse(text) : JSON.parse(text);
  } catch (err) {
    throw new AuthzError('config_invalid', `${dataPath}: ${(err as Error).message}`, { cause: err });
  }
  if (typeof value !== 'object' || value === null || Array.isArray(value)) {
    throw new AuthzError('config_invalid', `${dataPath}: data must be an object at the top level`);
  }
  return value as Record<string, unknown>;
}

function statOrThrow(p: string, what: string): fs.Stats {
  try {
    return fs.statSync(p);
  } catch (err) {
    throw new AuthzError('config_invalid', `${what} ${p}: ${(err as NodeJS.ErrnoException).code === 'ENOENT' ? 'no such file or directory' : (err as Error).message}`, { cause: err });
  }
}

function readText(p: string): string {
  try {
    return fs.readFileSync(p, 'utf8');
  } catch (err) {
    throw new AuthzError('config_invalid', `${p}: ${(err as Error).message}`, { cause: err });
  }
}

/**
 * A listen address grpc-js accepts: `:9191` (opa-envoy-plugin's form) means
 * every interface, `0.0.0.0:9191`; `host:port`, `[v6]:port` and
 * `unix:/path` pass through. Throws AuthzError `config_invalid`.
 */
export function listenAddress(addr: string): string {
  if (addr.startsWith('unix:')) {
    if (addr.length === 'unix:'.length) throw new AuthzError('config_invalid', `invalid address "${addr}" (expected unix:/path)`);
    return addr;
  }
  const withHost = addr.startsWith(':') ? `0.0.0.0${addr}` : addr;
  const m = /^(\[[0-9a-fA-F:.]+\]|[^:\[\]]+):(\d{1,5})$/.exec(withHost);
  if (!m || Number(m[2]) > 65535) throw new AuthzError('config_invalid', `invalid address "${addr}" (expected HOST:PORT or unix:/path)`);
  return withHost;
}

/** Reads a protobuf descriptor set (`--proto-descriptor`). Throws AuthzError `config_invalid` naming the file. */
export function loadProtoDescriptor(file: string): Uint8Array {
  try {
    return new Uint8Array(fs.readFileSync(file));
  } catch (err) {
    throw new AuthzError('config_invalid', `proto_descriptor ${file}: ${(err as Error).message}`, { cause: err });
  }
}

/** The decision path lives in decision-path.ts; re-exported for callers that import it from here. */
export { decisionRef } from './decision-path';
