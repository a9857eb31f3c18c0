// Accounts that recover: password reset and change, email verification and
// change. Each flow's effect and the mail it causes are one transaction in the
// store; the mail worker sends them. Link tokens are minted by the worker as it
// sends, so this file only ever sees tokens users bring back, and hashes them.
import { enforce, overloadRefused, type Authenticated, type AuthRequest, type AuthService } from "../auth/auth.service";
import { checkPassword, normalizeEmail } from "../auth/credentials";
import type { PasswordHasher } from "../auth/password";
import { hashingLineKey, type AuthRateLimits } from "../auth/rate-limits";
import type { MailConfig } from "../config";
import { badUserInput, conflict, rateLimited, unauthenticated } from "../errors";
import { hashLinkToken, newLinkToken } from "../mail/mail-worker";
import { linkUrl } from "../mail/templates";
import type { SessionService } from "../session/session.service";
import type { UserRecord, UserStore } from "../users/user.store";
import type { AccountStore, LinkKind, QueuedMail } from "./account.store";
import { NOTICE_LIFETIME_MS, noticeFor } from "./notices";

export interface AccountServiceOptions {
  store: AccountStore;
  users: UserStore;
  auth: AuthService;
  sessions: SessionService;
  passwords: PasswordHasher;
  limits: AuthRateLimits;
  mail: MailConfig;
  /** Something was queued: the local mail worker should look now. */
  mailQueued(): void;
  now(): number;
}

/**
 * How a reset link signs in: by proving the mailbox. Not "pwd" (RFC 8176): the new
 * password proves nothing yet, and a policy asking for a password must not be met by it.
 */
const RESET_LINK_LOGIN = { amr: ["email"] };
/** What newLinkToken makes: 32 bytes, base64url. Anything else is refused before a lookup. */
const LINK_TOKEN_SHAPE = /^[A-Za-z0-9_-]{43}$/;

export class AccountService {
  constructor(private readonly options: AccountServiceOptions) {}

  /**
   * True whatever the address: known or not, within its limit or not, the request
   * does the same work (one queued row), so neither the answer nor its timing tells
   * anything of the address. The mail worker decides afterwards whether a mail
   * follows: not to an unknown or disabled account, nor past MAIL_ADDRESS_LIMIT.
   */
  async requestPasswordReset(rawEmail: unknown, request: AuthRequest): Promise<true> {
    enforce(await this.options.limits.consumeAuthCall(request.ip));
    const email = this.email(rawEmail, "email");
    const now = this.now();
    await this.options.store.queueResetRequest(email, now, this.expiry("PASSWORD_RESET", now));
    // The worker is not woken: its next poll (MAIL_POLL_INTERVAL) takes the request. Woken
    // here, it would open the link and send the mail of a known address while this answer
    // is still on its way, which made that answer measurably slower (twice, on PGlite).
    return true;
  }

  /** Sets the password from a reset link, ends every session of the user, and signs in one new one. */
  async resetPassword(token: string, newPassword: string, request: AuthRequest): Promise<Authenticated> {
    enforce(await this.options.limits.consumeAuthCall(request.ip));
    const tokenHash = this.linkTokenHash(token);
    this.checkNewPassword(newPassword);
    // Hashing costs far more than this read: a token that opens nothing is refused before it.
    if (!(await this.options.store.isLinkOpen(tokenHash, ["PASSWORD_RESET"], this.now())))
      throw unauthenticated("LINK_INVALID");
    const passwordHash = await overloadRefused(this.options.passwords.hash(newPassword, hashingLineKey(request.ip)));
    const now = this.now();
    const reset = await this.options.store.resetPassword(
      tokenHash,
      passwordHash,
      now,
      this.notice("password-reset-done", "", now),
    );
    if (!reset) throw unauthenticated("LINK_INVALID");
    this.options.sessions.ended(reset.endedSessionIds, "PASSWORD_RESET");
    this.options.auth.userChanged(reset.userId);
    this.options.mailQueued();
    return this.options.auth.signIn(reset.userId, request, RESET_LINK_LOGIN);
  }

  /** Wrong current password: INVALID_CREDENTIALS, counted like a failed login. Keeps only the caller's session. */
  async changePassword(
    caller: { userId: string; sessionId: string },
    currentPassword: string,
    newPassword: string,
    request: AuthRequest,
  ): Promise<true> {
    const user = await this.proveOwner(caller.userId, currentPassword, request);
    this.checkNewPassword(newPassword);
    const passwordHash = await overloadRefused(this.options.passwords.hash(newPassword, hashingLineKey(request.ip)));
    const now = this.now();
    const ended = await this.options.store.changePassword({
      userId: user.id,
      expectedHash: user.passwordHash,
      passwordHash,
      keepSessionId: caller.sessionId,
      now,
      notice: (await this.notices("password-changed", user.email, now))[0] ?? null,
    });
    // The password changed between our read and the write: the one we checked is no longer it.
    if (!ended) throw unauthenticated("INVALID_CREDENTIALS");
    this.options.sessions.ended(ended, "PASSWORD_CHANGED");
    this.options.mailQueued();
    return true;
  }

  /** Mails the caller a link proving their current address; nothing when it is verified already. */
  async requestEmailVerification(userId: string): Promise<true> {
    const user = await this.options.auth.currentUser(userId);
    if (user.emailVerifiedAt) return true;
    await this.mailLimit("verify", user.email);
    const now = this.now();
    const expiresAt = this.expiry("EMAIL_VERIFICATION", now);
    await this.options.store.openLink(
      { userId: user.id, kind: "EMAIL_VERIFICATION", email: user.email, now, expiresAt },
      { kind: "email-verification", recipient: user.email, discardAfter: expiresAt },
    );
    this.options.mailQueued();
    return true;
  }

