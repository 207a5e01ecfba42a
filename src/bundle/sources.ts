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
import { AuthzError } from '../errors';
import { DEFAULT_SIZE_LIMIT_BYTES, parseBundle, type Bundle } from './archive';
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

/** A directory and every non-hidden directory under it (symbolic links not followed), as the loader reads them. */
function directoriesUnder(root: string): string[] {
  const out = [root];
  for (let i = 0; i < out.length; i++) {
    let entries: fs.Dirent[];
    try {
      entries = fs.readdirSync(out[i], { withFileTypes: true });
    } catch {
      continue;
    }
    for (const e of entries) if (e.isDirectory() && !e.name.startsWith('.')) out.push(path.join(out[i], e.name));
  }
  return out;
}

/**
 * Watches one directory tree with one non-recursive watcher per directory.
 * A directory watcher (inotify on the directory) sees every entry created,
 * renamed or written, so a file replaced atomically (a temporary file renamed
 * over it: editors, `sed -i`) keeps being seen; Node's recursive watcher on
 * Linux watches the replaced file's old inode and goes silent. The set of
 * directories is refreshed on every event.
 */
class TreeWatcher {
  private readonly watchers = new Map<string, fs.FSWatcher>();
  private closed = false;

  constructor(
    private readonly root: string,
    private readonly recursive: boolean,
    private readonly onChange: () => void,
    private readonly logger: Logger,
  ) {
    this.sync();
  }

  private sync(): void {
    if (this.closed) return;
    const wanted = new Set(this.recursive ? directoriesUnder(this.root) : [this.root]);
    for (const [dir, w] of this.watchers) {
      if (wanted.has(dir)) continue;
      w.close();
      this.watchers.delete(dir);
    }
    for (const dir of wanted) {
      if (this.watchers.has(dir)) continue;
      try {
        const w = fs.watch(dir, { persistent: false }, () => {
          this.sync();
          this.onChange();
        });
        w.on('error', (err) => {
          // A watched subdirectory that went away; the next event drops it.
          if (dir === this.root) this.logger.warn({ err, path: dir }, 'file watch failed');
          w.close();
          this.watchers.delete(dir);
        });
        this.watchers.set(dir, w);
      } catch (err) {
        if (dir === this.root) throw err;
      }
    }
  }

  close(): void {
    this.closed = true;
    for (const w of this.watchers.values()) w.close();
    this.watchers.clear();
  }
}

/** Watches files and directories (a file through its directory, so rename-and-replace is seen). */
function watchPaths(paths: string[], onChange: () => void, logger: Logger): TreeWatcher[] {
  const watchers: TreeWatcher[] = [];
  for (const p of paths) {
    try {
      const isDir = fs.statSync(p).isDirectory();
      // Any event in the directory: Kubernetes swaps a ConfigMap's files through a `..data` symlink,
      // so the file's own name never shows up. Reloading unchanged content is a no-op (same revision).
      watchers.push(new TreeWatcher(isDir ? p : path.dirname(p), isDir, onChange, logger));
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
  private watchers: TreeWatcher[] = [];
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
  /** Largest archive, compressed or inflated (`bundle.size_limit_bytes`). Default 64 MiB. */
  sizeLimitBytes?: number;
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

/** A response body of at most `limit` bytes; a longer one is cancelled and throws AuthzError `bundle_too_large`. */
async function readLimited(res: Response, limit: number): Promise<Buffer> {
  const tooLarge = () => new AuthzError('bundle_too_large', `GET ${res.url}: the bundle is larger than bundle.size_limit_bytes (${limit} bytes)`);
  if (Number(res.headers.get('content-length') ?? 0) > limit) {
    await res.body?.cancel();
    throw tooLarge();
  }
  const chunks: Buffer[] = [];
  let total = 0;
  for await (const chunk of res.body ?? []) {
    total += chunk.length;
    if (total > limit) throw tooLarge();
    chunks.push(Buffer.from(chunk));
  }
  return Buffer.concat(chunks);
}

export class BundleSource implements PolicySource {
  private etag: string | null = null;
  private activeDigest: string | null = null;
  private failures = 0;
  private timer: NodeJS.Timeout | null = null;
  private watchers: TreeWatcher[] = [];
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
      bundle = await parseBundle(archive, this.options.sizeLimitBytes);
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
      body = await readLimited(res, this.options.sizeLimitBytes ?? DEFAULT_SIZE_LIMIT_BYTES);
    } catch (err) {
      if (err instanceof AuthzError) {
        this.options.manager.fail(this.source, err);
        return (this.ok = false);
      }
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
