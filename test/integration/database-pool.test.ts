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

/** Client connections to this test's database other than `client`'s own, and how many of them wait on a lock. */
async function openConnections(client: pg.Client): Promise<{ open: number; waiting: number }> {
  // The client is inside its transaction, where PostgreSQL keeps the first view of the statistics.
  await client.query("SELECT pg_stat_clear_snapshot()");
  const { rows } = await client.query<{ open: string; waiting: string }>(
    `SELECT count(*) AS open, count(*) FILTER (WHERE wait_event_type = 'Lock') AS waiting FROM pg_stat_activity
     WHERE datname = current_database() AND backend_type = 'client backend' AND pid <> pg_backend_pid()`,
  );
  return { open: Number(rows[0].open), waiting: Number(rows[0].waiting) };
}

/**
 * Starts keyway with this pool size and sends BURST rotations at once while another
 * connection holds the sessions' rows locked, so every rotation keeps its connection
 * busy: the pool opens all it may, and the rest wait for one. Returns the count seen then.
 */
async function connectionsUnderBurst(poolSize: string): Promise<{ open: number; waiting: number }> {
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
    // Until the pool stops growing: every connection it may open holds a rotation waiting on
    // the lock. Well inside the pool's 2 s wait for a connection, which the rest are in.
    let count = await openConnections(locker);
    for (const deadline = Date.now() + 1500; count.waiting < Number(poolSize) && Date.now() < deadline;) {
      await sleep(50);
      count = await openConnections(locker);
    }
    await sleep(200);
    count = await openConnections(locker);
    await locker.query("COMMIT");
    const rotated = await rotating;
    expect(new Set(rotated.map((tokens) => tokens.refreshToken)).size).toBe(BURST);
    return count;
  } finally {
    await locker.end();
    await server.stop();
  }
}

it("opens exactly DATABASE_POOL_SIZE connections when more requests than that wait for one", async () => {
  const small = await connectionsUnderBurst("2");
  // The contrast shows the count can see a larger pool: the same burst with room for 12.
  const large = await connectionsUnderBurst("12");
  console.log(
    `connections with ${BURST} rotations waiting: pool of 2 → ${JSON.stringify(small)}, pool of 12 → ${JSON.stringify(large)}`,
  );
  // Every connection keyway opened is one its pool holds on the lock: nothing else of keyway's connects.
  expect(small).toEqual({ open: 2, waiting: 2 });
  expect(large).toEqual({ open: 12, waiting: 12 });
});
