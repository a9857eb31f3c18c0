// Several keyway instances on one PostgreSQL (API.md, "Several instances"): with
// REDIS_URL an ended session's access tokens are refused everywhere within 1 s,
// refresh rotation and login throttling hold across instances, and without Redis
// (or while it is down) the database poll still spreads revocations; WORKERS=n
// gives the same guarantees between the workers of one process.
//
// Needs a real PostgreSQL in both test modes (TEST_DATABASE_URL, else the local
// server) and the machine's Redis on 127.0.0.1:6379; the outage tests run a
// redis-server of their own. Every Redis key and channel lives under a prefix
// unique to this run.
import { execFileSync, spawn, type ChildProcess } from "node:child_process";
import { generateKeyPairSync, randomUUID } from "node:crypto";
import { mkdtempSync, rmSync } from "node:fs";
import http from "node:http";
import { tmpdir } from "node:os";
import path from "node:path";
import Redis from "ioredis";
import { Client } from "pg";
import {
  DEFAULT_PASSWORD,
  LOGIN,
  LOGOUT,
  ME,
  REFRESH_HEADER,
  REFRESH_TOKEN,
  SIGN_UP,
  login,
  signUp,
  tokensOf,
  uniqueEmail,
} from "../helpers/auth";
import { createTestDatabase, type TestDatabase } from "../helpers/database";
import { freePort } from "../helpers/net";
import { callGraphQL, errorOf, type GraphQLCallOptions, type GraphQLResponse } from "../helpers/http";
import { startKeyway, stopKeyway, type KeywayProcess } from "../helpers/process";

const SHARED_REDIS_URL = "redis://127.0.0.1:6379";
const PREFIX = `kwtest-${randomUUID()}:`;
const JWT_PRIVATE_KEY = generateKeyPairSync("ec", { namedCurve: "P-256" })
  .privateKey.export({ type: "pkcs8", format: "pem" })
  .toString();
const WRONG_PASSWORD = "not the right password";
const CLEARLY_NOT_POLLING = "60s";

let database: TestDatabase;
beforeAll(async () => {
  database = await createTestDatabase({ kind: "postgres" });
  // Migrate once here, so instances started together do not all queue on the migration lock.
  const migrator = await startKeyway(baseEnv({}));
  expect(await stopKeyway(migrator)).toBe(0);
}, 60_000);
afterAll(async () => {
  await database?.drop();
  await deleteSharedRedisKeys();
});

function baseEnv(extra: Record<string, string>): Record<string, string> {
  return {
    DATABASE_URL: database.url!,
    DATA_DIR: database.dataDir,
    JWT_PRIVATE_KEY,
    AUTH_IP_LIMIT: "1000000/1m",
    REDIS_KEY_PREFIX: PREFIX,
    ...extra,
  };
}

const startAll = (count: number, env: Record<string, string>) =>
  Promise.all(Array.from({ length: count }, () => startKeyway(baseEnv(env))));
const stopAll = (instances: Array<KeywayProcess | undefined>) =>
  Promise.all(instances.map((instance) => (instance ? stopKeyway(instance) : Promise.resolve())));

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/** The ids of the workers that logged this GraphQL operation at or after `since`. */
const workersThatServed = (instance: KeywayProcess, operation: string, since: number) =>
  new Set(
    instance.logs
      .filter(
        (line) => line.msg === "request" && line.operation === operation && Date.parse(String(line.time)) >= since,
      )
      .map((line) => line.worker),
  );

