// One authChecker for every @Authorized() field, the @CurrentUser() parameter, and
// the resolver-side check of the scopes a field's @requiresScopes demands.
import { createParameterDecorator, type AuthCheckerFn, type MiddlewareFn } from "type-graphql";
import type { GraphQLContext } from "./context";
import { forbidden, unauthenticated } from "../errors";
import type { AccessClaims } from "../token/access-token";

export const authChecker: AuthCheckerFn<GraphQLContext> = ({ context }, roles) => {
  if (!context.caller) throw unauthenticated(context.refusal ?? "TOKEN_MISSING");
  // @Authorized("role", …): any one of them, from the verified token.
  if (roles.length > 0 && !roles.some((role) => context.caller!.roles.includes(role))) throw forbidden();
  return true;
};

/** The verified claims of the caller; only valid under @Authorized(). */
export function CurrentUser() {
  return createParameterDecorator<GraphQLContext>(({ context }): AccessClaims => {
    if (!context.caller) throw unauthenticated(context.refusal ?? "TOKEN_MISSING");
    return context.caller;
  });
}

/**
 * Refuses a caller whose current grants (context.grants(), not the token's) lack any
 * of `scopes`. The gateway's directive engine already keeps such a field from being
 * executed; this is defence in depth for the day it does not (a schema served some
 * other way, a bug), so the resolver never relies on a layer it cannot see.
 */
export function requireScopes(...scopes: string[]): MiddlewareFn<GraphQLContext> {
  return async ({ context }, next) => {
    if (!context.caller) throw unauthenticated(context.refusal ?? "TOKEN_MISSING");
    // Null: the user is gone or disabled since the token was issued, which counts as no caller.
    const grants = await context.grants();
    if (!grants) throw unauthenticated("SESSION_ENDED");
    const missing = scopes.filter((scope) => !grants.scopes.includes(scope));
    if (missing.length > 0) throw forbidden(`This needs the scope ${missing.join(" and ")}`, "MISSING_SCOPES");
    return (await next()) as unknown;
  };
}
