/**
 * Saved regression cases: one JSON file per minimised mismatch, with OPA's
 * outcome stored so the case runs without `opa`. `status` is `open` while we
 * still differ and `fixed` once the engine agrees (the mocha suite then
 * requires it to keep agreeing).
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import type { Program } from './generator';
import type { Outcome } from './outcome';

export interface SavedCase extends Program {
  note: string;
  /** `open`: we still differ (documented in docs/conformance.md); `fixed`: must match. */
  status: 'open' | 'fixed';
  mismatch: string;
  opa: Outcome;
  /** What we answered when the case was saved. */
  oursAtSave: Outcome;
}

export function saveCase(dir: string, seed: string, index: number, p: Program, opa: Outcome, ours: Outcome, mismatch: string): string {
  fs.mkdirSync(dir, { recursive: true });
  const file = path.join(dir, `${seed}-${index}.json`);
  const c: SavedCase = {
    note: `${seed}/${index}: ${mismatch}`,
    status: 'open',
    mismatch,
    module: p.module,
    data: p.data,
    input: p.input,
    strict: p.strict,
    query: p.query,
    opa,
    oursAtSave: ours,
  };
  fs.writeFileSync(file, JSON.stringify(c, null, 1) + '\n');
  return file;
}

export function loadCases(dir: string): Array<{ file: string; c: SavedCase }> {
  if (!fs.existsSync(dir)) return [];
  return fs
    .readdirSync(dir)
    .filter((f) => f.endsWith('.json'))
    .sort()
    .map((f) => ({ file: path.join(dir, f), c: JSON.parse(fs.readFileSync(path.join(dir, f), 'utf8')) as SavedCase }));
}
