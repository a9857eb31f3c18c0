// The refresh cookie as a browser sees it in development and production (attributes
// and lifetime), what a
// cross-site page can make a browser send (simple requests that need no preflight),
// and which origins CORS lets read answers with credentials. The cookie's behaviour
// as a transport (rotation, clearing, the header alternative) is in
// test/integration/auth.cookies.test.ts.
import { generateKeyPairSync } from "node:crypto";
import { LOGOUT, ME, REFRESH_TOKEN, login, refresh, signUp, type Account } from "../helpers/auth";
import { callGraphQL, parseSetCookie, type ParsedCookie } from "../helpers/http";
import { startTestServer, TestClock, type TestServer } from "../helpers/server";

const DAY = 86400;
const EVIL = "https://evil.example";

function onlyCookie(setCookies: string[]): ParsedCookie {
  expect(setCookies).toHaveLength(1);
  return parseSetCookie(setCookies[0]);
}

/** Exactly API.md's attributes, and Max-Age = seconds left until the session's absolute expiry. */
async function expectContractCookie(
  server: TestServer,
  clock: TestClock,
  account: { sessionId: string },
  setCookies: string[],
  name: string,
  secure: boolean,
) {
  const cookie = onlyCookie(setCookies);
  expect(cookie.name).toBe(name);
  const attributes = Object.keys(cookie.attributes).sort();
  expect(attributes).toEqual(["httponly", "max-age", "path", "samesite", ...(secure ? ["secure"] : [])].sort());
  expect(cookie.attributes.httponly).toBe(true);
  expect(cookie.attributes.samesite).toMatch(/^strict$/i);
  expect(cookie.attributes.path).toBe("/");
  const session = await server.database.prisma.session.findUniqueOrThrow({ where: { id: account.sessionId } });
  const remaining = (session.expiresAt.getTime() - clock.now()) / 1000;
  expect(Math.abs(Number(cookie.attributes["max-age"]) - remaining)).toBeLessThanOrEqual(1);
}

describe.each([
  ["development", "refresh_token", false, () => ({ NODE_ENV: "development" })],
  [
    "production",
    "__Host-refresh_token",
    true,
    () => ({ NODE_ENV: "production", SMTP_URL: "smtp://127.0.0.1:9", JWT_PRIVATE_KEY: throwawayKey() }),
  ],
])("the refresh cookie in %s", (_mode, name, secure, env) => {
  const clock = new TestClock();
  let server: TestServer;
  beforeAll(async () => {
    server = await startTestServer({ env: env(), clock });
  });
  afterAll(() => server?.stop());

  it(`is ${name}${secure ? ", Secure" : ", not Secure"}, HttpOnly, SameSite=Strict, Path=/, no Domain, Max-Age the remaining life`, async () => {
    const account = await signUp(server.url, undefined, undefined, { cookieName: name });
    await expectContractCookie(server, clock, account, account.response.setCookies, name, secure);
    expect(Number(parseSetCookie(account.response.setCookies[0]).attributes["max-age"])).toBeGreaterThan(29 * DAY);

    clock.advance(3 * DAY);
    const rotated = await refresh(server.url, { cookie: account.cookie, cookieName: name });
    await expectContractCookie(server, clock, account, rotated.response.setCookies, name, secure);
    expect(Number(parseSetCookie(rotated.response.setCookies[0]).attributes["max-age"])).toBeLessThan(28 * DAY);

    // A new login is a new session with the whole lifetime again.
    const fresh = await login(server.url, account.email, account.password, { cookieName: name });
    await expectContractCookie(server, clock, fresh, fresh.response.setCookies, name, secure);
    expect(Number(parseSetCookie(fresh.response.setCookies[0]).attributes["max-age"])).toBeGreaterThan(29 * DAY);
  });
});

function throwawayKey(): string {
  return generateKeyPairSync("ec", { namedCurve: "P-256" })
    .privateKey.export({ type: "pkcs8", format: "pem" })
    .toString();
}

