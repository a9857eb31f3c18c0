// Thin resolvers: arguments in, AuthService out, refresh token onto the wire.
import { Arg, Authorized, Ctx, ID, Int, Mutation, Query, Resolver } from "type-graphql";
import { outcomeOf, type AuthCall, type AuthEvents } from "../auth/auth-events";
import type { AuthService, Authenticated } from "../auth/auth.service";
import { clearRefreshToken, sendRefreshToken, type RefreshCookieOptions } from "../http/cookies";
import type { AccessClaims } from "../token/access-token";
import { CurrentUser } from "./auth-checker";
import type { GraphQLContext } from "./context";
import { AuthPayload, LoginInput, Session, SignUpInput, User } from "./types";

/** What the auth resolvers are built with (schema.ts hands them over). */
export interface AuthResolverDeps {
  auth: AuthService;
  events: AuthEvents;
  cookie: RefreshCookieOptions;
}

@Resolver()
export class AuthResolver {
  constructor(private readonly deps: AuthResolverDeps) {}

  @Authorized()
  @Query(() => User, { description: "The caller." })
  me(@CurrentUser() caller: AccessClaims): Promise<User> {
    return this.deps.auth.currentUser(caller.sub);
  }

  @Authorized()
  @Query(() => [Session], { description: "The caller's live sessions, newest first." })
  async sessions(@CurrentUser() caller: AccessClaims): Promise<Session[]> {
    const sessions = await this.deps.auth.liveSessions(caller.sub);
    return sessions.map((session) => ({ ...session, current: session.id === caller.sid }));
  }

  @Mutation(() => AuthPayload)
  async signUp(
    @Arg("input", () => SignUpInput) input: SignUpInput,
    @Ctx() context: GraphQLContext,
  ): Promise<AuthPayload> {
    return this.deliver(
      context,
      await this.observe(context, "signUp", this.deps.auth.signUp(input.email, input.password, context.client)),
    );
  }

  @Mutation(() => AuthPayload)
  async login(@Arg("input", () => LoginInput) input: LoginInput, @Ctx() context: GraphQLContext): Promise<AuthPayload> {
    return this.deliver(
      context,
      await this.observe(context, "login", this.deps.auth.login(input.email, input.password, context.client)),
    );
  }

  @Mutation(() => AuthPayload, { description: "Reads the refresh cookie (or x-refresh-token) and rotates it." })
  async refreshToken(@Ctx() context: GraphQLContext): Promise<AuthPayload> {
    try {
      return this.deliver(
        context,
        await this.observe(context, "refreshToken", this.deps.auth.refresh(context.refreshToken, context.client)),
      );
    } catch (error) {
      // A dead cookie is useless to the browser; drop it so the client stops sending it.
      if (context.refreshToken && context.refreshTransport === "cookie" && isRefreshRefusal(error))
        clearRefreshToken(context.reply, this.deps.cookie);
      throw error;
    }
  }

  @Mutation(() => Boolean, {
    description: "Ends the session of the refresh cookie (or, failing that, of the access token).",
  })
  async logout(@Ctx() context: GraphQLContext): Promise<boolean> {
    const ended = await this.observe(
      context,
      "logout",
      this.deps.auth.logout(context.refreshToken, context.caller?.sid ?? null),
    );
    clearRefreshToken(context.reply, this.deps.cookie);
    return ended;
  }

  @Authorized()
  @Mutation(() => Int, { description: "Ends every session of the caller; returns how many." })
  async logoutAll(@CurrentUser() caller: AccessClaims, @Ctx() context: GraphQLContext): Promise<number> {
    const count = await this.observe(context, "logoutAll", this.deps.auth.logoutAll(caller.sub));
    clearRefreshToken(context.reply, this.deps.cookie);
    return count;
  }

  @Authorized()
  @Mutation(() => Boolean, { description: "Ends one of the caller's sessions." })
  async revokeSession(
    @Arg("id", () => ID) id: string,
    @CurrentUser() caller: AccessClaims,
    @Ctx() context: GraphQLContext,
  ): Promise<boolean> {
    const revoked = await this.observe(context, "revokeSession", this.deps.auth.revokeSession(caller.sub, id));
    if (revoked.id === caller.sid) clearRefreshToken(context.reply, this.deps.cookie);
    return true;
  }

  private observe<T>(context: GraphQLContext, call: AuthCall, work: Promise<T>): Promise<T> {
    return observeCall(this.deps.events, context, call, work);
  }

  private deliver(context: GraphQLContext, authenticated: Authenticated): AuthPayload {
    return deliverSession(this.deps.cookie, context, authenticated);
  }
}

/** Reports the call's outcome as a security event (audit log, metrics) and passes its result or error on. */
export async function observeCall<T>(
  events: AuthEvents,
  context: GraphQLContext,
  call: AuthCall,
  work: Promise<T>,
): Promise<T> {
  const base = {
    type: "auth.call" as const,
    call,
    ip: context.client.ip,
    userId: context.caller?.sub,
    sessionId: context.caller?.sid,
  };
  try {
    const result = await work;
    const issued = result as Partial<Authenticated>;
    events.emit({
      ...base,
      outcome: "success",
      ...(issued?.session ? { userId: issued.session.userId, sessionId: issued.session.id } : {}),
    });
    return result;
  } catch (error) {
    events.emit({ ...base, outcome: outcomeOf(error) });
    throw error;
  }
}

/** The payload of a new or rotated session, its refresh token sent the way the client sends it back. */
export function deliverSession(
  cookie: RefreshCookieOptions,
  context: GraphQLContext,
  authenticated: Authenticated,
): AuthPayload {
  sendRefreshToken(
    context.reply,
    cookie,
    context.refreshTransport,
    authenticated.refreshToken,
    authenticated.refreshMaxAge,
  );
  return {
    accessToken: authenticated.accessToken,
    tokenType: "Bearer",
    expiresIn: authenticated.expiresIn,
    user: authenticated.user,
  };
}

const isRefreshRefusal = (error: unknown): boolean => {
  const reason = (error as { extensions?: { reason?: unknown } }).extensions?.reason;
  return reason === "REFRESH_TOKEN_INVALID" || reason === "REFRESH_TOKEN_REUSED";
};
