// The databases every store contract runs against, in every test run: the
// embedded PGlite and a real PostgreSQL (TEST_DATABASE_URL, else the local one),
// as Lucia runs one adapter suite against every database it supports.
import { openDatabase, type Database, type DatabaseKind } from "../../src/db/client";
import { migrateDatabase } from "../../src/db/migrate";
import { createPrismaStores, type Stores } from "../../src/db/stores";
import { createTestDatabase, type TestDatabase } from "../helpers/database";

export const STORE_DATABASES: DatabaseKind[] = ["pglite", "postgres"];

export interface StoreFixture {
  database: Database;
  /** PostgreSQL only: for a second connection of the test's own. */
  url: string | undefined;
  stores: Stores;
  close(): Promise<void>;
}

/** A fresh, migrated database of this kind and the stores over it. */
export async function openStores(kind: DatabaseKind): Promise<StoreFixture> {
  const testDatabase: TestDatabase = await createTestDatabase({ kind });
  const database = await openDatabase({ url: testDatabase.url, dataDir: testDatabase.dataDir });
  await migrateDatabase(database);
  return {
    database,
    url: testDatabase.url,
    stores: createPrismaStores(database),
    async close() {
      await database.close();
      await testDatabase.drop();
    },
  };
}

/**
 * A fresh, migrated database of this kind for the enclosing describe block
 * ("all") or for each of its tests ("each"), closed and dropped after; the
 * returned function gives the current one.
 */
export function useStores(kind: DatabaseKind, scope: "all" | "each" = "all"): () => StoreFixture {
  let fixture: StoreFixture | undefined;
  const [before, after] = scope === "all" ? [beforeAll, afterAll] : [beforeEach, afterEach];
  before(async () => {
    fixture = await openStores(kind);
  });
  after(() => fixture?.close());
  return () => {
    if (!fixture) throw new Error("the store fixture is used outside its tests");
    return fixture;
  };
}
