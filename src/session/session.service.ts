// The session lifecycle: start, rotate (single use, with a grace window for the
// immediate predecessor), detect reuse, end. Storage is behind SessionStore.
import {
  formatRefreshToken,
  hashSecret,
  newTokenFamily,
  newTokenSecret,
  parseRefreshToken,
  type RefreshToken,
  sealSecret,
  secretMatches,
  unsealSecret,
} from "../token/refresh-token";
import type { UserRecord } from "../users/user.store";
import type { RevocationList } from "./revocation-list";
import type { SessionEndReason, SessionRecord, SessionStore } from "./session.store";

export interface SessionServiceOptions {
  store: SessionStore;
  revocations: RevocationList;
  now(): number;
  refreshTokenTtlSeconds: number;
  idleTtlSeconds: number;
  reuseGraceSeconds: number;
  /** Told about every session ended, e.g. for metrics and audit. */
  onEnded?(sessionIds: string[], reason: SessionEndReason): void;
}

export interface ClientMeta {
  userAgent: string | null;
  ip: string | null;
}

/** How the user proved who they are when a session starts. */
export interface Authentication {
  /** RFC 8176 method references: ["pwd"] for a password. */
  amr: string[];
}

export interface IssuedSession {
  session: SessionRecord;
  refreshToken: string;
}

export type RefreshOutcome =
  | ({
      ok: true;
      /** The owner as read with the rotation, when the fast path read it. */ user?: UserRecord;
    } & IssuedSession)
  | { ok: false; reason: "REFRESH_TOKEN_INVALID" | "REFRESH_TOKEN_REUSED" };

/** The second-factor methods (RFC 8176) a step-up proves, and so replaces. */
const STEP_UP_METHODS = ["otp", "hwk", "mfa"];
/** Attempts at the compare-and-swap before giving up; each retry follows a competitor's win. */
const MAX_ROTATION_ATTEMPTS = 3;
const USER_AGENT_MAX = 512;
/** How far instances' clocks may disagree for start-up to still find every relevant end (README: several instances). */
const MAX_CLOCK_SKEW_SECONDS = 5 * 60;

export class SessionService {
  constructor(private readonly options: SessionServiceOptions) {}

  async startSession(userId: string, meta: ClientMeta, authentication: Authentication): Promise<IssuedSession> {
    const now = new Date(this.options.now());
    const family = newTokenFamily();
    const secret = newTokenSecret();
    const session = await this.options.store.create({
      userId,
      tokenFamily: family,
      tokenHash: hashSecret(secret),
      now,
      expiresAt: new Date(now.getTime() + this.options.refreshTokenTtlSeconds * 1000),
      amr: authentication.amr,
      userAgent: meta.userAgent ? meta.userAgent.slice(0, USER_AGENT_MAX) : null,
      ip: meta.ip,
    });
    return { session, refreshToken: formatRefreshToken({ family, secret }) };
  }

  async rotateSession(rawToken: string): Promise<RefreshOutcome> {
    const token = parseRefreshToken(rawToken);
    if (!token) return { ok: false, reason: "REFRESH_TOKEN_INVALID" };
    const rotated = await this.rotateIfCurrent(token);
    if (rotated) return rotated;
    // Not the current token of a live session: read the row to tell a predecessor
    // within its grace window, a replay and a dead session apart.
    for (let attempt = 0; attempt < MAX_ROTATION_ATTEMPTS; attempt++) {
      const session = await this.options.store.findByFamily(token.family);
      const now = this.options.now();
      if (!session || !this.isLive(session, now)) return { ok: false, reason: "REFRESH_TOKEN_INVALID" };

      if (secretMatches(token.secret, session.tokenHash)) {
        const secret = newTokenSecret();
        const swapped = await this.options.store.rotate({
          id: session.id,
          expectedGeneration: session.generation,
          expectedHash: session.tokenHash,
          tokenHash: hashSecret(secret),
          sealedToken: sealSecret(secret, token.secret),
          now: new Date(now),
        });
        if (swapped) return { ok: true, session, refreshToken: formatRefreshToken({ family: token.family, secret }) };
        continue; // Another request rotated this generation first: read again, we are now the predecessor.
      }

      if (secretMatches(token.secret, session.previousTokenHash) && this.withinGrace(session, now)) {
        // Converge instead of rotating again: every holder of the predecessor gets the same current token.
        const current = session.sealedToken ? unsealSecret(session.sealedToken, token.secret) : null;
        if (!current) return { ok: false, reason: "REFRESH_TOKEN_INVALID" };
        await this.options.store.touch(session.id, new Date(now));
        return { ok: true, session, refreshToken: formatRefreshToken({ family: token.family, secret: current }) };
      }

      // The family is right but the secret is an older generation (or the predecessor
      // after its window): someone replayed a rotated token. End the whole session.
      await this.endSession(session.id, "REFRESH_TOKEN_REUSED");
      return { ok: false, reason: "REFRESH_TOKEN_REUSED" };
    }
    return { ok: false, reason: "REFRESH_TOKEN_INVALID" };
  }

