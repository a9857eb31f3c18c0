import { createServer, type Server, type Socket } from "node:net";
import { openDatabase, type Database } from "../../src/db/client";
import { createTestDatabase, type TestDatabase } from "../helpers/database";

describe("openDatabase", () => {
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

  test("opens the kind of database the test run selected", () => {
    expect(db.kind).toBe(testDb.kind);
  });

  test("ping answers while open, then false once closed; close can be repeated", async () => {
    expect(await db.ping()).toBe(true);
    await db.close();
    await db.close();
    expect(await db.ping()).toBe(false);
  });
});

describe("openDatabase with a URL", () => {
  test("refuses anything but postgres:// without echoing the URL", async () => {
    const opening = openDatabase({ url: "mysql://admin:s3cret@db.example/keyway", dataDir: "unused" });
    await expect(opening).rejects.toThrow(/postgres:\/\//);
    await expect(opening).rejects.not.toThrow(/s3cret/);
  });

  describe("to a server that accepts connections but never answers", () => {
    let server: Server;
    const sockets = new Set<Socket>();
    let url: string;

    beforeAll(async () => {
      server = createServer((socket) => sockets.add(socket));
      await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
      const { port } = server.address() as { port: number };
      url = `postgres://keyway@127.0.0.1:${port}/keyway`;
    });

    afterAll(async () => {
      sockets.forEach((socket) => socket.destroy());
      await new Promise((resolve) => server.close(resolve));
    });

    test("fails a query within the connection timeout instead of hanging", async () => {
      const db = await openDatabase({ url, dataDir: "unused", connectionTimeoutMs: 300 });
      try {
        const started = Date.now();
        await expect(db.prisma.$queryRaw`SELECT 1`).rejects.toThrow();
        expect(Date.now() - started).toBeLessThan(2000);
        expect(await db.ping()).toBe(false);
      } finally {
        await db.close();
      }
    });
  });
});
