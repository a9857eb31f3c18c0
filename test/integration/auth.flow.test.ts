import { createLocalJWKSet, jwtVerify, type JSONWebKeySet } from "jose";
import { createLogger } from "../../src/logger";
import { createServices } from "../../src/services";
import { BrowserClient, uniqueEmail } from "../helpers/client";
import { callGraphQL, errorOf, parseSetCookie } from "../helpers/http";
import { startTestServer, TestClock, type TestServer } from "../helpers/server";

const clock = new TestClock();
let server: TestServer;

beforeAll(async () => {
  server = await startTestServer({
    clock,
    env: { REFRESH_TOKEN_TTL: "3d", SESSION_IDLE_TTL: "1d", ACCESS_TOKEN_TTL: "15m" },
  });
});
afterAll(() => server.stop());

describe("the whole flow", () => {
  it("signUp → me → refresh → expiry → refresh → logout → old cookie and old access token refused", async () => {
    const browser = new BrowserClient(server.url);
    const signedUp = await browser.signUp();
    expect(signedUp).toMatchObject({ tokenType: "Bearer", expiresIn: 900 });
    expect((await browser.me()).body.data?.me).toEqual(signedUp.user);

    const firstCookie = browser.refreshToken;
    expect((await browser.refresh()).body.errors).toBeUndefined();
    expect(browser.refreshToken).not.toBe(firstCookie);
    expect((await browser.me()).body.data?.me.id).toBe(signedUp.user.id);

    clock.advance(15 * 60 + 2);
    expect(errorOf(await browser.me())).toEqual({ code: "UNAUTHENTICATED", reason: "TOKEN_EXPIRED" });
    expect((await browser.refresh()).body.errors).toBeUndefined();
    expect((await browser.me()).body.data?.me.id).toBe(signedUp.user.id);

    const endedCookie = browser.refreshToken;
    const endedAccess = browser.accessToken!;
    const logout = await browser.call("mutation { logout }");
    expect(logout.body.data).toEqual({ logout: true });
    expect(browser.refreshToken).toBeNull();

    const replay = await callGraphQL(server.url, "mutation { refreshToken { accessToken } }", {
      cookie: `refresh_token=${endedCookie}`,
    });
    expect(errorOf(replay)).toEqual({ code: "UNAUTHENTICATED", reason: "REFRESH_TOKEN_INVALID" });
    const oldAccess = await callGraphQL(server.url, "{ me { id } }", { accessToken: endedAccess });
    expect(errorOf(oldAccess)).toEqual({ code: "UNAUTHENTICATED", reason: "SESSION_ENDED" });
  });

  it("issues access tokens that an independent library verifies against the JWKS", async () => {
    const browser = new BrowserClient(server.url);
    const { accessToken, user } = await browser.signUp();
    const jwks = createLocalJWKSet(
      (await (await fetch(`${server.url}/.well-known/jwks.json`)).json()) as JSONWebKeySet,
    );
    const { payload, protectedHeader } = await jwtVerify(accessToken, jwks, {
      issuer: "keyway",
      audience: "keyway",
      typ: "at+jwt",
      algorithms: ["ES256"],
      currentDate: new Date(clock.now()),
    });
    expect(protectedHeader.kid).toBe(server.keys.signing.kid);
    expect(payload.sub).toBe(user.id);
    expect(payload.exp! - payload.iat!).toBe(900);
    expect(payload.jti).toEqual(expect.any(String));
    const session = await server.database.prisma.session.findUniqueOrThrow({ where: { id: payload.sid as string } });
    expect(session.userId).toBe(user.id);
  });
});

