// `me` is served from AuthService's user cache; these pin down why that stays
// correct: disabling a user refuses their tokens at once, and a row changed
// behind keyway's back is served for no longer than the cache's TTL.
import { DEFAULT_PASSWORD, LOGIN, ME, REFRESH_HEADER, REFRESH_TOKEN, signUp } from "../helpers/auth";
import { callGraphQL, errorOf } from "../helpers/http";
import { startTestServer, TestClock, type TestServer } from "../helpers/server";

describe("me and the user cache", () => {
  let server: TestServer;
  const clock = new TestClock();

  beforeAll(async () => {
    server = await startTestServer({ clock });
  });
  afterAll(() => server?.stop());

  const me = (accessToken: string) =>
    callGraphQL<{ me: { id: string; email: string } }>(server.url, ME, { accessToken });

  it("answers me again without reading the user row again", async () => {
    const account = await signUp(server.url);
    const reads: string[] = [];
    const prisma = server.database.prisma;
    const findUnique = prisma.user.findUnique.bind(prisma.user);
    const spy = jest.spyOn(prisma.user, "findUnique").mockImplementation((args: { where: { id?: string } }) => {
      reads.push(args.where.id ?? "");
      return findUnique(args as never);
    });
    try {
      expect((await me(account.accessToken)).body.data?.me.email).toBe(account.email);
      expect((await me(account.accessToken)).body.data?.me.email).toBe(account.email);
    } finally {
      spy.mockRestore();
    }
    expect(reads.filter((id) => id === account.userId).length).toBeLessThanOrEqual(1);
  });

  it("refuses a disabled user's access token, refresh token and password at once", async () => {
    const account = await signUp(server.url, undefined, undefined, { headers: { [REFRESH_HEADER]: "1" } });
    expect(errorOf(await me(account.accessToken))).toBeUndefined(); // now cached
    expect(await server.services.auth.disableUser(account.userId)).toBe(true);

    expect(errorOf(await me(account.accessToken))).toEqual({ code: "UNAUTHENTICATED", reason: "SESSION_ENDED" });
    const refreshed = await callGraphQL(server.url, REFRESH_TOKEN, {
      headers: { [REFRESH_HEADER]: account.refreshToken },
    });
    expect(errorOf(refreshed)?.code).toBe("UNAUTHENTICATED");
    const loggedIn = await callGraphQL(server.url, LOGIN, {
      variables: { input: { email: account.email, password: DEFAULT_PASSWORD } },
    });
    expect(errorOf(loggedIn)).toEqual({ code: "UNAUTHENTICATED", reason: "INVALID_CREDENTIALS" });
    expect(await server.services.auth.disableUser(account.userId)).toBe(false);
  });

  it("a login racing with disableUser never leaves a live session behind", async () => {
    const account = await signUp(server.url);
    const sessions = server.services.sessions;
    const startSession = sessions.startSession.bind(sessions);
    // The login has read the user (still active) and checked the password; the account is disabled just before its session is inserted.
    const spy = jest.spyOn(sessions, "startSession").mockImplementation(async (userId, meta, authentication) => {
      await server.services.auth.disableUser(userId);
      return startSession(userId, meta, authentication);
    });
    try {
      const loggedIn = await callGraphQL(server.url, LOGIN, {
        variables: { input: { email: account.email, password: DEFAULT_PASSWORD } },
      });
      expect(errorOf(loggedIn)).toEqual({ code: "UNAUTHENTICATED", reason: "INVALID_CREDENTIALS" });
    } finally {
      spy.mockRestore();
    }
    expect(await sessions.listLiveSessions(account.userId)).toEqual([]);
  });

  it("a role revoked while a login hashes its password is not in the token that login gets", async () => {
    const account = await signUp(server.url);
    await server.services.roles.grantRole(account.userId, "staff", "test");
    const sessions = server.services.sessions;
    const startSession = sessions.startSession.bind(sessions);
    // The login has read the user (with the role) and checked the password; the role goes before the session is inserted.
    const spy = jest.spyOn(sessions, "startSession").mockImplementation(async (userId, meta, authentication) => {
      await server.services.roles.revokeRole(userId, "staff", "test");
      return startSession(userId, meta, authentication);
    });
    try {
      const loggedIn = await callGraphQL<{ login: { accessToken: string } }>(server.url, LOGIN, {
        variables: { input: { email: account.email, password: DEFAULT_PASSWORD } },
      });
      expect(errorOf(loggedIn)).toBeUndefined();
      const claims = JSON.parse(
        Buffer.from(loggedIn.body.data!.login.accessToken.split(".")[1], "base64url").toString(),
      ) as { roles: string[]; scope: string };
      expect({ roles: claims.roles, scope: claims.scope }).toEqual({ roles: [], scope: "" });
    } finally {
      spy.mockRestore();
    }
  });

  it("serves a row disabled in SQL (no session ended) for at most the cache's TTL", async () => {
    const account = await signUp(server.url);
    expect(errorOf(await me(account.accessToken))).toBeUndefined(); // now cached
    await server.database.prisma.user.update({
      where: { id: account.userId },
      data: { disabledAt: new Date(clock.now()) },
    });
    clock.advance(31);
    expect(errorOf(await me(account.accessToken))).toEqual({ code: "UNAUTHENTICATED", reason: "SESSION_ENDED" });
  });

  it("reads the row afresh after forgetUser", async () => {
    const account = await signUp(server.url);
    expect(errorOf(await me(account.accessToken))).toBeUndefined(); // now cached
    await server.database.prisma.user.update({
      where: { id: account.userId },
      data: { disabledAt: new Date(clock.now()) },
    });
    server.services.auth.forgetUser(account.userId);
    expect(errorOf(await me(account.accessToken))).toEqual({ code: "UNAUTHENTICATED", reason: "SESSION_ENDED" });
  });
});
