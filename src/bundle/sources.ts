/**
 * Where policies come from, each feeding the PolicyManager:
 *   - local files (`--policy FILE|DIR`, `--data FILE`), reloaded when they
 *     change (fs.watch, debounced) and on SIGHUP;
 *   - a local bundle (`--bundle FILE.tar.gz`), the same way;
 *   - a remote bundle (`--bundle http(s)://…`), polled with OPA's
 *     semantics: `If-None-Match` with the last ETag (304 = unchanged), a
 *     random wait in [min_delay, max_delay] between polls, exponential
 *     backoff with jitter after a failure, an optional bearer token.
 */
import { createHash } from 'node:crypto';
import * as fs from 'node:fs';
import * as path from 'node:path';
import type { Logger } from 'pino';
import { loadData, loadPolicyModules } from '../config/policy-files';
import { AuthzError } from '../envoy/errors';
import { parseBundle, type Bundle } from './archive';
import { contentRevision, type PolicyContent, type PolicyManager } from './policy-manager';
import { verifyBundle, type SigningOptions } from './signature';

export interface PolicySource {
  /** The first load; resolves true when a policy was activated. */
  start(): Promise<boolean>;
  /** Reload / poll now (SIGHUP). */
  reload(): Promise<void>;
  stop(): void;
  /** False while the last download/poll failed (for readiness that requires current bundles). */
  readonly current: boolean;
}

/** Calls `fn` once `ms` after the last of a burst of events. */
function debounce(fn: () => void, ms: number): () => void {
  let t: NodeJS.Timeout | null = null;
  return () => {
    if (t) clearTimeout(t);
    t = setTimeout(() => {
      t = null;
      fn();
    }, ms);
  };
}

/** Watches files and directories (a file through its directory, so rename-and-replace is seen). */
function watchPaths(paths: string[], onChange: () => void, logger: Logger): fs.FSWatcher[] {
  const watchers: fs.FSWatcher[] = [];
  for (const p of paths) {
    try {
      const isDir = fs.statSync(p).isDirectory();
      const dir = isDir ? p : path.dirname(p);
      // Any event in the directory: Kubernetes swaps a ConfigMap's files through a `..data` symlink,
      // so the file's own name never shows up. Reloading unchanged content is a no-op (same revision).
      const w = fs.watch(dir, { recursive: isDir, persistent: false }, () => onChange());
      w.on('error', (err) => logger.warn({ err, path: p }, 'file watch failed'));
      watchers.push(w);
    } catch (err) {
      logger.warn({ err, path: p }, 'cannot watch; reload with SIGHUP');
    }
  }
  return watchers;
}

export interface FileSourceOptions {
  policy: string;
  data?: string;
  watch: boolean;
  /** Debounce of change events, ms. Default 200. */
  debounceMs?: number;
  manager: PolicyManager;
  logger: Logger;
}

/** Local `.rego` files and a data file. */
export class FileSource implements PolicySource {
  private watchers: fs.FSWatcher[] = [];
  readonly current = true;

  constructor(private readonly options: FileSourceOptions) {}

  private read(): PolicyContent {
    const modules = loadPolicyModules(this.options.policy);
    const data = loadData(this.options.data);
    return { modules, data, source: 'files', revision: contentRevision(modules, data) };
  }

  /** Reads and compiles; throws at startup so `serve` can print diagnostics and exit 1. */
  readInitial(): PolicyContent {
    return this.read();
  }

  async start(): Promise<boolean> {
    if (this.options.watch) {
      const paths = [this.options.policy, ...(this.options.data ? [this.options.data] : [])];
      this.watchers = watchPaths(paths, debounce(() => void this.reload(), this.options.debounceMs ?? 200), this.options.logger);
    }
    return true;
  }

  async reload(): Promise<void> {
    let content: PolicyContent;
    try {
      content = this.read();
    } catch (err) {
      this.options.manager.fail('files', err);
      return;
    }
    if (content.revision === this.options.manager.active?.revision) return;
    this.options.manager.load(content);
  }

  stop(): void {
    for (const w of this.watchers) w.close();
    this.watchers = [];
  }
}

export interface BundleSourceOptions {
  /** Bundle name (logs, metrics, decision logs). */
  name: string;
  /** `http(s)://…` or a local `.tar.gz`. */
  url: string;
  token?: string;
  /** Wait between successful polls: random in [minDelayMs, maxDelayMs]. */
  minDelayMs: number;
  maxDelayMs: number;
  /** First backoff after a failure, doubled each further failure up to maxDelayMs. Default 1000. */
  backoffBaseMs?: number;
  timeoutMs: number;
  signing?: SigningOptions;
  /** Watch a local bundle file. */
  watch: boolean;
  manager: PolicyManager;
  logger: Logger;
}

/** Turns a parsed (and verified) bundle into what the manager compiles. */
export function bundleContent(name: string, bundle: Bundle): PolicyContent {
  return {
    modules: bundle.modules,
    data: bundle.data,
    source: `bundle:${name}`,
    revision: bundle.manifest.revision,
    bundles: { [name]: { revision: bundle.manifest.revision } },
    v0Compatible: bundle.manifest.rego_version === 0,
    wasm: bundle.wasm.length > 0 ? bundle.files.get(bundle.wasm[0]!) : undefined,
  };
}

