/**
 * Prometheus metrics (prom-client). A CheckObserver: the server tells it
 * about every Check after answering, so nothing here runs before the
 * response is sent. Cache figures are read from DecisionCache.stats() at
 * scrape time; policy activations and failures are reported by the policy
 * sources (files, bundles); decision-log counters by the decision logger.
 *
 * Series (all prefixed `sark_authz_`):
 *   requests_total{result, grpc_code}           Checks answered; result allow|deny|bad_request|error
 *   errors_total{code}                           Checks answered with a gRPC error, by error code
 *   bad_requests_total{reason}                   Checks denied 400 for an unreadable path/body
 *   evaluation_limits_exceeded_total{limit}      evaluations stopped by a budget: limit steps_depth_memory|deadline
 *   check_duration_seconds{result}               handler latency histogram (decode + evaluate + encode)
 *   evaluation_duration_seconds                  policy evaluation latency histogram (Checks that evaluated)
 *   cache_hits_total, cache_misses_total, cache_evictions_total, cache_expirations_total, cache_entries
 *   engine_info{engine}                          1 for the engine serving Checks: native (the addon) or wasm (no addon)
 *   policy_info{revision, source}                1 for the active policy
 *   policy_revision_info{revision}               same, one label (OPA-style)
 *   policy_last_activation_timestamp_seconds     when the active policy was swapped in
 *   policy_activations_total{source}             successful activations
 *   policy_load_failures_total{source, code}     downloads/verifications/compilations that failed
 *   decision_logs_dropped_total{reason}          decision-log events dropped (buffer full, upload failed)
 *   decision_logs_sent_total{sink}               events written/uploaded
 */
import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';

/** Error codes of an evaluation stopped by one of its budgets, by the budget's label. */
const LIMIT_CODES: Record<string, string> = { eval_limit_error: 'steps_depth_memory', eval_timeout: 'deadline' };
import type { DecisionCache } from '../cache/types';
import type { CheckEvent, CheckObserver } from '../server/server';

export interface MetricsOptions {
  /** Registry to register in. Default: a new one. */
  registry?: Registry;
  /** Also export Node process metrics (`sark_authz_process_*`, `sark_authz_nodejs_*`). Default true. */
  processMetrics?: boolean;
  /** Latency histogram buckets in seconds. Default 50µs … 1s. */
  buckets?: number[];
}

export const DEFAULT_LATENCY_BUCKETS = [0.00005, 0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1];

const P = 'sark_authz_';

export class AuthzMetrics implements CheckObserver {
  readonly registry: Registry;
  private readonly requests: Counter<'result' | 'grpc_code'>;
  private readonly errors: Counter<'code'>;
  private readonly badRequests: Counter<'reason'>;
  private readonly limitsExceeded: Counter<'limit'>;
  private readonly duration: Histogram<'result'>;
  private readonly evaluation: Histogram;
  private readonly engineInfo: Gauge<'engine'>;
  private readonly policyInfo: Gauge<'revision' | 'source'>;
  private readonly revisionInfo: Gauge<'revision'>;
  private readonly lastActivation: Gauge;
  private readonly activations: Counter<'source'>;
  private readonly loadFailures: Counter<'source' | 'code'>;
  private readonly logDropped: Counter<'reason'>;
  private readonly logSent: Counter<'sink'>;
  private cache: DecisionCache | null = null;

