// `npm run bench`: the five benchmarks of issue 6, each a ratio against a
// baseline measured in this same run, written into docs/benchmarks.md.
//
// Usage: npm run bench [-- --quick] [-- --no-build] [-- --profile] [-- --only 1,5]
//   --quick     a smoke run (2 s per measurement); prints the table, leaves the docs alone
//   --no-build  use the existing dist/ instead of running `npm run build`
//   --profile   start keyway with --cpu-prof; profiles land in bench/profiles/
//   --only      run only the listed benchmarks (implies not writing the docs)
// DATABASE_URL (a PostgreSQL server on 127.0.0.1): keyway and the floor use a
// database named keyway_bench on that server, created if missing and kept;
// unset: keyway's embedded PGlite in a fresh directory.
//
// Servers run in child processes; autocannon (the load generator) runs in this
// process, on the same cores.
import "./lib/ensure-deps.mjs";
import { execFileSync } from "node:child_process";
import { generateKeyPairSync } from "node:crypto";
import { mkdirSync, mkdtempSync, readFileSync, writeFileSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import pg from "pg";
import { pgliteFloor, postgresFloor } from "./lib/floor.mjs";
import { gql, load } from "./lib/load.mjs";
import { assertLoopback } from "./lib/loopback.mjs";
import { refreshPool } from "./lib/refresh-pool.mjs";
import { cpuSeconds, freePort, KEYWAY_LISTENING, killChildren, root, startProcess } from "./lib/processes.mjs";

const argv = process.argv.slice(2);
const quick = argv.includes("--quick");
const only = argv.includes("--only") ? new Set(argv[argv.indexOf("--only") + 1].split(",").map(Number)) : null;
const profile = argv.includes("--profile");
const writeDocs = !quick && !only;
const SECONDS = quick ? 2 : 10;
const WARM_SECONDS = quick ? 1 : 3;
const CONNECTIONS = 32;
/** keyway's PostgreSQL pool (DATABASE_POOL_SIZE); the refresh floor gets as many connections. */
const POOL_SIZE = Number(process.env.DATABASE_POOL_SIZE || 10);
const STORM_CONNECTIONS = 8;
const BENCH_DATABASE = "keyway_bench";
const PASSWORD = "correct horse battery staple";
/** Spreads requests over the sessions' access tokens, round robin. */
const bearer = (sessions) => {
  let next = 0;
  return () => ({ authorization: `Bearer ${sessions.list[next++ % sessions.list.length].accessToken}` });
};
const ME = JSON.stringify({ query: "{ me { id email } }" });
const KEYCLOAK = { loginsPerCpuSecond: 15, refreshesPerCpuSecond: 120 };

const log = (message) => process.stderr.write(`[bench] ${message}\n`);
const startedAt = new Date();
const machine = {
  cpu: os.cpus()[0]?.model ?? "unknown",
  cores: os.cpus().length,
  node: process.version,
  load: os
    .loadavg()
    .map((value) => value.toFixed(2))
    .join(" "),
  memoryGiB: (os.totalmem() / 2 ** 30).toFixed(1),
};
const command = `${process.env.DATABASE_URL ? "DATABASE_URL=<postgres on 127.0.0.1> " : ""}npm run bench${argv.length ? ` -- ${argv.join(" ")}` : ""}`;
process.on("SIGINT", () => (killChildren(), process.exit(130)));

if (!argv.includes("--no-build")) {
  log("npm run build");
  execFileSync("npm", ["run", "build"], { cwd: root, stdio: ["ignore", "ignore", "inherit"] });
}

const database = await prepareDatabase();
const jwtPrivateKey = generateKeyPairSync("ec", { namedCurve: "P-256" })
  .privateKey.export({ format: "pem", type: "pkcs8" })
  .toString();
const rows = [];
const notes = [];
const profileDir = path.join(root, "bench", "profiles");
if (profile) mkdirSync(profileDir, { recursive: true });

try {
  const keyway = await startKeyway({});
  const gqlUrl = `${keyway.url}/graphql`;
  log(`keyway (pid ${keyway.pid}, ${database.kind}) at ${keyway.url}`);
  const sessions = await openSessions(gqlUrl, CONNECTIONS);

  if (!only || only.has(1) || only.has(3)) {
    const me = await benchmarkMe(gqlUrl, sessions);
    if (!only || only.has(3)) await benchmarkStorm(gqlUrl, sessions, me.keyway.requestsPerSecond);
  }
  if (!only || only.has(2) || only.has(4)) {
    const refresh = await benchmarkRefresh(gqlUrl, keyway.pid, sessions);
    if (!only || only.has(4)) await benchmarkPerCore(gqlUrl, keyway.pid, refresh);
  }
  await keyway.stop();
  if (!only || only.has(5)) await benchmarkSubgraph();
} finally {
  killChildren();
  await database.close();
}

const table = renderTable();
process.stdout.write(`${table}\n`);
if (writeDocs) writeResults(table);

// ---------------------------------------------------------------------------

async function prepareDatabase() {
  const adminUrl = process.env.DATABASE_URL;
  if (!adminUrl)
    return {
      kind: "PGlite (embedded, on disk)",
      env: {},
      floor: (n, s) => pgliteFloor(mkdtempSync(path.join(os.tmpdir(), "keyway-floor-")), n, s),
      close: async () => {},
    };
  assertLoopback(adminUrl, "npm run bench");
  const url = new URL(adminUrl);
  const admin = new pg.Client({ connectionString: adminUrl });
  await admin.connect();
  const { rowCount } = await admin.query("SELECT 1 FROM pg_database WHERE datname = $1", [BENCH_DATABASE]);
  // Kept between runs: the bench only ever adds rows with unique emails, and never drops what it did not create.
  if (rowCount === 0) await admin.query(`CREATE DATABASE ${BENCH_DATABASE}`);
  await admin.end();
  url.pathname = `/${BENCH_DATABASE}`;
  const benchUrl = url.toString();
  const {
    rows: [{ server_version: version }],
  } = await queryOnce(benchUrl, "SHOW server_version");
  return {
    kind: `PostgreSQL ${version} (database ${BENCH_DATABASE})`,
    env: { DATABASE_URL: benchUrl },
    floor: (n, s) => postgresFloor(benchUrl, n, s),
    close: async () => {},
  };
}

async function queryOnce(connectionString, sql) {
  const client = new pg.Client({ connectionString });
  await client.connect();
  try {
    return await client.query(sql);
  } finally {
    await client.end();
  }
}

function startKeyway(env, port = 0) {
  return startProcess("dist/main.js", {
    env: {
      PORT: String(port),
      HOST: "127.0.0.1",
      // Production logging: one access-log line per request, written to a pipe this process drains.
      LOG_LEVEL: "info",
      DATA_DIR: mkdtempSync(path.join(os.tmpdir(), "keyway-bench-")),
      JWT_PRIVATE_KEY: jwtPrivateKey,
      // The storm and the per-core runs are one client IP doing thousands of auth calls on purpose.
      AUTH_IP_LIMIT: "100000000/1m",
      DATABASE_POOL_SIZE: String(POOL_SIZE),
      ...database.env,
      ...env,
    },
    nodeArgs: profile ? ["--cpu-prof", `--cpu-prof-dir=${profileDir}`] : [],
    ready: KEYWAY_LISTENING,
  });
}

/** One user, `count` sessions: an access token and a refresh token each. */
async function openSessions(url, count) {
  const email = `bench-${Date.now()}-${process.pid}@example.io`;
  await gql(url, "mutation($i: SignUpInput!) { signUp(input: $i) { accessToken } }", {
    variables: { i: { email, password: PASSWORD } },
  });
  const sessions = [];
  for (let i = 0; i < count; i++) {
    const { data, headers } = await gql(url, "mutation($i: LoginInput!) { login(input: $i) { accessToken } }", {
      variables: { i: { email, password: PASSWORD } },
      headers: { "x-refresh-token": "1" },
    });
    sessions.push({ accessToken: data.login.accessToken, refreshToken: headers.get("x-refresh-token") });
  }
  return { email, list: sessions };
}

async function benchmarkMe(url, sessions) {
  log("1. authenticated me vs bare @apollo/server");
  const bare = await startProcess("bench/servers/bare-apollo.mjs", { ready: /bare apollo at (\S+)/ });
  const bareUrl = `${bare.url}/graphql`;
  const run = (target) =>
    load({ url: target, connections: CONNECTIONS, seconds: SECONDS, body: ME, headersFor: bearer(sessions) });
  try {
    await load({ url, connections: CONNECTIONS, seconds: WARM_SECONDS, body: ME, headersFor: bearer(sessions) });
    await load({
      url: bareUrl,
      connections: CONNECTIONS,
      seconds: WARM_SECONDS,
      body: ME,
      headersFor: bearer(sessions),
    });
    const keyway = await run(url);
    const baseline = await run(bareUrl);
    rows.push(
      row(
        "1. authenticated `me`",
        `${rps(keyway)} (p99 ${keyway.p99} ms)`,
        `${rps(baseline)} (p99 ${baseline.p99} ms) bare @apollo/server on Fastify, no auth`,
        keyway.requestsPerSecond / baseline.requestsPerSecond,
        "≥ 0.9",
        (r) => r >= 0.9,
        [keyway, baseline],
      ),
    );
    return { keyway, baseline };
  } finally {
    await bare.stop();
  }
}

async function benchmarkStorm(url, sessions, meCapacity) {
  log("3. p99 of me during a login storm");
  // Open loop at a quarter of the measured capacity: the question is what a
  // login storm does to ordinary traffic, not how a saturated server queues.
  const rate = Math.max(20, Math.round(meCapacity / 4));
  const meLoad = () =>
    load({ url, connections: 8, seconds: SECONDS, body: ME, headersFor: bearer(sessions), overallRate: rate });
  const quiet = await meLoad();
  const loginBody = JSON.stringify({
    query: "mutation($i: LoginInput!) { login(input: $i) { accessToken } }",
    variables: { i: { email: sessions.email, password: PASSWORD } },
  });
  const [stormy, storm] = await Promise.all([
    meLoad(),
    load({ url, connections: STORM_CONNECTIONS, seconds: SECONDS, body: loginBody }),
  ]);
  rows.push(
    row(
      "3. p99 of `me` during a login storm",
      `${stormy.p99} ms (${rate} req/s offered; storm: ${rps(storm)} logins)`,
      `${quiet.p99} ms without the storm`,
      stormy.p99 / quiet.p99,
      "≤ 1.5×",
      (r) => r <= 1.5,
      [quiet, stormy, storm],
    ),
  );
}

async function benchmarkRefresh(url, pid, sessions) {
  log("2. refreshToken vs UPDATE … RETURNING");
  // Each session's refresh token, kept current as the load rotates them (lib/refresh-pool.mjs).
  const pool = refreshPool(
    sessions.list.map((session) => session.refreshToken),
    log,
  );
  const rotating = (seconds) => pool.run({ url, connections: CONNECTIONS, seconds });
  await rotating(WARM_SECONDS);
  const cpuBefore = cpuSeconds(pid);
  const keyway = await rotating(SECONDS);
  const cpu = cpuSeconds(pid) - cpuBefore;
  // As many connections as keyway's pool: the floor may not use more of the database than keyway can.
  const floor = await database.floor(POOL_SIZE, SECONDS);
  rows.push(
    row(
      "2. `refreshToken`",
      rps(keyway),
      `${rps(floor)} single-row UPDATE … RETURNING, ${POOL_SIZE} connections (keyway's pool size)`,
      keyway.requestsPerSecond / floor.requestsPerSecond,
      "≥ 0.5",
      (r) => r >= 0.5,
      [keyway, floor],
    ),
  );
  return { ...keyway, cpu };
}

async function benchmarkPerCore(url, pid, refresh) {
  log("4. logins and refreshes per CPU-second");
  const loginBody = JSON.stringify({
    query: "mutation($i: LoginInput!) { login(input: $i) { accessToken } }",
    variables: { i: { email: `bench-${process.pid}-percore@example.io`, password: PASSWORD } },
  });
  await gql(url, "mutation($i: SignUpInput!) { signUp(input: $i) { accessToken } }", {
    variables: { i: { email: `bench-${process.pid}-percore@example.io`, password: PASSWORD } },
  });
  const cpuBefore = cpuSeconds(pid);
  const logins = await load({ url, connections: STORM_CONNECTIONS, seconds: SECONDS, body: loginBody });
  const cpu = cpuSeconds(pid) - cpuBefore;
  const loginsPerCpu = (logins.completed - logins.failures) / cpu;
  const refreshesPerCpu = (refresh.completed - refresh.failures) / refresh.cpu;
  rows.push(
    row(
      "4a. logins per CPU-second",
      `${loginsPerCpu.toFixed(1)} (${logins.completed} logins / ${cpu.toFixed(1)} CPU-s)`,
      `${KEYCLOAK.loginsPerCpuSecond} (Keycloak's published sizing per vCPU: published sizing, different workload)`,
      loginsPerCpu / KEYCLOAK.loginsPerCpuSecond,
      "≥ 2×",
      (r) => r >= 2,
      [logins],
    ),
  );
  rows.push(
    row(
      "4b. refreshes per CPU-second",
      `${refreshesPerCpu.toFixed(0)} (${refresh.completed} refreshes / ${refresh.cpu.toFixed(1)} CPU-s)`,
      `${KEYCLOAK.refreshesPerCpuSecond} (Keycloak's published sizing per vCPU: published sizing, different workload)`,
      refreshesPerCpu / KEYCLOAK.refreshesPerCpuSecond,
      "≥ 5×",
      (r) => r >= 5,
      [refresh],
    ),
  );
}

async function benchmarkSubgraph() {
  log("5. keyway vs Hive Gateway over the notes subgraph");
  const keywayPort = await freePort();
  const jwksUrl = `http://127.0.0.1:${keywayPort}/.well-known/jwks.json`;
  const notes = await startProcess("dist-examples/notes-subgraph/server.js", {
    env: { NOTES_PORT: String(await freePort()), KEYWAY_JWKS_URL: jwksUrl },
    ready: /notes subgraph at (\S+)/,
  });
  const stops = [notes.stop];
  try {
    // The example's @policy names are defined in its AUTHZ_FILE: without it composition stops.
    const keyway = await startKeyway(
      { SUBGRAPHS: `notes=${notes.url}`, AUTHZ_FILE: path.join(root, "examples", "authz.json") },
      keywayPort,
    );
    stops.unshift(keyway.stop);
    const url = `${keyway.url}/graphql`;
    const sessions = await openSessions(url, 8);
    const asFirst = { authorization: `Bearer ${sessions.list[0].accessToken}` };
    await gql(url, 'mutation { addNote(text: "benchmark") { id } }', { headers: asFirst });
    const hive = await startProcess("bench/servers/hive-gateway.mjs", {
      env: {
        SUBGRAPH_URL: notes.url,
        KEYWAY_JWKS_URL: jwksUrl,
        JWT_PRIVATE_KEY: jwtPrivateKey,
        NODE_ENV: "production",
      },
      ready: /hive gateway at (\S+)/,
    });
    stops.unshift(hive.stop);
    const query = "{ myNotes { text } }";
    const viaKeyway = await gql(url, query, { headers: asFirst });
    const viaHive = await gql(hive.url, query, { headers: asFirst });
    if (JSON.stringify(viaKeyway.data) !== JSON.stringify(viaHive.data))
      throw new Error(`answers differ: ${JSON.stringify(viaKeyway.data)} vs ${JSON.stringify(viaHive.data)}`);
    const body = JSON.stringify({ query });
    const run = (target, seconds) =>
      load({ url: target, connections: CONNECTIONS, seconds, body, headersFor: bearer(sessions) });
    await run(url, WARM_SECONDS);
    await run(hive.url, WARM_SECONDS);
    const keywayResult = await run(url, SECONDS);
    const hiveResult = await run(hive.url, SECONDS);
    rows.push(
      row(
        "5. authenticated query to the notes subgraph",
        `${rps(keywayResult)} (p99 ${keywayResult.p99} ms)`,
        `${rps(hiveResult)} (p99 ${hiveResult.p99} ms) Hive Gateway + JWT plugin`,
        keywayResult.requestsPerSecond / hiveResult.requestsPerSecond,
        "≥ 1.0",
        (r) => r >= 1,
        [keywayResult, hiveResult],
      ),
    );
  } finally {
    for (const stop of stops) await stop();
  }
}

function rps(result) {
  return `${Math.round(result.requestsPerSecond)} req/s`;
}

function row(name, keyway, baseline, ratio, target, meets, results) {
  const failures = results.reduce((sum, result) => sum + result.failures, 0);
  if (failures > 0)
    notes.push(
      `${name}: ${failures} failed answers (non-2xx, GraphQL errors or socket errors) — the row is not valid.`,
    );
  const verdict = failures > 0 ? "invalid" : meets(ratio) ? "met" : "missed";
  return `| ${name} | ${keyway} | ${baseline} | ${ratio.toFixed(2)} | ${target} | ${verdict} |`;
}

function renderTable() {
  return [
    `Run ${startedAt.toISOString()} — \`${command}\`${quick ? " (quick smoke run)" : ""}`,
    "",
    `- Machine: ${machine.cpu}, ${machine.cores} cores, ${machine.memoryGiB} GiB; Node ${machine.node}; load average at start ${machine.load}`,
    `- Database: ${database.kind}`,
    `- Each measurement: autocannon, ${SECONDS} s after a ${WARM_SECONDS} s warm-up, ${CONNECTIONS} connections unless stated; servers in child processes, autocannon in the bench process, all on this machine and 127.0.0.1`,
    "",
    "| benchmark | keyway | baseline | ratio | target | result |",
    "| --- | --- | --- | --- | --- | --- |",
    ...rows,
    ...(notes.length ? ["", ...notes.map((note) => `- ${note}`)] : []),
  ].join("\n");
}

function writeResults(table) {
  const file = path.join(root, "docs", "benchmarks.md");
  const start = "<!-- bench:results:start -->";
  const end = "<!-- bench:results:end -->";
  let text;
  try {
    text = readFileSync(file, "utf8");
  } catch {
    text = `# Benchmarks\n\n${start}\n${end}\n`;
  }
  const from = text.indexOf(start);
  const to = text.indexOf(end);
  if (from === -1 || to === -1) throw new Error(`${file} lacks the ${start} / ${end} markers`);
  writeFileSync(file, `${text.slice(0, from + start.length)}\n${table}\n${text.slice(to)}`);
  log(`wrote ${path.relative(root, file)}`);
}
