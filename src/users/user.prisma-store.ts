import { Prisma, type PrismaClient } from "../generated/prisma/client";
import { MAX_ROLES_PER_USER } from "../authz/names";
import { readChangesFrom, readChangesSince } from "../db/changes";
import { columnList, columnsOf, selectOf } from "../db/columns";
import { isUniqueViolation } from "../db/errors";
import { prismaRunner, statement, type SqlRunner } from "../db/statements";
import type { RoleChange, UserRecord, UserStore, UserSummary } from "./user.store";

export const USER_FIELDS = [
  "id",
  "email",
  "passwordHash",
  "disabledAt",
  "roles",
  "emailVerifiedAt",
  "createdAt",
  "updatedAt",
] as const satisfies ReadonlyArray<keyof UserRecord>;

/** Prisma's `select` for exactly a UserRecord. */
const USER_SELECT = selectOf(USER_FIELDS);
/** Listing for admins reads no password hash at all, so none can reach a response or a log line. */
const SUMMARY_SELECT = selectOf(USER_FIELDS.filter((field): field is keyof UserSummary => field !== "passwordHash"));
const RETURNING_USER = columnsOf(USER_FIELDS);
/** The read behind every request whose user is not cached (the user cache, the live grants). */
const USER_BY_ID = statement(
  "user_by_id",
  `SELECT ${columnList(USER_FIELDS)} FROM "public"."User" WHERE "id" = $1::uuid`,
);

/** `sql`: the hot path's statements (db/statements.ts); through Prisma when not given. */
export function createPrismaUserStore(prisma: PrismaClient, sql: SqlRunner = prismaRunner(prisma)): UserStore {
  const findById = async (id: string): Promise<UserRecord | null> =>
    (await sql.query<UserRecord>(USER_BY_ID, [id]))[0] ?? null;

  /**
   * The array is changed inside the UPDATE, never read and written back: the row
   * lock orders concurrent changes, and each one applies to the row as the one
   * before left it. The WHERE skips users the change would not alter, so a row
   * means it changed; no row means unchanged or unknown, which a read tells apart.
   */
  const changeRoles = async (
    id: string,
    at: Date,
    update: Prisma.Sql,
    unchanged: Prisma.Sql,
  ): Promise<RoleChange | null> => {
    const [user] = await prisma.$queryRaw<UserRecord[]>`
      UPDATE "public"."User" SET "roles" = ${update}, "updatedAt" = ${at}
      WHERE "id" = ${id}::uuid AND NOT (${unchanged})
      RETURNING ${RETURNING_USER}`;
    if (user) return { user, changed: true };
    const current = await findById(id);
    return current && { user: current, changed: false };
  };

  return {
    async create(user) {
      try {
        return await prisma.user.create({ data: user, select: USER_SELECT });
      } catch (error) {
        if (isUniqueViolation(error)) return null;
        throw error;
      }
    },
    findById,
    findByEmail: (email): Promise<UserRecord | null> =>
      prisma.user.findUnique({ where: { email }, select: USER_SELECT }),
    list: ({ first, after, email }): Promise<UserSummary[]> =>
      prisma.user.findMany({
        where: { ...(email === undefined ? {} : { email }), ...(after === undefined ? {} : { id: { gt: after } }) },
        orderBy: { id: "asc" },
        take: first,
        select: SUMMARY_SELECT,
      }),
    async disable(id, at) {
      const { count } = await prisma.user.updateMany({ where: { id, disabledAt: null }, data: { disabledAt: at } });
      return count === 1;
    },
    grantRole: (id, role, at) =>
      changeRoles(
        id,
        at,
        Prisma.sql`array_append("roles", ${role}::text)`,
        Prisma.sql`${role}::text = ANY("roles") OR cardinality("roles") >= ${MAX_ROLES_PER_USER}`,
      ),
    revokeRole: (id, role, at) =>
      changeRoles(
        id,
        at,
        Prisma.sql`array_remove("roles", ${role}::text)`,
        Prisma.sql`NOT (${role}::text = ANY("roles"))`,
      ),
    listChangedFrom: (horizon) => readChangesFrom(prisma, "User", "changedTxid", horizon),
    listChangedSince: (since) => readChangesSince(prisma, "User", "changedAt", since),
  };
}
