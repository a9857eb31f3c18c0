// The auth flows the GraphQL operations stand on. Each refusal is a coded error;
// transport (cookies, headers) is the resolvers' and http/cookies.ts's business.
import type { PrismaClient, User } from "../generated/prisma/client";
import { isUuid } from "../ids";
import { badUserInput, conflict, forbidden, rateLimited, unauthenticated } from "../errors";
import type { ClientMeta, IssuedSession, SessionService } from "../session/session.service";
import type { SessionRecord } from "../session/session.store";
import { signAccessToken, type AccessTokenOptions } from "../token/access-token";
import { normalizeCredentials } from "./credentials";
import { hashPassword, type PasswordVerifier } from "./password";
import type { AuthRateLimits, LimitResult } from "./rate-limits";

export interface AuthServiceOptions {
  prisma: PrismaClient;
  sessions: SessionService;
  passwords: PasswordVerifier;
  limits: AuthRateLimits;
  accessTokens: AccessTokenOptions;
  allowSignup: boolean;
  now(): number;
}

export interface Authenticated extends IssuedSession {
  user: User;
  accessToken: string;
  expiresIn: number;
  /** Seconds until the session's absolute expiry: the refresh cookie's Max-Age. */
  refreshMaxAge: number;
}

export interface AuthRequest extends ClientMeta {
  /** Where throttling counts the caller; the socket address unless TRUST_PROXY says otherwise. */
  ip: string;
}

export class AuthService {
  constructor(private readonly options: AuthServiceOptions) {}

  async signUp(rawEmail: string, rawPassword: string, request: AuthRequest): Promise<Authenticated> {
    enforce(await this.options.limits.consumeAuthCall(request.ip));
    if (!this.options.allowSignup) throw forbidden("Sign-up is closed");
    const { email, password } = validCredentials(rawEmail, rawPassword);
    const passwordHash = await hashPassword(password);
    let user: User;
    try {
      user = await this.options.prisma.user.create({ data: { email, passwordHash } });
    } catch (error) {
      if ((error as { code?: string }).code === "P2002") throw conflict("An account with this email already exists");
      throw error;
    }
    return this.authenticate(user, await this.options.sessions.startSession(user.id, request));
  }

  async login(rawEmail: string, rawPassword: string, request: AuthRequest): Promise<Authenticated> {
    enforce(await this.options.limits.consumeAuthCall(request.ip));
    const { email, password } = validCredentials(rawEmail, rawPassword);
    enforce(await this.options.limits.consumeLoginAttempt(email, request.ip));
    const user = await this.options.prisma.user.findUnique({ where: { email } });
    // An unknown email pays for a full argon2 verification too, and gets the same answer.
    const matches = await this.options.passwords.verifyPassword(password, user?.passwordHash ?? null);
    if (!user || !matches || user.disabledAt) throw unauthenticated("INVALID_CREDENTIALS");
    await this.options.limits.clearLoginFailures(email, request.ip);
    return this.authenticate(user, await this.options.sessions.startSession(user.id, request));
  }

  async refresh(refreshToken: string | null, request: AuthRequest): Promise<Authenticated> {
    enforce(await this.options.limits.consumeAuthCall(request.ip));
    if (!refreshToken) throw unauthenticated("REFRESH_TOKEN_MISSING");
    const outcome = await this.options.sessions.rotateSession(refreshToken);
    if (!outcome.ok) throw unauthenticated(outcome.reason);
    const user = await this.findActiveUser(outcome.session.userId);
    if (!user) {
      await this.options.sessions.endSession(outcome.session.id, "USER_DISABLED");
      throw unauthenticated("REFRESH_TOKEN_INVALID");
    }
    return this.authenticate(user, outcome);
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

  async currentUser(userId: string): Promise<User> {
    const user = await this.findActiveUser(userId);
    if (!user) throw unauthenticated("SESSION_ENDED");
    return user;
  }

  liveSessions(userId: string): Promise<SessionRecord[]> {
    return this.options.sessions.listLiveSessions(userId);
  }

  private async findActiveUser(userId: string): Promise<User | null> {
    const user = await this.options.prisma.user.findUnique({ where: { id: userId } });
    return user && !user.disabledAt ? user : null;
  }

  private authenticate(user: User, issued: IssuedSession): Authenticated {
    const { token, expiresIn } = signAccessToken(this.options.accessTokens, {
      userId: user.id,
      sessionId: issued.session.id,
      sessionExpiresAt: issued.session.expiresAt,
      now: this.options.now(),
    });
    return { ...issued, user, accessToken: token, expiresIn, refreshMaxAge: this.options.sessions.remainingSeconds(issued.session) };
  }
}

function enforce(limit: LimitResult): void {
  if (!limit.ok) throw rateLimited(limit.retryAfterSeconds);
}

function validCredentials(email: unknown, password: unknown): { email: string; password: string } {
  if (typeof email !== "string" || typeof password !== "string") throw badUserInput("Email and password are required");
  const result = normalizeCredentials(email, password);
  if (!result.ok) throw badUserInput(result.message, result.field);
  return result;
}
