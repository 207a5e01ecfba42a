/**
 * Mismatch classes we know about and have not fixed yet (test/fuzz-opa/known-gaps.json,
 * each with why; docs/conformance.md lists them with counts). A mismatch in a
 * known class counts as skipped, not failed, so the CI batch gates on new
 * classes only; the list should only shrink.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { describe, type Outcome } from './outcome';

export interface KnownGap {
  id: string;
  /** `describe()` of OPA's outcome (`value`, `undefined`, `error rego_type_error`…); `*` for any. */
  opa: string;
  ours: string;
  why: string;
}

export function loadKnownGaps(): KnownGap[] {
  const candidates = [path.join(__dirname, 'known-gaps.json'), path.resolve(__dirname, '..', '..', '..', 'test', 'fuzz-opa', 'known-gaps.json')];
  const file = candidates.find((f) => fs.existsSync(f));
  return file ? (JSON.parse(fs.readFileSync(file, 'utf8')) as KnownGap[]) : [];
}

/** The known gap a mismatch falls in, if any. */
export function knownGap(gaps: KnownGap[], opa: Outcome, ours: Outcome): KnownGap | undefined {
  const o = describe(opa);
  const u = describe(ours);
  return gaps.find((g) => (g.opa === '*' || g.opa === o) && (g.ours === '*' || g.ours === u));
}
