/**
 * Activation: every new policy (files changed, a bundle downloaded) is
 * compiled here, between Checks — never inside one — and only a policy
 * that compiled is handed to `activate` (the server's atomic `setPolicy`).
 * A failure leaves the running policy in place, is logged, counted and
 * remembered for `/health/ready`; the source retries.
 */
import { createHash } from 'node:crypto';
import type { Logger } from 'pino';
import type { PolicyModule, PreparedPolicy } from '../engine/types';
import { AuthzError } from '../errors';

/** What a source delivers: modules and data to compile, and where they came from. */
export interface PolicyContent {
  modules: PolicyModule[];
  data: Record<string, unknown>;
  /** `files` or `bundle:NAME`. */
  source: string;
  /** The bundle's manifest revision, or a content hash for files. */
  revision: string;
  /** For decision logs: `{NAME: {revision}}`. */
  bundles?: Record<string, { revision: string }>;
  /** Rego v0 modules (bundle manifest `rego_version: 0`). */
  v0Compatible?: boolean;
  /** A bundle's `policy.wasm` (built by `opa build -t wasm`): evaluated instead of the modules, through opa-wasm. */
  wasm?: Buffer;
}

export interface ActivePolicy {
  policy: PreparedPolicy;
  source: string;
  revision: string;
  bundles?: Record<string, { revision: string }>;
  activatedAt: Date;
}

export interface PolicyManagerOptions {
  /** Compiles and prepares; throws EngineError (with diagnostics) or AuthzError. */
  compile(content: PolicyContent): PreparedPolicy;
  /** Swaps the compiled policy in. */
  activate(active: ActivePolicy): void;
  logger: Logger;
  /** Metrics hooks. */
  onActivated?(active: ActivePolicy): void;
  onFailed?(source: string, code: string): void;
}

export interface LoadFailure {
  source: string;
  code: string;
  message: string;
  at: string;
}

/** A short content hash used as the revision of local files. */
export function contentRevision(modules: PolicyModule[], data: unknown): string {
  const h = createHash('sha256');
  for (const m of modules) h.update(m.name).update('\0').update(m.source).update('\0');
  h.update(JSON.stringify(data));
  return h.digest('hex').slice(0, 16);
}

export class PolicyManager {
  private activeRecord: ActivePolicy | null = null;
  private failure: LoadFailure | null = null;
  private readonly policyInfoMap = new WeakMap<PreparedPolicy, { revision: string; bundles?: Record<string, { revision: string }> }>();

  constructor(private readonly options: PolicyManagerOptions) {}

  get active(): ActivePolicy | null {
    return this.activeRecord;
  }

  /** The last failure since the last successful activation, or null. */
  get lastFailure(): LoadFailure | null {
    return this.failure;
  }

  /** The revision and bundles of a policy this manager activated (decision logs). */
  policyInfo(policy: PreparedPolicy): { revision?: string; bundles?: Record<string, { revision: string }> } {
    return this.policyInfoMap.get(policy) ?? {};
  }

  /** Compiles `content` and activates it; false (logged, counted, remembered) when it fails. */
  load(content: PolicyContent): boolean {
    let policy: PreparedPolicy;
    try {
      policy = this.options.compile(content);
    } catch (err) {
      this.fail(content.source, err, content.revision);
      return false;
    }
    this.adopt(content, policy);
    this.options.logger.info({ source: content.source, revision: content.revision }, 'policy loaded');
    return true;
  }

  /** Activates a policy already compiled from `content` (startup, where a compile error must stop `serve`). */
  adopt(content: PolicyContent, policy: PreparedPolicy): void {
    const active: ActivePolicy = { policy, source: content.source, revision: content.revision, bundles: content.bundles, activatedAt: new Date() };
    this.policyInfoMap.set(policy, { revision: content.revision, bundles: content.bundles });
    this.activeRecord = active;
    this.failure = null;
    this.options.activate(active);
    this.options.onActivated?.(active);
  }

  /** Records a failure that happened before compiling (download, verification, parse). */
  fail(source: string, err: unknown, revision?: string): void {
    const e = AuthzError.from(err);
    const code = e.code === 'internal' ? 'policy_load_failed' : e.code;
    const diagnostics = (err as { diagnostics?: Array<{ file: string; line: number; col: number; code: string; message: string }> }).diagnostics ?? [];
    const message = diagnostics.length > 0 ? diagnostics.map((d) => `${d.file}:${d.line}:${d.col}: ${d.code}: ${d.message}`).join('; ') : e.message;
    this.failure = { source, code, message, at: new Date().toISOString() };
    this.options.logger.error({ source, code, revision, detail: message, keeping: this.activeRecord?.revision ?? null }, 'policy load failed; the running policy stays');
    this.options.onFailed?.(source, code);
  }
}
