// What each subgraph request carries: an identity token for that subgraph
// alone, or nothing for an anonymous caller. The client's own headers never go
// along (remote-executor.ts sends only what this returns).
//
// Signing costs an ECDSA operation, so one identity per (session, subgraph) is
// reused until REUSE_MARGIN_SECONDS before it expires. That is safe because the
// hook runs only for a caller who passed the revocation check on this very
// request: an ended session's requests never get here, so its identity is never
// sent again, and a subgraph already accepts any identity for its whole life.
import type { GraphQLContext } from "../auth/context";
import { unauthenticated } from "../errors";
import type { AccessClaims } from "../token/access-token";
import { IDENTITY_HEADER, identityExpiry, signIdentityToken, type IdentityTokenOptions } from "../token/identity-token";
import type { HeadersFor } from "./remote-executor";

export interface IdentityForwardingOptions extends IdentityTokenOptions {
  now(): number;
}

/** A reused identity keeps at least this long to live when it is sent. */
const REUSE_MARGIN_SECONDS = 5;
/** Live (session, subgraph) pairs remembered; the oldest are dropped beyond it. */
const MAX_REUSED_IDENTITIES = 10_000;

interface Minted {
  token: string;
  exp: number;
}

export function createIdentityForwarding(options: IdentityForwardingOptions): HeadersFor {
  const minted = new Map<string, Minted>();
  const identityFor = (caller: AccessClaims, subgraph: string): string => {
    const now = options.now();
    const key = `${caller.sid}\u0000${caller.sub}\u0000${subgraph}`;
    const reusable = minted.get(key);
    // Never longer than the access token presented now: an older token of the session may expire sooner.
    if (reusable && reusable.exp - REUSE_MARGIN_SECONDS > now / 1000 && reusable.exp <= caller.exp) return reusable.token;
    const token = signIdentityToken(options, caller, subgraph, now);
    minted.delete(key);
    minted.set(key, { token, exp: identityExpiry(caller, now) });
    if (minted.size > MAX_REUSED_IDENTITIES) minted.delete(minted.keys().next().value as string);
    return token;
  };
  return (subgraph: string, context: GraphQLContext): Record<string, string> => {
    if (context.caller) return { [IDENTITY_HEADER]: identityFor(context.caller, subgraph) };
    // A token was presented and refused (invalid, expired, or its session ended):
    // stop here rather than let the subgraph treat the caller as anonymous.
    if (context.refusal && context.refusal !== "TOKEN_MISSING") throw unauthenticated(context.refusal);
    return {};
  };
}