  /** Uses a verification or change link; CONFLICT when the new address was taken meanwhile (nothing changes then). */
  async verifyEmail(token: string, request: AuthRequest): Promise<true> {
    enforce(await this.options.limits.consumeAuthCall(request.ip));
    const verified = await this.options.store.verifyEmail(this.linkTokenHash(token), this.now());
    if (!verified.ok) {
      if (verified.reason === "EMAIL_TAKEN") throw conflict("An account with this email already exists");
      throw unauthenticated("LINK_INVALID");
    }
    this.options.auth.userChanged(verified.userId);
    return true;
  }

  /**
   * Mails a link to the new address and a notice to the current one; the address
   * changes when the link is used. CONFLICT at once when the address is taken (as
   * signUp answers), and again at use if it was taken meanwhile.
   */
  async changeEmail(
    userId: string,
    rawNewEmail: unknown,
    currentPassword: string,
    request: AuthRequest,
  ): Promise<true> {
    const newEmail = this.email(rawNewEmail, "newEmail");
    const user = await this.proveOwner(userId, currentPassword, request);
    if (newEmail === user.email) throw badUserInput("That is already your address", "newEmail");
    if (await this.options.users.findByEmail(newEmail)) throw conflict("An account with this email already exists");
    await this.mailLimit("change", newEmail);
    const now = this.now();
    const expiresAt = this.expiry("EMAIL_CHANGE", now);
    await this.options.store.openLink(
      { userId: user.id, kind: "EMAIL_CHANGE", email: newEmail, now, expiresAt },
      { kind: "email-change", recipient: newEmail, discardAfter: expiresAt },
      await this.notices("email-change-requested", user.email, now),
    );
    this.options.mailQueued();
    return true;
  }

  /**
   * A reset link for an operator to hand to a user (the CLI's user:reset-link):
   * it ends the user's earlier reset links, and no mail is sent. Null for an
   * unknown or disabled account.
   */
  async issueResetLink(rawEmail: string): Promise<{ userId: string; url: string } | null> {
    const email = this.email(rawEmail, "email");
    const user = await this.options.users.findByEmail(email);
    if (!user || user.disabledAt) return null;
    const now = this.now();
    const linkId = await this.options.store.openLink(
      { userId: user.id, kind: "PASSWORD_RESET", email, now, expiresAt: this.expiry("PASSWORD_RESET", now) },
      null,
    );
    const token = newLinkToken();
    if (!(await this.options.store.mintLink(linkId, hashLinkToken(token), now))) return null;
    return { userId: user.id, url: linkUrl(this.options.mail.appUrl, "PASSWORD_RESET", token) };
  }

  /** The active user, once their current password is checked; throttled and counted as a login attempt is. */
  private async proveOwner(userId: string, password: string, request: AuthRequest): Promise<UserRecord> {
    const { limits, passwords } = this.options;
    enforce(await limits.consumeAuthCall(request.ip));
    // Read fresh, not from the cache: the hash checked must be the current one.
    const user = await this.options.users.findById(userId);
    if (!user || user.disabledAt) throw unauthenticated("SESSION_ENDED");
    if (typeof password !== "string") throw badUserInput("The current password is required", "currentPassword");
    enforce(await limits.consumeLoginAttempt(user.email, request.ip));
    const matches = await overloadRefused(
      passwords.verify(password, user.passwordHash, hashingLineKey(request.ip)),
      () => limits.refundLoginAttempt(user.email, request.ip),
    );
    if (!matches) throw unauthenticated("INVALID_CREDENTIALS");
    await limits.clearLoginFailures(user.email, request.ip);
    return user;
  }

  private async mailLimit(purpose: string, email: string): Promise<void> {
    const limit = await this.options.limits.consumeMailToAddress(purpose, email);
    if (!limit.ok) throw rateLimited(limit.retryAfterSeconds);
  }

  private email(raw: unknown, field: string): string {
    if (typeof raw !== "string") throw badUserInput("Email is required", field);
    const email = normalizeEmail(raw);
    if (!email.ok) throw badUserInput(email.message, field);
    return email.email;
  }

  private checkNewPassword(password: unknown): void {
    if (typeof password !== "string") throw badUserInput("A new password is required", "newPassword");
    const invalid = checkPassword(password);
    if (invalid) throw badUserInput(invalid.message, "newPassword");
  }

  /** The stored hash a link token would have; LINK_INVALID at once for what no link could be. */
  private linkTokenHash(token: unknown): string {
    if (typeof token !== "string" || !LINK_TOKEN_SHAPE.test(token)) throw unauthenticated("LINK_INVALID");
    return hashLinkToken(token);
  }

  /** The notice, unless its address had MAIL_ADDRESS_LIMIT of them this window (notices.ts). */
  private async notices(kind: QueuedMail["kind"], recipient: string, now: Date): Promise<QueuedMail[]> {
    const notice = await noticeFor(this.options.limits, kind, recipient, now);
    return notice ? [notice] : [];
  }

  /** A password reset's notice: not counted, it goes to an address that just proved itself. */
  private notice(kind: QueuedMail["kind"], recipient: string, now: Date): QueuedMail {
    return { kind, recipient, discardAfter: new Date(now.getTime() + NOTICE_LIFETIME_MS) };
  }

  private expiry(kind: LinkKind, now: Date): Date {
    const { passwordResetTtl, emailVerificationTtl } = this.options.mail;
    return new Date(now.getTime() + (kind === "PASSWORD_RESET" ? passwordResetTtl : emailVerificationTtl) * 1000);
  }

  private now(): Date {
    return new Date(this.options.now());
  }
}
