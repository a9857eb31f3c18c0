// What account recovery and verification need from storage: links mailed to
// users, and the outbox their mails (and notices) wait in. Each change that
// causes a mail records it in the same transaction, so a crash between the two
// cannot happen; the mail worker (src/mail/mail-worker.ts) sends what is queued.

/** Which proof a link asks for (the database enum AccountLinkKind). */
export type LinkKind = "PASSWORD_RESET" | "EMAIL_VERIFICATION" | "EMAIL_CHANGE";

/** The mails keyway writes (src/mail/templates.ts); the first three carry a link. */
export type MailKind =
  | "password-reset"
  | "email-verification"
  | "email-change"
  | "password-changed"
  | "password-reset-done"
  | "email-change-requested"
  | "totp-enabled"
  | "totp-disabled"
  | "passkey-added"
  | "passkey-removed"
  | "second-factors-reset";

/** Not a mail but a request for one: the worker decides whether the address gets a reset link. */
export const RESET_REQUEST = "password-reset-request";

export interface QueuedMail {
  kind: MailKind;
  recipient: string;
  /** Given up on if not delivered by then (a link's mail is also given up when its link ends). */
  discardAfter: Date;
}

export interface NewLink {
  userId: string;
  kind: LinkKind;
  /** The address the link goes to. */
  email: string;
  now: Date;
  expiresAt: Date;
}

export interface ClaimedMail {
  id: string;
  kind: string;
  recipient: string;
  linkId: string | null;
  attempts: number;
  discardAfter: Date;
  createdAt: Date;
}

export interface LinkForMail {
  kind: LinkKind;
  email: string;
  expiresAt: Date;
}

export type EmailVerification =
  | { ok: true; userId: string; kind: "EMAIL_VERIFICATION" | "EMAIL_CHANGE" }
  | { ok: false; reason: "LINK_INVALID" | "EMAIL_TAKEN" };

export interface PasswordReset {
  userId: string;
  /** Every session the reset ended. */
  endedSessionIds: string[];
}

export interface AccountStore {
  /** Queues a request for a reset link to `email`, known or not; the worker resolves it (resolveResetRequest). */
  queueResetRequest(email: string, now: Date, discardAfter: Date): Promise<void>;
  /**
   * Ends the user's open links of the kind, opens this one and queues its mail and
   * any notices, in one transaction; returns the link's id. `mail` null: no mail
   * (the CLI prints the link instead).
   */
  openLink(link: NewLink, mail: QueuedMail | null, notices?: QueuedMail[]): Promise<string>;
  /**
   * Inside one transaction: when `email` belongs to an active user, ends their open
   * reset links, opens a new one and queues its mail; either way the request is
   * deleted. True when a mail was queued. False too when `claimId` no longer holds
   * the request (another worker took it over).
   */
  resolveResetRequest(requestId: string, claimId: string, email: string, now: Date, expiresAt: Date): Promise<boolean>;
  /** Deletes a reset request without acting on it (past its address's limit, or too old); false if `claimId` no longer holds it. */
  dropResetRequest(requestId: string, claimId: string): Promise<boolean>;
  /** The link a mail carries, if it is still open and unexpired at `now`. */
  findOpenLink(linkId: string, now: Date): Promise<LinkForMail | null>;
  /** Whether a token with this hash opens an open link of one of these kinds (of an active user) at `now`. */
  isLinkOpen(tokenHash: string, kinds: LinkKind[], now: Date): Promise<boolean>;
  /** Records the token's hash on an open link; false when it ended or expired meanwhile. */
  mintLink(linkId: string, tokenHash: string, now: Date): Promise<boolean>;
  /**
   * Uses an open reset link of an active user, in one transaction: sets the
   * password, verifies the address if the link went to the current one, ends every
   * session and every other open link of the user, queues the notice. Null when
   * there is no such link.
   */
  resetPassword(tokenHash: string, passwordHash: string, now: Date, notice: QueuedMail): Promise<PasswordReset | null>;
  /**
   * Sets the password of an active user whose hash is still `expectedHash`, ends
   * every session but `keepSessionId` and every open reset link, queues the notice;
   * the ended sessions' ids, or null if the user is gone, disabled, or changed their
   * password meanwhile.
   */
  changePassword(change: {
    userId: string;
    expectedHash: string;
    passwordHash: string;
    keepSessionId: string;
    now: Date;
    /** Null: past the address's notice limit, none is sent. */
    notice: QueuedMail | null;
  }): Promise<string[] | null>;
  /**
   * Uses an open verification or change link of an active user: marks the address
   * verified, or (change) makes the link's address the user's, verified, and ends
   * their open reset links. EMAIL_TAKEN when another account holds that address by
   * then; nothing changes, and the link stays open.
   */
  verifyEmail(tokenHash: string, now: Date): Promise<EmailVerification>;

  /**
   * Claims up to `limit` mails due at `now` for `leaseMs` (SKIP LOCKED: workers on
   * several instances never claim the same one) and counts the attempt.
   */
  claimMails(limit: number, now: Date, leaseMs: number, claimId: string): Promise<ClaimedMail[]>;
  /** Marks a claimed mail sent; false if the claim had lapsed and been taken over. */
  markSent(id: string, claimId: string, now: Date): Promise<boolean>;
  /** Releases a claimed mail to be tried again at `nextAttemptAt`. */
  markFailed(id: string, claimId: string, nextAttemptAt: Date, error: string): Promise<void>;
  /** Gives up on a claimed mail. */
  discard(id: string, claimId: string, now: Date, reason: string): Promise<void>;
  /** Mails neither sent nor given up on. */
  countQueued(): Promise<number>;
  /** Deletes sent and given-up mails, and ended or expired links, older than `before`. */
  purge(before: Date): Promise<number>;
}