export class BundleSource implements PolicySource {
  private etag: string | null = null;
  private activeDigest: string | null = null;
  private failures = 0;
  private timer: NodeJS.Timeout | null = null;
  private watchers: fs.FSWatcher[] = [];
  private stopped = false;
  private inFlight: Promise<boolean> | null = null;
  private ok = false;
  private readonly remote: boolean;
  private readonly source: string;

  constructor(private readonly options: BundleSourceOptions) {
    this.remote = /^https?:\/\//i.test(options.url);
    this.source = `bundle:${options.name}`;
  }

  get current(): boolean {
    return this.ok;
  }

  /** Parses, verifies and activates an archive; false when any step fails. */
  async activate(archive: Buffer): Promise<boolean> {
    // The same bytes as the active bundle (a server without ETags, a touched file): nothing to do.
    const digest = createHash('sha256').update(archive).digest('hex');
    if (digest === this.activeDigest && this.options.manager.active?.source === this.source) return true;
    let bundle: Bundle;
    try {
      bundle = await parseBundle(archive);
      if (this.options.signing && Object.keys(this.options.signing.keys).length > 0) verifyBundle(bundle, this.options.signing);
    } catch (err) {
      this.options.manager.fail(this.source, err);
      return false;
    }
    if (bundle.wasm.length > 0) {
      this.options.logger.info({ bundle: this.options.name, files: bundle.wasm }, 'bundle holds policy.wasm: served through opa-wasm');
    }
    const ok = this.options.manager.load(bundleContent(this.options.name, bundle));
    if (ok) this.activeDigest = digest;
    return ok;
  }

  /** One download (remote) or read (local); true when a new policy was activated or nothing changed. */
  pollOnce(): Promise<boolean> {
    if (this.inFlight) return this.inFlight;
    this.inFlight = (this.remote ? this.download() : this.readLocal()).finally(() => {
      this.inFlight = null;
    });
    return this.inFlight;
  }

  private async readLocal(): Promise<boolean> {
    let archive: Buffer;
    try {
      archive = fs.readFileSync(this.options.url);
    } catch (err) {
      this.options.manager.fail(this.source, new AuthzError('bundle_unreadable', `${this.options.url}: ${(err as Error).message}`));
      return (this.ok = false);
    }
    return (this.ok = await this.activate(archive));
  }

  private async download(): Promise<boolean> {
    const headers: Record<string, string> = { accept: 'application/gzip, application/octet-stream', 'user-agent': 'sark-authz/0.1.0' };
    if (this.etag) headers['if-none-match'] = this.etag;
    if (this.options.token) headers.authorization = `Bearer ${this.options.token}`;
    let res: Response;
    let body: Buffer;
    try {
      res = await fetch(this.options.url, { headers, signal: AbortSignal.timeout(this.options.timeoutMs) });
      body = Buffer.from(await res.arrayBuffer());
    } catch (err) {
      this.options.manager.fail(this.source, new AuthzError('bundle_download_failed', `GET ${this.options.url}: ${(err as Error).message}`, { cause: err }));
      return (this.ok = false);
    }
    if (res.status === 304) {
      this.options.logger.debug({ bundle: this.options.name, etag: this.etag }, 'bundle unchanged');
      return (this.ok = true);
    }
    if (res.status !== 200) {
      this.options.manager.fail(this.source, new AuthzError('bundle_download_failed', `GET ${this.options.url}: HTTP ${res.status}`));
      return (this.ok = false);
    }
    const activated = await this.activate(body);
    // Remember the ETag only once its bundle is active, so a bad bundle is fetched and tried again.
    if (activated) this.etag = res.headers.get('etag');
    return (this.ok = activated);
  }

  private schedule(success: boolean): void {
    if (this.stopped || !this.remote) return;
    const { minDelayMs, maxDelayMs } = this.options;
    let delay: number;
    if (success) {
      this.failures = 0;
      delay = minDelayMs + Math.random() * Math.max(0, maxDelayMs - minDelayMs);
    } else {
      this.failures += 1;
      const base = Math.min(maxDelayMs, (this.options.backoffBaseMs ?? 1000) * 2 ** Math.min(this.failures - 1, 20));
      delay = base * (0.8 + Math.random() * 0.4);
    }
    if (this.timer) clearTimeout(this.timer);
    this.timer = setTimeout(() => void this.tick(), delay);
    this.timer.unref();
  }

  private async tick(): Promise<boolean> {
    const ok = await this.pollOnce();
    this.schedule(ok);
    return ok;
  }

  async start(): Promise<boolean> {
    if (!this.remote && this.options.watch) {
      this.watchers = watchPaths([this.options.url], debounce(() => void this.pollOnce(), 200), this.options.logger);
    }
    return this.tick();
  }

  /** Resolves once a policy is active (retrying on the poll schedule), or false when stopped first. */
  async waitForFirst(pollMs = 100): Promise<boolean> {
    while (!this.stopped) {
      if (this.options.manager.active) return true;
      await new Promise((r) => setTimeout(r, pollMs));
    }
    return false;
  }

  async reload(): Promise<void> {
    await this.pollOnce();
  }

  stop(): void {
    this.stopped = true;
    if (this.timer) clearTimeout(this.timer);
    for (const w of this.watchers) w.close();
    this.watchers = [];
  }
}
