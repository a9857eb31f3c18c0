// What second factors need from storage: a user's TOTP factor, their recovery
// codes, and the challenges a right password earns. Each "use" is one
// conditional UPDATE, so two requests racing with one code cannot both win.
// A change the owner should hear of queues its notice in the same transaction.
import type { TimedNotice } from "../account/notices";

/** A notice to queue with a change (null: the address's notice limit is spent). */
export type Notice = TimedNotice;

export interface TotpFactorRecord {
  sealedSecret: string;
  /** False while pending (enrolled, not yet confirmed with a code). */
  enabled: boolean;
  lastUsedStep: number | null;
}

export interface NewChallenge {
  userId: string;
  tokenHash: string;
  /** How the first factor was proven; the session's amr starts with it. */
  amr: string[];
  /** Ties the challenge to the password it was earned with (see mfa.service.ts). */
  passwordTag: string;
  now: Date;
  expiresAt: Date;
}

export interface ChallengeRecord {
  id: string;
  userId: string;
  amr: string[];
  passwordTag: string;
}

export interface MfaStore {
  /**
   * Stores a pending secret for an active user, replacing a pending one; false when
   * TOTP is already enabled (or the user is gone).
   */
  startTotp(userId: string, sealedSecret: string, now: Date): Promise<boolean>;
  findTotp(userId: string): Promise<TotpFactorRecord | null>;
  /** True when the user has TOTP enabled. */
  hasTotp(userId: string): Promise<boolean>;
  /**
   * Enables the pending factor with the code of `step`, and replaces the user's
   * recovery codes with these, in one transaction; false when there was no pending
   * factor with that secret (confirmed, replaced or removed meanwhile), or the step
   * was used.
   */
  confirmTotp(
    userId: string,
    sealedSecret: string,
    step: number,
    codeHashes: string[],
    now: Date,
    notice?: Notice | null,
  ): Promise<boolean>;
  /** Records `step` as used if it is later than the last used one of an enabled factor; false otherwise (a replay). */
  useTotpStep(userId: string, step: number): Promise<boolean>;
  /** Marks an unused recovery code of the user (with an enabled factor) used; false when there is none. */
  useRecoveryCode(userId: string, codeHash: string, now: Date): Promise<boolean>;
  /**
   * Removes the factor (pending or enabled), the recovery codes and open challenges;
   * true when there was a factor. The notice is queued only when an enabled one went.
   */
  removeTotp(userId: string, notice?: Notice | null): Promise<boolean>;
  /**
   * Removes every second factor of the user (TOTP, recovery codes, challenges,
   * passkeys) in one transaction, queuing the notice if there was any; what went.
   */
  removeSecondFactors(userId: string, notice?: Notice | null): Promise<{ totp: boolean; passkeys: number }>;
  /** Unused recovery codes left. */
  countRecoveryCodes(userId: string): Promise<number>;

  createChallenge(challenge: NewChallenge): Promise<void>;
  /** The unused, unexpired challenge with this hash. */
  findChallenge(tokenHash: string, now: Date): Promise<ChallengeRecord | null>;
  /** Marks the challenge used if it is still unused and unexpired; true for the one caller that did. */
  useChallenge(id: string, now: Date): Promise<boolean>;
  /** Deletes challenges used or expired before `before`. */
  purgeChallenges(before: Date): Promise<number>;
}
