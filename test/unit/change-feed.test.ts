// The change feed's bookkeeping, against stores whose answers the test writes, and
// its publishing over the machine's Redis (127.0.0.1:6379, under a prefix of its own).
import { randomUUID } from "node:crypto";
import Redis from "ioredis";
import type { Logger } from "../../src/logger";
import { createRevocationList } from "../../src/session/revocation-list";
import { startChangeFeed, type ChangeBatch, type ChangeStream } from "../../src/shared-state/change-feed";
import { connectRedis, type SharedRedis } from "../../src/shared-state/redis";

const REDIS_URL = "redis://127.0.0.1:6379";

function recordingLogger() {
  const warnings: string[] = [];
  const logger = {
    warn: (_fields: unknown, message: string) => warnings.push(message),
    info: () => undefined,
  } as unknown as Logger;
  return { logger, warnings };
}

/** A stream whose reads answer from `answers` in turn (then an empty batch at the last horizon) and that records what it is asked and told. */
function scriptedStream(what: string, horizon: bigint, answers: ChangeBatch[], since = new Date(0)) {
  const asked: string[] = [];
  const applied: string[] = [];
  let last = horizon;
  const stream: ChangeStream = {
    what,
    channel: `${what}-channel`,
    horizon,
    listFrom: async (from) => {
      asked.push(`from ${from}`);
      const answer = answers.shift() ?? { ids: [], horizon: last };
      last = answer.horizon;
      return answer;
    },
    listSince: async (from) => (asked.push(`since ${from.toISOString()}`), { ids: ["by-time"], horizon: 9n }),
    since: () => since,
    apply: (ids) => applied.push(...ids),
  };
  return { stream, asked, applied };
}

/** A feed without Redis whose timer never fires in a test: it polls when the test says. */
function pollOnDemand(streams: Record<string, ChangeStream>) {
  const { logger, warnings } = recordingLogger();
  const feed = startChangeFeed({ streams, redis: null, pollIntervalMs: 3_600_000, logger });
  return { feed, warnings };
}

describe("change feed polls", () => {
  it("reads from each poll's horizon, and by time once when transaction ids go backwards (a restored database)", async () => {
    const since = new Date("2026-01-01T00:00:00Z");
    const sessions = scriptedStream(
      "ended sessions",
      100n,
      [
        { ids: ["a"], horizon: 120n },
        { ids: [], horizon: 7n }, // the database was replaced: its counter is far behind
        { ids: [], horizon: 11n },
      ],
      since,
    );
    const { feed, warnings } = pollOnDemand({ sessions: sessions.stream });
    for (let i = 0; i < 3; i++) await feed.poll();
    await feed.stop();
    expect(sessions.asked).toEqual(["from 100", "from 120", `since ${since.toISOString()}`, "from 9"]);
    expect(sessions.applied).toEqual(["a", "by-time"]);
    expect(warnings).toEqual([expect.stringContaining("went backwards")]);
  });

  it("keeps a horizon per stream, applies each stream's changes to its own target, and one failing stream stops no other", async () => {
    const revocations = createRevocationList({ retentionMs: 60_000, now: Date.now });
    const forgotten: string[] = [];
    const sessions = scriptedStream("ended sessions", 50n, [
      { ids: ["s1"], horizon: 60n },
      { ids: ["s2"], horizon: 70n },
    ]);
    const users = scriptedStream("changed users", 500n, [
      { ids: ["u1"], horizon: 510n },
      { ids: [], horizon: 520n },
    ]);
    sessions.stream.apply = (ids) => ids.forEach((id) => revocations.add(id));
    users.stream.apply = (ids) => forgotten.push(...ids);
    let failNext = false;
    const scripted = { ...users.stream };
    users.stream.listFrom = (horizon) => {
      if (!failNext) return scripted.listFrom(horizon);
      failNext = false;
      users.asked.push(`from ${horizon}`);
      return Promise.reject(new Error("database down"));
    };
    const { feed, warnings } = pollOnDemand({ sessions: sessions.stream, users: users.stream });
    await feed.poll();
    failNext = true;
    await feed.poll(); // users fail this once; sessions go on
    await feed.poll();
    await feed.stop();
    expect(sessions.asked).toEqual(["from 50", "from 60", "from 70"]);
    expect(users.asked).toEqual(["from 500", "from 510", "from 510"]); // retried from where it was
    expect([revocations.has("s1"), revocations.has("s2"), revocations.has("u1")]).toEqual([true, true, false]);
    expect(forgotten).toEqual(["u1"]);
    expect(warnings).toEqual(["could not poll changed users; will retry"]);
  });

  it("warns, now and then, when every poll re-reads many changes (a long transaction holds the horizon)", async () => {
    const many = Array.from({ length: 1500 }, (_, i) => `s${i}`);
    const held = scriptedStream("ended sessions", 50n, []);
    held.stream.listFrom = async () => ({ ids: many, horizon: 50n });
    const { feed, warnings } = pollOnDemand({ sessions: held.stream });
    for (let i = 0; i < 3; i++) await feed.poll();
    await feed.stop();
    expect(warnings.filter((message) => message.includes("holds the poll's horizon back"))).toHaveLength(1);
    expect(held.applied).toHaveLength(4500);
  });
});

