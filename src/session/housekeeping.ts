// Purges sessions that ended, expired, or went idle longer ago than the
// retention period. Every instance runs the timer; a transaction-scoped advisory
// lock lets exactly one of them work at a time, and the others skip that round
// instead of waiting or deleting the same rows twice.
import type { PrismaClient } from "../generated/prisma/client";
import type { Logger } from "../logger";

/** An arbitrary constant naming keyway's purge lock among the database's advisory locks. */
const PURGE_LOCK_KEY = 7_152_025_001;
/** Rows per DELETE, so one purge never holds many row locks or one long transaction. */
const BATCH_SIZE = 1000;
/** Rounds per purge; the rest waits for the next interval. */
const MAX_BATCHES = 50;

export interface HousekeepingOptions {
  prisma: PrismaClient;
  logger: Logger;
  retentionSeconds: number;
  idleTtlSeconds: number;
  intervalSeconds: number;
  now(): number;
}

export interface PurgeResult {
  /** False when another instance held the lock. */
  ran: boolean;
  deleted: number;
}

/** One purge round; exported for the tests and for running it on demand. */
export async function purgeSessions(options: Omit<HousekeepingOptions, "intervalSeconds" | "logger">): Promise<PurgeResult> {
  const cutoff = new Date(options.now() - options.retentionSeconds * 1000);
  const idleCutoff = new Date(cutoff.getTime() - options.idleTtlSeconds * 1000);
  let deleted = 0;
  for (let batch = 0; batch < MAX_BATCHES; batch++) {
    const result = await options.prisma.$transaction(async (tx) => {
      const [lock] = await tx.$queryRaw<Array<{ locked: boolean }>>`SELECT pg_try_advisory_xact_lock(${PURGE_LOCK_KEY}::bigint) AS locked`;
      if (!lock?.locked) return null;
      return tx.$executeRaw`
        DELETE FROM "Session" WHERE id IN (
          SELECT id FROM "Session"
          WHERE "endedAt" < ${cutoff} OR "expiresAt" < ${cutoff} OR "lastUsedAt" < ${idleCutoff}
          LIMIT ${BATCH_SIZE})`;
    });
    if (result === null) return { ran: batch > 0, deleted };
    deleted += result;
    if (result < BATCH_SIZE) break;
  }
  return { ran: true, deleted };
}

export function startHousekeeping(options: HousekeepingOptions): { stop(): Promise<void> } {
  let running: Promise<void> | null = null;
  const round = async () => {
    try {
      const { ran, deleted } = await purgeSessions(options);
      if (ran && deleted > 0) options.logger.info({ deleted, retentionSeconds: options.retentionSeconds }, "purged old sessions");
    } catch (error) {
      // The database may be away; the next round tries again.
      options.logger.warn({ err: error }, "session purge failed");
    }
  };
  const timer = setInterval(() => {
    running ??= round().finally(() => (running = null));
  }, options.intervalSeconds * 1000).unref();
  return {
    async stop() {
      clearInterval(timer);
      await running;
    },
  };
}
