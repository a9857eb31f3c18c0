// What each subgraph request carries: a fresh identity token minted for that
// subgraph alone, or nothing for an anonymous caller. The client's own headers
// never go along (remote-executor.ts sends only what this returns).
import type { GraphQLContext } from "../auth/context";
import { unauthenticated } from "../errors";
import { IDENTITY_HEADER, signIdentityToken, type IdentityTokenOptions } from "../token/identity-token";
import type { HeadersFor } from "./remote-executor";

export interface IdentityForwardingOptions extends IdentityTokenOptions {
  now(): number;
}

export function createIdentityForwarding(options: IdentityForwardingOptions): HeadersFor {
  return (subgraph: string, context: GraphQLContext): Record<string, string> => {
    if (context.caller) return { [IDENTITY_HEADER]: signIdentityToken(options, context.caller, subgraph, options.now()) };
    // A token was presented and refused (invalid, expired, or its session ended):
    // stop here rather than let the subgraph treat the caller as anonymous.
    if (context.refusal && context.refusal !== "TOKEN_MISSING") throw unauthenticated(context.refusal);
    return {};
  };
}
