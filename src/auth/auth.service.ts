// The auth flows the GraphQL operations stand on. Each refusal is a coded error;
// transport (cookies, headers) is the resolvers' and http/cookies.ts's business.
import { grantsOf } from "../authz/live-grants";
import type { AuthzModel } from "../authz/model";
import { isUuid } from "../ids";
import { badUserInput, conflict, forbidden, mfaRequired, rateLimited, unauthenticated } from "../errors";
import type { SecondFactorGate } from "../mfa/challenge";
import type { Authentication, ClientMeta, IssuedSession, SessionService } from "../session/session.service";
import type { SessionRecord } from "../session/session.store";
import { signAccessToken, type AccessTokenOptions } from "../token/access-token";
import { normalizeCredentials, normalizeEmail } from "./credentials";
import { HashingOverloaded, type PasswordHasher } from "./password";
import { hashingLineKey, type AuthRateLimits, type LimitResult } from "./rate-limits";
import { createUserCache, type UserCache } from "./user-cache";
import type { UserRecord, UserStore } from "../users/user.store";

export interface AuthServiceOptions {
  users: UserStore;
  sessions: SessionService;
  passwords: PasswordHasher;
  limits: AuthRateLimits;
  accessTokens: AccessTokenOptions;
  /** Which scopes the user's roles grant, for the tokens. */
  authz: AuthzModel;
  allowSignup: boolean;
  now(): number;
  /** Defaults to USER_CACHE_SIZE users for USER_CACHE_TTL_MS; see user-cache.ts for why it is safe. */
  userCache?: UserCache;
  /** Users with a second factor get a challenge instead of a session; none: nobody has one. */
  secondFactor?: SecondFactorGate;
  /** Told about each user this process changed, after its cached row here is gone: the other instances must drop theirs. */
  onUserChanged?(userId: string): void;
}

/** RFC 8176: a password, the only way keyway signs users in so far. */
const PASSWORD_LOGIN = { amr: ["pwd"] };
/**
 * Methods that are a second factor already, so no TOTP challenge is asked on top:
 * "mfa" (a challenge answered) and "hwk" (a passkey, held and unlocked by its user).
 */
const SECOND_FACTOR_PROOFS = ["mfa", "hwk"];

/** Room for this many users seen by `me`; a miss only costs one row read. */
const USER_CACHE_SIZE = 10_000;
/** How long a cached row can be served should word of its change never come (a user deleted, the feed failing). */
export const USER_CACHE_TTL_MS = 30_000;

export interface Authenticated extends IssuedSession {
  user: UserRecord;
  accessToken: string;
  expiresIn: number;
  /** Seconds until the session's absolute expiry: the refresh cookie's Max-Age. */
  refreshMaxAge: number;
}

export interface AuthRequest extends ClientMeta {
  /**
   * Where throttling counts the caller and what the session records: the socket
   * address unless TRUST_PROXY says otherwise; null when no well-formed address came.
   */
  ip: string | null;
}

export class AuthService {
  private readonly cache: UserCache;

  constructor(private readonly options: AuthServiceOptions) {
    this.cache = options.userCache ?? createUserCache({ maxEntries: USER_CACHE_SIZE, ttlMs: USER_CACHE_TTL_MS });
  }

  async signUp(rawEmail: string, rawPassword: string, request: AuthRequest): Promise<Authenticated> {
    enforce(await this.options.limits.consumeAuthCall(request.ip));
    if (!this.options.allowSignup) throw forbidden("Sign-up is closed");
    const user = await this.createUser(rawEmail, rawPassword, hashingLineKey(request.ip));
    return this.authenticate(user, await this.options.sessions.startSession(user.id, request, PASSWORD_LOGIN));
  }

  /**
   * A new account, as signUp and the CLI's user:create make it: the credentials
   * checked, the password hashed in `hashingTurn`'s place in the line, and
   * CONFLICT when the email is taken. No session: that is signUp's.
   */
  async createUser(rawEmail: string, rawPassword: string, hashingTurn: string): Promise<UserRecord> {
    const { email, password } = validCredentials(rawEmail, rawPassword);
    const passwordHash = await overloadRefused(this.options.passwords.hash(password, hashingTurn));
    const user = await this.options.users.create({ email, passwordHash });
    if (!user) throw conflict("An account with this email already exists");
    return user;
  }

  /** The account with this email (normalised as sign-up stores it), or null; BAD_USER_INPUT for something that is no email. */
  async findUserByEmail(rawEmail: string): Promise<UserRecord | null> {
    const email = normalizeEmail(rawEmail);
    if (!email.ok) throw badUserInput(email.message, "email");
    return this.options.users.findByEmail(email.email);
  }

