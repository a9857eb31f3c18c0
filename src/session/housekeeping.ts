// Purges sessions that ended, expired, or went idle longer ago than the
// retention period. Every instance runs the timer; the store's lock lets exactly
// one of them work at a time, and the others skip that round instead of waiting
// or deleting the same rows twice.
import type { Logger } from "../logger";
import type { PurgeResult, SessionStore } from "./session.store";

/** Rows per DELETE, so one purge never holds many row locks or one long transaction. */
const BATCH_SIZE = 1000;
/** Rounds per purge; the rest waits for the next interval. */
const MAX_BATCHES = 50;

export interface HousekeepingOptions {
  sessions: Pick<SessionStore, "purge">;
  /** Login and passkey challenges, deleted once used or expired: nothing ever reads them again. */
  challenges?: Array<{ purgeChallenges(before: Date): Promise<number> }>;
  logger: Logger;
  retentionSeconds: number;
  idleTtlSeconds: number;
  intervalSeconds: number;
  now(): number;
}

/** One purge round; exported for the tests and for running it on demand. */
export function purgeSessions(options: Omit<HousekeepingOptions, "intervalSeconds" | "logger">): Promise<PurgeResult> {
  const cutoff = new Date(options.now() - options.retentionSeconds * 1000);
  const usedBefore = new Date(cutoff.getTime() - options.idleTtlSeconds * 1000);
  return options.sessions.purge(
    { endedBefore: cutoff, expiredBefore: cutoff, usedBefore },
    { size: BATCH_SIZE, maxBatches: MAX_BATCHES },
  );
}

export function startHousekeeping(options: HousekeepingOptions): { stop(): Promise<void> } {
  let running: Promise<void> | null = null;
  const round = async () => {
    try {
      const { ran, deleted } = await purgeSessions(options);
      if (ran && deleted > 0)
        options.logger.info({ deleted, retentionSeconds: options.retentionSeconds }, "purged old sessions");
      for (const store of options.challenges ?? []) await store.purgeChallenges(new Date(options.now()));
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
