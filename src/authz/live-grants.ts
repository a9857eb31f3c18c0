// What the gateway authorizes on: the caller's grants as they stand now, not as
// the access token recorded them when it was minted. The session's facts (how
// and when it authenticated) come from the token, because they cannot change
// for a session; roles, the scopes they grant and email verification are the
// user's and can. The user's row is read through AuthService's user cache, which
// the change feed (shared-state/change-feed.ts) empties of a changed user on every
// instance, so a revoked role or a disabled user counts within the revocation bound.
import type { AccessClaims, CallerGrants } from "../token/access-token";
import type { UserRecord } from "../users/user.store";
import { scopesFor, type AuthzModel } from "./model";
import { isRoleName } from "./names";

export interface LiveGrants {
  /** The caller's grants now; null when the user is gone or disabled (the caller then counts as no caller). */
  current(caller: AccessClaims): Promise<CallerGrants | null>;
}

export interface LiveGrantsOptions {
  /** The user's row as it is now (cached); null when there is no such active user. */
  activeUser(userId: string): Promise<UserRecord | null>;
  authz: AuthzModel;
}

export function createLiveGrants(options: LiveGrantsOptions): LiveGrants {
  return {
    current: async (caller) => {
      const user = await options.activeUser(caller.sub);
      return user && grantsOf(options.authz, user, caller);
    },
  };
}

/** What the user's row grants within a session: its roles and their scopes, and the session's amr and auth_time. */
export function grantsOf(
  model: AuthzModel,
  user: Pick<UserRecord, "roles" | "emailVerifiedAt">,
  session: Pick<CallerGrants, "amr" | "authTime">,
): CallerGrants {
  // A role stored some other way than RoleService (SQL by hand) and not a role name is left out.
  const roles = user.roles.filter(isRoleName);
  return {
    roles,
    scopes: scopesFor(model, roles),
    emailVerified: user.emailVerifiedAt !== null,
    amr: session.amr,
    authTime: session.authTime,
  };
}
