/**
 * A real nginx serving a directory on a free loopback port, started by the
 * test as a non-daemon child (master_process off: one process to kill)
 * with its own temp config, logs and pid file. `/protected/` requires
 * `Authorization: Bearer <token>`.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import * as fs from 'node:fs';
import * as net from 'node:net';
import * as os from 'node:os';
import * as path from 'node:path';
import { freePort } from './process';

export const NGINX = ['/usr/sbin/nginx', '/usr/bin/nginx'].find((p) => fs.existsSync(p));

export interface Nginx {
  url: string;
  root: string;
  port: number;
  /** Writes a file to serve, with an mtime that always moves forward (nginx's ETag is mtime + size). */
  put(name: string, bytes: Buffer | string): void;
  /** Access log lines: `METHOD PATH STATUS`. */
  accessLog(): string[];
  stop(): Promise<void>;
  start(): Promise<void>;
}

function waitForPort(port: number, ms: number): Promise<void> {
  const end = Date.now() + ms;
  return new Promise((resolve, reject) => {
    const attempt = () => {
      const c = net.connect(port, '127.0.0.1', () => {
        c.end();
        resolve();
      });
      c.on('error', () => (Date.now() > end ? reject(new Error(`nginx did not listen on ${port}`)) : setTimeout(attempt, 50)));
    };
    attempt();
  });
}

export async function startNginx(token = 'bundle-token'): Promise<Nginx> {
  if (!NGINX) throw new Error('nginx is not installed (scripts/install-deps.sh installs it)');
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'sark-nginx-'));
  const root = path.join(dir, 'www');
  fs.mkdirSync(path.join(root, 'protected'), { recursive: true });
  const port = await freePort();
  const conf = path.join(dir, 'nginx.conf');
  fs.writeFileSync(
    conf,
    `daemon off;
master_process off;
worker_processes 1;
pid ${dir}/nginx.pid;
error_log ${dir}/error.log warn;
events { worker_connections 64; }
http {
  log_format simple '$request_method $uri $status';
  access_log ${dir}/access.log simple;
  client_body_temp_path ${dir}/body;
  proxy_temp_path ${dir}/proxy;
  fastcgi_temp_path ${dir}/fastcgi;
  uwsgi_temp_path ${dir}/uwsgi;
  scgi_temp_path ${dir}/scgi;
  default_type application/gzip;
  server {
    listen 127.0.0.1:${port};
    root ${root};
    etag on;
    location /protected/ {
      if ($http_authorization != "Bearer ${token}") { return 401; }
    }
  }
}
`,
  );
  let child: ChildProcess | null = null;
  let mtime = Math.floor(Date.now() / 1000);
  const n: Nginx = {
    url: `http://127.0.0.1:${port}`,
    root,
    port,
    put(name, bytes) {
      const f = path.join(root, name);
      fs.writeFileSync(f, bytes);
      mtime += 10;
      fs.utimesSync(f, mtime, mtime);
    },
    accessLog() {
      const f = path.join(dir, 'access.log');
      return fs.existsSync(f) ? fs.readFileSync(f, 'utf8').split('\n').filter(Boolean) : [];
    },
    async start() {
      let stderr = '';
      child = spawn(NGINX!, ['-p', dir, '-e', path.join(dir, 'error.log'), '-c', conf], { stdio: ['ignore', 'ignore', 'pipe'] });
      child.stderr?.on('data', (d) => (stderr += d));
      const exited = new Promise<never>((_, reject) => child!.once('exit', (code) => reject(new Error(`nginx exited (${code}): ${stderr}`))));
      exited.catch(() => undefined);
      await Promise.race([waitForPort(port, 20000), exited]);
    },
    async stop() {
      const c = child;
      child = null;
      if (!c || c.exitCode !== null || c.signalCode !== null) return;
      const gone = new Promise<void>((resolve) => c.once('exit', () => resolve()));
      c.kill('SIGTERM');
      const t = setTimeout(() => c.kill('SIGKILL'), 5000);
      await gone;
      clearTimeout(t);
    },
  };
  await n.start();
  const stop = n.stop;
  n.stop = async () => {
    await stop();
  };
  (n as Nginx & { cleanup?: () => void }).cleanup = () => fs.rmSync(dir, { recursive: true, force: true });
  return n;
}

/** Stops nginx and removes its directory. */
export async function disposeNginx(n: Nginx | undefined): Promise<void> {
  if (!n) return;
  await n.stop();
  (n as Nginx & { cleanup?: () => void }).cleanup?.();
}
