// The subgraph helper (keyway/subgraph) against real keys and a real JWKS endpoint,
// on a controllable clock: what it trusts, for how long, and what it refuses.
import { generateKeyPairSync, randomUUID } from "node:crypto";
import { mkdtempSync } from "node:fs";
import http from "node:http";
import { tmpdir } from "node:os";
import path from "node:path";
import type { AddressInfo } from "node:net";
import {
  createIdentityVerifier,
  hasRole,
  hasScope,
  IDENTITY_HEADER,
  type IdentityVerifierOptions,
} from "keyway/subgraph";
import { hashRequestBody, signIdentityToken } from "../../src/token/identity-token";
import { rotateSigningKey } from "../../src/token/key-rotation";
import { signJwt } from "../../src/token/jwt-verify";
import { loadKeySet, toSigningKey, type KeySet, type SigningKey } from "../../src/token/keys";
import { startTestServer, TestClock, type TestServer } from "../helpers/server";

const caller = (now: number) => ({
  iss: "keyway",
  aud: "keyway",
  sub: randomUUID(),
  sid: randomUUID(),
  iat: Math.floor(now / 1000),
  exp: Math.floor(now / 1000) + 900,
  jti: randomUUID(),
  roles: [] as string[],
  scopes: [] as string[],
  emailVerified: false,
  amr: ["pwd"],
  authTime: (Math.floor(now / 1000) - 60) as number | null,
});
const headers = (token: string) => new Headers({ [IDENTITY_HEADER]: token });
const newKey = () =>
  toSigningKey(
    generateKeyPairSync("ec", { namedCurve: "P-256" }).privateKey.export({ format: "pem", type: "pkcs8" }).toString(),
  );
const keySetOf = (signing: SigningKey): KeySet => ({
  signing,
  find: (kid) => (kid === signing.kid ? signing : undefined),
  jwks: () => ({ keys: [signing.publicJwk] }),
});

const QUERY = { query: "{ myNotes { text } }" };
const ADD = {
  query: "mutation($text: String!, $tags: [String!]) { addNote(text: $text, tags: $tags) { id } }",
  variables: { text: "milk", tags: ["a", "b"] },
};

/** A JWKS endpoint whose key set, Cache-Control max-age (or absence) the test controls. */
function startJwksServer() {
  let published: SigningKey[] = [];
  let up = true;
  let maxAge: number | null = 15;
  let fetches = 0;
  const server = http.createServer((_request, response) => {
    fetches++;
    if (!up) return response.writeHead(503).end();
    const cacheControl = maxAge === null ? {} : { "cache-control": `public, max-age=${maxAge}` };
    response
      .writeHead(200, { "content-type": "application/json", ...cacheControl })
      .end(JSON.stringify({ keys: published.map((key) => key.publicJwk) }));
  });
  return new Promise<{
    url: string;
    publish(keys: SigningKey[]): void;
    setUp(value: boolean): void;
    setMaxAge(seconds: number | null): void;
    fetches(): number;
    close(): Promise<void>;
  }>((resolve) =>
    server.listen(0, "127.0.0.1", () =>
      resolve({
        url: `http://127.0.0.1:${(server.address() as AddressInfo).port}/.well-known/jwks.json`,
        publish: (keys) => (published = keys),
        setUp: (value) => (up = value),
        setMaxAge: (seconds) => (maxAge = seconds),
        fetches: () => fetches,
        close: () => new Promise((done) => server.close(() => done())),
      }),
    ),
  );
}

