// Contract, "Overload": when password hashing is saturated, login and signUp still
// answer within 5 s — signed in, or RATE_LIMITED — never queue without bound, and
// once the flood stops logins succeed again at once. Five clients keep 50 logins
// each in flight (unknown emails are hashed too), well past what one hashing core
// serves, while a sixth client logs in now and then.
import { callGraphQL, errorOf } from "../helpers/http";
import { DEFAULT_PASSWORD, LOGIN, signUp, uniqueEmail } from "../helpers/auth";
import { startTestServer, type TestServer } from "../helpers/server";

jest.setTimeout(120_000);

const FLOOD_CLIENTS = 5;
const IN_FLIGHT_PER_CLIENT = 50;
const FLOOD_MS = 6000;
const ANSWER_WITHIN_MS = 5000;

interface Answer {
  ms: number;
  code: unknown;
  retryAfter?: unknown;
  signedIn: boolean;
}

async function timedLogin(url: string, email: string, password: string, address: string): Promise<Answer> {
  const started = performance.now();
  const response = await callGraphQL(url, LOGIN, {
    variables: { input: { email, password } },
    headers: { "x-forwarded-for": address },
  });
  const error = response.body.errors?.[0];
  return {
    ms: performance.now() - started,
    code: error?.extensions?.code,
    retryAfter: error?.extensions?.retryAfter,
    signedIn: !error && response.status === 200,
  };
}

describe("login under a hashing flood", () => {
  let server: TestServer;

  beforeAll(async () => {
    // Addresses come from X-Forwarded-For so one test process can be six clients; the per-address limit is out of the way.
    server = await startTestServer({ env: { TRUST_PROXY: "true", AUTH_IP_LIMIT: "1000000/1m" } });
  });
  afterAll(() => server?.stop());

  it("answers every call within 5 s, signs the genuine user in throughout, and recovers at once", async () => {
    const genuine = await signUp(server.url, uniqueEmail("genuine"));
    const stopAt = performance.now() + FLOOD_MS;
    const flood: Answer[] = [];
    const flooder = async (client: number) => {
      while (performance.now() < stopAt)
        flood.push(await timedLogin(server.url, uniqueEmail("flood"), "some wrong password", `10.0.0.${client}`));
    };
    const genuineAnswers: Answer[] = [];
    const genuineUser = async () => {
      await new Promise((resolve) => setTimeout(resolve, 1000));
      while (performance.now() < stopAt - 500) {
        genuineAnswers.push(await timedLogin(server.url, genuine.email, DEFAULT_PASSWORD, "10.9.9.9"));
        await new Promise((resolve) => setTimeout(resolve, 300));
      }
    };
    const workers = [genuineUser()];
    for (let client = 1; client <= FLOOD_CLIENTS; client++)
      for (let i = 0; i < IN_FLIGHT_PER_CLIENT; i++) workers.push(flooder(client));
    await Promise.all(workers);

    // How long keyway held each login, from its access log: the client side of this
    // test shares the process (and the machine's two cores) with the server, so its
    // own clock also counts the time the load generator kept the event loop busy.
    const held = server.logs
      .map((line) => JSON.parse(line) as { msg?: string; operation?: string; durationMs?: number })
      .filter((line) => line.msg === "request" && line.operation === "Login")
      .map((line) => line.durationMs ?? Infinity);
    const slowest = Math.max(...held);
    const refused = flood.filter((answer) => answer.code === "RATE_LIMITED");
    console.log(
      `hashing flood: ${flood.length} flood logins (${refused.length} RATE_LIMITED), longest held by keyway ${slowest.toFixed(0)} ms ` +
        `(client-side slowest ${Math.max(...flood.map((answer) => answer.ms)).toFixed(0)} ms); ` +
        `genuine logins ${genuineAnswers.map((answer) => answer.ms.toFixed(0)).join(", ")} ms`,
    );
    expect(held.length).toBeGreaterThanOrEqual(flood.length);
    expect(slowest).toBeLessThan(ANSWER_WITHIN_MS);
    expect(flood.every((answer) => answer.code === "UNAUTHENTICATED" || answer.code === "RATE_LIMITED")).toBe(true);
    // The bound did engage (else this test proved nothing), and every refusal says when to come back.
    expect(refused.length).toBeGreaterThan(0);
    expect(refused.every((answer) => typeof answer.retryAfter === "number" && answer.retryAfter >= 1)).toBe(true);
    // The client with one login at a time is never refused while the five with fifty are
    // (the line's per-client bound; the turn order itself: test/unit/password-queue.test.ts).
    expect(genuineAnswers.length).toBeGreaterThanOrEqual(2);
    expect(genuineAnswers.every((answer) => answer.signedIn && answer.ms < ANSWER_WITHIN_MS)).toBe(true);

    const after = await timedLogin(server.url, genuine.email, DEFAULT_PASSWORD, "10.0.0.1");
    expect(after.signedIn).toBe(true);
    expect(
      errorOf(
        await callGraphQL(server.url, LOGIN, {
          variables: { input: { email: genuine.email, password: DEFAULT_PASSWORD } },
        }),
      ),
    ).toBeUndefined();
  });
});

describe("a login refused because hashing is saturated", () => {
  let server: TestServer;
  beforeAll(async () => {
    server = await startTestServer();
  });
  afterAll(() => server?.stop());

  it("does not count as a failed password for the account (LOGIN_ATTEMPTS_LIMIT)", async () => {
    const { AuthService } = await import("../../src/auth/auth.service");
    const { createAuthRateLimits } = await import("../../src/auth/rate-limits");
    const { HashingOverloaded } = await import("../../src/auth/password");
    const account = await signUp(server.url, uniqueEmail("refund"));
    let saturated = true;
    const passwords = {
      hash: (password: string, client: string) => server.services.passwords.hash(password, client),
      verify: (password: string, stored: string | null, client: string) =>
        saturated
          ? Promise.reject(new HashingOverloaded(2))
          : server.services.passwords.verify(password, stored, client),
    };
    const auth = new AuthService({
      users: server.stores.users,
      sessions: server.services.sessions,
      passwords,
      authz: server.config.authz,
      limits: createAuthRateLimits({
        loginAttempts: { points: 2, durationSeconds: 900 },
        authCallsPerIp: { points: 1000, durationSeconds: 60 },
      }),
      accessTokens: server.services.accessTokens,
      allowSignup: true,
      now: Date.now,
    });
    const request = { ip: "10.1.2.3", userAgent: null };
    const answer = (work: Promise<unknown>) =>
      work.then(
        () => "SIGNED_IN",
        (error: { extensions?: { code?: string; reason?: string } }) =>
          error.extensions?.reason ?? error.extensions?.code,
      );
    for (let i = 0; i < 5; i++)
      expect(await answer(auth.login(account.email, "a wrong password", request))).toBe("RATE_LIMITED");
    saturated = false;
    // Five refusals later the account still has both of its attempts.
    expect(await answer(auth.login(account.email, "a wrong password", request))).toBe("INVALID_CREDENTIALS");
    expect(await answer(auth.login(account.email, "a wrong password", request))).toBe("INVALID_CREDENTIALS");
    expect(await answer(auth.login(account.email, DEFAULT_PASSWORD, request))).toBe("RATE_LIMITED");
  });
});
