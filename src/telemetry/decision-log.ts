/**
 * Decision logs in OPA's event format, as a CheckObserver.
 *
 * The hot path stays untouched: `onCheck` only appends the Check's bytes
 * and outcome to a bounded queue (a full queue drops the event and counts
 * it). Off the response path (setImmediate), each queued Check becomes an
 * event with the input document and result the answer was decided on, as
 * the Check hands them over (when the
 * policy was prepared with `recordDecision`, which `serve` does whenever
 * decision logs are on — a cache hit logs the result stored with the
 * entry). The decision is never evaluated a second time: a result of
 * time.now_ns or rand.intn is logged as it was served. A Check that handed
 * over no input (a bad request, a malformed one) is logged with the input
 * document rebuilt from its bytes with the server's own input options, and
 * no result. The event is masked, then written to stdout
 * and/or a file as JSON lines and/or batched, gzipped, to an HTTP
 * collector as OPA's decision-log service expects (`POST {url}/logs`, a
 * JSON array, `Content-Encoding: gzip`).
 *
 * As opa-envoy-plugin logs them: `revision` only for a legacy bundle (ours
 * are named, so `bundles` carries their revisions; local files have none,
 * their content hash is `policy_hash`), and `error` with the real reason —
 * operators read logs; clients only ever get a generic status.
 */
import { randomUUID } from 'node:crypto';
import * as fs from 'node:fs';
import { promisify } from 'node:util';
import * as zlib from 'node:zlib';
import type { Logger } from 'pino';
import { NativePreparedPolicy } from '../engine/native-engine';
import { WasmPreparedPolicy } from '../engine/wasm-engine';
import type { PreparedPolicy } from '../engine/types';
import { AuthzError } from '../errors';
import type { CheckEvent, CheckObserver, InputOptions } from '../server/server';
import { DEFAULT_MASK, maskSecretQuery } from './log-mask';
import { refToPath } from '../config/decision-path';

const gzip = promisify(zlib.gzip);

/**
 * One masking rule, as OPA's `data.system.log.mask` results: a JSON pointer
 * string (`/input/attributes/request/http/headers/authorization`) erases
 * the value; `{op: "remove", path}` does the same; `{op: "upsert", path,
 * value}` replaces (or inserts) it. Paths start at `/input` or `/result`.
 */
export type MaskRule = string | { op: 'remove' | 'upsert'; path: string; value?: unknown };

export { DEFAULT_MASK } from './log-mask';

export interface DecisionLogServiceOptions {
  /** The collector's base URL; events are POSTed to `url + resource`. */
  url: string;
  /** Default `/logs` (OPA's). */
  resource?: string;
  /** Sent as `Authorization: Bearer TOKEN`. Default none. */
  token?: string;
  /** Extra request headers. */
  headers?: Record<string, string>;
  /** One upload's time budget, ms. Default 10000. */
  timeoutMs?: number;
}

export interface DecisionLogOptions {
  /** Write events as JSON lines to stdout. Default false. */
  console?: boolean;
  /** Append events as JSON lines to this file. Default none. */
  file?: string;
  /** Upload batches to an OPA decision-log collector. Default none. */
  service?: DecisionLogServiceOptions;
  /** Masking rules; replaces the default (secret-bearing headers and query parameters, log-mask.ts). */
  mask?: MaskRule[];
  /** Checks awaiting their event; more are dropped and counted. Default 10000. */
  maxQueued?: number;
  /** Uncompressed bytes of events per upload request. Default 32768 (OPA's upload_size_limit_bytes). */
  uploadSizeLimitBytes?: number;
  /** Bytes of events awaiting upload; beyond it the oldest are dropped and counted. Default 16 MiB. */
  bufferSizeLimitBytes?: number;
  /** Upload at least this often while events wait, ms. Default 5000. */
  flushIntervalMs?: number;
  /** Upload retry backoff bounds, ms. Default 500 .. 60000. */
  retryMinMs?: number;
  retryMaxMs?: number;
  /** Labels on every event; `id` and `version` are added. */
  labels?: Record<string, string>;
  /** The input was built without parsed_body (serve --skip-request-body-parse). */
  skipRequestBodyParse?: boolean;
  /** The revision (a content hash for local files) and bundles of the policy that decided. */
  policyInfo?: (policy: PreparedPolicy) => { revision?: string; bundles?: Record<string, { revision: string }> };
  /** Told about drops and sent events (metrics). */
  onDropped?: (reason: string, n: number) => void;
  onSent?: (sink: string, n: number) => void;
  logger?: Logger;
}

