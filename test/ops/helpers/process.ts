/** Running the real `sark-authz` CLI and other real programs (nginx, openssl) as children of a test. */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import * as net from 'node:net';
import * as path from 'node:path';
import { ROOT } from '../../helpers/server';

export const BIN = path.join(ROOT, 'bin', 'sark-authz.js');

export interface LogRecord {
  msg?: string;
  [k: string]: unknown;
}

/** A child process whose pino JSON lines on stdout are collected and can be waited for. */
export class Served {
  readonly records: LogRecord[] = [];
  stdout = '';
  stderr = '';
  readonly exited: Promise<number | null>;
  private waiters: Array<{ match: (r: LogRecord) => boolean; resolve: (r: LogRecord) => void }> = [];
  private buf = '';

  constructor(readonly child: ChildProcess) {
    child.stdout?.on('data', (d: Buffer) => {
      this.stdout += d;
      this.buf += d;
      let nl: number;
      while ((nl = this.buf.indexOf('\n')) >= 0) {
        const line = this.buf.slice(0, nl);
        this.buf = this.buf.slice(nl + 1);
        if (!line.startsWith('{')) continue;
        let rec: LogRecord;
        try {
          rec = JSON.parse(line) as LogRecord;
        } catch {
          continue;
        }
        this.records.push(rec);
        this.waiters = this.waiters.filter((w) => (w.match(rec) ? (w.resolve(rec), false) : true));
      }
    });
    child.stderr?.on('data', (d: Buffer) => (this.stderr += d));
    this.exited = new Promise((resolve) => child.on('close', (code) => resolve(code)));
  }

  /** The first log record (already seen or to come) matching; rejects after `ms` or when the process exits. */
  waitFor(match: (r: LogRecord) => boolean, ms = 30000, what = 'log record'): Promise<LogRecord> {
    const seen = this.records.find(match);
    if (seen) return Promise.resolve(seen);
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`timed out waiting for ${what}; stderr: ${this.stderr}; stdout tail: ${this.stdout.slice(-2000)}`)), ms);
      const done = (r: LogRecord) => {
        clearTimeout(timer);
        resolve(r);
      };
      this.waiters.push({ match, resolve: done });
      void this.exited.then((code) => {
        clearTimeout(timer);
        reject(new Error(`process exited (${code}) while waiting for ${what}; stderr: ${this.stderr}; stdout tail: ${this.stdout.slice(-2000)}`));
      });
    });
  }

  waitForMsg(msg: string, ms = 30000): Promise<LogRecord> {
    return this.waitFor((r) => r.msg === msg, ms, `"${msg}"`);
  }

  /** Sends `signal` and waits for the exit code; SIGKILL after `ms`. */
  async stop(signal: NodeJS.Signals = 'SIGTERM', ms = 15000): Promise<number | null> {
    if (this.child.exitCode !== null || this.child.signalCode !== null) return this.exited;
    this.child.kill(signal);
    const timer = setTimeout(() => this.child.kill('SIGKILL'), ms);
    try {
      return await this.exited;
    } finally {
      clearTimeout(timer);
    }
  }
}

/** Starts `sark-authz ARGS` in the repository root. */
export function startCli(args: string[], env: NodeJS.ProcessEnv = {}): Served {
  const child = spawn(process.execPath, [BIN, ...args], { cwd: ROOT, stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, ...env } });
  return new Served(child);
}

/** Runs `sark-authz ARGS` to completion. */
export async function runCli(args: string[], env: NodeJS.ProcessEnv = {}, ms = 30000): Promise<{ code: number | null; stdout: string; stderr: string }> {
  const s = startCli(args, env);
  const timer = setTimeout(() => s.child.kill('SIGKILL'), ms);
  const code = await s.exited;
  clearTimeout(timer);
  return { code, stdout: s.stdout, stderr: s.stderr };
}

/** A free loopback TCP port (bound then released). */
export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = net.createServer();
    s.listen(0, '127.0.0.1', () => {
      const { port } = s.address() as net.AddressInfo;
      s.close(() => resolve(port));
    });
    s.on('error', reject);
  });
}

/** Runs a program synchronously; throws with its stderr when it fails. */
export function sh(cmd: string, args: string[], cwd?: string): string {
  const r = spawnSync(cmd, args, { cwd, encoding: 'utf8' });
  if (r.status !== 0) throw new Error(`${cmd} ${args.join(' ')} failed (${r.status}): ${r.stderr || r.error?.message}`);
  return r.stdout;
}

/** Polls `fn` until it returns a truthy value (every 50 ms, at most `ms`). */
export async function eventually<T>(fn: () => T | Promise<T>, ms = 20000, what = 'condition'): Promise<T> {
  const end = Date.now() + ms;
  let last: unknown;
  for (;;) {
    try {
      const v = await fn();
      if (v) return v;
    } catch (err) {
      last = err;
    }
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}${last ? `: ${(last as Error).message}` : ''}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}
