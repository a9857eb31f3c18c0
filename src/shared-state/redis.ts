// The optional Redis connection shared by instances. Redis trouble is never an
// outage: commands fail fast while it is down (no offline queue), callers fall
// back to in-process state, and every up/down change is logged once.
import Redis from "ioredis";
import type { Logger } from "../logger";

export type RedisState = "up" | "down";

export interface SharedRedis {
  /** Commands (rate limits, publishing). */
  client: Redis;
  /** A second connection: a subscribed connection can run no other commands. */
  subscriber: Redis;
  state(): RedisState;
  /** The first verdict: "up" once connected, "down" if the first connection does not come (1.5 s). */
  settled(): Promise<RedisState>;
  onStateChange(listener: (state: RedisState) => void): void;
  close(): Promise<void>;
}

export interface SharedRedisOptions {
  url: string;
  logger: Logger;
  /** How long a command may wait before it counts as failed. */
  commandTimeoutMs?: number;
}

/** A connection can be open yet hung (a stopped server, a black-holed network): probe it. */
const PROBE_INTERVAL_MS = 1000;
const PROBE_FAILURES_FOR_DOWN = 2;

export function connectRedis(options: SharedRedisOptions): SharedRedis {
  const connect = () =>
    new Redis(options.url, {
      enableOfflineQueue: false,
      maxRetriesPerRequest: 0,
      commandTimeout: options.commandTimeoutMs ?? 250,
      connectTimeout: 1000,
      lazyConnect: false,
      // Keep trying forever, but never faster than every 500 ms nor slower than 2 s.
      retryStrategy: (attempt) => Math.min(500 * attempt, 2000),
    });
  const client = connect();
  const subscriber = connect();
  let current: RedisState = "down";
  let announced: RedisState | null = null;
  const listeners: Array<(state: RedisState) => void> = [];
  let settle!: (state: RedisState) => void;
  const settled = new Promise<RedisState>((resolve) => (settle = resolve));
  let probeFailures = 0;
  const update = () => {
    const connected = client.status === "ready" && subscriber.status === "ready";
    const next: RedisState = connected && probeFailures < PROBE_FAILURES_FOR_DOWN ? "up" : "down";
    if (next === current && announced !== null) return;
    current = next;
    if (announced === null && next === "down") return; // say nothing until the first connect settles
    announced = next;
    settle(next);
    if (next === "up") options.logger.info("redis is up: limits and revocations are shared");
    else options.logger.warn("redis is down: using in-process limits and database-polled revocations");
    for (const listener of listeners) listener(next);
  };
  for (const connection of [client, subscriber]) {
    connection.on("ready", update);
    connection.on("end", update);
    connection.on("close", update);
    // ioredis emits "error" on every failed attempt; the state change above is the one log line.
    connection.on("error", () => update());
  }
  const probe = setInterval(() => {
    if (client.status !== "ready") return;
    client.ping().then(
      () => {
        probeFailures = 0;
        update();
      },
      () => {
        probeFailures++;
        update();
      },
    );
  }, PROBE_INTERVAL_MS);
  probe.unref();
  // If the first connection never succeeds, still announce "down" once.
  const firstVerdict = setTimeout(() => {
    if (announced === null) {
      announced = "down";
      settle("down");
      options.logger.warn("redis is not reachable: using in-process limits and database-polled revocations");
      for (const listener of listeners) listener("down");
    }
  }, 1500);
  firstVerdict.unref();

  return {
    client,
    subscriber,
    state: () => current,
    settled: () => settled,
    onStateChange: (listener) => listeners.push(listener),
    async close() {
      clearTimeout(firstVerdict);
      clearInterval(probe);
      settle("down");
      client.disconnect();
      subscriber.disconnect();
    },
  };
}
