import { BrowserClient } from "../helpers/client";
import { callGraphQL, errorOf } from "../helpers/http";
import { startTestServer, TestClock, type TestServer } from "../helpers/server";

const clock = new TestClock();
let server: TestServer;

beforeAll(async () => {
  server = await startTestServer({ clock, env: { REFRESH_REUSE_GRACE: "10s", AUTH_IP_LIMIT: "10000/1m" } });
});
afterAll(() => server.stop());

const sessionOf = (client: BrowserClient) => {
  const { sid } = JSON.parse(Buffer.from(client.accessToken!.split(".")[1], "base64url").toString()) as { sid: string };
  return server.database.prisma.session.findUniqueOrThrow({ where: { id: sid } });
};

describe("reuse detection", () => {
  it("ends the session, its newest refresh token and its access tokens when a rotated token returns after the grace window", async () => {
    const thief = new BrowserClient(server.url);
    await thief.signUp();
    const victim = thief.clone();
    expect((await thief.refresh()).body.errors).toBeUndefined(); // the thief rotates first
    const otherDevice = new BrowserClient(server.url);
    await otherDevice.login((await thief.me()).body.data!.me.email);

    clock.advance(11);
    expect(errorOf(await victim.refresh())).toEqual({ code: "UNAUTHENTICATED", reason: "REFRESH_TOKEN_REUSED" });
    expect(errorOf(await thief.refresh())).toEqual({ code: "UNAUTHENTICATED", reason: "REFRESH_TOKEN_INVALID" });
    expect(errorOf(await thief.me())).toEqual({ code: "UNAUTHENTICATED", reason: "SESSION_ENDED" });
    expect((await sessionOf(thief)).endReason).toBe("REFRESH_TOKEN_REUSED");
    // Theft ends that one session; the user's other sessions live on.
    expect((await otherDevice.refresh()).body.errors).toBeUndefined();
  });

  it("answers the immediate predecessor inside the window with the current token, without rotating again", async () => {
    const tab = new BrowserClient(server.url);
    await tab.signUp();
    const retrying = tab.clone(); // its refresh response was lost
    await tab.refresh();
    const current = tab.refreshToken;
    const before = await sessionOf(tab);

    clock.advance(5);
    const retried = await retrying.refresh();
    expect(retried.body.errors).toBeUndefined();
    expect(retrying.refreshToken).toBe(current);
    expect((await sessionOf(tab)).generation).toBe(before.generation);
    expect((await retrying.me()).body.data?.me).toBeDefined();
    // The handed-back token is the live one: it rotates normally next time.
    expect((await retrying.refresh()).body.errors).toBeUndefined();
    expect((await sessionOf(tab)).generation).toBe(before.generation + 1);
  });

  it("runs the window from the rotation, not from the last retry", async () => {
    const tab = new BrowserClient(server.url);
    await tab.signUp();
    const stale = tab.clone();
    await tab.refresh();
    clock.advance(6);
    expect((await stale.clone().refresh()).body.errors).toBeUndefined();
    clock.advance(5); // 11 s after the rotation, 5 s after the retry
    expect(errorOf(await stale.refresh())).toEqual({ code: "UNAUTHENTICATED", reason: "REFRESH_TOKEN_REUSED" });
  });

  it("treats a grandparent as theft even inside the window", async () => {
    const tab = new BrowserClient(server.url);
    await tab.signUp();
    const grandparent = tab.clone();
    await tab.refresh();
    await tab.refresh();
    expect(errorOf(await grandparent.refresh())).toEqual({ code: "UNAUTHENTICATED", reason: "REFRESH_TOKEN_REUSED" });
    expect(errorOf(await tab.refresh())).toEqual({ code: "UNAUTHENTICATED", reason: "REFRESH_TOKEN_INVALID" });
  });

  it("refuses a missing, malformed or unknown refresh token without touching any session", async () => {
    const missing = await callGraphQL(server.url, "mutation { refreshToken { accessToken } }");
    expect(errorOf(missing)).toEqual({ code: "UNAUTHENTICATED", reason: "REFRESH_TOKEN_MISSING" });
    for (const token of ["garbage", "A".repeat(22) + "." + "B".repeat(43), "x".repeat(5000)]) {
      const response = await callGraphQL(server.url, "mutation { refreshToken { accessToken } }", {
        headers: { "x-refresh-token": token },
      });
      expect(errorOf(response)).toEqual({ code: "UNAUTHENTICATED", reason: "REFRESH_TOKEN_INVALID" });
    }
  });
});

describe("concurrent refreshes", () => {
  it("50 parallel refreshes with one cookie: one rotation, one live session, every caller logged in on one token", async () => {
    const first = new BrowserClient(server.url);
    const { user } = await first.signUp();
    const tabs = Array.from({ length: 50 }, () => first.clone());
    const responses = await Promise.all(tabs.map((tab) => tab.refresh()));

    expect(responses.map((response) => response.body.errors)).toEqual(responses.map(() => undefined));
    const cookies = new Set(tabs.map((tab) => tab.refreshToken));
    expect(cookies.size).toBe(1);
    expect([...cookies][0]).not.toBe(first.refreshToken);
    const sessions = await server.database.prisma.session.findMany({ where: { userId: user.id } });
    expect(sessions).toHaveLength(1);
    expect(sessions[0]).toMatchObject({ generation: 1, endedAt: null });

    const mes = await Promise.all(tabs.slice(0, 10).map((tab) => tab.me()));
    expect(mes.every((response) => response.body.data?.me.id === user.id)).toBe(true);
    expect((await tabs[0].refresh()).body.errors).toBeUndefined();
    expect((await server.database.prisma.session.findUniqueOrThrow({ where: { id: sessions[0].id } })).generation).toBe(
      2,
    );
  });

  it("two racing rotations never fork a session (store-level compare-and-swap)", async () => {
    const tab = new BrowserClient(server.url);
    await tab.signUp();
    const session = await sessionOf(tab);
    const store = server.services.sessions;
    const outcomes = await Promise.all(Array.from({ length: 8 }, () => store.rotateSession(tab.refreshToken!)));
    const tokens = new Set(outcomes.map((outcome) => (outcome.ok ? outcome.refreshToken : outcome.reason)));
    expect(tokens.size).toBe(1);
    expect((await server.database.prisma.session.findUniqueOrThrow({ where: { id: session.id } })).generation).toBe(1);
  });
});

describe("what the database holds", () => {
  it("keeps no usable refresh token: only hashes and a secret sealed under its predecessor", async () => {
    const tab = new BrowserClient(server.url);
    await tab.signUp();
    await tab.refresh();
    const row = await sessionOf(tab);
    const secret = tab.refreshToken!.split(".")[1];
    const stored = JSON.stringify(row);
    expect(stored).not.toContain(secret);
    expect(row.tokenHash).toMatch(/^[0-9a-f]{64}$/);
    expect(row.tokenHash).not.toBe(secret);
    // With only the row, the sealed token cannot be presented: a forged token built from it is refused.
    const forged = `${row.tokenFamily}.${Buffer.from(row.tokenHash, "hex").toString("base64url")}`;
    const response = await callGraphQL(server.url, "mutation { refreshToken { accessToken } }", {
      headers: { "x-refresh-token": forged },
    });
    expect(errorOf(response)?.code).toBe("UNAUTHENTICATED");
  });
});
