// The challenge a right first factor earns a user with a second factor: a random
// token (only its SHA-256 stored) that completeLogin trades, with a code, for a
// session. AuthService asks this gate before it signs anyone in.
import { createHash, randomBytes } from "node:crypto";
import type { UserRecord } from "../users/user.store";
import type { MfaStore } from "./mfa.store";

export const CHALLENGE_TTL_MS = 5 * 60_000;
/** 32 random bytes, base64url: anything else is refused before a lookup. */
export const CHALLENGE_SHAPE = /^[A-Za-z0-9_-]{43}$/;

export interface SecondFactorGate {
  /** A challenge for a user with a second factor, who proved the first by `amr`; null when they have none. */
  challengeFor(user: UserRecord, amr: string[]): Promise<string | null>;
}

export const hashChallenge = (token: string): string => createHash("sha256").update(token).digest("hex");

/**
 * What ties a challenge to the password it was earned with: a reset or change of the
 * password voids challenges earned with the old one. A hash of the hash, so the row
 * holds nothing a password could be guessed against.
 */
export const passwordTagOf = (user: UserRecord): string =>
  createHash("sha256").update(`keyway mfa challenge\0${user.passwordHash}`).digest("hex");

export function createSecondFactorGate(store: MfaStore, now: () => number): SecondFactorGate {
  return {
    async challengeFor(user, amr) {
      if (!(await store.hasTotp(user.id))) return null;
      const token = randomBytes(32).toString("base64url");
      const at = now();
      await store.createChallenge({
        userId: user.id,
        tokenHash: hashChallenge(token),
        amr,
        passwordTag: passwordTagOf(user),
        now: new Date(at),
        expiresAt: new Date(at + CHALLENGE_TTL_MS),
      });
      return token;
    },
  };
}
