/**
 * The grpc-js server: envoy.service.auth.v3/v2 Authorization.Check,
 * grpc.health.v1.Health and server reflection. Thin: each Check is
 * check.ts's steps; failures become a gRPC status from status.ts's table
 * with a generic message, the detail going to the log.
 */
import * as grpc from '@grpc/grpc-js';
import { HealthImplementation } from 'grpc-health-check';
import pino, { type Logger } from 'pino';
import type { PreparedPolicy } from '../engine/types';
import { AuthzError } from '../envoy/errors';
import type { ApiVersion } from '../envoy/input';
import { check, type CheckOptions } from './check';
import { addReflection } from './reflection';
import { clientStatus } from './status';

export const DEFAULT_ADDR = '127.0.0.1:9191';

export const AUTHORIZATION_SERVICES: Record<ApiVersion, string> = {
  v3: 'envoy.service.auth.v3.Authorization',
  v2: 'envoy.service.auth.v2.Authorization',
};

export interface AuthzServerOptions {
  /** The prepared decision (e.g. `data.envoy.authz.allow`), evaluated once per Check. */
  policy: PreparedPolicy;
  /** Listen address: `host:port` (port 0 picks a free port), `[v6]:port` or `unix:/path`. Default `127.0.0.1:9191`. */
  addr?: string;
  /** Where logs go. Default: pino at `info` on stdout. */
  logger?: Logger;
  /** Input document and response mapping options. */
  check?: CheckOptions;
  /** grpc-js server options (message size limits, keepalive). Default: grpc-js defaults. */
  grpcOptions?: grpc.ServerOptions;
}

export interface AuthzServer {
  /** Binds and starts serving; resolves to the bound address (`127.0.0.1:40123`, `unix:/path`). */
  listen(): Promise<string>;
  /** Marks health NOT_SERVING, then stops accepting calls and waits for running calls (forcing after `graceMs`, default 5000). */
  close(graceMs?: number): Promise<void>;
  readonly grpcServer: grpc.Server;
}

/** A unary method over raw bytes: the handler decodes, so a malformed message is ours to answer. */
function rawMethod(service: string): grpc.MethodDefinition<Buffer, Uint8Array> {
  return {
    path: `/${service}/Check`,
    requestStream: false,
    responseStream: false,
    requestSerialize: (b: Buffer) => b,
    requestDeserialize: (b: Buffer) => b,
    responseSerialize: (b: Uint8Array) => Buffer.from(b.buffer, b.byteOffset, b.byteLength),
    responseDeserialize: (b: Buffer) => b,
  };
}

export function createAuthzServer(options: AuthzServerOptions): AuthzServer {
  const logger = options.logger ?? pino({ name: 'sark-authz' });
  const addr = options.addr ?? DEFAULT_ADDR;
  const server = new grpc.Server(options.grpcOptions);
  const health = new HealthImplementation({ '': 'NOT_SERVING', [AUTHORIZATION_SERVICES.v3]: 'NOT_SERVING', [AUTHORIZATION_SERVICES.v2]: 'NOT_SERVING' });

  for (const version of ['v3', 'v2'] as const) {
    const service = AUTHORIZATION_SERVICES[version];
    const handler: grpc.handleUnaryCall<Buffer, Uint8Array> = (call, callback) => {
      try {
        const result = check(options.policy, call.request, version, options.check);
        if (result.outcome === 'bad_request') {
          logger.info({ decision_id: result.decisionId, request_id: result.requestId, api: version, reason: result.reason, detail: result.detail }, 'bad request denied');
        } else {
          logger.debug({ decision_id: result.decisionId, request_id: result.requestId, api: version, outcome: result.outcome }, 'decision');
        }
        callback(null, result.bytes);
      } catch (thrown) {
        const err = AuthzError.from(thrown);
        const status = clientStatus(err.code);
        logger[err.code === 'internal' ? 'error' : 'warn']({ api: version, code: err.code, grpc_status: status.code, err }, 'check failed');
        callback({ code: status.code, details: status.message });
      }
    };
    server.addService({ Check: rawMethod(service) } as grpc.ServiceDefinition, { Check: handler });
  }
  health.addToServer(server);
  addReflection(server);

  const setHealth = (s: 'SERVING' | 'NOT_SERVING') => {
    for (const name of ['', AUTHORIZATION_SERVICES.v3, AUTHORIZATION_SERVICES.v2]) health.setStatus(name, s);
  };

  return {
    grpcServer: server,
    listen: () =>
      new Promise((resolve, reject) => {
        server.bindAsync(addr, grpc.ServerCredentials.createInsecure(), (err, port) => {
          if (err) return reject(new AuthzError('listen_failed', `cannot listen on ${addr}: ${err.message}`, { cause: err }));
          setHealth('SERVING');
          const bound = addr.startsWith('unix:') ? addr : `${addr.slice(0, addr.lastIndexOf(':'))}:${port}`;
          logger.info({ addr: bound, path: options.policy.path }, 'serving');
          resolve(bound);
        });
      }),
    close: (graceMs = 5000) =>
      new Promise((resolve) => {
        setHealth('NOT_SERVING');
        const force = setTimeout(() => server.forceShutdown(), graceMs);
        force.unref();
        server.tryShutdown(() => {
          clearTimeout(force);
          resolve();
        });
      }),
  };
}
