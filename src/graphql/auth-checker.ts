// One authChecker for every @Authorized() field, and the @CurrentUser() parameter.
import { createParameterDecorator, type AuthCheckerFn } from "type-graphql";
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
