// The subgraph helper (keyway/subgraph) against real keys and a real JWKS endpoint,
// on a controllable clock: what it trusts, for how long, and what it refuses.
import { generateKeyPairSync, randomUUID } from "node:crypto";
import { mkdtempSync } from "node:fs";
import http from "node:http";
import { tmpdir } from "node:os";
import path from "node:path";
import type { AddressInfo } from "node:net";
import { createIdentityVerifier, IDENTITY_HEADER, type IdentityVerifierOptions } from "keyway/subgraph";
import { signIdentityToken } from "../../src/token/identity-token";
import { rotateSigningKey } from "../../src/token/key-rotation";
import { signJwt } from "../../src/token/jwt-verify";
import { loadKeySet, toSigningKey, type KeySet, type SigningKey } from "../../src/token/keys";
import { startTestServer, TestClock, type TestServer } from "../helpers/server";

const caller = (now: number) => ({ iss: "keyway", aud: "keyway", sub: randomUUID(), sid: randomUUID(), iat: Math.floor(now / 1000), exp: Math.floor(now / 1000) + 900, jti: randomUUID() });
const headers = (token: string) => new Headers({ [IDENTITY_HEADER]: token });
const newKey = () => toSigningKey(generateKeyPairSync("ec", { namedCurve: "P-256" }).privateKey.export({ format: "pem", type: "pkcs8" }).toString());
const keySetOf = (signing: SigningKey): KeySet => ({ signing, find: (kid) => (kid === signing.kid ? signing : undefined), jwks: () => ({ keys: [signing.publicJwk] }) });

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
    response.writeHead(200, { "content-type": "application/json", ...cacheControl }).end(JSON.stringify({ keys: published.map((key) => key.publicJwk) }));
  });
  return new Promise<{ url: string; publish(keys: SigningKey[]): void; setUp(value: boolean): void; setMaxAge(seconds: number | null): void; fetches(): number; close(): Promise<void> }>((resolve) =>
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

  const verifier = (options: Partial<IdentityVerifierOptions> = {}) => createIdentityVerifier({ jwksUrl: jwks.url, audience: "notes", now: clock, ...options });
  /** An identity as keyway mints it for the notes subgraph. */
  const mint = (who = caller(now), keySet = keys) => signIdentityToken({ keys: keySet, issuer: "keyway" }, who, "notes", now);
  const reasonOf = (promise: Promise<unknown>) => promise.then(() => "accepted", (error) => String(error.extensions?.reason ?? error));

  describe("claims", () => {
    it("returns the caller's claims for an identity the gateway signed for this subgraph", async () => {
      const who = caller(now);
      const claims = await verifier().verifyRequest(headers(mint(who)));
      expect(claims).toMatchObject({ sub: who.sub, sid: who.sid, aud: "notes", iss: "keyway" });
      expect(claims!.exp - claims!.iat).toBeLessThanOrEqual(30);
    });

    it("returns null for an anonymous request, also from a plain header object", async () => {
      expect(await verifier().verifyRequest(new Headers())).toBeNull();
      expect(await verifier().verifyRequest({ "content-type": "application/json" })).toBeNull();
    });

    it("refuses forged, unsigned, expired, other-audience and mistyped identities with UNAUTHENTICATED", async () => {
      const who = caller(now);
      const identity = mint(who);
      const [header, payload] = identity.split(".");
      const iat = Math.floor(now / 1000);
      const forgeries: Record<string, string> = {
        foreignKeySameKid: signJwt({ ...who, aud: "notes", iat, exp: iat + 30 }, { ...newKey(), kid: keys.signing.kid }, "keyway-identity+jwt"),
        unsigned: `${Buffer.from(JSON.stringify({ alg: "none", typ: "keyway-identity+jwt", kid: keys.signing.kid })).toString("base64url")}.${payload}.`,
        tampered: `${header}.${Buffer.from(JSON.stringify({ ...who, aud: "notes", sub: randomUUID() })).toString("base64url")}.${identity.split(".")[2]}`,
        otherAudience: signIdentityToken({ keys, issuer: "keyway" }, who, "billing", now),
        accessTokenType: signJwt({ ...who, aud: "notes" }, keys.signing, "at+jwt"),
        otherIssuer: signIdentityToken({ keys, issuer: "elsewhere" }, who, "notes", now),
        garbage: "not-a-token",
      };
      for (const [name, token] of Object.entries(forgeries)) {
        await expect(verifier().verifyRequest(headers(token)).catch((error) => ({ name, code: error.extensions.code, reason: error.extensions.reason }))).resolves.toEqual({
          name,
          code: "UNAUTHENTICATED",
          reason: "IDENTITY_INVALID",
        });
      }
      const later = verifier();
      now += 32_000; // the 30 s identity has expired
      await expect(later.verifyRequest(headers(identity))).rejects.toMatchObject({ extensions: { code: "UNAUTHENTICATED", reason: "IDENTITY_EXPIRED" } });
    });
  });

  describe("keys", () => {
    it("drops a key that left the JWKS once the JWKS's max-age has passed", async () => {
      const next = newKey();
      jwks.publish([keys.signing, next]);
      const sub = verifier();
      await expect(reasonOf(sub.verifyRequest(headers(mint())))).resolves.toBe("accepted");
      const fetched = jwks.fetches();
      jwks.publish([next]); // keyway retired the old key (or an operator pulled a leaked one)
      now += 14_000;
      await expect(reasonOf(sub.verifyRequest(headers(mint())))).resolves.toBe("accepted");
      expect(jwks.fetches()).toBe(fetched);
      now += 1_000;
      await expect(reasonOf(sub.verifyRequest(headers(mint())))).resolves.toBe("IDENTITY_INVALID");
      expect(jwks.fetches()).toBe(fetched + 1);
      await expect(reasonOf(sub.verifyRequest(headers(mint(caller(now), keySetOf(next)))))).resolves.toBe("accepted");
    });

    it("follows the max-age the JWKS sends, within 10 s to 10 min; 60 s without one", async () => {
      const fetchesAfter = async (sub: ReturnType<typeof verifier>, seconds: number) => {
        now += seconds * 1000;
        await sub.verifyRequest(headers(mint()));
        return jwks.fetches();
      };
      for (const [maxAge, refreshEvery] of [[120, 120], [0, 10], [86_400, 600], [null, 60]] as const) {
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
      await sub.verifyRequest(headers(mint()));
      now += 10_000;
      const forged = () => mint(caller(now), keySetOf(newKey()));
      const start = jwks.fetches();
      for (let i = 0; i < 20; i++) {
        await expect(reasonOf(sub.verifyRequest(headers(forged())))).resolves.toBe("IDENTITY_INVALID");
        now += 400;
      }
      expect(jwks.fetches()).toBe(start + 1); // 8 s of forged kids: one fetch
      now += 2_000;
      await expect(reasonOf(sub.verifyRequest(headers(forged())))).resolves.toBe("IDENTITY_INVALID");
      expect(jwks.fetches()).toBe(start + 2);
    });

    it("lets an unknown kid be looked up again later: a kid sent before its key was published still works once it is", async () => {
      const next = newKey();
      const sub = verifier();
      await sub.verifyRequest(headers(mint()));
      // Someone sends the next key's kid before keyway publishes it.
      await expect(reasonOf(sub.verifyRequest(headers(mint(caller(now), keySetOf(next)))))).resolves.toBe("IDENTITY_INVALID");
      jwks.publish([keys.signing, next]);
      now += 10_000;
      await expect(reasonOf(sub.verifyRequest(headers(mint(caller(now), keySetOf(next)))))).resolves.toBe("accepted");
    });

    it("knows a key published 30 s before it signs at its first use, even while forged kids use up every refetch", async () => {
      jwks.setMaxAge(600); // only refetches for unknown kids in play
      const sub = verifier();
      await sub.verifyRequest(headers(mint()));
      const next = newKey();
      // The attacker knows the schedule: forged kids every 500 ms from well before publication until first use.
      for (let t = 0; t < 60_000; t += 500) {
        if (t === 30_000) jwks.publish([keys.signing, next]);
        await sub.verifyRequest(headers(mint(caller(now), keySetOf(newKey())))).catch(() => undefined);
        now += 500;
      }
      await expect(reasonOf(sub.verifyRequest(headers(mint(caller(now), keySetOf(next)))))).resolves.toBe("accepted");
    });

    it("keeps verifying known keys through a JWKS outage, without waiting on it, and refuses unknown kids meanwhile", async () => {
      const next = newKey();
      jwks.publish([keys.signing, next]);
      const sub = verifier();
      await expect(reasonOf(sub.verifyRequest(headers(mint())))).resolves.toBe("accepted");
      jwks.setUp(false);
      const during = jwks.fetches();
      now += 60_000; // well past max-age: the scheduled refetch fails
      for (const keySet of [keys, keySetOf(next)]) await expect(reasonOf(sub.verifyRequest(headers(mint(caller(now), keySet))))).resolves.toBe("accepted");
      expect(jwks.fetches()).toBe(during + 1);
      now += 5_000; // a failed refetch is retried after 10 s, not on every request
      await expect(reasonOf(sub.verifyRequest(headers(mint())))).resolves.toBe("accepted");
      await expect(reasonOf(sub.verifyRequest(headers(mint(caller(now), keySetOf(newKey())))))).resolves.toBe("IDENTITY_INVALID");
      expect(jwks.fetches()).toBe(during + 1);
      now += 5_000;
      await expect(reasonOf(sub.verifyRequest(headers(mint())))).resolves.toBe("accepted");
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
    const switchable: typeof fetch = (input, init) => (reachable ? fetch(input, init) : Promise.reject(new TypeError("fetch failed")));
    const sub = createIdentityVerifier({ jwksUrl: `${keyway.url}/.well-known/jwks.json`, audience: "notes", now: clock.now, fetch: switchable });
    const root = loadKeySet({ privateKeyPem: keyway.config.jwt.privateKeyPem, dataDir: keyway.config.dataDir });
    const verify = (keySet: KeySet) => {
      return sub.verifyRequest(headers(signIdentityToken({ keys: keySet, issuer: "keyway" }, caller(clock.now()), "notes", clock.now()))).then(
        () => "accepted",
        (error) => String(error.extensions?.reason),
      );
    };
    await expect(verify(keyway.keys)).resolves.toBe("accepted");

    const rotation = await rotateSigningKey({ root, prisma: keyway.database.prisma, accessTokenTtlSeconds: keyway.config.accessTokenTtl, now: clock.now });
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
    const published = (await (await fetch(`${keyway.url}/.well-known/jwks.json`)).json()) as { keys: Array<{ kid: string }> };
    expect(published.keys.map((key) => key.kid)).not.toContain(root.signing.kid);
    await expect(verify(root)).resolves.toBe("IDENTITY_INVALID");
    await expect(verify(keyway.keys)).resolves.toBe("accepted");
  });
});
