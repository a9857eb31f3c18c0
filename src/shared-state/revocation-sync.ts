// Spreads ended sessions between instances. With Redis, every ended session id is
// published and every instance adds it to its revocation list within moments.
// Always, as the floor that holds when Redis is absent or down, each instance
// polls the database once per interval for sessions ended since the last poll.
// "Since" is counted in transactions, not time: an instance's clock may lag, and
// a commit may land long after the moment it stamped, so the poll reads from the
// oldest transaction that was still running at the previous one (EndedSessions).
import type { Logger } from "../logger";
import type { RevocationList } from "../session/revocation-list";
import type { SessionStore } from "../session/session.store";
import type { SharedRedis } from "./redis";

export interface RevocationSync {
  /** Tell the other instances; local revocation has already happened. */
  publish(sessionIds: string[]): void;
  /** One poll now (the timer calls this too). */
  poll(): Promise<void>;
  stop(): Promise<void>;
}

export interface RevocationSyncOptions {
  revocations: RevocationList;
  store: Pick<SessionStore, "listEndedFrom" | "listEndedSince">;
  redis: SharedRedis | null;
  channel: string;
  pollIntervalMs: number;
  /** Where polling starts: the horizon of the start-up read of recently ended sessions. */
  horizon: bigint;
  /**
   * Where to read from, by `endedAt`, if transaction ids ever go backwards (the
   * database was restored or replaced under running instances): the start of the
   * start-up window, relative to now.
   */
  endedSince(): Date;
  logger: Logger;
}

/** A poll that re-reads this many ends means the horizon is held back by a long transaction. */
const HELD_HORIZON_ROWS = 1000;
const HELD_HORIZON_WARN_MS = 10 * 60_000;

export function startRevocationSync(options: RevocationSyncOptions): RevocationSync {
  const { revocations, redis, channel, logger } = options;
  let horizon = options.horizon;
  let polling: Promise<void> | null = null;

  if (redis) {
    void redis.subscriber.subscribe(channel).catch(() => undefined);
    // Re-subscribe after every reconnect; ioredis does this too, the call is idempotent.
    redis.onStateChange((state) => {
      if (state === "up") void redis.subscriber.subscribe(channel).catch(() => undefined);
    });
    redis.subscriber.on("message", (from, message) => {
      if (from !== channel) return;
      for (const id of message.split(",")) if (id) revocations.add(id);
    });
  }

  let warnedAt = 0;
  const poll = async () => {
    let ended = await options.store.listEndedFrom(horizon);
    if (ended.horizon < horizon) {
      // A new counter: ends committed there may carry ids below the old horizon.
      logger.warn(
        { previous: String(horizon), now: String(ended.horizon) },
        "transaction ids went backwards (database restored or replaced?); reading recent ends by time once",
      );
      ended = await options.store.listEndedSince(options.endedSince());
    }
    for (const id of ended.ids) revocations.add(id);
    horizon = ended.horizon;
    if (ended.ids.length >= HELD_HORIZON_ROWS && Date.now() - warnedAt > HELD_HORIZON_WARN_MS) {
      warnedAt = Date.now();
      logger.warn(
        { rows: ended.ids.length },
        "each revocation poll re-reads many ended sessions: a transaction left open on the database server holds the poll's horizon back",
      );
    }
  };
  const pollOnce = () => {
    polling ??= poll()
      .catch((error: unknown) => logger.warn({ err: error }, "could not poll ended sessions; will retry"))
      .finally(() => (polling = null));
    return polling;
  };
  const timer = setInterval(() => void pollOnce(), options.pollIntervalMs);
  timer.unref();

  return {
    publish(sessionIds) {
      if (!redis || redis.state() !== "up" || sessionIds.length === 0) return;
      redis.client.publish(channel, sessionIds.join(",")).catch(() => undefined);
    },
    poll: pollOnce,
    async stop() {
      clearInterval(timer);
      await polling;
      if (redis) await redis.subscriber.unsubscribe(channel).catch(() => undefined);
    },
  };
}
