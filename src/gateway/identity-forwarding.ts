// What each subgraph request carries: an identity token for that subgraph and
// that request alone, or nothing for an anonymous caller. The client's own
// headers never go along (remote-executor.ts sends only what this returns).
//
// Who is decided before anything is sent, from a caller who passed the
// revocation check on this very request: an ended session's requests never get
// here, so nothing is minted for it after logout, and a refused token stops the
// request instead of reaching the subgraph as anonymous. What the identity says
// the caller may do is their grants now (context.grants(), live-grants.ts), not
// the access token's copy: a role revoked is gone from what subgraphs see within
// the revocation bound, and a user disabled or gone gets no identity at all. The
// token itself is minted once the body is final, with a fresh jti and the body's
// hash, so the subgraph helper accepts it for that body, once: a captured header
// is useless for any other request. That costs one ECDSA signature per subgraph
// request (docs/benchmarks.md).
import type { GraphQLContext } from "../graphql/context";
import { unauthenticated } from "../errors";
import { IDENTITY_HEADER, signIdentityToken, type IdentityTokenOptions } from "../token/identity-token";
import type { HeadersFor } from "./remote-executor";

export interface IdentityForwardingOptions extends IdentityTokenOptions {
  now(): number;
}

const ANONYMOUS = () => ({});

export function createIdentityForwarding(options: IdentityForwardingOptions): HeadersFor {
  return async (subgraph: string, context: GraphQLContext) => {
    const caller = context.caller;
    if (caller) {
      // Read once per request however many subgraphs it reaches.
      const grants = await context.grants();
      if (!grants) throw unauthenticated("SESSION_ENDED");
      const current = { ...caller, ...grants };
      return (body: string) => ({
        [IDENTITY_HEADER]: signIdentityToken(options, current, subgraph, options.now(), body),
      });
    }
    if (context.refusal && context.refusal !== "TOKEN_MISSING") throw unauthenticated(context.refusal);
    return ANONYMOUS;
  };
}
