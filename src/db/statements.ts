// Prepared statements for the few queries on the path of every cold request (a
// user read by id, a refresh token's rotation), run on the driver Prisma itself
// uses (the same `pg` pool, or PGlite) without Prisma's query engine. Under load
// the engine costs keyway more CPU per query than the query costs PostgreSQL:
// docs/benchmarks.md, "What was changed", has the same-minute measurement.
// Everything else, transactions included, stays with Prisma.

import { createHash } from "node:crypto";

/** A statement with a name: `pg` prepares it once per connection and reuses the plan. */
export interface Statement {
  readonly name: string;
  readonly text: string;
}

export interface SqlRunner {
  /** Runs `statement` with `values` ($1, $2, …) outside any transaction; the rows as the driver parses them. */
  query<Row>(statement: Statement, values: readonly unknown[]): Promise<Row[]>;
}

/**
 * Names are prefixed, so they cannot meet a statement another client of the
 * connection chose, and carry a hash of the text: behind a pooler that shares server
 * connections between clients (PgBouncer), a name prepared by another version of
 * keyway is then always the same statement.
 */
export const statement = (name: string, text: string): Statement => ({
  name: `keyway_${name}_${createHash("sha256").update(text).digest("hex").slice(0, 12)}`,
  text,
});

/**
 * The same statements through Prisma, for a store bound to a transaction (whose
 * connection only Prisma holds) and for callers that have no runner of their own.
 */
export function prismaRunner(prisma: {
  $queryRawUnsafe<T>(query: string, ...values: unknown[]): PromiseLike<T>;
}): SqlRunner {
  return {
    query: async <Row>(statement: Statement, values: readonly unknown[]) =>
      prisma.$queryRawUnsafe<Row[]>(statement.text, ...values),
  };
}
