/**
 * `sark-authz eval [-d PATH]... [-i FILE] [--v0-compatible]
 * [--strict-builtin-errors] [--fail | --fail-defined] [--format json|pretty] QUERY`
 * — a subset of `opa eval` with its flags, JSON output shape and exit codes.
 */
import { parse as parseExact, stringify as stringifyExact } from 'lossless-json';
import { parseArgs } from 'node:util';
import { loadInputJson, loadPaths } from '../config/load-paths';
import { createEngine } from '../engine/native-engine';
import type { Diagnostic } from '../engine/types';
import { EXIT, UsageError, type Command } from './command';
import { goBooleans } from './go-flags';

const USAGE = `usage: sark-authz eval [-d PATH]... [-i FILE] [--v0-compatible] [--strict-builtin-errors] [--fail | --fail-defined] [--format json|pretty] QUERY

Evaluates a Rego query, as \`opa eval\` does.

  -d, --data PATH            policy (.rego) or data (.json, .yaml) file or directory; repeatable
  -i, --input FILE           the input document (JSON or YAML)
  --v0-compatible            parse modules as Rego v0
  --strict-builtin-errors    builtin errors fail the query instead of making it undefined
  --fail                     exit 1 when the result is undefined (empty)
  --fail-defined             exit 1 when the result is defined (not empty)
  -f, --format json|pretty   output format (default json)
  -h, --help                 this help

Exit codes, as opa eval's: 0 evaluated, 1 --fail/--fail-defined met, 2 errors (printed as
{"errors":[...]}); a bad command line also exits 2 (opa: 1).
`;

interface OpaError {
  message: string;
  code: string;
  location?: { file: string; row: number; col: number };
}

export function errorsOf(err: unknown): OpaError[] {
  const e = err as { code?: string; message?: string; diagnostics?: Diagnostic[] };
  if (e.diagnostics && e.diagnostics.length > 0) {
    return e.diagnostics.map((d) => ({ message: d.message, code: d.code, location: { file: d.file, row: d.line, col: d.col } }));
  }
  return [{ message: (e.message ?? String(err)).replace(/^([^:]+:\d+:\d+: )?[a-z_]+: /, ''), code: e.code ?? 'internal' }];
}

type Row = { expressions: Array<{ value: unknown; text: string; location: { row: number; col: number } }>; bindings?: Record<string, unknown> };

/** Keys in the order `opa eval --format json` prints them. */
function opaOrder(result: { result?: Row[] }): unknown {
  if (!result.result) return result;
  return {
    result: result.result.map((r) => ({
      expressions: r.expressions.map((e) => ({ value: e.value, text: e.text, location: { row: e.location.row, col: e.location.col } })),
      ...(r.bindings ? { bindings: r.bindings } : {}),
    })),
  };
}

/** JSON text with numbers exactly as the engine wrote them (`1e400`, `2e308`: OPA prints a literal as written). */
const json = (value: unknown): string => stringifyExact(value, null, 2) ?? 'null';

function pretty(result: { result?: Array<{ expressions: Array<{ value: unknown }>; bindings?: Record<string, unknown> }> }): string {
  const rows = result.result;
  if (!rows || rows.length === 0) return 'undefined';
  if (rows.length === 1 && rows[0].expressions.length === 1 && !rows[0].bindings) return json(rows[0].expressions[0].value);
  return rows.map((r) => json(r.bindings ?? r.expressions.map((x) => x.value))).join('\n');
}

/** opa eval's exit code for a query that failed to parse, compile or evaluate. */
const EVAL_ERROR = 2;

function run(argv: string[]): number {
  let parsed;
  try {
    parsed = parseArgs({
      args: goBooleans(argv, ['fail', 'fail-defined', 'strict-builtin-errors', 'v0-compatible']),
      allowPositionals: true,
      strict: true,
      options: {
        fail: { type: 'boolean', default: false },
        'no-fail': { type: 'boolean', default: false },
        'fail-defined': { type: 'boolean', default: false },
        'no-fail-defined': { type: 'boolean', default: false },
        'no-strict-builtin-errors': { type: 'boolean', default: false },
        'no-v0-compatible': { type: 'boolean', default: false },
        data: { type: 'string', short: 'd', multiple: true, default: [] },
        input: { type: 'string', short: 'i' },
        'v0-compatible': { type: 'boolean', default: false },
        'strict-builtin-errors': { type: 'boolean', default: false },
        format: { type: 'string', short: 'f', default: 'json' },
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
  if (values.format !== 'json' && values.format !== 'pretty') throw new UsageError('--format must be json or pretty');
  const failUndefined = values.fail === true && !values['no-fail'];
  const failDefined = values['fail-defined'] === true && !values['no-fail-defined'];
  if (failUndefined && failDefined) throw new UsageError('specify --fail or --fail-defined, not both');
  const strictBuiltinErrors = values['strict-builtin-errors'] === true && !values['no-strict-builtin-errors'];
  const v0Compatible = values['v0-compatible'] === true && !values['no-v0-compatible'];

  const emitErrors = (err: unknown): number => {
    // What printed before an evaluation failed still goes to stderr, as opa eval writes it.
    for (const p of (err as { prints?: Array<{ msg: string }> }).prints ?? []) process.stderr.write(p.msg + '\n');
    process.stdout.write(JSON.stringify({ errors: errorsOf(err) }, null, 2) + '\n');
    return EVAL_ERROR;
  };
  let result: unknown;
  try {
    const { modules, data } = loadPaths(values.data as string[]);
    const inputJson = values.input ? loadInputJson(values.input) : undefined;
    const compiled = createEngine().compile(modules, data, { v0Compatible, strictBuiltinErrors });
    result = parseExact(compiled.query(positionals[0], inputJson));
  } catch (err) {
    return emitErrors(err);
  }
  // print() output goes to stderr, one message a line, as `opa eval` writes it.
  const prints = (result as { prints?: Array<{ msg: string }> }).prints;
  if (prints) {
    for (const p of prints) process.stderr.write(p.msg + '\n');
    delete (result as { prints?: unknown }).prints;
  }
  process.stdout.write((values.format === 'pretty' ? pretty(result as Parameters<typeof pretty>[0]) : json(opaOrder(result as { result?: Row[] }))) + '\n');
  const defined = ((result as { result?: Row[] }).result?.length ?? 0) > 0;
  return (failUndefined && !defined) || (failDefined && defined) ? EXIT.failure : EXIT.ok;
}

export const evalCommand: Command = { summary: 'evaluate a Rego query (a subset of opa eval)', run };
