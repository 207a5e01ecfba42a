/**
 * `sark-authz serve --policy FILE|DIR | --bundle URL|FILE [--config FILE] [flags]`
 *
 * Resolves the configuration (defaults < --config file < SARK_* env < flags),
 * loads the policy (local files or an OPA bundle), serves ext_authz until
 * SIGINT/SIGTERM, reloads on change and on SIGHUP, and optionally serves
 * metrics and HTTP health, writes decision logs, speaks TLS/mTLS and runs
 * several worker processes. A policy that does not compile at startup
 * stops here with `file:line:col: code: message` lines and exit code 1.
 */
import cluster from 'node:cluster';
import { parseArgs } from 'node:util';
import pino, { type Level, type Logger } from 'pino';
import { AggregatorRegistry } from 'prom-client';
import { normaliseDecisionPath, type DecisionPath } from '../config/decision-path';
import { listenAddress, loadProtoDescriptor } from '../config/policy-files';
import { BY_KEY, ConfigError, flagHelp, flagOptions, mergeLayers, readConfigFile, readEnv, readFlags, toSettings, type Settings } from '../config/config-file';
import { serverCredentials } from '../config/tls';
import { createEngine, engineKind } from '../engine/create-engine';
import { setMaxEvalMemory } from '../engine/native-engine';
import { OpaWasmPolicy } from '../engine/opa-wasm-policy';
import { EngineError, type Diagnostic, type PreparedPolicy } from '../engine/types';
import { AuthzError } from '../errors';
import { createDecisionCache } from '../cache/create-cache';
import type { DecisionCache } from '../cache/types';
import { createAuthzServer, type AuthzServer } from '../server/server';
import { PolicyManager, type PolicyContent } from '../bundle/policy-manager';
import { BundleSource, FileSource, type PolicySource } from '../bundle/sources';
import { validateKeys, type SigningOptions } from '../bundle/signature';
import { createDecisionLogger, validateMask, type DecisionLogger, type MaskRule } from '../telemetry/decision-log';
import { combineObservers, createMetrics, type AuthzMetrics } from '../telemetry/metrics';
import { createOpsHttpServer, splitHostPort, type OpsHttpServer } from '../telemetry/ops-http';
import { runPrimary, WORKER_READY } from './serve-cluster';
import { EXIT, UsageError, type Command } from './command';

/** The help: a fixed head, then one line per flag of the settings schema. */
function usage(): string {
  return `usage: sark-authz serve --policy FILE|DIR [--data FILE] [--addr HOST:PORT] [--path PATH]
       sark-authz serve --bundle URL|FILE.tar.gz [flags]
       sark-authz serve --config FILE [flags]

Serves Envoy ext_authz (envoy.service.auth.v3 and v2 Authorization/Check),
grpc.health.v1 and server reflection, deciding with the given Rego policy.

  --config FILE  YAML configuration (schema: docs/operations.md); SARK_* variables and flags override it
  -h, --help     this help

${flagHelp()}

Every option, its config key and SARK_* variable: docs/operations.md.
Exit codes: 0 stopped by a signal, 1 policy or server failure, 2 bad usage.
`;
}

/** `file:line:col: code: message`, one per compile diagnostic. */
export function formatDiagnostics(diagnostics: Diagnostic[]): string {
  return diagnostics.map((d) => `${d.file}:${d.line}:${d.col}: ${d.code}: ${d.message}`).join('\n');
}

function parse(argv: string[]) {
  try {
    return parseArgs({
      args: argv,
      allowPositionals: false,
      strict: true,
      options: { config: { type: 'string' }, help: { type: 'boolean', short: 'h', default: false }, ...flagOptions() },
    }).values as Record<string, string | boolean | undefined>;
  } catch (err) {
    throw new UsageError((err as Error).message);
  }
}

/** Everything `serve` runs with, resolved and checked once at startup. */
export interface ServeConfig {
  settings: Settings;
  /** `--path`, normalised: the engine's reference and the path as written. */
  decision: DecisionPath;
  /** The listen address as grpc-js takes it (`:9191` → `0.0.0.0:9191`). */
  addr: string;
}

/** Where a key's value may be set, for error messages: `--cache-size` or the key. */
function origin(key: string): string {
  const s = BY_KEY.get(key);
  return s?.flag ? `--${s.flag}` : key;
}

/**
 * The configuration: defaults < `--config` file < `SARK_*` env < flags,
 * validated, with the decision path and address normalised. Throws
 * UsageError naming the bad key.
 */
