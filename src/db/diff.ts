// The SQL that takes the committed migrations (or an empty database) to
// schema.prisma: what `prisma migrate diff --script` prints, without a database.
import { readFile } from "node:fs/promises";
import path from "node:path";
import { PGlite } from "@electric-sql/pglite";
import type { SqlMigrationAwareDriverAdapterFactory } from "@prisma/driver-adapter-utils";
import { createPgliteEngineFactory } from "./adapters";
import { DEFAULT_MIGRATIONS_DIR, DEFAULT_SCHEMA_PATH, readMigrationList } from "./migrations";
import { NO_FILTERS, withSchemaEngine, type DiffTarget } from "./schema-engine";

export interface DiffSchemaOptions {
  /** Start from the migrations directory (the default) or from an empty database. */
  from?: "migrations" | "empty";
  migrationsDir?: string;
  schemaPath?: string;
}

// With `exitCode` requested, the engine answers 2 when the schemas differ.
const EXIT_CODE_CHANGED = 2;

/** Returns the migration script, or null when there is nothing to migrate. */
export async function diffSchema(options: DiffSchemaOptions = {}): Promise<string | null> {
  const schemaPath = path.resolve(options.schemaPath ?? DEFAULT_SCHEMA_PATH);
  const content = await readFile(schemaPath, "utf8");
  const from = await readDiffSource(options);
  // The engine replays migrations on a shadow database; a throwaway in-memory
  // PGlite serves, so diffing needs no server and touches no real data. A diff
  // never writes through the main connection, so one instance plays both roles
  // (each costs seconds to initialise).
  const scratch = await PGlite.create({ dataDir: "memory://" });
  const factory = createPgliteEngineFactory(scratch);
  const scratchFactory: SqlMigrationAwareDriverAdapterFactory = {
    provider: factory.provider,
    adapterName: factory.adapterName,
    connect: () => factory.connect(),
    connectToShadowDb: () => factory.connect(),
  };
  try {
    const result = await withSchemaEngine(scratchFactory, (engine) =>
      engine.diff({
        from,
        to: { tag: "schemaDatamodel", files: [{ path: schemaPath, content }] },
        script: true,
        exitCode: true,
        filters: NO_FILTERS,
      }),
    );
    return result.exitCode === EXIT_CODE_CHANGED ? (result.stdout ?? "") : null;
  } finally {
    await scratch.close();
  }
}

// Without a single migration there is no lock file naming the provider, and the
// engine refuses to read the directory; the history is then simply empty.
async function readDiffSource(options: DiffSchemaOptions): Promise<DiffTarget> {
  if (options.from === "empty") return { tag: "empty" };
  const migrations = await readMigrationList(options.migrationsDir ?? DEFAULT_MIGRATIONS_DIR);
  return migrations.migrationDirectories.length === 0 ? { tag: "empty" } : { tag: "migrations", ...migrations };
}
