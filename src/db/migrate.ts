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
