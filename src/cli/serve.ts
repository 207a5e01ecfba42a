/**
 * `sark-authz serve --policy FILE|DIR [--data FILE] [--addr HOST:PORT] [--path PATH]`
 *
 * Compiles the policy, prepares the decision and serves ext_authz until
 * SIGINT/SIGTERM. A policy that does not compile stops here with
 * `file:line:col: code: message` lines on stderr and exit code 1.
 */
import { parseArgs } from 'node:util';
import pino, { type Level } from 'pino';
import { decisionRef, listenAddress, loadData, loadPolicyModules } from '../config/policy-files';
import { createEngine } from '../engine/native-engine';
import type { Diagnostic, PreparedPolicy } from '../engine/types';
import { AuthzError } from '../envoy/errors';
import { createDecisionCache, DEFAULT_CACHE_SIZING } from '../cache/create-cache';
import type { DecisionCache } from '../cache/types';
import { createAuthzServer, DEFAULT_ADDR, type HotPath } from '../server/server';
import { createMetrics } from '../telemetry/metrics';
import { createOpsHttpServer, splitHostPort } from '../telemetry/ops-http';
import { EXIT, UsageError, type Command } from './command';

export const DEFAULT_DECISION_PATH = 'envoy/authz/allow';

const USAGE = `usage: sark-authz serve --policy FILE|DIR [--data FILE] [--addr HOST:PORT] [--path PATH]

Serves Envoy ext_authz (envoy.service.auth.v3 and v2 Authorization/Check),
grpc.health.v1 and server reflection, deciding with the given Rego policy.

  --policy FILE|DIR          a .rego file, or a directory of them (required)
  --data FILE                base document \`data\`: a JSON (or .yaml) object
  --addr HOST:PORT           listen address; unix:/path for a unix socket (default ${DEFAULT_ADDR})
  --path PATH                the decision, e.g. envoy/authz/allow = data.envoy.authz.allow (default ${DEFAULT_DECISION_PATH})
  --v0-compatible            parse the policy as Rego v0
  --skip-request-body-parse  leave parsed_body and truncated_body out of the input
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
  --log-level LEVEL          trace, debug, info, warn, error (default info)
  -h, --help                 this help

Exit codes: 0 stopped by a signal, 1 policy or server failure, 2 bad usage.
`;

const LEVELS: Level[] = ['trace', 'debug', 'info', 'warn', 'error', 'fatal'];

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
        policy: { type: 'string' },
        data: { type: 'string' },
        addr: { type: 'string', default: DEFAULT_ADDR },
        path: { type: 'string', default: DEFAULT_DECISION_PATH },
        'v0-compatible': { type: 'boolean', default: false },
        'skip-request-body-parse': { type: 'boolean', default: false },
        'dry-run': { type: 'boolean', default: false },
        'hot-path': { type: 'string', default: 'native' },
        'no-cache': { type: 'boolean', default: false },
        'cache-size': { type: 'string' },
        'cache-bytes': { type: 'string' },
        'cache-ttl': { type: 'string' },
        'volatile-cache-ttl': { type: 'string' },
        'eval-timeout': { type: 'string' },
        'transport-ceiling': { type: 'boolean', default: false },
        'enable-reflection': { type: 'string', default: 'true' },
        'grpc-max-recv-msg-size': { type: 'string', default: String(4 * 1024 * 1024) },
        'metrics-addr': { type: 'string' },
        'log-level': { type: 'string', default: 'info' },
        help: { type: 'boolean', short: 'h', default: false },
      },
    }).values;
  } catch (err) {
    throw new UsageError((err as Error).message);
  }
}

/** A non-negative integer flag, or undefined when absent. */
function intFlag(values: Record<string, unknown>, name: string): number | undefined {
  const v = values[name];
  if (v === undefined) return undefined;
  const n = Number(v);
  if (!Number.isSafeInteger(n) || n < 0) throw new UsageError(`--${name} must be a non-negative integer, got "${String(v)}"`);
  return n;
}

