/**
 * The reference side: one `opa run --server` on a loopback port, fed one
 * program at a time (PUT the data, PUT the module, POST /v1/data/fuzz, DELETE
 * the module), so a program that fails to compile never affects the next.
 * Same compiler and evaluator as `opa eval --format json`; `--via-eval`
 * in the CLI cross-checks this harness against `opa eval` itself.
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import * as fs from 'node:fs';
import * as http from 'node:http';
import * as os from 'node:os';
import * as path from 'node:path';
import type { Program } from './generator';
import { canonicalJson, errorOutcome, type Outcome } from './outcome';

/** Where `opa` is: `$OPA`, the pinned build under `.build/go/bin`, or undefined. */
export function findOpa(): string | undefined {
  const root = path.resolve(__dirname, '..', '..', '..');
  for (const p of [process.env.OPA, path.join(root, '.build', 'go', 'bin', 'opa')]) {
    if (p && fs.existsSync(p)) return p;
  }
  return undefined;
}

interface Reply {
  status: number;
  body: string;
}

export class OpaServer {
  private child?: ChildProcess;
  private port = 0;
  private agent = new http.Agent({ keepAlive: true, maxSockets: 1 });

  constructor(
    private readonly bin: string,
    private readonly timeoutMs = 5_000,
  ) {}

  async start(): Promise<void> {
    for (let attempt = 0; attempt < 5; attempt++) {
      this.port = 20000 + Math.floor(Math.random() * 40000);
      const child = spawn(this.bin, ['run', '--server', '--disable-telemetry', '--log-level', 'error', '--addr', `127.0.0.1:${this.port}`], {
        stdio: ['ignore', 'ignore', 'pipe'],
        env: { ...process.env, TZ: 'UTC' },
      });
      let exited = false;
      child.on('exit', () => (exited = true));
      for (let i = 0; i < 100 && !exited; i++) {
        await sleep(50);
        try {
          const r = await this.request('GET', '/health', undefined);
          if (r.status === 200) {
            this.child = child;
            return;
          }
        } catch {
          // not listening yet
        }
      }
      child.kill();
    }
    throw new Error('opa run --server did not start');
  }

  stop(): void {
    this.child?.kill();
    this.child = undefined;
    this.agent.destroy();
  }

  /** Restarts the server (after a timeout left it busy). */
  async restart(): Promise<void> {
    this.child?.kill();
    this.child = undefined;
    this.agent.destroy();
    this.agent = new http.Agent({ keepAlive: true, maxSockets: 1 });
    await this.start();
  }

  async evaluate(p: Program): Promise<Outcome> {
    try {
      const put = await this.request('PUT', '/v1/data', JSON.stringify(p.data));
      if (put.status !== 204) return errorOutcome(['harness_data'], put.body);
      const mod = await this.request('PUT', '/v1/policies/fuzz', p.module);
      if (mod.status === 400) return fromErrorBody(mod.body);
      if (mod.status !== 200) return errorOutcome(['harness_policy'], mod.body);
      const query = p.query.replace(/^data\.?/, '').replace(/\./g, '/');
      const res = await this.request('POST', `/v1/data/${query}${p.strict ? '?strict-builtin-errors' : ''}`, JSON.stringify(p.input === undefined ? {} : { input: p.input }));
      await this.request('DELETE', '/v1/policies/fuzz', undefined);
      if (res.status === 200) {
        const body = JSON.parse(res.body) as Record<string, unknown>;
        if (!('result' in body)) return { kind: 'undefined' };
        return { kind: 'value', value: canonicalJson(extractResult(res.body)) };
      }
      return fromErrorBody(res.body);
    } catch (e) {
      if ((e as Error).message === 'timeout') {
        await this.restart();
        return { kind: 'limit', message: `opa: no answer in ${this.timeoutMs} ms` };
      }
      throw e;
    }
  }

  private request(method: string, urlPath: string, body: string | undefined): Promise<Reply> {
    return new Promise((resolve, reject) => {
      const req = http.request({ host: '127.0.0.1', port: this.port, method, path: urlPath, agent: this.agent, timeout: this.timeoutMs }, (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, body: Buffer.concat(chunks).toString('utf8') }));
        res.on('error', reject);
      });
      req.on('timeout', () => req.destroy(new Error('timeout')));
      req.on('error', reject);
      if (body !== undefined) req.write(body);
      req.end();
    });
  }
}

/** The raw text of the top-level `result` member (numbers kept as OPA wrote them). */
function extractResult(body: string): string {
  // The server writes `{"result":…}` (decision_id/warning members may follow or precede).
  const start = body.indexOf('"result":');
  if (start < 0) throw new Error('no result');
  let i = start + '"result":'.length;
  let depth = 0;
  let inStr = false;
  const from = i;
  for (; i < body.length; i++) {
    const c = body[i];
    if (inStr) {
      if (c === '\\') i++;
      else if (c === '"') inStr = false;
      continue;
    }
    if (c === '"') inStr = true;
    else if (c === '{' || c === '[') depth++;
    else if (c === '}' || c === ']') {
      if (depth === 0) break;
      depth--;
    } else if (c === ',' && depth === 0) break;
  }
  return body.slice(from, i);
}

function fromErrorBody(body: string): Outcome {
  try {
    const b = JSON.parse(body) as { code?: string; message?: string; errors?: Array<{ code?: string; message?: string }> };
    const errs = b.errors ?? [];
    if (errs.length === 0) return errorOutcome([b.code ?? 'unknown'], b.message ?? body);
    return errorOutcome(
      errs.map((e) => e.code ?? 'unknown'),
      errs.map((e) => `${e.code}: ${e.message}`).join('\n'),
    );
  } catch {
    return errorOutcome(['unknown'], body);
  }
}

/** The same program through `opa eval --format json` (slow: one process each); to validate the server harness. */
export function evaluateWithOpaEval(bin: string, p: Program): Outcome {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'fuzz-opa-'));
  try {
    fs.writeFileSync(path.join(dir, 'fuzz.rego'), p.module);
    fs.writeFileSync(path.join(dir, 'data.json'), JSON.stringify(p.data));
    const args = ['eval', '--format', 'json', '-d', path.join(dir, 'fuzz.rego'), '-d', path.join(dir, 'data.json')];
    if (p.input !== undefined) {
      fs.writeFileSync(path.join(dir, 'input.json'), JSON.stringify(p.input));
      args.push('-i', path.join(dir, 'input.json'));
    }
    if (p.strict) args.push('--strict-builtin-errors');
    args.push(p.query);
    const r = spawnSync(bin, args, { encoding: 'utf8', timeout: 20_000, env: { ...process.env, TZ: 'UTC' } });
    if (r.error) return { kind: 'limit', message: r.error.message };
    const out = JSON.parse(r.stdout) as { result?: unknown[]; errors?: Array<{ code?: string; message?: string }> };
    if (out.errors) return errorOutcome(out.errors.map((e) => e.code ?? 'unknown'), out.errors.map((e) => `${e.code}: ${e.message}`).join('\n'));
    if (!out.result) return { kind: 'undefined' };
    // `{"result":[{"expressions":[{"value":…`: the value's raw text.
    const v = r.stdout.indexOf('"value":');
    return { kind: 'value', value: canonicalJson(extractResult(r.stdout.slice(v).replace(/^"value":/, '"result":'))) };
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
}

function sleep(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms));
}
