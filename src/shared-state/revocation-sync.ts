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
  store: Pick<SessionStore, "listEndedFrom">;
  redis: SharedRedis | null;
  channel: string;
  pollIntervalMs: number;
  /** Where polling starts: the horizon of the start-up read of recently ended sessions. */
  horizon: bigint;
  logger: Logger;
}

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

  const poll = async () => {
    const ended = await options.store.listEndedFrom(horizon);
    for (const id of ended.ids) revocations.add(id);
    horizon = ended.horizon;
  };
  const pollOnce = () => {
    polling ??= poll()
      .catch((error: unknown) => logger.warn({ err: error }, "could not poll ended sessions; will retry"))
      .finally(() => (polling = null));
    return polling;
  };
  const timer = setInterval(pollOnce, options.pollIntervalMs);
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
