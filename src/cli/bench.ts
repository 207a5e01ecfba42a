/**
 * `sark-authz bench [-d PATH]... [-i FILE] [--count N] [--format pretty|json|gobench] QUERY`
 * — `opa bench` with its flags and output shapes: each benchmark grows its
 * number of evaluations, as Go's testing.Benchmark does, until one run lasts
 * --benchtime; --count repeats it. Evaluation runs in native code with the
 * input parsed once.
 */
import { parseArgs } from 'node:util';
import { loadInput, loadPaths } from '../config/load-paths';
import { createEngine } from '../engine/native-engine';
import { EXIT, UsageError, type Command } from './command';
import { errorsOf } from './eval';
import { durationMs, goBooleans } from './go-flags';

const USAGE = `usage: sark-authz bench [-d PATH]... [-i FILE] [--count N] [--benchtime D] [--fail=false] [--v0-compatible] [--format pretty|json|gobench] QUERY

Benchmarks a Rego query, as \`opa bench\` does: compiles once, then evaluates
QUERY (with the input parsed once) as many times as fit in --benchtime and
prints the number of evaluations (N), their total time (T, ns) and ns/op.

  -d, --data PATH     policy or data file or directory; repeatable
  -i, --input FILE    the input document (JSON or YAML)
  --count N           number of times to repeat the benchmark (default 1)
  --benchtime D       minimum duration of one benchmark: a Go duration (1s, 300ms)
                      or milliseconds (default 1s, as Go's)
  --fail=false        do not fail (exit 1) when the query is undefined (default --fail)
  --v0-compatible     parse modules as Rego v0
  -f, --format F      pretty (default), json (Go's BenchmarkResult: N, T) or gobench

Exit codes: 0 benchmarked, 1 errors or an undefined result (printed as {"errors":[...]} with --format json), 2 bad usage.
`;

/** One benchmark, as Go's testing.BenchmarkResult names it. */
export interface BenchResult {
  /** Evaluations run. */
  N: number;
  /** Their total time, ns. */
  T: number;
}

/** Go's benchmark loop: grow N from a prediction until one run lasts `goalNs`. */
export function runBenchmark(evaluate: (n: number) => number, goalNs: number): BenchResult {
  let n = 1;
  let t = evaluate(n);
  while (t < goalNs && n < 1e9) {
    const predicted = t > 0 ? (goalNs * n) / t : n * 100;
    // 20% over the prediction, at least one more, at most 100× the last run.
    n = Math.max(Math.min(Math.ceil(predicted * 1.2), n * 100, 1e9), n + 1);
    t = evaluate(n);
  }
  return { N: n, T: Math.round(t) };
}

const nsPerOp = (r: BenchResult) => Math.round(r.T / r.N);

function pretty(r: BenchResult): string {
  const rows: Array<[string, string]> = [
    ['samples', String(r.N)],
    ['ns/op', String(nsPerOp(r))],
  ];
  const w0 = Math.max(...rows.map(([k]) => k.length));
  const w1 = Math.max(...rows.map(([, v]) => v.length));
  const line = (l: string, m: string, r: string) => `${l}${'─'.repeat(w0 + 2)}${m}${'─'.repeat(w1 + 2)}${r}`;
  return [line('┌', '┬', '┐'), ...rows.map(([k, v]) => `│ ${k.padEnd(w0)} │ ${v.padStart(w1)} │`), line('└', '┴', '┘')].join('\n') + '\n';
}

function render(r: BenchResult, format: string): string {
  if (format === 'json') return JSON.stringify(r, null, 2) + '\n';
  if (format === 'gobench') return `BenchmarkRegoEval\t${String(r.N).padStart(8)}\t${String(nsPerOp(r)).padStart(10)} ns/op\n`;
  return pretty(r);
}

function run(argv: string[]): number {
  let parsed;
  try {
    parsed = parseArgs({
      args: goBooleans(argv, ['fail']),
      allowPositionals: true,
      options: {
        data: { type: 'string', short: 'd', multiple: true, default: [] },
        input: { type: 'string', short: 'i' },
        count: { type: 'string', default: '1' },
        benchtime: { type: 'string', default: '1000' },
        fail: { type: 'boolean', default: true },
        'no-fail': { type: 'boolean', default: false },
        'v0-compatible': { type: 'boolean', default: false },
        format: { type: 'string', short: 'f', default: 'pretty' },
        help: { type: 'boolean', short: 'h', default: false },
      },
    });
  } catch (err) {
    throw new UsageError((err as Error).message);
  }
  const { values, positionals } = parsed;
  if (values.help) {
    process.stdout.write(USAGE);
    return EXIT.ok;
  }
  if (positionals.length !== 1) throw new UsageError('exactly one QUERY is required');
  const count = Number(values.count);
  const benchtimeMs = durationMs(values.benchtime as string);
  const failUndefined = values.fail === true && values['no-fail'] !== true;
  const format = values.format as string;
  if (!Number.isSafeInteger(count) || count < 1) throw new UsageError('--count must be a positive integer');
  if (!(benchtimeMs > 0)) throw new UsageError('--benchtime must be a positive duration (1s, 300ms) or milliseconds');
  if (!['pretty', 'json', 'gobench'].includes(format)) throw new UsageError('--format must be pretty, json or gobench');

  const fail = (errors: unknown[]): number => {
    if (format === 'json') process.stdout.write(JSON.stringify({ errors }, null, 2) + '\n');
    else process.stderr.write(`sark-authz bench: ${errors.map((e) => (e as { message: string }).message).join('; ')}\n`);
    return EXIT.failure;
  };
  try {
    const { modules, data } = loadPaths(values.data as string[]);
    const input = values.input ? loadInput(values.input) : undefined;
    const compiled = createEngine().compile(modules, data, { v0Compatible: values['v0-compatible'] });
    // As opa bench: evaluate once first; an undefined result fails unless --fail=false.
    const once = JSON.parse(compiled.query(positionals[0], input === undefined ? undefined : JSON.stringify(input))) as { result?: unknown[] };
    if (failUndefined && !once.result?.length) return fail([{ message: 'undefined result' }]);
    const prepared = compiled.prepare(positionals[0]);
    for (let i = 0; i < count; i++) {
      process.stdout.write(render(runBenchmark((n) => prepared.benchNative(input, n), benchtimeMs * 1e6), format));
    }
  } catch (err) {
    return fail(errorsOf(err));
  }
  return EXIT.ok;
}

export const benchCommand: Command = { summary: 'benchmark a Rego query (as opa bench)', run };
