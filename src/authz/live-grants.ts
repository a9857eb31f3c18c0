// What the gateway authorizes on: the caller's grants as they stand now, not as
// the access token recorded them when it was minted. The session's facts (how
// and when it authenticated) come from the token, because they cannot change
// for a session; roles, the scopes they grant and email verification are the
// user's and can.
import type { AccessClaims, CallerGrants } from "../token/access-token";

export interface LiveGrants {
  /** The caller's grants now; null when the user is gone or disabled (the caller then counts as no caller). */
  current(caller: AccessClaims): Promise<CallerGrants | null>;
}

/** Grants read from the token alone: what a verifier without keyway's state (a subgraph) sees. */
export const grantsFromToken: LiveGrants = {
  current: async (caller) => ({
    roles: caller.roles,
    scopes: caller.scopes,
    emailVerified: caller.emailVerified,
    amr: caller.amr,
    authTime: caller.authTime,
  }),
};
