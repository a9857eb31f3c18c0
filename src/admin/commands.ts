// What `keyway <command>` does, over the same services the server uses, so an
// operator's action is audited, counted and propagated (revocations reach every
// running instance) exactly as a user's would be.
import { normalizeCredentials, normalizeEmail } from "../auth/credentials";
import type { Config } from "../config";
import type { Database } from "../db/client";
import { migrateDatabase } from "../db/migrate";
import { DEFAULT_MIGRATIONS_DIR, readMigrationList } from "../db/migrations";
import { isUuid } from "../ids";
import type { Logger } from "../logger";
import type { Services } from "../services";
import { rotateSigningKey, type Rotation } from "../token/key-rotation";
import type { KeySet } from "../token/keys";

export interface AdminContext {
  config: Config;
  database: Database;
  /** Absent for db:migrate and db:status, which must work on a database keyway cannot serve yet. */
  services?: Services;
  keys?: KeySet;
  logger: Logger;
  now(): number;
}

/** A refusal the operator can act on: printed as one line, exit code 1. */
export class AdminError extends Error {
  override name = "AdminError";
}

export async function createUser(context: AdminContext, rawEmail: string, rawPassword: string) {
  const credentials = normalizeCredentials(rawEmail, rawPassword);
  if (!credentials.ok) throw new AdminError(credentials.message);
  const passwordHash = await services(context).passwords.hash(credentials.password, "cli");
  try {
    const user = await context.database.prisma.user.create({ data: { email: credentials.email, passwordHash } });
    audit(context, "user.created", { userId: user.id });
    return { id: user.id, email: user.email, createdAt: user.createdAt };
  } catch (error) {
    if ((error as { code?: string }).code === "P2002") throw new AdminError(`an account with the email ${credentials.email} already exists`);
    throw error;
  }
}

/** Disables the account and ends every session it has; their access tokens are refused from now on. */
export async function disableUser(context: AdminContext, rawEmail: string) {
  const user = await findUser(context, rawEmail);
  const sessionsEnded = (await services(context).sessions.listLiveSessions(user.id)).length;
  // Also when it was disabled before: ending its sessions again is harmless and makes sure.
  const newlyDisabled = await services(context).auth.disableUser(user.id);
  audit(context, "user.disabled", { userId: user.id, sessionsEnded, newlyDisabled });
  return { id: user.id, email: user.email, newlyDisabled, sessionsEnded };
}

export async function listSessions(context: AdminContext, rawEmail: string) {
  const user = await findUser(context, rawEmail);
  const sessions = await services(context).sessions.listLiveSessions(user.id);
  return sessions.map(({ id, createdAt, lastUsedAt, expiresAt, ip, userAgent }) => ({ id, createdAt, lastUsedAt, expiresAt, ip, userAgent }));
}

export async function revokeSession(context: AdminContext, id: string) {
  if (!isUuid(id)) throw new AdminError(`"${id}" is not a session id (a UUID)`);
  const live = await services(context).sessions.findLiveSession(id);
  if (!live) throw new AdminError(`no live session with the id ${id}`);
  await services(context).sessions.endSession(id, "REVOKED");
  audit(context, "session.revoked", { userId: live.userId, sessionId: id });
  return { id, userId: live.userId };
}

export async function rotateKeys(context: AdminContext): Promise<Rotation> {
  if (!context.keys) throw new Error("keys:rotate needs the signing keys");
  const rotation = await rotateSigningKey({ root: context.keys, prisma: context.database.prisma, accessTokenTtlSeconds: context.config.accessTokenTtl, now: context.now });
  audit(context, "keys.rotated", { kid: rotation.kid, replaces: rotation.replaces, activatesAt: rotation.activatesAt.toISOString() });
  return rotation;
}

export async function migrate(context: AdminContext) {
  const { applied } = await migrateDatabase(context.database);
  return { applied };
}

/** Migrations in prisma/migrations against those the database has finished. */
export async function migrationStatus(context: AdminContext) {
  // The same list, in the same order, that migrateDatabase applies.
  const known = (await readMigrationList(DEFAULT_MIGRATIONS_DIR)).migrationDirectories.map((directory) => directory.path);
  const applied = new Set(await appliedMigrations(context.database));
  return { applied: known.filter((name) => applied.has(name)), pending: known.filter((name) => !applied.has(name)) };
}

async function appliedMigrations(database: Database): Promise<string[]> {
  const [table] = await database.prisma.$queryRaw<Array<{ name: string | null }>>`SELECT to_regclass('_prisma_migrations')::text AS name`;
  if (!table?.name) return [];
  const rows = await database.prisma.$queryRaw<Array<{ migration_name: string }>>`
    SELECT migration_name FROM _prisma_migrations WHERE finished_at IS NOT NULL AND rolled_back_at IS NULL`;
  return rows.map((row) => row.migration_name);
}

async function findUser(context: AdminContext, rawEmail: string) {
  const normalized = normalizeEmail(rawEmail);
  if (!normalized.ok) throw new AdminError(normalized.message);
  const { email } = normalized;
  const user = await context.database.prisma.user.findUnique({ where: { email } });
  if (!user) throw new AdminError(`no account with the email ${email}`);
  return user;
}

function services(context: AdminContext): Services {
  if (!context.services) throw new Error("this command needs keyway's services");
  return context.services;
}

function audit(context: AdminContext, event: string, fields: Record<string, unknown>): void {
  context.logger.info({ audit: true, event, actor: "cli", ...fields }, `audit: ${event}`);
}