describe("ending sessions", () => {
  it("logoutAll ends every session of the caller and their tokens, not other users'", async () => {
    const laptop = new BrowserClient(server.url);
    const { user } = await laptop.signUp();
    const phone = new BrowserClient(server.url);
    await phone.login(user.email);
    const stranger = new BrowserClient(server.url);
    await stranger.signUp();

    const response = await laptop.call("mutation { logoutAll }");
    expect(response.body.data).toEqual({ logoutAll: 2 });
    expect(errorOf(await phone.me())).toEqual({ code: "UNAUTHENTICATED", reason: "SESSION_ENDED" });
    expect(errorOf(await phone.refresh())).toEqual({ code: "UNAUTHENTICATED", reason: "REFRESH_TOKEN_INVALID" });
    expect((await stranger.me()).body.data?.me).toBeDefined();
  });

  it("lists live sessions newest first with `current`, and revokeSession ends one of them", async () => {
    const first = new BrowserClient(server.url);
    const { user } = await first.signUp();
    clock.advance(1);
    const second = new BrowserClient(server.url);
    await second.login(user.email);

    const listed = await second.call("{ sessions { id current createdAt lastUsedAt expiresAt userAgent ip } }");
    const sessions = (
      listed.body.data as {
        sessions: Array<{ id: string; current: boolean; ip: string; expiresAt: string; createdAt: string }>;
      }
    ).sessions;
    expect(sessions.map((session) => session.current)).toEqual([true, false]);
    expect(sessions[0].ip).toBe("127.0.0.1");
    expect(Date.parse(sessions[0].expiresAt) - Date.parse(sessions[0].createdAt)).toBe(3 * 86400 * 1000);

    const revoked = await second.call("mutation($id: ID!) { revokeSession(id: $id) }", { id: sessions[1].id });
    expect(revoked.body.data).toEqual({ revokeSession: true });
    expect(errorOf(await first.me())).toEqual({ code: "UNAUTHENTICATED", reason: "SESSION_ENDED" });
    const after = await second.call("{ sessions { id } }");
    expect((after.body.data as { sessions: unknown[] }).sessions).toHaveLength(1);
    const again = await second.call("mutation($id: ID!) { revokeSession(id: $id) }", { id: sessions[1].id });
    expect(errorOf(again)?.code).toBe("FORBIDDEN");
  });

  it("logout without a cookie ends the access token's session", async () => {
    const browser = new BrowserClient(server.url);
    await browser.signUp();
    const response = await callGraphQL(server.url, "mutation { logout }", { accessToken: browser.accessToken! });
    expect(response.body.data).toEqual({ logout: true });
    expect(errorOf(await browser.me())?.reason).toBe("SESSION_ENDED");
    const nothing = await callGraphQL(server.url, "mutation { logout }");
    expect(nothing.body.data).toEqual({ logout: false });
  });

  it("rebuilds the list of ended sessions from the database at start-up", async () => {
    const browser = new BrowserClient(server.url);
    await browser.signUp();
    const sid = JSON.parse(Buffer.from(browser.accessToken!.split(".")[1], "base64url").toString()).sid as string;
    await browser.call("mutation { logout }");
    const restarted = await createServices({
      config: server.config,
      stores: server.stores,
      keys: server.keys,
      logger: createLogger({ level: "silent" }),
      now: clock.now,
    });
    expect(restarted.revocations.has(sid)).toBe(true);
    await restarted.close();
  });
});

describe("session lifetime", () => {
  it("ends a session left unused for SESSION_IDLE_TTL", async () => {
    const browser = new BrowserClient(server.url);
    await browser.signUp();
    clock.advance(86400 - 60);
    expect((await browser.refresh()).body.errors).toBeUndefined();
    clock.advance(86400 + 1);
    expect(errorOf(await browser.refresh())).toEqual({ code: "UNAUTHENTICATED", reason: "REFRESH_TOKEN_INVALID" });
  });

  it("ends a session at its absolute expiry however often it is used, and caps access tokens there", async () => {
    const browser = new BrowserClient(server.url);
    await browser.signUp(uniqueEmail("absolute"));
    for (let hours = 10; hours <= 70; hours += 10) {
      clock.advance(10 * 3600);
      expect((await browser.refresh()).body.errors).toBeUndefined();
    }
    clock.advance(3600 + 55 * 60); // 71 h 55 min: five minutes of the 72 h left
    const late = await browser.refresh();
    expect(late.body.data?.refreshToken.expiresIn).toBe(300);
    expect(parseSetCookie(late.setCookies[0]).attributes["max-age"]).toBe("300");
    clock.advance(301);
    expect(errorOf(await browser.refresh())).toEqual({ code: "UNAUTHENTICATED", reason: "REFRESH_TOKEN_INVALID" });
  });
});
