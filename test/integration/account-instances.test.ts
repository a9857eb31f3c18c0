// Password reset and change across instances: a reset on one instance ends every
// session of the user, and another instance refuses their old access tokens within
// the revocation bound — 1 s with Redis, the poll interval without; a change ends
// every session but the caller's, whose token the other instance still accepts.
// Two in-process instances on one PostgreSQL, one SMTP server for both.
import { generateKeyPairSync, randomUUID } from "node:crypto";
import { NEW_PASSWORD, changePassword, requestPasswordReset, resetPassword } from "../helpers/accounts";
import { ME, login, signUp, type Tokens } from "../helpers/auth";
import { createTestDatabase, type TestDatabase } from "../helpers/database";
import { callGraphQL } from "../helpers/http";
import { startTestServer, type TestServer } from "../helpers/server";
import { startTestSmtp, type TestSmtp } from "../helpers/smtp";

jest.setTimeout(60_000);

const POLL_INTERVAL_MS = 1000;
/** A poll's query and a loaded event loop on top of the bound; a missed change waits until giving up (Infinity). */
const SLACK_MS = 1000;
const REDIS_BOUND_MS = 1000;
const GIVE_UP_MS = 10_000;
const JWT_PRIVATE_KEY = generateKeyPairSync("ec", { namedCurve: "P-256" })
  .privateKey.export({ type: "pkcs8", format: "pem" })
  .toString();
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/** Whether `instance` accepts this access token for `me`; anything but a clean answer or UNAUTHENTICATED fails. */
async function accepts(instance: TestServer, tokens: Tokens): Promise<boolean> {
  const response = await callGraphQL(instance.url, ME, { accessToken: tokens.accessToken });
  if (response.body.errors?.some((error) => error.extensions?.code === "UNAUTHENTICATED")) return false;
  expect(response.body.errors).toBeUndefined();
  expect(response.body.data?.me).toMatchObject({ id: tokens.userId });
  return true;
}

/** Milliseconds from `since` until `instance` refuses every one of these tokens, or Infinity after GIVE_UP_MS. */
async function msUntilRefused(instance: TestServer, tokens: Tokens[], since: number): Promise<number> {
  const pending = new Set(tokens);
  for (;;) {
    for (const token of [...pending]) if (!(await accepts(instance, token))) pending.delete(token);
    const elapsed = Date.now() - since;
    if (pending.size === 0) return elapsed;
    if (elapsed > GIVE_UP_MS) return Infinity;
    await sleep(20);
  }
}

let smtp: TestSmtp;
beforeAll(async () => {
  smtp = await startTestSmtp();
});
afterAll(() => smtp?.stop());

// With Redis the poll is an hour away, so only Redis can meet the bound; without,
// the poll interval plus one poll's query and a loaded event loop.
describe.each([
  ["with Redis", true, REDIS_BOUND_MS],
  ["without Redis", false, POLL_INTERVAL_MS + SLACK_MS],
])("%s", (name, withRedis, boundMs) => {
  let database: TestDatabase;
  let a: TestServer;
  let b: TestServer;

  beforeAll(async () => {
    database = await createTestDatabase({ kind: "postgres" });
    const env = {
      JWT_PRIVATE_KEY,
      SMTP_URL: smtp.url,
      MAIL_POLL_INTERVAL: "1",
      ...(withRedis
        ? {
            REDIS_URL: "redis://127.0.0.1:6379",
            REDIS_KEY_PREFIX: `keyway-accounts-${randomUUID()}:`,
            REVOCATION_POLL_INTERVAL: "1h",
          }
        : { REVOCATION_POLL_INTERVAL: `${POLL_INTERVAL_MS / 1000}s` }),
    };
    a = await startTestServer({ database, env });
    b = await startTestServer({ database, env });
    // A Redis that is not there would leave the hour-long poll alone: fail here, not at the bound.
    if (withRedis) for (const instance of [a, b]) expect(await instance.services.redis!.settled()).toBe("up");
  });
  afterAll(async () => {
    await a?.stop();
    await b?.stop();
    await database?.drop();
  });

  it(`resetPassword on one instance: the other refuses every old session's token within ${boundMs} ms`, async () => {
    const first = await signUp(b.url);
    const second = await login(a.url, first.email, first.password);
    for (const tokens of [first, second]) expect(await accepts(b, tokens)).toBe(true);
    expect((await requestPasswordReset(a.url, first.email)).body.data).toEqual({ requestPasswordReset: true });
    const mail = await smtp.waitFor((received) => received.to.includes(first.email) && received.token !== null);
    await sleep(2 * POLL_INTERVAL_MS); // the other instance has polled past the sign-ins

    // Timed from the answer, as the other instance suites time from a logout's: the bound is
    // the spread of an end between instances, not the argon2 run the reset also does.
    const signedIn = await resetPassword(a.url, mail.token!);
    const resetAt = Date.now();
    const ms = await msUntilRefused(b, [first, second], resetAt);
    console.log(`sessions ended by a reset on one instance refused by the other after ${ms} ms (${name})`);
    expect(ms).toBeLessThanOrEqual(boundMs);
    // The session the reset signed in is a new one, and good everywhere.
    expect([first.sessionId, second.sessionId]).not.toContain(signedIn.sessionId);
    expect(await accepts(b, signedIn)).toBe(true);
    await expect(login(b.url, first.email, NEW_PASSWORD)).resolves.toMatchObject({ userId: first.userId });
  });

  it(`changePassword on one instance: the other refuses the other sessions within ${boundMs} ms, and keeps the caller's`, async () => {
    const caller = await signUp(a.url);
    const onB = await login(b.url, caller.email, caller.password);
    const onA = await login(a.url, caller.email, caller.password);
    for (const tokens of [caller, onB, onA]) expect(await accepts(b, tokens)).toBe(true);
    await sleep(2 * POLL_INTERVAL_MS);

    const changed = await changePassword(a.url, caller.accessToken, caller.password);
    const changedAt = Date.now();
    expect(changed.body).toEqual({ data: { changePassword: true } });
    const ms = await msUntilRefused(b, [onB, onA], changedAt);
    console.log(`other sessions ended by a password change refused by the other instance after ${ms} ms (${name})`);
    expect(ms).toBeLessThanOrEqual(boundMs);
    // Past the bound, the caller's own session is still good on both.
    await sleep(Math.max(0, changedAt + boundMs - Date.now()));
    expect(await accepts(b, caller)).toBe(true);
    expect(await accepts(a, caller)).toBe(true);
  });
});
