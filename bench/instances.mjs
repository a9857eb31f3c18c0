// Several instances, measured: (a) how long an ended session's access token is still
// accepted by another instance — with Redis (poll 60 s, so only pub/sub counts) and
// without it (the default 2 s database poll); (b) throughput of an authenticated `me`
// with WORKERS=1 and WORKERS=2 (autocannon, 32 connections, 10 s each); (c) how long
// a revoked role is still seen by another instance (`me { roles }`, read through the
// user cache the live grants read), with and without Redis as in (a). In (c) the role
// is revoked through RoleService by a keyway this process opens on the same database
// and Redis (openKeyway, as the CLI and every server build theirs).
//
// Usage: npm run build && node bench/instances.mjs [--trials 100] [--lanes 5] [--duration 10] [--connections 32]
//        [--only revocation,throughput,roles]
// The load generator runs on the same machine: the CPU seconds printed with (b) show
// who used the cores (keyway, autocannon, the rest is mostly PostgreSQL).
// Needs PostgreSQL (BENCH_DATABASE_URL or TEST_DATABASE_URL as the admin URL, else
// postgres://postgres@127.0.0.1:5432/postgres; a fresh database is created and dropped)
// and Redis (REDIS_URL, else redis://127.0.0.1:6379; keys under a unique prefix, removed
// at the end). Everything listens on 127.0.0.1. Prints JSON on stdout, progress on stderr.
import "./lib/ensure-deps.mjs";
import { execFileSync } from "node:child_process";
import { createRequire } from "node:module";
import { generateKeyPairSync, randomUUID } from "node:crypto";
import { mkdtempSync, rmSync } from "node:fs";
import os, { tmpdir } from "node:os";
import path from "node:path";
import { cleanUpOnAbort, cpuSeconds, KEYWAY_LISTENING, killChildren, root, startProcess } from "./lib/processes.mjs";
import { redisUrl, scratch } from "./lib/scratch.mjs";

const { default: autocannon } = await import("autocannon");
const arg = (name, fallback) => {
  const at = process.argv.indexOf(`--${name}`);
  return at === -1 ? fallback : Number(process.argv[at + 1]);
};
const options = {
  trials: arg("trials", 100),
  lanes: arg("lanes", 5),
  duration: arg("duration", 10),
  connections: arg("connections", 32),
  only: new Set(
    (process.argv.includes("--only") ? process.argv[process.argv.indexOf("--only") + 1] : "revocation,throughput,roles")
      .split(",")
      .filter(Boolean),
  ),
};
const HARD_LIMIT_MS = 8 * 60_000;
const POLL_EVERY_MS = 10;
const GIVE_UP_MS = 15_000;

const database = scratch();
const prefix = database.redisPrefix;
const dbName = database.name;
const databaseUrl = database.url;
const dataDir = mkdtempSync(path.join(tmpdir(), "keyway-bench-"));
const jwtKey = generateKeyPairSync("ec", { namedCurve: "P-256" })
  .privateKey.export({ type: "pkcs8", format: "pem" })
  .toString();
const loadAtStart = os.loadavg().map((load) => Math.round(load * 100) / 100);
const log = (...parts) => process.stderr.write(`${parts.join(" ")}\n`);
const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

/** Starts dist/main.js; resolves once `listeners` processes (workers) log that they listen (and reach Redis). */
async function startKeyway(env, listeners = 1) {
  const times = (msg, count) => `(?=(?:[^]*?"msg":"${msg}){${count}})`;
  const ready = new RegExp(
    `^${times("keyway is listening", listeners)}${env.REDIS_URL ? times("redis is up", listeners) : ""}[^]*?${KEYWAY_LISTENING.source}`,
  );
  return startProcess("dist/main.js", {
    env: {
      PORT: "0",
      HOST: "127.0.0.1",
      LOG_LEVEL: "info",
      DATABASE_URL: databaseUrl,
      DATA_DIR: dataDir,
      JWT_PRIVATE_KEY: jwtKey,
      AUTH_IP_LIMIT: "100000000/1m",
      REDIS_KEY_PREFIX: prefix,
      ...env,
    },
    ready,
    timeoutMs: 60_000,
  });
}

async function gql(url, query, { variables, headers = {} } = {}) {
  const response = await fetch(`${url}/graphql`, {
    method: "POST",
    headers: { "content-type": "application/json", ...headers },
    body: JSON.stringify({ query, variables }),
  });
  return { body: await response.json(), headers: response.headers };
}
const SIGN_UP = "mutation($i: SignUpInput!) { signUp(input: $i) { accessToken } }";
const LOGIN = "mutation($i: LoginInput!) { login(input: $i) { accessToken } }";
const LOGOUT = "mutation { logout }";
const ME = "query Me { me { id email } }";
const ME_ROLES = "query MeRoles { me { roles } }";

