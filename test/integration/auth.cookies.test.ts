// The refresh token on the wire: the cookie's attributes, the header transport for
// cookieless clients, and that the token (and every password) stays out of response
// bodies and logs. CORS and cross-site requests are in test/security/cookies-csrf.test.ts.
import {
  LOGOUT,
  REFRESH_HEADER,
  REFRESH_TOKEN,
  login,
  refresh,
  signUp,
  uniqueEmail,
  type Account,
} from "../helpers/auth";
import { callGraphQL, errorOf, parseSetCookie, type GraphQLResponse, type ParsedCookie } from "../helpers/http";
import { startTestServer, type TestServer } from "../helpers/server";

const THIRTY_DAYS = 30 * 86400;
const REFRESH_TOKEN_SHAPE = /^[A-Za-z0-9_-]+(\.[A-Za-z0-9_-]+)*$/;

// Every response of this file passes through here: refresh tokens seen in Set-Cookie or
// x-refresh-token, and every body, so the last test of each block can look for leaks.
// fetch itself is untouched; this only watches.
const seen = { refreshTokens: new Set<string>(), passwords: new Set<string>(), bodies: [] as string[] };
const realFetch = globalThis.fetch;
beforeAll(() => {
  globalThis.fetch = async (input, init) => {
    if (typeof init?.body === "string") rememberPassword(init.body);
    const response = await realFetch(input, init);
    const copy = response.clone();
    seen.bodies.push(await copy.text());
    const header = copy.headers.get(REFRESH_HEADER);
    if (header) seen.refreshTokens.add(header);
    for (const line of copy.headers.getSetCookie()) {
      const { value } = parseSetCookie(line);
      if (value) seen.refreshTokens.add(value);
    }
    return response;
  };
});
afterAll(() => {
  globalThis.fetch = realFetch;
});

function rememberPassword(body: string): void {
  try {
    const password = (JSON.parse(body) as { variables?: { input?: { password?: unknown } } }).variables?.input
      ?.password;
    if (typeof password === "string") seen.passwords.add(password);
  } catch {
    // Not JSON: nothing to remember.
  }
}

function expectNoLeaks(server: TestServer): void {
  expect(seen.refreshTokens.size).toBeGreaterThan(0);
  expect(seen.passwords.size).toBeGreaterThan(0);
  const logs = server.logs.join("\n");
  expect(logs.length).toBeGreaterThan(0);
  for (const token of seen.refreshTokens) {
    // Search for the secret part too: a token split on its dot must not leak either.
    const parts = [token, ...token.split(".").filter((part) => part.length >= 16)];
    for (const part of parts) {
      expect(seen.bodies.find((body) => body.includes(part))).toBeUndefined();
      expect(logs).not.toContain(part);
    }
  }
  for (const password of seen.passwords) expect(logs).not.toContain(password);
}

/** The one Set-Cookie line of a response, parsed. */
function onlyCookie(response: GraphQLResponse): ParsedCookie {
  expect(response.setCookies).toHaveLength(1);
  return parseSetCookie(response.setCookies[0]);
}

function expectRefreshCookie(cookie: ParsedCookie, name: string, secure: boolean): void {
  expect(cookie.name).toBe(name);
  expect(cookie.value).toMatch(REFRESH_TOKEN_SHAPE);
  expect(cookie.attributes.httponly).toBe(true);
  expect(String(cookie.attributes.samesite).toLowerCase()).toBe("strict");
  expect(cookie.attributes.path).toBe("/");
  expect(cookie.attributes).not.toHaveProperty("domain");
  if (secure) expect(cookie.attributes.secure).toBe(true);
  else expect(cookie.attributes).not.toHaveProperty("secure");
  const maxAge = Number(cookie.attributes["max-age"]);
  expect(Math.abs(maxAge - THIRTY_DAYS)).toBeLessThanOrEqual(2);
}