describe("cross-site simple requests (no preflight) with the victim's cookie", () => {
  let server: TestServer;
  beforeAll(async () => {
    server = await startTestServer();
  });
  afterAll(() => server?.stop());

  const mutations = { refreshToken: REFRESH_TOKEN, logout: LOGOUT };
  const bodies: Record<string, (query: string) => { type: string; body: string }> = {
    "text/plain": (query) => ({ type: "text/plain", body: JSON.stringify({ query }) }),
    "application/x-www-form-urlencoded": (query) => ({
      type: "application/x-www-form-urlencoded",
      body: new URLSearchParams({ query }).toString(),
    }),
    "multipart/form-data": (query) => ({
      type: "multipart/form-data; boundary=xsrf",
      body: `--xsrf\r\nContent-Disposition: form-data; name="query"\r\n\r\n${query}\r\n--xsrf--\r\n`,
    }),
  };
  const crossSite = (cookie: string) => ({ cookie, origin: EVIL, "sec-fetch-site": "cross-site" });

  /** The victim's session is exactly as before: not rotated, not ended, its tokens still work. */
  async function expectUntouched(account: Account): Promise<void> {
    const stored = await server.database.prisma.session.findUniqueOrThrow({ where: { id: account.sessionId } });
    expect({ generation: stored.generation, endedAt: stored.endedAt }).toEqual({ generation: 0, endedAt: null });
    const me = await callGraphQL(server.url, ME, { accessToken: account.accessToken });
    expect(me.body).toMatchObject({ data: { me: { id: account.userId } } });
    await expect(refresh(server.url, { cookie: account.cookie })).resolves.toMatchObject({
      sessionId: account.sessionId,
    });
  }

  for (const [operation, query] of Object.entries(mutations)) {
    it.each(Object.keys(bodies))(`cannot call ${operation} as a POST of %s`, async (type) => {
      const account = await signUp(server.url);
      const { type: contentType, body } = bodies[type](query);
      const response = await fetch(`${server.url}/graphql`, {
        method: "POST",
        headers: { ...crossSite(account.cookie), "content-type": contentType },
        body,
      });
      expect(response.status).toBeGreaterThanOrEqual(400);
      expect(response.status).toBeLessThan(500);
      expect(response.headers.getSetCookie()).toEqual([]);
      expect(response.headers.get("access-control-allow-origin")).toBeNull();
      await expectUntouched(account);
    });

    it(`cannot call ${operation} as a GET without the preflight header`, async () => {
      const account = await signUp(server.url);
      const response = await fetch(`${server.url}/graphql?${new URLSearchParams({ query }).toString()}`, {
        headers: crossSite(account.cookie),
      });
      expect(response.status).toBeGreaterThanOrEqual(400);
      expect(response.status).toBeLessThan(500);
      expect(response.headers.getSetCookie()).toEqual([]);
      await expectUntouched(account);
    });
  }

  it("cannot even read a query over GET without the preflight header", async () => {
    const account = await signUp(server.url);
    const response = await fetch(`${server.url}/graphql?${new URLSearchParams({ query: ME }).toString()}`, {
      headers: { ...crossSite(account.cookie), authorization: `Bearer ${account.accessToken}` },
    });
    expect(response.status).toBe(400);
    expect(await response.text()).not.toContain(account.userId);
  });
});

describe.each([
  ["unset", undefined],
  ["set", "https://app.example.com"],
])("CORS with CORS_ORIGINS %s", (_label, allowed) => {
  let server: TestServer;
  beforeAll(async () => {
    server = await startTestServer({ env: allowed ? { CORS_ORIGINS: allowed } : {} });
  });
  afterAll(() => server?.stop());

  const preflight = (origin: string) =>
    fetch(`${server.url}/graphql`, {
      method: "OPTIONS",
      headers: {
        origin,
        "access-control-request-method": "POST",
        "access-control-request-headers": "content-type, x-refresh-token",
      },
    });
  const actual = (origin: string) => callGraphQL(server.url, "query Cors { __typename }", { headers: { origin } });

  if (allowed) {
    it("allows the listed origin with credentials, on the preflight and the actual request", async () => {
      const response = await preflight(allowed);
      expect(response.status).toBeLessThan(300);
      expect(response.headers.get("access-control-allow-origin")).toBe(allowed);
      expect(response.headers.get("access-control-allow-credentials")).toBe("true");
      expect(response.headers.get("access-control-allow-methods")).toMatch(/POST/);
      expect(response.headers.get("access-control-allow-headers")?.toLowerCase()).toMatch(/x-refresh-token/);

      const post = await actual(allowed);
      expect(post.headers.get("access-control-allow-origin")).toBe(allowed);
      expect(post.headers.get("access-control-allow-credentials")).toBe("true");
      expect(post.headers.get("vary")?.toLowerCase()).toMatch(/origin/);
    });
  }

  it.each([EVIL, "https://app.example.com.evil.example", "http://app.example.com", "https://APP.example.com", "null"])(
    "grants %s no access and no credentials",
    async (origin) => {
      for (const response of [await preflight(origin), await actual(origin)]) {
        expect(response.headers.get("access-control-allow-origin")).toBeNull();
        expect(response.headers.get("access-control-allow-credentials")).toBeNull();
      }
    },
  );
});