/** OPA's decision-log event, plus `cached` (served from the decision cache). */
export interface DecisionEvent {
  labels: Record<string, string>;
  decision_id: string;
  revision?: string;
  bundles?: Record<string, { revision: string }>;
  /** The content hash of local policy files (no bundle), which OPA has no field for. */
  policy_hash?: string;
  path: string;
  input?: unknown;
  result?: unknown;
  error?: { code: string; message: string };
  requested_by: string;
  timestamp: string;
  metrics: Record<string, number>;
  erased?: string[];
  masked?: string[];
  cached: boolean;
}

interface Queued {
  request: Buffer;
  api: 'v3' | 'v2';
  policy: PreparedPolicy;
  outcome: CheckEvent['outcome'];
  code?: string;
  detail?: string;
  cacheHit: boolean;
  seconds: number;
  evalSeconds?: number;
  decisionId: string;
  timestamp: string;
  inputOptions?: InputOptions;
  decided?: { input: unknown; result: unknown };
}

/** Descriptor sets as the native input builder takes them, encoded once each. */
const descriptorBase64 = new WeakMap<Uint8Array, string>();

function base64Of(bytes: Uint8Array): string {
  let b64 = descriptorBase64.get(bytes);
  if (b64 === undefined) {
    b64 = Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength).toString('base64');
    descriptorBase64.set(bytes, b64);
  }
  return b64;
}

/** `data.envoy.authz.allow` → `envoy/authz/allow`, `data.test["com.foo"].allow` → `test/com.foo/allow`, as OPA logs paths. */
export const logPath = refToPath;

function pointer(path: string): string[] {
  if (!path.startsWith('/')) throw new AuthzError('config_invalid', `mask path "${path}" must be a JSON pointer starting with /input or /result`);
  return path
    .slice(1)
    .split('/')
    .map((s) => s.replace(/~1/g, '/').replace(/~0/g, '~'));
}

/** Checks mask rules; throws AuthzError `config_invalid` naming the bad rule. */
export function validateMask(rules: unknown, key = 'decision_logs.mask'): MaskRule[] {
  if (!Array.isArray(rules)) throw new AuthzError('config_invalid', `${key}: must be a list`);
  return rules.map((r, i) => {
    const at = `${key}[${i}]`;
    const path = typeof r === 'string' ? r : (r as { path?: unknown })?.path;
    if (typeof path !== 'string' || !/^\/(input|result)(\/|$)/.test(path)) throw new AuthzError('config_invalid', `${at}: path must start with /input or /result`);
    if (typeof r !== 'string') {
      const op = (r as { op?: unknown }).op;
      if (op !== 'remove' && op !== 'upsert') throw new AuthzError('config_invalid', `${at}.op: must be remove or upsert`);
    }
    return r as MaskRule;
  });
}

/** Applies mask rules to an event in place (OPA's semantics: erased/masked list the paths touched). */
export function applyMask(event: DecisionEvent, rules: MaskRule[]): void {
  for (const rule of rules) {
    const { op, path, value } = typeof rule === 'string' ? { op: 'remove' as const, path: rule, value: undefined } : rule;
    const segs = pointer(path);
    const root = segs.shift() as 'input' | 'result';
    if (root !== 'input' && root !== 'result') continue;
    if (segs.length === 0) {
      if (op === 'remove' && event[root] !== undefined) {
        delete event[root];
        (event.erased ??= []).push(path);
      } else if (op === 'upsert') {
        event[root] = value;
        (event.masked ??= []).push(path);
      }
      continue;
    }
    let node: unknown = event[root];
    for (let i = 0; i < segs.length - 1 && node !== undefined; i++) {
      node = typeof node === 'object' && node !== null ? (node as Record<string, unknown>)[segs[i]] : undefined;
    }
    if (typeof node !== 'object' || node === null) continue;
    const obj = node as Record<string, unknown>;
    const last = segs[segs.length - 1];
    if (op === 'remove') {
      if (Object.prototype.hasOwnProperty.call(obj, last)) {
        delete obj[last];
        (event.erased ??= []).push(path);
      }
    } else {
      obj[last] = value;
      (event.masked ??= []).push(path);
    }
  }
}

