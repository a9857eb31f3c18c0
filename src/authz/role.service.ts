// Granting and revoking roles: validated, applied atomically by the store, and
// reported as security events (audit log, metrics) with who did it. The CLI uses
// it today; an admin API would call the same methods with the admin as actor.
import type { AuthEvents } from "../auth/auth-events";
import { badUserInput } from "../errors";
import { isUuid } from "../ids";
import type { RoleChange, UserStore } from "../users/user.store";
import { isRoleName, MAX_ROLES_PER_USER, ROLE_NAME_RULE } from "./names";

export interface RoleServiceOptions {
  users: UserStore;
  events: AuthEvents;
  now(): number;
  /** Told about each user whose roles changed, so caches of the user drop it. */
  onUserChanged(userId: string): void;
}

export type RoleChangeKind = "granted" | "revoked";

export class RoleService {
  constructor(private readonly options: RoleServiceOptions) {}

  /** The user after the grant (`changed` false if they had the role), or null for an unknown user. */
  grantRole(userId: string, role: string, actor: string): Promise<RoleChange | null> {
    return this.change("granted", userId, role, actor);
  }

  /** The user after the revocation (`changed` false if they lacked the role), or null for an unknown user. */
  revokeRole(userId: string, role: string, actor: string): Promise<RoleChange | null> {
    return this.change("revoked", userId, role, actor);
  }

  private async change(kind: RoleChangeKind, userId: string, role: string, actor: string) {
    if (!isRoleName(role)) throw badUserInput(`${JSON.stringify(role)} is not a role name: ${ROLE_NAME_RULE}`, "role");
    if (!isUuid(userId)) throw badUserInput("User id must be a UUID", "userId");
    const at = new Date(this.options.now());
    const { users } = this.options;
    const result = await (kind === "granted" ? users.grantRole(userId, role, at) : users.revokeRole(userId, role, at));
    if (!result) return null;
    if (kind === "granted" && !result.user.roles.includes(role))
      throw badUserInput(`A user holds at most ${MAX_ROLES_PER_USER} roles; revoke one first`, "role");
    if (result.changed) this.options.onUserChanged(userId);
    this.options.events.emit({ type: "role.changed", change: kind, userId, role, actor, changed: result.changed });
    return result;
  }
}
