import type { PrismaClient } from "../generated/prisma/client";
import { readChangesFrom, readChangesSince } from "../db/changes";
import { columnList, selectOf } from "../db/columns";
import { prismaRunner, statement, type SqlRunner } from "../db/statements";
import { USER_FIELDS } from "../users/user.prisma-store";
import type { UserRecord } from "../users/user.store";
import type { PurgeResult, RotatedSession, SessionRecord, SessionStore } from "./session.store";

const SESSION_FIELDS = [
  "id",
  "userId",
  "tokenFamily",
  "tokenHash",
  "previousTokenHash",
  "sealedToken",
  "generation",
  "rotatedAt",
  "createdAt",
  "authTime",
  "amr",
  "lastUsedAt",
  "expiresAt",
  "endedAt",
  "endReason",
  "userAgent",
  "ip",
] as const satisfies ReadonlyArray<keyof SessionRecord>;
/** Prisma's `select` for exactly a SessionRecord (the row has more, e.g. endedTxid). */
const SESSION_SELECT = selectOf(SESSION_FIELDS);

/**
 * A refresh token's rotation, one statement where Prisma's updateManyAndReturn with
 * the user included takes a transaction and two. The presented hash is part of the
 * WHERE, so the row lock serializes concurrent refreshes with one token and only the
 * first still matches after it; the others get no row and take SessionService's
 * slower path. $3 is now. The user's columns come back prefixed, since both tables
 * have id and createdAt.
 */
const ROTATE_CURRENT = statement(
  "rotate_current",
  `UPDATE "public"."Session" AS s
   SET "tokenHash" = $1, "previousTokenHash" = s."tokenHash", "sealedToken" = $2,
       "generation" = s."generation" + 1, "rotatedAt" = $3, "lastUsedAt" = $3
   FROM "public"."User" AS u
   WHERE s."tokenFamily" = $4 AND s."tokenHash" = $5
     AND s."endedAt" IS NULL AND s."expiresAt" > $3 AND s."lastUsedAt" > $6
     AND u."id" = s."userId"
   RETURNING ${columnList(SESSION_FIELDS, { table: "s" })}, ${columnList(USER_FIELDS, { table: "u", prefix: "user." })}`,
);

type RotatedRow = SessionRecord & { [Field in (typeof USER_FIELDS)[number] as `user.${Field}`]: UserRecord[Field] };

function splitRotatedRow(row: RotatedRow): RotatedSession {
  const session = Object.fromEntries(SESSION_FIELDS.map((field) => [field, row[field]])) as unknown as SessionRecord;
  const user = Object.fromEntries(USER_FIELDS.map((field) => [field, row[`user.${field}`]])) as unknown as UserRecord;
  return { session, user };
}

/** An arbitrary constant naming keyway's purge lock among the database's advisory locks. */
const PURGE_LOCK_KEY = 7_152_025_001;

