/**
 * The grpc-js server: envoy.service.auth.v3/v2 Authorization.Check,
 * grpc.health.v1.Health and server reflection. Thin: each Check is the
 * engine's whole Check (sark_envoy, in the addon or in WebAssembly), bytes in
 * and bytes out; failures become a gRPC status from status.ts's table with a
 * generic message, the detail going to the log.
 */
import * as grpc from '@grpc/grpc-js';
import { HealthImplementation } from 'grpc-health-check';
import pino, { type Logger } from 'pino';
import type { DecisionCache } from '../cache/types';
import { NativeDecisionCache } from '../cache/native-cache';
import { createCheckPool, NativePreparedPolicy } from '../engine/native-engine';
import type { CheckNotes, CheckResult } from '../engine/check-result';
import { OpaWasmPolicy } from '../engine/opa-wasm-policy';
import { RUST_AVAILABLE } from '../native';
import { WasmPreparedPolicy } from '../engine/wasm-engine';
import { WasmCheckPool } from '../engine/wasm-pool';
import type { PreparedPolicy } from '../engine/types';
import { AuthzError } from '../errors';
import { ceilingResponse } from './ceiling';
import { attachHandshakeTimeout } from './connection-guard';
import { addReflection } from './reflection';
import { clientStatus } from './status';

export const DEFAULT_ADDR = '127.0.0.1:9191';

export type ApiVersion = 'v2' | 'v3';

/**
 * How the prepared decision builds its input documents (fixed when it is
 * prepared); the decision logger rebuilds inputs with the same options.
 */
export interface InputOptions {
  /** Leave out `parsed_body` and `truncated_body` (opa-envoy-plugin's skip-request-body-parse). */
  skipRequestBodyParse?: boolean;
  /** A serialized protobuf FileDescriptorSet: gRPC request bodies become `parsed_body`. */
  protoDescriptor?: Uint8Array;
}

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
  /** The input options the policy was prepared with (for decision logs). */
  check?: { input?: InputOptions };
  /** grpc-js server options (message size limits, keepalive). Default: grpc-js defaults. */
  grpcOptions?: grpc.ServerOptions;
  /** The decision cache (policies of our engine, native or wasm); null or absent = no caching. */
  cache?: DecisionCache | null;
  /** Serve gRPC server reflection (so grpcurl can list and describe). Default true. */
  reflection?: boolean;
  /** Benchmark mode: answer every Check with a precomputed OK without reading it (the transport ceiling). */
  transportCeiling?: boolean;
  /** Told about every Check after it is answered (metrics, decision logs). Must not throw. */
  observer?: CheckObserver;
  /** Listener credentials (TLS, mTLS). Default: insecure (plaintext). */
  credentials?: grpc.ServerCredentials;
  /** Close a TCP connection that completes no TLS/HTTP/2 handshake in this many ms; 0 = never. Default 5000. */
  handshakeTimeoutMs?: number;
  /** Close (GOAWAY) a connection without calls for this many ms; 0 = never. Default 300000. */
  idleTimeoutMs?: number;
  /**
   * Isolation of expensive Checks: each Check is evaluated on the event
   * loop for at most `inlineSteps` steps; one that needs more is finished
   * on one of `maxOffloaded` native threads (the addon) or worker threads
   * (the wasm engine, each with its own instance of the policy), so it
   * holds up no other Check or health probe; with every thread busy it is
   * refused (RESOURCE_EXHAUSTED). A client that cancels stops its Check.
   * `inlineSteps` or `maxOffloaded` 0: everything inline. Default
   * `{ inlineSteps: 5000, maxOffloaded: 4 }`.
   */
  offload?: OffloadOptions;
}

export interface OffloadOptions {
  /** Evaluation steps (and builtin work units) a Check may spend on the event loop. */
  inlineSteps: number;
  /** Most Checks evaluated at once on native threads. */
  maxOffloaded: number;
}

export const DEFAULT_OFFLOAD: OffloadOptions = { inlineSteps: 5000, maxOffloaded: 4 };

/** What one Check came to, for metrics and decision logs. */
export interface CheckEvent {
  api: ApiVersion;
  /** `allow`, `deny`, `bad_request`, or `error` (a gRPC error was returned). */
  outcome: 'allow' | 'deny' | 'bad_request' | 'error';
  /** gRPC status code sent (0 = OK, also for denies, which are answered in the response). */
  grpcStatus: number;
  /** The error code when `outcome` is `error`, or the bad request's reason. */
  code?: string;
  cacheHit: boolean;
  /** Handler time in seconds. */
  seconds: number;
  /** Policy evaluation time in seconds, when the Check evaluated (not for cache hits, bad requests or errors). */
  evalSeconds?: number;
  /** The real reason of an error or a bad request: for logs and decision logs, never for clients. */
  detail?: string;
  /** The CheckRequest bytes, for decision logs (rebuilding the input lazily). */
  request: Buffer;
  /** How the input document is built (descriptor set, body parsing), so a decision log rebuilds the same one. */
  inputOptions?: InputOptions;
  /** The input document and the decision the Check was answered with, when the server has them. */
  decided?: { input: unknown; result: unknown };
  /** The policy that decided. */
  policy: PreparedPolicy;
  /** The decision id, read lazily (it costs a native call). */
  decisionId(): string | undefined;
}

