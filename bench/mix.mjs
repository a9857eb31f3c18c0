// `npm run bench:mix`: keyway under traffic shaped like production's. 20 000
// users and 60 000 live sessions, each with an access token the instance has
// never seen, so a request misses the verified-token cache (10 000 entries) and
// the user cache (10 000 users) as most real requests do. Beside it, the hot path
// `npm run bench` measures: a few tokens, every cache warm. Each row is a pair
// (keyway, baseline) run ROUNDS times in a row, alternating which goes first; the
// table gives the ratio's median and its range.
//
// Usage: npm run bench:mix [-- --quick] [-- --no-build] [-- --rounds 5] [-- --seconds 10]
//          [-- --rate 600] [-- --only me,subgraph,refresh,mix] [-- --profile]
//   --quick    2 rounds of 2 s, a 4-second mix; prints the tables, leaves the docs alone
//   --rate     requests per second offered in the mix (90 % me, 8 % refresh, 2 % login)
//   --only     run only these parts (implies not writing the docs)
//   --profile  start keyway with --cpu-prof; profiles land in bench/profiles/
//   --dist     another build's main.js to run as keyway (implies --no-build)
//   --versus   a same-minute A/B: this build (or --dist) against another build's main.js,
//              or against itself with other settings (`--versus env:LOG_LEVEL=warn,…`),
//              both running, the load alternating between them; PostgreSQL only
// DATABASE_URL (a PostgreSQL server on 127.0.0.1): a scratch database on it,
// dropped after the run. Unset: keyway's embedded PGlite in a fresh directory.
// DATABASE_POOL_SIZE: keyway's pool, and the baselines' (default 10).
//
// Servers run in child processes; autocannon runs in this process, on the same cores.
import "./lib/ensure-deps.mjs";
import { hash } from "@node-rs/argon2";
import { execFileSync } from "node:child_process";
import { createHash, generateKeyPairSync, randomBytes, randomUUID } from "node:crypto";
import { mkdirSync, mkdtempSync, readFileSync, writeFileSync } from "node:fs";
import { createRequire } from "node:module";
import os from "node:os";
import path from "node:path";
import pg from "pg";
import { pgliteFloor, postgresFloor } from "./lib/floor.mjs";
import { gql, load } from "./lib/load.mjs";
import { openLoop, post } from "./lib/open-loop.mjs";
import {
  cpuSeconds,
  freePort,
  KEYWAY_LISTENING,
  killChildren,
  postgresCpuSeconds,
  postgresCpuSince,
  root,
  startProcess,
} from "./lib/processes.mjs";
import { refreshPool } from "./lib/refresh-pool.mjs";

const argv = process.argv.slice(2);
const option = (name, fallback) => (argv.includes(name) ? argv[argv.indexOf(name) + 1] : fallback);
const quick = argv.includes("--quick");
const only = argv.includes("--only") ? new Set(option("--only").split(",")) : null;
const runs = (part) => !only || only.has(part);
const profile = argv.includes("--profile");
const keywayMain = option("--dist", "dist/main.js");
const versus = option("--versus", null);
const writeDocs = !quick && !only && !argv.includes("--dist") && !versus;
// Even, so each side goes first as often as the other.
const ROUNDS = Number(option("--rounds", quick ? 2 : 6));
const SECONDS = Number(option("--seconds", quick ? 2 : 10));
const WARM_SECONDS = quick ? 1 : 3;
const MIX_SECONDS = quick ? 4 : 20;
const MIX_RATE = Number(option("--rate", 600));
const MIX = { me: 0.9, refresh: 0.08, login: 0.02 };
const CONNECTIONS = 32;
const HOT_TOKENS = 32;
const USERS = quick ? 2000 : 20_000;
// A multiple of USERS: a user comes back only after every other user, also where the
// token list wraps (the user cache holds 10 000).
const SESSIONS = USERS * 3;
const POOL_SIZE = Number(process.env.DATABASE_POOL_SIZE || 10);
const PASSWORD = "correct horse battery staple";
/** Tokens are minted again when older than this, well inside their 15 minutes. */
const TOKEN_REMINT_MS = 8 * 60_000;
const ME = JSON.stringify({ query: "{ me { id email } }" });
const MY_NOTES = JSON.stringify({ query: "{ myNotes { text } }" });