async function meOutcome(url, accessToken) {
  const { body } = await gql(url, ME, { headers: { authorization: `Bearer ${accessToken}` } });
  if (body.data?.me) return "OK";
  return body.errors?.[0]?.extensions?.reason ?? body.errors?.[0]?.extensions?.code ?? "?";
}

function summarize(samples) {
  const sorted = [...samples].sort((a, b) => a - b);
  const at = (q) => sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))];
  const round = (ms) => Math.round(ms * 10) / 10;
  return {
    n: sorted.length,
    median: round(at(0.5)),
    p90: round(at(0.9)),
    worst: round(sorted.at(-1)),
    best: round(sorted[0]),
  };
}

/**
 * One trial: login on A, check the token on B, logout via A, then poll `me` on B every
 * 10 ms until SESSION_ENDED. Delays are measured from the start of the logout request
 * (the session may end before its answer arrives) and from its answer.
 */
async function propagationTrial(a, b, credentials, jitterMs) {
  const { body, headers } = await gql(a.url, LOGIN, {
    variables: { i: credentials },
    headers: { "x-refresh-token": "1" },
  });
  const accessToken = body.data?.login?.accessToken;
  if (!accessToken) throw new Error(`login failed: ${JSON.stringify(body)}`);
  const refreshToken = headers.get("x-refresh-token");
  const before = await meOutcome(b.url, accessToken);
  if (before !== "OK") throw new Error(`token refused on B before logout: ${before}`);
  // A trial that starts right after B's poll found the last session would otherwise
  // always log out just after a poll: trials lock onto the timer and every delay
  // comes out near a whole interval. A random pause makes the logout time uniform.
  await sleep(Math.random() * jitterMs);
  const sentAt = performance.now();
  const answer = await gql(a.url, LOGOUT, { headers: { "x-refresh-token": refreshToken } });
  const answeredAt = performance.now();
  if (answer.body.data?.logout !== true) throw new Error(`logout failed: ${JSON.stringify(answer.body)}`);
  let polls = 0;
  for (;;) {
    const outcome = await meOutcome(b.url, accessToken);
    polls++;
    const now = performance.now();
    if (outcome === "SESSION_ENDED")
      return { fromLogoutStart: now - sentAt, fromLogoutAnswer: now - answeredAt, polls };
    if (outcome !== "OK") throw new Error(`unexpected answer while polling: ${outcome}`);
    if (now - sentAt > GIVE_UP_MS) throw new Error(`B still accepts the token ${GIVE_UP_MS} ms after logout`);
    await sleep(POLL_EVERY_MS);
  }
}

async function measurePropagation(label, env, lanes, jitterMs) {
  log(`(a) ${label}: starting two instances`);
  const [a, b] = await Promise.all([startKeyway(env), startKeyway(env)]);
  try {
    const credentials = {
      email: `bench-${randomUUID().slice(0, 8)}@example.io`,
      password: "correct horse battery staple",
    };
    const signed = await gql(a.url, SIGN_UP, { variables: { i: credentials } });
    if (!signed.body.data?.signUp) throw new Error(`signUp failed: ${JSON.stringify(signed.body)}`);
    const results = [];
    let next = 0;
    const started = performance.now();
    await Promise.all(
      Array.from({ length: lanes }, async () => {
        while (next < options.trials) {
          next++;
          results.push(await propagationTrial(a, b, credentials, jitterMs));
          if (results.length % 25 === 0) log(`    ${results.length}/${options.trials} trials`);
        }
      }),
    );
    const pollsAtFirst = results.filter((result) => result.polls === 1).length;
    return {
      env: Object.fromEntries(Object.entries(env).filter(([name]) => name !== "REDIS_URL")),
      redis: Boolean(env.REDIS_URL),
      lanes,
      randomPauseBeforeLogoutMs: [0, jitterMs],
      pollEveryMs: POLL_EVERY_MS,
      unit: "ms",
      fromLogoutStart: summarize(results.map((result) => result.fromLogoutStart)),
      fromLogoutAnswer: summarize(results.map((result) => result.fromLogoutAnswer)),
      refusedAtFirstPoll: pollsAtFirst,
      seconds: Math.round((performance.now() - started) / 100) / 10,
    };
  } finally {
    await Promise.all([a.stop(), b.stop()]);
  }
}

/** Opens a keyway in this process on the bench's database (and Redis, if given): the changing side of (c). */
async function openChangingKeyway(env) {
  const require = createRequire(import.meta.url);
  const { loadConfig } = require(path.join(root, "dist/config.js"));
  const { openKeyway } = require(path.join(root, "dist/keyway.js"));
  const { createLogger } = require(path.join(root, "dist/logger.js"));
  const config = loadConfig({
    NODE_ENV: "production",
    DATABASE_URL: databaseUrl,
    DATA_DIR: dataDir,
    JWT_PRIVATE_KEY: jwtKey,
    REDIS_KEY_PREFIX: prefix,
    ...env,
  });
  const logger = createLogger({ level: "warn", destination: process.stderr });
  const keyway = await openKeyway({ config, logger, migrations: "require-current" });
  if (env.REDIS_URL && (await keyway.services.redis.settled()) !== "up") throw new Error("redis is not up");
  return keyway;
}

