// TOTP (RFC 6238) through otplib, and recovery codes. Pure: no storage, no clock
// of its own. Whoever checks a code also records its step (mfa.store.ts), so a
// code is accepted once.
import { createHash, randomBytes } from "node:crypto";
import { generateSecret, generateURI, verify } from "otplib";

/** 20 random bytes (160 bits, RFC 4226's recommendation), SHA-1, 6 digits, 30 s: what authenticator apps expect. */
const SECRET_BYTES = 20;
export const TOTP_PERIOD_SECONDS = 30;
const TOTP_CODE_SHAPE = /^\d{6}$/;

export const RECOVERY_CODE_COUNT = 10;
/** 16 symbols of 32 (80 bits), shown as four groups of four. No I, L, O or U: nothing to misread. */
const RECOVERY_ALPHABET = "ABCDEFGHJKMNPQRSTVWXYZ0123456789";
const RECOVERY_SYMBOLS = 16;
const RECOVERY_CODE_SHAPE = new RegExp(`^[${RECOVERY_ALPHABET}]{${RECOVERY_SYMBOLS}}$`);

export const newTotpSecret = (): string => generateSecret({ length: SECRET_BYTES });

export const totpUri = (secret: string, issuer: string, label: string): string =>
  generateURI({ issuer, label, secret, algorithm: "sha1", digits: 6, period: TOTP_PERIOD_SECONDS });

/** The time step a code is for, if it is right for `secret` at `nowMs`, one step either side; null otherwise. */
export async function matchTotpStep(secret: string, code: string, nowMs: number): Promise<number | null> {
  if (!isTotpCode(code)) return null;
  const result = await verify({
    secret,
    token: code,
    algorithm: "sha1",
    digits: 6,
    period: TOTP_PERIOD_SECONDS,
    epoch: Math.floor(nowMs / 1000),
    // In seconds: one period either side reaches exactly the previous and the next step.
    epochTolerance: TOTP_PERIOD_SECONDS,
  });
  // The functional API answers for HOTP too; only a TOTP result has a step.
  return result.valid && "timeStep" in result ? result.timeStep : null;
}

export const isTotpCode = (code: string): boolean => TOTP_CODE_SHAPE.test(code);

/** Codes as shown to the user: XXXX-XXXX-XXXX-XXXX. */
export function newRecoveryCodes(count = RECOVERY_CODE_COUNT): string[] {
  return Array.from({ length: count }, () => {
    const symbols = [...randomBytes(RECOVERY_SYMBOLS)].map((byte) => RECOVERY_ALPHABET[byte % 32]).join("");
    return symbols.match(/.{4}/g)!.join("-");
  });
}

/** The code as stored (hashed): upper case, without dashes or spaces; null for what no recovery code could be. */
export function normalizeRecoveryCode(code: string): string | null {
  const normalized = code.replace(/[\s-]/g, "").toUpperCase();
  return RECOVERY_CODE_SHAPE.test(normalized) ? normalized : null;
}

/** SHA-256 (hex) of the normalized code: 80 random bits need no slow hash. */
export const hashRecoveryCode = (normalized: string): string => createHash("sha256").update(normalized).digest("hex");
