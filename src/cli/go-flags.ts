/**
 * Flag spellings of OPA's command line (Go's `flag`/cobra) that node's
 * parseArgs does not take as they are: durations with units and booleans
 * given a value (`--fail=false`).
 */

const UNIT_MS: Record<string, number> = { ns: 1e-6, us: 1e-3, 'µs': 1e-3, 'μs': 1e-3, ms: 1, s: 1e3, m: 60e3, h: 3600e3 };

/**
 * A Go duration (`time.ParseDuration`: "300ms", "1.5s", "1m30s", "10us") in
 * milliseconds; a bare number is milliseconds. NaN when it is neither.
 */
export function durationMs(text: string): number {
  if (/^\d+(\.\d+)?$/.test(text)) return Number(text);
  const parts = [...text.matchAll(/(\d+(?:\.\d*)?|\.\d+)(ns|us|µs|μs|ms|s|m|h)/g)];
  if (parts.length === 0 || parts.map((p) => p[0]).join('') !== text) return NaN;
  return parts.reduce((ms, p) => ms + Number(p[1]) * UNIT_MS[p[2]!]!, 0);
}

/**
 * Rewrites `--name=true` / `--name=false` of the named boolean flags to
 * `--name` / `--no-name` (declare `no-name` as a boolean too); any other
 * value is left for parseArgs to refuse.
 */
export function goBooleans(argv: string[], names: string[]): string[] {
  return argv.map((a) => {
    const m = /^--([^=]+)=(true|false)$/.exec(a);
    if (!m || !names.includes(m[1]!)) return a;
    return m[2] === 'true' ? `--${m[1]}` : `--no-${m[1]}`;
  });
}