  constructor(options: MetricsOptions = {}) {
    const registers = [(this.registry = options.registry ?? new Registry())];
    this.requests = new Counter({ name: `${P}requests_total`, help: 'Checks answered, by result and gRPC status code', labelNames: ['result', 'grpc_code'], registers });
    this.errors = new Counter({ name: `${P}errors_total`, help: 'Checks answered with a gRPC error, by error code', labelNames: ['code'], registers });
    this.limitsExceeded = new Counter({
      name: `${P}evaluation_limits_exceeded_total`,
      help: 'Evaluations stopped by a budget (each also an error): steps_depth_memory (eval_limit_error) or deadline (eval_timeout)',
      labelNames: ['limit'],
      registers,
    });
    this.badRequests = new Counter({ name: `${P}bad_requests_total`, help: 'Checks denied with 400 for an unreadable path or body, by reason', labelNames: ['reason'], registers });
    this.duration = new Histogram({
      name: `${P}check_duration_seconds`,
      help: 'Check handler latency (decode, evaluate, encode), seconds',
      labelNames: ['result'],
      buckets: options.buckets ?? DEFAULT_LATENCY_BUCKETS,
      registers,
    });
    this.evaluation = new Histogram({
      name: `${P}evaluation_duration_seconds`,
      help: 'Policy evaluation latency (native path: with response encoding), seconds; cache hits do not evaluate',
      buckets: options.buckets ?? DEFAULT_LATENCY_BUCKETS,
      registers,
    });
    const stat = (name: string, help: string, key: 'hits' | 'misses' | 'evictions' | 'expirations') => {
      const self = this;
      new Counter({
        name: `${P}${name}`,
        help,
        registers,
        collect() {
          const s = self.cache?.stats();
          this.reset();
          if (s) this.inc(s[key]);
        },
      });
    };
    stat('cache_hits_total', 'Decision cache hits', 'hits');
    stat('cache_misses_total', 'Decision cache misses', 'misses');
    stat('cache_evictions_total', 'Decision cache entries evicted for room', 'evictions');
    stat('cache_expirations_total', 'Decision cache entries expired (TTL)', 'expirations');
    const self = this;
    new Gauge({
      name: `${P}cache_entries`,
      help: 'Decision cache entries held',
      registers,
      collect() {
        this.set(self.cache ? self.cache.stats().entries : 0);
      },
    });
    this.engineInfo = new Gauge({ name: `${P}engine_info`, help: 'The engine serving Checks: 1, labelled native (the addon) or wasm (the same engine in WebAssembly)', labelNames: ['engine'], registers });
    this.policyInfo = new Gauge({ name: `${P}policy_info`, help: 'The active policy: 1, labelled with its revision and source', labelNames: ['revision', 'source'], registers });
    this.revisionInfo = new Gauge({ name: `${P}policy_revision_info`, help: 'The active policy revision (1)', labelNames: ['revision'], registers });
    this.lastActivation = new Gauge({ name: `${P}policy_last_activation_timestamp_seconds`, help: 'When the active policy was swapped in, seconds since the epoch', registers });
    this.activations = new Counter({ name: `${P}policy_activations_total`, help: 'Policies activated, by source', labelNames: ['source'], registers });
    this.loadFailures = new Counter({
      name: `${P}policy_load_failures_total`,
      help: 'Policy loads that failed (download, verification, parse, compile), by source and code; the running policy stays',
      labelNames: ['source', 'code'],
      registers,
    });
    this.logDropped = new Counter({ name: `${P}decision_logs_dropped_total`, help: 'Decision-log events dropped, by reason', labelNames: ['reason'], registers });
    this.logSent = new Counter({ name: `${P}decision_logs_sent_total`, help: 'Decision-log events written or uploaded, by sink', labelNames: ['sink'], registers });
    if (options.processMetrics ?? true) collectDefaultMetrics({ register: this.registry, prefix: P });
  }

  /** The cache whose stats are exported (read at scrape time). */
  watchCache(cache: DecisionCache | null): void {
    this.cache = cache;
  }

  /** Label children bound once per label combination: per-request label hashing is the costly part of prom-client. */
  private readonly bound = new Map<string, { requests: { inc(): void }; duration: { observe(v: number): void } }>();

  onCheck(event: CheckEvent): void {
    const key = `${event.outcome}|${event.grpcStatus}`;
    let b = this.bound.get(key);
    if (!b) {
      b = { requests: this.requests.labels(event.outcome, String(event.grpcStatus)), duration: this.duration.labels(event.outcome) };
      this.bound.set(key, b);
    }
    b.requests.inc();
    b.duration.observe(event.seconds);
    if (event.evalSeconds !== undefined) this.evaluation.observe(event.evalSeconds);
    if (event.outcome === 'error') {
      this.errors.inc({ code: event.code ?? 'internal' });
      const limit = LIMIT_CODES[event.code ?? ''];
      if (limit) this.limitsExceeded.inc({ limit });
    }
    else if (event.outcome === 'bad_request') this.badRequests.inc({ reason: event.code ?? 'request_invalid' });
  }

  /** The engine serving Checks (set once, at start). */
  engineServing(engine: string): void {
    this.engineInfo.reset();
    this.engineInfo.set({ engine }, 1);
  }

  /** A policy was swapped in. */
  policyActivated(revision: string, source: string, at = Date.now()): void {
    this.policyInfo.reset();
    this.policyInfo.set({ revision, source }, 1);
    this.revisionInfo.reset();
    this.revisionInfo.set({ revision }, 1);
    this.lastActivation.set(at / 1000);
    this.activations.inc({ source });
  }

  /** A policy failed to load; the running one stays. */
  policyLoadFailed(source: string, code: string): void {
    this.loadFailures.inc({ source, code });
  }

  decisionLogsDropped(reason: string, n = 1): void {
    if (n > 0) this.logDropped.inc({ reason }, n);
  }

  decisionLogsSent(sink: string, n = 1): void {
    if (n > 0) this.logSent.inc({ sink }, n);
  }

  /** Prometheus text exposition. */
  text(): Promise<string> {
    return this.registry.metrics();
  }
}

export function createMetrics(options: MetricsOptions = {}): AuthzMetrics {
  return new AuthzMetrics(options);
}

/** Several observers as one; each is isolated from the others' exceptions. */
export function combineObservers(observers: Array<CheckObserver | null | undefined>): CheckObserver | undefined {
  const list = observers.filter((o): o is CheckObserver => !!o);
  if (list.length === 0) return undefined;
  if (list.length === 1) return list[0];
  return {
    onCheck(event) {
      for (const o of list) {
        try {
          o.onCheck(event);
        } catch {
          // an observer must not throw; one that does must not starve the others
        }
      }
    },
  };
}