describe("createIdentityVerifier", () => {
  let jwks: Awaited<ReturnType<typeof startJwksServer>>;
  let keys: KeySet;
  let now = Date.now();
  const clock = () => now;

  beforeAll(async () => {
    jwks = await startJwksServer();
    keys = loadKeySet({ privateKeyPem: undefined, dataDir: mkdtempSync(path.join(tmpdir(), "keyway-subgraph-")) });
  });
  beforeEach(() => {
    jwks.publish([keys.signing]);
    jwks.setMaxAge(15);
    jwks.setUp(true);
  });
  afterAll(() => jwks.close());

  const verifier = (options: Partial<IdentityVerifierOptions> = {}) =>
    createIdentityVerifier({ jwksUrl: jwks.url, audience: "notes", now: clock, ...options });
  /** An identity as keyway mints it: for the notes subgraph, bound to this request body. */
  const mint = (body: object | string, who = caller(now), keySet = keys) =>
    signIdentityToken(
      { keys: keySet, issuer: "keyway" },
      who,
      "notes",
      now,
      typeof body === "string" ? body : JSON.stringify(body),
    );
  const reasonOf = (promise: Promise<unknown>) =>
    promise.then(
      () => "accepted",
      (error) => String(error.extensions?.reason ?? error),
    );

  describe("claims", () => {
    it("returns the caller's claims for an identity the gateway signed for this subgraph and this request", async () => {
      const who = caller(now);
      const claims = await verifier().verifyRequest(headers(mint(QUERY, who)), QUERY);
      expect(claims).toMatchObject({ sub: who.sub, sid: who.sid, aud: "notes", iss: "keyway" });
      expect(claims!.exp - claims!.iat).toBeLessThanOrEqual(30);
    });

    it("types the caller's roles, scopes, emailVerified, amr and authTime; hasScope and hasRole read them", async () => {
      const who = { ...caller(now), roles: ["editor"], scopes: ["notes:read", "notes:write"], emailVerified: true };
      const claims = await verifier().verifyRequest(headers(mint(QUERY, who)), QUERY);
      expect(claims).toMatchObject({
        roles: ["editor"],
        scopes: ["notes:read", "notes:write"],
        emailVerified: true,
        amr: ["pwd"],
        authTime: who.authTime,
      });
      expect([hasScope(claims, "notes:write"), hasScope(claims, "notes:admin")]).toEqual([true, false]);
      expect([hasRole(claims, "editor"), hasRole(claims, "admin")]).toEqual([true, false]);
      expect([hasScope(null, "notes:read"), hasRole(undefined, "editor")]).toEqual([false, false]);
    });

    it("splits scope on spaces only: a tab or newline inside is one (unusable) scope, not two", async () => {
      const iat = Math.floor(now / 1000);
      const base = { ...caller(now), aud: "notes", iat, exp: iat + 30, bh: hashRequestBody(QUERY)! };
      for (const scope of ["notes:read\tkeyway:admin", "notes:read\nkeyway:admin"]) {
        const token = signJwt({ ...base, scope }, keys.signing, "keyway-identity+jwt");
        const claims = await verifier().verifyRequest(headers(token), QUERY);
        expect(claims?.scopes).toEqual([scope]);
        expect(hasScope(claims, "keyway:admin")).toBe(false);
      }
    });

    it("verifies an identity from a keyway before roles (no such claims) as having none", async () => {
      const iat = Math.floor(now / 1000);
      const { sub, sid, jti } = caller(now);
      const old = signJwt(
        { iss: "keyway", aud: "notes", sub, sid, iat, exp: iat + 30, jti, bh: hashRequestBody(QUERY)! },
        keys.signing,
        "keyway-identity+jwt",
      );
      expect(await verifier().verifyRequest(headers(old), QUERY)).toEqual({
        iss: "keyway",
        aud: "notes",
        sub,
        sid,
        iat,
        exp: iat + 30,
        jti,
        roles: [],
        scopes: [],
        emailVerified: false,
        amr: [],
        authTime: null,
      });
    });

    it("refuses an identity whose authorization claims have the wrong types (IDENTITY_INVALID)", async () => {
      const iat = Math.floor(now / 1000);
      const base = { ...caller(now), aud: "notes", iat, exp: iat + 30, bh: hashRequestBody(QUERY)! };
      // The base alone is accepted: every refusal below is the claim's doing.
      const valid = signJwt(base, keys.signing, "keyway-identity+jwt");
      await expect(reasonOf(verifier().verifyRequest(headers(valid), QUERY))).resolves.toBe("accepted");
      const malformed = [
        { roles: "admin" },
        { roles: [1] },
        { roles: null },
        { scope: ["a"] },
        { email_verified: "true" },
        { email_verified: 1 },
        { email_verified: null },
        { amr: "pwd" },
        { amr: [1] },
      ];
      const impossible = [{ auth_time: "1" }, { auth_time: 1.5 }, { auth_time: -1 }, { auth_time: iat + 3600 }];
      for (const claims of [...malformed, ...impossible]) {
        const token = signJwt({ ...base, ...claims } as never, keys.signing, "keyway-identity+jwt");
        await expect(reasonOf(verifier().verifyRequest(headers(token), QUERY))).resolves.toBe("IDENTITY_INVALID");
      }
    });

    it("returns null for an anonymous request, also from a plain header object", async () => {
      expect(await verifier().verifyRequest(new Headers(), QUERY)).toBeNull();
      expect(await verifier().verifyRequest({ "content-type": "application/json" }, QUERY)).toBeNull();
    });

    it("reads headers and the parsed body from a Node request in one call (Apollo standalone, Express, Fastify)", async () => {
      const sub = verifier();
      const identity = mint(ADD);
      const req = {
        headers: { [IDENTITY_HEADER]: identity, "content-type": "application/json" },
        body: structuredClone(ADD),
      };
      await expect(sub.verifyHttpRequest(req)).resolves.toMatchObject({ aud: "notes" });
      // The body parser ran and found nothing (a GET): anonymous is fine, an identity is refused,
      // since keyway sends identities only with POST bodies.
      expect(await sub.verifyHttpRequest({ headers: {}, body: undefined })).toBeNull();
      await expect(
        reasonOf(sub.verifyHttpRequest({ headers: { [IDENTITY_HEADER]: mint(QUERY) }, body: undefined })),
      ).resolves.toBe("IDENTITY_INVALID");
      // No body parser ran at all: the subgraph's mistake, not the caller's.
      await expect(sub.verifyHttpRequest({ headers: { [IDENTITY_HEADER]: mint(QUERY) } })).rejects.toThrow(TypeError);
      await expect(sub.verifyHttpRequest({ headers: {} })).rejects.toThrow(TypeError);
    });

    it("throws a TypeError when called without the request body, identity or not: it could not refuse a replay", async () => {
      const sub = verifier();
      const withoutBody = sub.verifyRequest.bind(sub) as (headers: Headers) => Promise<unknown>;
      await expect(withoutBody(headers(mint(QUERY)))).rejects.toThrow(TypeError);
      await expect(withoutBody(new Headers())).rejects.toThrow(TypeError);
    });

    it("refuses forged, unsigned, expired, other-audience and mistyped identities with UNAUTHENTICATED", async () => {
      const who = caller(now);
      const identity = mint(QUERY, who);
      const [header, payload] = identity.split(".");
      const iat = Math.floor(now / 1000);
      const forgeries: Record<string, string> = {
        foreignKeySameKid: signJwt(
          { ...who, aud: "notes", iat, exp: iat + 30 },
          { ...newKey(), kid: keys.signing.kid },
          "keyway-identity+jwt",
        ),
        unsigned: `${Buffer.from(JSON.stringify({ alg: "none", typ: "keyway-identity+jwt", kid: keys.signing.kid })).toString("base64url")}.${payload}.`,
        tampered: `${header}.${Buffer.from(JSON.stringify({ ...who, aud: "notes", sub: randomUUID() })).toString("base64url")}.${identity.split(".")[2]}`,
        otherAudience: signIdentityToken({ keys, issuer: "keyway" }, who, "billing", now, JSON.stringify(QUERY)),
        accessTokenType: signJwt({ ...who, aud: "notes" }, keys.signing, "at+jwt"),
        otherIssuer: signIdentityToken({ keys, issuer: "elsewhere" }, who, "notes", now, JSON.stringify(QUERY)),
        garbage: "not-a-token",
      };
      for (const [name, token] of Object.entries(forgeries)) {
        await expect(
          verifier()
            .verifyRequest(headers(token), QUERY)
            .catch((error) => ({ name, code: error.extensions.code, reason: error.extensions.reason })),
        ).resolves.toEqual({
          name,
          code: "UNAUTHENTICATED",
          reason: "IDENTITY_INVALID",
        });
      }
      const later = verifier();
      now += 32_000; // the 30 s identity has expired
      await expect(later.verifyRequest(headers(identity), QUERY)).rejects.toMatchObject({
        extensions: { code: "UNAUTHENTICATED", reason: "IDENTITY_EXPIRED" },
      });
    });
  });

  describe("replay", () => {
    it("refuses an identity it has already accepted, with the same body or another (IDENTITY_REPLAYED)", async () => {
      const sub = verifier();
      const identity = mint(ADD);
      await expect(sub.verifyRequest(headers(identity), ADD)).resolves.not.toBeNull();
      await expect(sub.verifyRequest(headers(identity), ADD)).rejects.toMatchObject({
        extensions: { code: "UNAUTHENTICATED", reason: "IDENTITY_REPLAYED" },
      });
      await expect(
        reasonOf(sub.verifyRequest(headers(identity), { ...ADD, variables: { text: "steal" } })),
      ).resolves.toBe("IDENTITY_REPLAYED");
      await expect(reasonOf(sub.verifyRequest(headers(identity), QUERY))).resolves.toBe("IDENTITY_REPLAYED");
    });

    it("accepts only one of two concurrent requests carrying the same identity", async () => {
      const sub = verifier();
      const identity = mint(QUERY);
      const outcomes = await Promise.all([1, 2, 3].map(() => reasonOf(sub.verifyRequest(headers(identity), QUERY))));
      expect(outcomes.sort()).toEqual(["IDENTITY_REPLAYED", "IDENTITY_REPLAYED", "accepted"]);
    });

    it("refuses an identity with another request's body, and one bound to no body, without spending it (IDENTITY_INVALID)", async () => {
      const sub = verifier();
      const identity = mint(ADD);
      await expect(
        reasonOf(sub.verifyRequest(headers(identity), { ...ADD, variables: { ...ADD.variables, text: "steal" } })),
      ).resolves.toBe("IDENTITY_INVALID");
      await expect(reasonOf(sub.verifyRequest(headers(identity), { query: ADD.query }))).resolves.toBe(
        "IDENTITY_INVALID",
      );
      await expect(reasonOf(sub.verifyRequest(headers(identity), { ...ADD, operationName: "Other" }))).resolves.toBe(
        "IDENTITY_INVALID",
      );
      await expect(reasonOf(sub.verifyRequest(headers(identity), null))).resolves.toBe("IDENTITY_INVALID");
      await expect(reasonOf(sub.verifyRequest(headers(identity), "not json"))).resolves.toBe("IDENTITY_INVALID");
      await expect(reasonOf(sub.verifyRequest(headers(identity), [ADD] as never))).resolves.toBe("IDENTITY_INVALID");
      // A body hash keyway never signed: a token without `bh`, or with one made up, signed with a key the subgraph does not trust.
      const iat = Math.floor(now / 1000);
      const unbound = signJwt(
        { ...caller(now), aud: "notes", iat, exp: iat + 30 },
        keys.signing,
        "keyway-identity+jwt",
      );
      await expect(reasonOf(sub.verifyRequest(headers(unbound), ADD))).resolves.toBe("IDENTITY_INVALID");
      await expect(reasonOf(sub.verifyRequest(headers(unbound), null))).resolves.toBe("IDENTITY_INVALID");
      const [header, payload, signature] = identity.split(".");
      const claims = JSON.parse(Buffer.from(payload, "base64url").toString());
      const rebound = `${header}.${Buffer.from(JSON.stringify({ ...claims, bh: "A".repeat(43) })).toString("base64url")}.${signature}`;
      await expect(reasonOf(sub.verifyRequest(headers(rebound), ADD))).resolves.toBe("IDENTITY_INVALID");
      // The genuine request still goes through: the failed attempts did not use the identity up.
      await expect(reasonOf(sub.verifyRequest(headers(identity), ADD))).resolves.toBe("accepted");
    });

    it("verifies the body after any JSON re-serialisation: member order, white space, escapes", async () => {
      const sent = JSON.stringify({
        query: ADD.query,
        variables: { tags: ["a", "b"], text: "milk é", nested: { z: 1, a: [{ y: 2, b: null }] } },
        operationName: null,
      });
      const received =
        '{ "operationName": null, "variables": { "nested": { "a": [ { "b": null, "y": 2.0 } ], "z": 1e0 }, "text": "milk \\u00e9", "tags": [ "a", "b" ] }, "query": ' +
        JSON.stringify(ADD.query) +
        " }";
      await expect(reasonOf(verifier().verifyRequest(headers(mint(sent)), received))).resolves.toBe("accepted");
      await expect(reasonOf(verifier().verifyRequest(headers(mint(sent)), JSON.parse(received)))).resolves.toBe(
        "accepted",
      );
      await expect(reasonOf(verifier().verifyRequest(headers(mint(sent)), Buffer.from(received)))).resolves.toBe(
        "accepted",
      );
      // Absent and null members are the same; array order is not.
      await expect(
        reasonOf(verifier().verifyRequest(headers(mint({ query: QUERY.query, variables: null })), QUERY)),
      ).resolves.toBe("accepted");
      const swapped = JSON.parse(sent) as { variables: { tags: string[] } };
      swapped.variables.tags.reverse();
      await expect(reasonOf(verifier().verifyRequest(headers(mint(sent)), swapped))).resolves.toBe("IDENTITY_INVALID");
    });

    it("forgets an identity once it has expired, and keeps at most replayCacheSize of them", async () => {
      const sub = verifier({ replayCacheSize: 2 });
      const identities = [mint(QUERY), mint(QUERY), mint(QUERY)];
      for (const identity of identities)
        await expect(reasonOf(sub.verifyRequest(headers(identity), QUERY))).resolves.toBe("accepted");
      // Full: the least recently seen identity was forgotten, the newer two are still refused.
      await expect(reasonOf(sub.verifyRequest(headers(identities[2]), QUERY))).resolves.toBe("IDENTITY_REPLAYED");
      await expect(reasonOf(sub.verifyRequest(headers(identities[1]), QUERY))).resolves.toBe("IDENTITY_REPLAYED");
      // The forgotten one had not expired: it, and anything minted no later than it, is refused rather than taken on trust.
      await expect(reasonOf(sub.verifyRequest(headers(identities[0]), QUERY))).resolves.toBe("IDENTITY_REPLAYED");
      await expect(reasonOf(sub.verifyRequest(headers(mint(QUERY)), QUERY))).resolves.toBe("IDENTITY_REPLAYED");
      now += 1_000;
      await expect(reasonOf(sub.verifyRequest(headers(mint(QUERY)), QUERY))).resolves.toBe("accepted");
      now += 31_000;
      await expect(reasonOf(sub.verifyRequest(headers(identities[2]), QUERY))).resolves.toBe("IDENTITY_EXPIRED");
    });
  });

  describe("keys", () => {
    it("drops a key that left the JWKS once the JWKS's max-age has passed", async () => {
      const next = newKey();
      jwks.publish([keys.signing, next]);
      const sub = verifier();
      await expect(reasonOf(sub.verifyRequest(headers(mint(QUERY)), QUERY))).resolves.toBe("accepted");
      const fetched = jwks.fetches();
      jwks.publish([next]); // keyway retired the old key (or an operator pulled a leaked one)
      now += 14_000;
      await expect(reasonOf(sub.verifyRequest(headers(mint(QUERY)), QUERY))).resolves.toBe("accepted");
      expect(jwks.fetches()).toBe(fetched);
      now += 1_000;
      await expect(reasonOf(sub.verifyRequest(headers(mint(QUERY)), QUERY))).resolves.toBe("IDENTITY_INVALID");
      expect(jwks.fetches()).toBe(fetched + 1);
      await expect(reasonOf(sub.verifyRequest(headers(mint(QUERY, caller(now), keySetOf(next))), QUERY))).resolves.toBe(
        "accepted",
      );
    });

    it("follows the max-age the JWKS sends, within 10 s to 10 min; 60 s without one", async () => {
      const fetchesAfter = async (sub: ReturnType<typeof verifier>, seconds: number) => {
        now += seconds * 1000;
        await sub.verifyRequest(headers(mint(QUERY)), QUERY);
        return jwks.fetches();
      };
      for (const [maxAge, refreshEvery] of [
        [120, 120],
        [0, 10],
        [86_400, 600],
        [null, 60],
      ] as const) {
        jwks.setMaxAge(maxAge);
        const sub = verifier();
        const first = await fetchesAfter(sub, 0);
        expect({ maxAge, fetches: await fetchesAfter(sub, refreshEvery - 1) }).toEqual({ maxAge, fetches: first });
        expect({ maxAge, fetches: await fetchesAfter(sub, 1) }).toEqual({ maxAge, fetches: first + 1 });
      }
    });

    it("refetches for an unknown kid at most once per 10 s by default, so forged kids cannot flood keyway", async () => {
      jwks.setMaxAge(600); // only refetches for unknown kids in play
      const sub = verifier();
      await sub.verifyRequest(headers(mint(QUERY)), QUERY);
      now += 10_000;
      const forged = () => mint(QUERY, caller(now), keySetOf(newKey()));
      const start = jwks.fetches();
      for (let i = 0; i < 20; i++) {
        await expect(reasonOf(sub.verifyRequest(headers(forged()), QUERY))).resolves.toBe("IDENTITY_INVALID");
        now += 400;
      }
      expect(jwks.fetches()).toBe(start + 1); // 8 s of forged kids: one fetch
      now += 2_000;
      await expect(reasonOf(sub.verifyRequest(headers(forged()), QUERY))).resolves.toBe("IDENTITY_INVALID");
      expect(jwks.fetches()).toBe(start + 2);
    });

    it("lets an unknown kid be looked up again later: a kid sent before its key was published still works once it is", async () => {
      const next = newKey();
      const sub = verifier();
      await sub.verifyRequest(headers(mint(QUERY)), QUERY);
      // Someone sends the next key's kid before keyway publishes it.
      await expect(reasonOf(sub.verifyRequest(headers(mint(QUERY, caller(now), keySetOf(next))), QUERY))).resolves.toBe(
        "IDENTITY_INVALID",
      );
      jwks.publish([keys.signing, next]);
      now += 10_000;
      await expect(reasonOf(sub.verifyRequest(headers(mint(QUERY, caller(now), keySetOf(next))), QUERY))).resolves.toBe(
        "accepted",
      );
    });

    it("knows a key published 30 s before it signs at its first use, even while forged kids use up every refetch", async () => {
      jwks.setMaxAge(600); // only refetches for unknown kids in play
      const sub = verifier();
      await sub.verifyRequest(headers(mint(QUERY)), QUERY);
      const next = newKey();
      // The attacker knows the schedule: forged kids every 500 ms from well before publication until first use.
      for (let t = 0; t < 60_000; t += 500) {
        if (t === 30_000) jwks.publish([keys.signing, next]);
        await sub.verifyRequest(headers(mint(QUERY, caller(now), keySetOf(newKey()))), QUERY).catch(() => undefined);
        now += 500;
      }
      await expect(reasonOf(sub.verifyRequest(headers(mint(QUERY, caller(now), keySetOf(next))), QUERY))).resolves.toBe(
        "accepted",
      );
    });

    it("keeps verifying known keys through a JWKS outage, without waiting on it, and refuses unknown kids meanwhile", async () => {
      const next = newKey();
      jwks.publish([keys.signing, next]);
      const sub = verifier();
      await expect(reasonOf(sub.verifyRequest(headers(mint(QUERY)), QUERY))).resolves.toBe("accepted");
      jwks.setUp(false);
      const during = jwks.fetches();
      now += 60_000; // well past max-age: the scheduled refetch fails
      for (const keySet of [keys, keySetOf(next)])
        await expect(reasonOf(sub.verifyRequest(headers(mint(QUERY, caller(now), keySet)), QUERY))).resolves.toBe(
          "accepted",
        );
      expect(jwks.fetches()).toBe(during + 1);
      now += 5_000; // a failed refetch is retried after 10 s, not on every request
      await expect(reasonOf(sub.verifyRequest(headers(mint(QUERY)), QUERY))).resolves.toBe("accepted");
      await expect(
        reasonOf(sub.verifyRequest(headers(mint(QUERY, caller(now), keySetOf(newKey()))), QUERY)),
      ).resolves.toBe("IDENTITY_INVALID");
      expect(jwks.fetches()).toBe(during + 1);
      now += 5_000;
      await expect(reasonOf(sub.verifyRequest(headers(mint(QUERY)), QUERY))).resolves.toBe("accepted");
      expect(jwks.fetches()).toBe(during + 2);
    });
  });
});