export class DecisionLogger implements CheckObserver {
  private readonly queue: Queued[] = [];
  private scheduled = false;
  private readonly maxQueued: number;
  private readonly mask: MaskRule[];
  private readonly labels: Record<string, string>;
  private readonly file: fs.WriteStream | null;
  /** Encoded events awaiting upload, oldest first. */
  private pending: string[] = [];
  private pendingBytes = 0;
  private uploading: Promise<void> | null = null;
  private flushTimer: NodeJS.Timeout | null = null;
  private retryMs = 0;
  private retryAt = 0;
  private closed = false;
  /** Events dropped so far, by reason. */
  readonly dropped: Record<string, number> = {};
  private warnedUnrecorded = false;

  constructor(private readonly options: DecisionLogOptions) {
    this.maxQueued = options.maxQueued ?? 10000;
    this.mask = options.mask ?? DEFAULT_MASK;
    this.labels = { id: randomUUID(), version: '0.1.0', ...(options.labels ?? {}) };
    this.file = options.file ? fs.createWriteStream(options.file, { flags: 'a' }) : null;
    this.file?.on('error', (err) => options.logger?.error({ err }, 'decision log file write failed'));
    if (options.service) {
      this.flushTimer = setInterval(() => void this.flush(), options.flushIntervalMs ?? 5000);
      this.flushTimer.unref();
    }
  }

  /** Hot path: O(1), allocation of one small record; never throws. */
  onCheck(event: CheckEvent): void {
    if (this.closed) return;
    if (this.queue.length >= this.maxQueued) {
      this.drop('queue_full', 1);
      return;
    }
    // Read now: the native decision id is the *last* Check's.
    const decisionId = event.decisionId() ?? randomUUID();
    this.queue.push({
      request: event.request,
      api: event.api,
      policy: event.policy,
      outcome: event.outcome,
      code: event.code,
      detail: event.detail,
      cacheHit: event.cacheHit,
      evalSeconds: event.evalSeconds,
      inputOptions: event.inputOptions,
      decided: event.decided,
      seconds: event.seconds,
      decisionId,
      timestamp: new Date().toISOString(),
    });
    if (!this.scheduled) {
      this.scheduled = true;
      setImmediate(() => this.drain());
    }
  }

  private drop(reason: string, n: number): void {
    this.dropped[reason] = (this.dropped[reason] ?? 0) + n;
    this.options.onDropped?.(reason, n);
  }

  /** Turns up to 64 queued Checks into events per turn of the event loop, so Checks keep flowing. */
  private drain(): void {
    this.scheduled = false;
    const batch = this.queue.splice(0, 64);
    const lines: string[] = [];
    for (const q of batch) {
      try {
        lines.push(JSON.stringify(this.build(q)));
      } catch (err) {
        this.options.logger?.warn({ err }, 'decision log event failed');
        this.drop('event_failed', 1);
      }
    }
    if (lines.length > 0) this.emit(lines);
    if (this.queue.length > 0 && !this.scheduled) {
      this.scheduled = true;
      setImmediate(() => this.drain());
    }
  }

  /** The event for one Check: the input and result it was decided on (or the input rebuilt, for a Check that handed none over), masked. */
  build(q: Queued): DecisionEvent {
    const info = this.options.policyInfo?.(q.policy) ?? {};
    const event: DecisionEvent = {
      labels: this.labels,
      decision_id: q.decisionId,
      ...(info.bundles ? { bundles: info.bundles } : info.revision !== undefined ? { policy_hash: info.revision } : {}),
      path: logPath(q.policy.path),
      requested_by: '',
      timestamp: q.timestamp,
      metrics: { timer_server_handler_ns: Math.round(q.seconds * 1e9) },
      cached: q.cacheHit,
    };
    const p = q.policy;
    if (q.decided) {
      event.input = q.decided.input;
      event.result = q.decided.result;
      if (q.evalSeconds !== undefined) event.metrics.timer_rego_query_eval_ns = Math.round(q.evalSeconds * 1e9);
    } else if (p instanceof NativePreparedPolicy || p instanceof WasmPreparedPolicy) {
      const descriptor = q.inputOptions?.protoDescriptor;
      const options = {
        skipRequestBodyParse: q.inputOptions?.skipRequestBodyParse ?? this.options.skipRequestBodyParse,
        protoDescriptorBase64: descriptor ? base64Of(descriptor) : undefined,
      };
      try {
        event.input = p.inputDocument(q.request, q.api === 'v3' ? 3 : 2, options);
      } catch (err) {
        const e = AuthzError.from(err);
        event.error = { code: e.code, message: q.detail ?? e.message };
      }
      if (event.input !== undefined && q.outcome !== 'error' && q.outcome !== 'bad_request' && !this.warnedUnrecorded) {
        this.warnedUnrecorded = true;
        this.options.logger?.warn({ path: p.path }, 'policy prepared without recordDecision: decision logs carry no result');
      }
    }
    if (q.outcome === 'error' || q.outcome === 'bad_request') event.error ??= { code: q.code ?? 'internal', message: q.detail ?? q.code ?? 'internal' };
    applyMask(event, this.mask);
    if (!this.options.mask) maskSecretQuery(event);
    return event;
  }

