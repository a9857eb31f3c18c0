import { createHmac, generateKeyPairSync } from "node:crypto";
import jwt from "jsonwebtoken";
import { BrowserClient, uniqueEmail, PASSWORD } from "../helpers/client";
import { callGraphQL, errorOf } from "../helpers/http";
import { postRaw } from "../helpers/raw-http";
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
  errorOf(await callGraphQL(server.url, "{ me { id } }", { headers: authorization === undefined ? {} : { authorization } }));

const b64 = (value: object) => Buffer.from(JSON.stringify(value)).toString("base64url");
const claimsOf = (token: string) => JSON.parse(Buffer.from(token.split(".")[1]!, "base64url").toString()) as Record<string, unknown>;
const without = (claims: Record<string, unknown>, name: string) => Object.fromEntries(Object.entries(claims).filter(([key]) => key !== name));
const signWithServerKey = (payload: object, header: object = {}) =>
  jwt.sign(payload, server.keys.signing.privateKey, { algorithm: "ES256", header: { alg: "ES256", typ: "at+jwt", kid: server.keys.signing.kid, ...header } });

describe("reasons recorded by the context builder", () => {
  it.each([
    ["no header", "TOKEN_MISSING", undefined],
    ["an empty value", "TOKEN_MISSING", ""],
    ["the scheme alone", "TOKEN_MISSING", "Bearer"],
    ["another scheme", "TOKEN_INVALID", "Basic dXNlcjpwYXNz"],
    ["a bare token", "TOKEN_INVALID", "eyJhbGciOiJFUzI1NiJ9.e30.sig"],
    ["garbage", "TOKEN_INVALID", "Bearer not-a-jwt"],
    ["two spaces", "TOKEN_INVALID", "Bearer  eyJhbGciOiJFUzI1NiJ9.e30.sig"],
  ])("%s → %s", async (_label, reason, authorization) => {
    expect(await meWith(authorization)).toEqual({ code: "UNAUTHENTICATED", reason });
  });

  it("matches the Bearer scheme case-insensitively", async () => {
    const response = await callGraphQL(server.url, "{ me { id } }", { headers: { authorization: `bEaReR ${validToken}` } });
    expect(response.body.errors).toBeUndefined();
  });

  it("refuses two Authorization headers even if one is valid", async () => {
    const body = JSON.stringify({ query: "{ me { id } }" });
    const response = await postRaw(server.url, "/graphql", [`Authorization: Bearer ${validToken}`, `Authorization: Bearer ${validToken}`], body);
    expect(JSON.parse(response.body).errors[0].extensions).toMatchObject({ code: "UNAUTHENTICATED", reason: "TOKEN_INVALID" });
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

  it("refuses tokens that are not ours: alg none, HS256 with the public key, tampered, wrong typ/iss/aud/kid, missing claims", async () => {
    const claims = claimsOf(validToken);
    const [header, payload, signature] = validToken.split(".");
    const publicPem = server.keys.signing.publicKey.export({ format: "pem", type: "spki" }).toString();
    const hsInput = `${b64({ alg: "HS256", typ: "at+jwt", kid: server.keys.signing.kid })}.${payload}`;
    const foreignKey = generateKeyPairSync("ec", { namedCurve: "P-256" }).privateKey;
    const candidates = {
      none: `${b64({ alg: "none", typ: "at+jwt", kid: server.keys.signing.kid })}.${payload}.`,
      hs256PublicKey: `${hsInput}.${createHmac("sha256", publicPem).update(hsInput).digest("base64url")}`,
      tamperedPayload: `${header}.${b64({ ...claims, sub: "00000000-0000-4000-8000-000000000000" })}.${signature}`,
      wrongTyp: signWithServerKey(claims, { typ: "JWT" }),
      idToken: signWithServerKey(claims, { typ: "id+jwt" }),
      wrongIssuer: signWithServerKey({ ...claims, iss: "someone-else" }),
      wrongAudience: signWithServerKey({ ...claims, aud: "another-api" }),
      unknownKid: signWithServerKey(claims, { kid: "not-a-key" }),
      foreignKey: jwt.sign(claims, foreignKey, { algorithm: "ES256", header: { alg: "ES256", typ: "at+jwt", kid: server.keys.signing.kid } }),
      missingSid: signWithServerKey(without(claims, "sid")),
      missingExp: signWithServerKey(without(claims, "exp")),
      futureIat: signWithServerKey({ ...claims, iat: Math.floor(clock.now() / 1000) + 3600, exp: Math.floor(clock.now() / 1000) + 7200 }),
      notYetValid: signWithServerKey({ ...claims, nbf: Math.floor(clock.now() / 1000) + 600 }),
      jkuHeader: signWithServerKey(claims, { jku: "http://127.0.0.1:1/jwks.json" }),
    };
    for (const [name, token] of Object.entries(candidates)) {
      expect({ name, error: await meWith(`Bearer ${token}`) }).toEqual({ name, error: { code: "UNAUTHENTICATED", reason: "TOKEN_INVALID" } });
    }
  });
});

describe("a refused token does not block the operations that need none", () => {
  it("still allows signUp, login and refreshToken with a bad Authorization header", async () => {
    const headers = { authorization: "Bearer definitely.not.valid" };
    const email = uniqueEmail();
    const signUp = await callGraphQL(server.url, "mutation($i: SignUpInput!) { signUp(input: $i) { accessToken } }", { headers, variables: { i: { email, password: PASSWORD } } });
    expect(signUp.body.errors).toBeUndefined();
    const login = await callGraphQL(server.url, "mutation($i: LoginInput!) { login(input: $i) { accessToken } }", { headers, variables: { i: { email, password: PASSWORD } } });
    expect(login.body.errors).toBeUndefined();
    const cookie = login.setCookies[0]!.split(";")[0]!;
    const refresh = await callGraphQL(server.url, "mutation { refreshToken { accessToken } }", { headers, cookie });
    expect(refresh.body.errors).toBeUndefined();
  });
});