async function waitFor<T>(
  what: string,
  probe: () => Promise<T>,
  done: (value: T) => boolean,
  timeoutMs: number,
  everyMs = 50,
): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await probe().catch((error: unknown) => error as T);
    if (done(value)) return value;
    if (Date.now() > deadline)
      throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}; last: ${JSON.stringify(value)}`);
    await sleep(everyMs);
  }
}

type Call = (baseUrl: string, query: string, options?: GraphQLCallOptions) => Promise<GraphQLResponse>;
/** "OK", or the refusal's reason or code, or the HTTP status. */
type MeOutcome = string;
async function meOutcome(url: string, accessToken: string, call: Call = callGraphQL): Promise<MeOutcome> {
  const response = await call(url, ME, { accessToken });
  if (response.body.data?.me) return "OK";
  const { reason, code } = errorOf(response) ?? {};
  return typeof reason === "string" ? reason : typeof code === "string" ? code : `HTTP ${response.status}`;
}

/**
 * Polls `me` with the token every `everyMs` until it is refused as SESSION_ENDED;
 * resolves with the milliseconds since `since`, or Infinity after `giveUpMs`.
 * Any answer other than OK or SESSION_ENDED fails.
 */
async function msUntilSessionEnded(
  url: string,
  accessToken: string,
  since: number,
  giveUpMs: number,
  everyMs = 50,
): Promise<number> {
  for (;;) {
    const outcome = await meOutcome(url, accessToken);
    const elapsed = Date.now() - since;
    if (outcome === "SESSION_ENDED") return elapsed;
    expect(outcome).toBe("OK");
    if (elapsed > giveUpMs) return Infinity;
    await sleep(everyMs);
  }
}

const logout = (url: string, options: GraphQLCallOptions) => callGraphQL(url, LOGOUT, options);
const callLogin = (url: string, email: string, password: string, call: Call = callGraphQL) =>
  call(url, LOGIN, { variables: { input: { email, password } } });
const reasonOf = (response: GraphQLResponse) => errorOf(response)?.reason ?? errorOf(response)?.code;

async function sessionGeneration(sessionId: string): Promise<number> {
  const client = new Client({ connectionString: database.url });
  await client.connect();
  try {
    const { rows } = await client.query<{ generation: number }>('SELECT generation FROM "Session" WHERE id = $1', [
      sessionId,
    ]);
    return rows[0].generation;
  } finally {
    await client.end();
  }
}

const readyz = (url: string): Promise<{ status: number; body: { redis?: string; database?: string } }> =>
  fetchJson(`${url}/readyz`);
async function fetchJson(url: string): Promise<{ status: number; body: Record<string, string> }> {
  const response = await fetch(url);
  return { status: response.status, body: (await response.json()) as Record<string, string> };
}
const metricsText = async (url: string) => (await fetch(`${url}/metrics`)).text();
const waitForRedisState = (instances: KeywayProcess[], state: "up" | "down", timeoutMs: number) =>
  Promise.all(
    instances.map((instance) =>
      waitFor(
        `redis ${state} on ${instance.url}`,
        () => readyz(instance.url),
        (r) => r.body?.redis === state,
        timeoutMs,
      ),
    ),
  );

const logMessages = (instance: KeywayProcess, prefix: string) =>
  instance.logs.filter((line) => String(line.msg).startsWith(prefix));

/**
 * GraphQL over a connection of its own, closed after the answer: with WORKERS=n the
 * primary hands each new connection to the next worker, so a keep-alive connection
 * would pin every request to one worker.
 */
function callOnFreshConnection(
  baseUrl: string,
  query: string,
  options: GraphQLCallOptions = {},
): Promise<GraphQLResponse> {
  const { hostname, port } = new URL(baseUrl);
  const body = JSON.stringify({ query, variables: options.variables });
  const headers: Record<string, string> = {
    "content-type": "application/json",
    "content-length": String(Buffer.byteLength(body)),
    connection: "close",
    ...options.headers,
  };
  if (options.accessToken) headers.authorization = `Bearer ${options.accessToken}`;
  if (options.cookie) headers.cookie = options.cookie;
  return new Promise((resolve, reject) => {
    const request = http.request(
      { host: hostname, port, path: "/graphql", method: "POST", headers, agent: false },
      (response) => {
        const chunks: Buffer[] = [];
        response.on("data", (chunk: Buffer) => chunks.push(chunk));
        response.on("end", () => {
          const answerHeaders = new Headers();
          for (const [name, value] of Object.entries(response.headers)) {
            for (const item of Array.isArray(value) ? value : value === undefined ? [] : [value])
              answerHeaders.append(name, item);
          }
          resolve({
            status: response.statusCode ?? 0,
            body: JSON.parse(Buffer.concat(chunks).toString("utf8")),
            headers: answerHeaders,
            setCookies: response.headers["set-cookie"] ?? [],
          });
        });
        response.on("error", reject);
      },
    );
    request.on("error", reject);
    request.end(body);
  });
}

async function deleteSharedRedisKeys(): Promise<void> {
  const redis = new Redis(SHARED_REDIS_URL, { lazyConnect: true, maxRetriesPerRequest: 1, retryStrategy: () => null });
  try {
    await redis.connect();
    let cursor = "0";
    do {
      const [next, keys] = await redis.scan(cursor, "MATCH", `${PREFIX}*`, "COUNT", 1000);
      if (keys.length > 0) await redis.del(...keys);
      cursor = next;
    } while (cursor !== "0");
  } catch {
    // Nothing to clean if the shared Redis is gone; keys expire with their windows anyway.
  } finally {
    redis.disconnect();
  }
}

describe("three instances on one PostgreSQL and Redis", () => {
  let a: KeywayProcess, b: KeywayProcess, c: KeywayProcess;
  beforeAll(async () => {
    [a, b, c] = await startAll(3, {
      REDIS_URL: SHARED_REDIS_URL,
      REVOCATION_POLL_INTERVAL: CLEARLY_NOT_POLLING,
      LOGIN_ATTEMPTS_LIMIT: "4/15m",
    });
    await waitForRedisState([a, b, c], "up", 10_000);
  }, 60_000);
  afterAll(() => stopAll([a, b, c]));

  it("reports Redis as up in /readyz and /metrics", async () => {
    for (const instance of [a, b, c]) {
      expect(await readyz(instance.url)).toEqual({
        status: 200,
        body: expect.objectContaining({ status: "ok", database: "up", redis: "up" }),
      });
      expect(await metricsText(instance.url)).toMatch(/^keyway_redis_up 1$/m);
    }
  });

  it("a logout on C ends the session's access tokens on A and B within 1 s (Redis only: the poll is 60 s)", async () => {
    const account = await signUp(a.url);
    const session = await login(a.url, account.email, account.password);
    const refreshed = await callGraphQL(b.url, REFRESH_TOKEN, { cookie: session.cookie });
    const rotated = tokensOf(refreshed, "refreshToken");
    expect(rotated.sessionId).toBe(session.sessionId);
    for (const instance of [a, b, c]) {
      expect(await meOutcome(instance.url, session.accessToken)).toBe("OK");
      expect(await meOutcome(instance.url, rotated.accessToken)).toBe("OK");
    }

    const loggedOutAt = Date.now();
    const answer = await logout(c.url, { cookie: rotated.cookie });
    expect(answer.body).toEqual({ data: { logout: true } });
    const delays = await Promise.all(
      [a, b].map((instance) => msUntilSessionEnded(instance.url, session.accessToken, loggedOutAt, 3_000)),
    );
    console.log(
      `revocation with Redis: A after ${delays[0]} ms, B after ${delays[1]} ms (from the start of logout on C)`,
    );
    for (const delay of delays) expect(delay).toBeLessThan(1_000);

    for (const instance of [a, b, c]) expect(await meOutcome(instance.url, rotated.accessToken)).toBe("SESSION_ENDED");
    // Another session of the same user lives on everywhere.
    for (const instance of [a, b]) expect(await meOutcome(instance.url, account.accessToken)).toBe("OK");
  });

  it("one refresh token presented to A and B at once rotates exactly once; a grandparent on B is reuse", async () => {
    const cookieless = { headers: { [REFRESH_HEADER]: "1" } };
    const account = await signUp(a.url, uniqueEmail("race"), DEFAULT_PASSWORD, cookieless);
    const answers = await Promise.all(
      Array.from({ length: 10 }, (_, i) =>
        callGraphQL([a, b][i % 2].url, REFRESH_TOKEN, { headers: { [REFRESH_HEADER]: account.refreshToken } }),
      ),
    );
    for (const answer of answers) expect(answer.body.errors).toBeUndefined();
    const handedOut = new Set(answers.map((answer) => answer.headers.get(REFRESH_HEADER)));
    expect(handedOut.size).toBe(1);
    expect(handedOut.has(account.refreshToken)).toBe(false);
    expect(await sessionGeneration(account.sessionId)).toBe(1);

    // Two rotations on A, then the first token on B: an older generation, at any time, is theft.
    const t0 = await login(a.url, account.email, account.password, cookieless);
    const t1 = await callGraphQL(a.url, REFRESH_TOKEN, { headers: { [REFRESH_HEADER]: t0.refreshToken } }).then((r) =>
      tokensOf(r, "refreshToken"),
    );
    const t2 = await callGraphQL(a.url, REFRESH_TOKEN, { headers: { [REFRESH_HEADER]: t1.refreshToken } }).then((r) =>
      tokensOf(r, "refreshToken"),
    );
    expect(await sessionGeneration(t0.sessionId)).toBe(2);
    const replayedAt = Date.now();
    const replay = await callGraphQL(b.url, REFRESH_TOKEN, { headers: { [REFRESH_HEADER]: t0.refreshToken } });
    expect(errorOf(replay)).toEqual({ code: "UNAUTHENTICATED", reason: "REFRESH_TOKEN_REUSED" });
    // The theft ended the session on B; A, which issued its tokens, refuses them too.
    expect(await msUntilSessionEnded(a.url, t2.accessToken, replayedAt, 3_000)).toBeLessThan(1_000);
    expect(
      errorOf(await callGraphQL(a.url, REFRESH_TOKEN, { headers: { [REFRESH_HEADER]: t2.refreshToken } })),
    ).toEqual({
      code: "UNAUTHENTICATED",
      reason: "REFRESH_TOKEN_INVALID",
    });
  });

  it("counts failed logins spread over A, B and C as one (LOGIN_ATTEMPTS_LIMIT=4/15m)", async () => {
    const account = await signUp(a.url);
    for (const instance of [a, b, c, a])
      expect(errorOf(await callLogin(instance.url, account.email, WRONG_PASSWORD))?.reason).toBe("INVALID_CREDENTIALS");
    for (const instance of [b, c, a]) {
      const refused = await callLogin(instance.url, account.email, account.password);
      expect(errorOf(refused)?.code).toBe("RATE_LIMITED");
      expect(refused.body.errors?.[0]?.extensions?.retryAfter).toBeGreaterThan(0);
    }
  });
});

describe("two instances without Redis (REVOCATION_POLL_INTERVAL=1s)", () => {
  let a: KeywayProcess, b: KeywayProcess;
  beforeAll(async () => {
    [a, b] = await startAll(2, { REVOCATION_POLL_INTERVAL: "1s" });
  }, 60_000);
  afterAll(() => stopAll([a, b]));

  it("a logout on A is refused on B within about one poll interval", async () => {
    for (const instance of [a, b]) {
      expect((await readyz(instance.url)).body).toMatchObject({ database: "up", redis: "disabled" });
      expect(await metricsText(instance.url)).not.toMatch(/keyway_redis_up/);
    }
    const account = await signUp(a.url);
    expect(await meOutcome(b.url, account.accessToken)).toBe("OK");
    const loggedOutAt = Date.now();
    expect((await logout(a.url, { cookie: account.cookie })).body).toEqual({ data: { logout: true } });
    const delay = await msUntilSessionEnded(b.url, account.accessToken, loggedOutAt, 10_000);
    console.log(`revocation without Redis (poll 1 s): B after ${delay} ms`);
    expect(delay).toBeLessThan(3_000);
  });
});

/** A redis-server of this test's own, to stop and restart at will. */
class OwnRedis {
  child: ChildProcess | null = null;
  readonly dir = mkdtempSync(path.join(tmpdir(), "keyway-redis-"));
  constructor(readonly port: number) {}
  get url() {
    return `redis://127.0.0.1:${this.port}`;
  }

  async start(): Promise<void> {
    const child = spawn(
      "redis-server",
      ["--port", String(this.port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no", "--dir", this.dir],
      {
        stdio: "ignore",
      },
    );
    this.child = child;
    await waitFor(
      `redis-server on ${this.port}`,
      () => this.command("PING"),
      (reply) => reply === "PONG",
      10_000,
    );
    // Answered by ours, not by something else that took the port meanwhile.
    expect(child.exitCode).toBeNull();
  }

  async stop(signal: NodeJS.Signals = "SIGKILL"): Promise<void> {
    const child = this.child;
    if (!child || child.exitCode !== null || child.signalCode !== null) return;
    const exited = new Promise((resolve) => child.once("exit", resolve));
    child.kill(signal);
    await exited;
    this.child = null;
  }

  async command(...args: Array<string | number>): Promise<unknown> {
    const client = new Redis({
      port: this.port,
      host: "127.0.0.1",
      lazyConnect: true,
      maxRetriesPerRequest: 0,
      retryStrategy: () => null,
    });
    client.on("error", () => undefined);
    try {
      await client.connect();
      return await client.call(String(args[0]), ...args.slice(1).map(String));
    } finally {
      client.disconnect();
    }
  }

  async dispose(): Promise<void> {
    await this.stop("SIGKILL");
    rmSync(this.dir, { recursive: true, force: true });
  }
}

describe("a Redis outage (own redis-server, REVOCATION_POLL_INTERVAL=2s)", () => {
  let redis: OwnRedis;
  let a: KeywayProcess, b: KeywayProcess;
  const prefix = `${PREFIX}outage:`;
  beforeAll(async () => {
    redis = new OwnRedis(await freePort());
    await redis.start();
    [a, b] = await startAll(2, {
      REDIS_URL: redis.url,
      REDIS_KEY_PREFIX: prefix,
      REVOCATION_POLL_INTERVAL: "2s",
      LOGIN_ATTEMPTS_LIMIT: "3/15m",
    });
    await waitForRedisState([a, b], "up", 10_000);
  }, 60_000);
  afterAll(async () => {
    await stopAll([a, b]);
    await redis?.dispose();
  });

  it("keeps serving on both instances while Redis is down, then shares state again once it is back", async () => {
    const instances = [a, b];
    const channel = `${prefix}sessions-ended`;
    expect(await redis.command("PUBSUB", "NUMSUB", channel)).toEqual([channel, 2]);
    const before = await signUp(a.url);
    for (const instance of instances) expect(logMessages(instance, "redis is down")).toHaveLength(0);

    await redis.stop("SIGKILL");
    await waitForRedisState(instances, "down", 5_000);

    // Every call a client makes still succeeds, on both instances, and readiness holds.
    for (const instance of instances) {
      expect(await readyz(instance.url)).toEqual({
        status: 200,
        body: expect.objectContaining({ status: "ok", redis: "down" }),
      });
      expect(await metricsText(instance.url)).toMatch(/^keyway_redis_up 0$/m);
      expect(await meOutcome(instance.url, before.accessToken)).toBe("OK");
      const session = await login(instance.url, before.email, before.password);
      const rotated = tokensOf(
        await callGraphQL(instance.url, REFRESH_TOKEN, { cookie: session.cookie }),
        "refreshToken",
      );
      for (const other of instances) expect(await meOutcome(other.url, rotated.accessToken)).toBe("OK");
    }

    // Limits fall back to each instance: A counts A's failures on its own.
    const throttled = await signUp(a.url);
    for (let i = 0; i < 3; i++)
      expect(reasonOf(await callLogin(a.url, throttled.email, WRONG_PASSWORD))).toBe("INVALID_CREDENTIALS");
    expect(reasonOf(await callLogin(a.url, throttled.email, throttled.password))).toBe("RATE_LIMITED");

    // Revocations still spread, through the database poll.
    const ending = await login(a.url, before.email, before.password);
    expect(await meOutcome(b.url, ending.accessToken)).toBe("OK");
    const loggedOutAt = Date.now();
    expect((await logout(a.url, { cookie: ending.cookie })).body).toEqual({ data: { logout: true } });
    const delay = await msUntilSessionEnded(b.url, ending.accessToken, loggedOutAt, 10_000);
    console.log(`revocation while Redis is down (poll 2 s): B after ${delay} ms`);
    expect(delay).toBeLessThan(5_000);

    for (const instance of instances) {
      expect((await readyz(instance.url)).status).toBe(200);
      expect(logMessages(instance, "redis is down")).toHaveLength(1);
      expect(logMessages(instance, "redis is down")[0]).toMatchObject({ level: 40 });
    }

    // Back on the same port, empty: both instances reconnect and subscribe again.
    await redis.start();
    await waitForRedisState(instances, "up", 15_000);
    await waitFor(
      "both instances subscribed again",
      () => redis.command("PUBSUB", "NUMSUB", channel),
      (reply) => JSON.stringify(reply) === JSON.stringify([channel, 2]),
      5_000,
    );
    for (const instance of instances) {
      expect(await metricsText(instance.url)).toMatch(/^keyway_redis_up 1$/m);
      expect(logMessages(instance, "redis is down")).toHaveLength(1);
      expect(logMessages(instance, "redis is up")).toHaveLength(2);
      expect(logMessages(instance, "redis is not reachable")).toHaveLength(0);
    }

    // Failed logins spread over A and B are counted together again.
    const account = await signUp(b.url);
    for (const instance of [a, b, a])
      expect(reasonOf(await callLogin(instance.url, account.email, WRONG_PASSWORD))).toBe("INVALID_CREDENTIALS");
    expect(reasonOf(await callLogin(b.url, account.email, account.password))).toBe("RATE_LIMITED");
    expect(await redis.command("EXISTS", `${prefix}rl:login-fail:${account.email}|127.0.0.1`)).toBe(1);

    // And ended sessions are published on the channel again.
    const listener = new Redis({
      port: redis.port,
      host: "127.0.0.1",
      maxRetriesPerRequest: 0,
      retryStrategy: () => null,
    });
    try {
      const heard: string[] = [];
      listener.on("message", (_channel: string, message: string) => heard.push(message));
      await listener.subscribe(channel);
      const ending2 = await login(a.url, before.email, before.password);
      expect((await logout(a.url, { cookie: ending2.cookie })).body).toEqual({ data: { logout: true } });
      await waitFor(
        "the ended session on the channel",
        async () => heard,
        (messages) => messages.includes(ending2.sessionId),
        2_000,
      );
    } finally {
      listener.disconnect();
    }
  }, 60_000);

  it("reports a hung Redis (open connection, no answers) as down and stops waiting on it, then recovers", async () => {
    const instances = [a, b];
    await waitForRedisState(instances, "up", 15_000);
    const account = await signUp(a.url);
    redis.child!.kill("SIGSTOP");
    try {
      await waitForRedisState(instances, "down", 6_000);
      for (const instance of instances) {
        expect(await metricsText(instance.url)).toMatch(/^keyway_redis_up 0$/m);
        const session = await login(instance.url, account.email, account.password);
        expect(await meOutcome(instance.url, session.accessToken)).toBe("OK");
      }
    } finally {
      redis.child!.kill("SIGCONT");
    }
    await waitForRedisState(instances, "up", 10_000);
  }, 60_000);
});

describe("WORKERS=2: two workers of one process on one port, with Redis", () => {
  let keyway: KeywayProcess;
  const fresh = callOnFreshConnection;
  beforeAll(async () => {
    keyway = await startKeyway(
      baseEnv({
        WORKERS: "2",
        REDIS_URL: SHARED_REDIS_URL,
        REDIS_KEY_PREFIX: `${PREFIX}cluster:`,
        REVOCATION_POLL_INTERVAL: CLEARLY_NOT_POLLING,
        LOGIN_ATTEMPTS_LIMIT: "4/15m",
      }),
    );
    await waitFor(
      "two listening workers, both connected to Redis",
      async () => keyway.logs,
      (logs) => {
        const workersWith = (msg: string) =>
          new Set(logs.filter((line) => String(line.msg).startsWith(msg)).map((line) => line.worker)).size;
        return workersWith("keyway is listening") === 2 && workersWith("redis is up") === 2;
      },
      30_000,
    );
  }, 60_000);
  afterAll(async () => {
    if (keyway?.child.exitCode === null) await stopKeyway(keyway);
  });

  it("every request after a logout is refused within 1 s, whichever worker answers", async () => {
    const cookieless = { headers: { [REFRESH_HEADER]: "1" } };
    const account = tokensOf(
      await fresh(keyway.url, SIGN_UP, {
        ...cookieless,
        variables: { input: { email: uniqueEmail("workers"), password: DEFAULT_PASSWORD } },
      }),
      "signUp",
    );
    const warmedAt = Date.now();
    for (let i = 0; i < 4; i++) expect(await meOutcome(keyway.url, account.accessToken, fresh)).toBe("OK");
    await sleep(100); // the request log line is written after the answer
    expect(workersThatServed(keyway, "Me", warmedAt - 1000).size).toBe(2);

    const loggedOutAt = Date.now();
    expect((await fresh(keyway.url, LOGOUT, { headers: { [REFRESH_HEADER]: account.refreshToken } })).body).toEqual({
      data: { logout: true },
    });
    const answers: Array<{ at: number; outcome: MeOutcome }> = [];
    while (Date.now() - loggedOutAt < 1_500) {
      const startedAt = Date.now() - loggedOutAt;
      answers.push({ at: startedAt, outcome: await meOutcome(keyway.url, account.accessToken, fresh) });
      await sleep(40);
    }
    const accepted = answers.filter((answer) => answer.outcome === "OK");
    console.log(
      `WORKERS=2: ${answers.length} requests after logout, ${accepted.length} accepted, last accepted at ${accepted.at(-1)?.at ?? "-"} ms`,
    );
    for (const answer of answers) expect(["OK", "SESSION_ENDED"]).toContain(answer.outcome);
    expect(accepted.every((answer) => answer.at < 1_000)).toBe(true);
    expect(answers.filter((answer) => answer.at >= 1_000).length).toBeGreaterThanOrEqual(4);
    await sleep(100);
    expect(workersThatServed(keyway, "Me", loggedOutAt).size).toBe(2);
  });

  it("concurrent refreshes over both workers rotate once", async () => {
    const account = tokensOf(
      await fresh(keyway.url, SIGN_UP, {
        headers: { [REFRESH_HEADER]: "1" },
        variables: { input: { email: uniqueEmail("wrace"), password: DEFAULT_PASSWORD } },
      }),
      "signUp",
    );
    const startedAt = Date.now();
    const answers = await Promise.all(
      Array.from({ length: 10 }, () =>
        fresh(keyway.url, REFRESH_TOKEN, { headers: { [REFRESH_HEADER]: account.refreshToken } }),
      ),
    );
    for (const answer of answers) expect(answer.body.errors).toBeUndefined();
    const handedOut = new Set(answers.map((answer) => answer.headers.get(REFRESH_HEADER)));
    expect(handedOut.size).toBe(1);
    expect(handedOut.has(account.refreshToken)).toBe(false);
    expect(await sessionGeneration(account.sessionId)).toBe(1);
    await sleep(100);
    expect(workersThatServed(keyway, "Refresh", startedAt).size).toBe(2);
  });

  it("counts failed logins over both workers as one (LOGIN_ATTEMPTS_LIMIT=4/15m)", async () => {
    const email = uniqueEmail("wlimit");
    tokensOf(
      await fresh(keyway.url, SIGN_UP, {
        headers: { [REFRESH_HEADER]: "1" },
        variables: { input: { email, password: DEFAULT_PASSWORD } },
      }),
      "signUp",
    );
    const startedAt = Date.now();
    for (let i = 0; i < 4; i++)
      expect(reasonOf(await callLogin(keyway.url, email, WRONG_PASSWORD, fresh))).toBe("INVALID_CREDENTIALS");
    await sleep(100);
    expect(workersThatServed(keyway, "Login", startedAt).size).toBe(2);
    for (let i = 0; i < 2; i++)
      expect(reasonOf(await callLogin(keyway.url, email, DEFAULT_PASSWORD, fresh))).toBe("RATE_LIMITED");
  });

  it("SIGTERM to the primary stops both workers and exits 0", async () => {
    const primary = keyway.child.pid!;
    const workers = execFileSync("pgrep", ["-P", String(primary)], { encoding: "utf8" })
      .trim()
      .split("\n")
      .map(Number);
    expect(workers).toHaveLength(2);
    expect(await stopKeyway(keyway)).toBe(0);
    const stopped = keyway.logs.filter((line) => line.msg === "stopped");
    expect(new Set(stopped.map((line) => line.worker ?? "primary"))).toEqual(new Set([1, 2, "primary"]));
    const alive = (pid: number) => {
      try {
        process.kill(pid, 0);
        return true;
      } catch {
        return false;
      }
    };
    await waitFor(
      "the workers to be gone",
      async () => workers.filter(alive),
      (left) => left.length === 0,
      5_000,
    );
    await expect(fetch(`${keyway.url}/healthz`)).rejects.toThrow();
  }, 30_000);
});

describe("WORKERS=2 without Redis: the workers count limits together, in the primary", () => {
  let keyway: KeywayProcess;
  const fresh = callOnFreshConnection;
  beforeAll(async () => {
    keyway = await startKeyway(baseEnv({ WORKERS: "2", LOGIN_ATTEMPTS_LIMIT: "4/15m", AUTH_IP_LIMIT: "12/1m" }));
    await waitFor(
      "two listening workers",
      async () => keyway.logs,
      (logs) =>
        new Set(logs.filter((line) => line.msg === "keyway is listening").map((line) => line.worker)).size === 2,
      30_000,
    );
  }, 60_000);
  afterAll(async () => {
    if (keyway?.child.exitCode === null) await stopKeyway(keyway);
  });

  it("refuses the fifth failed login for an account (LOGIN_ATTEMPTS_LIMIT=4/15m), then the 13th auth call (AUTH_IP_LIMIT=12/1m)", async () => {
    const email = uniqueEmail("wnoredis");
    tokensOf(
      await fresh(keyway.url, SIGN_UP, {
        headers: { [REFRESH_HEADER]: "1" },
        variables: { input: { email, password: DEFAULT_PASSWORD } },
      }),
      "signUp",
    );
    const startedAt = Date.now();
    for (let i = 0; i < 4; i++)
      expect(reasonOf(await callLogin(keyway.url, email, WRONG_PASSWORD, fresh))).toBe("INVALID_CREDENTIALS");
    await sleep(100);
    // Both workers answered, so neither could have counted all four on its own.
    expect(workersThatServed(keyway, "Login", startedAt).size).toBe(2);
    for (let i = 0; i < 2; i++)
      expect(reasonOf(await callLogin(keyway.url, email, DEFAULT_PASSWORD, fresh))).toBe("RATE_LIMITED");
    // Seven calls so far; five more are allowed, the thirteenth is refused whichever worker takes it.
    for (let i = 0; i < 5; i++)
      expect(reasonOf(await callLogin(keyway.url, uniqueEmail("wip"), WRONG_PASSWORD, fresh))).toBe(
        "INVALID_CREDENTIALS",
      );
    for (let i = 0; i < 2; i++)
      expect(reasonOf(await callLogin(keyway.url, uniqueEmail("wip"), WRONG_PASSWORD, fresh))).toBe("RATE_LIMITED");
  });
  it("labels every metric series with the worker that answered the scrape", async () => {
    const workers = new Set<string>();
    for (let i = 0; i < 12 && workers.size < 2; i++) {
      const text = await new Promise<string>((resolve, reject) => {
        const { hostname, port } = new URL(keyway.url);
        http
          .get(
            { host: hostname, port, path: "/metrics", agent: false, headers: { connection: "close" } },
            (response) => {
              let body = "";
              response.on("data", (chunk) => (body += chunk));
              response.on("end", () => resolve(body));
            },
          )
          .on("error", reject);
      });
      const labels = [...text.matchAll(/^keyway_http_requests_total\{[^}]*worker="(\d+)"/gm)].map((match) => match[1]);
      expect(labels.length).toBeGreaterThan(0);
      expect(new Set(labels).size).toBe(1); // one worker's registry per answer
      workers.add(labels[0]);
    }
    expect([...workers].sort()).toEqual(["1", "2"]);
  });
});
