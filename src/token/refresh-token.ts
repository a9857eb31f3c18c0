// Refresh tokens: `family.secret`, both random and base64url. The family (128 bits)
// finds the session; the secret (256 bits) proves possession and is stored only as
// a SHA-256 — a fast hash is right for a high-entropy secret, and the compare is
// constant-time.
import { createHash, randomBytes, timingSafeEqual } from "node:crypto";
import { deriveSealKey, seal, unseal } from "./seal";

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
const SEAL_INFO = "keyway refresh-token seal v1";

const sealKey = (previousSecret: string): Buffer => deriveSealKey(Buffer.from(previousSecret, "base64url"), SEAL_INFO);

export const sealSecret = (secret: string, previousSecret: string): string => seal(secret, sealKey(previousSecret));

export const unsealSecret = (sealed: string, previousSecret: string): string | null =>
  unseal(sealed, sealKey(previousSecret));
