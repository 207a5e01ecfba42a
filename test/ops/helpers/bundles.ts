/** OPA bundles built at test time: a .tar.gz from a map of file names to contents. */
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { create } from 'tar';
import { signFiles, type SigningAlgorithm } from '../../../src/bundle/signature';
import type { KeyObject } from 'node:crypto';

export type Files = Record<string, string | Buffer>;

export function makeBundle(files: Files): Buffer {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'sark-bundle-'));
  try {
    for (const [name, content] of Object.entries(files)) {
      fs.mkdirSync(path.dirname(path.join(dir, name)), { recursive: true });
      fs.writeFileSync(path.join(dir, name), content);
    }
    const out = path.join(dir, '..', `${path.basename(dir)}.tar.gz`);
    create({ gzip: true, cwd: dir, file: out, sync: true, portable: true }, Object.keys(files));
    const bytes = fs.readFileSync(out);
    fs.rmSync(out);
    return bytes;
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
}

/** Adds `.signatures.json` signing every file. */
export function signedBundle(files: Files, alg: SigningAlgorithm, key: string | KeyObject, keyid: string): Buffer {
  const map = new Map(Object.entries(files).map(([k, v]) => [k, Buffer.from(v)]));
  return makeBundle({ ...files, '.signatures.json': signFiles(map, alg, key, keyid) });
}

/** A bundle whose decision adds `x-rev: REV` (from data) to allowed requests. */
export function revBundle(rev: string, extra: Files = {}): Files {
  return {
    '.manifest': JSON.stringify({ revision: rev, roots: ['envoy', 'config'] }),
    'envoy/authz/policy.rego': `package envoy.authz

allow := {"allowed": true, "headers": {"x-rev": data.config.rev}} if {
	input.parsed_path[0] != "deny"
}

allow := false if {
	input.parsed_path[0] == "deny"
}
`,
    'config/data.json': JSON.stringify({ rev }),
    ...extra,
  };
}
