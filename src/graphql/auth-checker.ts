// One authChecker for every @Authorized() field, and the @CurrentUser() parameter.
import { createParameterDecorator, type AuthChecker } from "type-graphql";
import type { GraphQLContext } from "./context";
import { unauthenticated } from "../errors";
import type { AccessClaims } from "../token/access-token";

export const authChecker: AuthChecker<GraphQLContext> = ({ context }) => {
  if (context.caller) return true;
  throw unauthenticated(context.refusal ?? "TOKEN_MISSING");
};

/** The verified claims of the caller; only valid under @Authorized(). */
export function CurrentUser() {
  return createParameterDecorator<GraphQLContext>(({ context }): AccessClaims => {
    if (!context.caller) throw unauthenticated(context.refusal ?? "TOKEN_MISSING");
    return context.caller;
  });
}