function expectCleared(cookie: ParsedCookie, name: string): void {
  expect(cookie.name).toBe(name);
  expect(cookie.value).toBe("");
  expect(cookie.attributes.path).toBe("/");
  const maxAge = cookie.attributes["max-age"];
  const expires = cookie.attributes.expires;
  const clearedByMaxAge = maxAge !== undefined && Number(maxAge) <= 0;
  const clearedByExpires = typeof expires === "string" && Date.parse(expires) < Date.now();
  expect(clearedByMaxAge || clearedByExpires).toBe(true);
}

describe("the refresh cookie (default, insecure test mode)", () => {
  let server: TestServer;
  beforeAll(async () => {
    server = await startTestServer();
  });
  afterAll(async () => {
    await server?.stop();
  });

  const responses: Record<string, (url: string) => Promise<GraphQLResponse>> = {
    signUp: async (url) => (await signUp(url)).response,
    login: async (url) => {
      const account = await signUp(url);
      return (await login(url, account.email, account.password)).response;
    },
    refreshToken: async (url) => (await refresh(url, { cookie: (await signUp(url)).cookie })).response,
  };

  it.each(Object.keys(responses))(
    "is set by %s: refresh_token, HttpOnly, SameSite=Strict, Path=/, no Secure, 30 days",
    async (operation) => {
      const response = await responses[operation](server.url);
      expectRefreshCookie(onlyCookie(response), "refresh_token", false);
      expect(response.headers.get(REFRESH_HEADER)).toBeNull();
    },
  );

  it("carries an opaque value of at least 256 bits, stored only as a hash", async () => {
    const account = await signUp(server.url);
    const second = await login(server.url, account.email, account.password);
    for (const token of [account.refreshToken, second.refreshToken]) {
      expect(token).toMatch(REFRESH_TOKEN_SHAPE);
      // Not a JWT, and nothing readable inside.
      expect(token.split(".").length).toBeLessThan(3);
      for (const part of [token, ...token.split(".")]) {
        expect(() => JSON.parse(Buffer.from(part, "base64url").toString("utf8")) as unknown).toThrow();
      }
      const longest = Math.max(...token.split(".").map((part) => part.length));
      expect(longest).toBeGreaterThanOrEqual(43);
    }
    expect(second.refreshToken).not.toBe(account.refreshToken);

    const secret = account.refreshToken.split(".").sort((a, b) => b.length - a.length)[0];
    const stored = await server.database.prisma.session.findUnique({ where: { id: account.sessionId } });
    expect(stored).not.toBeNull();
    expect(JSON.stringify(stored)).not.toContain(secret);
  });

  it("is cleared by logout, and the logged-out token no longer refreshes", async () => {
    const account = await signUp(server.url);
    const response = await callGraphQL(server.url, LOGOUT, { cookie: account.cookie });
    expect(response.body).toEqual({ data: { logout: true } });
    expectCleared(onlyCookie(response), "refresh_token");

    const again = await callGraphQL(server.url, REFRESH_TOKEN, { cookie: account.cookie });
    expect(errorOf(again)).toEqual({ code: "UNAUTHENTICATED", reason: "REFRESH_TOKEN_INVALID" });
  });

  describe("cookieless clients (x-refresh-token)", () => {
    const asHeader = (token: string) => ({ headers: { [REFRESH_HEADER]: token } });

    it.each(["signUp", "login"])("%s with the header gets the token in the header and no cookie", async (operation) => {
      let account: Account = await signUp(server.url, uniqueEmail("cli"), undefined, asHeader("1"));
      if (operation === "login") account = await login(server.url, account.email, account.password, asHeader("1"));
      expect(account.response.setCookies).toEqual([]);
      expect(account.response.headers.get(REFRESH_HEADER)).toBe(account.refreshToken);
      expect(account.refreshToken).toMatch(REFRESH_TOKEN_SHAPE);
      expect(account.refreshToken.length).toBeGreaterThanOrEqual(43);
    });

    it("rotates with refreshToken through the header, and logs out with it", async () => {
      const account = await signUp(server.url, uniqueEmail("cli"), undefined, asHeader("1"));
      const rotated = await refresh(server.url, asHeader(account.refreshToken));
      expect(rotated.response.setCookies).toEqual([]);
      expect(rotated.refreshToken).toMatch(REFRESH_TOKEN_SHAPE);
      expect(rotated.refreshToken).not.toBe(account.refreshToken);
      expect(rotated.sessionId).toBe(account.sessionId);

      const again = await refresh(server.url, asHeader(rotated.refreshToken));
      expect(again.refreshToken).not.toBe(rotated.refreshToken);

      const logout = await callGraphQL(server.url, LOGOUT, asHeader(again.refreshToken));
      expect(logout.body).toEqual({ data: { logout: true } });
      const after = await callGraphQL(server.url, REFRESH_TOKEN, asHeader(again.refreshToken));
      expect(errorOf(after)).toEqual({ code: "UNAUTHENTICATED", reason: "REFRESH_TOKEN_INVALID" });
    });

    it("treats an empty header as absent and falls back to the cookie", async () => {
      const account = await signUp(server.url);
      const rotated = await callGraphQL(server.url, REFRESH_TOKEN, { cookie: account.cookie, ...asHeader("") });
      expect(rotated.body.errors).toBeUndefined();
      // A cookie client: the rotated token goes back into the cookie it came from.
      expect(rotated.headers.get(REFRESH_HEADER)).toBeNull();
      expectRefreshCookie(onlyCookie(rotated), "refresh_token", false);

      const noCookie = await callGraphQL(server.url, REFRESH_TOKEN, asHeader(""));
      expect(errorOf(noCookie)).toEqual({ code: "UNAUTHENTICATED", reason: "REFRESH_TOKEN_MISSING" });
    });

    it("prefers the header when both the cookie and the header arrive", async () => {
      const browser = await signUp(server.url);
      const cli = await login(server.url, browser.email, browser.password, asHeader("1"));
      expect(cli.sessionId).not.toBe(browser.sessionId);

      const rotated = await refresh(server.url, { cookie: browser.cookie, ...asHeader(cli.refreshToken) });
      expect(rotated.sessionId).toBe(cli.sessionId);
      expect(rotated.response.headers.get(REFRESH_HEADER)).toBe(rotated.refreshToken);
      const untouched = await server.database.prisma.session.findUnique({ where: { id: browser.sessionId } });
      expect(untouched?.generation).toBe(0);
    });
  });

  it("leaks no refresh token into bodies or logs, and no password into logs", () => {
    expectNoLeaks(server);
  });
});

