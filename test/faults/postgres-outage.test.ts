// PostgreSQL stopped for ten seconds under steady load: keyway answers 503
// SERVICE_UNAVAILABLE quickly instead of hanging, /readyz says 503, the process
// survives, and full service returns within two seconds of PostgreSQL's return,
// with no restart. The cluster is the test's own, so this runs in both CI passes.
//
// The load's callers call `me` all the time, so their users are in keyway's 30 s
// in-process user cache and their `me` never needs the database. One more caller
// signs up before the outage and calls `me` for the first time in the middle of
// it: that `me` must read the database, and so must answer 503.
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import path from "node:path";
import { DEFAULT_PASSWORD, LOGIN, REFRESH_HEADER, REFRESH_TOKEN, signUp, type Account } from "../helpers/auth";
import {
  LOAD_PROXY_ENV,
  loadAddress,
  pause,
  runUserLoop,
  signUpLoadUsers,
  timedGraphQL,
  timedMe,
  timedReadyz,
  type CallResult,
  type Sample,
} from "../helpers/fault-load";
import { createPgCluster, waitForConnections, type PgCluster } from "../helpers/pg-cluster";
import { startKeyway, stopKeyway, type KeywayProcess } from "../helpers/process";

const USERS = 16;
const OUTAGE_MS = 10_000;
// keyway's bound on a request that needs the database while it is gone: the pool's
// 2 s connection timeout (src/db/client.ts), or its 5 s client-side query timeout
// for a query whose connection dies under it without a reset. The margin absorbs argon2 and
// event-loop queueing on a loaded 2-core machine; a hang would run to the cut-off.
const CONFIGURED_TIMEOUT_MS = 5_000;
const MARGIN_MS = 1_500;
const CUT_OFF_MS = 20_000;
// The contract's bound on recovery; the margin covers one login (argon2) under load.
const RECOVERY_BOUND_MS = 2_000;
const RECOVERY_MARGIN_MS = 500;

jest.setTimeout(90_000);

