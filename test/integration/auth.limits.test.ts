// Throttling of the unauthenticated entry points: failed logins per account and IP
// (LOGIN_ATTEMPTS_LIMIT), and every signUp/login/refreshToken call per IP (AUTH_IP_LIMIT).
import {
  DEFAULT_PASSWORD,
  LOGIN,
  ME,
  REFRESH_TOKEN,
  SESSIONS,
  SIGN_UP,
  login,
  signUp,
  uniqueEmail,
} from "../helpers/auth";
import { callGraphQL, errorOf, type GraphQLResponse } from "../helpers/http";
import { startTestServer, type TestServer } from "../helpers/server";

const WRONG_PASSWORD = "not the right password";
const INVALID_CREDENTIALS = { code: "UNAUTHENTICATED", reason: "INVALID_CREDENTIALS" };

const callLogin = (url: string, email: string, password: string, headers: Record<string, string> = {}) =>
  callGraphQL(url, LOGIN, { variables: { input: { email, password } }, headers });

/** A RATE_LIMITED refusal with a whole number of seconds to wait, within the window. */
function expectRateLimited(response: GraphQLResponse, windowSeconds: number): void {
  expect(response.status).toBeLessThan(500);
  expect(response.body.data).toBeNull();
  expect(response.setCookies).toEqual([]);
  const extensions = response.body.errors?.[0]?.extensions;
  expect(extensions?.code).toBe("RATE_LIMITED");
  const retryAfter = extensions?.retryAfter;
  expect(Number.isInteger(retryAfter)).toBe(true);
  expect(retryAfter).toBeGreaterThan(0);
  expect(retryAfter).toBeLessThanOrEqual(windowSeconds);
}

describe("failed-login throttling (LOGIN_ATTEMPTS_LIMIT=3/15m)", () => {
  const WINDOW = 15 * 60;
  let server: TestServer;
  beforeAll(async () => {
    server = await startTestServer({ env: { LOGIN_ATTEMPTS_LIMIT: "3/15m" } });
  });
  afterAll(async () => {
    await server?.stop();
  });

  it("refuses the 4th attempt after 3 failures, even with the right password", async () => {
    const account = await signUp(server.url);
    for (let i = 0; i < 3; i++)
      expect(errorOf(await callLogin(server.url, account.email, WRONG_PASSWORD))).toEqual(INVALID_CREDENTIALS);

    const sessionsBefore = await server.database.prisma.session.count({ where: { userId: account.userId } });
    expectRateLimited(await callLogin(server.url, account.email, account.password), WINDOW);
    expectRateLimited(await callLogin(server.url, account.email, WRONG_PASSWORD), WINDOW);
    expect(await server.database.prisma.session.count({ where: { userId: account.userId } })).toBe(sessionsBefore);

    // Being throttled at login does not touch sessions already held.
    const me = await callGraphQL(server.url, ME, { accessToken: account.accessToken });
    expect(me.body.data).toMatchObject({ me: { id: account.userId } });
  });

  it("counts concurrent attempts: no more than 3 passwords are ever checked", async () => {
    const account = await signUp(server.url);
    const answers = await Promise.all(
      Array.from({ length: 10 }, () => callLogin(server.url, account.email, WRONG_PASSWORD)),
    );
    const codes = answers.map((answer) => errorOf(answer)?.reason ?? errorOf(answer)?.code);
    expect(codes.filter((code) => code === "INVALID_CREDENTIALS")).toHaveLength(3);
    expect(codes.filter((code) => code === "RATE_LIMITED")).toHaveLength(7);
  });

  it("does not limit another account from the same IP", async () => {
    const limited = await signUp(server.url);
    const other = await signUp(server.url);
    for (let i = 0; i < 3; i++) await callLogin(server.url, limited.email, WRONG_PASSWORD);
    expectRateLimited(await callLogin(server.url, limited.email, limited.password), WINDOW);

    expect(errorOf(await callLogin(server.url, other.email, WRONG_PASSWORD))).toEqual(INVALID_CREDENTIALS);
    await expect(login(server.url, other.email, other.password)).resolves.toMatchObject({ userId: other.userId });
  });

  it("clears the failure count on a successful login", async () => {
    const account = await signUp(server.url);
    for (let i = 0; i < 2; i++)
      expect(errorOf(await callLogin(server.url, account.email, WRONG_PASSWORD))).toEqual(INVALID_CREDENTIALS);
    await expect(login(server.url, account.email, account.password)).resolves.toMatchObject({ userId: account.userId });

    // Without the reset, the second of these would already be the 4th failure.
    for (let i = 0; i < 3; i++)
      expect(errorOf(await callLogin(server.url, account.email, WRONG_PASSWORD))).toEqual(INVALID_CREDENTIALS);
    expectRateLimited(await callLogin(server.url, account.email, account.password), WINDOW);
  });

  it("counts an unknown email as an account of its own, after normalization", async () => {
    const variants = ["ghost@x.io", " Ghost@x.io", "GHOST@X.IO  "];
    for (const email of variants)
      expect(errorOf(await callLogin(server.url, email, WRONG_PASSWORD))).toEqual(INVALID_CREDENTIALS);
    expectRateLimited(await callLogin(server.url, "ghost@x.io", WRONG_PASSWORD), WINDOW);
    expectRateLimited(await callLogin(server.url, "\tGhost@X.io", WRONG_PASSWORD), WINDOW);

    // Signing the ghost up later does not need the limit: signUp is not a login attempt.
    const account = await signUp(server.url, "ghost@x.io");
    expectRateLimited(await callLogin(server.url, "ghost@x.io", account.password), WINDOW);
  });
});

