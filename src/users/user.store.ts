// What account handling needs from storage. Records are keyway's own types:
// nothing outside src/db and the *.prisma-store.ts files sees Prisma's.
export interface UserRecord {
  id: string;
  /** Trimmed and lower-cased (credentials.ts), so the unique index is case-insensitive. */
  email: string;
  passwordHash: string;
  /** Set when an operator disabled the account. */
  disabledAt: Date | null;
  /** Role names (src/authz/roles.ts), in the order they were granted. */
  roles: string[];
  /** When the user proved they own `email`; null until then. */
  emailVerifiedAt: Date | null;
  createdAt: Date;
  updatedAt: Date;
}

/** A user as an admin sees it: everything but the password hash, which never leaves the store on this path. */
export type UserSummary = Omit<UserRecord, "passwordHash">;

export interface UserListOptions {
  /** At most this many, 1 to MAX_USERS_PER_PAGE. */
  first: number;
  /** Only users whose id sorts after this one (the last id of the previous page). */
  after?: string;
  /** Only the user with exactly this (already normalised) email. */
  email?: string;
}

/** The largest page `list` is asked for. */
export const MAX_USERS_PER_PAGE = 100;

export interface NewUser {
  email: string;
  passwordHash: string;
}

export interface UserStore {
  /** The new user, or null when the email is taken (the unique index decides, so concurrent sign-ups cannot both win). */
  create(user: NewUser): Promise<UserRecord | null>;
  findById(id: string): Promise<UserRecord | null>;
  findByEmail(email: string): Promise<UserRecord | null>;
  /** Users in id order, a page at a time (keyset pagination: a page never shifts when users are added before it). */
  list(options: UserListOptions): Promise<UserSummary[]>;
  /** Marks the user disabled at `at`; true if this call disabled an active user. */
  disable(id: string, at: Date): Promise<boolean>;
  /**
   * Adds the role if the user lacks it, in one statement: concurrent grants of
   * different roles all stay. `changed` is false when the user had it already, or
   * holds MAX_ROLES_PER_USER roles (the role is then absent from the result); null
   * for an unknown user.
   */
  grantRole(id: string, role: string, at: Date): Promise<RoleChange | null>;
  /** Removes the role if the user has it, in one statement; as grantRole. */
  revokeRole(id: string, role: string, at: Date): Promise<RoleChange | null>;
  /**
   * Users whose roles, disabledAt or emailVerifiedAt were changed by transactions
   * from `horizon` on (however they were changed, SQL by hand included), and where
   * the next poll goes on from.
   */
  listChangedFrom(horizon: bigint): Promise<ChangedUsers>;
  /** The same by the database's clock, changed at or after `since`: for when transaction ids went backwards. */
  listChangedSince(since: Date): Promise<ChangedUsers>;
}

export interface ChangedUsers {
  ids: string[];
  /**
   * The oldest transaction still running when these were read: every change by a
   * transaction that had not committed by then is stamped at least this.
   */
  horizon: bigint;
}

export interface RoleChange {
  /** As it is after the change. */
  user: UserRecord;
  changed: boolean;
}