export interface CheckObserver {
  onCheck(event: CheckEvent): void;
}

export interface AuthzServer {
  /** Binds and starts serving; resolves to the bound address (`127.0.0.1:40123`, `unix:/path`). */
  listen(): Promise<string>;
  /** Marks health NOT_SERVING, then stops accepting calls and waits for running calls (forcing after `graceMs`, default 5000). */
  close(graceMs?: number): Promise<void>;
  /**
   * Swaps the policy atomically: every Check that starts after this call
   * uses `policy` (an offloaded Check still running finishes with the
   * policy it started with). Cache entries of the old revision can never
   * match again; they are dropped.
   */
  setPolicy(policy: PreparedPolicy): void;
  /** The policy deciding now. */
  readonly policy: PreparedPolicy;
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
    responseSerialize: (b: Uint8Array) => (Buffer.isBuffer(b) ? b : Buffer.from(b.buffer, b.byteOffset, b.byteLength)),
    responseDeserialize: (b: Buffer) => b,
  };
}

/**
 * A call that ends this close to its deadline (ms) was ended by it: grpc-js
 * ends a call at its deadline reporting it cancelled, as it does a client's
 * cancel, and a client (or Envoy) resets the stream at its own deadline,
 * which reaches us a little before ours. Such an evaluation is left to stop
 * at the deadline by itself (a wasm worker is kept), and counted as a timeout.
 */
const NEAR_DEADLINE_MS = 250;

/** Whether `deadline` (ms since the epoch, 0 = none) is less than NEAR_DEADLINE_MS away, or past. */
function nearDeadline(deadline: number): boolean {
  return deadline > 0 && Date.now() >= deadline - NEAR_DEADLINE_MS;
}

/** The call's deadline (Envoy's grpc-timeout) in ms since the epoch; 0 = none. */
function deadlineMs(call: grpc.ServerUnaryCall<Buffer, Uint8Array>): number {
  const d = call.getDeadline();
  const ms = d instanceof Date ? d.getTime() : d;
  return Number.isFinite(ms) && ms > 0 ? ms : 0;
}