/** `sql`: the hot path's statements (db/statements.ts); through Prisma when not given. */
export function createPrismaSessionStore(prisma: PrismaClient, sql: SqlRunner = prismaRunner(prisma)): SessionStore {
  return {
    create: (session) =>
      prisma.session.create({
        data: {
          userId: session.userId,
          tokenFamily: session.tokenFamily,
          tokenHash: session.tokenHash,
          createdAt: session.now,
          authTime: session.now,
          amr: session.amr,
          lastUsedAt: session.now,
          expiresAt: session.expiresAt,
          userAgent: session.userAgent,
          ip: session.ip,
        },
        select: SESSION_SELECT,
      }),

    findByFamily: (tokenFamily) => prisma.session.findUnique({ where: { tokenFamily }, select: SESSION_SELECT }),

    findById: (id) => prisma.session.findUnique({ where: { id }, select: SESSION_SELECT }),

    async reauthenticate(id, userId, methods, replacing, now, usedSince) {
      const updated = await prisma.$executeRaw`
        UPDATE "Session" SET "authTime" = ${now}, "lastUsedAt" = ${now},
          "amr" = ARRAY(SELECT m FROM unnest(
                          ARRAY(SELECT x FROM unnest("amr") AS x WHERE NOT (x = ANY(${replacing}::text[])))
                          || ${methods}::text[]) WITH ORDINALITY AS t(m, i)
                        GROUP BY m ORDER BY min(i))
        WHERE "id" = ${id}::uuid AND "userId" = ${userId}::uuid AND "endedAt" IS NULL
          AND "expiresAt" > ${now} AND "lastUsedAt" > ${usedSince}`;
      return updated === 1 ? prisma.session.findUnique({ where: { id }, select: SESSION_SELECT }) : null;
    },

    async rotate(rotation) {
      // One UPDATE guarded by generation and hash: PostgreSQL's row lock makes
      // concurrent swaps of the same generation serialize, and only the first matches.
      const { count } = await prisma.session.updateMany({
        where: {
          id: rotation.id,
          generation: rotation.expectedGeneration,
          tokenHash: rotation.expectedHash,
          endedAt: null,
        },
        data: {
          tokenHash: rotation.tokenHash,
          previousTokenHash: rotation.expectedHash,
          sealedToken: rotation.sealedToken,
          generation: { increment: 1 },
          rotatedAt: rotation.now,
          lastUsedAt: rotation.now,
        },
      });
      return count === 1;
    },

    async rotateCurrent(rotation) {
      const [row] = await sql.query<RotatedRow>(ROTATE_CURRENT, [
        rotation.tokenHash,
        rotation.sealedToken,
        rotation.now,
        rotation.tokenFamily,
        rotation.presentedHash,
        rotation.usedSince,
      ]);
      return row ? splitRotatedRow(row) : null;
    },

    async touch(id, now) {
      await prisma.session.updateMany({
        where: { id, endedAt: null, lastUsedAt: { lt: now } },
        data: { lastUsedAt: now },
      });
    },

    async end(id, reason, now) {
      const { count } = await prisma.session.updateMany({
        where: { id, endedAt: null },
        data: { endedAt: now, endReason: reason },
      });
      return count === 1;
    },

    async endAllOfUser(userId, reason, now) {
      const ended = await prisma.session.updateManyAndReturn({
        where: { userId, endedAt: null },
        data: { endedAt: now, endReason: reason },
        select: { id: true },
      });
      return ended.map((session) => session.id);
    },

    listLive: (userId, now, usedSince) =>
      prisma.session.findMany({
        where: { userId, endedAt: null, expiresAt: { gt: now }, lastUsedAt: { gt: usedSince } },
        orderBy: { createdAt: "desc" },
        select: SESSION_SELECT,
      }),

    listEndedSince: (since) => readChangesSince(prisma, "Session", "endedAt", since),

    listEndedFrom: (horizon) => readChangesFrom(prisma, "Session", "endedTxid", horizon),

    async purge(cutoffs, batch): Promise<PurgeResult> {
      let deleted = 0;
      for (let round = 0; round < batch.maxBatches; round++) {
        const result = await prisma.$transaction(async (tx) => {
          // Transaction-scoped: released at commit, and by the server if this instance dies.
          const [lock] = await tx.$queryRaw<
            Array<{ locked: boolean }>
          >`SELECT pg_try_advisory_xact_lock(${PURGE_LOCK_KEY}::bigint) AS locked`;
          if (!lock?.locked) return null;
          return tx.$executeRaw`
            DELETE FROM "Session" WHERE id IN (
              SELECT id FROM "Session"
              WHERE "endedAt" < ${cutoffs.endedBefore} OR "expiresAt" < ${cutoffs.expiredBefore} OR "lastUsedAt" < ${cutoffs.usedBefore}
              LIMIT ${batch.size})`;
        });
        if (result === null) return { ran: round > 0, deleted };
        deleted += result;
        if (result < batch.size) break;
      }
      return { ran: true, deleted };
    },
  };
}
