// "What changed since the last poll", read the same way from every table whose
// changes a trigger stamps with the changing transaction's id (Session.endedTxid,
// User.changedTxid): the ids and the horizon the next poll goes on from come from
// one statement's snapshot, so no commit falls between them.
import { Prisma, type PrismaClient } from "../generated/prisma/client";

export interface ChangedIds {
  ids: string[];
  /** The oldest transaction still running at the read: every later change has an id at least this. */
  horizon: bigint;
}

/** The oldest transaction running at this statement's snapshot. */
const HORIZON = Prisma.raw("pg_snapshot_xmin(pg_current_snapshot())::text");

type ChangeRow = { id: string | null; horizon: string };
/** The tables that stamp changes; names and columns are the stores' constants, never input. */
type StampedTable = "Session" | "User";

/** Rows of `table` changed by transactions from `horizon` on, by `txidColumn`. */
export const readChangesFrom = (prisma: PrismaClient, table: StampedTable, txidColumn: string, horizon: bigint) =>
  readChanges(prisma, table, Prisma.sql`t.${Prisma.raw(`"${txidColumn}"`)} >= ${horizon.toString()}::bigint`);

/** Rows of `table` changed at or after `since`, by `timeColumn`. */
export const readChangesSince = (prisma: PrismaClient, table: StampedTable, timeColumn: string, since: Date) =>
  readChanges(prisma, table, Prisma.sql`t.${Prisma.raw(`"${timeColumn}"`)} >= ${since}`);

async function readChanges(prisma: PrismaClient, table: StampedTable, where: Prisma.Sql): Promise<ChangedIds> {
  // The LEFT JOIN yields one row even when nothing changed, so the horizon always comes back.
  const rows = await prisma.$queryRaw<ChangeRow[]>`
    SELECT t.id, h.horizon FROM (SELECT ${HORIZON} AS horizon) AS h
    LEFT JOIN ${Prisma.raw(`"public"."${table}"`)} AS t ON ${where}`;
  return { ids: rows.flatMap((row) => (row.id ? [row.id] : [])), horizon: BigInt(rows[0].horizon) };
}
