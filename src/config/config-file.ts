/**
 * `serve`'s configuration: one schema, four layers. Defaults, then a YAML
 * (or JSON) file (`--config FILE`), then `SARK_*` environment variables,
 * then command-line flags — each later layer overriding. Every value is
 * validated at startup; an error names where the bad value came from:
 * `--cache-size`, `SARK_CACHE_MAX_ENTRIES` or `config.yaml: cache.max_entries`
 * ("--cache-size must be a non-negative integer, got \"x\"").
 *
 * Environment variable names are the key path upper-cased with `.` → `_`
 * (`metrics.addr` → `SARK_METRICS_ADDR`). List and map values (mask rules,
 * signing keys, labels) come from the file only, or as JSON in the variable.
 */
import * as fs from 'node:fs';
import YAML from 'yaml';

type Kind = 'string' | 'int' | 'bool' | 'enum' | 'list' | 'map';

export interface Setting {
  /** Dotted key in the file. */
  readonly key: string;
  readonly kind: Kind;
  /** The default (undefined = unset). */
  readonly default?: unknown;
  /** Allowed values for `enum`. */
  readonly values?: readonly string[];
  /** Command-line flag (without `--`) setting it, if any. */
  readonly flag?: string;
  /**
   * The flag's value in the help (`HOST:PORT`). A `bool` flag without one is
   * a switch: present = true (or false with `invert`, as `--no-cache`).
   */
  readonly arg?: string;
  readonly invert?: boolean;
  /** The flag's line in the help, when it reads differently from `doc` (`--no-cache`). */
  readonly flagDoc?: string;
  /** Unit, for the docs and the help. */
  readonly unit?: string;
  readonly doc: string;
}

/**
 * The schema: the file keys, `SARK_*` variables, flags, `serve --help` and
 * the table in docs/operations.md all come from it.
 */
