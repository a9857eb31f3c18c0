import { createHash } from "node:crypto";
import { cp, mkdir, mkdtemp, readFile, readdir, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import path from "node:path";
import { openDatabase, type Database } from "../../src/db/client";
import { diffSchema } from "../../src/db/diff";
import { migrateDatabase } from "../../src/db/migrate";
import { DEFAULT_MIGRATIONS_DIR } from "../../src/db/migrations";
import { createTestDatabase, type TestDatabase } from "../helpers/database";

interface MigrationRow {
  migration_name: string;
  checksum: string;
  finished_at: Date | null;
  rolled_back_at: Date | null;
}

async function listMigrationNames(): Promise<string[]> {
  const entries = await readdir(DEFAULT_MIGRATIONS_DIR, { withFileTypes: true });
  return entries
    .filter((entry) => entry.isDirectory())
    .map((entry) => entry.name)
    .sort();
}

async function hashMigration(name: string): Promise<string> {
  const sql = await readFile(path.join(DEFAULT_MIGRATIONS_DIR, name, "migration.sql"));
  return createHash("sha256").update(sql).digest("hex");
}

describe("committed migrations", () => {
  let testDb: TestDatabase;
  let db: Database;

  beforeAll(async () => {
    testDb = await createTestDatabase();
    db = await openDatabase({ url: testDb.url, dataDir: testDb.dataDir });
  });

  afterAll(async () => {
    await db?.close();
    await testDb?.drop();
  });

  test("produce exactly prisma/schema.prisma", async () => {
    expect(await listMigrationNames()).not.toHaveLength(0);
    expect(await diffSchema({ from: "migrations" })).toBeNull();
  });

  test("apply once each, recorded as `prisma migrate deploy` records them", async () => {
    const names = await listMigrationNames();

    expect(await migrateDatabase(db)).toEqual({ applied: names });

    const rows = await db.prisma.$queryRaw<MigrationRow[]>`
      SELECT migration_name, checksum, finished_at, rolled_back_at
      FROM _prisma_migrations ORDER BY migration_name`;
    const expected = await Promise.all(
      names.map(async (name) => ({
        migration_name: name,
        checksum: await hashMigration(name),
        finished_at: expect.any(Date),
        rolled_back_at: null,
      })),
    );
    expect(rows).toEqual(expected);

    expect(await migrateDatabase(db)).toEqual({ applied: [] });
  });

  test("leave no advisory lock behind for the next instance to wait on", async () => {
    await migrateDatabase(db);
    const [{ held }] = await db.prisma.$queryRaw<Array<{ held: number }>>`
      SELECT count(*)::int AS held FROM pg_locks
      WHERE locktype = 'advisory' AND database = (SELECT oid FROM pg_database WHERE datname = current_database())`;
    expect(held).toBe(0);
  });

  test("carry users and sessions through Prisma, deleting sessions with their user", async () => {
    await migrateDatabase(db);
    const user = await db.prisma.user.create({
      data: { email: "round-trip@example.com", passwordHash: "not-a-real-hash" },
    });
    const session = await db.prisma.session.create({
      data: {
        userId: user.id,
        tokenFamily: "family-round-trip",
        tokenHash: "a".repeat(64),
        expiresAt: new Date(Date.now() + 60_000),
      },
    });

    const found = await db.prisma.session.findUnique({
      where: { tokenFamily: "family-round-trip" },
      include: { user: true },
    });
    expect(found).toMatchObject({ id: session.id, generation: 0, endedAt: null, user: { email: user.email } });

    await db.prisma.user.delete({ where: { id: user.id } });
    expect(await db.prisma.session.count({ where: { userId: user.id } })).toBe(0);
  });
});

describe("a migration that fails", () => {
  let testDb: TestDatabase;
  let db: Database;
  let migrationsDir: string;

  beforeAll(async () => {
    testDb = await createTestDatabase();
    db = await openDatabase({ url: testDb.url, dataDir: testDb.dataDir });
    migrationsDir = await mkdtemp(path.join(tmpdir(), "keyway-migrations-"));
    await cp(DEFAULT_MIGRATIONS_DIR, migrationsDir, { recursive: true });
    await mkdir(path.join(migrationsDir, "29991231000000_broken"));
    await writeFile(
      path.join(migrationsDir, "29991231000000_broken", "migration.sql"),
      'CREATE TABLE "Probe" (id integer);\nSELECT no_such_function();\n',
    );
  });

  afterAll(async () => {
    await db?.close();
    await testDb?.drop();
    await rm(migrationsDir, { recursive: true, force: true });
  });

  test("is reported, rolled back whole, and blocks later runs as `migrate deploy` does", async () => {
    await expect(migrateDatabase(db, { migrationsDir })).rejects.toThrow(/no_such_function/);

    const [broken] = await db.prisma.$queryRaw<MigrationRow[]>`
      SELECT migration_name, checksum, finished_at, rolled_back_at
      FROM _prisma_migrations WHERE migration_name = '29991231000000_broken'`;
    expect(broken).toMatchObject({ finished_at: null, rolled_back_at: null });
    const [{ probe }] = await db.prisma.$queryRaw<Array<{ probe: string | null }>>`
      SELECT to_regclass('"Probe"')::text AS probe`;
    expect(probe).toBeNull();

    await expect(migrateDatabase(db, { migrationsDir })).rejects.toThrow(/failed migrations/);
  });
});
