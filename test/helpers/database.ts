// A fresh, empty database per caller: a new database on the server named by
// TEST_DATABASE_URL, or else a new directory for the embedded PGlite. Jest runs
// files in parallel workers, so every name is unique. Tests that need a real
// server whatever the mode (several processes on one database) ask for
// `{ kind: "postgres" }`: TEST_DATABASE_URL, or else the local PostgreSQL.
import { randomUUID } from "node:crypto";
import { cp, mkdtemp, readFile, rename, rm, stat } from "node:fs/promises";
import { tmpdir } from "node:os";
import path from "node:path";
import { PGlite } from "@electric-sql/pglite";
import { Client } from "pg";
import type { DatabaseKind } from "../../src/db/client";

export interface TestDatabase {
  /** Unset for PGlite; pass it on as `DatabaseOptions.url`. */
  url?: string;
  /** A fresh temporary directory; PGlite keeps its files in `${dataDir}/pglite`. */
  dataDir: string;
  kind: DatabaseKind;
  /** Removes the database and the directory; safe to call more than once. */
  drop(): Promise<void>;
}

/** The server `{ kind: "postgres" }` falls back to without TEST_DATABASE_URL (always there in CI). */
export const LOCAL_POSTGRES_URL = "postgres://postgres@127.0.0.1:5432/postgres";

export interface TestDatabaseOptions {
  /**
   * Default: PostgreSQL with TEST_DATABASE_URL, else PGlite. "postgres": PostgreSQL in
   * either mode (TEST_DATABASE_URL, else LOCAL_POSTGRES_URL). "pglite": PGlite in either mode.
   */
  kind?: DatabaseKind;
}

export async function createTestDatabase(options: TestDatabaseOptions = {}): Promise<TestDatabase> {
  const dataDir = await mkdtemp(path.join(tmpdir(), "keyway-test-"));
  const removeDataDir = () => rm(dataDir, { recursive: true, force: true });
  const adminUrl = process.env.TEST_DATABASE_URL || (options.kind === "postgres" ? LOCAL_POSTGRES_URL : undefined);
  if (!adminUrl || options.kind === "pglite") {
    await cp(await preparePgliteTemplate(), path.join(dataDir, "pglite"), { recursive: true });
    return { dataDir, kind: "pglite", drop: removeDataDir };
  }

  const name = `keyway_test_${randomUUID().replace(/-/g, "")}`;
  await runAdminStatement(adminUrl, `CREATE DATABASE "${name}"`).catch(async (error: unknown) => {
    await removeDataDir();
    throw error;
  });
  const url = new URL(adminUrl);
  url.pathname = `/${name}`;
  return {
    url: url.toString(),
    dataDir,
    kind: "postgres",
    async drop() {
      await runAdminStatement(adminUrl, `DROP DATABASE IF EXISTS "${name}" WITH (FORCE)`);
      await removeDataDir();
    },
  };
}

async function runAdminStatement(adminUrl: string, sql: string): Promise<void> {
  const client = new Client({ connectionString: adminUrl, connectionTimeoutMillis: 5000 });
  await client.connect();
  try {
    await client.query(sql);
  } finally {
    await client.end();
  }
}

// Creating a PGlite database (initdb) takes seconds; copying a cleanly closed, empty
// one takes a fraction of that. The template is made once per PGlite version and
// shared by workers and runs; the rename publishes it only once it is complete.
async function preparePgliteTemplate(): Promise<string> {
  const template = path.join(tmpdir(), `keyway-pglite-template-${await readPgliteVersion()}`);
  if (
    await stat(template).then(
      () => true,
      () => false,
    )
  )
    return template;

  const staging = await mkdtemp(`${template}-staging-`);
  const db = await PGlite.create({ dataDir: staging });
  await db.close();
  await rename(staging, template).catch(async (error: NodeJS.ErrnoException) => {
    // Another worker published its template first; either copy will do.
    await rm(staging, { recursive: true, force: true });
    if (error.code !== "ENOTEMPTY" && error.code !== "EEXIST") throw error;
  });
  return template;
}

async function readPgliteVersion(): Promise<string> {
  const manifest = path.join(path.dirname(require.resolve("@electric-sql/pglite")), "..", "package.json");
  const { version } = JSON.parse(await readFile(manifest, "utf8")) as { version: string };
  return version;
}
