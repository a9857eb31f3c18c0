// Access-token forgery, with RFC 8725 and OWASP's JWT cheat sheet as the checklist.
// Each forged token goes to `me` and to `logoutAll`: it must be refused as
// UNAUTHENTICATED with the reason API.md gives, no resolver may run, and it may cost
// at most one signature verification — none when its shape, size, type, key or
// algorithm already disqualify it. Counting calls into jsonwebtoken.verify (the only
// crypto in the path) bounds the CPU structurally: every other step is a linear scan of
// at most 4 KiB, so no token costs more than one ES256 verification of 4 KiB.
import { createHmac, generateKeyPairSync, sign, type KeyObject } from "node:crypto";
import { createServer, type Server } from "node:http";
import jwt from "jsonwebtoken";
import { signIdentityToken } from "../../src/token/identity-token";
import { decodeAccessToken, LOGOUT_ALL, ME, signUp, type Account } from "../helpers/auth";
import { callGraphQL, errorOf } from "../helpers/http";
import { postRaw } from "../helpers/raw-http";
import { startTestServer, TestClock, type TestServer } from "../helpers/server";

const clock = new TestClock();
let server: TestServer;
let victim: Account;
let claims: Record<string, unknown>;
let kid: string;
const verifyCalls = jest.spyOn(jwt, "verify");

// A listener the forged key-pointing headers name: keyway must never call it.
let lure: Server;
let lureUrl: string;
let lureHits = 0;

beforeAll(async () => {
  server = await startTestServer({ clock });
  victim = await signUp(server.url);
  claims = decodeAccessToken(victim.accessToken) as unknown as Record<string, unknown>;
  kid = server.keys.signing.kid;
  lure = createServer((_request, response) => (lureHits++, response.end("{}")));
  await new Promise<void>((resolve) => lure.listen(0, "127.0.0.1", resolve));
  lureUrl = `http://127.0.0.1:${(lure.address() as { port: number }).port}`;
});
afterAll(async () => {
  verifyCalls.mockRestore();
  await new Promise((resolve) => lure.close(resolve));
  await server.stop();
});

const b64 = (text: string) => Buffer.from(text).toString("base64url");
const now = () => Math.floor(clock.now() / 1000);

/** Compact JWS over exactly these header and payload texts, ES256 (r||s) with `key`. */
function signTexts(header: string, payload: string, key: KeyObject = server.keys.signing.privateKey): string {
  const input = `${b64(header)}.${b64(payload)}`;
  return `${input}.${sign("sha256", Buffer.from(input), { key, dsaEncoding: "ieee-p1363" }).toString("base64url")}`;
}
const forge = (header: Record<string, unknown> = {}, payload: Record<string, unknown> = {}, key?: KeyObject) =>
  signTexts(
    JSON.stringify({ alg: "ES256", typ: "at+jwt", kid, ...header }),
    JSON.stringify({ ...claims, ...payload }),
    key,
  );
const omit = (name: string) =>
  signTexts(JSON.stringify({ alg: "ES256", typ: "at+jwt", kid }), JSON.stringify({ ...claims, [name]: undefined }));
const unsigned = (alg: string, signature = "") =>
  `${b64(JSON.stringify({ alg, typ: "at+jwt", kid }))}.${b64(JSON.stringify(claims))}.${signature}`;
function hmac(alg: "HS256" | "HS384" | "HS512", secret: string): string {
  const input = `${b64(JSON.stringify({ alg, typ: "at+jwt", kid }))}.${b64(JSON.stringify(claims))}`;
  return `${input}.${createHmac(`sha${alg.slice(2)}`, secret)
    .update(input)
    .digest("base64url")}`;
}
/** The same claims with one member repeated first: a last-wins parser sees only the genuine value. */
const withPayloadPrefix = (prefix: string) =>
  signTexts(JSON.stringify({ alg: "ES256", typ: "at+jwt", kid }), `{${prefix},${JSON.stringify(claims).slice(1)}`);
