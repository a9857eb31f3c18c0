// Accounts under attack: login tells an unknown email from a wrong password by
// nothing — status, body, headers or (measured) time — and the throttles refuse at
// their limit with a retryAfter that is honest. auth.limits.test.ts covers the limits'
// counting rules; this file adds each limit alone, and its window ending.
import { performance } from "node:perf_hooks";
import { LOGIN, REFRESH_TOKEN, SIGN_UP, login, refresh, signUp, uniqueEmail } from "../helpers/auth";
import { callGraphQL, errorOf, type GraphQLResponse } from "../helpers/http";
import { startTestServer, type TestServer } from "../helpers/server";
import { compareTimings } from "../helpers/timing";

const WRONG_PASSWORD = "not the right password";
const callLogin = (url: string, email: string, password: string, headers: Record<string, string> = {}) =>
  callGraphQL(url, LOGIN, { variables: { input: { email, password } }, headers });

/** Everything a client can observe of a response, minus what differs between any two responses. */
const observable = (response: GraphQLResponse) => ({
  status: response.status,
  body: response.body,
  setCookies: response.setCookies,
  headers: [...response.headers.keys()].filter((name) => name !== "date").sort(),
});

describe("no user enumeration", () => {
  let server: TestServer;
  beforeAll(async () => {
    server = await startTestServer({ env: { LOGIN_ATTEMPTS_LIMIT: "100000/15m", AUTH_IP_LIMIT: "100000/1m" } });
  });
  afterAll(() => server?.stop());

  it("answers an unknown email exactly as a wrong password", async () => {
    const account = await signUp(server.url);
    const unknown = await callLogin(server.url, uniqueEmail("nobody"), WRONG_PASSWORD);
    const wrong = await callLogin(server.url, account.email, WRONG_PASSWORD);
    expect(errorOf(wrong)).toEqual({ code: "UNAUTHENTICATED", reason: "INVALID_CREDENTIALS" });
    expect(observable(unknown)).toEqual(observable(wrong));
    // Same for the email's other spellings, which name the same account.
    expect(observable(await callLogin(server.url, ` ${account.email.toUpperCase()} `, WRONG_PASSWORD))).toEqual(
      observable(wrong),
    );
  });

  it("differs only where API.md says: signUp of an existing email is CONFLICT, and says no more", async () => {
    const account = await signUp(server.url);
    const taken = await callGraphQL(server.url, SIGN_UP, {
      variables: { input: { email: account.email.toUpperCase(), password: WRONG_PASSWORD } },
    });
    expect(taken.status).toBeLessThan(500);
    expect(taken.body.data).toBeNull();
    expect(taken.setCookies).toEqual([]);
    expect(taken.body.errors).toHaveLength(1);
    expect(taken.body.errors?.[0]?.extensions).toEqual({ code: "CONFLICT" });
    expect(JSON.stringify(taken.body)).not.toContain(account.userId);
  });

  it("takes as long for an unknown email as for a wrong password (200 each, within 10%)", async () => {
    const account = await signUp(server.url);
    const time = async (email: string) => {
      const started = performance.now();
      const response = await callLogin(server.url, email, WRONG_PASSWORD);
      const elapsed = performance.now() - started;
      expect(errorOf(response)).toEqual({ code: "UNAUTHENTICATED", reason: "INVALID_CREDENTIALS" });
      return elapsed;
    };
    // Warm-up: JIT, connection pool, argon2's thread pool.
    for (let i = 0; i < 10; i++) {
      await time(uniqueEmail("warm"));
      await time(account.email);
    }
    // A real difference — an unknown email skipping argon2 answers about 20× faster — stays
    // in every round; noise from the test files sharing the machine averages out.
    const ratio = await compareTimings({
      names: ["wrong password", "unknown email"],
      measure: [() => time(account.email), () => time(uniqueEmail("ghost"))],
      trials: 200,
      tolerance: 0.1,
    });
    expect(ratio).toBeGreaterThanOrEqual(0.9);
    expect(ratio).toBeLessThanOrEqual(1.1);
  }, 300_000);
});

