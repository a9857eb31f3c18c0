// keyway/client against a real server: silent restore, single-flight refresh,
// the end of a session, in both transports (cookie jar as a browser keeps it, and
// the x-refresh-token header as Node or a native app does).
import { KeywayClient, KeywayError, MeDocument, SessionsDocument } from "../../src/client";
import { generate } from "otplib";
import { DEFAULT_PASSWORD, decodeAccessToken, signUp, uniqueEmail } from "../helpers/auth";
import { startTestServer, TestClock, type TestServer } from "../helpers/server";

const clock = new TestClock();
let server: TestServer;
let graphqlUrl: string;

beforeAll(async () => {
  server = await startTestServer({ clock, env: { ACCESS_TOKEN_TTL: "15m", REFRESH_REUSE_GRACE: "10s" } });
  graphqlUrl = `${server.url}/graphql`;
});
afterAll(() => server.stop());

/** fetch that records the operation of every call, optionally with a browser-like cookie jar. */
function recordingFetch(options: { cookies?: boolean } = {}) {
  const operations: string[] = [];
  let cookie: string | null = null;
  const fetchImpl: typeof fetch = async (input, init = {}) => {
    const query = String(JSON.parse(typeof init.body === "string" ? init.body : "{}").query ?? "");
    operations.push(/(?:query|mutation)\s+(\w+)/.exec(query)?.[1] ?? "?");
    const headers = new Headers(init.headers);
    if (options.cookies && cookie) headers.set("cookie", cookie);
    const response = await fetch(input, { ...init, headers });
    for (const line of response.headers.getSetCookie()) cookie = /max-age=0/i.test(line) ? null : line.split(";")[0];
    return response;
  };
  return { fetchImpl, operations, cookie: () => cookie };
}

describe("keyway/client over the x-refresh-token header (Node)", () => {
  it("logs in, keeps the rotated refresh token through onRefreshToken, and a new client restores from it", async () => {
    const email = uniqueEmail("sdk");
    await signUp(server.url, email);
    const stored: Array<string | null> = [];
    const first = new KeywayClient({
      url: graphqlUrl,
      transport: "header",
      onRefreshToken: (token) => void stored.push(token),
    });
    expect((await first.login(email, DEFAULT_PASSWORD)).email).toBe(email);
    expect(stored).toHaveLength(1);
    expect((await first.request(MeDocument)).data?.me.email).toBe(email);

    const second = new KeywayClient({
      url: graphqlUrl,
      transport: "header",
      refreshToken: stored.at(-1)!,
      onRefreshToken: (token) => void stored.push(token),
    });
    expect((await second.restore())?.email).toBe(email);
    expect(stored).toHaveLength(2);
    expect(stored[1]).not.toBe(stored[0]);
    expect((await second.request(SessionsDocument)).data?.sessions.some((session) => session.current)).toBe(true);
  });

  it("ten parallel requests with an expired access token cause exactly one refreshToken", async () => {
    const { fetchImpl, operations } = recordingFetch();
    const client = new KeywayClient({ url: graphqlUrl, transport: "header", fetch: fetchImpl, refreshAhead: false });
    const email = uniqueEmail("flight");
    await client.signUp(email, DEFAULT_PASSWORD);
    clock.advance(15 * 60 + 5); // the server's clock: the client still believes its token is fresh

    const results = await Promise.all(Array.from({ length: 10 }, () => client.request(MeDocument)));
    expect(results.map((result) => result.data?.me.email)).toEqual(Array(10).fill(email));
    expect(operations.filter((name) => name === "Refresh")).toHaveLength(1);
    expect(operations.filter((name) => name === "Me")).toHaveLength(20); // each: refused once, retried once
  });

  it("restore without a stored token is signed out and asks nothing", async () => {
    const { fetchImpl, operations } = recordingFetch();
    const client = new KeywayClient({ url: graphqlUrl, transport: "header", fetch: fetchImpl });
    expect(await client.restore()).toBeNull();
    expect(operations).toEqual([]);
  });

  it("a wrong password throws a coded KeywayError and leaves the client signed out", async () => {
    const email = uniqueEmail("wrong");
    await signUp(server.url, email);
    const client = new KeywayClient({ url: graphqlUrl, transport: "header" });
    const failure = await client.login(email, "not the password at all").catch((error: unknown) => error);
    expect(failure).toBeInstanceOf(KeywayError);
    expect(failure).toMatchObject({ code: "UNAUTHENTICATED", reason: "INVALID_CREDENTIALS" });
    expect(client.current.user).toBeNull();
  });

  it("logout ends the session, forgets the stored token, and the old token no longer restores", async () => {
    const stored: Array<string | null> = [];
    const client = new KeywayClient({
      url: graphqlUrl,
      transport: "header",
      onRefreshToken: (token) => void stored.push(token),
    });
    await client.signUp(uniqueEmail("bye"), DEFAULT_PASSWORD);
    const token = stored.at(-1)!;
    await client.logout();
    expect(stored.at(-1)).toBeNull();
    expect(client.current).toEqual({ user: null, accessTokenExpiresAt: null });
    expect(await new KeywayClient({ url: graphqlUrl, transport: "header", refreshToken: token }).restore()).toBeNull();
  });
});