  /** The live session a refresh token (current or in-grace predecessor) belongs to, without rotating. */
  async findSessionByRefreshToken(rawToken: string): Promise<SessionRecord | null> {
    const token = parseRefreshToken(rawToken);
    const session = token ? await this.options.store.findByFamily(token.family) : null;
    if (!token || !session || !this.isLive(session, this.options.now())) return null;
    const current = secretMatches(token.secret, session.tokenHash);
    const predecessor =
      secretMatches(token.secret, session.previousTokenHash) && this.withinGrace(session, this.options.now());
    return current || predecessor ? session : null;
  }

  async findLiveSession(id: string): Promise<SessionRecord | null> {
    const session = await this.options.store.findById(id);
    return session && this.isLive(session, this.options.now()) ? session : null;
  }

  /** Fresh auth_time and amr (gaining `methods`) for a live session: a step-up. Null when it is not live. */
  /**
   * A step-up: `methods` proven now. The second factors proven before leave amr, so
   * that auth_time dates every second factor amr names: a policy asking for a recent
   * "otp" is not met by an old code and a fresh passkey.
   */
  reauthenticateSession(id: string, userId: string, methods: string[]): Promise<SessionRecord | null> {
    const now = this.options.now();
    return this.options.store.reauthenticate(
      id,
      userId,
      methods,
      STEP_UP_METHODS,
      new Date(now),
      new Date(now - this.options.idleTtlSeconds * 1000),
    );
  }

  async endSession(id: string, reason: SessionEndReason): Promise<boolean> {
    const ended = await this.options.store.end(id, reason, new Date(this.options.now()));
    // Revoke even if another request ended it first: this instance must refuse its tokens too.
    this.options.revocations.add(id);
    if (ended) this.options.onEnded?.([id], reason);
    return ended;
  }

  async endUserSessions(userId: string, reason: SessionEndReason): Promise<number> {
    const ids = await this.options.store.endAllOfUser(userId, reason, new Date(this.options.now()));
    this.ended(ids, reason);
    return ids.length;
  }

  /**
   * Revokes sessions another store call ended (in a transaction of its own, such as
   * a password reset's) and tells the listeners, as endSession does for its own.
   */
  ended(ids: string[], reason: SessionEndReason): void {
    for (const id of ids) this.options.revocations.add(id);
    if (ids.length > 0) this.options.onEnded?.(ids, reason);
  }

  listLiveSessions(userId: string): Promise<SessionRecord[]> {
    const now = this.options.now();
    return this.options.store.listLive(userId, new Date(now), new Date(now - this.options.idleTtlSeconds * 1000));
  }

  /** Seconds until the session's absolute expiry: the refresh cookie's Max-Age. */
  remainingSeconds(session: SessionRecord): number {
    return Math.max(0, Math.floor((session.expiresAt.getTime() - this.options.now()) / 1000));
  }

  /**
   * Fills the revocation list with sessions ended recently enough to have unexpired
   * access tokens, and says where polling for later ends goes on from. No access
   * token is accepted longer than ACCESS_TOKEN_TTL after its `iat` (access-token.ts),
   * whatever lifetime it was signed with, so that TTL bounds how far back to look;
   * `endedAt` comes from the ending instance's clock, hence the allowance for skew.
   */
  async loadRecentlyEnded(accessTokenTtlSeconds: number): Promise<{ count: number; horizon: bigint }> {
    const ended = await this.options.store.listEndedSince(this.recentlyEndedSince(accessTokenTtlSeconds));
    for (const id of ended.ids) this.options.revocations.add(id);
    return { count: ended.ids.length, horizon: ended.horizon };
  }

  /** Ends after this may still have unexpired access tokens (see loadRecentlyEnded). */
  recentlyEndedSince(accessTokenTtlSeconds: number): Date {
    return new Date(this.options.now() - (accessTokenTtlSeconds + MAX_CLOCK_SKEW_SECONDS) * 1000);
  }

  /**
   * The common case, the current token of a live session, in one statement that also
   * reads the owner. The hash is compared in SQL rather than in constant time here:
   * timing can only reveal how much of a SHA-256 matched, which nobody can steer.
   */
  private async rotateIfCurrent(token: RefreshToken): Promise<RefreshOutcome | null> {
    const now = this.options.now();
    const secret = newTokenSecret();
    const rotated = await this.options.store.rotateCurrent({
      tokenFamily: token.family,
      presentedHash: hashSecret(token.secret),
      tokenHash: hashSecret(secret),
      sealedToken: sealSecret(secret, token.secret),
      now: new Date(now),
      usedSince: new Date(now - this.options.idleTtlSeconds * 1000),
    });
    return rotated && { ok: true, ...rotated, refreshToken: formatRefreshToken({ family: token.family, secret }) };
  }

  private isLive(session: SessionRecord, now: number): boolean {
    return (
      session.endedAt === null &&
      session.expiresAt.getTime() > now &&
      session.lastUsedAt.getTime() + this.options.idleTtlSeconds * 1000 > now
    );
  }

  private withinGrace(session: SessionRecord, now: number): boolean {
    return session.rotatedAt !== null && now - session.rotatedAt.getTime() <= this.options.reuseGraceSeconds * 1000;
  }
}
