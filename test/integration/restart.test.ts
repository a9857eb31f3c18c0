// What a restart must not forget: sessions ended before it stay refused for as long
// as any of their access tokens could be accepted — also when ACCESS_TOKEN_TTL was
// lowered across the restart, which shortens the look-back of the rebuilt
// revocation list while tokens signed under the old TTL are still unexpired.
import { generateKeyPairSync } from "node:crypto";
import { LOGOUT, ME, signUp, uniqueEmail } from "../helpers/auth";
import { createTestDatabase, type TestDatabase } from "../helpers/database";
import { callGraphQL, errorOf } from "../helpers/http";
import { startTestServer, TestClock } from "../helpers/server";

jest.setTimeout(60_000);

const JWT_PRIVATE_KEY = generateKeyPairSync("ec", { namedCurve: "P-256" })
  .privateKey.export({ type: "pkcs8", format: "pem" })
  .toString();
let database: TestDatabase;

beforeAll(async () => {
  database = await createTestDatabase();
});
afterAll(() => database?.drop());

it("refuses a token of a session ended before a restart that lowered ACCESS_TOKEN_TTL from 15m to 1m", async () => {
  const clock = new TestClock();
  const before = await startTestServer({ database, clock, env: { JWT_PRIVATE_KEY, ACCESS_TOKEN_TTL: "15m" } });
  const ended = await signUp(before.url, uniqueEmail("ended"));
  const live = await signUp(before.url, uniqueEmail("live"));
  expect(errorOf(await callGraphQL(before.url, LOGOUT, { cookie: ended.cookie }))).toBeUndefined();
  await before.stop();

  // Past the rebuilt list's look-back (1 min + 5 min for clock skew), well inside the old 15 min.
  clock.advance(420);
  const after = await startTestServer({ database, clock, env: { JWT_PRIVATE_KEY, ACCESS_TOKEN_TTL: "1m" } });
  try {
    // Signed with 15 minutes to live, 7 minutes ago: past the 1 minute that counts now.
    const endedAnswer = errorOf(await callGraphQL(after.url, ME, { accessToken: ended.accessToken }));
    expect(endedAnswer?.code).toBe("UNAUTHENTICATED");
    expect(["SESSION_ENDED", "TOKEN_EXPIRED"]).toContain(endedAnswer?.reason);
    // A live session's old token ends on the new schedule too; its client refreshes as after any expiry.
    expect(errorOf(await callGraphQL(after.url, ME, { accessToken: live.accessToken }))).toEqual({
      code: "UNAUTHENTICATED",
      reason: "TOKEN_EXPIRED",
    });
    const fresh = await signUp(after.url, uniqueEmail("fresh"));
    expect((await callGraphQL(after.url, ME, { accessToken: fresh.accessToken })).body.data?.me).toBeTruthy();
  } finally {
    await after.stop();
  }
});

it("keeps refusing, after a restart, a session that ended while its token still had time", async () => {
  const clock = new TestClock();
  const before = await startTestServer({ database, clock, env: { JWT_PRIVATE_KEY, ACCESS_TOKEN_TTL: "15m" } });
  const ended = await signUp(before.url, uniqueEmail("ended-same-ttl"));
  expect(errorOf(await callGraphQL(before.url, LOGOUT, { cookie: ended.cookie }))).toBeUndefined();
  await before.stop();
  clock.advance(600);
  const after = await startTestServer({ database, clock, env: { JWT_PRIVATE_KEY, ACCESS_TOKEN_TTL: "15m" } });
  try {
    expect(errorOf(await callGraphQL(after.url, ME, { accessToken: ended.accessToken }))).toEqual({
      code: "UNAUTHENTICATED",
      reason: "SESSION_ENDED",
    });
  } finally {
    await after.stop();
  }
});
