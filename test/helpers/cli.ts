/** Runs `sark-authz serve` as a user does: a real process, stopped with SIGTERM. */
import { spawn } from 'node:child_process';
import * as path from 'node:path';
import { ROOT } from './server';

export const BIN = path.join(ROOT, 'bin', 'sark-authz.js');

export interface ServeProcess {
  /** The bound address, from the `serving` log line. */
  addr: string;
  /** Sends SIGTERM; resolves to the exit code. */
  stop(): Promise<number | null>;
}

/** Starts `sark-authz serve ARGS` and waits for its `serving` log line (pino JSON on stdout). */
export function startServe(args: string[], timeoutMs = 20000, env: NodeJS.ProcessEnv = {}): Promise<ServeProcess> {
  const child = spawn(process.execPath, [BIN, 'serve', ...args], { cwd: ROOT, stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, ...env } });
  let stderr = '';
  child.stderr.on('data', (d) => (stderr += d));
  const exited = new Promise<number | null>((resolve) => child.on('close', resolve));
  return new Promise((resolve, reject) => {
    let out = '';
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      reject(new Error(`serve did not start: ${stderr}`));
    }, timeoutMs);
    child.stdout.on('data', (d) => {
      out += d;
      for (const line of out.split('\n')) {
        if (!line.startsWith('{')) continue;
        const rec = JSON.parse(line) as { msg?: string; addr?: string };
        if (rec.msg === 'serving' && rec.addr) {
          clearTimeout(timer);
          resolve({ addr: rec.addr, stop: () => (child.kill('SIGTERM'), exited) });
        }
      }
    });
    child.on('close', () => {
      clearTimeout(timer);
      reject(new Error(`serve exited early: ${stderr}`));
    });
  });
}
