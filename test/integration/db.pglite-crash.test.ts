// PGlite keeps committed rows when its process dies without closing it, and the
// directory opens again instead of hanging. It always uses PGlite of its own, so it
// runs in both CI passes, whatever TEST_DATABASE_URL selects for the other suites.
import { spawn } from "node:child_process";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import path from "node:path";
import { openDatabase, type Database } from "../../src/db/client";

const WRITER = path.join(__dirname, "..", "fixtures", "pglite-writer.cjs");
const ROWS_BEFORE_KILL = 30;
const REOPEN_TIMEOUT_MS = 30_000;

/** Runs the writer until it has reported `rows` commits, then SIGKILLs it; returns the reported ids. */
function killWriterMidStream(pgliteDir: string, rows: number): Promise<number[]> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [WRITER, pgliteDir], { stdio: ["ignore", "pipe", "pipe"] });
    const reported: number[] = [];
    let pending = "";
    let stderr = "";
    child.stderr.on("data", (chunk: Buffer) => (stderr += chunk.toString()));
    child.stdout.on("data", (chunk: Buffer) => {
      const lines = (pending + chunk.toString()).split("\n");
      pending = lines.pop() ?? "";
      reported.push(...lines.map(Number));
      if (reported.length >= rows) child.kill("SIGKILL");
    });
    child.on("error", reject);
    child.on("exit", (code, signal) => {
      if (signal === "SIGKILL") resolve(reported);
      else reject(new Error(`writer exited on its own (code ${code}): ${stderr}`));
    });
  });
}

function failAfter(ms: number, message: string): Promise<never> {
  return new Promise((_, reject) => setTimeout(() => reject(new Error(message)), ms).unref());
}

describe("embedded PGlite after a SIGKILL", () => {
  let dataDir: string;
  let db: Database;
  let reported: number[];

  beforeAll(async () => {
    dataDir = await mkdtemp(path.join(tmpdir(), "keyway-crash-"));
    reported = await killWriterMidStream(path.join(dataDir, "pglite"), ROWS_BEFORE_KILL);
    db = await Promise.race([
      openDatabase({ dataDir }),
      failAfter(REOPEN_TIMEOUT_MS, `reopening the killed database took over ${REOPEN_TIMEOUT_MS} ms`),
    ]);
  });

  afterAll(async () => {
    await db?.close();
    await rm(dataDir, { recursive: true, force: true });
  });

  test("the writer reported commits in order before it was killed", () => {
    expect(reported.slice(0, ROWS_BEFORE_KILL)).toEqual(
      Array.from({ length: ROWS_BEFORE_KILL }, (_, index) => index + 1),
    );
  });

  test("every reported commit survives", async () => {
    const rows = await db.prisma.$queryRaw<Array<{ id: number }>>`SELECT id FROM crash_probe ORDER BY id`;
    const stored = rows.map((row) => row.id);
    expect(stored).toEqual(expect.arrayContaining(reported));
    // At most the commit in flight at the kill went unreported.
    expect(stored.length - reported.length).toBeLessThanOrEqual(1);
  });

  test("the reopened database takes writes", async () => {
    await db.prisma.$executeRaw`INSERT INTO crash_probe (id, note) VALUES (-1, 'after the crash')`;
    expect(await db.ping()).toBe(true);
  });

  test("a second open of the same directory in this process is refused", async () => {
    await expect(openDatabase({ dataDir })).rejects.toThrow(/already open in this process/);
  });
});