const log = (message) => process.stderr.write(`[bench:mix] ${message}\n`);
const require = createRequire(import.meta.url);
const startedAt = new Date();
const machine = `${os.cpus()[0]?.model ?? "unknown"}, ${os.cpus().length} cores, ${(os.totalmem() / 2 ** 30).toFixed(1)} GiB; Node ${process.version}; load average at start ${os
  .loadavg()
  .map((value) => value.toFixed(2))
  .join(" ")}`;
const command = `${process.env.DATABASE_URL ? "DATABASE_URL=<postgres on 127.0.0.1> " : ""}npm run bench:mix${argv.length ? ` -- ${argv.join(" ")}` : ""}`;
process.on("SIGINT", () => (killChildren(), process.exit(130)));

if (!argv.includes("--no-build") && !argv.includes("--dist")) {
  log("npm run build");
  execFileSync("npm", ["run", "build"], { cwd: root, stdio: ["ignore", "ignore", "inherit"] });
}
const { signAccessToken } = require(path.join(root, "dist/token/access-token.js"));
const { loadKeySet } = require(path.join(root, "dist/token/keys.js"));
const { PASSWORD_HASH_OPTIONS } = require(path.join(root, "dist/auth/password.js"));

const jwtPrivateKey = generateKeyPairSync("ec", { namedCurve: "P-256" })
  .privateKey.export({ format: "pem", type: "pkcs8" })
  .toString();
const dataDir = mkdtempSync(path.join(os.tmpdir(), "keyway-mix-"));
const database = await prepareDatabase();
const profileDir = path.join(root, "bench", "profiles");
if (profile) mkdirSync(profileDir, { recursive: true });
const pairRows = [];
/** With --profile: when each measurement ran, for bench/profile-summary.mjs --window. */
const profileWindows = [];
/** Set once tokens exist: mints afresh between measurements when they age. */
let renewTokens;
const mixRows = [];
const notes = [];

try {
  // Start once so keyway applies its migrations, then fill the tables it made.
  await (await startKeyway()).stop();
  const people = await seed();
  const tokens = accessTokens(people.sessions);
  renewTokens = tokens.renew;

  if (versus) await compareBuilds(tokens, people.sessions);
  else if (runs("me") || runs("refresh") || runs("mix")) {
    const keyway = await startKeyway();
    try {
      const url = `${keyway.url}/graphql`;
      if (runs("me")) await benchmarkMe(url, keyway.pid, tokens, people.users);
      const refreshes = refreshPool(
        people.sessions.map((session) => session.refreshToken),
        log,
      );
      if (runs("refresh")) await benchmarkRefresh(url, keyway.pid, refreshes);
      if (runs("mix")) await benchmarkMix(url, keyway.pid, tokens, refreshes, people.users);
    } finally {
      await keyway.stop();
    }
  }
  if (runs("subgraph") && !versus) await benchmarkSubgraph(tokens);
} finally {
  killChildren();
  await database.drop();
}

if (profile) {
  writeFileSync(path.join(profileDir, "windows.json"), JSON.stringify(profileWindows, null, 2));
  log(`profiles in ${path.relative(root, profileDir)}: node bench/profile-summary.mjs <file> --window "me cold"`);
}
const report = renderReport();
process.stdout.write(`${report}\n`);
if (writeDocs) writeResults(report);

// ---------------------------------------------------------------------------

async function prepareDatabase() {
  if (!process.env.DATABASE_URL) {
    return {
      kind: "PGlite (embedded, on disk)",
      env: {},
      openSql: async () => {
        const { PGlite } = await import("@electric-sql/pglite");
        const db = await PGlite.create(path.join(dataDir, "pglite"));
        return { query: (sql, values) => db.query(sql, values), close: () => db.close() };
      },
      floor: (connections, seconds) =>
        pgliteFloor(mkdtempSync(path.join(os.tmpdir(), "keyway-floor-")), connections, seconds),
      drop: async () => {},
    };
  }
  // lib/scratch.mjs makes its databases on BENCH_DATABASE_URL's server.
  process.env.BENCH_DATABASE_URL ||= process.env.DATABASE_URL;
  const { scratch } = await import("./lib/scratch.mjs");
  const scratchDatabase = scratch();
  await scratchDatabase.create();
  const client = new pg.Client({ connectionString: scratchDatabase.url });
  await client.connect();
  const {
    rows: [{ server_version: version }],
  } = await client.query("SHOW server_version");
  await client.end();
  return {
    kind: `PostgreSQL ${version} (a scratch database, dropped after the run)`,
    url: scratchDatabase.url,
    env: { DATABASE_URL: scratchDatabase.url },
    openSql: async () => {
      const sql = new pg.Client({ connectionString: scratchDatabase.url });
      await sql.connect();
      return { query: (text, values) => sql.query(text, values), close: () => sql.end() };
    },
    floor: (connections, seconds) => postgresFloor(scratchDatabase.url, connections, seconds),
    drop: scratchDatabase.drop,
  };
}

