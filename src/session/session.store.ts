// What the session lifecycle needs from storage. The Prisma implementation is the
// only one today; the rules (rotation, grace, reuse) live in session.service.ts.
import type { UserRecord } from "../users/user.store";

/** Why a session ended (the database enum SessionEndReason). */
export type SessionEndReason =
  | "LOGOUT"
  | "LOGOUT_ALL"
  | "REVOKED"
  | "REFRESH_TOKEN_REUSED"
  | "USER_DISABLED"
  | "PASSWORD_RESET"
  | "PASSWORD_CHANGED";

export interface SessionRecord {
  id: string;
  userId: string;
  tokenFamily: string;
  tokenHash: string;
  previousTokenHash: string | null;
  sealedToken: string | null;
  generation: number;
  rotatedAt: Date | null;
  createdAt: Date;
  /** When the user authenticated to start the session (`auth_time`); rotations keep it. */
  authTime: Date;
  /** How they authenticated (`amr`, RFC 8176); rotations keep it. */
  amr: string[];
  lastUsedAt: Date;
  expiresAt: Date;
  endedAt: Date | null;
  endReason: SessionEndReason | null;
  userAgent: string | null;
  ip: string | null;
}

export interface NewSession {
  userId: string;
  tokenFamily: string;
  tokenHash: string;
  now: Date;
  expiresAt: Date;
  /** The session's `amr`; its `auth_time` is `now`. */
  amr: string[];
  userAgent: string | null;
  ip: string | null;
}

export interface SessionRotation {
  id: string;
  /** The generation and hash the caller saw; the swap happens only if both still hold. */
  expectedGeneration: number;
  expectedHash: string;
  tokenHash: string;
  sealedToken: string;
  now: Date;
}

/** Rotation of the token presented, if it is the live session's current one. */
export interface CurrentTokenRotation {
  tokenFamily: string;
  /** Hash of the secret presented: the swap happens only while it is still the current hash. */
  presentedHash: string;
  tokenHash: string;
  sealedToken: string;
  now: Date;
  /** Idle expiry: the session must have been used after this. */
  usedSince: Date;
}

export interface RotatedSession {
  /** As it is after the rotation. */
  session: SessionRecord;
  /** The session's owner, read in the same statement (disabled or not, roles as they are now). */
  user: UserRecord;
}

export interface PurgeCutoffs {
  /** Sessions ended before this go. */
  endedBefore: Date;
  /** Sessions past their absolute expiry before this go. */
  expiredBefore: Date;
  /** Sessions last used before this go (idle for longer than the retention plus the idle TTL). */
  usedBefore: Date;
}

export interface PurgeResult {
  /** False when another instance held the purge's lock. */
  ran: boolean;
  deleted: number;
}

export interface SessionStore {
  create(session: NewSession): Promise<SessionRecord>;
  findByFamily(tokenFamily: string): Promise<SessionRecord | null>;
  findById(id: string): Promise<SessionRecord | null>;
  /** Compare-and-swap: true only for the one caller whose expectation still held. */
  rotate(rotation: SessionRotation): Promise<boolean>;
  /**
   * The common refresh in one round trip: compare-and-swap on the presented hash of a
   * live session, returning the rotated session and its owner; null if nothing matched.
   */
  rotateCurrent(rotation: CurrentTokenRotation): Promise<RotatedSession | null>;
  touch(id: string, now: Date): Promise<void>;
  /**
   * The user proved `methods` again on this live session: `authTime` becomes `now`,
   * and `amr` loses the methods in `replacing` and gains `methods` (in one statement).
   * The session as it is then, or null when it is not live (ended, expired, idle since
   * `usedSince`) or not `userId`'s.
   */
  reauthenticate(
    id: string,
    userId: string,
    methods: string[],
    replacing: string[],
    now: Date,
    usedSince: Date,
  ): Promise<SessionRecord | null>;
  /** Ends the session if it is not ended yet; true if this call ended it. */
  end(id: string, reason: SessionEndReason, now: Date): Promise<boolean>;
  /** Ends every session of the user not ended yet; returns their ids. */
  endAllOfUser(userId: string, reason: SessionEndReason, now: Date): Promise<string[]>;
  /** Sessions not ended, not past absolute expiry and used since `usedSince`, newest first. */
  listLive(userId: string, now: Date, usedSince: Date): Promise<SessionRecord[]>;
  /** Sessions ended at or after `since` by their own `endedAt` (start-up), and where polling goes on from. */
  listEndedSince(since: Date): Promise<EndedSessions>;
  /** Sessions ended by transactions from `horizon` on (a poll), and where the next poll goes on from. */
  listEndedFrom(horizon: bigint): Promise<EndedSessions>;
  /**
   * Deletes what the cut-offs say, in batches (each its own short transaction, so no
   * purge holds many row locks), under a lock only one instance holds at a time; an
   * instance that finds it taken skips the round.
   */
  purge(cutoffs: PurgeCutoffs, batch: { size: number; maxBatches: number }): Promise<PurgeResult>;
}

export interface EndedSessions {
  ids: string[];
  /**
   * The oldest transaction still running when these were read. Every session ended
   * by a transaction that had not committed by then has an `endedTxid` at least this,
   * so reading from here on next time misses none, whatever the clocks say.
   */
  horizon: bigint;
}