const withHeader = (header: string) => signTexts(header, JSON.stringify(claims));
/** A token keyway would accept but for its length, exactly `length` characters long: the payload padded, the header spaced. */
function tokenOfLength(length: number): string {
  const encodedLength = (text: string) => Math.ceil((Buffer.byteLength(text) * 4) / 3);
  const padded = (pad: number) => JSON.stringify({ ...claims, pad: "x".repeat(pad) });
  // base64url cannot be 4n + 1 characters long, so one of a few header spacings lands on `length`.
  for (let spaces = 0; spaces < 3; spaces++) {
    const header = `{${" ".repeat(spaces)}${JSON.stringify({ alg: "ES256", typ: "at+jwt", kid }).slice(1)}`;
    const fixed = encodedLength(header) + ".".length * 2 + encodedLength("x".repeat(64)); // ES256 signatures are 64 bytes
    for (let pad = 0; fixed + encodedLength(padded(pad)) <= length; pad++) {
      if (fixed + encodedLength(padded(pad)) === length) return signTexts(header, padded(pad));
    }
  }
  throw new Error(`no token of exactly ${length} characters`);
}

type Case = [name: string, token: () => string, reason: string, verifications: 0 | 1];

const PRE_CRYPTO: Case[] = [
  ...["none", "None", "NONE", "nOnE"].map((alg): Case => [`alg ${alg}`, () => unsigned(alg), "TOKEN_INVALID", 0]),
  ["alg none with a signature", () => unsigned("none", "c2ln"), "TOKEN_INVALID", 0],
  [
    "HS256 keyed with the PEM public key",
    () => hmac("HS256", server.keys.signing.publicKey.export({ format: "pem", type: "spki" }).toString()),
    "TOKEN_INVALID",
    0,
  ],
  [
    "HS512 keyed with the PEM public key",
    () => hmac("HS512", server.keys.signing.publicKey.export({ format: "pem", type: "spki" }).toString()),
    "TOKEN_INVALID",
    0,
  ],
  [
    "HS256 keyed with the served JWK",
    () => hmac("HS256", JSON.stringify(server.keys.jwks().keys[0])),
    "TOKEN_INVALID",
    0,
  ],
  [
    "an identity token keyway minted for a subgraph",
    () =>
      signIdentityToken(
        { keys: server.keys, issuer: "keyway" },
        // The access token's claims as the gateway holds them once verified (typed, camelCase).
        { ...claims, roles: [], scopes: [], emailVerified: false, amr: ["pwd"], authTime: claims.iat } as never,
        "keyway",
        clock.now(),
        '{"query":"{ me { id } }"}',
      ),
    "TOKEN_INVALID",
    0,
  ],
  ["typ JWT", () => forge({ typ: "JWT" }), "TOKEN_INVALID", 0],
  ["typ id+jwt", () => forge({ typ: "id+jwt" }), "TOKEN_INVALID", 0],
  ["no typ", () => forge({ typ: undefined }), "TOKEN_INVALID", 0],
  ["an unknown kid", () => forge({ kid: "not-a-key" }), "TOKEN_INVALID", 0],
  ["no kid", () => forge({ kid: undefined }), "TOKEN_INVALID", 0],
  ["a numeric kid", () => forge({ kid: 1 }), "TOKEN_INVALID", 0],
  ["kid path traversal", () => forge({ kid: "../../../../../../dev/null" }), "TOKEN_INVALID", 0],
  ["kid pointing at the key directory", () => forge({ kid: `../keys/${kid}.pem` }), "TOKEN_INVALID", 0],
  ["kid SQL", () => forge({ kid: `${kid}' OR '1'='1` }), "TOKEN_INVALID", 0],
  ["kid with a NUL", () => forge({ kid: `${kid}\u0000` }), "TOKEN_INVALID", 0],
  ["jku", () => forge({ jku: `${lureUrl}/jwks.json` }), "TOKEN_INVALID", 0],
  ["x5u", () => forge({ x5u: `${lureUrl}/cert.pem` }), "TOKEN_INVALID", 0],
  ["x5c", () => forge({ x5c: ["MIIBszCCAVmgAwIBAgIU"] }), "TOKEN_INVALID", 0],
  [
    "an embedded jwk signed by its own key",
    () => {
      const attacker = generateKeyPairSync("ec", { namedCurve: "P-256" });
      return forge({ jwk: attacker.publicKey.export({ format: "jwk" }) }, {}, attacker.privateKey);
    },
    "TOKEN_INVALID",
    0,
  ],
  ["an embedded jwk that is keyway's own", () => forge({ jwk: server.keys.jwks().keys[0] }), "TOKEN_INVALID", 0],
  ["crit", () => forge({ crit: ["exp"] }), "TOKEN_INVALID", 0],
  [
    "a repeated typ in the header (last one at+jwt)",
    () => withHeader(`{"alg":"ES256","typ":"JWT","kid":"${kid}","typ":"at+jwt"}`),
    "TOKEN_INVALID",
    0,
  ],
  [
    "a repeated alg in the header (first none)",
    () => withHeader(`{"alg":"none","typ":"at+jwt","kid":"${kid}","alg":"ES256"}`),
    "TOKEN_INVALID",
    0,
  ],
  [
    "a repeated alg spelled with an escape",
    () => withHeader(`{"\\u0061lg":"HS256","typ":"at+jwt","kid":"${kid}","alg":"ES256"}`),
    "TOKEN_INVALID",
    0,
  ],
  [
    "a repeated sub in the payload",
    () => withPayloadPrefix(`"sub":"00000000-0000-4000-8000-000000000000"`),
    "TOKEN_INVALID",
    0,
  ],
  [
    "a repeated sid in the payload",
    () => withPayloadPrefix(`"sid":"00000000-0000-4000-8000-000000000000"`),
    "TOKEN_INVALID",
    0,
  ],
  ["a repeated exp in the payload", () => withPayloadPrefix(`"exp":${now() + 10 * 365 * 86400}`), "TOKEN_INVALID", 0],
  ["over the 4 KiB cap", () => forge({}, { pad: "x".repeat(4096) }), "TOKEN_INVALID", 0],
  ["11 KiB", () => forge({}, { pad: "x".repeat(8 * 1024) }), "TOKEN_INVALID", 0],
  // Every - and _ turned into + and /, and one of each for sure: about 6% of signatures have neither.
  [
    "base64 with + and /",
    () =>
      victim.accessToken
        .replace(/-/g, "+")
        .replace(/_/g, "/")
        .replace(/\.(..)([^.]*)$/, ".+/$2"),
    "TOKEN_INVALID",
    0,
  ],
  ["base64 padding", () => `${victim.accessToken}==`, "TOKEN_INVALID", 0],
  [
    "a non-JSON header",
    () => `${b64("not json")}.${victim.accessToken.split(".").slice(1).join(".")}`,
    "TOKEN_INVALID",
    0,
  ],
  ["a JSON array header", () => `${b64("[]")}.${victim.accessToken.split(".").slice(1).join(".")}`, "TOKEN_INVALID", 0],
  ["a non-JSON payload", () => victim.accessToken.replace(/\.[^.]+\./, `.${b64("garbage")}.`), "TOKEN_INVALID", 0],
  ["two segments", () => victim.accessToken.split(".").slice(0, 2).join("."), "TOKEN_INVALID", 0],
  ["four segments", () => `${victim.accessToken}.${victim.accessToken.split(".")[2]}`, "TOKEN_INVALID", 0],
  ["one segment", () => victim.accessToken.split(".")[1], "TOKEN_INVALID", 0],
  ["an empty signature", () => victim.accessToken.replace(/[^.]+$/, ""), "TOKEN_INVALID", 0],
  ["an empty header", () => victim.accessToken.replace(/^[^.]+/, ""), "TOKEN_INVALID", 0],
  ["an empty payload", () => victim.accessToken.replace(/\.[^.]+\./, ".."), "TOKEN_INVALID", 0],
  ["dots only", () => "..", "TOKEN_INVALID", 0],
];