function startKeyway(env = {}, port = 0, main = keywayMain) {
  return startProcess(main, {
    env: {
      PORT: String(port),
      HOST: "127.0.0.1",
      // Production logging: one access-log line per request, written to a file this process never reads.
      LOG_LEVEL: "info",
      DATA_DIR: dataDir,
      JWT_PRIVATE_KEY: jwtPrivateKey,
      // The load comes from one client address; the mix's logins are many users' on purpose.
      AUTH_IP_LIMIT: "100000000/1m",
      // As behind a load balancer: the mix's logins say which client they come from (X-Forwarded-For).
      TRUST_PROXY: "127.0.0.1",
      DATABASE_POOL_SIZE: String(POOL_SIZE),
      ...database.env,
      ...env,
    },
    nodeArgs: profile ? ["--cpu-prof", `--cpu-prof-dir=${profileDir}`] : [],
    ready: KEYWAY_LISTENING,
  });
}

/**
 * USERS users sharing one password (hashed once, as keyway hashes), and SESSIONS
 * live sessions spread over them, each with a refresh token only this process knows.
 */
async function seed() {
  log(`seeding ${USERS} users and ${SESSIONS} sessions`);
  const passwordHash = await hash(PASSWORD, PASSWORD_HASH_OPTIONS);
  const sql = await database.openSql();
  try {
    await sql.query(
      `INSERT INTO "User" (id, email, "passwordHash", "updatedAt")
       SELECT gen_random_uuid(), 'mix-' || i || '@example.io', $1, now() FROM generate_series(1, ${USERS}) AS i`,
      [passwordHash],
    );
    const { rows: users } = await sql.query(`SELECT id, email FROM "User" WHERE email LIKE 'mix-%' ORDER BY email`);
    const sessions = Array.from({ length: SESSIONS }, (_, i) => {
      const family = randomBytes(16).toString("base64url");
      const secret = randomBytes(32).toString("base64url");
      return {
        id: randomUUID(),
        userId: users[i % users.length].id,
        family,
        secretHash: createHash("sha256").update(secret).digest("hex"),
        refreshToken: `${family}.${secret}`,
        expiresAt: new Date(Date.now() + 30 * 86_400_000),
      };
    });
    for (let from = 0; from < sessions.length; from += 5000) {
      const batch = sessions.slice(from, from + 5000);
      await sql.query(
        `INSERT INTO "Session" (id, "userId", "tokenFamily", "tokenHash", "expiresAt", amr)
         SELECT id, "userId", family, hash, "expiresAt", '{pwd}'
         FROM unnest($1::uuid[], $2::uuid[], $3::text[], $4::text[], $5::timestamptz[])
           AS s(id, "userId", family, hash, "expiresAt")`,
        [
          batch.map((s) => s.id),
          batch.map((s) => s.userId),
          batch.map((s) => s.family),
          batch.map((s) => s.secretHash),
          batch.map((s) => s.expiresAt),
        ],
      );
    }
    return { users, sessions };
  } finally {
    await sql.close();
  }
}

/**
 * Access tokens for the seeded sessions, signed with the key keyway signs with
 * (JWT_PRIVATE_KEY, no rotated key yet), minted again before they could expire.
 */
function accessTokens(sessions) {
  const keys = loadKeySet({ privateKeyPem: jwtPrivateKey, dataDir });
  const options = { keys, issuer: "keyway", audience: "keyway", ttlSeconds: 900 };
  let list = [];
  let mintedAt = 0;
  const current = () => {
    if (Date.now() - mintedAt > TOKEN_REMINT_MS) {
      log(`minting ${sessions.length} access tokens`);
      mintedAt = Date.now();
      const authTime = Math.floor(mintedAt / 1000);
      list = sessions.map(
        (session) =>
          signAccessToken(options, {
            userId: session.userId,
            sessionId: session.id,
            sessionExpiresAt: session.expiresAt,
            grants: { roles: [], scopes: [], emailVerified: false, amr: ["pwd"], authTime },
            now: mintedAt,
          }).token,
      );
    }
    return list;
  };
  current();
  // Each caller its own turn through the tokens, so a baseline's requests never shorten
  // the time between one token's (or one user's) uses by keyway.
  const turns = new Map();
  const inTurn = (caller, size) => {
    const next = turns.get(caller) ?? 0;
    turns.set(caller, next + 1);
    return list[next % size];
  };
  return {
    /** Mints afresh if the tokens are getting old: call between measurements, never inside one. */
    renew: current,
    /** Headers for `caller`'s next request, with every token in turn: no token twice within SESSIONS requests. */
    cold:
      (caller = "keyway") =>
      () => ({ authorization: `Bearer ${inTurn(caller, list.length)}` }),
    /** Headers with one of HOT_TOKENS tokens: after the first round, every cache hits. */
    hot: () => ({ authorization: `Bearer ${inTurn("hot", HOT_TOKENS)}` }),
  };
}

