// The context builder's semantics: which reason it records for a missing or expired
// token, and that a refusal only fails operations that need a caller. Forged and
// malformed tokens and Authorization headers are the security suite's
// (test/security/jwt.test.ts).
import { BrowserClient, uniqueEmail, PASSWORD } from "../helpers/client";
import { callGraphQL, errorOf } from "../helpers/http";
import { startTestServer, TestClock, type TestServer } from "../helpers/server";

const clock = new TestClock();
let server: TestServer;
let browser: BrowserClient;
let validToken: string;

beforeAll(async () => {
  server = await startTestServer({ clock });
  browser = new BrowserClient(server.url);
  validToken = (await browser.signUp()).accessToken;
});
afterAll(() => server.stop());

const meWith = async (authorization: string | undefined) =>
  errorOf(
    await callGraphQL(server.url, "{ me { id } }", { headers: authorization === undefined ? {} : { authorization } }),
  );

const claimsOf = (token: string) =>
  JSON.parse(Buffer.from(token.split(".")[1], "base64url").toString()) as Record<string, unknown>;

describe("reasons recorded by the context builder", () => {
  it.each([
    ["no header", "TOKEN_MISSING", undefined],
    ["an empty value", "TOKEN_MISSING", ""],
    ["the scheme alone", "TOKEN_MISSING", "Bearer"],
    ["another scheme", "TOKEN_INVALID", "Basic dXNlcjpwYXNz"],
    // Both a scheme without a token and a bare token: not a Bearer credential either way.
    ["another scheme alone", "TOKEN_INVALID", "Basic"],
    ["only white space", "TOKEN_MISSING", "   "],
    ["the scheme, then only white space", "TOKEN_MISSING", "Bearer    "],
  ])("%s → %s", async (_label, reason, authorization) => {
    expect(await meWith(authorization)).toEqual({ code: "UNAUTHENTICATED", reason });
  });

  it("says TOKEN_EXPIRED past exp (beyond one second of tolerance), and accepts within it", async () => {
    const { exp } = claimsOf(validToken) as { exp: number };
    const original = clock.now();
    clock.advance(exp - Math.floor(clock.now() / 1000));
    expect((await callGraphQL(server.url, "{ me { id } }", { accessToken: validToken })).body.errors).toBeUndefined();
    clock.advance(2);
    expect(await meWith(`Bearer ${validToken}`)).toEqual({ code: "UNAUTHENTICATED", reason: "TOKEN_EXPIRED" });
    clock.advance((original - clock.now()) / 1000);
  });
});

describe("a refused token does not block the operations that need none", () => {
  it("still allows signUp, login and refreshToken with a bad Authorization header", async () => {
    const headers = { authorization: "Bearer definitely.not.valid" };
    const email = uniqueEmail();
    const signUp = await callGraphQL(server.url, "mutation($i: SignUpInput!) { signUp(input: $i) { accessToken } }", {
      headers,
      variables: { i: { email, password: PASSWORD } },
    });
    expect(signUp.body.errors).toBeUndefined();
    const login = await callGraphQL(server.url, "mutation($i: LoginInput!) { login(input: $i) { accessToken } }", {
      headers,
      variables: { i: { email, password: PASSWORD } },
    });
    expect(login.body.errors).toBeUndefined();
    const cookie = login.setCookies[0].split(";")[0];
    const refresh = await callGraphQL(server.url, "mutation { refreshToken { accessToken } }", { headers, cookie });
    expect(refresh.body.errors).toBeUndefined();
  });
});