const CRYPTO: Case[] = [
  [
    "a tampered header",
    () =>
      `${b64(JSON.stringify({ alg: "ES256", typ: "at+jwt", kid, x: 1 }))}.${victim.accessToken.split(".").slice(1).join(".")}`,
    "TOKEN_INVALID",
    1,
  ],
  [
    "a tampered payload",
    () => {
      const [header, , signature] = victim.accessToken.split(".");
      return `${header}.${b64(JSON.stringify({ ...claims, sub: "00000000-0000-4000-8000-000000000000" }))}.${signature}`;
    },
    "TOKEN_INVALID",
    1,
  ],
  [
    "a tampered signature",
    () => {
      const at = victim.accessToken.length - 20;
      return `${victim.accessToken.slice(0, at)}${victim.accessToken[at] === "A" ? "B" : "A"}${victim.accessToken.slice(at + 1)}`;
    },
    "TOKEN_INVALID",
    1,
  ],
  [
    "another token's signature",
    () => victim.accessToken.replace(/[^.]+$/, forge({}, { jti: "x" }).split(".")[2]),
    "TOKEN_INVALID",
    1,
  ],
  [
    "an all-zero ECDSA signature",
    () => victim.accessToken.replace(/[^.]+$/, Buffer.alloc(64).toString("base64url")),
    "TOKEN_INVALID",
    1,
  ],
  [
    "a foreign key with keyway's kid",
    () => forge({}, {}, generateKeyPairSync("ec", { namedCurve: "P-256" }).privateKey),
    "TOKEN_INVALID",
    1,
  ],
  ["a wrong iss", () => forge({}, { iss: "someone-else" }), "TOKEN_INVALID", 1],
  ["a wrong aud", () => forge({}, { aud: "another-api" }), "TOKEN_INVALID", 1],
  ["an aud array", () => forge({}, { aud: ["keyway", "another-api"] }), "TOKEN_INVALID", 1],
  ["expired", () => forge({}, { iat: now() - 3600, exp: now() - 60 }), "TOKEN_EXPIRED", 1],
  ["nbf in the future", () => forge({}, { nbf: now() + 600 }), "TOKEN_INVALID", 1],
  ["iat far in the future", () => forge({}, { iat: now() + 3600, exp: now() + 7200 }), "TOKEN_INVALID", 1],
  ["no sid", () => omit("sid"), "TOKEN_INVALID", 1],
  ["no sub", () => omit("sub"), "TOKEN_INVALID", 1],
  ["no exp", () => omit("exp"), "TOKEN_INVALID", 1],
];

