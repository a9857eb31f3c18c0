// Start-up only: configuration → database → migrations → keys → server → listen,
// and an orderly shutdown on SIGTERM/SIGINT. With WORKERS > 1 this process becomes
// the cluster primary (cluster.ts) and each worker runs serve() on the same port.
import "reflect-metadata";
import cluster from "node:cluster";
import { loadConfigOrReport, type Config } from "./config";
import { runPrimary } from "./cluster";
import { openDatabase } from "./db/client";
import { ensureWritableDataDir, fileSystemReason } from "./db/data-dir";
import { applyMigrations, createKeywayServer, loadRootKeys, openKeyway } from "./keyway";
import { createLogger, type Logger } from "./logger";

const SHUTDOWN_DEADLINE_MS = 10_000;

async function main(argv: string[]): Promise<void> {
  const config = readConfigOrExit();
  const logger = createLogger({ level: config.logLevel }).child(cluster.isWorker ? { worker: cluster.worker?.id } : {});
  if (cluster.isPrimary) for (const warning of config.warnings) logger.warn({ insecure: true }, warning);
  const migrating = argv.includes("migrate");
  // Before anything is created in it; a deployment with a database server and a
  // configured key never writes to DATA_DIR, so it need not be writable there.
  if (!config.databaseUrl || (!migrating && !config.jwt.privateKeyPem)) await ensureWritableDataDir(config.dataDir);
  if (migrating) return migrateOnly(config, logger);
  if (config.workers > 1 && cluster.isPrimary)
    return runPrimary(config, logger, { prepare: () => prepare(config, logger) });
  await serve(config, logger);
}

function readConfigOrExit(): Config {
  return loadConfigOrReport() ?? process.exit(2);
}

/** What must happen once per deployment start, before any server listens. */
async function prepare(config: Config, logger: Logger): Promise<void> {
  await migrateOnly(config, logger);
  loadRootKeys(config, logger);
}

async function migrateOnly(config: Config, logger: Logger): Promise<void> {
  const database = await openDatabase({ url: config.databaseUrl, dataDir: config.dataDir });
  try {
    await applyMigrations(database, logger);
  } finally {
    await database.close();
  }
}

async function serve(config: Config, logger: Logger): Promise<void> {
  // A worker's primary has migrated already; a single process does it here.
  const keyway = await openKeyway({ config, logger, migrations: cluster.isPrimary ? "apply" : "skip" });
  try {
    const server = await createKeywayServer(keyway);
    // Before listening: a SIGTERM right after "listening" must drain, not kill.
    handleShutdown(logger, async () => {
      await server.close();
      await keyway.close();
    });
    const url = await server.listen();
    logger.info(
      { url, metricsUrl: server.metricsUrl ?? undefined, database: keyway.database.kind, kid: keyway.keys.signing.kid },
      "keyway is listening",
    );
  } catch (error) {
    await keyway.close().catch(() => undefined);
    throw error;
  }
}

function handleShutdown(logger: Logger, stop: () => Promise<void>): void {
  let stopping = false;
  const onSignal = (signal: NodeJS.Signals) => {
    if (stopping) return;
    stopping = true;
    // The deadline comes first: a log line that cannot be written must not keep the process alive.
    const deadline = setTimeout(() => process.exit(1), SHUTDOWN_DEADLINE_MS);
    deadline.unref();
    safely(() => logger.info({ signal }, "shutting down: draining requests"));
    stop().then(
      () => {
        safely(() => logger.info("stopped"));
        process.exit(0);
      },
      (error: unknown) => {
        safely(() => logger.error({ err: error }, "shutdown failed"));
        process.exit(1);
      },
    );
  };
  process.on("SIGTERM", onSignal);
  process.on("SIGINT", onSignal);
}

/** Logging never stands between a signal and the exit (its sink may be gone). */
function safely(log: () => void): void {
  try {
    log();
  } catch {
    // nothing to report it to
  }
}

main(process.argv.slice(2)).catch((error: unknown) => {
  // One line, whatever was thrown: PGlite's file-system errors are not even Error instances.
  const message = error instanceof Error ? error.message : (fileSystemReason(error) ?? String(error));
  process.stderr.write(`keyway: failed to start: ${message.replace(/\s*\n\s*/g, " ")}\n`);
  process.exit(1);
});
