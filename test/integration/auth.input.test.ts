// What signUp, login and revokeSession accept, and how they refuse the rest.
import { randomUUID } from "node:crypto";
import {
  DEFAULT_PASSWORD,
  LOGIN,
  ME,
  REVOKE_SESSION,
  SIGN_UP,
  login,
  refresh,
  signUp,
  uniqueEmail,
} from "../helpers/auth";
import { callGraphQL, errorOf, type GraphQLResponse } from "../helpers/http";
import { startTestServer, type TestServer } from "../helpers/server";

const EMOJI = "😀";
/** `local@example.io` padded to exactly `length` characters. */
const emailOfLength = (length: number) => `${"a".repeat(length - "@example.io".length)}@example.io`;

describe("auth input", () => {
  let server: TestServer;
  beforeAll(async () => {
    server = await startTestServer();
  });
  afterAll(async () => {
    await server?.stop();
  });

  const callSignUp = (email: string, password: string) =>
    callGraphQL(server.url, SIGN_UP, { variables: { input: { email, password } } });
  const callLogin = (email: string, password: string) =>
    callGraphQL(server.url, LOGIN, { variables: { input: { email, password } } });
  const counts = async () => ({
    users: await server.database.prisma.user.count(),
    sessions: await server.database.prisma.session.count(),
  });

  describe("email normalization", () => {
    it("trims and lower-cases emails, so case variants are one account", async () => {
      const created = await signUp(server.url, "  A@Example.IO ", DEFAULT_PASSWORD);
      expect((created.response.body.data as { signUp: { user: { email: string } } }).signUp.user.email).toBe(
        "a@example.io",
      );

      const loggedIn = await login(server.url, "a@example.io", DEFAULT_PASSWORD);
      expect(loggedIn.userId).toBe(created.userId);
      const me = await callGraphQL(server.url, ME, { accessToken: loggedIn.accessToken });
      expect(me.body.data).toMatchObject({ me: { id: created.userId, email: "a@example.io" } });
      const stored = await server.database.prisma.user.findUnique({ where: { id: created.userId } });
      expect(stored?.email).toBe("a@example.io");

      const before = await counts();
      const again = await callSignUp("a@EXAMPLE.io", "another good password");
      expect(errorOf(again)).toEqual({ code: "CONFLICT", reason: undefined });
      expect(again.body.data).toBeNull();
      expect(again.setCookies).toEqual([]);
      expect(await counts()).toEqual(before);
    });
  });

  describe("refusals before anything is stored", () => {
    const expectRefusedWithoutTrace = async (call: () => Promise<GraphQLResponse>) => {
      const before = await counts();
      const response = await call();
      expect(response.status).toBeLessThan(500);
      expect(errorOf(response)?.code).toBe("BAD_USER_INPUT");
      expect(response.body.data).toBeNull();
      expect(response.setCookies).toEqual([]);
      expect(response.headers.get("x-refresh-token")).toBeNull();
      expect(await counts()).toEqual(before);
    };

    it.each([
      ["without an @", "not-an-email"],
      ["without a domain dot", "someone@localhost"],
      ["with white space inside", "some one@example.io"],
      ["empty", ""],
      ["of only white space", "   "],
      ["of 255 characters", emailOfLength(255)],
      ["with a control character (BEL)", "ctl\u0007x@example.io"],
      ["with a control character (NUL)", "ctl\u0000x@example.io"],
      ["with a control character (DEL)", "ctl\u007fx@example.io"],
      // 250 characters as sent, 495 once lower-cased: "İ" becomes "i" and a combining dot.
      ["that grows past 254 characters when lower-cased", `${"\u0130".repeat(245)}@x.io`],
      ["with a lone surrogate", "lone\ud800x@example.io"],
      ["with a zero-width space", "look\u200balike@example.io"],
      ["with a right-to-left override", "look\u202ealike@example.io"],
      ["with a soft hyphen", "look\u00adalike@example.io"],
    ])("refuses signUp with an email %s", async (_label, email) => {
      await expectRefusedWithoutTrace(() => callSignUp(email, DEFAULT_PASSWORD));
    });

    it.each([
      ["of 7 characters", "1234567"],
      ["of 129 characters", "p".repeat(129)],
      ["of 129 emoji", EMOJI.repeat(129)],
      ["that is empty", ""],
      ["with a lone surrogate", "password\udc00!"],
    ])("refuses signUp with a password %s", async (_label, password) => {
      await expectRefusedWithoutTrace(() => callSignUp(uniqueEmail("weak"), password));
    });

    it("refuses login with a password outside 8–128 characters, even for an existing account", async () => {
      const account = await signUp(server.url);
      for (const password of ["1234567", "p".repeat(129), EMOJI.repeat(129)]) {
        await expectRefusedWithoutTrace(() => callLogin(account.email, password));
      }
      await expectRefusedWithoutTrace(() => callLogin("not-an-email", DEFAULT_PASSWORD));
    });
  });

  it("takes an address typed precomposed, decomposed or in full-width letters for one address", async () => {
    const tag = uniqueEmail("x")
      .split("@")[0]
      .replace(/[^a-z0-9]/g, "");
    const precomposed = `jos\u00e9-${tag}@example.io`;
    const created = await callSignUp(precomposed, DEFAULT_PASSWORD);
    expect(errorOf(created)).toBeUndefined();
    const decomposed = `jose\u0301-${tag}@example.io`;
    expect(errorOf(await callSignUp(decomposed, DEFAULT_PASSWORD))?.code).toBe("CONFLICT");
    const fullWidth = `\uff2a\uff2f\uff33\u00c9-${tag}@example.io`;
    expect(errorOf(await callLogin(fullWidth, DEFAULT_PASSWORD))).toBeUndefined();
    expect(errorOf(await callLogin(decomposed, DEFAULT_PASSWORD))).toBeUndefined();
  });

  describe("unicode emails (property)", () => {
    it("never answers 5xx or INTERNAL_SERVER_ERROR, and what is stored is what logs in", async () => {
      const fc = await import("fast-check");
      const local = fc.string({ unit: "grapheme", minLength: 1, maxLength: 140 });
      const domain = fc.string({ unit: "grapheme", minLength: 1, maxLength: 60 });
      const email = fc
        .tuple(local, domain, fc.constantFrom("io", "com", "İO", "ǅ", "ß"))
        .map(([l, d, t]) => `${l}@${d}.${t}`);
      // Characters whose lower case is longer than they are, near the length bound.
      const growing = fc
        .tuple(fc.integer({ min: 120, max: 252 }), fc.constantFrom("\u0130", "A"))
        .map(([n, c]) => `${c.repeat(n - 5)}@x.io`);
      let accepted = 0;
      await fc.assert(
        fc.asyncProperty(fc.oneof(email, growing, fc.string({ unit: "binary", maxLength: 300 })), async (candidate) => {
          const response = await callSignUp(candidate, DEFAULT_PASSWORD);
          expect(response.status).toBeLessThan(500);
          const code = errorOf(response)?.code;
          expect(["BAD_USER_INPUT", "CONFLICT", undefined]).toContain(code);
          if (code !== undefined) return;
          accepted += 1;
          const stored = (response.body.data as { signUp: { user: { email: string } } }).signUp.user.email;
          expect([...stored].length).toBeLessThanOrEqual(254);
          expect(errorOf(await callLogin(candidate, DEFAULT_PASSWORD))).toBeUndefined();
        }),
        { numRuns: 150, seed: Number(process.env.FUZZ_SEED ?? Date.now() % 2 ** 31) },
      );
      // The property proves something only if some candidates were stored and logged in with.
      console.log(`unicode emails: ${accepted} of 150 accepted`);
      expect(accepted).toBeGreaterThanOrEqual(15);
    });
  });

  describe("accepted boundaries", () => {
    it("accepts an email of exactly 254 characters", async () => {
      const email = emailOfLength(254);
      const account = await signUp(server.url, email);
      expect(account.userId).toBeDefined();
      await expect(login(server.url, email)).resolves.toMatchObject({ userId: account.userId });
    });

    it.each([
      ["of 8 characters", "12345678"],
      ["of 128 characters", "p".repeat(128)],
      // 256 UTF-16 code units: accepted only if lengths count code points.
      ["of 128 emoji", EMOJI.repeat(128)],
    ])("accepts a password %s, and logs in with it", async (_label, password) => {
      const account = await signUp(server.url, uniqueEmail("edge"), password);
      await expect(login(server.url, account.email, password)).resolves.toMatchObject({ userId: account.userId });
    });

    it("compares passwords exactly: no trimming or case folding", async () => {
      const password = "  Mixed Case Password  ";
      const account = await signUp(server.url, uniqueEmail("exact"), password);
      for (const variant of [password.trim(), password.toLowerCase()]) {
        expect(errorOf(await callLogin(account.email, variant))).toEqual({
          code: "UNAUTHENTICATED",
          reason: "INVALID_CREDENTIALS",
        });
      }
      await expect(login(server.url, account.email, password)).resolves.toMatchObject({ userId: account.userId });
    });
  });

  describe("bad credentials", () => {
    it("answers an unknown email and a wrong password with byte-identical errors", async () => {
      const account = await signUp(server.url);
      const before = await counts();
      const unknown = await callLogin(uniqueEmail("nobody"), DEFAULT_PASSWORD);
      const wrong = await callLogin(account.email, `${DEFAULT_PASSWORD}!`);

      expect(errorOf(unknown)).toEqual({ code: "UNAUTHENTICATED", reason: "INVALID_CREDENTIALS" });
      expect(unknown.status).toBe(wrong.status);
      expect(JSON.stringify(wrong.body)).toBe(JSON.stringify(unknown.body));
      expect(wrong.setCookies).toEqual([]);
      expect(await counts()).toEqual(before);
    });
  });

  describe("revokeSession", () => {
    const revoke = (accessToken: string, id: string) =>
      callGraphQL(server.url, REVOKE_SESSION, { accessToken, variables: { id } });

    it.each(["not-a-uuid", "123", "0f8fad5b-d9cb-469f-a165-70867728950ex", "' OR 1=1 --"])(
      "refuses the malformed id %j with BAD_USER_INPUT",
      async (id) => {
        const account = await signUp(server.url);
        const response = await revoke(account.accessToken, id);
        expect(errorOf(response)?.code).toBe("BAD_USER_INPUT");
        expect(response.body.data).toBeNull();
      },
    );

    it("refuses another user's live session with FORBIDDEN and leaves it working", async () => {
      const victim = await signUp(server.url);
      const attacker = await signUp(server.url);
      const response = await revoke(attacker.accessToken, victim.sessionId);
      expect(errorOf(response)?.code).toBe("FORBIDDEN");
      expect(response.body.data).toBeNull();

      const stored = await server.database.prisma.session.findUnique({ where: { id: victim.sessionId } });
      expect(stored?.endedAt).toBeNull();
      const me = await callGraphQL(server.url, ME, { accessToken: victim.accessToken });
      expect(me.body.data).toMatchObject({ me: { id: victim.userId } });
      await expect(refresh(server.url, { cookie: victim.cookie })).resolves.toMatchObject({
        sessionId: victim.sessionId,
      });
    });

    it("refuses an id that is no session at all with FORBIDDEN", async () => {
      const account = await signUp(server.url);
      expect(errorOf(await revoke(account.accessToken, randomUUID()))?.code).toBe("FORBIDDEN");
    });

    it("refuses one of the caller's own sessions once it has ended, with FORBIDDEN", async () => {
      const account = await signUp(server.url);
      const other = await login(server.url, account.email);
      const first = await revoke(account.accessToken, other.sessionId);
      expect(first.body).toEqual({ data: { revokeSession: true } });
      expect(errorOf(await revoke(account.accessToken, other.sessionId))?.code).toBe("FORBIDDEN");
    });
  });
});

describe("sign-up closed (ALLOW_SIGNUP=false)", () => {
  let server: TestServer;
  beforeAll(async () => {
    server = await startTestServer({ env: { ALLOW_SIGNUP: "false" } });
  });
  afterAll(async () => {
    await server?.stop();
  });

  it("answers signUp with FORBIDDEN and creates nothing", async () => {
    const response = await callGraphQL(server.url, SIGN_UP, {
      variables: { input: { email: uniqueEmail("closed"), password: DEFAULT_PASSWORD } },
    });
    expect(errorOf(response)?.code).toBe("FORBIDDEN");
    expect(response.body.data).toBeNull();
    expect(response.setCookies).toEqual([]);
    expect(await server.database.prisma.user.count()).toBe(0);
    expect(await server.database.prisma.session.count()).toBe(0);
  });

  it("still lets existing accounts log in", async () => {
    const email = uniqueEmail("existing");
    const user = await server.database.prisma.user.create({
      data: { email, passwordHash: await server.services.passwords.hash(DEFAULT_PASSWORD, "test") },
    });
    await expect(login(server.url, email)).resolves.toMatchObject({ userId: user.id });
  });
});