describe.each([
  ["refused before any signature check", PRE_CRYPTO],
  ["refused by the one signature check", CRYPTO],
])("forged access tokens, %s", (_label, cases) => {
  const titled = cases.map(([name, token, reason, verifications]) => [name, reason, verifications, token] as const);
  it.each(titled)(
    "%s → UNAUTHENTICATED %s, at most %d signature check(s), nothing ran",
    async (_name, reason, verifications, token) => {
      const bearer = `Bearer ${token()}`;
      verifyCalls.mockClear();
      const me = await callGraphQL(server.url, ME, { headers: { authorization: bearer } });
      expect(verifyCalls.mock.calls.length).toBeLessThanOrEqual(verifications);
      expect(me.status).toBeLessThan(500);
      expect(me.body.data).toBeNull();
      expect(errorOf(me)).toEqual({ code: "UNAUTHENTICATED", reason });

      const logoutAll = await callGraphQL(server.url, LOGOUT_ALL, { headers: { authorization: bearer } });
      expect(logoutAll.body.data).toBeNull();
      expect(errorOf(logoutAll)).toEqual({ code: "UNAUTHENTICATED", reason });
      expect(await server.database.prisma.session.count({ where: { userId: victim.userId, endedAt: null } })).toBe(1);
    },
  );
});

describe("what the forgeries did not do", () => {
  it("fetched nothing from the URLs their headers named", () => {
    expect(lureHits).toBe(0);
  });

  it("left the victim's own token working", async () => {
    const me = await callGraphQL(server.url, ME, { accessToken: victim.accessToken });
    expect(me.body).toMatchObject({ data: { me: { id: victim.userId } } });
  });

  it("still accepts a genuine token whose nested objects reuse a name (the duplicate check is per object)", async () => {
    const token = forge({}, { ext: { a: { id: 1 }, b: { id: 2, 'x"y': [{ id: 3 }] } } });
    const me = await callGraphQL(server.url, ME, { accessToken: token });
    expect(me.body).toMatchObject({ data: { me: { id: victim.userId } } });
  });
});

