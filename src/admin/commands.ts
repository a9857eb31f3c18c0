// What `keyway <command>` does, over the same services the server uses, so an
// operator's action is audited, counted and propagated (revocations reach every
// running instance) exactly as a user's would be.
import type { Config } from "../config";
import type { Database } from "../db/client";
import { migrateDatabase, readMigrationStatus, type MigrationStatus } from "../db/migrate";
import { isRoleName, ROLE_NAME_RULE } from "../authz/names";
import { KeywayError } from "../errors";
import { isUuid } from "../ids";
import type { Keyway } from "../keyway";
import type { Logger } from "../logger";
import { rotateSigningKey, type Rotation } from "../token/key-rotation";

export interface AdminContext {
  config: Config;
  logger: Logger;
  now: () => number;
  /** Opened for every command but db:migrate and db:status, which must work on a database keyway cannot serve yet. */
  keyway?: Keyway;
  /** For db:migrate and db:status. */
  database?: Database;
}

/** A refusal the operator can act on: printed as one line, exit code 1. */
export class AdminError extends Error {
  override name = "AdminError";
}

export async function createUser(context: AdminContext, rawEmail: string, rawPassword: string) {
  const user = await asAdminError(keyway(context).services.auth.createUser(rawEmail, rawPassword, "cli"));
  audit(context, "user.created", { userId: user.id });
  return { id: user.id, email: user.email, createdAt: user.createdAt };
}

/** Disables the account and ends every session it has; their access tokens are refused from now on. */
export async function disableUser(context: AdminContext, rawEmail: string) {
  const user = await findUser(context, rawEmail);
  const { services } = keyway(context);
  const sessionsEnded = (await services.sessions.listLiveSessions(user.id)).length;
  // Also when it was disabled before: ending its sessions again is harmless and makes sure.
  // The audit line (user.disabled, actor "cli") comes from the service, as the admin API's does.
  const { changed: newlyDisabled } = await asAdminError(services.admin.disableUser(user.id, "cli"));
  return { id: user.id, email: user.email, newlyDisabled, sessionsEnded };
}

/**
 * Grants or revokes a role. Idempotent: granting a role the user has (or revoking
 * one they lack) succeeds with `changed: false`. The audit line (role.granted,
 * role.revoked) comes from the role service, with actor "cli".
 */
export async function changeRole(context: AdminContext, change: "grant" | "revoke", rawEmail: string, role: string) {
  if (!isRoleName(role)) throw new AdminError(`${JSON.stringify(role)} is not a role name: ${ROLE_NAME_RULE}`);
  const user = await findUser(context, rawEmail);
  const { roles } = keyway(context).services;
  const result = await asAdminError(
    change === "grant" ? roles.grantRole(user.id, role, "cli") : roles.revokeRole(user.id, role, "cli"),
  );
  if (!result) throw new AdminError(`no account with the email ${user.email}`);
  return { id: user.id, email: user.email, role, changed: result.changed, roles: result.user.roles };
}

/**
 * A password reset link for an operator to hand to a user who cannot receive mail:
 * it ends the user's earlier reset links and is mailed to nobody. Audited.
 */
export async function resetLink(context: AdminContext, rawEmail: string) {
  const user = await findUser(context, rawEmail);
  const link = await asAdminError(keyway(context).services.accounts.issueResetLink(user.email));
  if (!link) throw new AdminError(`${user.email} is disabled: a reset link would not work`);
  const expiresAt = new Date(context.now() + context.config.mail.passwordResetTtl * 1000);
  audit(context, "reset_link.issued", { userId: user.id });
  return { id: user.id, email: user.email, url: link.url, expiresAt };
}

/**
 * Removes the user's TOTP and recovery codes, for someone who lost both: they sign
 * in with their password alone until they enrol again. Their sessions go on. The
 * audit line (mfa.reset, actor "cli") says whether there was anything to remove.
 */
export async function resetMfa(context: AdminContext, rawEmail: string) {
  const user = await findUser(context, rawEmail);
  const { services } = keyway(context);
  const removed = await asAdminError(services.mfa.resetMfa(user.id));
  services.events.emit({ type: "mfa.reset", userId: user.id, actor: "cli", changed: removed });
  return { id: user.id, email: user.email, removed };
}

export async function listSessions(context: AdminContext, rawEmail: string) {
  const user = await findUser(context, rawEmail);
  const sessions = await keyway(context).services.sessions.listLiveSessions(user.id);
  return sessions.map(({ id, createdAt, lastUsedAt, expiresAt, ip, userAgent }) => ({
    id,
    createdAt,
    lastUsedAt,
    expiresAt,
    ip,
    userAgent,
  }));
}

export async function revokeSession(context: AdminContext, id: string) {
  if (!isUuid(id)) throw new AdminError(`${JSON.stringify(id)} is not a session id (a UUID)`);
  const { sessions } = keyway(context).services;
  const live = await sessions.findLiveSession(id);
  if (!live) throw new AdminError(`no live session with the id ${id}`);
  await sessions.endSession(id, "REVOKED");
  audit(context, "session.revoked", { userId: live.userId, sessionId: id });
  return { id, userId: live.userId };
}

export async function rotateKeys(context: AdminContext): Promise<Rotation> {
  const { keys, stores } = keyway(context);
  const rotation = await rotateSigningKey({
    root: keys.root,
    store: stores.signingKeys,
    accessTokenTtlSeconds: context.config.accessTokenTtl,
    now: context.now,
  });
  audit(context, "keys.rotated", {
    kid: rotation.kid,
    replaces: rotation.replaces,
    activatesAt: rotation.activatesAt.toISOString(),
  });
  return rotation;
}

export async function migrate(context: AdminContext) {
  const { applied } = await migrateDatabase(database(context));
  return { applied };
}

export function migrationStatus(context: AdminContext): Promise<MigrationStatus> {
  return readMigrationStatus(database(context));
}

async function findUser(context: AdminContext, rawEmail: string) {
  const user = await asAdminError(keyway(context).services.auth.findUserByEmail(rawEmail));
  if (!user) throw new AdminError(`no account with the email ${rawEmail.trim().toLowerCase()}`);
  return user;
}

/** The services' coded refusals (a taken or malformed email, a weak password) as one line for the operator. */
async function asAdminError<T>(work: Promise<T>): Promise<T> {
  try {
    return await work;
  } catch (error) {
    if (error instanceof KeywayError && error.extensions.code !== "INTERNAL_SERVER_ERROR")
      throw new AdminError(adminMessage(error));
    throw error;
  }
}

const adminMessage = (error: KeywayError): string =>
  error.extensions.code === "CONFLICT"
    ? "an account with this email already exists"
    : error.message.charAt(0).toLowerCase() + error.message.slice(1);

function keyway(context: AdminContext): Keyway {
  if (!context.keyway) throw new Error("this command needs keyway's services");
  return context.keyway;
}

function database(context: AdminContext): Database {
  if (!context.database) throw new Error("this command needs the database");
  return context.database;
}

function audit(context: AdminContext, event: string, fields: Record<string, unknown>): void {
  context.logger.info({ audit: true, event, actor: "cli", ...fields }, `audit: ${event}`);
}