describe("keyway/client with a second factor", () => {
  const codeNow = (secret: string) => generate({ secret, epoch: Math.floor(clock.now() / 1000) });
  /** The claims of the client's current access token. */
  const claimsOf = async (client: KeywayClient) => decodeAccessToken((await client.getAccessToken())!);

  it("enrols, then login throws MFA_REQUIRED with a challenge that completeLogin turns into a session; stepUp refreshes auth_time", async () => {
    const email = uniqueEmail("sdk-mfa");
    await signUp(server.url, email);
    const stored: Array<string | null> = [];
    const client = new KeywayClient({
      url: graphqlUrl,
      transport: "header",
      onRefreshToken: (t) => void stored.push(t),
    });
    await client.login(email, DEFAULT_PASSWORD);
    const { secret, otpauthUrl } = await client.startTotpEnrollment();
    expect(otpauthUrl).toContain(secret);
    expect(await client.confirmTotpEnrollment(await codeNow(secret))).toHaveLength(10);
    clock.advance(30);

    const fresh = new KeywayClient({ url: graphqlUrl, transport: "header" });
    const refusal = await fresh.login(email, DEFAULT_PASSWORD).catch((error: unknown) => error);
    expect(refusal).toBeInstanceOf(KeywayError);
    expect(refusal).toMatchObject({ code: "UNAUTHENTICATED", reason: "MFA_REQUIRED" });
    const challenge = (refusal as KeywayError).challenge!;
    expect(challenge).toMatch(/^[A-Za-z0-9_-]{43}$/);
    expect(fresh.current.user).toBeNull();
    expect((await fresh.completeLogin(challenge, await codeNow(secret))).email).toBe(email);
    expect((await claimsOf(fresh)).amr).toEqual(["pwd", "otp", "mfa"]);

    clock.advance(60);
    const tokensBefore = stored.length;
    await client.stepUp(await codeNow(secret));
    const claims = await claimsOf(client);
    expect(claims.auth_time).toBe(Math.floor(clock.now() / 1000));
    expect(claims.amr).toEqual(["pwd", "otp", "mfa"]);
    expect(stored).toHaveLength(tokensBefore); // no new refresh token
    await expect(client.stepUp("000000")).rejects.toMatchObject({ code: "UNAUTHENTICATED", reason: "MFA_INVALID" });
    clock.advance(30);
    await client.disableTotp(await codeNow(secret));
    expect(
      (await new KeywayClient({ url: graphqlUrl, transport: "header" }).login(email, DEFAULT_PASSWORD)).email,
    ).toBe(email);
  });
});

describe("keyway/client with the refresh cookie (browser)", () => {
  it("a page with nothing in memory signs back in from the cookie alone", async () => {
    const jar = recordingFetch({ cookies: true });
    const email = uniqueEmail("page");
    const tab = new KeywayClient({ url: graphqlUrl, transport: "cookie", fetch: jar.fetchImpl, refreshAhead: false });
    await tab.signUp(email, DEFAULT_PASSWORD);
    expect(jar.cookie()).toMatch(/^refresh_token=/);

    const reloaded = new KeywayClient({
      url: graphqlUrl,
      transport: "cookie",
      fetch: jar.fetchImpl,
      refreshAhead: false,
    });
    expect((await reloaded.restore())?.email).toBe(email);
    expect((await reloaded.request(MeDocument)).data?.me.email).toBe(email);
  });

  it("a session ended elsewhere signs the other tab out on its next request and tells the app", async () => {
    const jar = recordingFetch({ cookies: true });
    const ended: Array<string | undefined> = [];
    const tab = new KeywayClient({
      url: graphqlUrl,
      transport: "cookie",
      fetch: jar.fetchImpl,
      refreshAhead: false,
      onSessionEnd: (reason) => ended.push(reason),
    });
    const other = new KeywayClient({ url: graphqlUrl, transport: "cookie", fetch: jar.fetchImpl, refreshAhead: false });
    await tab.signUp(uniqueEmail("tabs"), DEFAULT_PASSWORD);
    await other.restore();
    await other.logout();

    const result = await tab.request(MeDocument);
    expect(result.errors?.[0]?.extensions).toMatchObject({ code: "UNAUTHENTICATED", reason: "SESSION_ENDED" });
    expect(ended).toEqual(["SESSION_ENDED"]);
    expect(tab.current.user).toBeNull();
  });
});

describe("keyway/client refreshing ahead of expiry", () => {
  let shortLived: TestServer;
  beforeAll(async () => {
    shortLived = await startTestServer({ env: { ACCESS_TOKEN_TTL: "4s" } });
  });
  afterAll(() => shortLived.stop());

  it("refreshes by itself shortly before the access token expires (at most half its lifetime early)", async () => {
    const { fetchImpl, operations } = recordingFetch();
    const client = new KeywayClient({
      url: `${shortLived.url}/graphql`,
      transport: "header",
      fetch: fetchImpl,
      refreshAhead: true,
    });
    await client.signUp(uniqueEmail("ahead"), DEFAULT_PASSWORD);
    const firstExpiry = client.current.accessTokenExpiresAt!;
    // A 4 s token is refreshed 2 s before it expires; nothing else asks for it here.
    await new Promise((resolve) => setTimeout(resolve, 3_000));
    expect(operations).toEqual(["SignUp", "Refresh"]);
    expect(client.current.accessTokenExpiresAt!).toBeGreaterThan(firstExpiry);
    await client.logout();
  });
});