describe("malformed Authorization headers", () => {
  const meWith = (authorization: string) => callGraphQL(server.url, ME, { headers: { authorization } });

  it.each([
    ["no scheme", () => victim.accessToken],
    ["two spaces", () => `Bearer  ${victim.accessToken}`],
    ["a tab", () => `Bearer\t${victim.accessToken}`],
    ["a trailing word", () => `Bearer ${victim.accessToken} extra`],
    ["two tokens, comma-separated", () => `Bearer ${victim.accessToken}, Bearer ${victim.accessToken}`],
    ["non-base64 garbage", () => "Bearer !!!.@@@.###"],
    ["latin-1 bytes", () => "Bearer \u00e9\u00e9.\u00e9.\u00e9"],
  ])("%s → TOKEN_INVALID", async (_name, authorization) => {
    const response = await meWith(authorization());
    expect(response.body.data).toBeNull();
    expect(errorOf(response)).toEqual({ code: "UNAUTHENTICATED", reason: "TOKEN_INVALID" });
  });

  it.each(["bearer", "BEARER", "bEaReR"])("accepts the scheme spelled %s", async (scheme) => {
    const response = await meWith(`${scheme} ${victim.accessToken}`);
    expect(response.body).toMatchObject({ data: { me: { id: victim.userId } } });
  });

  it("refuses two Authorization headers even if both are valid", async () => {
    const body = JSON.stringify({ query: ME });
    const response = await postRaw(
      server.url,
      "/graphql",
      [`Authorization: Bearer ${victim.accessToken}`, `Authorization: Bearer ${victim.accessToken}`],
      body,
    );
    const parsed = JSON.parse(response.body) as { data: unknown; errors: Array<{ extensions: unknown }> };
    expect(parsed.data).toBeNull();
    expect(parsed.errors[0].extensions).toMatchObject({ code: "UNAUTHENTICATED", reason: "TOKEN_INVALID" });
  });

  // Node's HTTP parser refuses a header block over its 16 KiB limit before keyway sees
  // a request at all, so no keyway code can be observed here: only the answer.
  it("answers a 1 MB header with 431 from the HTTP layer: no GraphQL answer, no stack", async () => {
    const response = await postRaw(
      server.url,
      "/graphql",
      [`Authorization: Bearer ${"a".repeat(1024 * 1024)}`],
      JSON.stringify({ query: ME }),
    );
    expect(response.status).toBe(431);
    // Fastify's answer to the parser's error: a plain HTTP error object, not a GraphQL response.
    const body = JSON.parse(response.body) as Record<string, unknown>;
    expect(body).toMatchObject({ statusCode: 431 });
    expect(body).not.toHaveProperty("data");
    expect(body).not.toHaveProperty("errors");
    expect(response.body).not.toMatch(/\n\s+at |stack|node_modules|\.[cm]?[jt]s:\d+/);
  });

  // Keyway's own cap sits far below Node's: a token just over it reaches keyway,
  // and the count of jsonwebtoken.verify calls shows where it was refused.
  it("verifies and accepts a genuine token of exactly 4096 characters, the cap", async () => {
    const token = tokenOfLength(4096);
    verifyCalls.mockClear();
    const me = await callGraphQL(server.url, ME, { accessToken: token });
    expect(me.body).toMatchObject({ data: { me: { id: victim.userId } } });
    expect(verifyCalls).toHaveBeenCalledTimes(1);
  });

  it("refuses a genuine token of 4097 characters as TOKEN_INVALID without verifying it", async () => {
    const token = tokenOfLength(4097);
    verifyCalls.mockClear();
    const me = await callGraphQL(server.url, ME, { accessToken: token });
    expect(me.status).toBe(200);
    expect(errorOf(me)).toEqual({ code: "UNAUTHENTICATED", reason: "TOKEN_INVALID" });
    expect(verifyCalls).not.toHaveBeenCalled();
  });
});
