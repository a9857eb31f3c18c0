// Refresh tokens: `family.secret`, both random and base64url. The family (128 bits)
// finds the session; the secret (256 bits) proves possession and is stored only as
// a SHA-256 — a fast hash is right for a high-entropy secret, and the compare is
// constant-time.
import { createCipheriv, createDecipheriv, createHash, hkdfSync, randomBytes, timingSafeEqual } from "node:crypto";

export interface RefreshToken {
  family: string;
  secret: string;
}

const FAMILY_BYTES = 16;
const SECRET_BYTES = 32;
const FAMILY_PATTERN = /^[A-Za-z0-9_-]{22}$/;
const SECRET_PATTERN = /^[A-Za-z0-9_-]{43}$/;

export const newTokenFamily = (): string => randomBytes(FAMILY_BYTES).toString("base64url");
export const newTokenSecret = (): string => randomBytes(SECRET_BYTES).toString("base64url");

export const formatRefreshToken = (token: RefreshToken): string => `${token.family}.${token.secret}`;

/** Null for anything that is not exactly the shape keyway issues. */
export function parseRefreshToken(raw: string): RefreshToken | null {
  if (raw.length !== 66) return null;
  const [family = "", secret = "", ...rest] = raw.split(".");
  if (rest.length > 0 || !FAMILY_PATTERN.test(family) || !SECRET_PATTERN.test(secret)) return null;
  return { family, secret };
}

export const hashSecret = (secret: string): string => createHash("sha256").update(secret).digest("hex");

export function secretMatches(secret: string, storedHash: string | null): boolean {
  if (!storedHash || storedHash.length !== 64) return false;
  return timingSafeEqual(Buffer.from(hashSecret(secret), "hex"), Buffer.from(storedHash, "hex"));
}

// The current secret is kept sealed under a key derived from its predecessor, so a
// client retrying with the predecessor inside the grace window can be handed the
// current token — while someone holding only the database cannot open it.
const SEAL_INFO = Buffer.from("keyway refresh-token seal v1");

function sealKey(previousSecret: string): Buffer {
  return Buffer.from(hkdfSync("sha256", Buffer.from(previousSecret, "base64url"), Buffer.alloc(0), SEAL_INFO, 32));
}

export function sealSecret(secret: string, previousSecret: string): string {
  const iv = randomBytes(12);
  const cipher = createCipheriv("aes-256-gcm", sealKey(previousSecret), iv);
  const body = Buffer.concat([cipher.update(secret, "utf8"), cipher.final()]);
  return Buffer.concat([iv, cipher.getAuthTag(), body]).toString("base64url");
}

export function unsealSecret(sealed: string, previousSecret: string): string | null {
  try {
    const bytes = Buffer.from(sealed, "base64url");
    const decipher = createDecipheriv("aes-256-gcm", sealKey(previousSecret), bytes.subarray(0, 12));
    decipher.setAuthTag(bytes.subarray(12, 28));
    return Buffer.concat([decipher.update(bytes.subarray(28)), decipher.final()]).toString("utf8");
  } catch {
    return null;
  }
}