/** Loads and compiles; throws AuthzError (config) or EngineError (compile, with diagnostics). */
function preparePolicy(values: ReturnType<typeof parse>): PreparedPolicy {
  const modules = loadPolicyModules(values.policy!);
  const data = loadData(values.data);
  return createEngine().prepare(modules, data, decisionRef(values.path!), {
    v0Compatible: values['v0-compatible'],
    skipRequestBodyParse: values['skip-request-body-parse'],
    dryRun: values['dry-run'],
    timeoutMs: intFlag(values, 'eval-timeout'),
    volatileTtlMs: intFlag(values, 'volatile-cache-ttl'),
  });
}

function cacheFrom(values: ReturnType<typeof parse>): DecisionCache | null {
  if (values['no-cache']) return null;
  return createDecisionCache({
    maxEntries: intFlag(values, 'cache-size') ?? DEFAULT_CACHE_SIZING.maxEntries,
    maxBytes: intFlag(values, 'cache-bytes') ?? DEFAULT_CACHE_SIZING.maxBytes,
    ttlMs: intFlag(values, 'cache-ttl') ?? 0,
  });
}

async function run(argv: string[]): Promise<number> {
  const values = parse(argv);
  if (values.help) {
    process.stdout.write(USAGE);
    return EXIT.ok;
  }
  if (!values.policy) throw new UsageError('--policy is required');
  const level = values['log-level']!;
  if (!LEVELS.includes(level as Level)) throw new UsageError(`--log-level must be one of ${LEVELS.join(', ')}`);
  const hotPath = values['hot-path'] as HotPath;
  if (hotPath !== 'native' && hotPath !== 'js') throw new UsageError('--hot-path must be native or js');
  for (const f of ['cache-size', 'cache-bytes', 'cache-ttl', 'volatile-cache-ttl', 'eval-timeout', 'grpc-max-recv-msg-size']) intFlag(values, f);
  const reflection = values['enable-reflection'];
  if (reflection !== 'true' && reflection !== 'false') throw new UsageError('--enable-reflection must be true or false');

  let policy: PreparedPolicy;
  let addr: string;
  try {
    addr = listenAddress(values.addr!);
    policy = preparePolicy(values);
  } catch (err) {
    const diagnostics = (err as { diagnostics?: Diagnostic[] }).diagnostics ?? [];
    const e = AuthzError.from(err);
    process.stderr.write(diagnostics.length > 0 ? `${formatDiagnostics(diagnostics)}\n` : `sark-authz serve: ${e.code}: ${e.message}\n`);
    return EXIT.failure;
  }

  const logger = pino({ name: 'sark-authz', level });
  const metricsAddr = values['metrics-addr'];
  if (metricsAddr !== undefined) splitHostPort(metricsAddr);
  const metrics = metricsAddr !== undefined ? createMetrics() : null;
  const cache = cacheFrom(values);
  metrics?.watchCache(cache);
  metrics?.policyActivated('', 'files');
  const server = createAuthzServer({
    policy,
    addr,
    logger,
    check: { input: { skipRequestBodyParse: values['skip-request-body-parse'] }, response: { dryRun: values['dry-run'] } },
    hotPath,
    cache,
    observer: metrics ?? undefined,
    transportCeiling: values['transport-ceiling'],
    reflection: values['enable-reflection'] === 'true',
    grpcOptions: { 'grpc.max_receive_message_length': intFlag(values, 'grpc-max-recv-msg-size') },
  });
  const ops = metrics
    ? createOpsHttpServer({
        addr: metricsAddr!,
        metrics: async () => ({ contentType: metrics.registry.contentType, body: await metrics.text() }),
        readiness: () => ({ ready: true }),
      })
    : null;
  try {
    if (ops) logger.info({ addr: await ops.listen() }, 'ops http serving');
    await server.listen();
  } catch (err) {
    const e = AuthzError.from(err);
    process.stderr.write(`sark-authz serve: ${e.code}: ${e.message}\n`);
    return EXIT.failure;
  }
  const signal = await new Promise<NodeJS.Signals>((resolve) => {
    process.once('SIGINT', resolve);
    process.once('SIGTERM', resolve);
  });
  logger.info({ signal }, 'shutting down');
  await server.close();
  await ops?.close();
  return EXIT.ok;
}

export const serveCommand: Command = { summary: 'serve Envoy ext_authz decisions from a Rego policy', run };