describe("change feed over Redis", () => {
  const prefix = `kwtest-feed-${randomUUID()}:`;
  const opened: SharedRedis[] = [];
  const open = () => {
    const redis = connectRedis({ url: REDIS_URL, logger: recordingLogger().logger });
    opened.push(redis);
    return redis;
  };
  afterAll(() => Promise.all(opened.map((redis) => redis.close())));

  /** A feed whose streams only record what they are told (its polls find nothing). */
  function recordingFeed(redis: SharedRedis) {
    const told: Record<"sessions" | "users", string[]> = { sessions: [], users: [] };
    const stream = (name: "sessions" | "users"): ChangeStream => ({
      what: name,
      channel: `${prefix}${name}`,
      horizon: 0n,
      listFrom: async () => ({ ids: [], horizon: 0n }),
      listSince: async () => ({ ids: [], horizon: 0n }),
      since: () => new Date(),
      apply: (ids) => told[name].push(...ids),
    });
    const feed = startChangeFeed({
      streams: { sessions: stream("sessions"), users: stream("users") },
      redis,
      pollIntervalMs: 3_600_000,
      logger: recordingLogger().logger,
    });
    return { feed, told };
  }

  it("delivers each stream on its own channel, and a publish made before the connection settled (the CLI) before stop returns", async () => {
    const listening = open();
    const { feed: listener, told } = recordingFeed(listening);
    expect(await listening.settled()).toBe("up");
    // The subscription is asked for at start; wait until Redis has it.
    const probe = new Redis(REDIS_URL);
    try {
      for (let tries = 0; ; tries++) {
        const counts = (await probe.pubsub("NUMSUB", `${prefix}users`, `${prefix}sessions`)) as Array<string | number>;
        if (counts[1] === 1 && counts[3] === 1) break;
        if (tries > 100) throw new Error("the listener never subscribed");
        await new Promise((resolve) => setTimeout(resolve, 20));
      }
    } finally {
      probe.disconnect();
    }

    const publishing = open();
    const { feed: cli } = recordingFeed(publishing);
    expect(publishing.state()).toBe("down"); // not connected yet: a naive publish would be dropped
    cli.publish("users", ["u1", "u2"]);
    cli.publish("sessions", ["s1"]);
    cli.publish("users", []);
    await cli.stop();
    for (let tries = 0; told.users.length < 2 || told.sessions.length < 1; tries++) {
      if (tries > 100) break;
      await new Promise((resolve) => setTimeout(resolve, 20));
    }
    await listener.stop();
    expect(told).toEqual({ users: ["u1", "u2"], sessions: ["s1"] });
  });

  it("gives up on a Redis that never answers, without holding stop for longer than the first verdict", async () => {
    const unreachable = connectRedis({ url: "redis://127.0.0.1:1", logger: recordingLogger().logger });
    opened.push(unreachable);
    const { feed } = recordingFeed(unreachable);
    feed.publish("users", ["u1"]);
    const startedAt = Date.now();
    await feed.stop();
    expect(await unreachable.settled()).toBe("down");
    expect(Date.now() - startedAt).toBeLessThan(5_000);
  });
});