/** Runs `a` and `b` ROUNDS times, alternating which goes first; returns each side's results in order. */
async function pairs(name, a, b) {
  const results = { a: [], b: [] };
  for (let round = 0; round < ROUNDS; round++) {
    const order = round % 2 === 0 ? ["a", "b"] : ["b", "a"];
    for (const side of order) {
      renewTokens?.();
      results[side].push(await (side === "a" ? a : b)());
    }
    const last = results.a.length - 1;
    log(
      `${name} round ${round + 1}/${ROUNDS}: ${Math.round(results.a[last].requestsPerSecond)} vs ${Math.round(results.b[last].requestsPerSecond)} req/s`,
    );
  }
  return results;
}

/**
 * One load, with keyway's and PostgreSQL's CPU over it. With --profile, the load's
 * window is recorded under `name` for bench/profile-summary.mjs --window.
 */
async function measured(pid, run, name) {
  const postgresCpu = () => (database.url ? postgresCpuSeconds() : null);
  const cpuBefore = cpuSeconds(pid);
  const pgBefore = postgresCpu();
  const fromUs = Number(process.hrtime.bigint() / 1000n);
  const result = await run();
  if (profile)
    profileWindows.push({
      pid,
      name,
      fromUs,
      toUs: Number(process.hrtime.bigint() / 1000n),
      completed: result.completed,
    });
  const pgAfter = postgresCpu();
  return {
    ...result,
    keywayCpu: cpuSeconds(pid) - cpuBefore,
    postgresCpu: postgresCpuSince(pgBefore, pgAfter),
  };
}

async function benchmarkMe(url, pid, tokens, users) {
  log("me: hot and cold, against bare Apollo and bare Apollo reading the user");
  const usersFile = path.join(dataDir, "bench-users.json");
  writeFileSync(usersFile, JSON.stringify(users));
  const nodeArgs = profile ? ["--cpu-prof", `--cpu-prof-dir=${profileDir}`] : [];
  const bare = await startProcess("bench/servers/bare-apollo.mjs", { ready: /bare apollo at (\S+)/, nodeArgs });
  const barePg = await startProcess("bench/servers/bare-apollo-pg.mjs", {
    env: database.url
      ? { DATABASE_URL: database.url, DATABASE_POOL_SIZE: String(POOL_SIZE) }
      : { PGLITE_USERS_FILE: usersFile },
    ready: /bare apollo with pg at (\S+)/,
    nodeArgs,
  });
  try {
    const run = (target, headersFor, seconds = SECONDS) =>
      load({ url: target, connections: CONNECTIONS, seconds, body: ME, headersFor });
    for (const target of [url, `${bare.url}/graphql`, `${barePg.url}/graphql`])
      await run(target, tokens.hot, WARM_SECONDS);
    const hot = await pairs(
      "me hot",
      () => measured(pid, () => run(url, tokens.hot), "me hot"),
      () => measured(bare.pid, () => run(`${bare.url}/graphql`, tokens.hot), "bare me hot"),
    );
    pairRows.push(
      pairRow(
        "`me`, hot (32 tokens, every cache warm)",
        hot,
        "bare @apollo/server on Fastify, constant user, no auth",
        {
          target: "≥ 0.9",
          meets: (r) => r >= 0.9,
        },
      ),
    );
    const cold = await pairs(
      "me cold",
      () => measured(pid, () => run(url, tokens.cold("keyway")), "me cold"),
      () => measured(barePg.pid, () => run(`${barePg.url}/graphql`, tokens.cold("baseline")), "bare me cold"),
    );
    pairRows.push(
      pairRow(
        `\`me\`, cold (${SESSIONS} tokens of ${USERS} users in turn: none seen in the ${SESSIONS} requests before)`,
        cold,
        `bare @apollo/server on Fastify reading the user by primary key through \`pg\` (pool ${POOL_SIZE}), token decoded, not verified`,
        { target: "≥ 0.6", meets: (r) => r >= 0.6 },
      ),
    );
    cpuNote("`me` hot", hot.a);
    cpuNote("`me` cold", cold.a);
  } finally {
    await bare.stop();
    await barePg.stop();
  }
}