export const SETTINGS = [
  { key: 'addr', kind: 'string', default: '127.0.0.1:9191', flag: 'addr', arg: 'HOST:PORT', doc: 'gRPC listen address; `:9191` for every interface; `unix:/path`' },
  { key: 'policy', kind: 'string', flag: 'policy', arg: 'FILE|DIR', doc: 'a .rego file or a directory of .rego files (watched for changes)' },
  { key: 'data', kind: 'string', flag: 'data', arg: 'FILE', doc: 'a JSON or YAML file loaded as the base document `data` (watched)' },
  { key: 'path', kind: 'string', default: 'envoy/authz/allow', flag: 'path', arg: 'PATH', doc: 'the decision: one key per `/` segment, as opa-envoy-plugin (`test/com.foo/allow` = `data.test["com.foo"].allow`), or a `data.` reference' },
  { key: 'v0_compatible', kind: 'bool', default: false, flag: 'v0-compatible', doc: 'parse policies as Rego v0' },
  { key: 'skip_request_body_parse', kind: 'bool', default: false, flag: 'skip-request-body-parse', doc: 'leave parsed_body/truncated_body out of the input' },
  { key: 'proto_descriptor', kind: 'string', flag: 'proto-descriptor', arg: 'FILE', doc: 'a protobuf descriptor set (`protoc --include_imports --descriptor_set_out`) to parse `application/grpc` bodies' },
  { key: 'dry_run', kind: 'bool', default: false, flag: 'dry-run', doc: 'evaluate and log, but always allow' },
  { key: 'transport_ceiling', kind: 'bool', default: false, flag: 'transport-ceiling', doc: 'benchmark mode: answer OK without reading requests' },
  { key: 'enable_reflection', kind: 'bool', default: true, flag: 'enable-reflection', arg: 'BOOL', doc: 'serve gRPC server reflection' },
  { key: 'grpc_max_recv_msg_size', kind: 'int', default: 4 * 1024 * 1024, flag: 'grpc-max-recv-msg-size', arg: 'N', unit: 'bytes', doc: 'largest CheckRequest accepted (as opa-envoy-plugin)' },
  { key: 'handshake_timeout', kind: 'int', default: 5000, flag: 'handshake-timeout', arg: 'MS', unit: 'ms', doc: 'close a connection that has not completed its TLS and HTTP/2 handshake in this time; 0 = never' },
  { key: 'idle_timeout', kind: 'int', default: 300000, flag: 'idle-timeout', arg: 'MS', unit: 'ms', doc: 'close (GOAWAY) a connection with no call for this long; 0 = never' },
  { key: 'eval_timeout', kind: 'int', default: 0, flag: 'eval-timeout', arg: 'MS', unit: 'ms', doc: 'wall-clock budget of one evaluation; 0 = Envoy\'s grpc-timeout only' },
  { key: 'max_eval_memory', kind: 'int', default: 64 * 1024 * 1024, flag: 'max-eval-memory', arg: 'N', unit: 'bytes', doc: 'bytes of new values the builtins of one evaluation may create (beyond: `eval_limit_error`); 0 = unlimited' },
  { key: 'inline_eval_steps', kind: 'int', default: 5000, flag: 'inline-eval-steps', arg: 'N', doc: 'evaluation steps (and builtin work units) a Check may spend on the event loop; one needing more is finished on a native thread (the wasm engine: a worker thread), so it holds up no other Check; 0 = all inline' },
  { key: 'max_offloaded_checks', kind: 'int', default: 4, flag: 'max-offloaded-checks', arg: 'N', doc: 'most Checks evaluated at once off the event loop (native threads, or worker threads for the wasm engine; one each); beyond, RESOURCE_EXHAUSTED; 0 = all inline' },
  { key: 'log_level', kind: 'enum', values: ['trace', 'debug', 'info', 'warn', 'error', 'fatal'], default: 'info', flag: 'log-level', arg: 'LEVEL', doc: 'log level' },
  { key: 'watch', kind: 'bool', default: true, flag: 'watch', arg: 'BOOL', doc: 'reload local policy/data files when they change (also on SIGHUP)' },
  { key: 'workers', kind: 'int', default: 1, flag: 'workers', arg: 'N', doc: 'worker processes serving the one address (node:cluster); 0 = one per CPU' },
  { key: 'shutdown_grace', kind: 'int', default: 5000, flag: 'shutdown-grace', arg: 'MS', unit: 'ms', doc: 'on SIGTERM, how long running Checks may finish' },

  { key: 'cache.enabled', kind: 'bool', default: true, flag: 'no-cache', invert: true, flagDoc: 'evaluate every request (no decision cache)', doc: 'decision cache on (`--no-cache` turns it off: every request is evaluated)' },
  { key: 'cache.max_entries', kind: 'int', default: 100000, flag: 'cache-size', arg: 'N', doc: 'most cached decisions' },
  { key: 'cache.max_bytes', kind: 'int', default: 64 * 1024 * 1024, flag: 'cache-bytes', arg: 'N', unit: 'bytes', doc: 'most bytes of cached keys and responses' },
  { key: 'cache.ttl', kind: 'int', default: 0, flag: 'cache-ttl', arg: 'MS', unit: 'ms', doc: 'time to live of a cached decision; 0 = until evicted or the policy changes' },
  { key: 'cache.volatile_ttl', kind: 'int', flag: 'volatile-cache-ttl', arg: 'MS', unit: 'ms', doc: 'TTL of decisions that reached a non-deterministic builtin; unset = never cached' },

  { key: 'metrics.addr', kind: 'string', flag: 'metrics-addr', arg: 'HOST:PORT', doc: 'HTTP listener for `/metrics`, `/health`, `/health/ready`; unset = off' },
  { key: 'metrics.ready_requires_bundle', kind: 'bool', default: false, doc: '`/health/ready` also requires the last bundle poll to have succeeded' },

  { key: 'tls.cert_file', kind: 'string', flag: 'tls-cert-file', arg: 'FILE', doc: 'server certificate (PEM); with the key, the gRPC listener speaks TLS (both re-read when they change)' },
  { key: 'tls.private_key_file', kind: 'string', flag: 'tls-private-key-file', arg: 'FILE', doc: 'server private key (PEM)' },
  { key: 'tls.ca_cert_file', kind: 'string', flag: 'tls-ca-cert-file', arg: 'FILE', doc: 'CA bundle (PEM); when set, clients must present a certificate it signed (mTLS)' },
  { key: 'tls.refresh_interval', kind: 'int', default: 60000, unit: 'ms', doc: 'how often the certificate files are re-read' },

  { key: 'bundle.name', kind: 'string', default: 'authz', doc: 'the bundle\'s name (in logs, metrics and decision logs)' },
  { key: 'bundle.url', kind: 'string', flag: 'bundle', arg: 'URL|FILE', doc: 'an OPA bundle: `http(s)://…` (polled with ETag) or a local `.tar.gz` (watched)' },
  { key: 'bundle.token', kind: 'string', flag: 'bundle-token', arg: 'TOKEN', doc: 'bearer token sent to the bundle server' },
  { key: 'bundle.size_limit_bytes', kind: 'int', default: 64 * 1024 * 1024, unit: 'bytes', doc: 'largest bundle, compressed and inflated: a download or archive beyond it is refused, inflating stops there' },
  { key: 'bundle.polling.min_delay_seconds', kind: 'int', default: 60, unit: 's', doc: 'shortest wait between polls (OPA\'s name)' },
  { key: 'bundle.polling.max_delay_seconds', kind: 'int', default: 120, unit: 's', doc: 'longest wait between polls; each wait is random in [min, max]' },
  { key: 'bundle.timeout', kind: 'int', default: 30000, unit: 'ms', doc: 'one download\'s time budget' },
  { key: 'bundle.signing.keyid', kind: 'string', doc: 'key used when a signature names none' },
  { key: 'bundle.signing.scope', kind: 'string', doc: 'required `scope` claim of the signature, if set' },
  { key: 'bundle.signing.keys', kind: 'map', doc: 'verification keys by id: `{algorithm: RS256|ES256|HS256, key: PEM or secret}`; set = signatures required' },
  { key: 'bundle.signing.exclude_files', kind: 'list', doc: 'bundle files not covered by the signature' },

  { key: 'decision_logs.console', kind: 'bool', default: false, flag: 'decision-log-console', doc: 'decision events as JSON lines on stdout' },
  { key: 'decision_logs.file', kind: 'string', flag: 'decision-log-file', arg: 'FILE', doc: 'append decision events as JSON lines to this file' },
  { key: 'decision_logs.service.url', kind: 'string', flag: 'decision-log-url', arg: 'URL', doc: 'OPA decision-log collector base URL (events POSTed to URL/logs, gzipped)' },
  { key: 'decision_logs.service.resource', kind: 'string', default: '/logs', doc: 'path appended to the collector URL' },
  { key: 'decision_logs.service.token', kind: 'string', doc: 'bearer token sent to the collector' },
  { key: 'decision_logs.service.timeout', kind: 'int', default: 10000, unit: 'ms', doc: 'one upload\'s time budget' },
  { key: 'decision_logs.mask', kind: 'list', doc: 'JSON pointers erased, or `{op: remove|upsert, path, value}`; replaces the default (secret-bearing headers and query parameters, see Decision logs)' },
  { key: 'decision_logs.max_queued', kind: 'int', default: 10000, doc: 'Checks awaiting their event; beyond, events are dropped and counted' },
  { key: 'decision_logs.upload_size_limit_bytes', kind: 'int', default: 32768, unit: 'bytes', doc: 'uncompressed events per upload' },
  { key: 'decision_logs.buffer_size_limit_bytes', kind: 'int', default: 16 * 1024 * 1024, unit: 'bytes', doc: 'events awaiting upload; beyond, the oldest are dropped and counted' },
  { key: 'decision_logs.flush_interval', kind: 'int', default: 5000, unit: 'ms', doc: 'upload at least this often while events wait' },
  { key: 'decision_logs.labels', kind: 'map', doc: 'labels added to every event' },
] as const satisfies readonly Setting[];

