// Thin resolvers: arguments in, AuthService out, refresh token onto the wire.
import { Arg, Authorized, Ctx, ID, Int, Mutation, Query, Resolver } from "type-graphql";
import { outcomeOf, type AuthCall } from "../auth/auth-events";
import type { Authenticated } from "../auth/auth.service";
import type { GraphQLContext } from "../auth/context";
import { clearRefreshToken, sendRefreshToken } from "../http/cookies";
import type { AccessClaims } from "../token/access-token";
import { CurrentUser } from "./auth-checker";
import { AuthPayload, LoginInput, Session, SignUpInput, User } from "./types";

@Resolver()
export class AuthResolver {
  @Authorized()
  @Query(() => User, { description: "The caller." })
  me(@CurrentUser() caller: AccessClaims, @Ctx() context: GraphQLContext): Promise<User> {
    return context.auth.currentUser(caller.sub);
  }

  @Authorized()
  @Query(() => [Session], { description: "The caller's live sessions, newest first." })
  async sessions(@CurrentUser() caller: AccessClaims, @Ctx() context: GraphQLContext): Promise<Session[]> {
    const sessions = await context.auth.liveSessions(caller.sub);
    return sessions.map((session) => ({ ...session, current: session.id === caller.sid }));
  }

  @Mutation(() => AuthPayload)
  async signUp(@Arg("input", () => SignUpInput) input: SignUpInput, @Ctx() context: GraphQLContext): Promise<AuthPayload> {
    return deliver(context, await observe(context, "signUp", context.auth.signUp(input.email, input.password, context.client)));
  }

  @Mutation(() => AuthPayload)
  async login(@Arg("input", () => LoginInput) input: LoginInput, @Ctx() context: GraphQLContext): Promise<AuthPayload> {
    return deliver(context, await observe(context, "login", context.auth.login(input.email, input.password, context.client)));
  }

  @Mutation(() => AuthPayload, { description: "Reads the refresh cookie (or x-refresh-token) and rotates it." })
  async refreshToken(@Ctx() context: GraphQLContext): Promise<AuthPayload> {
    try {
      return deliver(context, await observe(context, "refreshToken", context.auth.refresh(context.refreshToken, context.client)));
    } catch (error) {
      // A dead cookie is useless to the browser; drop it so the client stops sending it.
      if (context.refreshToken && context.refreshTransport === "cookie" && isRefreshRefusal(error)) clearRefreshToken(context.reply, context.cookie);
      throw error;
    }
  }

  @Mutation(() => Boolean, { description: "Ends the session of the refresh cookie (or, failing that, of the access token)." })
  async logout(@Ctx() context: GraphQLContext): Promise<boolean> {
    const ended = await observe(context, "logout", context.auth.logout(context.refreshToken, context.caller?.sid ?? null));
    clearRefreshToken(context.reply, context.cookie);
    return ended;
  }

  @Authorized()
  @Mutation(() => Int, { description: "Ends every session of the caller; returns how many." })
  async logoutAll(@CurrentUser() caller: AccessClaims, @Ctx() context: GraphQLContext): Promise<number> {
    const count = await observe(context, "logoutAll", context.auth.logoutAll(caller.sub));
    clearRefreshToken(context.reply, context.cookie);
    return count;
  }

  @Authorized()
  @Mutation(() => Boolean, { description: "Ends one of the caller's sessions." })
  async revokeSession(@Arg("id", () => ID) id: string, @CurrentUser() caller: AccessClaims, @Ctx() context: GraphQLContext): Promise<boolean> {
    const revoked = await observe(context, "revokeSession", context.auth.revokeSession(caller.sub, id));
    if (revoked.id === caller.sid) clearRefreshToken(context.reply, context.cookie);
    return true;
  }
}

/** Reports the call's outcome as a security event (audit log, metrics) and passes its result or error on. */
async function observe<T>(context: GraphQLContext, call: AuthCall, work: Promise<T>): Promise<T> {
  const base = { type: "auth.call" as const, call, ip: context.client.ip, userId: context.caller?.sub, sessionId: context.caller?.sid };
  try {
    const result = await work;
    const issued = result as Partial<Authenticated>;
    context.events.emit({ ...base, outcome: "success", ...(issued?.session ? { userId: issued.session.userId, sessionId: issued.session.id } : {}) });
    return result;
  } catch (error) {
    context.events.emit({ ...base, outcome: outcomeOf(error) });
    throw error;
  }
}

function deliver(context: GraphQLContext, authenticated: Authenticated): AuthPayload {
  sendRefreshToken(context.reply, context.cookie, context.refreshTransport, authenticated.refreshToken, authenticated.refreshMaxAge);
  return { accessToken: authenticated.accessToken, tokenType: "Bearer", expiresIn: authenticated.expiresIn, user: authenticated.user };
}

const isRefreshRefusal = (error: unknown): boolean => {
  const reason = (error as { extensions?: { reason?: unknown } }).extensions?.reason;
  return reason === "REFRESH_TOKEN_INVALID" || reason === "REFRESH_TOKEN_REUSED";
};
