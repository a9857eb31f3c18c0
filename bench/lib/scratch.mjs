// A scratch PostgreSQL database and Redis key prefix for a benchmark that runs
// several keyway instances: loopback only, a fresh database per run, dropped after.
import { randomUUID } from "node:crypto";
import Redis from "ioredis";
import pg from "pg";
import { assertLoopback } from "./loopback.mjs";

/** BENCH_DATABASE_URL, TEST_DATABASE_URL or the local server: where scratch databases are made. */
export const adminUrl =
  process.env.BENCH_DATABASE_URL || process.env.TEST_DATABASE_URL || "postgres://postgres@127.0.0.1:5432/postgres";
export const redisUrl = process.env.REDIS_URL || "redis://127.0.0.1:6379";
assertLoopback(adminUrl, "a benchmark's database");
assertLoopback(redisUrl, "a benchmark's Redis");

/** Runs one statement as the admin connection (CREATE/DROP DATABASE). */
export async function admin(sql) {
  const client = new pg.Client({ connectionString: adminUrl, connectionTimeoutMillis: 5000 });
  await client.connect();
  try {
    await client.query(sql);
  } finally {
    await client.end();
  }
}

/** A database name and URL of this run's own, and a Redis prefix no other run shares. */
export function scratch() {
  const name = `keyway_bench_${randomUUID().replace(/-/g, "")}`;
  const redisPrefix = `kwbench-${randomUUID()}:`;
  const url = new URL(adminUrl);
  url.pathname = `/${name}`;
  return {
    name,
    url: url.toString(),
    redisPrefix,
    create: () => admin(`CREATE DATABASE "${name}"`),
    drop: () => admin(`DROP DATABASE IF EXISTS "${name}" WITH (FORCE)`),
    /** Deletes every Redis key under this run's prefix. */
    clearRedis: () => clearRedisPrefix(redisPrefix),
  };
}

async function clearRedisPrefix(prefix) {
  const redis = new Redis(redisUrl, { lazyConnect: true, maxRetriesPerRequest: 1, retryStrategy: () => null });
  redis.on("error", () => undefined);
  try {
    await redis.connect();
    let cursor = "0";
    do {
      const [next, keys] = await redis.scan(cursor, "MATCH", `${prefix}*`, "COUNT", 1000);
      if (keys.length > 0) await redis.del(...keys);
      cursor = next;
    } while (cursor !== "0");
  } finally {
    redis.disconnect();
  }
}
