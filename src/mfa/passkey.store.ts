// What passkeys need from storage: a user's WebAuthn credentials and the
// challenges handed to clients. A challenge is claimed by one conditional UPDATE
// and a counter raised by another, so two requests racing with one response
// cannot both win.
import type { Notice } from "./mfa.store";

export interface PasskeyRecord {
  id: string;
  userId: string;
  /** base64url, as the authenticator chose it. */
  credentialId: string;
  publicKey: Uint8Array;
  counter: number;
  transports: string[];
  deviceType: string;
  backedUp: boolean;
  name: string | null;
  createdAt: Date;
  lastUsedAt: Date | null;
}

export type NewPasskey = Omit<PasskeyRecord, "id" | "lastUsedAt">;

export type ChallengePurpose = "register" | "authenticate";

export interface NewPasskeyChallenge {
  challengeHash: string;
  purpose: ChallengePurpose;
  /** The user a registration is for; null for an authentication (any user's passkey may answer). */
  userId: string | null;
  now: Date;
  expiresAt: Date;
}

export interface PasskeyStore {
  createChallenge(challenge: NewPasskeyChallenge): Promise<void>;
  /**
   * Marks the unused, unexpired challenge with this hash and purpose used, and says
   * whom it was for (null for an authentication); undefined when there was none to
   * claim: unknown, used, expired or of the other purpose.
   */
  claimChallenge(
    challengeHash: string,
    purpose: ChallengePurpose,
    now: Date,
  ): Promise<{ userId: string | null } | undefined>;
  /** Deletes challenges expired before `before` (used ones included: none lives longer than its expiry). */
  purgeChallenges(before: Date): Promise<number>;

  /**
   * Stores the passkey of an active (not disabled) user, with the notice; null when the
   * credential id is registered already, the user is disabled or gone, or has
   * `maxPerUser` passkeys (counted under a lock on the user, so racing additions cannot pass it).
   */
  addPasskey(passkey: NewPasskey, notice?: Notice | null, maxPerUser?: number): Promise<PasskeyRecord | null>;
  findByCredentialId(credentialId: string): Promise<PasskeyRecord | null>;
  /** The user's passkeys, oldest first. */
  listPasskeys(userId: string): Promise<PasskeyRecord[]>;
  /**
   * Records a verified assertion: the new counter, backup state and time of use, if
   * the counter is still the one the assertion was checked against; false otherwise
   * (a concurrent use of the same response, or a removed passkey).
   */
  recordUse(
    id: string,
    expectedCounter: number,
    use: { counter: number; backedUp: boolean; now: Date },
  ): Promise<boolean>;
  /** Renames one of the user's passkeys; null when they have none with that id. */
  renamePasskey(userId: string, id: string, name: string | null): Promise<PasskeyRecord | null>;
  /** Removes one of the user's passkeys, queuing the notice if it did; false when they have none with that id. */
  removePasskey(userId: string, id: string, notice?: Notice | null): Promise<boolean>;
}