type Spec = (typeof SETTINGS)[number];
type KindValue<S extends Spec> = S extends { kind: 'enum'; values: readonly (infer V)[] }
  ? V
  : S['kind'] extends 'int'
    ? number
    : S['kind'] extends 'bool'
      ? boolean
      : S['kind'] extends 'string'
        ? string
        : S['kind'] extends 'list'
          ? unknown[]
          : Record<string, unknown>;

/** The resolved configuration, typed by the schema: `settings['cache.max_entries']` is a number. */
export type Settings = { readonly [S in Spec as S['key']]: S extends { default: unknown } ? KindValue<S> : KindValue<S> | undefined };

/** Every key of the schema. */
export type SettingKey = Spec['key'];

/** The schema, untyped per entry, for iteration. */
export const ALL_SETTINGS: readonly Setting[] = SETTINGS;

export const BY_KEY: ReadonlyMap<string, Setting> = new Map(ALL_SETTINGS.map((s) => [s.key, s]));

/** `metrics.addr` → `SARK_METRICS_ADDR`. */
export function envName(key: string): string {
  return `SARK_${key.toUpperCase().replace(/\./g, '_')}`;
}

/** A bad configuration value; `origin` is the flag, variable or file key. */
export class ConfigError extends Error {
  override readonly name = 'ConfigError';
  constructor(
    readonly origin: string,
    message: string,
  ) {
    super(`${origin} ${message}`);
  }
}

