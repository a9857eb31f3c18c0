// The physical floor for refreshToken: `connections` clients, each rotating its
// own row of a table shaped like Session with one `UPDATE … RETURNING` after
// another, as fast as the database allows. No HTTP, no hashing, no JWT: what
// rotation would cost if keyway added nothing but the compare-and-swap itself.
import { randomBytes, randomUUID } from "node:crypto";
import pg from "pg";

const TABLE = "keyway_bench_refresh_floor";
const CREATE = `CREATE TABLE ${TABLE} (
  id uuid PRIMARY KEY,
  "userId" uuid NOT NULL,
  "tokenFamily" varchar(64) NOT NULL UNIQUE,
  "tokenHash" char(64) NOT NULL,
  "previousTokenHash" char(64),
  "sealedToken" text,
  generation integer NOT NULL DEFAULT 0,
  "rotatedAt" timestamptz(3),
  "createdAt" timestamptz(3) NOT NULL DEFAULT now(),
  "lastUsedAt" timestamptz(3) NOT NULL DEFAULT now(),
  "expiresAt" timestamptz(3) NOT NULL,
  "endedAt" timestamptz(3),
  "userAgent" varchar(512),
  ip varchar(64)
)`;
const ROTATE = `UPDATE ${TABLE} SET "tokenHash" = $3, "previousTokenHash" = "tokenHash", "sealedToken" = $4,
  generation = generation + 1, "rotatedAt" = now(), "lastUsedAt" = now()
  WHERE id = $1 AND generation = $2 AND "endedAt" IS NULL RETURNING id, generation, "expiresAt"`;

const hex = () => randomBytes(32).toString("hex");

async function measure(clients, query, seconds) {
  const rows = await Promise.all(
    clients.map(async (client) => {
      const id = randomUUID();
      await query(
        client,
        `INSERT INTO ${TABLE} (id, "userId", "tokenFamily", "tokenHash", "expiresAt") VALUES ($1, $2, $3, $4, now() + interval '1 day')`,
        [id, randomUUID(), hex(), hex()],
      );
      return { client, id, generation: 0 };
    }),
  );
  const latencies = [];
  const deadline = performance.now() + seconds * 1000;
  let failures = 0;
  await Promise.all(
    rows.map(async (row) => {
      while (performance.now() < deadline) {
        const started = performance.now();
        const result = await query(row.client, ROTATE, [row.id, row.generation, hex(), hex()]);
        if (result.rows.length !== 1) failures++;
        else row.generation = result.rows[0].generation;
        latencies.push(performance.now() - started);
      }
    }),
  );
  latencies.sort((a, b) => a - b);
  return {
    requestsPerSecond: latencies.length / seconds,
    completed: latencies.length,
    p99: latencies[Math.floor(latencies.length * 0.99)],
    failures,
  };
}

/** PostgreSQL: one connection per client, the table created for this run and dropped after it. */
export async function postgresFloor(databaseUrl, connections, seconds) {
  const clients = [];
  for (let i = 0; i < connections; i++) {
    const client = new pg.Client({ connectionString: databaseUrl });
    await client.connect();
    clients.push(client);
  }
  await clients[0].query(CREATE);
  try {
    return await measure(clients, (client, sql, values) => client.query(sql, values), seconds);
  } finally {
    await clients[0].query(`DROP TABLE ${TABLE}`);
    await Promise.all(clients.map((client) => client.end()));
  }
}

/** PGlite: one database on disk in this process, shared by all clients as keyway's own PGlite is. */
export async function pgliteFloor(dataDir, connections, seconds) {
  const { PGlite } = await import("@electric-sql/pglite");
  const db = await PGlite.create(dataDir);
  await db.exec(CREATE);
  try {
    return await measure(
      Array.from({ length: connections }, () => db),
      (client, sql, values) => client.query(sql, values),
      seconds,
    );
  } finally {
    await db.close();
  }
}
