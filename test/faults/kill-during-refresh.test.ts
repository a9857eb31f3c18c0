// keyway SIGKILLed in the middle of a refresh storm on PostgreSQL, then restarted
// on the same database: every session is in a state its clients can continue from.
//
// REFRESH_REUSE_GRACE is 10 minutes here, longer than the whole test. The forks of
// a session race with one token every round; with a grace shorter than the test, a
// fork whose answer was cut by the kill could, by timing alone, end its session as
// reuse, and the outcome would depend on the scheduler. With the long grace every
// legitimate holder (current token, or the predecessor whose rotation committed but
// whose answer was lost) must keep working and no session may end, so the test can
// demand exactly that. The reuse rule itself is covered in auth.rotation.test.ts.
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import path from "node:path";
import { Client } from "pg";
import { createPgCluster, type PgCluster } from "../helpers/pg-cluster";
import { startKeyway, stopKeyway, type KeywayProcess } from "../helpers/process";
import {
  hashOf,
  killDuringStorm,
  rowProblems,
  SESSION_ROWS_SQL,
  verifyAfterRestart,
  type CutRotations,
  type SessionRow,
  type StormSession,
} from "../helpers/refresh-storm";

const SESSIONS = 40;
// Kill after this many answered rotations (three rounds per session on average).
const ROTATIONS_BEFORE_KILL = SESSIONS * 3;
// A kill that cut no committed rotation off from its answer is tried again, this many
// times in all (one attempt in four or five cuts none: at most 5 × a storm).
const KILL_ATTEMPTS = 5;

// Up to KILL_ATTEMPTS storms, each with its sign-ups, before the checks after the restart.
jest.setTimeout(300_000);

describe("keyway killed with SIGKILL during a refresh storm on PostgreSQL", () => {
  let cluster: PgCluster;
  let dataDir: string;
  let keyway: KeywayProcess | undefined;
  let sessions: StormSession[];
  let rowsAfterKill: Map<string, SessionRow>;
  let cut: CutRotations;
  const env = () => ({
    DATABASE_URL: cluster.url,
    DATA_DIR: dataDir,
    REFRESH_REUSE_GRACE: "10m",
    AUTH_IP_LIMIT: "1000000/1m",
  });

  beforeAll(async () => {
    cluster = await createPgCluster();
    await cluster.start();
    dataDir = await mkdtemp(path.join(tmpdir(), "keyway-kill-"));
    ({
      sessions,
      rows: rowsAfterKill,
      cut,
    } = await killDuringStorm({
      start: () => startKeyway(env()),
      readRows: () => readRows(cluster.url),
      sessions: SESSIONS,
      rotationsBeforeKill: ROTATIONS_BEFORE_KILL,
      maxAttempts: KILL_ATTEMPTS,
      until: "committed",
    }));
    keyway = await startKeyway(env());
  });

  afterAll(async () => {
    if (keyway && keyway.child.exitCode === null) await stopKeyway(keyway);
    await cluster?.destroy();
    if (dataDir) await rm(dataDir, { recursive: true, force: true });
  });

  test("the kill came in the middle of the storm", () => {
    expect(keyway).toBeDefined();
    expect(sessions.reduce((sum, session) => sum + session.answered, 0)).toBeGreaterThanOrEqual(ROTATIONS_BEFORE_KILL);
    expect(sessions.every((session) => session.unexpected.length === 0)).toBe(true);
  });

  test("the kill cut at least one committed rotation off from its answer", () => {
    expect(cut.committedUnanswered).toBeGreaterThan(0);
  });

  test("no Session row is half-written and every fork holds the current token or its predecessor", () => {
    const problems = sessions.flatMap((session) =>
      rowProblems(rowsAfterKill.get(session.sessionId), session).map((problem) => `${session.sessionId}: ${problem}`),
    );
    expect(problems).toEqual([]);
    expect([...rowsAfterKill.values()].filter((row) => row.endedAt !== null)).toEqual([]);
  });

  test("after the restart every session continues with one lineage", async () => {
    const results = await Promise.all(sessions.map((session) => verifyAfterRestart(keyway!.url, session)));
    const problems = results.flatMap((result, index) =>
      result.problems.map((problem) => `${sessions[index].sessionId}: ${problem}`),
    );
    expect(problems).toEqual([]);
    // The database agrees: each session's head is the token both forks converged on.
    const rows = await readRows(cluster.url);
    for (const [index, session] of sessions.entries()) {
      const row = rows.get(session.sessionId);
      expect({ id: session.sessionId, head: row?.tokenHash, endedAt: row?.endedAt }).toEqual({
        id: session.sessionId,
        head: hashOf(results[index].current!),
        endedAt: null,
      });
    }
  });
});

async function readRows(url: string): Promise<Map<string, SessionRow>> {
  const client = new Client({ connectionString: url });
  await client.connect();
  try {
    const { rows } = await client.query<SessionRow>(SESSION_ROWS_SQL);
    return new Map(rows.map((row) => [row.id, row]));
  } finally {
    await client.end();
  }
}
