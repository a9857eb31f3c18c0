// Signing keys and the JWKS that publishes their public halves. The `kid` is the
// RFC 7638 thumbprint of the public key, so it is stable across restarts and the
// same on every instance that shares a key.
import {
  createHash,
  createPrivateKey,
  createPublicKey,
  generateKeyPairSync,
  type JsonWebKey,
  type KeyObject,
} from "node:crypto";
import { mkdirSync, readdirSync, readFileSync, writeFileSync } from "node:fs";
import path from "node:path";

import type { SigningAlgorithm } from "./jwt-verify";

export type { SigningAlgorithm };

export interface SigningKey {
  kid: string;
  alg: SigningAlgorithm;
  privateKey: KeyObject;
  publicKey: KeyObject;
  publicJwk: PublicJwk;
}

export interface PublicJwk extends JsonWebKey {
  kid: string;
  alg: SigningAlgorithm;
  use: "sig";
}

export interface KeySet {
  /** The key new tokens are signed with. */
  signing: SigningKey;
  /** Every key whose tokens are still accepted, by kid. */
  find(kid: string): SigningKey | undefined;
  jwks(): { keys: PublicJwk[] };
}

export interface KeySetOptions {
  privateKeyPem: string | undefined;
  dataDir: string;
  onGenerated?: (file: string) => void;
}

export class KeyError extends Error {
  override name = "KeyError";
}

/** Configured key in production; in development the newest key under `dataDir/keys`, generated on first start. */
export function loadKeySet(options: KeySetOptions): KeySet {
  const pems = options.privateKeyPem ? [options.privateKeyPem] : readDevelopmentKeys(options);
  const keys = pems.map((pem) => toSigningKey(pem));
  const byKid = new Map(keys.map((key) => [key.kid, key]));
  const signing = keys[keys.length - 1];
  if (!signing) throw new KeyError("no signing key could be loaded");
  const jwks = { keys: [...byKid.values()].map((key) => key.publicJwk) };
  return { signing, find: (kid) => byKid.get(kid), jwks: () => jwks };
}

export function toSigningKey(pem: string): SigningKey {
  let privateKey: KeyObject;
  try {
    privateKey = createPrivateKey(pem);
  } catch {
    throw new KeyError("the JWT private key is not a readable PEM private key");
  }
  const alg = algorithmFor(privateKey);
  const publicKey = createPublicKey(privateKey);
  const jwk = publicKey.export({ format: "jwk" });
  const kid = thumbprint(jwk);
  return { kid, alg, privateKey, publicKey, publicJwk: { ...jwk, kid, alg, use: "sig" } };
}

function algorithmFor(key: KeyObject): SigningAlgorithm {
  const details = key.asymmetricKeyDetails ?? {};
  if (key.asymmetricKeyType === "ec" && details.namedCurve === "prime256v1") return "ES256";
  if (key.asymmetricKeyType === "rsa" && (details.modulusLength ?? 0) >= 2048) return "RS256";
  throw new KeyError("the JWT private key must be EC P-256 (ES256) or RSA of at least 2048 bits (RS256)");
}

/** RFC 7638: SHA-256 over the required members in lexicographic order. */
function thumbprint(jwk: JsonWebKey): string {
  const members =
    jwk.kty === "EC" ? { crv: jwk.crv, kty: jwk.kty, x: jwk.x, y: jwk.y } : { e: jwk.e, kty: jwk.kty, n: jwk.n };
  return createHash("sha256").update(JSON.stringify(members)).digest("base64url");
}

function readDevelopmentKeys(options: KeySetOptions): string[] {
  const dir = path.join(options.dataDir, "keys");
  try {
    mkdirSync(dir, { recursive: true, mode: 0o700 });
    const existing = listKeyFiles(dir);
    if (existing.length > 0) return existing.map((file) => readFileSync(path.join(dir, file), "utf8"));
    const file = path.join(dir, `signing-${Date.now()}.pem`);
    writeDevelopmentKey(file);
    options.onGenerated?.(file);
    return [readFileSync(file, "utf8")];
  } catch (error) {
    if (error instanceof KeyError) throw error;
    const code = (error as NodeJS.ErrnoException).code ?? "unknown error";
    throw new KeyError(
      `cannot read or create the development signing key in ${dir} (${code}); check that DATA_DIR is writable, or set JWT_PRIVATE_KEY_FILE`,
    );
  }
}

/** Oldest first, so the last one signs; file names carry the creation time. */
export function listKeyFiles(dir: string): string[] {
  return readdirSync(dir)
    .filter((file) => /^signing-\d+\.pem$/.test(file))
    .sort((a, b) => Number(a.slice(8, -4)) - Number(b.slice(8, -4)));
}

export function writeDevelopmentKey(file: string): void {
  const { privateKey } = generateKeyPairSync("ec", { namedCurve: "P-256" });
  // `wx`: never overwrite a key another process just wrote.
  writeFileSync(file, privateKey.export({ format: "pem", type: "pkcs8" }), { mode: 0o600, flag: "wx" });
}
