// WORKERS > 1: this process prepares once (migrations, signing key), then forks
// the workers that serve on one shared port. Workers share nothing in memory, so
// they relate exactly as separate instances do (Redis, or the database poll).
import cluster, { type Worker } from "node:cluster";
import type { Config } from "./config";
import { startClusterLimits } from "./auth/rate-limits";
import type { Logger } from "./logger";

export interface PrimaryOptions {
  prepare(): Promise<void>;
}

/** A worker that dies this soon after starting is not restarted (it would crash-loop). */
const MIN_WORKER_LIFETIME_MS = 5_000;

export async function runPrimary(config: Config, logger: Logger, options: PrimaryOptions): Promise<void> {
  await options.prepare();
  // The workers' login and auth-call limits are counted here, once for all of them.
  startClusterLimits();
  let stopping = false;
  const startedAt = new Map<number, number>();
  const fork = (): Worker => {
    const worker = cluster.fork();
    startedAt.set(worker.id, Date.now());
    return worker;
  };
  for (let i = 0; i < config.workers; i++) fork();
  logger.info({ workers: config.workers }, "started workers");
  logger.info(
    config.redisUrl
      ? "login and auth-call limits are counted in Redis for every instance (here while Redis is down)"
      : `login and auth-call limits are counted here for all ${config.workers} workers; set REDIS_URL to share them with other instances`,
  );

  cluster.on("exit", (worker, code, signal) => {
    if (stopping) {
      if (Object.keys(cluster.workers ?? {}).length === 0) {
        logger.info("stopped");
        process.exit(0);
      }
      return;
    }
    const lived = Date.now() - (startedAt.get(worker.id) ?? 0);
    logger.error({ workerId: worker.id, code, signal }, "worker exited");
    if (lived < MIN_WORKER_LIFETIME_MS) {
      logger.error("a worker failed right after starting; stopping");
      process.exit(1);
    }
    fork();
  });

  const stop = (signal: NodeJS.Signals) => {
    if (stopping) return;
    stopping = true;
    logger.info({ signal }, "shutting down: stopping workers");
    for (const worker of Object.values(cluster.workers ?? {})) worker?.process.kill("SIGTERM");
  };
  process.on("SIGTERM", stop);
  process.on("SIGINT", stop);
}