async function benchmarkRefresh(url, pid, refreshes) {
  log(`refreshToken against the single-UPDATE floor, ${POOL_SIZE} connections`);
  const run = (seconds = SECONDS) => refreshes.run({ url, connections: CONNECTIONS, seconds });
  await run(WARM_SECONDS);
  const results = await pairs(
    "refreshToken",
    () => measured(pid, () => run(), "refreshToken"),
    () => database.floor(POOL_SIZE, SECONDS),
  );
  pairRows.push(
    pairRow(
      `\`refreshToken\` (${SESSIONS} sessions in turn)`,
      results,
      `single-row \`UPDATE … RETURNING\` on a Session-shaped table, ${POOL_SIZE} connections (keyway's pool size), no HTTP`,
      { target: "≥ 0.5", meets: (r) => r >= 0.5 },
    ),
  );
  cpuNote("`refreshToken`", results.a);
}

async function benchmarkMix(url, pid, tokens, refreshes, users) {
  log(`the mix: ${MIX_RATE} req/s offered, ${MIX_SECONDS} s, ${ROUNDS} rounds`);
  // Each login is a user of their own from an address of their own, as a population of clients
  // would be: one address's logins wait in one line for the password hasher (src/auth/hashing-queue.ts).
  let nextUser = 0;
  const login = () => {
    const user = nextUser++ % users.length;
    const body = JSON.stringify({
      query: "mutation($i: LoginInput!) { login(input: $i) { accessToken } }",
      variables: { i: { email: users[user].email, password: PASSWORD } },
    });
    return post(url, body, { "x-forwarded-for": `10.${(user >> 16) & 255}.${(user >> 8) & 255}.${user & 255}` });
  };
  const coldMe = tokens.cold("keyway");
  const kinds = {
    me: { share: MIX.me, send: () => post(url, ME, coldMe()) },
    refresh: { share: MIX.refresh, send: () => refreshes.once(url) },
    login: { share: MIX.login, send: login },
  };
  // Warm-up, not recorded: the client's connections and keyway's first logins and refreshes.
  await openLoop({ rate: MIX_RATE, seconds: WARM_SECONDS, kinds });
  const rounds = [];
  for (let round = 0; round < ROUNDS; round++) {
    tokens.renew();
    const result = await measured(
      pid,
      async () => {
        const answered = await openLoop({ rate: MIX_RATE, seconds: MIX_SECONDS, kinds });
        const completed = Object.values(answered).reduce((sum, kind) => sum + kind.completed, 0);
        return { ...answered, requestsPerSecond: 0, completed };
      },
      "mix",
    );
    log(
      `mix round ${round + 1}/${ROUNDS}: login p99 ${result.login.p99} ms, me p99 ${result.me.p99} ms, refresh p99 ${result.refresh.p99} ms`,
    );
    rounds.push(result);
  }
  for (const [name, share] of Object.entries(MIX)) {
    const of = rounds.map((round) => round[name]);
    const failures = of.reduce((sum, result) => sum + result.failures, 0);
    mixRows.push(
      `| ${name} | ${Math.round(share * 100)} % | ${Math.round(MIX_RATE * share)} | ${spread(
        of.map((r) => r.requestsPerSecond),
        0,
      )} | ${spread(
        of.map((r) => r.p50),
        0,
      )} | ${spread(
        of.map((r) => r.p99),
        0,
      )} | ${failures} |`,
    );
  }
  const loginP99 = median(rounds.map((round) => round.login.p99));
  const mixFailures = rounds.reduce(
    (sum, round) => sum + Object.keys(MIX).reduce((kinds, name) => kinds + round[name].failures, 0),
    0,
  );
  const verdict = mixFailures > 0 ? "invalid: the mix had failures" : loginP99 < 1000 ? "met" : "missed";
  notes.push(
    `Logins inside the mix: median p99 ${Math.round(loginP99)} ms over ${ROUNDS} rounds, right answers only (target < 1000 ms: ${verdict}).`,
  );
  cpuNote("the mix (all requests)", rounds);
}

