/**
 * Shrinks a mismatching program while the mismatch stays the same class:
 * drops whole rules, `else` branches and body literals, then members of the
 * input and data documents. Greedy, a few passes; good enough to read.
 */
import { render, type GeneratedProgram, type RuleText } from './generator';
import { evaluateOurs } from './ours';
import { difference, type Outcome } from './outcome';

export interface Minimised {
  program: GeneratedProgram;
  opa: Outcome;
  ours: Outcome;
}

export async function minimise(p: GeneratedProgram, diff: string, opa: (p: GeneratedProgram) => Promise<Outcome>): Promise<Minimised> {
  let best = p;
  let bestOpa = await opa(p);
  let bestOurs = evaluateOurs(p);
  const tryCandidate = async (c: GeneratedProgram): Promise<boolean> => {
    const o = await opa(c);
    const u = evaluateOurs(c);
    if (o.kind === 'limit' || u.kind === 'limit' || difference(o, u) !== diff) return false;
    best = c;
    bestOpa = o;
    bestOurs = u;
    return true;
  };
  const withRules = (rules: RuleText[]): GeneratedProgram => ({ ...best, rules, module: render(rules) });

  for (let pass = 0; pass < 3; pass++) {
    let progress = false;
    for (let i = best.rules.length - 1; i >= 0; i--) {
      if (best.rules.length > 1 && (await tryCandidate(withRules(best.rules.filter((_, j) => j !== i))))) progress = true;
    }
    for (let i = 0; i < best.rules.length; i++) {
      for (let e = best.rules[i].elses.length - 1; e >= 0; e--) {
        const rules = best.rules.map((r, j) => (j === i ? { ...r, elses: r.elses.filter((_, k) => k !== e) } : r));
        if (await tryCandidate(withRules(rules))) progress = true;
      }
      for (let l = best.rules[i].literals.length - 1; l >= 0; l--) {
        const rules = best.rules.map((r, j) => (j === i ? { ...r, literals: r.literals.filter((_, k) => k !== l) } : r));
        if (await tryCandidate(withRules(rules))) progress = true;
      }
    }
    if (best.input !== undefined && (await tryCandidate({ ...best, input: undefined }))) progress = true;
    if (best.input && typeof best.input === 'object' && !Array.isArray(best.input)) {
      for (const k of Object.keys(best.input as object)) {
        const input = { ...(best.input as Record<string, unknown>) };
        delete input[k];
        if (await tryCandidate({ ...best, input })) progress = true;
      }
    }
    const d = best.data.d as Record<string, unknown> | undefined;
    if (d) {
      for (const k of Object.keys(d)) {
        const nd = { ...d };
        delete nd[k];
        if (await tryCandidate({ ...best, data: { d: nd } })) progress = true;
      }
    }
    if (best.strict && (await tryCandidate({ ...best, strict: false }))) progress = true;
    if (!progress) break;
  }
  return { program: best, opa: bestOpa, ours: bestOurs };
}
