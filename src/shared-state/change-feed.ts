// Spreads changes between instances: ended sessions (every instance adds them to
// its revocation list) and changed users (every instance drops their cached rows).
// With Redis, each change is published on its stream's channel and every instance
// applies it within moments. Always, as the floor that holds when Redis is absent
// or down, each instance polls the database once per interval for what changed
// since the last poll. "Since" is counted in transactions, not time: an instance's
// clock may lag, and a commit may land long after the moment it stamped, so the
// poll reads from the oldest transaction that was still running at the previous
// one (db/changes.ts).
import type { Logger } from "../logger";
import type { SharedRedis } from "./redis";

export interface ChangeBatch {
  ids: string[];
  /** Where the next poll goes on from. */
  horizon: bigint;
}

export interface ChangeStream {
  /** What changes, for log lines ("ended sessions"). */
  what: string;
  channel: string;
  /** Changes committed by transactions from `horizon` on. */
  listFrom(horizon: bigint): Promise<ChangeBatch>;
  /** Changes at or after `since` by their own time. */
  listSince(since: Date): Promise<ChangeBatch>;
  /** Where polling starts: the horizon of a start-up read, or 0n to begin with every change. */
  horizon: bigint;
  /**
   * Where to read from by time if transaction ids ever go backwards (the database
   * was restored or replaced under running instances): far enough back to cover
   * whatever this process may still hold from before.
   */
  since(): Date;
  /** Makes changes take effect here. Published and polled changes both arrive, so it must be idempotent. */
  apply(ids: string[]): void;
}

export interface ChangeFeed<Stream extends string> {
  /** Tell the other instances; the change has already taken effect here. Sent before `stop` returns. */
  publish(stream: Stream, ids: string[]): void;
  /** One poll of every stream now (the timer calls this too). */
  poll(): Promise<void>;
  stop(): Promise<void>;
}

export interface ChangeFeedOptions<Stream extends string> {
  streams: Record<Stream, ChangeStream>;
  redis: SharedRedis | null;
  pollIntervalMs: number;
  logger: Logger;
}

/** A poll that re-reads this many changes means the horizon is held back by a long transaction. */
const HELD_HORIZON_ROWS = 1000;
const HELD_HORIZON_WARN_MS = 10 * 60_000;

export function startChangeFeed<Stream extends string>(options: ChangeFeedOptions<Stream>): ChangeFeed<Stream> {
  const { redis, logger } = options;
  const streams = Object.values<ChangeStream>(options.streams);
  const pollers = streams.map((stream) => createPoller(stream, logger));
  const sending = new Set<Promise<unknown>>();

  if (redis) {
    const channels = streams.map((stream) => stream.channel);
    const subscribe = () => void redis.subscriber.subscribe(...channels).catch(() => undefined);
    subscribe();
    // Re-subscribe after every reconnect; ioredis does this too, the call is idempotent.
    redis.onStateChange((state) => {
      if (state === "up") subscribe();
    });
    redis.subscriber.on("message", (channel, message) => {
      const stream = streams.find((candidate) => candidate.channel === channel);
      stream?.apply(message.split(",").filter(Boolean));
    });
  }

  const poll = async () => {
    await Promise.all(pollers.map((poller) => poller.poll()));
  };
  const timer = setInterval(() => void poll(), options.pollIntervalMs);
  timer.unref();

  return {
    publish(name, ids) {
      if (!redis || ids.length === 0) return;
      const { channel } = options.streams[name];
      // A process that has just started (the CLI, which changes one thing and exits)
      // has not connected yet: it waits for the first verdict instead of skipping.
      const send = (redis.state() === "up" ? Promise.resolve("up" as const) : redis.settled())
        .then((state) => (state === "up" ? redis.client.publish(channel, ids.join(",")) : undefined))
        .catch(() => undefined);
      sending.add(send);
      void send.finally(() => sending.delete(send));
    },
    poll,
    async stop() {
      clearInterval(timer);
      await Promise.all([...sending, ...pollers.map((poller) => poller.inFlight())]);
      if (redis) await redis.subscriber.unsubscribe(...streams.map((stream) => stream.channel)).catch(() => undefined);
    },
  };
}

/** One stream's poll: at most one in flight, from the horizon the previous one left. */
function createPoller(stream: ChangeStream, logger: Logger) {
  let horizon = stream.horizon;
  let polling: Promise<void> | null = null;
  let warnedAt = 0;
  const poll = async () => {
    let changes = await stream.listFrom(horizon);
    if (changes.horizon < horizon) {
      // A new counter: changes committed there may carry ids below the old horizon.
      logger.warn(
        { previous: String(horizon), now: String(changes.horizon), changes: stream.what },
        `transaction ids went backwards (database restored or replaced?); reading recent ${stream.what} by time once`,
      );
      changes = await stream.listSince(stream.since());
    }
    if (changes.ids.length > 0) stream.apply(changes.ids);
    horizon = changes.horizon;
    if (changes.ids.length >= HELD_HORIZON_ROWS && Date.now() - warnedAt > HELD_HORIZON_WARN_MS) {
      warnedAt = Date.now();
      logger.warn(
        { rows: changes.ids.length, changes: stream.what },
        `each poll re-reads many ${stream.what}: a transaction left open on the database server holds the poll's horizon back`,
      );
    }
  };
  return {
    poll: () =>
      (polling ??= poll()
        .catch((error: unknown) => logger.warn({ err: error }, `could not poll ${stream.what}; will retry`))
        .finally(() => (polling = null))),
    inFlight: () => polling ?? Promise.resolve(),
  };
}
