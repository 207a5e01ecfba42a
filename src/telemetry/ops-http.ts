/**
 * The operations HTTP listener: `GET /metrics` (Prometheus text format),
 * `GET /health` (live: the process answers) and `GET /health/ready` (200
 * once a policy is active, 503 before, with a JSON detail either way).
 */
import * as http from 'node:http';
import { AuthzError } from '../errors';

export interface Readiness {
  ready: boolean;
  /** Shown in the `/health/ready` body: active revision, last load error... */
  detail?: Record<string, unknown>;
}

export interface OpsHttpOptions {
  /** `host:port` (port 0 picks one). */
  addr: string;
  /** The exposition body; absent = no `/metrics`. */
  metrics?: () => Promise<{ contentType: string; body: string }>;
  /** Readiness now. Default: always ready. */
  readiness?: () => Readiness;
}

export interface OpsHttpServer {
  /** Resolves to the bound `host:port`. */
  listen(): Promise<string>;
  close(): Promise<void>;
}

function send(res: http.ServerResponse, status: number, contentType: string, body: string): void {
  res.writeHead(status, { 'content-type': contentType, 'cache-control': 'no-store' });
  res.end(body);
}

export function createOpsHttpServer(options: OpsHttpOptions): OpsHttpServer {
  const server = http.createServer((req, res) => {
    const url = (req.url ?? '/').split('?')[0];
    if (req.method !== 'GET' && req.method !== 'HEAD') return send(res, 405, 'text/plain', 'method not allowed\n');
    if (url === '/health' || url === '/health/live') return send(res, 200, 'application/json', '{"status":"ok"}\n');
    if (url === '/health/ready') {
      const r = options.readiness?.() ?? { ready: true };
      return send(res, r.ready ? 200 : 503, 'application/json', `${JSON.stringify({ status: r.ready ? 'ok' : 'not_ready', ...r.detail })}\n`);
    }
    if (url === '/metrics' && options.metrics) {
      options.metrics().then(
        (m) => send(res, 200, m.contentType, m.body),
        () => send(res, 500, 'text/plain', 'metrics unavailable\n'),
      );
      return;
    }
    send(res, 404, 'text/plain', 'not found\n');
  });
  server.keepAliveTimeout = 65_000;
  const [host, port] = splitHostPort(options.addr);
  return {
    listen: () =>
      new Promise((resolve, reject) => {
        server.once('error', (err) => reject(new AuthzError('listen_failed', `cannot listen on ${options.addr}: ${err.message}`, { cause: err })));
        server.listen(port, host, () => {
          const a = server.address();
          resolve(typeof a === 'object' && a ? `${host.includes(':') ? `[${host}]` : host}:${a.port}` : options.addr);
        });
      }),
    close: () =>
      new Promise((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      }),
  };
}

/** `127.0.0.1:9192`, `:9192` (every interface), `[::1]:9192`. Throws AuthzError `config_invalid`. */
export function splitHostPort(addr: string): [string, number] {
  const m = /^(\[[0-9a-fA-F:.]+\]|[^:\[\]]*):(\d{1,5})$/.exec(addr);
  if (!m || Number(m[2]) > 65535) throw new AuthzError('config_invalid', `invalid address "${addr}" (expected HOST:PORT)`);
  const host = m[1] === '' ? '0.0.0.0' : m[1].replace(/^\[|\]$/g, '');
  return [host, Number(m[2])];
}
