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
import { decisionRef, listenAddress, loadProtoDescriptor } from '../config/policy-files';
import { BY_KEY, ConfigError, mergeLayers, readConfigFile, readEnv, readFlags, SETTINGS, type ConfigValues } from '../config/config-file';
import { serverCredentials } from '../config/tls';
import { createEngine } from '../engine/create-engine';
import { OpaWasmPolicy } from '../engine/opa-wasm-policy';
import type { Diagnostic, PreparedPolicy } from '../engine/types';
import { descriptorRegistry } from '../envoy/body';
import { AuthzError } from '../envoy/errors';
import { createDecisionCache } from '../cache/create-cache';
import type { DecisionCache } from '../cache/types';
import { createAuthzServer, DEFAULT_ADDR, type AuthzServer, type HotPath } from '../server/server';
import { PolicyManager, type PolicyContent } from '../bundle/policy-manager';
import { BundleSource, FileSource, type PolicySource } from '../bundle/sources';
import { validateKeys, type SigningOptions } from '../bundle/signature';
import { createDecisionLogger, validateMask, type DecisionLogger, type MaskRule } from '../telemetry/decision-log';
import { combineObservers, createMetrics, type AuthzMetrics } from '../telemetry/metrics';
import { createOpsHttpServer, splitHostPort, type OpsHttpServer } from '../telemetry/ops-http';
import { runPrimary, WORKER_READY } from './serve-cluster';
import { EXIT, UsageError, type Command } from './command';

export const DEFAULT_DECISION_PATH = 'envoy/authz/allow';

const USAGE = `usage: sark-authz serve --policy FILE|DIR [--data FILE] [--addr HOST:PORT] [--path PATH]
       sark-authz serve --bundle URL|FILE.tar.gz [flags]
       sark-authz serve --config FILE [flags]

Serves Envoy ext_authz (envoy.service.auth.v3 and v2 Authorization/Check),
grpc.health.v1 and server reflection, deciding with the given Rego policy.

  --config FILE              YAML configuration (schema: docs/operations.md); flags and SARK_* variables override it
  --policy FILE|DIR          a .rego file, or a directory of them (reloaded on change and on SIGHUP)
  --data FILE                base document \`data\`: a JSON (or .yaml) object
  --bundle URL|FILE          an OPA bundle (.tar.gz): http(s) URL polled with ETag, or a local file
  --bundle-token TOKEN       bearer token for the bundle server
  --addr HOST:PORT           listen address; unix:/path for a unix socket (default ${DEFAULT_ADDR})
  --path PATH                the decision, e.g. envoy/authz/allow = data.envoy.authz.allow (default ${DEFAULT_DECISION_PATH})
  --v0-compatible            parse the policy as Rego v0
  --skip-request-body-parse  leave parsed_body and truncated_body out of the input
  --proto-descriptor FILE    descriptor set (protoc --include_imports --descriptor_set_out) to parse application/grpc bodies
  --dry-run                  evaluate and log, but always allow
  --hot-path native|js       native: the whole Check in Rust (default); js: the TypeScript reference path
  --no-cache                 evaluate every request (no decision cache)
  --cache-size N             most cached decisions (default 100000)
  --cache-bytes N            most bytes of cached keys and responses (default 67108864)
  --cache-ttl MS             time to live of a cached decision in ms (default 0: until evicted or the policy changes)
  --volatile-cache-ttl MS    cache decisions that reached a non-deterministic builtin for MS ms (default: never cache them)
  --eval-timeout MS          wall-clock budget of one evaluation (default 0: Envoy's grpc-timeout only)
  --transport-ceiling        benchmark mode: answer OK without reading requests
  --enable-reflection BOOL   serve gRPC server reflection (default true)
  --grpc-max-recv-msg-size N largest CheckRequest accepted, bytes (default 4194304, as opa-envoy-plugin)
  --metrics-addr HOST:PORT   serve /metrics, /health and /health/ready over HTTP here (default: off)
  --decision-log-console     write decision-log events as JSON lines on stdout
  --decision-log-file FILE   append decision-log events as JSON lines to FILE
  --decision-log-url URL     upload decision-log events, gzipped, to an OPA collector (URL/logs)
  --tls-cert-file FILE       serve gRPC over TLS with this certificate (PEM) ...
  --tls-private-key-file F   ... and this key; both re-read when they change
  --tls-ca-cert-file FILE    require client certificates signed by this CA (mTLS)
  --workers N                worker processes on the one address (default 1; 0 = one per CPU)
  --watch BOOL               reload local policy files when they change (default true)
  --shutdown-grace MS        on SIGTERM, how long running Checks may finish (default 5000)
  --log-level LEVEL          trace, debug, info, warn, error (default info)
  -h, --help                 this help

Every option, its config key and SARK_* variable: docs/operations.md.
Exit codes: 0 stopped by a signal, 1 policy or server failure, 2 bad usage.
`;

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
      options: {
        config: { type: 'string' },
        policy: { type: 'string' },
        data: { type: 'string' },
        bundle: { type: 'string' },
        'bundle-token': { type: 'string' },
        addr: { type: 'string' },
        path: { type: 'string' },
        'v0-compatible': { type: 'boolean' },
        'skip-request-body-parse': { type: 'boolean' },
        'proto-descriptor': { type: 'string' },
        'dry-run': { type: 'boolean' },
        'hot-path': { type: 'string' },
        'no-cache': { type: 'boolean' },
        'cache-size': { type: 'string' },
        'cache-bytes': { type: 'string' },
        'cache-ttl': { type: 'string' },
        'volatile-cache-ttl': { type: 'string' },
        'eval-timeout': { type: 'string' },
        'transport-ceiling': { type: 'boolean', default: false },
        'enable-reflection': { type: 'string' },
        'grpc-max-recv-msg-size': { type: 'string' },
        'metrics-addr': { type: 'string' },
        'decision-log-console': { type: 'boolean' },
        'decision-log-file': { type: 'string' },
        'decision-log-url': { type: 'string' },
        'tls-cert-file': { type: 'string' },
        'tls-private-key-file': { type: 'string' },
        'tls-ca-cert-file': { type: 'string' },
        workers: { type: 'string' },
        watch: { type: 'string' },
        'shutdown-grace': { type: 'string' },
        'log-level': { type: 'string' },
        help: { type: 'boolean', short: 'h', default: false },
      },
    }).values;
  } catch (err) {
    throw new UsageError((err as Error).message);
  }
}

