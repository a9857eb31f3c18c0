// A store names the columns of its record once; Prisma's `select` and the column
// lists of its raw statements are derived from that one list.
import { Prisma } from "../generated/prisma/client";

/** Prisma's `select` for exactly these fields. */
export function selectOf<Field extends string>(fields: readonly Field[]): { [Name in Field]: true } {
  return Object.fromEntries(fields.map((field) => [field, true])) as { [Name in Field]: true };
}

/** `"a", "b"` — or `t."a" AS "p.a", …` with a table alias and a prefix for the result's keys. */
export function columnList(fields: readonly string[], options: { table?: string; prefix?: string } = {}): string {
  const { table, prefix } = options;
  return fields
    .map((field) => `${table ? `${table}.` : ""}"${field}"${prefix ? ` AS "${prefix}${field}"` : ""}`)
    .join(", ");
}

/** columnList as a fragment of Prisma's tagged SQL. */
export const columnsOf = (fields: readonly string[], options: { table?: string; prefix?: string } = {}): Prisma.Sql =>
  Prisma.raw(columnList(fields, options));