  async login(rawEmail: string, rawPassword: string, request: AuthRequest): Promise<Authenticated> {
    enforce(await this.options.limits.consumeAuthCall(request.ip));
    const { email, password } = validCredentials(rawEmail, rawPassword);
    enforce(await this.options.limits.consumeLoginAttempt(email, request.ip));
    const user = await this.options.users.findByEmail(email);
    // An unknown email pays for a full argon2 verification too, and gets the same answer.
    const matches = await overloadRefused(
      this.options.passwords.verify(password, user?.passwordHash ?? null, hashingLineKey(request.ip)),
      () => this.options.limits.refundLoginAttempt(email, request.ip),
    );
    if (!user || !matches || user.disabledAt) throw unauthenticated("INVALID_CREDENTIALS");
    await this.options.limits.clearLoginFailures(email, request.ip);
    // Only after the password matched: a wrong one answers the same whether or not the account has TOTP.
    await this.requireSecondFactor(user, PASSWORD_LOGIN);
    const issued = await this.options.sessions.startSession(user.id, request, PASSWORD_LOGIN);
    // disableUser, a password reset or a password change may have run between the read
    // above and this insert. Each changes the row before (or, locking it, while) ending
    // sessions, so one read after the insert sees the change if the ending missed ours.
    const current = await this.findActiveUser(user.id);
    if (!current || current.passwordHash !== user.passwordHash) {
      await this.options.sessions.endSession(issued.session.id, current ? "PASSWORD_CHANGED" : "USER_DISABLED");
      throw unauthenticated("INVALID_CREDENTIALS");
    }
    // The row read after the insert: a role revoked while the password hashed is not minted.
    return this.authenticate(current, issued);
  }

  async refresh(refreshToken: string | null, request: AuthRequest): Promise<Authenticated> {
    enforce(await this.options.limits.consumeAuthCall(request.ip));
    if (!refreshToken) throw unauthenticated("REFRESH_TOKEN_MISSING");
    const outcome = await this.options.sessions.rotateSession(refreshToken);
    if (!outcome.ok) throw unauthenticated(outcome.reason);
    const user = outcome.user ? activeOrNull(outcome.user) : await this.findActiveUser(outcome.session.userId);
    if (!user) {
      await this.options.sessions.endSession(outcome.session.id, "USER_DISABLED");
      throw unauthenticated("REFRESH_TOKEN_INVALID");
    }
    return this.authenticate(user, outcome);
  }

  /**
   * A new session for a user who just proved who they are some other way: a reset
   * link proves the mailbox, which `amr` says ("email"), not a password. Unless
   * `amr` has "mfa", a user with a second factor gets MFA_REQUIRED and a challenge.
   */
  async signIn(userId: string, request: AuthRequest, authentication: Authentication): Promise<Authenticated> {
    const user = await this.findActiveUser(userId);
    if (!user) throw unauthenticated("INVALID_CREDENTIALS");
    if (!authentication.amr.some((method) => SECOND_FACTOR_PROOFS.includes(method)))
      await this.requireSecondFactor(user, authentication);
    return this.authenticate(user, await this.options.sessions.startSession(user.id, request, authentication));
  }

  /**
   * A fresh access token for a live session whose user just proved `methods` again
   * (stepUp): its auth_time becomes now and its amr gains them. The session and its
   * refresh token stay as they are. SESSION_ENDED when it ended meanwhile.
   */
  async reauthenticate(
    userId: string,
    sessionId: string,
    methods: string[],
  ): Promise<Omit<Authenticated, "refreshToken" | "refreshMaxAge">> {
    const user = await this.findActiveUser(userId);
    const session = user ? await this.options.sessions.reauthenticateSession(sessionId, userId, methods) : null;
    if (!user || !session || session.userId !== user.id) throw unauthenticated("SESSION_ENDED");
    return { user, session, ...this.sign(user, session) };
  }

  /** Ends the refresh token's session, or failing that the access token's; false if neither was live. */
  async logout(refreshToken: string | null, accessSessionId: string | null): Promise<boolean> {
    const session = refreshToken ? await this.options.sessions.findSessionByRefreshToken(refreshToken) : null;
    const sessionId = session?.id ?? accessSessionId;
    return sessionId ? this.options.sessions.endSession(sessionId, "LOGOUT") : false;
  }

