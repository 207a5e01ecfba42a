/**
 * What evaluating a program came to, on either side, and how two outcomes
 * compare: values exactly (numbers by exact decimal value, object keys in any
 * order, sets in the order `opa eval` prints them), undefined, or the error
 * class (the set of error codes, never the message text).
 */

export type Outcome =
  | { kind: 'value'; value: string }
  | { kind: 'undefined' }
  | { kind: 'error'; codes: string[]; message: string }
  /** Not comparable: OPA timed out, or our evaluation budget ran out. */
  | { kind: 'limit'; message: string };

/** Error codes that mean "a resource budget ran out", not a semantic answer. */
const LIMIT_CODES = new Set(['eval_step_limit', 'eval_depth_limit', 'eval_timeout', 'eval_cancel_error', 'timeout']);

export function errorOutcome(codes: string[], message: string): Outcome {
  const uniq = [...new Set(codes)].sort();
  if (uniq.some((c) => LIMIT_CODES.has(c))) return { kind: 'limit', message: `${uniq.join(',')}: ${message}` };
  return { kind: 'error', codes: uniq, message };
}

/** How two outcomes differ, or undefined when they match. */
export function difference(opa: Outcome, ours: Outcome): string | undefined {
  if (opa.kind !== ours.kind) return `${describe(opa)} vs ours ${describe(ours)}`;
  if (opa.kind === 'value' && ours.kind === 'value' && opa.value !== ours.value) return 'value';
  if (opa.kind === 'error' && ours.kind === 'error' && opa.codes.join(',') !== ours.codes.join(',')) {
    return `error ${opa.codes.join(',')} vs ours ${ours.codes.join(',')}`;
  }
  return undefined;
}

export function describe(o: Outcome): string {
  return o.kind === 'error' ? `error ${o.codes.join(',')}` : o.kind;
}

/**
 * The canonical text of a JSON document: object members sorted by key, array
 * order kept, strings re-escaped one way, numbers as exact decimals
 * (`1.50`, `15e-1` and `1.5` are all `15e-1`). Big integers stay exact.
 */
const NUMBER = /-?\d+(\.\d+)?([eE][+-]?\d+)?/y;

export function canonicalJson(text: string): string {
  let i = 0;
  const ws = (): void => {
    while (i < text.length && ' \t\n\r'.includes(text[i])) i++;
  };
  const value = (): string => {
    ws();
    const c = text[i];
    if (c === '{') {
      i++;
      const members: Array<[string, string]> = [];
      ws();
      if (text[i] === '}') {
        i++;
        return '{}';
      }
      for (;;) {
        ws();
        const k = str();
        ws();
        if (text[i++] !== ':') throw new Error(`bad JSON at ${i}`);
        members.push([k, value()]);
        ws();
        if (text[i] === ',') {
          i++;
          continue;
        }
        if (text[i++] !== '}') throw new Error(`bad JSON at ${i}`);
        break;
      }
      members.sort((a, b) => (a[0] < b[0] ? -1 : a[0] > b[0] ? 1 : 0));
      return '{' + members.map(([k, v]) => `${k}:${v}`).join(',') + '}';
    }
    if (c === '[') {
      i++;
      const items: string[] = [];
      ws();
      if (text[i] === ']') {
        i++;
        return '[]';
      }
      for (;;) {
        items.push(value());
        ws();
        if (text[i] === ',') {
          i++;
          continue;
        }
        if (text[i++] !== ']') throw new Error(`bad JSON at ${i}`);
        break;
      }
      return '[' + items.join(',') + ']';
    }
    if (c === '"') return str();
    for (const lit of ['true', 'false', 'null']) {
      if (text.startsWith(lit, i)) {
        i += lit.length;
        return lit;
      }
    }
    NUMBER.lastIndex = i;
    const m = NUMBER.exec(text);
    if (!m) throw new Error(`bad JSON at ${i}: ${text.slice(i, i + 20)}`);
    i += m[0].length;
    return canonicalNumber(m[0]);
  };
  const str = (): string => {
    if (text[i] !== '"') throw new Error(`bad JSON string at ${i}`);
    let j = i + 1;
    while (text[j] !== '"') j += text[j] === '\\' ? 2 : 1;
    const s = JSON.parse(text.slice(i, j + 1)) as string;
    i = j + 1;
    return JSON.stringify(s);
  };
  const out = value();
  ws();
  if (i !== text.length) throw new Error(`trailing JSON at ${i}`);
  return out;
}

/** `-?digits e exp` with no leading or trailing zeros in digits; `0` for zero. */
export function canonicalNumber(n: string): string {
  const m = /^(-?)(\d+)(?:\.(\d+))?(?:[eE]([+-]?\d+))?$/.exec(n);
  if (!m) return n;
  const [, sign, int, frac = '', exp = '0'] = m;
  let digits = (int + frac).replace(/^0+/, '');
  let e = BigInt(exp) - BigInt(frac.length);
  if (digits === '') return '0';
  const trimmed = digits.replace(/0+$/, '');
  e += BigInt(digits.length - trimmed.length);
  digits = trimmed;
  return `${sign}${digits}e${e}`;
}
