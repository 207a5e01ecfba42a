/** A real HTTP decision-log collector: accepts OPA-style gzipped JSON arrays on POST /logs. */
import * as http from 'node:http';
import * as zlib from 'node:zlib';
import type { AddressInfo } from 'node:net';

export interface Collector {
  url: string;
  /** Every event received, in order. */
  events: any[];
  /** Each request's headers. */
  requests: http.IncomingHttpHeaders[];
  /** Status to answer with (default 200). */
  status: number;
  close(): Promise<void>;
}

export async function startCollector(): Promise<Collector> {
  const c: Collector = { url: '', events: [], requests: [], status: 200, close: async () => undefined };
  const server = http.createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (d: Buffer) => chunks.push(d));
    req.on('end', () => {
      if (req.method !== 'POST' || req.url !== '/logs') {
        res.writeHead(404).end();
        return;
      }
      if (c.status !== 200) {
        res.writeHead(c.status).end();
        return;
      }
      c.requests.push(req.headers);
      let body = Buffer.concat(chunks);
      if (req.headers['content-encoding'] === 'gzip') body = zlib.gunzipSync(body);
      c.events.push(...(JSON.parse(body.toString('utf8')) as unknown[]));
      res.writeHead(200).end();
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  c.url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  c.close = () =>
    new Promise((resolve) => {
      server.close(() => resolve());
      server.closeAllConnections();
    });
  return c;
}
