import { generateKeyPairSync, randomUUID } from "node:crypto";
import { mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import type { FastifyRequest } from "fastify";
import { identifyCaller } from "../../src/auth/caller";
import { createRevocationList } from "../../src/session/revocation-list";
import { signAccessToken, type AccessClaims, type AccessTokenOptions } from "../../src/token/access-token";
import { loadKeySet } from "../../src/token/keys";
import { createVerifiedTokenCache, type VerifiedTokenCache } from "../../src/token/verified-token-cache";

const T0 = Date.UTC(2030, 0, 1);
const pem = generateKeyPairSync("ec", { namedCurve: "P-256" })
  .privateKey.export({ format: "pem", type: "pkcs8" })
  .toString();
const accessTokens: AccessTokenOptions = {
  keys: loadKeySet({ privateKeyPem: pem, dataDir: mkdtempSync(path.join(tmpdir(), "keyway-vtc-")) }),
  issuer: "keyway",
  audience: "keyway",
  ttlSeconds: 900,
};

const claimsExpiringAt = (expSeconds: number): AccessClaims => ({
  iss: "keyway",
  aud: "keyway",
  sub: randomUUID(),
  sid: randomUUID(),
  iat: expSeconds - 900,
  exp: expSeconds,
  jti: randomUUID(),
  roles: [],
  scopes: [],
  emailVerified: false,
  amr: ["pwd"],
  authTime: expSeconds - 900,
});

function issue(now = T0): { token: string; sid: string } {
  const sid = randomUUID();
  const { token } = signAccessToken(accessTokens, {
    userId: randomUUID(),
    sessionId: sid,
    sessionExpiresAt: new Date(now + 86_400_000),
    grants: { roles: [], scopes: [], emailVerified: false, amr: ["pwd"], authTime: Math.floor(now / 1000) },
    now,
  });
  return { token, sid };
}

const bearerRequest = (token: string) =>
  ({
    headers: { authorization: `Bearer ${token}` },
    raw: { rawHeaders: ["Authorization", `Bearer ${token}`] },
  }) as unknown as FastifyRequest;

/** Wraps a cache to record which tokens were looked up, hit, and stored. */
function observed(cache: VerifiedTokenCache) {
  const hits: string[] = [];
  const stored: string[] = [];
  const spy: VerifiedTokenCache = {
    get(token, now) {
      const claims = cache.get(token, now);
      if (claims) hits.push(token);
      return claims;
    },
    remember(token, claims) {
      stored.push(token);
      cache.remember(token, claims);
    },
    get size() {
      return cache.size;
    },
  };
  return { spy, hits, stored };
}

describe("verified-token cache", () => {
  it("serves an entry only strictly before the token's exp, and forgets it after", () => {
    const cache = createVerifiedTokenCache({ maxEntries: 10 });
    const exp = Math.floor(T0 / 1000) + 60;
    const claims = claimsExpiringAt(exp);
    cache.remember("token", claims);
    expect(cache.get("token", exp * 1000 - 1)).toEqual(claims);
    expect(cache.get("token", exp * 1000)).toBeUndefined();
    expect(cache.size).toBe(0);
    expect(cache.get("token", exp * 1000 - 1)).toBeUndefined();
  });

  it("keeps at most maxEntries, dropping the least recently used", () => {
    const cache = createVerifiedTokenCache({ maxEntries: 2 });
    const exp = Math.floor(T0 / 1000) + 600;
    cache.remember("a", claimsExpiringAt(exp));
    cache.remember("b", claimsExpiringAt(exp));
    expect(cache.get("a", T0)).toBeDefined(); // a is now the most recently used
    cache.remember("c", claimsExpiringAt(exp));
    expect(cache.size).toBe(2);
    expect(cache.get("b", T0)).toBeUndefined();
    expect(cache.get("a", T0)).toBeDefined();
    expect(cache.get("c", T0)).toBeDefined();
  });

  it("drops expired entries from the old end when it remembers a new token, well before its cap", () => {
    const cache = createVerifiedTokenCache({ maxEntries: 100 });
    const t0 = Math.floor(T0 / 1000);
    cache.remember("rotated-1", claimsExpiringAt(t0 + 20), T0);
    cache.remember("rotated-2", claimsExpiringAt(t0 + 40), T0);
    cache.remember("current", claimsExpiringAt(t0 + 60), T0 + 30_000); // rotated-1 has expired by now
    expect(cache.size).toBe(2);
    expect(cache.get("rotated-2", T0 + 30_000)).toBeDefined();
    cache.remember("next", claimsExpiringAt(t0 + 90), T0 + 45_000); // rotated-2 expired, but it is now the most recently used
    expect(cache.size).toBe(3);
    cache.remember("later", claimsExpiringAt(t0 + 120), T0 + 65_000); // current, then rotated-2, are the oldest and expired
    expect(cache.size).toBe(2);
    expect(cache.get("later", T0 + 65_000)).toBeDefined();
  });

  it("hands out claims nobody can change for the next request", () => {
    const cache = createVerifiedTokenCache({ maxEntries: 2 });
    cache.remember("a", claimsExpiringAt(Math.floor(T0 / 1000) + 600));
    const claims = cache.get("a", T0)!;
    expect(() => Object.assign(claims, { sub: "someone else" })).toThrow(TypeError);
  });
});

describe("identifyCaller with the verified-token cache", () => {
  it("answers a repeated token from the cache, then refuses it once its session is revoked", () => {
    const { spy, hits } = observed(createVerifiedTokenCache({ maxEntries: 10 }));
    const revocations = createRevocationList({ retentionMs: 905_000, now: () => T0 });
    const { token, sid } = issue();
    const options = { accessTokens, revocations, now: () => T0 + 1000, verifiedTokens: spy };

    expect(identifyCaller(bearerRequest(token), options)).toMatchObject({ caller: { sid }, refusal: null });
    expect(identifyCaller(bearerRequest(token), options)).toMatchObject({ caller: { sid }, refusal: null });
    expect(hits).toEqual([token]);

    revocations.add(sid);
    expect(identifyCaller(bearerRequest(token), options)).toEqual({ caller: null, refusal: "SESSION_ENDED" });
    // Refused although the verification is still cached: the revocation list is read on every request.
    expect(hits).toEqual([token, token]);
  });

  it("never answers a tampered token from the cache, nor stores it", () => {
    const { spy, hits, stored } = observed(createVerifiedTokenCache({ maxEntries: 10 }));
    const revocations = createRevocationList({ retentionMs: 905_000, now: () => T0 });
    const options = { accessTokens, revocations, now: () => T0 + 1000, verifiedTokens: spy };
    const { token } = issue();
    expect(identifyCaller(bearerRequest(token), options).refusal).toBeNull();

    const [header, payload, signature] = token.split(".") as [string, string, string];
    const flip = (part: string) => `${part.slice(0, 10)}${part[10] === "A" ? "B" : "A"}${part.slice(11)}`;
    for (const tampered of [
      `${header}.${payload}.${flip(signature)}`,
      `${header}.${flip(payload)}.${signature}`,
      `${token}.`,
    ]) {
      expect(identifyCaller(bearerRequest(tampered), options)).toEqual({ caller: null, refusal: "TOKEN_INVALID" });
    }
    expect(hits).toEqual([]);
    expect(stored).toEqual([token]);
    expect(spy.size).toBe(1);
  });

  it("refuses a cached token as expired once its exp has passed", () => {
    const cache = createVerifiedTokenCache({ maxEntries: 10 });
    const revocations = createRevocationList({ retentionMs: 905_000, now: () => T0 });
    const { token } = issue();
    let now = T0;
    const options = { accessTokens, revocations, now: () => now, verifiedTokens: cache };
    expect(identifyCaller(bearerRequest(token), options).refusal).toBeNull();
    now = T0 + (accessTokens.ttlSeconds + 2) * 1000; // past exp and the verifier's 1 s tolerance
    expect(identifyCaller(bearerRequest(token), options)).toEqual({ caller: null, refusal: "TOKEN_EXPIRED" });
  });

  it("verifies afresh, and refuses, a cached token whose key has left the key set (retired, or pulled after a leak)", () => {
    const cache = createVerifiedTokenCache({ maxEntries: 10 });
    const revocations = createRevocationList({ retentionMs: 905_000, now: () => T0 });
    const { token } = issue();
    let pulled = false;
    const keys = { ...accessTokens.keys, find: (kid: string) => (pulled ? undefined : accessTokens.keys.find(kid)) };
    const options = { accessTokens: { ...accessTokens, keys }, revocations, now: () => T0, verifiedTokens: cache };
    expect(identifyCaller(bearerRequest(token), options).refusal).toBeNull();
    expect(cache.size).toBe(1);
    pulled = true;
    expect(identifyCaller(bearerRequest(token), options)).toEqual({ caller: null, refusal: "TOKEN_INVALID" });
    expect(cache.size).toBe(0);
  });
});
