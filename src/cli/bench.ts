/**
 * `sark-authz bench [-d PATH]... [-i FILE] [--count N] [--format json|pretty] QUERY`
 * — a subset of `opa bench`: compiles once, prepares the query, evaluates
 * it N times per round in native code and prints the median ns/op.
 */
import { parseArgs } from 'node:util';
import { loadInput, loadPaths } from '../config/load-paths';
import { createEngine } from '../engine/native-engine';
import { EXIT, UsageError, type Command } from './command';

const USAGE = `usage: sark-authz bench [-d PATH]... [-i FILE] [--count N] [--rounds N] [--v0-compatible] [--format json|pretty] QUERY

Benchmarks a Rego query: compiles once, evaluates QUERY (a reference such as
data.envoy.authz.allow) --count times per round with the input parsed once,
and prints the median over --rounds rounds.

  -d, --data PATH     policy or data file or directory; repeatable
  -i, --input FILE    the input document (JSON or YAML)
  --count N           evaluations per round (default 10000)
  --rounds N          rounds; the median is reported (default 5)
  --v0-compatible     parse modules as Rego v0
  -f, --format F      pretty (default) or json
`;

export interface BenchResult {
  query: string;
  count: number;
  rounds: number;
  /** Median nanoseconds per evaluation. */
  ns_per_op: number;
  /** Every round's ns/op, in order. */
  rounds_ns_per_op: number[];
}

function run(argv: string[]): number {
  let parsed;
  try {
    parsed = parseArgs({
      args: argv,
      allowPositionals: true,
      options: {
        data: { type: 'string', short: 'd', multiple: true, default: [] },
        input: { type: 'string', short: 'i' },
        count: { type: 'string', default: '10000' },
        rounds: { type: 'string', default: '5' },
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
  const rounds = Number(values.rounds);
  if (!Number.isSafeInteger(count) || count < 1) throw new UsageError('--count must be a positive integer');
  if (!Number.isSafeInteger(rounds) || rounds < 1) throw new UsageError('--rounds must be a positive integer');

  let result: BenchResult;
  try {
    const { modules, data } = loadPaths(values.data as string[]);
    const input = values.input ? loadInput(values.input) : undefined;
    const prepared = createEngine().compile(modules, data, { v0Compatible: values['v0-compatible'] }).prepare(positionals[0]);
    prepared.benchNative(input, Math.min(count, 1000)); // warm up
    const perOp = Array.from({ length: rounds }, () => prepared.benchNative(input, count) / count);
    const sorted = [...perOp].sort((a, b) => a - b);
    result = { query: positionals[0], count, rounds, ns_per_op: Math.round(sorted[Math.floor(sorted.length / 2)]), rounds_ns_per_op: perOp.map(Math.round) };
  } catch (err) {
    const e = err as { code?: string; message?: string };
    process.stderr.write(`sark-authz bench: ${e.code ?? 'error'}: ${e.message ?? String(err)}\n`);
    return EXIT.failure;
  }
  if (values.format === 'json') process.stdout.write(JSON.stringify(result, null, 2) + '\n');
  else process.stdout.write(`${result.query}: ${result.ns_per_op} ns/op (median of ${rounds} rounds × ${count} evaluations; rounds: ${result.rounds_ns_per_op.join(', ')})\n`);
  return EXIT.ok;
}

export const benchCommand: Command = { summary: 'benchmark a Rego query (a subset of opa bench)', run };