async function rolesOn(url, accessToken) {
  const { body } = await gql(url, ME_ROLES, { headers: { authorization: `Bearer ${accessToken}` } });
  if (!body.data?.me) throw new Error(`me failed: ${JSON.stringify(body)}`);
  return body.data.me.roles;
}

/**
 * One trial: grant `staff` on B and wait until A serves it (so A has the user cached
 * with the role), then after a random pause revoke it on B and poll `me { roles }`
 * on A every 10 ms until the role is gone. Delays are measured from the start of the
 * revocation and from its return (committed, published).
 */
async function roleTrial(a, b, account, jitterMs) {
  await b.services.roles.grantRole(account.userId, "staff", "bench");
  for (const startedAt = performance.now(); !(await rolesOn(a.url, account.accessToken)).includes("staff");) {
    if (performance.now() - startedAt > GIVE_UP_MS) throw new Error(`A never saw the grant`);
    await sleep(POLL_EVERY_MS);
  }
  await sleep(Math.random() * jitterMs);
  const sentAt = performance.now();
  const result = await b.services.roles.revokeRole(account.userId, "staff", "bench");
  const answeredAt = performance.now();
  if (!result?.changed) throw new Error("the revocation changed nothing");
  let polls = 0;
  for (;;) {
    const roles = await rolesOn(a.url, account.accessToken);
    polls++;
    const now = performance.now();
    if (!roles.includes("staff")) return { fromRevokeStart: now - sentAt, fromRevokeAnswer: now - answeredAt, polls };
    if (now - sentAt > GIVE_UP_MS) throw new Error(`A still serves the role ${GIVE_UP_MS} ms after its revocation`);
    await sleep(POLL_EVERY_MS);
  }
}

async function measureRolePropagation(label, env, lanes, jitterMs) {
  log(`(c) ${label}: starting instance A, opening B here`);
  const [a, b] = await Promise.all([startKeyway(env), openChangingKeyway(env)]);
  try {
    // One user per lane, so lanes never revoke each other's role.
    const accounts = await Promise.all(
      Array.from({ length: lanes }, async () => {
        const email = `roles-${randomUUID().slice(0, 8)}@example.io`;
        const signed = await gql(a.url, SIGN_UP, {
          variables: { i: { email, password: "correct horse battery staple" } },
        });
        const accessToken = signed.body.data?.signUp?.accessToken;
        if (!accessToken) throw new Error(`signUp failed: ${JSON.stringify(signed.body)}`);
        const userId = JSON.parse(Buffer.from(accessToken.split(".")[1], "base64url").toString()).sub;
        return { accessToken, userId };
      }),
    );
    const results = [];
    let next = 0;
    const started = performance.now();
    await Promise.all(
      accounts.map(async (account) => {
        while (next < options.trials) {
          next++;
          results.push(await roleTrial(a, b, account, jitterMs));
          if (results.length % 25 === 0) log(`    ${results.length}/${options.trials} trials`);
        }
      }),
    );
    return {
      env: Object.fromEntries(Object.entries(env).filter(([name]) => name !== "REDIS_URL")),
      redis: Boolean(env.REDIS_URL),
      lanes,
      randomPauseBeforeRevokeMs: [0, jitterMs],
      pollEveryMs: POLL_EVERY_MS,
      unit: "ms",
      fromRevokeStart: summarize(results.map((result) => result.fromRevokeStart)),
      fromRevokeAnswer: summarize(results.map((result) => result.fromRevokeAnswer)),
      goneAtFirstPoll: results.filter((result) => result.polls === 1).length,
      seconds: Math.round((performance.now() - started) / 100) / 10,
    };
  } finally {
    await Promise.all([a.stop(), b.close()]);
  }
}

