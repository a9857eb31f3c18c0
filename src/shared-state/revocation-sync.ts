// Spreads ended sessions between instances. With Redis, every ended session id is
// published and every instance adds it to its revocation list within moments.
// Always, as the floor that holds when Redis is absent or down, each instance
// polls the database once per interval for sessions ended since the last poll.
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
  store: Pick<SessionStore, "listEndedSince">;
  redis: SharedRedis | null;
  channel: string;
  pollIntervalMs: number;
  /** Where polling starts: sessions ended before this were loaded at start-up. */
  startAt: Date;
  logger: Logger;
}

/**
 * How far each poll looks back before the newest end it has seen: other instances'
 * clocks may lag, and a transaction may commit a little after the time it wrote.
 */
const POLL_OVERLAP_MS = 5_000;

export function startRevocationSync(options: RevocationSyncOptions): RevocationSync {
  const { revocations, redis, channel, logger } = options;
  let watermark = options.startAt.getTime();
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
    const since = new Date(watermark - POLL_OVERLAP_MS);
    const ended = await options.store.listEndedSince(since);
    for (const session of ended) {
      revocations.add(session.id);
      watermark = Math.max(watermark, session.endedAt.getTime());
    }
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