  logoutAll(userId: string): Promise<number> {
    return this.options.sessions.endUserSessions(userId, "LOGOUT_ALL");
  }

  async revokeSession(userId: string, sessionId: string): Promise<SessionRecord> {
    if (!isUuid(sessionId)) throw badUserInput("Session id must be a UUID", "id");
    const session = await this.options.sessions.findLiveSession(sessionId);
    if (!session || session.userId !== userId) throw forbidden("That is not one of your live sessions");
    await this.options.sessions.endSession(session.id, "REVOKED");
    return session;
  }

  /** The caller of a live session; cached, see user-cache.ts. */
  async currentUser(userId: string): Promise<UserRecord> {
    const user = await this.activeUser(userId);
    if (!user) throw unauthenticated("SESSION_ENDED");
    return user;
  }

  /** The user as they are now, through the cache (no read while it holds them); null when gone or disabled. */
  async activeUser(userId: string): Promise<UserRecord | null> {
    const cached = this.cache.get(userId, this.options.now());
    if (cached) return cached;
    const readSince = this.cache.epoch;
    const user = await this.findActiveUser(userId);
    if (user) this.cache.remember(user, this.options.now(), readSince);
    return user;
  }

  /**
   * Disables the account: no more logins or refreshes, and every session ends, so
   * its access tokens are refused here at once and on other instances within the
   * revocation sync's delay. The flag is set before the sessions are ended, so a
   * login or refresh that reads the user afterwards refuses. False if there was
   * no such active user.
   */
  async disableUser(userId: string): Promise<boolean> {
    if (!isUuid(userId)) return false;
    const disabled = await this.options.users.disable(userId, new Date(this.options.now()));
    this.userChanged(userId);
    await this.options.sessions.endUserSessions(userId, "USER_DISABLED");
    return disabled;
  }

  /** Drops the user's cached row here and tells the other instances; call wherever a user is disabled, deleted or changed. */
  userChanged(userId: string): void {
    this.cache.forget(userId);
    this.options.onUserChanged?.(userId);
  }

  /** Drops the user's cached row in this process only: for a change heard of from another instance. */
  forgetUser(userId: string): void {
    this.cache.forget(userId);
  }

  liveSessions(userId: string): Promise<SessionRecord[]> {
    return this.options.sessions.listLiveSessions(userId);
  }

  private async findActiveUser(userId: string): Promise<UserRecord | null> {
    return activeOrNull(await this.options.users.findById(userId));
  }

  /**
   * The token carries the user's roles as read now (a refresh reads them with the
   * rotation), and the session's auth_time and amr, which a refresh never changes.
   */
  private authenticate(user: UserRecord, issued: IssuedSession): Authenticated {
    return {
      ...issued,
      user,
      ...this.sign(user, issued.session),
      refreshMaxAge: this.options.sessions.remainingSeconds(issued.session),
    };
  }

  private sign(user: UserRecord, session: SessionRecord): { accessToken: string; expiresIn: number } {
    const { token, expiresIn } = signAccessToken(this.options.accessTokens, {
      userId: user.id,
      sessionId: session.id,
      sessionExpiresAt: session.expiresAt,
      grants: grantsOf(this.options.authz, user, {
        amr: session.amr,
        authTime: Math.floor(session.authTime.getTime() / 1000),
      }),
      now: this.options.now(),
    });
    return { accessToken: token, expiresIn };
  }

  private async requireSecondFactor(user: UserRecord, authentication: Authentication): Promise<void> {
    const challenge = await this.options.secondFactor?.challengeFor(user, authentication.amr);
    if (challenge) throw mfaRequired(challenge);
  }
}

const activeOrNull = (user: UserRecord | null): UserRecord | null => (user && !user.disabledAt ? user : null);

/** Saturated hashing answers RATE_LIMITED at once (README: "Overload"); `refund` undoes what was counted for the call. */
export async function overloadRefused<T>(work: Promise<T>, refund?: () => Promise<void>): Promise<T> {
  try {
    return await work;
  } catch (error) {
    if (!(error instanceof HashingOverloaded)) throw error;
    await refund?.();
    throw rateLimited(error.retryAfterSeconds);
  }
}

export function enforce(limit: LimitResult): void {
  if (!limit.ok) throw rateLimited(limit.retryAfterSeconds);
}

function validCredentials(email: unknown, password: unknown): { email: string; password: string } {
  if (typeof email !== "string" || typeof password !== "string") throw badUserInput("Email and password are required");
  const result = normalizeCredentials(email, password);
  if (!result.ok) throw badUserInput(result.message, result.field);
  return result;
}