async function measureThroughput(workers) {
  log(`(b) WORKERS=${workers}: ${options.connections} connections, ${options.duration} s`);
  // LOG_LEVEL stays at its default (info): one log line per request, as in production.
  const env = { WORKERS: String(workers), REDIS_URL: redisUrl };
  const keyway = await startKeyway(env, workers);
  try {
    const credentials = {
      email: `tput-${randomUUID().slice(0, 8)}@example.io`,
      password: "correct horse battery staple",
    };
    const { body } = await gql(keyway.url, SIGN_UP, { variables: { i: credentials } });
    const accessToken = body.data.signUp.accessToken;
    const request = {
      url: `${keyway.url}/graphql`,
      method: "POST",
      headers: { "content-type": "application/json", authorization: `Bearer ${accessToken}` },
      body: JSON.stringify({ query: ME }),
      connections: options.connections,
    };
    const expected = await fetch(request.url, request).then((response) => response.text());
    if (!expected.includes(credentials.email)) throw new Error(`me failed: ${expected}`);
    await autocannon({ ...request, duration: 2 }); // warm-up: JIT, pools, connections
    const cpuBefore = { machine: machineCpu(), keyway: treeCpuSeconds(keyway.pid), bench: process.cpuUsage() };
    const result = await autocannon({ ...request, duration: options.duration, expectBody: expected });
    const machine = machineCpu();
    const bench = process.cpuUsage(cpuBefore.bench);
    const round = (seconds) => Math.round(seconds * 10) / 10;
    const cpuSeconds = {
      machineBusyPercent: Math.round(
        (1 - (machine.idle - cpuBefore.machine.idle) / (machine.total - cpuBefore.machine.total)) * 100,
      ),
      keyway: round(treeCpuSeconds(keyway.pid) - cpuBefore.keyway),
      autocannon: round((bench.user + bench.system) / 1e6),
    };
    return {
      workers,
      connections: options.connections,
      seconds: options.duration,
      // autocannon's mean of its per-second samples, and all answers over the measured time
      requestsPerSecond: Math.round(result.requests.average),
      total: result.requests.total,
      measuredSeconds: result.duration,
      overallRequestsPerSecond: Math.round(result.requests.total / result.duration),
      latencyMs: { median: result.latency.p50, p99: result.latency.p99 },
      errors: result.errors,
      timeouts: result.timeouts,
      non2xx: result.non2xx,
      mismatches: result.mismatches,
      cpuSeconds,
    };
  } finally {
    await keyway.stop();
  }
}

/** CPU seconds used so far by a process and its children (the cluster workers); Linux /proc. */
function treeCpuSeconds(pid) {
  try {
    const children = execFileSync("pgrep", ["-P", String(pid)], { encoding: "utf8" })
      .trim()
      .split("\n")
      .filter(Boolean)
      .map(Number);
    return [pid, ...children].reduce((sum, one) => sum + ownCpuSeconds(one), 0);
  } catch {
    return ownCpuSeconds(pid); // pgrep exits 1 when there are no children
  }
}
function ownCpuSeconds(pid) {
  try {
    return cpuSeconds(pid);
  } catch {
    return 0; // a worker that exited since pgrep listed it
  }
}
function machineCpu() {
  const cpus = os.cpus();
  const total = cpus.reduce((sum, cpu) => sum + Object.values(cpu.times).reduce((a, b) => a + b, 0), 0);
  const idle = cpus.reduce((sum, cpu) => sum + cpu.times.idle, 0);
  return { total, idle };
}

async function cleanUp() {
  killChildren();
  await database.drop().catch((error) => log("could not drop", dbName, error.message));
  await database.clearRedis().catch(() => undefined);
  rmSync(dataDir, { recursive: true, force: true });
}

cleanUpOnAbort(cleanUp, HARD_LIMIT_MS, log);

try {
  await database.create();
  // Migrate once, so the instances below start on a current schema.
  await (await startKeyway({})).stop();

  const result = {
    machine: { cpus: os.cpus().length, model: os.cpus()[0]?.model, node: process.version, loadavgAtStart: loadAtStart },
  };
  if (options.only.has("revocation")) {
    const withRedis = await measurePropagation(
      "with Redis, poll 60 s",
      { REDIS_URL: redisUrl, REVOCATION_POLL_INTERVAL: "60s" },
      1,
      0,
    );
    const withoutRedis = await measurePropagation("without Redis, poll 2 s (default)", {}, options.lanes, 2_000);
    result.revocationPropagation = { withRedis, withoutRedis };
  }
  if (options.only.has("throughput")) {
    const one = await measureThroughput(1);
    const two = await measureThroughput(2);
    result.meThroughput = {
      workers1: one,
      workers2: two,
      ratio: Math.round((two.requestsPerSecond / one.requestsPerSecond) * 100) / 100,
      overallRatio: Math.round((two.overallRequestsPerSecond / one.overallRequestsPerSecond) * 100) / 100,
    };
  }
  if (options.only.has("roles")) {
    const withRedis = await measureRolePropagation(
      "with Redis, poll 60 s",
      { REDIS_URL: redisUrl, REVOCATION_POLL_INTERVAL: "60s" },
      1,
      0,
    );
    const withoutRedis = await measureRolePropagation("without Redis, poll 2 s (default)", {}, options.lanes, 2_000);
    result.roleRevocationPropagation = { withRedis, withoutRedis };
  }
  console.log(JSON.stringify(result, null, 2));
} finally {
  await cleanUp();
}
