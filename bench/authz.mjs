// `npm run bench:authz`: what enforcing the Federation authorization directives
// costs keyway, and whether keyway still outruns Hive Gateway when both enforce them.
//
//   A. overhead — one query, { myNotes { id text createdAt } }, through two keyway
//      processes that differ only in their subgraph's SDL: with @authenticated on
//      myNotes, @requiresScopes on Note.text and @policy on Note.createdAt, all of
//      which the caller satisfies (bench/servers/authz-subgraph.mjs), or the same
//      SDL without them.
//   B. refused — the same plus Note.secret, which the caller lacks the scope for:
//      keyway drops it from the document and reshapes the answer (null + FORBIDDEN
//      per note); the baseline serves it without directives.
//   C. Hive — query A through keyway and through Hive Gateway over the same
//      directive-bearing subgraph, Hive enforcing the directives too
//      (bench/servers/hive-gateway.mjs with AUTHZ_FILE).
//
// Each comparison runs `--rounds` alternating pairs (the order flips every round,
// so drift on a shared machine falls on both sides) and reports the median ratio
// and its range, never a single pair. Before measuring, a caller without the role
// is refused by each enforcing gateway and served by the plain one, so the rows
// compare enforcement that is really on. Every answer under load is compared with
// the one the probe got; any other answer is a failure and makes the row invalid.
//
// The caller's role is granted the way an operator does it: `keyway db:migrate`,
// `keyway user:create`, `keyway role:grant <email> reader` against each keyway's
// embedded PGlite before it starts, then one login per session.
//
// Usage: npm run bench:authz [-- --rounds 7] [-- --seconds 10] [-- --quick] [-- --only A,B,C] [-- --profile]
//   --profile  start both keyways with --cpu-prof; profiles land in bench/profiles/
//              (`node bench/profile-summary.mjs <file>` ranks the hot spots)
import "./lib/ensure-deps.mjs";
import { execFileSync } from "node:child_process";
import { generateKeyPairSync } from "node:crypto";
import { mkdirSync, mkdtempSync, writeFileSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import { gql, load } from "./lib/load.mjs";
import { cpuSeconds, freePort, KEYWAY_LISTENING, killChildren, root, startProcess } from "./lib/processes.mjs";

const argv = process.argv.slice(2);
const option = (name, fallback) => (argv.includes(`--${name}`) ? argv[argv.indexOf(`--${name}`) + 1] : fallback);
const quick = argv.includes("--quick");
const ROUNDS = Number(option("rounds", quick ? 1 : 7));
const SECONDS = Number(option("seconds", quick ? 2 : 10));
const WARM_SECONDS = quick ? 1 : 3;
const CONNECTIONS = 32;
const SESSIONS = 8;
const only = new Set(option("only", "A,B,C").split(","));
const profileDir = argv.includes("--profile") ? path.join(root, "bench", "profiles") : null;
const PASSWORD = "correct horse battery staple";
const AUTHZ = {
  roles: { reader: ["notes:read"] },
  policies: { reader: { anyRole: ["reader"] } },
};
const QUERY = "{ myNotes { id text createdAt } }";
const REFUSED_QUERY = "{ myNotes { id text createdAt secret } }";

const log = (message) => process.stderr.write(`[bench:authz] ${message}\n`);
const startedAt = new Date();
const loadAverage = () =>
  os
    .loadavg()
    .map((value) => value.toFixed(2))
    .join(" ");
const loadAtStart = loadAverage();
process.on("SIGINT", () => (killChildren(), process.exit(130)));

const jwtPrivateKey = generateKeyPairSync("ec", { namedCurve: "P-256" })
  .privateKey.export({ format: "pem", type: "pkcs8" })
  .toString();
const authzFile = path.join(mkdtempSync(path.join(os.tmpdir(), "keyway-bench-authz-")), "authz.json");
writeFileSync(authzFile, JSON.stringify(AUTHZ));
const rows = [];
const stops = [];
if (profileDir) mkdirSync(profileDir, { recursive: true });

try {
  const guarded = { ...(await startStack("on")), name: "keyway, directives" };
  const plain = { ...(await startStack("off")), name: "keyway, no directives" };
  await probe(guarded, plain);
  await warm([guarded, plain], QUERY);
  if (only.has("A")) rows.push(await compare("A. directives, all admitted", QUERY, guarded, plain));
  if (only.has("B")) rows.push(await compare("B. one field refused (reshaped)", REFUSED_QUERY, guarded, plain));
  if (only.has("C")) {
    const hive = await startHive(guarded);
    await warm([hive], QUERY);
    rows.push(await compare("C. vs Hive Gateway, both enforcing", QUERY, { ...guarded, name: "keyway" }, hive));
  }
} finally {
  for (const stop of stops.reverse()) await stop().catch(() => undefined);
  killChildren();
}
process.stdout.write(`${render()}\n`);

// ---------------------------------------------------------------------------

/** A subgraph (directives on or off) and a keyway in front of it, with a reader's sessions and a roleless caller. */
async function startStack(directives) {
  const keywayPort = await freePort();
  const subgraph = await startProcess("bench/servers/authz-subgraph.mjs", {
    env: { KEYWAY_JWKS_URL: `http://127.0.0.1:${keywayPort}/.well-known/jwks.json`, DIRECTIVES: directives },
    ready: /authz subgraph \(directives \w+\) at (\S+)/,
  });
  stops.push(subgraph.stop);
  const env = {
    PORT: String(keywayPort),
    HOST: "127.0.0.1",
    // Production logging: one access-log line per request, as in `npm run bench`.
    LOG_LEVEL: "info",
    DATA_DIR: mkdtempSync(path.join(os.tmpdir(), "keyway-bench-authz-")),
    JWT_PRIVATE_KEY: jwtPrivateKey,
    AUTHZ_FILE: authzFile,
    SUBGRAPHS: `notes=${subgraph.url}`,
    AUTH_IP_LIMIT: "100000000/1m",
  };
  const email = `reader-${directives}-${Date.now()}@example.io`;
  keywayCli(env, ["db:migrate"]);
  keywayCli(env, ["user:create", email], PASSWORD);
  keywayCli(env, ["role:grant", email, "reader"]);
  const keyway = await startProcess("dist/main.js", {
    env,
    ready: KEYWAY_LISTENING,
    nodeArgs: profileDir
      ? ["--cpu-prof", `--cpu-prof-dir=${profileDir}`, `--cpu-prof-name=keyway-directives-${directives}.cpuprofile`]
      : [],
  });
  stops.push(keyway.stop);
  const url = `${keyway.url}/graphql`;
  log(`keyway (pid ${keyway.pid}) over the subgraph with directives ${directives} (pid ${subgraph.pid}) at ${url}`);
  const tokens = [];
  for (let i = 0; i < SESSIONS; i++) tokens.push(await logIn(url, email));
  const roleless = `roleless-${directives}-${Date.now()}@example.io`;
  const { data } = await gql(url, "mutation($i: SignUpInput!) { signUp(input: $i) { accessToken } }", {
    variables: { i: { email: roleless, password: PASSWORD } },
  });
  return {
    url,
    jwksUrl: `${keyway.url}/.well-known/jwks.json`,
    pid: keyway.pid,
    subgraphUrl: subgraph.url,
    subgraphPid: subgraph.pid,
    tokens,
    rolelessToken: data.signUp.accessToken,
  };
}

function keywayCli(env, args, stdin = "") {
  execFileSync(process.execPath, [path.join(root, "scripts/keyway.cjs"), ...args], {
    cwd: root,
    env: { PATH: process.env.PATH, HOME: process.env.HOME, ...env, LOG_LEVEL: "warn" },
    input: stdin,
    stdio: ["pipe", "ignore", "inherit"],
  });
}

async function logIn(url, email) {
  const { data } = await gql(url, "mutation($i: LoginInput!) { login(input: $i) { accessToken } }", {
    variables: { i: { email, password: PASSWORD } },
  });
  return data.login.accessToken;
}

/** Hive Gateway over the guarded stack's subgraph, verifying keyway's tokens and enforcing the directives. */
async function startHive(guarded) {
  const hive = await startProcess("bench/servers/hive-gateway.mjs", {
    env: {
      SUBGRAPH_URL: guarded.subgraphUrl,
      KEYWAY_JWKS_URL: guarded.jwksUrl,
      JWT_PRIVATE_KEY: jwtPrivateKey,
      AUTHZ_FILE: authzFile,
      NODE_ENV: "production",
    },
    ready: /hive gateway at (\S+)/,
  });
  stops.push(hive.stop);
  // The reader gets what keyway gives them; the roleless caller loses the guarded fields.
  const viaKeyway = await ask(guarded.url, QUERY, guarded.tokens[0]);
  const viaHive = await ask(hive.url, QUERY, guarded.tokens[0]);
  if (JSON.stringify(viaHive) !== JSON.stringify(viaKeyway))
    throw new Error(`Hive answers differently: ${JSON.stringify(viaHive)} vs ${JSON.stringify(viaKeyway)}`);
  const refused = await ask(hive.url, QUERY, guarded.rolelessToken);
  expectRefused("Hive Gateway", refused, ["text", "createdAt"]);
  log(`hive gateway (pid ${hive.pid}) at ${hive.url}; a roleless caller gets ${summarize(refused)}`);
  return {
    name: "Hive Gateway + JWT plugin + genericAuth",
    url: hive.url,
    pid: hive.pid,
    subgraphPid: guarded.subgraphPid,
    tokens: guarded.tokens,
  };
}

/** Enforcement is on where it should be, and both stacks give a reader the same notes. */
async function probe(guarded, plain) {
  const reader = await ask(guarded.url, QUERY, guarded.tokens[0]);
  const baseline = await ask(plain.url, QUERY, plain.tokens[0]);
  if (reader.errors || baseline.errors || reader.data.myNotes.length !== baseline.data.myNotes.length)
    throw new Error(`the reader is not served alike: ${JSON.stringify(reader)} vs ${JSON.stringify(baseline)}`);
  expectRefused("keyway with directives", await ask(guarded.url, QUERY, guarded.rolelessToken), ["text", "createdAt"]);
  const unguarded = await ask(plain.url, QUERY, plain.rolelessToken);
  if (unguarded.errors) throw new Error(`keyway without directives refused: ${JSON.stringify(unguarded)}`);
  const reshaped = await ask(guarded.url, REFUSED_QUERY, guarded.tokens[0]);
  expectRefused("keyway with directives", reshaped, ["secret"]);
  if (reshaped.data?.myNotes?.[0]?.text !== "note 0")
    throw new Error(`the reader lost more than the secret: ${JSON.stringify(reshaped)}`);
}

/**
 * Refused: at least one error, each a refusal at one of `fields`, and no value of
 * those fields in the data. (keyway answers a refused non-null field with null,
 * which bubbles; Hive drops the field: both keep the value from the caller.)
 */
function expectRefused(who, answer, fields) {
  const errors = answer.errors ?? [];
  const refusals =
    errors.length > 0 &&
    errors.every(
      (error) =>
        ["FORBIDDEN", "UNAUTHORIZED_FIELD_OR_TYPE"].includes(error.extensions?.code) &&
        fields.includes(error.path?.at(-1)),
    );
  const leaked = (answer.data?.myNotes ?? []).some((note) => note && fields.some((field) => note[field] != null));
  if (!refusals || leaked)
    throw new Error(`${who} does not refuse ${fields.join(", ")} as expected: ${JSON.stringify(answer)}`);
}

function summarize(answer) {
  const codes = new Set(answer.errors.map((error) => error.extensions.code));
  const fields = new Set(answer.errors.map((error) => error.path.at(-1)));
  return `${answer.errors.length} refusal(s), ${[...codes].join(", ")}, on ${[...fields].join(", ")}`;
}

async function ask(url, query, token) {
  return JSON.parse(await send(url, query, token));
}

/** The answer's body as sent: what every answer under load is compared with. */
async function send(url, query, token) {
  const response = await fetch(url, {
    method: "POST",
    headers: { "content-type": "application/json", authorization: `Bearer ${token}` },
    body: JSON.stringify({ query }),
  });
  return response.text();
}

async function warm(targets, query) {
  for (const target of targets)
    await load({
      url: target.url,
      connections: CONNECTIONS,
      seconds: WARM_SECONDS,
      body: JSON.stringify({ query }),
      headersFor: bearer(target.tokens),
      onAnswer: (status) => status === 200,
    });
}

/** Spreads requests over the sessions' access tokens, round robin. */
function bearer(tokens) {
  let next = 0;
  return () => ({ authorization: `Bearer ${tokens[next++ % tokens.length]}` });
}

/** One measurement: throughput, latency, and the CPU each named process spent per answered request. */
async function measure(target, query, expected) {
  const pids = { gateway: target.pid, subgraph: target.subgraphPid };
  const before = Object.fromEntries(Object.entries(pids).map(([name, pid]) => [name, cpuSeconds(pid)]));
  const result = await load({
    url: target.url,
    connections: CONNECTIONS,
    seconds: SECONDS,
    body: JSON.stringify({ query }),
    headersFor: bearer(target.tokens),
    // Every session belongs to one user, so every answer is the probe's, byte for byte.
    onAnswer(status, body) {
      const ok = status === 200 && body === expected;
      if (!ok && process.env.BENCH_DEBUG) log(`unexpected answer from ${target.url}: ${status} ${body.slice(0, 300)}`);
      return ok;
    },
  });
  const cpuMicros = Object.fromEntries(
    Object.entries(pids).map(([name, pid]) => [
      name,
      ((cpuSeconds(pid) - before[name]) * 1e6) / Math.max(1, result.completed),
    ]),
  );
  return { ...result, cpuMicros };
}

/** `rounds` alternating pairs; the first runs first in odd rounds, second in even ones. */
async function compare(name, query, subject, baseline) {
  log(`${name}: ${ROUNDS} rounds of ${SECONDS} s each side`);
  const expected = {
    subject: await send(subject.url, query, subject.tokens[0]),
    baseline: await send(baseline.url, query, baseline.tokens[0]),
  };
  const pairs = [];
  for (let round = 0; round < ROUNDS; round++) {
    const pair = {};
    const order = round % 2 === 0 ? ["subject", "baseline"] : ["baseline", "subject"];
    for (const side of order)
      pair[side] = await measure(side === "subject" ? subject : baseline, query, expected[side]);
    pair.load = os.loadavg()[0];
    pairs.push(pair);
    log(
      `  round ${round + 1}: ${Math.round(pair.subject.requestsPerSecond)} vs ${Math.round(pair.baseline.requestsPerSecond)} req/s (ratio ${(pair.subject.requestsPerSecond / pair.baseline.requestsPerSecond).toFixed(2)}), load ${pair.load.toFixed(2)}`,
    );
  }
  return { name, subject: subject.name, baseline: baseline.name, pairs };
}

function median(values) {
  const sorted = [...values].sort((a, b) => a - b);
  const middle = Math.floor(sorted.length / 2);
  return sorted.length % 2 ? sorted[middle] : (sorted[middle - 1] + sorted[middle]) / 2;
}

function spread(values) {
  return `${Math.min(...values).toFixed(2)}–${Math.max(...values).toFixed(2)}`;
}

function render() {
  const lines = [
    `Run ${startedAt.toISOString()} — \`npm run bench:authz${argv.length ? ` -- ${argv.join(" ")}` : ""}\`${quick ? " (quick smoke run)" : ""}`,
    "",
    `- Machine: ${os.cpus()[0]?.model ?? "unknown"}, ${os.cpus().length} cores; Node ${process.version}; load average ${loadAtStart} at start, ${loadAverage()} at the end`,
    `- Each side of each round: autocannon, ${SECONDS} s, ${CONNECTIONS} connections over ${SESSIONS} sessions of one user; ${ROUNDS} alternating rounds; keyway on PGlite, all on 127.0.0.1`,
    "",
    "| comparison | req/s, subject / baseline (medians) | throughput ratio, median (range) | p50 / p99 ms, subject | p50 / p99 ms, baseline | gateway CPU per request, subject / baseline (medians) | CPU ratio, median (range) |",
    "| --- | --- | --- | --- | --- | --- | --- |",
  ];
  const notes = [];
  for (const row of rows) {
    const ratios = row.pairs.map((pair) => pair.subject.requestsPerSecond / pair.baseline.requestsPerSecond);
    const side = (key) => ({
      rps: median(row.pairs.map((pair) => pair[key].requestsPerSecond)),
      p50: median(row.pairs.map((pair) => pair[key].p50)),
      p99: median(row.pairs.map((pair) => pair[key].p99)),
      cpu: median(row.pairs.map((pair) => pair[key].cpuMicros.gateway)),
      failures: row.pairs.reduce((sum, pair) => sum + pair[key].failures, 0),
    });
    const subject = side("subject");
    const baseline = side("baseline");
    if (subject.failures + baseline.failures > 0)
      notes.push(`${row.name}: ${subject.failures + baseline.failures} unexpected answers — the row is not valid.`);
    // Per pair: the gateway CPU per request moves much less with the neighbours than throughput does.
    const cpuRatios = row.pairs.map((pair) => pair.subject.cpuMicros.gateway / pair.baseline.cpuMicros.gateway);
    lines.push(
      `| ${row.name}: ${row.subject} vs ${row.baseline} | ${Math.round(subject.rps)} / ${Math.round(baseline.rps)} | ${median(ratios).toFixed(2)} (${spread(ratios)}) | ${subject.p50} / ${subject.p99} | ${baseline.p50} / ${baseline.p99} | ${Math.round(subject.cpu)} / ${Math.round(baseline.cpu)} µs | ${median(cpuRatios).toFixed(2)} (${spread(cpuRatios)}) |`,
    );
  }
  const loads = rows.map((row) => `${row.name.split(".")[0]} ${spread(row.pairs.map((pair) => pair.load))}`);
  notes.push(`1-minute load average after each round: ${loads.join("; ")}`);
  return [...lines, "", ...notes.map((note) => `- ${note}`)].join("\n");
}
