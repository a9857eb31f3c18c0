// Applies prisma/migrations the way `prisma migrate deploy` does (same
// `_prisma_migrations` rows and checksums), through the WASM schema engine.
import { getEngineAdapterFactory, type Database } from "./client";
import { DEFAULT_MIGRATIONS_DIR, readMigrationList } from "./migrations";
import { NO_FILTERS, withSchemaEngine } from "./schema-engine";

export interface MigrateOptions {
  /** Defaults to the project's prisma/migrations. */
  migrationsDir?: string;
}

/** Applies pending migrations in order; returns the names applied, none when up to date. */
export async function migrateDatabase(db: Database, options: MigrateOptions = {}): Promise<{ applied: string[] }> {
  const migrationsList = await readMigrationList(options.migrationsDir ?? DEFAULT_MIGRATIONS_DIR);
  const { appliedMigrationNames } = await withSchemaEngine(getEngineAdapterFactory(db), (engine) =>
    engine.applyMigrations({ migrationsList, filters: NO_FILTERS }),
  );
  return { applied: appliedMigrationNames };
}

export interface MigrationStatus {
  applied: string[];
  pending: string[];
}

/** Migrations in prisma/migrations against those the database has finished, in the order migrateDatabase applies them. */
export async function readMigrationStatus(db: Database, options: MigrateOptions = {}): Promise<MigrationStatus> {
  const known = (await readMigrationList(options.migrationsDir ?? DEFAULT_MIGRATIONS_DIR)).migrationDirectories.map(
    (directory) => directory.path,
  );
  const applied = new Set(await appliedMigrations(db));
  return { applied: known.filter((name) => applied.has(name)), pending: known.filter((name) => !applied.has(name)) };
}

async function appliedMigrations(db: Database): Promise<string[]> {
  const [table] = await db.prisma.$queryRaw<
    Array<{ name: string | null }>
  >`SELECT to_regclass('_prisma_migrations')::text AS name`;
  if (!table?.name) return [];
  const rows = await db.prisma.$queryRaw<Array<{ migration_name: string }>>`
    SELECT migration_name FROM _prisma_migrations WHERE finished_at IS NOT NULL AND rolled_back_at IS NULL`;
  return rows.map((row) => row.migration_name);
}