describe("PostgreSQL stopped for ten seconds under load", () => {
  let cluster: PgCluster;
  let dataDir: string | undefined;
  let keyway: KeywayProcess;
  const samples: Sample[] = [];
  const readiness: Sample[] = [];
  /** When the stop was asked for; `stoppedAt` is when pg_ctl said it was done. */
  let stoppingAt = 0;
  let stoppedAt = 0;
  let restartingAt = 0;
  let acceptingAt = 0;
  let recoveredAt = 0;
  /** Signed up before the outage; its first `me` comes during it, its second after recovery. */
  let uncached: Account;
  let uncachedDuring: CallResult;
  let uncachedAfter: CallResult;

  beforeAll(async () => {
    cluster = await createPgCluster();
    await cluster.start();
    keyway = await startKeyway({
      DATABASE_URL: cluster.url,
      DATA_DIR: (dataDir = await mkdtemp(path.join(tmpdir(), "keyway-outage-"))),
      AUTH_IP_LIMIT: "1000000/1m",
      LOGIN_ATTEMPTS_LIMIT: "1000000/1m",
      ...LOAD_PROXY_ENV,
    }).catch(async (error: unknown) => {
      await cluster.destroy();
      throw error;
    });
    const users = await signUpLoadUsers(keyway.url, USERS);
    uncached = await signUp(keyway.url);

    let stopping = false;
    const loops = users.map((user) => runUserLoop(keyway.url, user, samples, () => stopping, CUT_OFF_MS));
    const probeReadiness = (async () => {
      while (!stopping) {
        readiness.push(await timedReadyz(keyway.url, CUT_OFF_MS));
        await pause(200);
      }
    })();

    await pause(2_000);
    stoppingAt = Date.now();
    await cluster.stop("immediate");
    stoppedAt = Date.now();
    const firstMe = pause(OUTAGE_MS / 2).then(() => timedMe(keyway.url, uncached.accessToken, CUT_OFF_MS));
    await pause(OUTAGE_MS);
    uncachedDuring = await firstMe;
    restartingAt = Date.now();
    await cluster.start();
    await waitForConnections(cluster.url);
    acceptingAt = Date.now();
    recoveredAt = await firstFullService(keyway.url, users[0].email);
    uncachedAfter = await timedMe(keyway.url, uncached.accessToken, CUT_OFF_MS);
    samples.push(uncachedDuring.sample, uncachedAfter.sample);
    await pause(1_000);
    stopping = true;
    await Promise.all([...loops, probeReadiness]);
    const during = samples.filter((sample) => sample.startedAt >= stoppedAt && sample.endedAt <= restartingAt);
    console.log(
      `postgres outage: ${samples.length} requests, ${during.length} during the outage, ` +
        `max latency during outage ${Math.max(...during.map(latency))} ms, ` +
        `max latency overall ${Math.max(...samples.map(latency))} ms, ` +
        `recovery ${recoveredAt - acceptingAt} ms after PostgreSQL accepted connections`,
    );
  });

  afterAll(async () => {
    if (keyway) await stopKeyway(keyway);
    await cluster?.destroy();
    if (dataDir) await rm(dataDir, { recursive: true, force: true });
  });

  const latency = (sample: Sample) => sample.endedAt - sample.startedAt;

  test("every request completes within the configured timeout", () => {
    const slow = samples.filter((sample) => latency(sample) > CONFIGURED_TIMEOUT_MS + MARGIN_MS || sample.status === 0);
    expect(slow).toEqual([]);
  });

  test("requests that need the database answer 503 SERVICE_UNAVAILABLE during the outage", () => {
    const during = samples.filter(
      (sample) => sample.op !== "me" && sample.startedAt >= stoppedAt && sample.endedAt <= restartingAt,
    );
    expect(during.length).toBeGreaterThan(USERS);
    const answers = new Set(during.map((sample) => `${sample.status} ${sample.code}`));
    expect([...answers]).toEqual(["503 SERVICE_UNAVAILABLE"]);
  });

  test("me with an access token issued before the outage is never refused as unauthenticated", () => {
    const me = samples.filter((sample) => sample.op === "me");
    const during = me.filter((sample) => sample.startedAt >= stoppedAt && sample.endedAt <= restartingAt);
    expect(during.length).toBeGreaterThan(0);
    for (const sample of me)
      expect(["200 undefined", "503 SERVICE_UNAVAILABLE"]).toContain(`${sample.status} ${sample.code}`);
    // Once the database is back, the same tokens work again: nobody was logged out.
    const after = me.filter((sample) => sample.startedAt >= recoveredAt);
    expect(after.length).toBeGreaterThan(0);
    expect(after.every((sample) => sample.status === 200)).toBe(true);
  });

  test("me for a caller whose user was never cached answers 503 SERVICE_UNAVAILABLE during the outage, and works after it", () => {
    expect(uncachedDuring.sample.startedAt).toBeGreaterThanOrEqual(stoppedAt);
    // Answered before PostgreSQL was even asked to start again (restartingAt follows this call by construction).
    expect(uncachedDuring.sample.endedAt).toBeLessThanOrEqual(stoppedAt + OUTAGE_MS);
    expect(`${uncachedDuring.sample.status} ${uncachedDuring.sample.code}`).toBe("503 SERVICE_UNAVAILABLE");
    expect(uncachedAfter.sample.status).toBe(200);
    expect(uncachedAfter.body?.data?.me).toMatchObject({ id: uncached.userId, email: uncached.email });
  });

  test("/readyz answers 503 while PostgreSQL is down and 200 before and after", () => {
    const during = readiness.filter((sample) => sample.startedAt >= stoppedAt + 500 && sample.endedAt <= restartingAt);
    expect(during.length).toBeGreaterThan(10);
    expect(during.every((sample) => sample.status === 503)).toBe(true);
    // Before the stop was even asked for (a probe answered while pg_ctl was stopping the server may rightly say 503).
    expect(readiness.filter((sample) => sample.endedAt < stoppingAt).every((sample) => sample.status === 200)).toBe(
      true,
    );
    expect(readiness.filter((sample) => sample.startedAt > recoveredAt).every((sample) => sample.status === 200)).toBe(
      true,
    );
  });

  test("full service returns within two seconds of PostgreSQL accepting connections", () => {
    expect(recoveredAt - acceptingAt).toBeLessThanOrEqual(RECOVERY_BOUND_MS + RECOVERY_MARGIN_MS);
  });

  test("the process never crashed", () => {
    expect(keyway.child.exitCode).toBeNull();
    expect(keyway.child.signalCode).toBeNull();
    expect(keyway.stderr()).toBe("");
  });
});

/** When a login followed by a refresh first both succeed; tries back to back. */
async function firstFullService(url: string, email: string): Promise<number> {
  const deadline = Date.now() + 30_000;
  while (Date.now() < deadline) {
    const login = await timedGraphQL(url, "login", LOGIN, {
      variables: { input: { email, password: DEFAULT_PASSWORD } },
      // A client of its own, as whoever checks that service is back would be.
      headers: { [REFRESH_HEADER]: "1", "x-forwarded-for": loadAddress(USERS + 1) },
      cutOffMs: CUT_OFF_MS,
    });
    const token = login.headers?.get(REFRESH_HEADER);
    if (login.sample.status === 200 && token) {
      const refresh = await timedGraphQL(url, "refreshToken", REFRESH_TOKEN, {
        headers: { [REFRESH_HEADER]: token, "x-forwarded-for": loadAddress(USERS + 1) },
        cutOffMs: CUT_OFF_MS,
      });
      if (refresh.sample.status === 200) return refresh.sample.endedAt;
    }
    await pause(20);
  }
  throw new Error("keyway did not return to full service within 30 s of PostgreSQL's return");
}
