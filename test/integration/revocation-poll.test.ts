// Without Redis, instances learn of sessions ended elsewhere by polling the
// database. The poll must miss no end, whatever the ending instance's clock said
// and however late its commit landed: it reads by transaction, not by time.
// Two in-process instances on one PostgreSQL, one with its clock 30 s behind.
import { generateKeyPairSync } from "node:crypto";
import { createPrismaSessionStore } from "../../src/session/session.prisma-store";
import { LOGOUT, ME, signUp, uniqueEmail, type Account } from "../helpers/auth";
import { createTestDatabase, type TestDatabase } from "../helpers/database";
import { callGraphQL, errorOf } from "../helpers/http";
import { startTestServer, TestClock, type TestServer } from "../helpers/server";

jest.setTimeout(60_000);

const POLL_INTERVAL_MS = 1000;
/** One poll's query and a loaded event loop on top of the interval; a missed end waits forever (Infinity). */
const SLACK_MS = 1000;
const JWT_PRIVATE_KEY = generateKeyPairSync("ec", { namedCurve: "P-256" })
  .privateKey.export({ type: "pkcs8", format: "pem" })
  .toString();
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

let database: TestDatabase;
let behind: TestServer;
let onTime: TestServer;

beforeAll(async () => {
  database = await createTestDatabase({ kind: "postgres" });
  const env = { JWT_PRIVATE_KEY, REVOCATION_POLL_INTERVAL: `${POLL_INTERVAL_MS / 1000}s` };
  // Tokens it signs are 30 s older than they are; the instances' clocks agree otherwise.
  behind = await startTestServer({ database, env, clock: new TestClock(Date.now() - 30_000) });
  onTime = await startTestServer({ database, env });
});
afterAll(async () => {
  await behind?.stop();
  await onTime?.stop();
  await database?.drop();
});

/** Milliseconds from `since` until `me` with this token is refused as SESSION_ENDED on `server`, or Infinity after `giveUpMs`. */
async function msUntilRefused(server: TestServer, account: Account, since: number, giveUpMs: number): Promise<number> {
  for (;;) {
    const response = await callGraphQL(server.url, ME, { accessToken: account.accessToken });
    const elapsed = Date.now() - since;
    if (errorOf(response)?.reason === "SESSION_ENDED") return elapsed;
    expect(response.body.data?.me).toBeTruthy();
    if (elapsed > giveUpMs) return Infinity;
    await sleep(25);
  }
}

it("sees a logout on an instance whose clock is 30 s behind within one poll interval", async () => {
  const account = await signUp(onTime.url, uniqueEmail("skewed"));
  await sleep(2 * POLL_INTERVAL_MS); // the on-time instance has polled past the sign-up
  const loggedOutAt = Date.now();
  expect(errorOf(await callGraphQL(behind.url, LOGOUT, { cookie: account.cookie }))).toBeUndefined();
  const ms = await msUntilRefused(onTime, account, loggedOutAt, 10_000);
  console.log(`logout on the instance 30 s behind refused on the other after ${ms} ms`);
  expect(ms).toBeLessThanOrEqual(POLL_INTERVAL_MS + SLACK_MS);
});

it("sees an end whose commit was held back past any look-back, within one poll interval of the commit", async () => {
  const held = await signUp(onTime.url, uniqueEmail("held"));
  const later = await signUp(onTime.url, uniqueEmail("later"));
  // The end is stamped a minute back (past any look-back a clock-based poll could afford)
  // and commits only when the test lets it, seconds later, as a slow commit (pool wait,
  // query timeout) or a slow clock would. The test holds the commit itself rather than
  // racing a timer, so a slow machine cannot commit it before the checks below.
  let releaseCommit = () => {};
  const commitReleased = new Promise<void>((resolve) => (releaseCommit = resolve));
  let endStamped = () => {};
  const stamped = new Promise<void>((resolve) => (endStamped = resolve));
  const slowCommit = behind.database.prisma.$transaction(
    async (tx) => {
      await createPrismaSessionStore(tx as unknown as Parameters<typeof createPrismaSessionStore>[0]).end(
        held.sessionId,
        "REVOKED",
        new Date(Date.now() - 60_000),
      );
      endStamped();
      await commitReleased;
    },
    { timeout: 30_000 },
  );
  try {
    await Promise.race([stamped, slowCommit]); // the held end is written (uncommitted) before the later one
    await sleep(6000);
    // Meanwhile another session ends and is seen, so a poll that went by the newest end it saw would now look past the held one.
    expect(errorOf(await callGraphQL(onTime.url, LOGOUT, { cookie: later.cookie }))).toBeUndefined();
    await sleep(2 * POLL_INTERVAL_MS);
    expect((await callGraphQL(onTime.url, ME, { accessToken: held.accessToken })).body.data?.me).toBeTruthy();
  } finally {
    releaseCommit();
  }
  await slowCommit;
  const committedAt = Date.now();
  const ms = await msUntilRefused(onTime, held, committedAt, 10_000);
  console.log(`an end committed seconds after its statement (stamped a minute back) refused ${ms} ms after the commit`);
  expect(ms).toBeLessThanOrEqual(POLL_INTERVAL_MS + SLACK_MS);
});