describe("the refresh cookie with COOKIE_SECURE=true", () => {
  let server: TestServer;
  beforeAll(async () => {
    server = await startTestServer({ env: { COOKIE_SECURE: "true" } });
  });
  afterAll(async () => {
    await server?.stop();
  });

  it("is __Host-refresh_token with Secure, and is read back under that name", async () => {
    const account = await signUp(server.url, uniqueEmail("secure"), undefined, { cookieName: "__Host-refresh_token" });
    expectRefreshCookie(onlyCookie(account.response), "__Host-refresh_token", true);

    const rotated = await refresh(server.url, { cookie: account.cookie, cookieName: "__Host-refresh_token" });
    expectRefreshCookie(onlyCookie(rotated.response), "__Host-refresh_token", true);
    expect(rotated.sessionId).toBe(account.sessionId);

    // The insecure name is not the refresh cookie here.
    const wrongName = await callGraphQL(server.url, REFRESH_TOKEN, { cookie: `refresh_token=${rotated.refreshToken}` });
    expect(errorOf(wrongName)).toEqual({ code: "UNAUTHENTICATED", reason: "REFRESH_TOKEN_MISSING" });

    const logout = await callGraphQL(server.url, LOGOUT, { cookie: rotated.cookie });
    const cleared = onlyCookie(logout);
    expectCleared(cleared, "__Host-refresh_token");
    expect(cleared.attributes.secure).toBe(true);
  });

  it("leaks no refresh token into bodies or logs, and no password into logs", () => {
    expectNoLeaks(server);
  });
});
