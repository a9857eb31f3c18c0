// Purging old sessions: what goes (ended, expired or idle beyond the retention
// period), what stays (live sessions, recent ends), and that an instance that
// finds the purge lock taken skips the round.
import { Client } from "pg";
import { LOGOUT, REFRESH_HEADER, refresh, signUp } from "../helpers/auth";
import { createTestDatabase } from "../helpers/database";
import { callGraphQL } from "../helpers/http";
import { startTestServer, TestClock, type TestServer } from "../helpers/server";
import { openDatabase } from "../../src/db/client";
import { migrateDatabase } from "../../src/db/migrate";
import { createPrismaSessionStore } from "../../src/session/session.prisma-store";
import { purgeSessions } from "../../src/session/housekeeping";

const DAY = 86_400;
const start = Date.now();
const clock = new TestClock(start);
let server: TestServer;

beforeAll(async () => {
  server = await startTestServer({
    clock,
    env: { SESSION_RETENTION: "2d", SESSION_IDLE_TTL: "3d", REFRESH_TOKEN_TTL: "10d" },
  });
});
afterAll(() => server.stop());

const purge = () =>
  purgeSessions({
    sessions: server.stores.sessions,
    retentionSeconds: 2 * DAY,
    idleTtlSeconds: 3 * DAY,
    now: clock.now,
  });
const sessionIds = async () =>
  (await server.database.prisma.session.findMany({ select: { id: true } })).map((row) => row.id).sort();

it("keeps live and recently ended sessions, purges those ended, idle or expired beyond the retention", async () => {
  const cookieless = { headers: { [REFRESH_HEADER]: "1" } };
  const loggedOut = await signUp(server.url, undefined, undefined, cookieless);
  await callGraphQL(server.url, LOGOUT, { headers: { [REFRESH_HEADER]: loggedOut.refreshToken } });
  const idle = await signUp(server.url);
  clock.advance(1 * DAY);
  expect(await purge()).toEqual({ ran: true, deleted: 0 }); // the logout is one day old: kept

  clock.advance(1.5 * DAY); // day 2.5
  const active = await signUp(server.url, undefined, undefined, cookieless);
  let refreshToken = active.refreshToken;
  const use = async () =>
    (refreshToken = (await refresh(server.url, { headers: { [REFRESH_HEADER]: refreshToken } })).refreshToken);
  expect(await purge()).toEqual({ ran: true, deleted: 1 }); // ended 2.5 days ago
  expect(await sessionIds()).toEqual([idle.sessionId, active.sessionId].sort());

  // Unused for 3 days a session counts as ended; 2 days after that it goes.
  clock.advance(2.4 * DAY); // day 4.9: idle for 4.9 days
  await use();
  expect(await purge()).toEqual({ ran: true, deleted: 0 });
  clock.advance(0.2 * DAY); // day 5.1
  expect(await purge()).toEqual({ ran: true, deleted: 1 });
  expect(await sessionIds()).toEqual([active.sessionId]);

  // Used until its absolute expiry (day 12.5), then purged 2 days after it, before idleness would.
  for (const day of [6.9, 8.9, 10.9, 12.4]) {
    clock.advance(day * DAY - (clock.now() - start) / 1000);
    await use();
  }
  clock.advance(14.4 * DAY - (clock.now() - start) / 1000);
  expect(await purge()).toEqual({ ran: true, deleted: 0 });
  clock.advance(0.2 * DAY); // day 14.6: expired 2.1 days ago, unused for only 2.2
  expect(await purge()).toEqual({ ran: true, deleted: 1 });
  expect(await sessionIds()).toEqual([]);
});

it("an instance that finds another one purging skips the round (PostgreSQL, as several instances share it)", async () => {
  const database = await createTestDatabase({ kind: "postgres" });
  const db = await openDatabase({ url: database.url, dataDir: database.dataDir });
  const other = new Client({ connectionString: database.url });
  try {
    await migrateDatabase(db);
    const user = await db.prisma.user.create({ data: { email: "old@example.io", passwordHash: "x" } });
    const longAgo = new Date(Date.now() - 100 * DAY * 1000);
    await db.prisma.session.create({
      data: {
        userId: user.id,
        tokenFamily: "f",
        tokenHash: "0".repeat(64),
        expiresAt: longAgo,
        endedAt: longAgo,
        endReason: "LOGOUT",
      },
    });
    const options = {
      sessions: createPrismaSessionStore(db.prisma),
      retentionSeconds: DAY,
      idleTtlSeconds: DAY,
      now: Date.now,
    };

    await other.connect();
    await other.query("SELECT pg_advisory_lock(7152025001)");
    expect(await purgeSessions(options)).toEqual({ ran: false, deleted: 0 });
    expect(await db.prisma.session.count()).toBe(1);

    await other.query("SELECT pg_advisory_unlock(7152025001)");
    expect(await purgeSessions(options)).toEqual({ ran: true, deleted: 1 });
  } finally {
    await other.end();
    await db.close();
    await database.drop();
  }
});