async function benchmarkSubgraph(tokens) {
  log("subgraph query: cold against hot");
  const keywayPort = await freePort();
  const subgraph = await startProcess("dist-examples/notes-subgraph/server.js", {
    env: {
      NOTES_PORT: String(await freePort()),
      KEYWAY_JWKS_URL: `http://127.0.0.1:${keywayPort}/.well-known/jwks.json`,
    },
    ready: /notes subgraph at (\S+)/,
  });
  try {
    // The example's @policy names are defined in its AUTHZ_FILE: without it composition stops.
    const keyway = await startKeyway(
      { SUBGRAPHS: `notes=${subgraph.url}`, AUTHZ_FILE: path.join(root, "examples", "authz.json") },
      keywayPort,
    );
    try {
      const url = `${keyway.url}/graphql`;
      await gql(url, "{ myNotes { text } }", { headers: tokens.hot() });
      const run = (headersFor, seconds = SECONDS) =>
        load({ url, connections: CONNECTIONS, seconds, body: MY_NOTES, headersFor });
      await run(tokens.hot, WARM_SECONDS);
      const results = await pairs(
        "subgraph",
        () => measured(keyway.pid, () => run(tokens.cold("subgraph")), "subgraph cold"),
        () => measured(keyway.pid, () => run(tokens.hot), "subgraph hot"),
      );
      pairRows.push(
        pairRow(
          `authenticated \`{ myNotes { text } }\` through keyway to the notes subgraph, cold (${SESSIONS} tokens)`,
          results,
          "the same query, hot (32 tokens)",
          { target: "≥ 0.8", meets: (r) => r >= 0.8 },
        ),
      );
      cpuNote("subgraph query cold", results.a);
      cpuNote("subgraph query hot", results.b);
      await againstHive(keyway, subgraph, `http://127.0.0.1:${keywayPort}/.well-known/jwks.json`, tokens);
    } finally {
      await keyway.stop();
    }
  } finally {
    await subgraph.stop();
  }
}

/**
 * keyway against Hive Gateway over the same subgraph, both enforcing the example's
 * policies and minting a one-request identity per subgraph call. keyway caches
 * verified tokens and Hive Gateway's JWT plugin does not, so the comparison runs
 * twice, labelled: with hot tokens (keyway's cache warm, Hive verifying each) and
 * with every token new to both (keyway's cache cannot hit: in effect off).
 */
async function againstHive(keyway, subgraph, jwksUrl, tokens) {
  log("subgraph query: keyway against Hive Gateway, hot and cold");
  const hive = await startProcess("bench/servers/hive-gateway.mjs", {
    env: {
      SUBGRAPH_URL: subgraph.url,
      KEYWAY_JWKS_URL: jwksUrl,
      JWT_PRIVATE_KEY: jwtPrivateKey,
      AUTHZ_FILE: path.join(root, "examples", "authz.json"),
      NODE_ENV: "production",
    },
    ready: /hive gateway at (\S+)/,
    nodeArgs: profile ? ["--cpu-prof", `--cpu-prof-dir=${profileDir}`] : [],
  });
  try {
    const url = `${keyway.url}/graphql`;
    const headers = tokens.hot();
    const [viaKeyway, viaHive] = [
      await gql(url, "{ myNotes { text } }", { headers }),
      await gql(hive.url, "{ myNotes { text } }", { headers }),
    ];
    if (JSON.stringify(viaKeyway.data) !== JSON.stringify(viaHive.data))
      throw new Error(`answers differ: ${JSON.stringify(viaKeyway.data)} vs ${JSON.stringify(viaHive.data)}`);
    const run = (target, headersFor, seconds = SECONDS) =>
      load({ url: target, connections: CONNECTIONS, seconds, body: MY_NOTES, headersFor });
    await run(hive.url, tokens.hot, WARM_SECONDS);
    const hot = await pairs(
      "vs Hive, hot",
      () => measured(keyway.pid, () => run(url, tokens.hot), "vs Hive hot"),
      () => measured(hive.pid, () => run(hive.url, tokens.hot), "Hive hot"),
    );
    pairRows.push(
      pairRow(
        "authenticated `{ myNotes { text } }` through keyway, hot (32 tokens: keyway's token cache warm)",
        hot,
        "Hive Gateway + JWT plugin + generic-auth, same tokens (no token cache: verifies each)",
        { target: "≥ 1.0", meets: (r) => r >= 1 },
      ),
    );
    const cold = await pairs(
      "vs Hive, cold",
      // keyway goes on with the turn of the cold subgraph row above: a token comes back only
      // after every other one, long after its cache entry (10 000 of them) was pushed out.
      () => measured(keyway.pid, () => run(url, tokens.cold("subgraph")), "vs Hive cold"),
      () => measured(hive.pid, () => run(hive.url, tokens.cold("Hive")), "Hive cold"),
    );
    pairRows.push(
      pairRow(
        `authenticated \`{ myNotes { text } }\` through keyway, cold (${SESSIONS} tokens, each new: keyway's cache cannot hit)`,
        cold,
        "Hive Gateway + JWT plugin + generic-auth, the same tokens in turn",
        { target: "≥ 1.0", meets: (r) => r >= 1 },
      ),
    );
  } finally {
    await hive.stop();
  }
}

