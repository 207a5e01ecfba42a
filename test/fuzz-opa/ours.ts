/**
 * Our side: the native engine in this process, through the addon's
 * compile/query surface (the raw JSON text, so big numbers stay exact).
 */
import { RustOPAEngine } from '../../src/native';
import type { Program } from './generator';
import { canonicalJson, errorOutcome, type Outcome } from './outcome';

export function nativeAvailable(): boolean {
  return RustOPAEngine !== undefined;
}

export function evaluateOurs(p: Program): Outcome {
  if (!RustOPAEngine) throw new Error('native addon not loaded');
  const engine = new RustOPAEngine();
  try {
    engine.compile([{ name: 'fuzz.rego', source: p.module }], JSON.stringify(p.data), { strictBuiltinErrors: p.strict });
  } catch (e) {
    return thrown(e);
  }
  let text: string;
  try {
    text = engine.query(p.query, p.input === undefined ? null : JSON.stringify(p.input));
  } catch (e) {
    return thrown(e);
  }
  const rows = JSON.parse(text) as { result?: unknown[] };
  if (!rows.result || rows.result.length === 0) return { kind: 'undefined' };
  // `{"result":[{"expressions":[{"location":…,"text":…,"value":…}]}]}`: the value's raw text.
  const at = text.indexOf('"value":');
  const raw = text.slice(at + '"value":'.length, text.lastIndexOf('}]}]}'));
  return { kind: 'value', value: canonicalJson(raw) };
}

function thrown(e: unknown): Outcome {
  const err = e as { code?: string; message?: string; diagnosticsJson?: string };
  if (typeof err.diagnosticsJson === 'string') {
    try {
      const d = JSON.parse(err.diagnosticsJson) as Array<{ code: string; message: string }>;
      if (d.length > 0) return errorOutcome(d.map((x) => x.code), d.map((x) => `${x.code}: ${x.message}`).join('\n'));
    } catch {
      // fall through to the error's own code
    }
  }
  return errorOutcome([typeof err.code === 'string' ? err.code : 'unknown'], err.message ?? String(e));
}