export function createAuthzServer(options: AuthzServerOptions): AuthzServer {
  const logger = options.logger ?? pino({ name: 'sark-authz' });
  const addr = options.addr ?? DEFAULT_ADDR;
  const idleTimeoutMs = options.idleTimeoutMs ?? 300_000;
  const server = new grpc.Server({ ...(idleTimeoutMs > 0 ? { 'grpc.max_connection_idle_ms': idleTimeoutMs } : {}), ...options.grpcOptions });
  const health = new HealthImplementation({ '': 'NOT_SERVING', [AUTHORIZATION_SERVICES.v3]: 'NOT_SERVING', [AUTHORIZATION_SERVICES.v2]: 'NOT_SERVING' });

  let policy = options.policy;
  /**
   * A Check result's notes, read only when it has some; its prints logged as
   * opa-envoy-plugin logs them (`line`: `file.rego:17`).
   */
  const notesFrom = (r: CheckResult | undefined): CheckNotes | undefined => {
    if (!r || r.notesLength === 0) return undefined;
    let notes: CheckNotes | undefined;
    try {
      notes = r.notes();
    } catch (err) {
      logger.error({ err }, 'check notes unreadable');
      return undefined;
    }
    if (notes?.prints) {
      const decisionId = r.decisionId();
      for (const line of notes.prints) logger.info({ decision_id: decisionId, line: line.line }, line.msg);
    }
    return notes;
  };
  const nativeCache = options.cache instanceof NativeDecisionCache ? options.cache.native : null;
  const observer = options.observer;
  const offload = options.offload ?? DEFAULT_OFFLOAD;
  const offloading = offload.inlineSteps > 0 && offload.maxOffloaded > 0;
  // The addon's Checks go to its native threads; the wasm engine's to worker threads (started when first needed).
  const pool = offloading && RUST_AVAILABLE ? createCheckPool(offload.maxOffloaded) : null;
  const inlineSteps = pool ? offload.inlineSteps : 0;
  const wasmPool = offloading ? new WasmCheckPool(offload.maxOffloaded) : null;
  const wasmInlineSteps = wasmPool ? offload.inlineSteps : 0;

  for (const version of ['v3', 'v2'] as const) {
    const service = AUTHORIZATION_SERVICES[version];
    const wire = version === 'v3' ? 3 : 2;
    const ceiling = ceilingResponse(version);
    /** Tells the observer (metrics, decision logs) what a Check came to; never throws. */
    const observe = (call: grpc.ServerUnaryCall<Buffer, Uint8Array>, started: bigint, event: Omit<CheckEvent, 'seconds' | 'request' | 'policy' | 'api' | 'inputOptions'>, decidedBy = policy) => {
      if (!observer) return;
      const seconds = Number(process.hrtime.bigint() - started) / 1e9;
      try {
        observer.onCheck({ ...event, api: version, seconds, request: call.request, policy: decidedBy, inputOptions: options.check?.input });
      } catch (err) {
        logger.error({ err }, 'check observer failed');
      }
    };
    /** Answers with the gRPC status of a failure: a generic message for the client, the detail in the log. */
    /** Notes of a Check's result (prints logged, the decision recorded), read only when it has some. */
    const decidedOf = (notes: CheckNotes | undefined) => (notes && 'input' in notes ? { input: notes.input, result: notes.result } : undefined);
    /** A Check answered: its prints logged, then observed. */
    const answered = (call: grpc.ServerUnaryCall<Buffer, Uint8Array>, started: bigint, r: CheckResult, p: PreparedPolicy) => {
      const notes = notesFrom(r);
      // Nothing is allocated for the observer unless there is one.
      if (observer) observe(call, started, { outcome: r.outcome, grpcStatus: 0, cacheHit: r.cacheHit, evalSeconds: r.evalNs > 0 ? r.evalNs / 1e9 : undefined, decided: decidedOf(notes), decisionId: () => r.decisionId() }, p);
    };
    /**
     * A call ended before its Check was answered: nothing more is sent. Its
     * client went away (RST_STREAM, Envoy giving up): observed as the error
     * `eval_cancelled` (CANCELLED); or its deadline passed, and grpc-js has
     * answered DEADLINE_EXCEEDED: observed as `eval_timeout`.
     */
    const dropped = (call: grpc.ServerUnaryCall<Buffer, Uint8Array>, started: bigint, detail: string, p?: PreparedPolicy, stoppedBy?: string) => {
      // What stopped the evaluation, when it was stopped; else when the call ended.
      const timedOut = stoppedBy === 'eval_timeout' || (stoppedBy !== 'eval_cancelled' && nearDeadline(deadlineMs(call)));
      const code = timedOut ? 'eval_timeout' : 'eval_cancelled';
      logger.debug({ api: version, code, detail }, timedOut ? 'check ended by its deadline' : 'check cancelled by the client');
      observe(call, started, { outcome: 'error', grpcStatus: timedOut ? grpc.status.DEADLINE_EXCEEDED : grpc.status.CANCELLED, code, detail, cacheHit: false, decisionId: () => undefined }, p);
    };
    /** A Check failed: a generic status to the client, the real reason (and what it printed before failing) to the log. */
    const fail = (call: grpc.ServerUnaryCall<Buffer, Uint8Array>, callback: grpc.sendUnaryData<Uint8Array>, started: bigint, thrown: unknown, p?: PreparedPolicy, r?: CheckResult) => {
      const last = r ?? (p instanceof NativePreparedPolicy || p instanceof WasmPreparedPolicy || p instanceof OpaWasmPolicy ? p.last : undefined);
      const notes = notesFrom(last);
      const err = AuthzError.from(thrown);
      if (call.cancelled) return dropped(call, started, err.message, p, err.code);
      const status = clientStatus(err.code);
      logger[err.code === 'internal' ? 'error' : 'warn']({ api: version, code: err.code, grpc_status: status.code, err }, 'check failed');
      callback({ code: status.code, details: status.message });
      observe(call, started, { outcome: 'error', grpcStatus: status.code, code: err.code, detail: err.message, cacheHit: false, decided: decidedOf(notes), decisionId: () => undefined });
    };
    /** The Check of `p` in full off the event loop: on a native thread (the addon) or a worker thread (the wasm engine). */
    const offloaded = (p: NativePreparedPolicy | WasmPreparedPolicy, call: grpc.ServerUnaryCall<Buffer, Uint8Array>, deadline: number, signal: AbortSignal) =>
      p instanceof NativePreparedPolicy ? p.checkOffloaded(call.request, wire, nativeCache, deadline, pool!, signal) : p.checkOffloaded(call.request, wire, options.cache ?? null, deadline, wasmPool!, signal);
    /** Finishes a Check that ran out of inline steps on a pool thread; the event loop serves others meanwhile. */
    const finishOffloaded = (p: NativePreparedPolicy | WasmPreparedPolicy, call: grpc.ServerUnaryCall<Buffer, Uint8Array>, callback: grpc.sendUnaryData<Uint8Array>, started: bigint, deadline: number) => {
      if (call.cancelled) return dropped(call, started, 'the client cancelled the call before it was evaluated', p);
      // The client going away stops the evaluation (and frees its thread) instead of letting it run to its budget.
      // (Not at its deadline, where the engine stops by itself: see NEAR_DEADLINE_MS.)
      const abort = new AbortController();
      const onCancelled = () => {
        if (!nearDeadline(deadline)) abort.abort();
      };
      call.once('cancelled', onCancelled);
      offloaded(p, call, deadline, abort.signal).then(
        (r) => {
          call.off('cancelled', onCancelled);
          if (call.cancelled) return dropped(call, started, 'the client cancelled the call; its decision was not sent', p);
          // The engine refuses a decision finished past the deadline; this also covers the hop back to the event loop.
          if (deadline > 0 && Date.now() > deadline) return fail(call, callback, started, new AuthzError('eval_timeout', 'the decision was ready after the deadline'));
          callback(null, r.response());
          answered(call, started, r, p);
        },
        (thrown: unknown) => {
          call.off('cancelled', onCancelled);
          fail(call, callback, started, thrown);
        },
      );
    };
    const handler: grpc.handleUnaryCall<Buffer, Uint8Array> = (call, callback) => {
      const started = observer ? process.hrtime.bigint() : 0n;
      if (options.transportCeiling) {
        // Observed like any Check, so the ceiling carries the same metrics work.
        callback(null, ceiling);
        if (observer) observe(call, started, { outcome: 'allow', grpcStatus: 0, cacheHit: false, decisionId: () => undefined });
        return;
      }
      try {
        const p = policy;
        const deadline = deadlineMs(call);
        // A view of the policy's output buffer: grpc-js copies it into the
        // response frame within this callback, before the next Check runs.
        // The wasm engine (no addon) caches in the lru-cache fallback; a
        // policy.wasm built by OPA is never cached.
        let response: Buffer | undefined;
        if (p instanceof NativePreparedPolicy) response = p.checkInline(call.request, wire, nativeCache, deadline, inlineSteps);
        else if (p instanceof WasmPreparedPolicy) response = p.checkInline(call.request, wire, options.cache ?? null, deadline, wasmInlineSteps);
        else if (p instanceof OpaWasmPolicy) response = p.checkView(call.request, wire);
        else throw new AuthzError('internal', `${p.path}: a policy of no engine this server runs`);
        if (response === undefined) return finishOffloaded(p as NativePreparedPolicy | WasmPreparedPolicy, call, callback, started, deadline);
        callback(null, response);
        answered(call, started, p.last, p);
      } catch (thrown) {
        fail(call, callback, started, thrown, policy);
      }
    };
    server.addService({ Check: rawMethod(service) } as grpc.ServiceDefinition, { Check: handler });
  }
  health.addToServer(server);
  if (options.reflection ?? true) addReflection(server);

  const setHealth = (s: 'SERVING' | 'NOT_SERVING') => {
    for (const name of ['', AUTHORIZATION_SERVICES.v3, AUTHORIZATION_SERVICES.v2]) health.setStatus(name, s);
  };

  return {
    grpcServer: server,
    get policy() {
      return policy;
    },
    setPolicy(next: PreparedPolicy) {
      policy = next;
      options.cache?.clear();
      logger.info({ path: next.path }, 'policy activated');
    },
    listen: () =>
      new Promise((resolve, reject) => {
        server.bindAsync(addr, options.credentials ?? grpc.ServerCredentials.createInsecure(), (err, port) => {
          if (err) return reject(new AuthzError('listen_failed', `cannot listen on ${addr}: ${err.message}`, { cause: err }));
          try {
            attachHandshakeTimeout(server, options.handshakeTimeoutMs ?? 5000, (peer) => logger.debug({ peer }, 'closed a connection without a handshake'));
          } catch (guardErr) {
            server.forceShutdown();
            return reject(AuthzError.from(guardErr));
          }
          setHealth('SERVING');
          const bound = addr.startsWith('unix:') ? addr : `${addr.slice(0, addr.lastIndexOf(':'))}:${port}`;
          logger.info({ addr: bound, path: policy.path, engine: policy instanceof WasmPreparedPolicy ? 'wasm' : policy instanceof NativePreparedPolicy ? 'native' : 'opa-wasm', cache: options.cache?.kind ?? 'off' }, 'serving');
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
          // Its threads end once their running Checks are done.
          pool?.close();
          wasmPool?.close();
          resolve();
        });
      }),
  };
}
