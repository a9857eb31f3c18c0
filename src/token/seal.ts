// Authenticated encryption of small secrets at rest (AES-256-GCM), under keys
// derived with HKDF from a secret the database never holds.
import { createCipheriv, createDecipheriv, hkdfSync, randomBytes } from "node:crypto";

const IV_BYTES = 12;
const TAG_BYTES = 16;

/** A 256-bit key for one purpose (`info`) from key material. */
export const deriveSealKey = (material: Buffer, info: string): Buffer =>
  Buffer.from(hkdfSync("sha256", material, Buffer.alloc(0), Buffer.from(info), 32));

/** base64url(iv ‖ tag ‖ ciphertext) */
export function seal(plaintext: string, key: Buffer): string {
  const iv = randomBytes(IV_BYTES);
  const cipher = createCipheriv("aes-256-gcm", key, iv);
  const body = Buffer.concat([cipher.update(plaintext, "utf8"), cipher.final()]);
  return Buffer.concat([iv, cipher.getAuthTag(), body]).toString("base64url");
}

/** The plaintext, or null when `sealed` was not sealed under `key` or was altered. */
export function unseal(sealed: string, key: Buffer): string | null {
  try {
    const bytes = Buffer.from(sealed, "base64url");
    const decipher = createDecipheriv("aes-256-gcm", key, bytes.subarray(0, IV_BYTES));
    decipher.setAuthTag(bytes.subarray(IV_BYTES, IV_BYTES + TAG_BYTES));
    return Buffer.concat([decipher.update(bytes.subarray(IV_BYTES + TAG_BYTES)), decipher.final()]).toString("utf8");
  } catch {
    return null;
  }
}