/**
 * Two builds on one database, both running, the load alternating between them: what
 * a change moved, measured in the same minutes (`--versus <other build's main.js>`).
 */
async function compareBuilds(tokens, sessions) {
  if (!database.url) throw new Error("--versus needs DATABASE_URL: two processes cannot share the embedded database");
  const otherEnv = versus.startsWith("env:")
    ? Object.fromEntries(
        versus
          .slice(4)
          .split(",")
          .map((pair) => pair.split("=")),
      )
    : null;
  // With --only subgraph, both serve the notes subgraph (which verifies identities
  // against the first one's keys: both sign with this run's key).
  const withSubgraph = only?.has("subgraph") ?? false;
  const minePort = await freePort();
  const notes = withSubgraph
    ? await startProcess("dist-examples/notes-subgraph/server.js", {
        env: {
          NOTES_PORT: String(await freePort()),
          KEYWAY_JWKS_URL: `http://127.0.0.1:${minePort}/.well-known/jwks.json`,
        },
        ready: /notes subgraph at (\S+)/,
      })
    : null;
  const subgraphEnv = notes
    ? { SUBGRAPHS: `notes=${notes.url}`, AUTHZ_FILE: path.join(root, "examples", "authz.json") }
    : {};
  const [mine, theirs] = [
    await startKeyway(subgraphEnv, minePort),
    otherEnv ? await startKeyway({ ...subgraphEnv, ...otherEnv }) : await startKeyway(subgraphEnv, 0, versus),
  ];
  try {
    const [url, otherUrl] = [mine, theirs].map((keyway) => `${keyway.url}/graphql`);
    const half = Math.floor(sessions.length / 2);
    // Each build rotates sessions of its own, so neither presents a token the other rotated.
    const refreshes = [sessions.slice(0, half), sessions.slice(half)].map((list) =>
      refreshPool(
        list.map((session) => session.refreshToken),
        log,
      ),
    );
    const rows = [
      [
        "`me`, hot",
        (target) => load({ url: target, connections: CONNECTIONS, seconds: SECONDS, body: ME, headersFor: tokens.hot }),
      ],
      [
        "`me`, cold",
        (target) =>
          load({ url: target, connections: CONNECTIONS, seconds: SECONDS, body: ME, headersFor: tokens.cold(target) }),
      ],
      [
        "`refreshToken`",
        (target) => refreshes[target === url ? 0 : 1].run({ url: target, connections: CONNECTIONS, seconds: SECONDS }),
      ],
    ];
    if (notes)
      rows.push(
        [
          "subgraph query, hot",
          (target) =>
            load({ url: target, connections: CONNECTIONS, seconds: SECONDS, body: MY_NOTES, headersFor: tokens.hot }),
        ],
        [
          "subgraph query, cold",
          (target) =>
            load({
              url: target,
              connections: CONNECTIONS,
              seconds: SECONDS,
              body: MY_NOTES,
              headersFor: tokens.cold(`subgraph ${target}`),
            }),
        ],
      );
    for (const [name, run] of rows) {
      const part = name.includes("refresh") ? "refresh" : name.includes("subgraph") ? "subgraph" : "me";
      if (!runs(part)) continue;
      const results = await pairs(
        name,
        () => measured(mine.pid, () => run(url), `${name} A`),
        () => measured(theirs.pid, () => run(otherUrl), `${name} B`),
      );
      pairRows.push(pairRow(`${name}: ${keywayMain}`, results, versus, { target: "(A/B)", meets: () => true }));
      cpuNote(`${name}, ${keywayMain}`, results.a);
      cpuNote(`${name}, ${versus}`, results.b);
    }
  } finally {
    await mine.stop();
    await theirs.stop();
    await notes?.stop();
  }
}

