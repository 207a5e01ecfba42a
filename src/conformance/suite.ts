/**
 * Runs YAML test cases in OPA's conformance format against the engine:
 * reads the files, hands each case to the native runner, and tallies the
 * results per folder. The CLI (`sark-authz test-suite`) prints them.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { parseDocument } from 'yaml';

export interface CaseResult {
  file: string;
  note: string;
  pass: boolean;
  /** Why it failed, or why it was skipped. */
  reason?: string;
  skipped?: boolean;
}

export interface SuiteOptions {
  /** Parse modules as Rego v0. */
  v0Compatible: boolean;
  /** Runs one case (JSON text of the case) and returns `{pass, reason}`. */
  runCase: (caseJson: string, v0Compatible: boolean) => { pass: boolean; reason?: string };
}

/** Every `.yaml`/`.yml` file below `dir`, sorted for stable output. */
export function findCaseFiles(dir: string): string[] {
  const out: string[] = [];
  const walk = (d: string): void => {
    for (const e of fs.readdirSync(d, { withFileTypes: true }).sort((a, b) => a.name.localeCompare(b.name))) {
      const p = path.join(d, e.name);
      if (e.isDirectory()) walk(p);
      else if (/\.ya?ml$/.test(e.name)) out.push(p);
    }
  };
  if (fs.statSync(dir).isDirectory()) walk(dir);
  else out.push(dir);
  return out;
}

/**
 * JSON text for a parsed YAML value, keeping integers of any size exact
 * (the YAML is read with BigInt integers; JSON.stringify cannot write them).
 */
export function toJsonText(v: unknown): string {
  if (typeof v === 'bigint') return v.toString();
  if (v === null || v === undefined) return 'null';
  if (Array.isArray(v)) return '[' + v.map(toJsonText).join(',') + ']';
  if (v instanceof Map) {
    return '{' + [...v.entries()].map(([k, x]) => JSON.stringify(String(k)) + ':' + toJsonText(x)).join(',') + '}';
  }
  if (typeof v === 'object') {
    return '{' + Object.entries(v as Record<string, unknown>).map(([k, x]) => JSON.stringify(k) + ':' + toJsonText(x)).join(',') + '}';
  }
  if (typeof v === 'number' && !Number.isFinite(v)) return 'null';
  return JSON.stringify(v);
}

/** Reads the cases of one file; a file that does not parse yields one failing entry. */
export function readCases(file: string): { cases: Array<Record<string, unknown>>; error?: string } {
  const text = fs.readFileSync(file, 'utf8');
  const doc = parseDocument(text, { intAsBigInt: true, uniqueKeys: false });
  if (doc.errors.length > 0) return { cases: [], error: doc.errors[0].message };
  const root = doc.toJS({ maxAliasCount: 1000 }) as { cases?: Array<Record<string, unknown>> } | null;
  return { cases: root?.cases ?? [] };
}

export function runFile(file: string, opts: SuiteOptions): CaseResult[] {
  const { cases, error } = readCases(file);
  if (error) return [{ file, note: '(file)', pass: false, reason: `YAML: ${error}` }];
  const seen = new Map<string, number>();
  return cases.map((c, i) => {
    const given = typeof c.note === 'string' ? c.note : `case ${i}`;
    // A few upstream files repeat a note: the later ones get ` #2`, ` #3` so every case has its own id.
    const n = (seen.get(given) ?? 0) + 1;
    seen.set(given, n);
    const note = n === 1 ? given : `${given} #${n}`;
    try {
      const r = opts.runCase(toJsonText(c), opts.v0Compatible);
      return { file, note, pass: r.pass, reason: r.reason, skipped: false };
    } catch (e) {
      // A runner error is a failed case, never a crashed suite.
      const err = e as { code?: string; message?: string };
      return { file, note, pass: false, reason: `runner error ${err.code ?? ''}: ${err.message ?? String(e)}` };
    }
  });
}

export interface FolderTally {
  folder: string;
  passed: number;
  total: number;
}

/** Pass counts per folder (the file's parent directory name). */
export function tallyByFolder(results: CaseResult[]): FolderTally[] {
  const m = new Map<string, FolderTally>();
  for (const r of results) {
    const folder = path.basename(path.dirname(r.file));
    const t = m.get(folder) ?? { folder, passed: 0, total: 0 };
    t.total += 1;
    if (r.pass) t.passed += 1;
    m.set(folder, t);
  }
  return [...m.values()].sort((a, b) => a.folder.localeCompare(b.folder));
}
