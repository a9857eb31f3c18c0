// DATABASE_POOL_SIZE bounds the connections one keyway process opens to PostgreSQL,
// however many requests want one at once. Counted from PostgreSQL's own view
// (pg_stat_activity) while every request's statement is held waiting on a lock.
import pg from "pg";
import { login, refresh, signUp, uniqueEmail, type Tokens } from "../helpers/auth";
import { createTestDatabase, type TestDatabase } from "../helpers/database";
import { startTestServer, type TestServer } from "../helpers/server";

jest.setTimeout(60_000);

const BURST = 24;
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

let database: TestDatabase;

beforeAll(async () => {
  database = await createTestDatabase({ kind: "postgres" });
});
afterAll(async () => {
  await database?.drop();
});

/** Connections to this test's database other than `client`'s own. */
async function openConnections(client: pg.Client): Promise<number> {
  const { rows } = await client.query<{ count: string }>(
    "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() AND pid <> pg_backend_pid()",
  );
  return Number(rows[0].count);
}

/**
 * Starts keyway with this pool size and sends BURST rotations at once while another
 * connection holds the sessions' rows locked, so every rotation keeps its connection
 * busy: the pool opens all it may, and the rest wait for one. Returns the count seen then.
 */
async function connectionsUnderBurst(poolSize: string): Promise<number> {
  const server: TestServer = await startTestServer({ database, env: { DATABASE_POOL_SIZE: poolSize } });
  const locker = new pg.Client({ connectionString: database.url });
  await locker.connect();
  try {
    expect(server.config.databasePoolSize).toBe(Number(poolSize));
    const account = await signUp(server.url, uniqueEmail("pool"));
    const sessions: Tokens[] = [];
    for (let i = 0; i < BURST; i++) sessions.push(await login(server.url, account.email));
    await locker.query("BEGIN");
    await locker.query('SELECT id FROM "Session" WHERE "userId" = $1 FOR UPDATE', [account.userId]);
    const rotating = Promise.all(
      sessions.map((session) => refresh(server.url, { headers: { "x-refresh-token": session.refreshToken } })),
    );
    await sleep(700); // well inside the pool's 2 s wait for a connection
    const count = await openConnections(locker);
    await locker.query("COMMIT");
    const rotated = await rotating;
    expect(new Set(rotated.map((tokens) => tokens.refreshToken)).size).toBe(BURST);
    return count;
  } finally {
    await locker.end();
    await server.stop();
  }
}

it("opens at most DATABASE_POOL_SIZE connections (plus the readiness probe's one) however many requests wait", async () => {
  const small = await connectionsUnderBurst("2");
  // The contrast shows the count can see a larger pool: the same burst with room for 12.
  const large = await connectionsUnderBurst("12");
  console.log(`connections open with ${BURST} rotations waiting: pool of 2 → ${small}, pool of 12 → ${large}`);
  expect(small).toBeGreaterThanOrEqual(1);
  expect(small).toBeLessThanOrEqual(2 + 1);
  expect(large).toBeGreaterThanOrEqual(12);
  expect(large).toBeLessThanOrEqual(12 + 1);
});