  private emit(lines: string[]): void {
    if (this.options.console) {
      process.stdout.write(`${lines.join('\n')}\n`);
      this.options.onSent?.('console', lines.length);
    }
    if (this.file) {
      this.file.write(`${lines.join('\n')}\n`);
      this.options.onSent?.('file', lines.length);
    }
    if (this.options.service) {
      const limit = this.options.bufferSizeLimitBytes ?? 16 * 1024 * 1024;
      for (const l of lines) {
        this.pending.push(l);
        this.pendingBytes += l.length;
      }
      let over = 0;
      while (this.pendingBytes > limit && this.pending.length > 0) {
        this.pendingBytes -= this.pending.shift()!.length;
        over++;
      }
      if (over > 0) this.drop('buffer_full', over);
      if (this.pendingBytes >= (this.options.uploadSizeLimitBytes ?? 32768)) void this.flush();
    }
  }

  /** Uploads what waits (in batches of at most uploadSizeLimitBytes); resolves when done or failed. */
  flush(): Promise<void> {
    if (!this.options.service) return Promise.resolve();
    if (this.uploading) return this.uploading;
    if (this.pending.length === 0 || Date.now() < this.retryAt) return Promise.resolve();
    this.uploading = this.uploadAll().finally(() => {
      this.uploading = null;
    });
    return this.uploading;
  }

  private async uploadAll(): Promise<void> {
    const svc = this.options.service!;
    const limit = this.options.uploadSizeLimitBytes ?? 32768;
    while (this.pending.length > 0) {
      let n = 0;
      let bytes = 2;
      while (n < this.pending.length && (n === 0 || bytes + this.pending[n].length + 1 <= limit)) bytes += this.pending[n++].length + 1;
      const batch = this.pending.slice(0, n);
      const body = await gzip(Buffer.from(`[${batch.join(',')}]`));
      try {
        const res = await fetch(`${svc.url.replace(/\/+$/, '')}${svc.resource ?? '/logs'}`, {
          method: 'POST',
          headers: {
            'content-type': 'application/json',
            'content-encoding': 'gzip',
            'user-agent': 'sark-authz/0.1.0',
            ...(svc.token ? { authorization: `Bearer ${svc.token}` } : {}),
            ...(svc.headers ?? {}),
          },
          body,
          signal: AbortSignal.timeout(svc.timeoutMs ?? 10000),
        });
        await res.arrayBuffer().catch(() => undefined);
        if (!res.ok) throw new Error(`collector answered HTTP ${res.status}`);
      } catch (err) {
        this.retryMs = Math.min(this.options.retryMaxMs ?? 60000, Math.max(this.options.retryMinMs ?? 500, this.retryMs * 2));
        this.retryAt = Date.now() + this.retryMs;
        this.options.logger?.warn({ err: (err as Error).message, retry_ms: this.retryMs, events: this.pending.length }, 'decision log upload failed; will retry');
        return;
      }
      this.retryMs = 0;
      this.retryAt = 0;
      // The buffer may have dropped from its head meanwhile; remove what was sent if still there.
      const sent = this.pending.length >= n && this.pending[0] === batch[0] ? n : 0;
      for (let i = 0; i < sent; i++) this.pendingBytes -= this.pending[i].length;
      this.pending = this.pending.slice(sent);
      this.options.onSent?.('service', n);
    }
  }

  /** Writes what is queued, uploads what waits (one attempt), closes the file. */
  async close(): Promise<void> {
    while (this.queue.length > 0) this.drain();
    this.closed = true;
    if (this.flushTimer) clearInterval(this.flushTimer);
    this.retryAt = 0;
    if (this.uploading) await this.uploading;
    await this.flush();
    if (this.pending.length > 0) this.drop('shutdown', this.pending.length);
    if (this.file) await new Promise<void>((resolve) => this.file!.end(() => resolve()));
  }
}

export function createDecisionLogger(options: DecisionLogOptions): DecisionLogger {
  if (options.mask) validateMask(options.mask);
  return new DecisionLogger(options);
}
