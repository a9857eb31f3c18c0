// The subgraph helper (keyway/subgraph) against real keys and a real JWKS endpoint.
import { generateKeyPairSync, randomUUID } from "node:crypto";
import { mkdtempSync } from "node:fs";
import http from "node:http";
import { tmpdir } from "node:os";
import path from "node:path";
import type { AddressInfo } from "node:net";
import { createIdentityVerifier, IDENTITY_HEADER } from "keyway/subgraph";
import { signIdentityToken } from "../../src/token/identity-token";
import { signJwt } from "../../src/token/jwt-verify";
import { loadKeySet, toSigningKey, type KeySet, type SigningKey } from "../../src/token/keys";

const caller = (now: number) => ({ iss: "keyway", aud: "keyway", sub: randomUUID(), sid: randomUUID(), iat: Math.floor(now / 1000), exp: Math.floor(now / 1000) + 900, jti: randomUUID() });
const headers = (token: string) => new Headers({ [IDENTITY_HEADER]: token });

/** A JWKS endpoint whose key set (or absence) the test controls. */
function startJwksServer() {
  let published: SigningKey[] = [];
  let up = true;
  let fetches = 0;
  const server = http.createServer((_request, response) => {
    fetches++;
    if (!up) return response.writeHead(503).end();
    response.writeHead(200, { "content-type": "application/json" }).end(JSON.stringify({ keys: published.map((key) => key.publicJwk) }));
  });
  return new Promise<{ url: string; publish(keys: SigningKey[]): void; setUp(value: boolean): void; fetches(): number; close(): Promise<void> }>((resolve) =>
    server.listen(0, "127.0.0.1", () =>
      resolve({
        url: `http://127.0.0.1:${(server.address() as AddressInfo).port}/.well-known/jwks.json`,
        publish: (keys) => (published = keys),
        setUp: (value) => (up = value),
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
    jwks.publish([keys.signing]);
  });
  afterAll(() => jwks.close());

  const verifier = () => createIdentityVerifier({ jwksUrl: jwks.url, audience: "notes", now: clock, minRefetchIntervalMs: 0 });

  it("returns the caller's claims for an identity the gateway signed for this subgraph", async () => {
    const who = caller(now);
    const claims = await verifier().verifyRequest(headers(signIdentityToken({ keys, issuer: "keyway" }, who, "notes", now)));
    expect(claims).toMatchObject({ sub: who.sub, sid: who.sid, aud: "notes", iss: "keyway" });
    expect(claims!.exp - claims!.iat).toBeLessThanOrEqual(30);
  });

  it("returns null for an anonymous request, also from a plain header object", async () => {
    expect(await verifier().verifyRequest(new Headers())).toBeNull();
    expect(await verifier().verifyRequest({ "content-type": "application/json" })).toBeNull();
  });

  it("refuses forged, unsigned, expired, other-audience, replayed and mistyped identities with UNAUTHENTICATED", async () => {
    const who = caller(now);
    const identity = signIdentityToken({ keys, issuer: "keyway" }, who, "notes", now);
    const [header, payload] = identity.split(".");
    const stranger = toSigningKey(generateKeyPairSync("ec", { namedCurve: "P-256" }).privateKey.export({ format: "pem", type: "pkcs8" }).toString());
    const iat = Math.floor(now / 1000);
    const forgeries: Record<string, string> = {
      foreignKeySameKid: signJwt({ ...who, aud: "notes", iat, exp: iat + 30 }, { ...stranger, kid: keys.signing.kid }, "keyway-identity+jwt"),
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
    const replayLater = verifier();
    now += 32_000; // the 30 s identity has expired: replaying it is refused
    await expect(replayLater.verifyRequest(headers(identity))).rejects.toMatchObject({ extensions: { code: "UNAUTHENTICATED", reason: "IDENTITY_EXPIRED" } });
  });

  it("follows key rotation by refetching once on an unknown kid, and survives a JWKS outage for known keys", async () => {
    const dir = mkdtempSync(path.join(tmpdir(), "keyway-rotation-"));
    const oldKeys = loadKeySet({ privateKeyPem: undefined, dataDir: dir });
    jwks.publish([oldKeys.signing]);
    const sub = verifier();
    const who = caller(now);
    await expect(sub.verifyRequest(headers(signIdentityToken({ keys: oldKeys, issuer: "keyway" }, who, "notes", now)))).resolves.not.toBeNull();

    // Rotation: a new signing key, the old one still published.
    const newKey = toSigningKey(generateKeyPairSync("ec", { namedCurve: "P-256" }).privateKey.export({ format: "pem", type: "pkcs8" }).toString());
    jwks.publish([oldKeys.signing, newKey]);
    const rotated = { ...oldKeys, signing: newKey, find: (kid: string) => (kid === newKey.kid ? newKey : oldKeys.find(kid)) };
    const fetchesBefore = jwks.fetches();
    await expect(sub.verifyRequest(headers(signIdentityToken({ keys: rotated, issuer: "keyway" }, who, "notes", now)))).resolves.not.toBeNull();
    expect(jwks.fetches()).toBe(fetchesBefore + 1);

    // The JWKS endpoint goes down: both known keys keep verifying, with no fetch at all.
    jwks.setUp(false);
    const during = jwks.fetches();
    await expect(sub.verifyRequest(headers(signIdentityToken({ keys: oldKeys, issuer: "keyway" }, who, "notes", now)))).resolves.not.toBeNull();
    await expect(sub.verifyRequest(headers(signIdentityToken({ keys: rotated, issuer: "keyway" }, who, "notes", now)))).resolves.not.toBeNull();
    expect(jwks.fetches()).toBe(during);
    // An unknown kid during the outage is refused, not waved through.
    await expect(sub.verifyRequest(headers(signIdentityToken({ keys, issuer: "keyway" }, who, "notes", now)))).rejects.toMatchObject({ extensions: { code: "UNAUTHENTICATED" } });
    jwks.setUp(true);
  });
});