/** Flat: dotted key → value. */
export type ConfigValues = Map<string, unknown>;

function coerce(s: Setting, raw: unknown, origin: string, fromText: boolean): unknown {
  switch (s.kind) {
    case 'string':
      if (typeof raw === 'number' && !fromText) return String(raw);
      if (typeof raw !== 'string' || raw === '') throw new ConfigError(origin, 'must be a non-empty string');
      return raw;
    case 'int': {
      const n = typeof raw === 'string' ? (raw.trim() === '' ? NaN : Number(raw)) : raw;
      if (typeof n !== 'number' || !Number.isSafeInteger(n) || n < 0) throw new ConfigError(origin, `must be a non-negative integer, got "${String(raw)}"`);
      return n;
    }
    case 'bool':
      if (raw === true || raw === 'true') return true;
      if (raw === false || raw === 'false') return false;
      throw new ConfigError(origin, `must be true or false, got "${String(raw)}"`);
    case 'enum':
      if (typeof raw !== 'string' || !s.values!.includes(raw)) throw new ConfigError(origin, `must be one of ${s.values!.join(', ')}, got "${String(raw)}"`);
      return raw;
    case 'list':
    case 'map': {
      let v = raw;
      if (typeof raw === 'string' && fromText) {
        try {
          v = JSON.parse(raw);
        } catch {
          throw new ConfigError(origin, `must be JSON (a ${s.kind === 'list' ? 'list' : 'map'})`);
        }
      }
      const ok = s.kind === 'list' ? Array.isArray(v) : typeof v === 'object' && v !== null && !Array.isArray(v);
      if (!ok) throw new ConfigError(origin, `must be a ${s.kind === 'list' ? 'list' : 'map'}`);
      return v;
    }
  }
}

/** Flattens a parsed file into dotted keys, refusing unknown keys. */
function flatten(obj: unknown, prefix: string, file: string, out: ConfigValues): void {
  if (typeof obj !== 'object' || obj === null || Array.isArray(obj)) throw new ConfigError(`${file}: ${prefix || '(top level)'}`, 'must be a map');
  for (const [k, v] of Object.entries(obj as Record<string, unknown>)) {
    const key = prefix ? `${prefix}.${k}` : k;
    const s = BY_KEY.get(key);
    if (s) {
      if (v === null || v === undefined) continue;
      out.set(key, coerce(s, v, `${file}: ${key}`, false));
    } else if (ALL_SETTINGS.some((x) => x.key.startsWith(`${key}.`))) {
      if (v === null) continue;
      flatten(v, key, file, out);
    } else {
      throw new ConfigError(`${file}: ${key}`, 'is not a known setting');
    }
  }
}

/** Reads and validates a config file (YAML or JSON). */
export function readConfigFile(file: string): ConfigValues {
  let text: string;
  try {
    text = fs.readFileSync(file, 'utf8');
  } catch (err) {
    throw new ConfigError(file, (err as NodeJS.ErrnoException).code === 'ENOENT' ? 'no such file or directory' : (err as Error).message);
  }
  let doc: unknown;
  try {
    doc = YAML.parse(text);
  } catch (err) {
    throw new ConfigError(file, `not valid YAML: ${(err as Error).message}`);
  }
  const out: ConfigValues = new Map();
  if (doc === null || doc === undefined) return out;
  flatten(doc, '', file, out);
  return out;
}

/** `SARK_*` variables naming a setting; other `SARK_*` variables (SARK_NATIVE, …) are ignored. */
export function readEnv(env: NodeJS.ProcessEnv): ConfigValues {
  const out: ConfigValues = new Map();
  for (const s of ALL_SETTINGS) {
    const v = env[envName(s.key)];
    if (v !== undefined && v !== '') out.set(s.key, coerce(s, v, envName(s.key), true));
  }
  return out;
}

