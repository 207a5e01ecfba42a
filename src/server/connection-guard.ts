/**
 * The handshake timeout: a TCP connection that has not completed its TLS
 * and HTTP/2 handshake (the client's SETTINGS frame received) within
 * `handshakeTimeoutMs` is destroyed, so silent sockets cannot pile up until
 * the process runs out of file descriptors. Idle connections after the
 * handshake are grpc-js's `grpc.max_connection_idle_ms` (server.ts).
 *
 * grpc-js creates its HTTP/2 listeners itself and offers no hook on their
 * connections, so the guard attaches to the listeners it keeps in
 * `http2Servers` once bound; `attachHandshakeTimeout` throws when that
 * field is gone (a grpc-js upgrade), and the tests catch it.
 */
import type * as grpc from '@grpc/grpc-js';
import type * as http2 from 'node:http2';
import type * as net from 'node:net';

/** `address:port` of a TCP peer; undefined for a unix socket. */
function peerKey(socket: { remoteAddress?: string; remotePort?: number }): string | undefined {
  return socket.remotePort === undefined ? undefined : `${socket.remoteAddress}:${socket.remotePort}`;
}

/** The HTTP/2 listeners of a bound grpc-js server. */
function listenersOf(server: grpc.Server): http2.Http2Server[] {
  const servers = (server as unknown as { http2Servers?: Map<http2.Http2Server, unknown> }).http2Servers;
  if (!(servers instanceof Map)) throw new Error('grpc-js no longer keeps http2Servers: the handshake timeout cannot be attached');
  return [...servers.keys()];
}

/**
 * Destroys connections to `server`'s TCP listeners that complete no HTTP/2
 * handshake within `timeoutMs`; `onClose` is told of each. Call after bind.
 */
export function attachHandshakeTimeout(server: grpc.Server, timeoutMs: number, onClose: (peer: string) => void): void {
  if (timeoutMs <= 0) return;
  for (const listener of listenersOf(server)) {
    // Sessions by peer (address:port is the same for the raw and the TLS socket), and those whose settings arrived.
    const sessions = new Map<string, http2.ServerHttp2Session>();
    const established = new Set<string>();
    listener.on('session', (session: http2.ServerHttp2Session) => {
      const key = peerKey(session.socket);
      if (key === undefined) return;
      sessions.set(key, session);
      session.once('remoteSettings', () => established.add(key));
      session.once('close', () => {
        sessions.delete(key);
        established.delete(key);
      });
    });
    listener.on('connection', (socket: net.Socket) => {
      const key = peerKey(socket);
      if (key === undefined) return;
      const timer = setTimeout(() => {
        if (established.has(key) || socket.destroyed) return;
        onClose(key);
        // Once a session owns the socket, only destroying the session closes it.
        sessions.get(key)?.destroy();
        socket.destroy();
      }, timeoutMs);
      timer.unref();
      socket.once('close', () => clearTimeout(timer));
    });
  }
}