/** A RATE_LIMITED refusal whose retryAfter, once waited, lets the next call through. */
function retryAfterOf(response: GraphQLResponse, windowSeconds: number): number {
  expect(response.status).toBeLessThan(500);
  expect(response.body.data).toBeNull();
  expect(response.setCookies).toEqual([]);
  const extensions = response.body.errors?.[0]?.extensions;
  expect(extensions?.code).toBe("RATE_LIMITED");
  const retryAfter = extensions?.retryAfter as number;
  expect(Number.isInteger(retryAfter)).toBe(true);
  expect(retryAfter).toBeGreaterThan(0);
  expect(retryAfter).toBeLessThanOrEqual(windowSeconds);
  return retryAfter;
}
const wait = (seconds: number) => new Promise((resolve) => setTimeout(resolve, seconds * 1000 + 100));

describe("throttling, each limit alone, at the limit, past it and after the window", () => {
  const WINDOW = 2;
  let server: TestServer;
  beforeAll(async () => {
    // Each test speaks from its own forwarded address, so the per-IP counts are its own.
    server = await startTestServer({
      env: { AUTH_IP_LIMIT: `3/${WINDOW}s`, LOGIN_ATTEMPTS_LIMIT: `2/${WINDOW}s`, TRUST_PROXY: "true" },
    });
  });
  afterAll(() => server?.stop());
  const from = (ip: string) => ({ headers: { "x-forwarded-for": ip } });

  it("signUp: the 3rd call from an IP succeeds, the 4th is RATE_LIMITED until retryAfter has passed", async () => {
    const ip = from("198.51.100.21");
    for (let i = 0; i < 3; i++) await signUp(server.url, uniqueEmail("burst"), undefined, ip);
    const email = uniqueEmail("late");
    const refused = await callGraphQL(server.url, SIGN_UP, {
      ...ip,
      variables: { input: { email, password: WRONG_PASSWORD } },
    });
    const retryAfter = retryAfterOf(refused, WINDOW);
    expect(await server.database.prisma.user.count({ where: { email } })).toBe(0);
    await wait(retryAfter);
    await expect(signUp(server.url, email, undefined, ip)).resolves.toMatchObject({ email });
  });

  it("refreshToken: the 3rd call succeeds, the 4th is RATE_LIMITED and rotates nothing, then works again", async () => {
    const ip = from("198.51.100.22");
    const account = await signUp(server.url, uniqueEmail("refresh"), undefined, ip);
    const first = await refresh(server.url, { cookie: account.cookie, ...ip });
    const second = await refresh(server.url, { cookie: first.cookie, ...ip });
    const refused = await callGraphQL(server.url, REFRESH_TOKEN, { cookie: second.cookie, ...ip });
    const retryAfter = retryAfterOf(refused, WINDOW);
    expect(
      (await server.database.prisma.session.findUniqueOrThrow({ where: { id: account.sessionId } })).generation,
    ).toBe(2);
    await wait(retryAfter);
    await expect(refresh(server.url, { cookie: second.cookie, ...ip })).resolves.toMatchObject({
      sessionId: account.sessionId,
    });
  });

  it("login: the 2nd failure for an account from an IP is answered, the 3rd attempt is RATE_LIMITED even with the right password, then works", async () => {
    const account = await signUp(server.url, uniqueEmail("guessed"), undefined, from("198.51.100.23"));
    const ip = from("198.51.100.24");
    for (let i = 0; i < 2; i++)
      expect(errorOf(await callLogin(server.url, account.email, WRONG_PASSWORD, ip.headers))?.reason).toBe(
        "INVALID_CREDENTIALS",
      );
    const retryAfter = retryAfterOf(await callLogin(server.url, account.email, account.password, ip.headers), WINDOW);
    await wait(retryAfter);
    await expect(login(server.url, account.email, account.password, ip)).resolves.toMatchObject({
      userId: account.userId,
    });
  });
});
