/**
 * `sark-authz explain-cache-key --policy FILE|DIR [--data FILE] [--path PATH]`:
 * prints the input paths a decision's cache key is made of — what the
 * policy can read of the request — so an operator can see why requests
 * hit or miss the decision cache.
 */
import { parseArgs } from 'node:util';
import { BY_KEY } from '../config/config-file';
import { decisionRef } from '../config/decision-path';
import { loadData, loadPolicyModules } from '../config/policy-files';
import { createEngine } from '../engine/native-engine';
import { EXIT, UsageError, type Command } from './command';

const USAGE = `usage: sark-authz explain-cache-key --policy FILE|DIR [--data FILE] [--path PATH] [--v0-compatible] [--format text|json]

Prints the input paths the decision can read: its decision-cache key is the
values at these paths (plus the policy revision). Requests that differ only
elsewhere share one cache entry. \`input\` alone means the whole input.
`;

function render(path: unknown[]): string {
  return path.reduce<string>((acc, step) => (typeof step === 'string' && /^[A-Za-z_][A-Za-z0-9_]*$/.test(step) ? `${acc}.${step}` : `${acc}[${JSON.stringify(step)}]`), 'input');
}

function run(argv: string[]): number {
  let values;
  try {
    values = parseArgs({
      args: argv,
      options: {
        policy: { type: 'string' },
        data: { type: 'string' },
        path: { type: 'string', default: BY_KEY.get('path')!.default as string },
        'v0-compatible': { type: 'boolean', default: false },
        format: { type: 'string', default: 'text' },
        help: { type: 'boolean', short: 'h', default: false },
      },
    }).values;
  } catch (err) {
    throw new UsageError((err as Error).message);
  }
  if (values.help) {
    process.stdout.write(USAGE);
    return EXIT.ok;
  }
  if (!values.policy) throw new UsageError('--policy is required');
  let paths: unknown[][];
  try {
    const prepared = createEngine().prepare(loadPolicyModules(values.policy), loadData(values.data), decisionRef(values.path!), { v0Compatible: values['v0-compatible'] });
    paths = prepared.inputPaths();
  } catch (err) {
    const e = err as { code?: string; message?: string };
    process.stderr.write(`sark-authz explain-cache-key: ${e.code ?? 'error'}: ${e.message ?? String(err)}\n`);
    return EXIT.failure;
  }
  if (values.format === 'json') {
    process.stdout.write(JSON.stringify(paths) + '\n');
  } else if (paths.length === 0) {
    process.stdout.write('the decision reads nothing of the input: one cache entry serves every request\n');
  } else {
    for (const p of paths) process.stdout.write(render(p) + '\n');
  }
  return EXIT.ok;
}

export const explainCacheKeyCommand: Command = { summary: 'print the input paths a decision cache key is made of', run };