/** Whether a setting's flag is a switch (no value): a `bool` without `arg`. */
function isSwitch(s: Setting): boolean {
  return s.kind === 'bool' && s.arg === undefined;
}

/** Options for node:util parseArgs: one per flag of the schema. */
export function flagOptions(): Record<string, { type: 'string' | 'boolean' }> {
  const out: Record<string, { type: 'string' | 'boolean' }> = {};
  for (const s of ALL_SETTINGS) if (s.flag) out[s.flag] = { type: isSwitch(s) ? 'boolean' : 'string' };
  return out;
}

/** Flag values (strings or booleans, as parseArgs gives them) by flag name. */
export function readFlags(flags: Record<string, unknown>): ConfigValues {
  const out: ConfigValues = new Map();
  for (const s of ALL_SETTINGS) {
    if (!s.flag) continue;
    const v = flags[s.flag];
    if (v === undefined) continue;
    // A switch only ever turns its setting on (or off, inverted); absent leaves the lower layers.
    if (isSwitch(s)) {
      if (v === true) out.set(s.key, !s.invert);
    } else out.set(s.key, coerce(s, v, `--${s.flag}`, true));
  }
  return out;
}

/** Markdown code → plain text for the terminal. */
const plain = (text: string) => text.replace(/`/g, '');

function defaultText(s: Setting): string | undefined {
  if (s.default === undefined || isSwitch(s)) return undefined;
  return `${String(s.default)}${s.unit && s.unit !== 'bytes' ? ` ${s.unit}` : ''}`;
}

/** `  --cache-ttl MS   time to live … (default 0 ms)`, one line per flag of the schema. */
export function flagHelp(): string {
  const rows = ALL_SETTINGS.filter((s) => s.flag).map((s) => {
    const d = defaultText(s);
    return [`--${s.flag}${s.arg ? ` ${s.arg}` : ''}`, `${plain(s.flagDoc ?? s.doc)}${d === undefined ? '' : ` (default ${d})`}`];
  });
  const width = Math.max(...rows.map(([f]) => f.length)) + 2;
  return rows.map(([f, d]) => `  ${f.padEnd(width)}${d}`).join('\n');
}

/** Every setting as `key | flag | env | default | unit | meaning` rows (docs/operations.md). */
export function settingsTable(): string {
  const cell = (text: string) => text.replace(/\|/g, '\\|');
  return ALL_SETTINGS.map(
    (s) => `| \`${s.key}\` | ${s.flag ? `\`--${s.flag}\`` : ''} | \`${envName(s.key)}\` | ${s.default === undefined ? '(unset)' : `\`${String(s.default)}\``} | ${s.unit ?? ''} | ${cell(s.doc)} |`,
  ).join('\n');
}

/** Defaults, then each layer in order. */
export function mergeLayers(...layers: ConfigValues[]): ConfigValues {
  const out: ConfigValues = new Map();
  for (const s of ALL_SETTINGS) if (s.default !== undefined) out.set(s.key, s.default);
  for (const l of layers) for (const [k, v] of l) out.set(k, v);
  return out;
}

/** Every setting as `key | flag | default (unit) | meaning` rows (README.md). */
export function readmeSettingsTable(): string {
  const cell = (text: string) => text.replace(/\|/g, '\\|');
  return ALL_SETTINGS.map((s) => {
    const d = s.default === undefined ? '' : `\`${JSON.stringify(s.default)}\`${s.unit ? ` ${s.unit}` : ''}`;
    return `| \`${s.key}\` | ${s.flag ? `\`--${s.flag}\`` : ''} | ${d} | ${cell(s.doc)} |`;
  }).join('\n');
}

/** The merged layers as the typed configuration (every key present; unset = undefined). */
export function toSettings(values: ConfigValues): Settings {
  return Object.fromEntries(ALL_SETTINGS.map((s) => [s.key, values.get(s.key)])) as unknown as Settings;
}

/** Nested plain object from the flat map (for logs and the decision-log `labels`). */
export function nested(values: ConfigValues): Record<string, any> {
  const out: Record<string, any> = {};
  for (const [k, v] of values) {
    const parts = k.split('.');
    let node = out;
    for (const p of parts.slice(0, -1)) node = node[p] ??= {};
    node[parts[parts.length - 1]] = v;
  }
  return out;
}