describe("per-IP throttling (AUTH_IP_LIMIT=5/1m) without TRUST_PROXY", () => {
  const WINDOW = 60;
  let server: TestServer;
  beforeAll(async () => {
    server = await startTestServer({ env: { AUTH_IP_LIMIT: "5/1m" } });
  });
  afterAll(async () => {
    await server?.stop();
  });

  it("refuses the 6th signUp/login/refreshToken call, counting refused calls too", async () => {
    const email = uniqueEmail("ip");
    // Five calls of every kind, three of them refused for other reasons.
    const badInput = await callGraphQL(server.url, SIGN_UP, {
      variables: { input: { email: "not-an-email", password: DEFAULT_PASSWORD } },
    });
    expect(errorOf(badInput)?.code).toBe("BAD_USER_INPUT");
    expect(errorOf(await callLogin(server.url, uniqueEmail("nobody"), WRONG_PASSWORD))).toEqual(INVALID_CREDENTIALS);
    expect(errorOf(await callGraphQL(server.url, REFRESH_TOKEN))).toEqual({
      code: "UNAUTHENTICATED",
      reason: "REFRESH_TOKEN_MISSING",
    });
    const account = await signUp(server.url, email);
    await login(server.url, email);

    const sixth = await callGraphQL(server.url, REFRESH_TOKEN, { cookie: account.cookie });
    expectRateLimited(sixth, WINDOW);
    expectRateLimited(await callLogin(server.url, email, DEFAULT_PASSWORD), WINDOW);
    expectRateLimited(
      await callGraphQL(server.url, SIGN_UP, {
        variables: { input: { email: uniqueEmail("late"), password: DEFAULT_PASSWORD } },
      }),
      WINDOW,
    );

    // The refused refresh did not rotate anything, and other operations are not throttled.
    const stored = await server.database.prisma.session.findUnique({ where: { id: account.sessionId } });
    expect(stored?.generation).toBe(0);
    const me = await callGraphQL(server.url, ME, { accessToken: account.accessToken });
    expect(me.body.data).toMatchObject({ me: { id: account.userId } });
  });

  it("ignores X-Forwarded-For: a spoofed address does not escape the limit", async () => {
    const answers: GraphQLResponse[] = [];
    for (let i = 1; i <= 6; i++) {
      answers.push(
        await callLogin(server.url, uniqueEmail("spoof"), WRONG_PASSWORD, { "x-forwarded-for": `203.0.113.${i}` }),
      );
    }
    // Whether or not the previous test already used up this IP, the 6th call is over the limit.
    expectRateLimited(answers[5], WINDOW);
  });
});

describe("per-IP throttling with TRUST_PROXY=true", () => {
  const WINDOW = 60;
  let server: TestServer;
  beforeAll(async () => {
    server = await startTestServer({
      env: { AUTH_IP_LIMIT: "5/1m", TRUST_PROXY: "true", LOGIN_ATTEMPTS_LIMIT: "2/15m" },
    });
  });
  afterAll(async () => {
    await server?.stop();
  });

  const from = (ip: string) => ({ "x-forwarded-for": ip });

  it("limits each X-Forwarded-For address separately and records it on the session", async () => {
    const first = from("198.51.100.1");
    const account = await signUp(server.url, uniqueEmail("proxied"), DEFAULT_PASSWORD, { headers: first });
    for (let i = 0; i < 4; i++) await callLogin(server.url, account.email, account.password, first);
    expectRateLimited(await callLogin(server.url, account.email, account.password, first), WINDOW);

    const second = await login(server.url, account.email, DEFAULT_PASSWORD, { headers: from("198.51.100.2") });
    const sessions = await callGraphQL<{ sessions: Array<{ id: string; ip: string | null }> }>(server.url, SESSIONS, {
      accessToken: second.accessToken,
    });
    const ips = new Map(sessions.body.data?.sessions.map((session) => [session.id, session.ip]));
    expect(ips.get(account.sessionId)).toBe("198.51.100.1");
    expect(ips.get(second.sessionId)).toBe("198.51.100.2");
  });

  it("counts failed logins per account and address", async () => {
    const account = await signUp(server.url, uniqueEmail("roaming"), DEFAULT_PASSWORD, {
      headers: from("198.51.100.10"),
    });
    const home = from("198.51.100.11");
    for (let i = 0; i < 2; i++)
      expect(errorOf(await callLogin(server.url, account.email, WRONG_PASSWORD, home))).toEqual(INVALID_CREDENTIALS);
    expectRateLimited(await callLogin(server.url, account.email, account.password, home), 15 * 60);

    await expect(
      login(server.url, account.email, account.password, { headers: from("198.51.100.12") }),
    ).resolves.toMatchObject({ userId: account.userId });
  });
});