describe("the helper against keyway's own JWKS through a signing-key rotation", () => {
  const clock = new TestClock();
  let keyway: TestServer;
  beforeAll(async () => {
    keyway = await startTestServer({ clock });
  });
  afterAll(() => keyway?.stop());

  it("learns the new key before it signs and stops trusting the old one within max-age of it leaving the JWKS", async () => {
    const response = await fetch(`${keyway.url}/.well-known/jwks.json`);
    const maxAge = Number(/max-age=(\d+)/.exec(response.headers.get("cache-control") ?? "")?.[1]);
    // Under the 25 s by which a new key is published ahead of signing on every instance (ACTIVATION_DELAY_MS less one reload).
    expect(maxAge).toBeGreaterThanOrEqual(10);
    expect(maxAge).toBeLessThanOrEqual(15);

    let reachable = true;
    const switchable: typeof fetch = (input, init) =>
      reachable ? fetch(input, init) : Promise.reject(new TypeError("fetch failed"));
    const sub = createIdentityVerifier({
      jwksUrl: `${keyway.url}/.well-known/jwks.json`,
      audience: "notes",
      now: clock.now,
      fetch: switchable,
    });
    const root = loadKeySet({ privateKeyPem: keyway.config.jwt.privateKeyPem, dataDir: keyway.config.dataDir });
    const verify = (keySet: KeySet) => {
      const body = JSON.stringify(QUERY);
      return sub
        .verifyRequest(
          headers(
            signIdentityToken({ keys: keySet, issuer: "keyway" }, caller(clock.now()), "notes", clock.now(), body),
          ),
          body,
        )
        .then(
          () => "accepted",
          (error) => String(error.extensions?.reason),
        );
    };
    await expect(verify(keyway.keys)).resolves.toBe("accepted");

    const rotation = await rotateSigningKey({
      root,
      store: keyway.stores.signingKeys,
      accessTokenTtlSeconds: keyway.config.accessTokenTtl,
      now: clock.now,
    });
    await keyway.keys.reload();
    for (let waited = 0; clock.now() < rotation.activatesAt.getTime(); waited += 5) {
      expect(keyway.keys.signing.kid).toBe(root.signing.kid);
      await expect(verify(keyway.keys)).resolves.toBe("accepted");
      clock.advance(5);
    }
    // Known ahead from a scheduled refetch: at its first use the JWKS need not even answer.
    reachable = false;
    expect(keyway.keys.signing.kid).toBe(rotation.kid);
    await expect(verify(keyway.keys)).resolves.toBe("accepted");
    reachable = true;

    // The old key keeps verifying while keyway publishes it, and not beyond max-age after.
    const leavesAt = rotation.replacedVerifiesUntil.getTime();
    clock.advance((leavesAt - clock.now()) / 1000 - 1);
    await expect(verify(root)).resolves.toBe("accepted");
    clock.advance(1 + maxAge);
    const published = (await (await fetch(`${keyway.url}/.well-known/jwks.json`)).json()) as {
      keys: Array<{ kid: string }>;
    };
    expect(published.keys.map((key) => key.kid)).not.toContain(root.signing.kid);
    await expect(verify(root)).resolves.toBe("IDENTITY_INVALID");
    await expect(verify(keyway.keys)).resolves.toBe("accepted");
  });
});
