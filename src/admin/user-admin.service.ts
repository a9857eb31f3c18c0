// What an admin does to other people's accounts: list them, grant and revoke
// roles, disable them. Input is checked here, each action is reported as a
// security event (audit log, metrics) with who did it, and nothing returned
// carries a password hash. The admin API calls it with the admin's user id as
// actor; the CLI with "cli".
import type { AuthEvents } from "../auth/auth-events";
import type { AuthService } from "../auth/auth.service";
import { normalizeEmail } from "../auth/credentials";
import type { RoleService } from "../authz/role.service";
import { badUserInput } from "../errors";
import { isUuid } from "../ids";
import { MAX_USERS_PER_PAGE, type UserRecord, type UserStore, type UserSummary } from "../users/user.store";

export interface UserAdminServiceOptions {
  users: UserStore;
  auth: AuthService;
  roles: RoleService;
  events: AuthEvents;
}

export interface ListUsersInput {
  /** Compared after the normalisation sign-up applies (trimmed, NFKC, lower-cased). */
  email?: string | null;
  /** 1 to MAX_USERS_PER_PAGE; null (sent explicitly) is refused like any other number outside that. */
  first: number | null;
  /** The id of the last user of the previous page. */
  after?: string | null;
}

export class UserAdminService {
  constructor(private readonly options: UserAdminServiceOptions) {}

  async listUsers(input: ListUsersInput, actor: string): Promise<UserSummary[]> {
    const { first } = input;
    if (first === null || !Number.isInteger(first) || first < 1 || first > MAX_USERS_PER_PAGE)
      throw badUserInput(`first must be 1 to ${MAX_USERS_PER_PAGE}`, "first");
    const after = input.after ?? undefined;
    if (after !== undefined && !isUuid(after)) throw badUserInput("after must be a user id (a UUID)", "after");
    let email: string | undefined;
    if (input.email !== undefined && input.email !== null) {
      const normalized = normalizeEmail(input.email);
      if (!normalized.ok) throw badUserInput(normalized.message, "email");
      email = normalized.email;
    }
    const users = await this.options.users.list({ first, after, email });
    this.options.events.emit({
      type: "users.listed",
      actor,
      filter: { byEmail: email !== undefined, first, after: after ?? null },
      count: users.length,
      userIds: users.map((user) => user.id),
    });
    return users;
  }

  async grantRole(userId: string, role: string, actor: string): Promise<UserSummary> {
    const change = await this.options.roles.grantRole(userId, role, actor);
    if (!change) throw unknownUser(userId);
    return summaryOf(change.user);
  }

  async revokeRole(userId: string, role: string, actor: string): Promise<UserSummary> {
    const change = await this.options.roles.revokeRole(userId, role, actor);
    if (!change) throw unknownUser(userId);
    return summaryOf(change.user);
  }

  /**
   * Disables the account and ends its sessions (AuthService.disableUser). Idempotent:
   * an account disabled before is answered as it is (`changed` false), its sessions
   * ended again. An
   * actor may not disable themselves, so the last admin cannot lock everyone out by
   * a slip; an operator still can, from the CLI.
   */
  async disableUser(rawUserId: string, actor: string): Promise<{ user: UserSummary; changed: boolean }> {
    if (!isUuid(rawUserId)) throw badUserInput("User id must be a UUID", "userId");
    // UUIDs match in any case in the database; compared and audited in one canonical form.
    const userId = rawUserId.toLowerCase();
    if (userId === actor.toLowerCase())
      throw badUserInput(
        "You cannot disable your own account here; an operator can, with `npx keyway user:disable <email>`",
        "userId",
      );
    const { users, auth, events } = this.options;
    if (!(await users.findById(userId))) throw unknownUser(userId);
    const changed = await auth.disableUser(userId);
    events.emit({ type: "user.disabled", userId, actor, changed });
    const user = await users.findById(userId);
    if (!user) throw unknownUser(userId); // deleted in the meantime
    return { user: summaryOf(user), changed };
  }
}

/** The contract has no NOT_FOUND: an id that names no account is bad input. */
const unknownUser = (userId: string) => badUserInput(`No user has the id ${userId}`, "userId");

function summaryOf(user: UserRecord): UserSummary {
  const { passwordHash: _passwordHash, ...summary } = user;
  return summary;
}