type Flags = ReturnType<typeof parse>;

/** The configuration, resolved and validated. Throws UsageError naming the bad key. */
export function resolveConfig(flags: Flags, env: NodeJS.ProcessEnv): ConfigValues {
  try {
    const file = flags.config ?? env.SARK_CONFIG;
    const layers = [file ? readConfigFile(file) : new Map(), readEnv(env), readFlags(flags)];
    if (flags['no-cache']) layers.push(new Map([['cache.enabled', false]]));
    return mergeLayers(...layers);
  } catch (err) {
    if (err instanceof ConfigError) throw new UsageError(err.message);
    throw err;
  }
}

/** Typed access to resolved values. */
function getter(cfg: ConfigValues) {
  return {
    str: (k: string) => cfg.get(k) as string | undefined,
    int: (k: string) => cfg.get(k) as number | undefined,
    bool: (k: string) => cfg.get(k) === true,
    any: (k: string) => cfg.get(k),
  };
}

/** Where a key's value may be set, for error messages: `--cache-size` or the key. */
function origin(key: string): string {
  const s = BY_KEY.get(key);
  return s?.flag ? `--${s.flag}` : key;
}

/** Checks the combinations and formats a single value cannot; throws UsageError. */
function validate(cfg: ConfigValues): void {
  const g = getter(cfg);
  if (!g.str('policy') && !g.str('bundle.url')) throw new UsageError('--policy is required (or --bundle, or policy/bundle.url in --config)');
  if (g.str('policy') && g.str('bundle.url')) throw new UsageError('--policy and --bundle cannot be combined: choose local files or one bundle');
  const metricsAddr = g.str('metrics.addr');
  if (metricsAddr !== undefined) {
    try {
      splitHostPort(metricsAddr);
    } catch {
      throw new UsageError(`${origin('metrics.addr')} must be HOST:PORT, got "${metricsAddr}"`);
    }
  }
  try {
    if (g.any('decision_logs.mask') !== undefined) validateMask(g.any('decision_logs.mask'));
    if (g.any('bundle.signing.keys') !== undefined) validateKeys(g.any('bundle.signing.keys'));
  } catch (err) {
    throw new UsageError((err as Error).message);
  }
  const min = g.int('bundle.polling.min_delay_seconds')!;
  const max = g.int('bundle.polling.max_delay_seconds')!;
  if (max < min) throw new UsageError(`bundle.polling.max_delay_seconds (${max}) must be at least bundle.polling.min_delay_seconds (${min})`);
  const url = g.str('decision_logs.service.url');
  if (url !== undefined && !/^https?:\/\//.test(url)) throw new UsageError(`${origin('decision_logs.service.url')} must be an http(s) URL, got "${url}"`);
}

/**
 * The descriptor set for gRPC bodies (`--proto-descriptor`), read and
 * checked once at startup. Throws AuthzError `config_invalid` naming the file.
 */
function protoDescriptorFrom(cfg: ConfigValues): Uint8Array | undefined {
  const file = getter(cfg).str('proto_descriptor');
  if (file === undefined) return undefined;
  const bytes = loadProtoDescriptor(file);
  descriptorRegistry(bytes);
  return bytes;
}

function compileWith(cfg: ConfigValues) {
  const g = getter(cfg);
  const engine = createEngine();
  const descriptor = protoDescriptorFrom(cfg);
  const protoDescriptorBase64 = descriptor ? Buffer.from(descriptor).toString('base64') : undefined;
  return (content: PolicyContent): PreparedPolicy =>
    content.wasm ? new OpaWasmPolicy(content.wasm, content.data, decisionRef(g.str('path')!)) : engine.prepare(content.modules, content.data, decisionRef(g.str('path')!), {
      v0Compatible: g.bool('v0_compatible') || content.v0Compatible === true,
      skipRequestBodyParse: g.bool('skip_request_body_parse'),
      protoDescriptorBase64,
      dryRun: g.bool('dry_run'),
      timeoutMs: g.int('eval_timeout'),
      volatileTtlMs: g.int('cache.volatile_ttl'),
    });
}

function cacheFrom(cfg: ConfigValues): DecisionCache | null {
  const g = getter(cfg);
  if (!g.bool('cache.enabled')) return null;
  return createDecisionCache({ maxEntries: g.int('cache.max_entries'), maxBytes: g.int('cache.max_bytes'), ttlMs: g.int('cache.ttl') });
}

function signingFrom(cfg: ConfigValues): SigningOptions | undefined {
  const g = getter(cfg);
  const keys = g.any('bundle.signing.keys');
  if (keys === undefined) return undefined;
  return { keys: validateKeys(keys), keyid: g.str('bundle.signing.keyid'), scope: g.str('bundle.signing.scope'), excludeFiles: g.any('bundle.signing.exclude_files') as string[] | undefined };
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
async function runInstance(cfg: ConfigValues, transportCeiling: boolean): Promise<number> {
  const g = getter(cfg);
  const isWorker = cluster.isWorker;
  let addr: string;
  let credentials;
  try {
    addr = listenAddress(g.str('addr')!);
    decisionRef(g.str('path')!);
    credentials = serverCredentials({ certFile: g.str('tls.cert_file'), privateKeyFile: g.str('tls.private_key_file'), caCertFile: g.str('tls.ca_cert_file'), refreshMs: g.int('tls.refresh_interval') });
  } catch (err) {
    if (err instanceof ConfigError) throw new UsageError(err.message);
    return failStartup(err);
  }
  const base = pino({ name: 'sark-authz', level: g.str('log_level') as Level });
  const logger: Logger = isWorker ? base.child({ worker: cluster.worker!.id }) : base;

  const metricsAddr = g.str('metrics.addr');
  const metrics: AuthzMetrics | null = metricsAddr !== undefined || isWorker ? createMetrics() : null;
  if (isWorker && metrics) {
    // Answer the primary's /metrics requests with this registry (constructing one installs prom-client's listener).
    AggregatorRegistry.setRegistries([metrics.registry]);
    new AggregatorRegistry();
  }
  const cache = cacheFrom(cfg);
  metrics?.watchCache(cache);

  let server: AuthzServer | null = null;
  let compile: (c: PolicyContent) => PreparedPolicy;
  try {
    compile = compileWith(cfg);
  } catch (err) {
    return failStartup(err);
  }
  const manager = new PolicyManager({
    compile,
    activate: (a) => server?.setPolicy(a.policy),
    logger,
    onActivated: (a) => metrics?.policyActivated(a.revision, a.source, a.activatedAt.getTime()),
    onFailed: (s, c) => metrics?.policyLoadFailed(s, c),
  });

  let source: PolicySource;
  const bundleUrl = g.str('bundle.url');
  if (bundleUrl) {
    source = new BundleSource({
      name: g.str('bundle.name')!,
      url: bundleUrl,
      token: g.str('bundle.token'),
      minDelayMs: g.int('bundle.polling.min_delay_seconds')! * 1000,
      maxDelayMs: g.int('bundle.polling.max_delay_seconds')! * 1000,
      timeoutMs: g.int('bundle.timeout')!,
      signing: signingFrom(cfg),
      watch: g.bool('watch'),
      manager,
      logger,
    });
  } else {
    const files = new FileSource({ policy: g.str('policy')!, data: g.str('data'), watch: g.bool('watch'), manager, logger });
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
    const ready = active !== null && (!g.bool('metrics.ready_requires_bundle') || bundleCurrent);
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
  if (g.bool('decision_logs.console') || g.str('decision_logs.file') || g.str('decision_logs.service.url')) {
    const url = g.str('decision_logs.service.url');
    decisionLogger = createDecisionLogger({
      console: g.bool('decision_logs.console'),
      file: g.str('decision_logs.file'),
      service: url ? { url, resource: g.str('decision_logs.service.resource'), token: g.str('decision_logs.service.token'), timeoutMs: g.int('decision_logs.service.timeout') } : undefined,
      mask: g.any('decision_logs.mask') as MaskRule[] | undefined,
      maxQueued: g.int('decision_logs.max_queued'),
      uploadSizeLimitBytes: g.int('decision_logs.upload_size_limit_bytes'),
      bufferSizeLimitBytes: g.int('decision_logs.buffer_size_limit_bytes'),
      flushIntervalMs: g.int('decision_logs.flush_interval'),
      labels: g.any('decision_logs.labels') as Record<string, string> | undefined,
      skipRequestBodyParse: g.bool('skip_request_body_parse'),
      policyInfo: (p) => manager.policyInfo(p),
      onDropped: (r, n) => metrics?.decisionLogsDropped(r, n),
      onSent: (s, n) => metrics?.decisionLogsSent(s, n),
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
    addr,
    logger,
    check: { input: { skipRequestBodyParse: g.bool('skip_request_body_parse'), protoDescriptor: protoDescriptorFrom(cfg) }, response: { dryRun: g.bool('dry_run') } },
    hotPath: g.str('hot_path') as HotPath,
    cache,
    observer: combineObservers([metrics, decisionLogger]),
    transportCeiling,
    reflection: g.bool('enable_reflection'),
    grpcOptions: { 'grpc.max_receive_message_length': g.int('grpc_max_recv_msg_size') },
    credentials: credentials ?? undefined,
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
  await server.close(g.int('shutdown_grace'));
  await decisionLogger?.close();
  await ops?.close();
  return EXIT.ok;
}

async function run(argv: string[]): Promise<number> {
  const flags = parse(argv);
  if (flags.help) {
    process.stdout.write(USAGE);
    return EXIT.ok;
  }
  const cfg = resolveConfig(flags, process.env);
  validate(cfg);
  const g = getter(cfg);
  const workers = g.int('workers')!;
  if (cluster.isPrimary && workers !== 1) {
    // Fail fast on a policy that does not compile, before forking.
    if (g.str('policy')) {
      try {
        const files = new FileSource({ policy: g.str('policy')!, data: g.str('data'), watch: false, manager: null!, logger: pino({ level: 'silent' }) });
        compileWith(cfg)(files.readInitial());
        listenAddress(g.str('addr')!);
      } catch (err) {
        return failStartup(err);
      }
    }
    return runPrimary({ workers, metricsAddr: g.str('metrics.addr'), logLevel: g.str('log_level') as Level, graceMs: g.int('shutdown_grace')! });
  }
  return runInstance(cfg, flags['transport-ceiling'] === true);
}

/** Every setting as `key | flag | env | default | unit | meaning` rows (docs). */
export function settingsTable(): string {
  return SETTINGS.map((s) => `| \`${s.key}\` | ${s.flag ? `\`--${s.flag}\`` : ''} | \`SARK_${s.key.toUpperCase().replace(/\./g, '_')}\` | ${s.default === undefined ? '(unset)' : `\`${String(s.default)}\``} | ${s.unit ?? ''} | ${s.doc} |`).join('\n');
}

export const serveCommand: Command = { summary: 'serve Envoy ext_authz decisions from a Rego policy', run };