export function resolveConfig(flags: Record<string, unknown>, env: NodeJS.ProcessEnv): ServeConfig {
  let settings: Settings;
  try {
    const file = (flags.config as string | undefined) ?? env.SARK_CONFIG;
    settings = toSettings(mergeLayers(file ? readConfigFile(file) : new Map(), readEnv(env), readFlags(flags)));
  } catch (err) {
    if (err instanceof ConfigError) throw new UsageError(err.message);
    throw err;
  }
  validate(settings);
  try {
    return { settings, decision: normaliseDecisionPath(settings.path), addr: listenAddress(settings.addr) };
  } catch (err) {
    throw new UsageError(`${(err as Error).message}`);
  }
}

/** Checks the combinations and formats a single value cannot; throws UsageError. */
function validate(s: Settings): void {
  if (!s.policy && !s['bundle.url']) throw new UsageError('--policy is required (or --bundle, or policy/bundle.url in --config)');
  if (s.policy && s['bundle.url']) throw new UsageError('--policy and --bundle cannot be combined: choose local files or one bundle');
  const metricsAddr = s['metrics.addr'];
  if (metricsAddr !== undefined) {
    try {
      splitHostPort(metricsAddr);
    } catch {
      throw new UsageError(`${origin('metrics.addr')} must be HOST:PORT, got "${metricsAddr}"`);
    }
  }
  try {
    if (s['decision_logs.mask'] !== undefined) validateMask(s['decision_logs.mask']);
    if (s['bundle.signing.keys'] !== undefined) validateKeys(s['bundle.signing.keys']);
  } catch (err) {
    throw new UsageError((err as Error).message);
  }
  const min = s['bundle.polling.min_delay_seconds'];
  const max = s['bundle.polling.max_delay_seconds'];
  if (max < min) throw new UsageError(`bundle.polling.max_delay_seconds (${max}) must be at least bundle.polling.min_delay_seconds (${min})`);
  const url = s['decision_logs.service.url'];
  if (url !== undefined && !/^https?:\/\//.test(url)) throw new UsageError(`${origin('decision_logs.service.url')} must be an http(s) URL, got "${url}"`);
}

/**
 * The descriptor set for gRPC bodies (`--proto-descriptor`), read once;
 * the engine checks it when the decision is prepared (`config_invalid`).
 * Throws AuthzError `config_invalid` naming the file.
 */
function loadDescriptor(s: Settings): Uint8Array | undefined {
  const file = s.proto_descriptor;
  return file === undefined ? undefined : loadProtoDescriptor(file);
}

/** The policy compiler of this process: every revision is prepared at the one decision path. */
function compilerFor(cfg: ServeConfig, descriptor: Uint8Array | undefined) {
  const s = cfg.settings;
  setMaxEvalMemory(s.max_eval_memory);
  const engine = createEngine();
  const protoDescriptorBase64 = descriptor ? Buffer.from(descriptor).toString('base64') : undefined;
  const prepare = (content: PolicyContent): PreparedPolicy =>
    content.wasm ? new OpaWasmPolicy(content.wasm, content.data, cfg.decision.ref, { skipRequestBodyParse: s.skip_request_body_parse, protoDescriptorBase64, dryRun: s.dry_run }) : engine.prepare(content.modules, content.data, cfg.decision.ref, {
      v0Compatible: s.v0_compatible || content.v0Compatible === true,
      skipRequestBodyParse: s.skip_request_body_parse,
      protoDescriptorBase64,
      dryRun: s.dry_run,
      timeoutMs: s.eval_timeout,
      volatileTtlMs: s['cache.volatile_ttl'],
      // Decision logs record the input and result each answer came from.
      recordDecision: decisionLogsOn(s),
    });
  return (content: PolicyContent): PreparedPolicy => {
    try {
      return prepare(content);
    } catch (err) {
      // The only setting a prepare can find invalid: the descriptor set. Name its file.
      if (err instanceof EngineError && err.code === 'config_invalid') throw new AuthzError('config_invalid', `proto_descriptor ${s.proto_descriptor}: ${err.message}`, { cause: err });
      throw err;
    }
  };
}

function decisionLogsOn(s: Settings): boolean {
  return Boolean(s['decision_logs.console'] || s['decision_logs.file'] || s['decision_logs.service.url']);
}

function cacheFrom(s: Settings): DecisionCache | null {
  if (!s['cache.enabled']) return null;
  return createDecisionCache({ maxEntries: s['cache.max_entries'], maxBytes: s['cache.max_bytes'], ttlMs: s['cache.ttl'] });
}

function signingFrom(s: Settings): SigningOptions | undefined {
  const keys = s['bundle.signing.keys'];
  if (keys === undefined) return undefined;
  return { keys: validateKeys(keys), keyid: s['bundle.signing.keyid'], scope: s['bundle.signing.scope'], excludeFiles: s['bundle.signing.exclude_files'] as string[] | undefined };
}

function failStartup(err: unknown): number {
  const diagnostics = (err as { diagnostics?: Diagnostic[] }).diagnostics ?? [];
  const e = AuthzError.from(err);
  process.stderr.write(diagnostics.length > 0 ? `${formatDiagnostics(diagnostics)}\n` : `sark-authz serve: ${e.code}: ${e.message}\n`);
  return EXIT.failure;
}

/** Resolves on the first of SIGINT/SIGTERM. */
function stopSignal(): Promise<NodeJS.Signals> {
  return new Promise((resolve) => {
    process.once('SIGINT', resolve);
    process.once('SIGTERM', resolve);
  });
}

/** One serving process: the only one, or a cluster worker. */
async function runInstance(cfg: ServeConfig): Promise<number> {
  const s = cfg.settings;
  const isWorker = cluster.isWorker;
  let credentials;
  let descriptor: Uint8Array | undefined;
  let compile: (c: PolicyContent) => PreparedPolicy;
  try {
    credentials = serverCredentials({ certFile: s['tls.cert_file'], privateKeyFile: s['tls.private_key_file'], caCertFile: s['tls.ca_cert_file'], refreshMs: s['tls.refresh_interval'] });
    descriptor = loadDescriptor(s);
    compile = compilerFor(cfg, descriptor);
  } catch (err) {
    if (err instanceof ConfigError) throw new UsageError(err.message);
    return failStartup(err);
  }
  const base = pino({ name: 'sark-authz', level: s.log_level as Level });
  const logger: Logger = isWorker ? base.child({ worker: cluster.worker!.id }) : base;

  const metricsAddr = s['metrics.addr'];
  const metrics: AuthzMetrics | null = metricsAddr !== undefined || isWorker ? createMetrics() : null;
  if (isWorker && metrics) {
    // Answer the primary's /metrics requests with this registry (constructing one installs prom-client's listener).
    AggregatorRegistry.setRegistries([metrics.registry]);
    new AggregatorRegistry();
  }
  const cache = cacheFrom(s);
  metrics?.watchCache(cache);
  metrics?.engineServing(engineKind());

  let server: AuthzServer | null = null;
  const manager = new PolicyManager({
    compile,
    activate: (a) => server?.setPolicy(a.policy),
    logger,
    onActivated: (a) => metrics?.policyActivated(a.revision, a.source, a.activatedAt.getTime()),
    onFailed: (src, c) => metrics?.policyLoadFailed(src, c),
  });

  let source: PolicySource;
  const bundleUrl = s['bundle.url'];
  if (bundleUrl) {
    source = new BundleSource({
      name: s['bundle.name'],
      url: bundleUrl,
      token: s['bundle.token'],
      minDelayMs: s['bundle.polling.min_delay_seconds'] * 1000,
      maxDelayMs: s['bundle.polling.max_delay_seconds'] * 1000,
      timeoutMs: s['bundle.timeout'],
      sizeLimitBytes: s['bundle.size_limit_bytes'],
      signing: signingFrom(s),
      watch: s.watch,
      manager,
      logger,
    });
  } else {
    const files = new FileSource({ policy: s.policy!, data: s.data, watch: s.watch, manager, logger });
    try {
      const content = files.readInitial();
      manager.adopt(content, compile(content));
    } catch (err) {
      return failStartup(err);
    }
    source = files;
  }

  const readiness = () => {
    const active = manager.active;
    const bundleCurrent = source.current;
    const ready = active !== null && (!s['metrics.ready_requires_bundle'] || bundleCurrent);
    return {
      ready,
      detail: {
        revision: active?.revision ?? null,
        source: active?.source ?? null,
        activated_at: active?.activatedAt.toISOString() ?? null,
        ...(manager.lastFailure ? { last_error: { source: manager.lastFailure.source, code: manager.lastFailure.code, at: manager.lastFailure.at } } : {}),
      },
    };
  };
  const ops: OpsHttpServer | null =
    metrics && metricsAddr !== undefined && !isWorker
      ? createOpsHttpServer({ addr: metricsAddr, metrics: async () => ({ contentType: metrics.registry.contentType, body: await metrics.text() }), readiness })
      : null;

  let decisionLogger: DecisionLogger | null = null;
  const logUrl = s['decision_logs.service.url'];
  if (decisionLogsOn(s)) {
    decisionLogger = createDecisionLogger({
      console: s['decision_logs.console'],
      file: s['decision_logs.file'],
      service: logUrl ? { url: logUrl, resource: s['decision_logs.service.resource'], token: s['decision_logs.service.token'], timeoutMs: s['decision_logs.service.timeout'] } : undefined,
      mask: s['decision_logs.mask'] as MaskRule[] | undefined,
      maxQueued: s['decision_logs.max_queued'],
      uploadSizeLimitBytes: s['decision_logs.upload_size_limit_bytes'],
      bufferSizeLimitBytes: s['decision_logs.buffer_size_limit_bytes'],
      flushIntervalMs: s['decision_logs.flush_interval'],
      labels: s['decision_logs.labels'] as Record<string, string> | undefined,
      skipRequestBodyParse: s.skip_request_body_parse,
      policyInfo: (p) => manager.policyInfo(p),
      onDropped: (r, n) => metrics?.decisionLogsDropped(r, n),
      onSent: (sink, n) => metrics?.decisionLogsSent(sink, n),
      logger,
    });
  }

  const stopping = stopSignal();
  try {
    if (ops) logger.info({ addr: await ops.listen() }, 'ops http serving');
  } catch (err) {
    return failStartup(err);
  }
  const started = await source.start();
  if (!manager.active) {
    if (!/^https?:\/\//i.test(bundleUrl ?? '')) {
      source.stop();
      await ops?.close();
      process.stderr.write(`sark-authz serve: ${manager.lastFailure?.code ?? 'policy_load_failed'}: ${manager.lastFailure?.message ?? 'no policy'}\n`);
      return EXIT.failure;
    }
    if (!started) logger.warn({ bundle: bundleUrl }, 'waiting for the first bundle; not ready until it loads');
    const first = await Promise.race([(source as BundleSource).waitForFirst(), stopping.then(() => false)]);
    if (!first) {
      source.stop();
      await ops?.close();
      await decisionLogger?.close();
      return EXIT.ok;
    }
  }

  server = createAuthzServer({
    policy: manager.active!.policy,
    addr: cfg.addr,
    logger,
    check: { input: { skipRequestBodyParse: s.skip_request_body_parse, protoDescriptor: descriptor } },
    cache,
    observer: combineObservers([metrics, decisionLogger]),
    transportCeiling: s.transport_ceiling,
    reflection: s.enable_reflection,
    grpcOptions: { 'grpc.max_receive_message_length': s.grpc_max_recv_msg_size },
    handshakeTimeoutMs: s.handshake_timeout,
    idleTimeoutMs: s.idle_timeout,
    credentials: credentials ?? undefined,
    offload: { inlineSteps: s.inline_eval_steps, maxOffloaded: s.max_offloaded_checks },
  });
  try {
    await server.listen();
  } catch (err) {
    source.stop();
    await ops?.close();
    return failStartup(err);
  }
  if (isWorker) process.send?.({ type: WORKER_READY, revision: manager.active?.revision });
  const onHup = () => {
    logger.info('SIGHUP: reloading the policy');
    void source.reload();
  };
  process.on('SIGHUP', onHup);

  const signal = await stopping;
  logger.info({ signal }, 'shutting down');
  process.off('SIGHUP', onHup);
  source.stop();
  await server.close(s.shutdown_grace);
  await decisionLogger?.close();
  await ops?.close();
  return EXIT.ok;
}

async function run(argv: string[]): Promise<number> {
  const flags = parse(argv);
  if (flags.help) {
    process.stdout.write(usage());
    return EXIT.ok;
  }
  const cfg = resolveConfig(flags, process.env);
  const s = cfg.settings;
  if (cluster.isPrimary && s.workers !== 1) {
    // Fail fast on a policy that does not compile, before forking.
    if (s.policy) {
      try {
        const files = new FileSource({ policy: s.policy, data: s.data, watch: false, manager: null!, logger: pino({ level: 'silent' }) });
        compilerFor(cfg, loadDescriptor(s))(files.readInitial());
      } catch (err) {
        return failStartup(err);
      }
    }
    return runPrimary({ workers: s.workers, metricsAddr: s['metrics.addr'], logLevel: s.log_level as Level, graceMs: s.shutdown_grace });
  }
  return runInstance(cfg);
}

export const serveCommand: Command = { summary: 'serve Envoy ext_authz decisions from a Rego policy', run };