// ---------------------------------------------------------------------------

function median(values) {
  const sorted = [...values].sort((a, b) => a - b);
  const middle = Math.floor(sorted.length / 2);
  return sorted.length % 2 ? sorted[middle] : (sorted[middle - 1] + sorted[middle]) / 2;
}

/** "median (min–max)" of `values`. */
function spread(values, digits) {
  const f = (value) => value.toFixed(digits);
  return `${f(median(values))} (${f(Math.min(...values))}–${f(Math.max(...values))})`;
}

function pairRow(name, { a, b }, baseline, { target, meets }) {
  const ratios = a.map((result, i) => result.requestsPerSecond / b[i].requestsPerSecond);
  const failures = [...a, ...b].reduce((sum, result) => sum + result.failures, 0);
  if (failures > 0)
    notes.push(
      `${name}: ${failures} failed answers (non-2xx, GraphQL errors or socket errors) — the row is not valid.`,
    );
  const verdict = failures > 0 ? "invalid" : meets(median(ratios)) ? "met" : "missed";
  return `| ${name} | ${spread(
    a.map((r) => r.requestsPerSecond),
    0,
  )} req/s | ${spread(
    b.map((r) => r.requestsPerSecond),
    0,
  )} req/s ${baseline} | ${spread(ratios, 2)} | ${target} | ${verdict} |`;
}

/** keyway's (and PostgreSQL's) CPU per request over these measurements. */
function cpuNote(name, results) {
  const completed = results.reduce((sum, result) => sum + result.completed, 0);
  const keyway = results.reduce((sum, result) => sum + result.keywayCpu, 0);
  const postgres = results.every((result) => result.postgresCpu !== null)
    ? results.reduce((sum, result) => sum + result.postgresCpu, 0)
    : null;
  const perRequest = (seconds) => `${((seconds * 1000) / completed).toFixed(2)} ms`;
  notes.push(
    `CPU per request, ${name}: keyway ${perRequest(keyway)}${
      postgres === null
        ? " (PostgreSQL's is inside keyway: PGlite)"
        : `, PostgreSQL (every postgres process on the machine) ${perRequest(postgres)}, together ${perRequest(keyway + postgres)}`
    } (${completed} requests).`,
  );
}

function renderReport() {
  return [
    `Run ${startedAt.toISOString()} — \`${command}\`${quick ? " (quick smoke run)" : ""}`,
    "",
    `- Machine: ${machine}`,
    `- Database: ${database.kind}; keyway's pool ${POOL_SIZE} connections`,
    `- Data: ${USERS} users, ${SESSIONS} live sessions with an access token each, signed by this run with keyway's key`,
    `- Pairs: ${ROUNDS} rounds of ${SECONDS} s per side after a ${WARM_SECONDS} s warm-up, alternating which side goes first; autocannon, ${CONNECTIONS} connections, in this process on the same cores`,
    `- Mix: ${MIX_RATE} req/s offered at a constant arrival rate (open loop, bench/lib/open-loop.mjs: a request starts when due whatever the answers before it, and its latency counts from then), ${MIX_SECONDS} s × ${ROUNDS} rounds; shares drawn at random per arrival; cold tokens for \`me\`, seeded sessions in turn for refreshes, seeded users in turn for logins, each from an address of its own`,
    "",
    "| row | keyway, median (min–max) | baseline, median (min–max) | ratio, median (min–max) | target | result |",
    "| --- | --- | --- | --- | --- | --- |",
    ...pairRows,
    ...(mixRows.length
      ? [
          "",
          "| in the mix | share | offered req/s | answered req/s | p50 ms | p99 ms | failures |",
          "| --- | --- | --- | --- | --- | --- | --- |",
          ...mixRows,
        ]
      : []),
    ...(notes.length ? ["", ...notes.map((note) => `- ${note}`)] : []),
  ].join("\n");
}

function writeResults(report) {
  const file = path.join(root, "docs", "benchmarks.md");
  const start = "<!-- bench:mix:start -->";
  const end = "<!-- bench:mix:end -->";
  const text = readFileSync(file, "utf8");
  const from = text.indexOf(start);
  const to = text.indexOf(end);
  if (from === -1 || to === -1) throw new Error(`${file} lacks the ${start} / ${end} markers`);
  writeFileSync(file, `${text.slice(0, from + start.length)}\n${report}\n${text.slice(to)}`);
  log(`wrote ${path.relative(root, file)}`);
}
