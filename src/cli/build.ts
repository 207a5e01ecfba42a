/**
 * `sark-authz build -t wasm -e ENTRYPOINT... [-o FILE] [--v0-compatible] PATH...`
 * — `opa build -t wasm` for our engine: an OPA bundle (`bundle.tar.gz`)
 * whose `policy.wasm` is the engine (native/wasm) with the compiled policy
 * embedded, speaking OPA's Wasm ABI, so `@open-policy-agent/opa-wasm`'s
 * `loadPolicy` + `evaluate` run it with every builtin inside the module.
 * Data files go to the bundle's `data.json`, as OPA puts them, for the
 * host's `setData`.
 */
import * as fs from 'node:fs';
import { parseArgs } from 'node:util';
import * as os from 'node:os';
import * as path from 'node:path';
import * as tar from 'tar';
import { loadPaths } from '../config/load-paths';
import { WasmEngine, engineModuleBytes } from '../engine/wasm-engine';
import { prepareModule } from '../engine/wasm-module';
import type { Diagnostic } from '../engine/types';
import { EXIT, UsageError, type Command } from './command';

const USAGE = `usage: sark-authz build -t wasm -e ENTRYPOINT... [-o FILE] [--v0-compatible] PATH...

Builds an OPA bundle whose policy.wasm holds our engine with the policy (OPA's Wasm ABI;
load it with @open-policy-agent/opa-wasm).

  -t, --target wasm        what to build (only wasm)
  -e, --entrypoint PATH    a decision to export, e.g. envoy/authz/allow; repeatable, at least one
  -o, --output FILE        the bundle to write (default bundle.tar.gz)
  --v0-compatible          parse modules as Rego v0
  -h, --help               this help
`;

/** Writes `files` as a gzipped tarball at `out` (staged in a temporary directory). */
function writeBundle(out: string, files: Array<[string, Buffer]>): void {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'sark-build-'));
  try {
    for (const [name, body] of files) fs.writeFileSync(path.join(dir, name), body);
    tar.c({ gzip: true, file: out, cwd: dir, sync: true, portable: true }, files.map(([name]) => name));
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
}

/** `policy.wasm` for `modules`: compiled first, so compile errors surface here and not in the host. */
export function buildPolicyWasm(modules: Array<{ name: string; source: string }>, entrypoints: string[], v0Compatible: boolean): Buffer {
  const compiled = new WasmEngine().compile(modules, {}, { v0Compatible });
  for (const e of entrypoints) compiled.prepare(e);
  const policy = Buffer.from(JSON.stringify({ modules, entrypoints, options: { v0Compatible } }), 'utf8');
  return prepareModule(engineModuleBytes(), { policy });
}

function run(argv: string[]): number {
  let values;
  let positionals;
  try {
    ({ values, positionals } = parseArgs({
      args: argv,
      allowPositionals: true,
      options: {
        target: { type: 'string', short: 't' },
        entrypoint: { type: 'string', short: 'e', multiple: true },
        output: { type: 'string', short: 'o' },
        'v0-compatible': { type: 'boolean' },
        help: { type: 'boolean', short: 'h' },
      },
    }));
  } catch (err) {
    throw new UsageError((err as Error).message);
  }
  if (values.help) {
    process.stdout.write(USAGE);
    return EXIT.ok;
  }
  if (values.target !== 'wasm') throw new UsageError('-t wasm is required (the only target)');
  const entrypoints = values.entrypoint ?? [];
  if (entrypoints.length === 0) throw new UsageError('at least one -e ENTRYPOINT is required');
  if (positionals.length === 0) throw new UsageError('at least one PATH (policy or data file, or a directory) is required');
  const out = values.output ?? 'bundle.tar.gz';
  try {
    const { modules, data } = loadPaths(positionals);
    const wasm = buildPolicyWasm(modules, entrypoints, values['v0-compatible'] === true);
    const manifest = { revision: '', roots: [''], wasm: entrypoints.map((e) => ({ entrypoint: e, module: '/policy.wasm' })) };
    writeBundle(out, [
      ['data.json', Buffer.from(JSON.stringify(data))],
      ['policy.wasm', wasm],
      ['.manifest', Buffer.from(JSON.stringify(manifest))],
    ]);
  } catch (err) {
    const e = err as { code?: string; message?: string; diagnostics?: Diagnostic[] };
    const lines = e.diagnostics?.length ? e.diagnostics.map((d) => `${d.file}:${d.line}:${d.col}: ${d.code}: ${d.message}`) : [`${e.code ?? 'error'}: ${e.message ?? String(err)}`];
    process.stderr.write(`${lines.join('\n')}\n`);
    return EXIT.failure;
  }
  return EXIT.ok;
}

export const buildCommand: Command = { summary: 'build an OPA bundle whose policy.wasm is our engine with the policy (OPA Wasm ABI)', run };
