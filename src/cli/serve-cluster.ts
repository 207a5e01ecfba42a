/**
 * `serve --workers N`: the primary process forks N workers (node:cluster),
 * each running the whole `serve` (its own engine, cache, policy source and
 * decision logger) on the one address — the cluster module shares the
 * listening socket and spreads connections over workers. The primary
 * replaces a worker that dies (also when all die together; it gives up,
 * exiting 1 with the reason, only when workers keep dying right after
 * starting or the first cannot start), forwards SIGHUP, drains every worker on
 * SIGTERM, and serves `/metrics` (every worker's, aggregated) and
 * `/health`, `/health/ready` (ready once every live worker is) itself.
 */
import cluster, { type Worker } from 'node:cluster';
import * as os from 'node:os';
import pino, { type Level } from 'pino';
import { AggregatorRegistry } from 'prom-client';
import { createOpsHttpServer } from '../telemetry/ops-http';
import { EXIT } from './command';

/** The message a worker sends once it serves. */
export const WORKER_READY = 'sark-authz:ready';

export interface PrimaryOptions {
  /** Worker count; 0 = one per CPU. */
  workers: number;
  metricsAddr?: string;
  logLevel: Level;
  graceMs: number;
}

/** A worker that dies this soon after its start counts as a quick death. */
const QUICK_DEATH_MS = 2000;
/** Quick deaths in a row, per worker, before the primary gives up (with backoff up to 5 s between). */
const MAX_QUICK_DEATHS_PER_WORKER = 5;

export async function runPrimary(options: PrimaryOptions): Promise<number> {
  const logger = pino({ name: 'sark-authz', level: options.logLevel }).child({ role: 'primary' });
  const count = options.workers === 0 ? os.availableParallelism() : options.workers;
  const ready = new Set<number>();
  let stopping = false;
  let everReady = false;
  let quickDeaths = 0;
  const registry = new AggregatorRegistry();

  const restarts = new Set<NodeJS.Timeout>();
  /** Stops replacing workers: exit non-zero, saying why on stderr and in the log. */
  const giveUp = (reason: string) => {
    stopping = true;
    logger.error({ reason }, 'giving up: stopping the workers');
    process.stderr.write(`sark-authz serve: workers_failed: ${reason}\n`);
    resolveDone(EXIT.failure);
  };

  const fork = (): Worker => {
    const w = cluster.fork();
    const bornAt = Date.now();
    w.on('message', (m: { type?: string; revision?: string }) => {
      if (m?.type !== WORKER_READY) return;
      ready.add(w.id);
      everReady = true;
      quickDeaths = 0;
      logger.info({ worker: w.id, pid: w.process.pid, revision: m.revision }, 'worker serving');
    });
    w.on('exit', (code, signal) => {
      ready.delete(w.id);
      if (stopping) return;
      if (!everReady && code === EXIT.failure) {
        // A worker that cannot start (policy, address) will not start on a second try either.
        return giveUp(`worker ${w.id} could not start (exit ${code}); see its log`);
      }
      quickDeaths = Date.now() - bornAt < QUICK_DEATH_MS ? quickDeaths + 1 : 0;
      if (quickDeaths > MAX_QUICK_DEATHS_PER_WORKER * count) {
        return giveUp(`workers died ${quickDeaths} times in a row within ${QUICK_DEATH_MS} ms of starting`);
      }
      const delay = Math.min(5000, 100 * 2 ** Math.min(quickDeaths, 10));
      logger.error({ worker: w.id, pid: w.process.pid, code, signal, restart_in_ms: delay }, 'worker died; replacing it');
      // Not unref'd: while every worker is dead, this timer is what keeps the primary (and the port) alive.
      const t = setTimeout(() => {
        restarts.delete(t);
        if (!stopping) fork();
      }, delay);
      restarts.add(t);
    });
    return w;
  };

  let resolveDone!: (code: number) => void;
  const done = new Promise<number>((r) => (resolveDone = r));

  const ops = options.metricsAddr
    ? createOpsHttpServer({
        addr: options.metricsAddr,
        metrics: async () => ({ contentType: registry.contentType, body: await registry.clusterMetrics() }),
        readiness: () => {
          const alive = Object.values(cluster.workers ?? {}).filter((w) => w && !w.isDead());
          return { ready: alive.length > 0 && alive.every((w) => ready.has(w!.id)), detail: { workers: alive.length, ready_workers: ready.size } };
        },
      })
    : null;
  if (ops) logger.info({ addr: await ops.listen() }, 'ops http serving');
  logger.info({ workers: count }, 'starting workers');
  for (let i = 0; i < count; i++) fork();

  const onHup = () => {
    for (const w of Object.values(cluster.workers ?? {})) w?.process.kill('SIGHUP');
  };
  process.on('SIGHUP', onHup);
  const stop = (signal: NodeJS.Signals) => {
    if (stopping) return;
    stopping = true;
    logger.info({ signal }, 'shutting down workers');
    const workers = Object.values(cluster.workers ?? {}).filter((w): w is Worker => !!w && !w.isDead());
    const force = setTimeout(() => workers.forEach((w) => w.process.kill('SIGKILL')), options.graceMs + 5000);
    Promise.all(workers.map((w) => new Promise<void>((r) => (w.isDead() ? r() : w.once('exit', () => r()))))).then(() => {
      clearTimeout(force);
      resolveDone(EXIT.ok);
    });
    for (const w of workers) w.process.kill('SIGTERM');
  };
  process.once('SIGINT', stop);
  process.once('SIGTERM', stop);

  const code = await done;
  for (const t of restarts) clearTimeout(t);
  process.off('SIGHUP', onHup);
  process.off('SIGINT', stop);
  process.off('SIGTERM', stop);
  for (const w of Object.values(cluster.workers ?? {})) if (w && !w.isDead()) w.process.kill('SIGTERM');
  await ops?.close();
  return code;
}
