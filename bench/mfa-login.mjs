// `npm run bench:mfa`: what a second factor adds to signing in. Three kinds of
// sign-in against one keyway, measured from outside, in the same minutes:
//   - password: `login` of an account without a second factor (the baseline);
//   - TOTP: `login`, answered UNAUTHENTICATED with reason MFA_REQUIRED and a
//     challenge, then `completeLogin(challenge, code)`; each step and the total;
//   - passkey: `startPasskeyLogin`, the software authenticator's signature
//     (test/helpers/webauthn.ts, in this process), `finishPasskeyLogin`.
// Samples come in blocks of one kind, the kinds' order rotating every round, so
// all three see the same machine; once one at a time and once with a few in flight.
// argon2 dominates a password check; the point is the difference a factor makes.
//
// Usage: npm run bench:mfa -- [--samples 300] [--block 25] [--concurrency 1,4] [--totp-accounts 610]
// keyway runs on its embedded database (PGlite, fresh DATA_DIR); when
// BENCH_DATABASE_URL is set (an admin URL on 127.0.0.1), also on PostgreSQL, in a
// fresh database created and dropped by this run (bench/lib/scratch.mjs).
// A TOTP code's step is accepted once per account, so a TOTP account signs in at
// most once per 30-s step (its first step is spent confirming it). By default there
// is an account for every TOTP sign-in; with fewer (--totp-accounts), a sample may
// wait for the next step: counted, not timed.
// Tables on stdout, then one JSON line; progress on stderr.
import { generateKeyPairSync, randomUUID } from "node:crypto";
import { mkdtempSync, rmSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import { generate } from "otplib";
import pg from "pg";
import { cleanUpOnAbort, freePort, KEYWAY_LISTENING, killChildren, startProcess } from "./lib/processes.mjs";
import { scratch } from "./lib/scratch.mjs";
import { SoftAuthenticator } from "./lib/soft-authenticator.mjs";

const arg = (name, fallback) => {
  const at = process.argv.indexOf(`--${name}`);
  return at === -1 ? fallback : process.argv[at + 1];
};
const options = {
  samples: Number(arg("samples", 300)),
  block: Number(arg("block", 25)),
  concurrency: arg("concurrency", "1,4").split(",").map(Number),
  warmUp: 10,
};
// By default each TOTP account signs in once: an unloaded machine gets through more
// TOTP sign-ins in one 30-s step than a smaller pool holds.
options.totpAccounts = Number(arg("totp-accounts", options.warmUp + options.samples * options.concurrency.length));
/** Password and passkey accounts: enough that no account is in two samples at once. */
const SMALL_POOL = 8;
const PASSWORD = "correct horse battery staple";
const TOTP_PERIOD_SECONDS = 30;
const HARD_LIMIT_MS = 20 * 60_000;

const AUTH = "{ accessToken user { id } }";
const SIGN_UP = `mutation($i: SignUpInput!) { signUp(input: $i) ${AUTH} }`;
const LOGIN = `mutation($i: LoginInput!) { login(input: $i) ${AUTH} }`;
const COMPLETE_LOGIN = `mutation($challenge: String!, $code: String!) { completeLogin(challenge: $challenge, code: $code) ${AUTH} }`;
const START_TOTP = "mutation { startTotpEnrollment { secret } }";
const CONFIRM_TOTP = "mutation($code: String!) { confirmTotpEnrollment(code: $code) }";
const START_PASSKEY_REGISTRATION = "mutation { startPasskeyRegistration }";
const FINISH_PASSKEY_REGISTRATION =
  'mutation($response: String!) { finishPasskeyRegistration(response: $response, name: "bench") { id } }';
const START_PASSKEY_LOGIN = "mutation { startPasskeyLogin }";
const FINISH_PASSKEY_LOGIN = `mutation($response: String!) { finishPasskeyLogin(response: $response) ${AUTH} }`;

const log = (...parts) => process.stderr.write(`[mfa] ${parts.join(" ")}\n`);
const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));
const loadAverage = () => os.loadavg().map((load) => Math.round(load * 100) / 100);
const jwtKey = generateKeyPairSync("ec", { namedCurve: "P-256" })
  .privateKey.export({ type: "pkcs8", format: "pem" })
  .toString();
const dataDirs = [];

async function startKeyway(env) {
  // The authenticator reports this origin; keyway's rpId and origins default to APP_URL's.
  const port = await freePort();
  const origin = `http://localhost:${port}`;
  const dataDir = mkdtempSync(path.join(os.tmpdir(), "keyway-bench-mfa-"));
  dataDirs.push(dataDir);
  const keyway = await startProcess("dist/main.js", {
    env: {
      PORT: String(port),
      HOST: "127.0.0.1",
      LOG_LEVEL: "info",
      DATA_DIR: dataDir,
      JWT_PRIVATE_KEY: jwtKey,
      APP_URL: `${origin}/demo`,
      // Every sample signs in from 127.0.0.1, each account many times: no limit may answer instead.
      AUTH_IP_LIMIT: "100000000/1m",
      LOGIN_ATTEMPTS_LIMIT: "100000000/15m",
      ...env,
    },
    ready: KEYWAY_LISTENING,
    timeoutMs: 60_000,
  });
  return { ...keyway, origin };
}

/** One GraphQL call; the parsed answer, errors and all. */
async function call(url, query, variables = {}, accessToken) {
  const send = () =>
    fetch(`${url}/graphql`, {
      method: "POST",
      headers: {
        "content-type": "application/json",
        ...(accessToken ? { authorization: `Bearer ${accessToken}` } : {}),
      },
      body: JSON.stringify({ query, variables }),
    });
  // As in lib/load.mjs: a kept-alive connection the server closed just then is retried once.
  const response = await send().catch((error) =>
    error.cause?.code === "UND_ERR_SOCKET" ? send() : Promise.reject(error),
  );
  return (await response.json()) ?? {};
}

/** The answer's data field; throws with the whole answer when it has errors or lacks the field. */
function dataOf(answer, field) {
  const value = answer.data?.[field];
  if (answer.errors || value === undefined || value === null)
    throw new Error(`${field} failed: ${JSON.stringify(answer)}`);
  return value;
}

/** Throws unless `answer` signed in `account`: a refusal is a failure, not a fast sample. */
function expectSignedIn(answer, field, account) {
  const payload = dataOf(answer, field);
  if (!payload.accessToken || payload.user?.id !== account.userId)
    throw new Error(`${field} signed in someone else: ${JSON.stringify(answer)}`);
}

async function signUp(url) {
  const email = `bench-mfa-${randomUUID().slice(0, 8)}@example.io`;
  const payload = dataOf(await call(url, SIGN_UP, { i: { email, password: PASSWORD } }), "signUp");
  return { email, userId: payload.user.id, accessToken: payload.accessToken };
}

const currentEpoch = () => Math.floor(Date.now() / 1000);
const stepOf = (epoch) => Math.floor(epoch / TOTP_PERIOD_SECONDS);

/** An account with TOTP confirmed; the step that confirmed it is spent. */
async function enrolTotp(url) {
  const account = await signUp(url);
  const { secret } = dataOf(await call(url, START_TOTP, {}, account.accessToken), "startTotpEnrollment");
  const epoch = currentEpoch();
  dataOf(
    await call(url, CONFIRM_TOTP, { code: await generate({ secret, epoch }) }, account.accessToken),
    "confirmTotpEnrollment",
  );
  return { ...account, secret, lastStep: stepOf(epoch) };
}

/** An account with one passkey, on an authenticator of its own. */
async function enrolPasskey(url, origin) {
  const account = await signUp(url);
  const device = new SoftAuthenticator({ origin });
  const creationOptions = dataOf(
    await call(url, START_PASSKEY_REGISTRATION, {}, account.accessToken),
    "startPasskeyRegistration",
  );
  const response = JSON.stringify(device.register(creationOptions));
  dataOf(await call(url, FINISH_PASSKEY_REGISTRATION, { response }, account.accessToken), "finishPasskeyRegistration");
  return { ...account, device };
}

/**
 * Hands out each account to one sample at a time. With `oncePerStep`, an account
 * also only in a TOTP step after the one it last used (keyway accepts a step once),
 * waiting for the next step when none is left; `epoch` is the time its code is for.
 */
function accountPool(accounts, { oncePerStep = false } = {}) {
  const free = [...accounts];
  const pool = {
    waits: 0,
    async take() {
      for (;;) {
        const epoch = currentEpoch();
        const step = stepOf(epoch);
        const at = free.findIndex((account) => !oncePerStep || account.lastStep < step);
        if (at !== -1) {
          const [account] = free.splice(at, 1);
          if (oncePerStep) account.lastStep = step;
          return { account, epoch };
        }
        if (oncePerStep && free.length > 0) {
          pool.waits++;
          await sleep((step + 1) * TOTP_PERIOD_SECONDS * 1000 - Date.now() + 10);
        } else await sleep(1);
      }
    },
    release: (account) => free.push(account),
  };
  return pool;
}

/** The three kinds of sign-in, each sample timed from its first request to the last answer. */
function signInKinds(url, accounts) {
  return [
    {
      name: "password",
      pool: accountPool(accounts.password),
      async sample(account) {
        const started = performance.now();
        const answer = await call(url, LOGIN, { i: { email: account.email, password: PASSWORD } });
        const total = performance.now() - started;
        expectSignedIn(answer, "login", account);
        return { total };
      },
    },
    {
      name: "totp",
      pool: accountPool(accounts.totp, { oncePerStep: true }),
      async sample(account, epoch) {
        // The authenticator app's part, not timed: the code is on the user's screen before they type.
        const code = await generate({ secret: account.secret, epoch });
        const started = performance.now();
        const first = await call(url, LOGIN, { i: { email: account.email, password: PASSWORD } });
        const challenged = performance.now();
        const extensions = first.errors?.[0]?.extensions;
        if (extensions?.reason !== "MFA_REQUIRED" || typeof extensions.challenge !== "string")
          throw new Error(`login did not answer MFA_REQUIRED: ${JSON.stringify(first)}`);
        const second = await call(url, COMPLETE_LOGIN, { challenge: extensions.challenge, code });
        const done = performance.now();
        expectSignedIn(second, "completeLogin", account);
        return { total: done - started, login: challenged - started, completeLogin: done - challenged };
      },
    },
    {
      name: "passkey",
      pool: accountPool(accounts.passkey),
      async sample(account) {
        // Timed with the signature: a browser's part too, minus the user's touch.
        const started = performance.now();
        const requestOptions = dataOf(await call(url, START_PASSKEY_LOGIN), "startPasskeyLogin");
        const response = JSON.stringify(account.device.authenticate(requestOptions));
        const signed = performance.now();
        const answer = await call(url, FINISH_PASSKEY_LOGIN, { response });
        const done = performance.now();
        expectSignedIn(answer, "finishPasskeyLogin", account);
        return { total: done - started, startAndSign: signed - started, finish: done - signed };
      },
    },
  ];
}

/** `count` samples of `kind`, `concurrency` in flight. */
async function runBlock(kind, count, concurrency) {
  const samples = [];
  let begun = 0;
  const worker = async () => {
    while (begun < count) {
      begun++;
      const { account, epoch } = await kind.pool.take();
      try {
        samples.push(await kind.sample(account, epoch));
      } finally {
        kind.pool.release(account);
      }
    }
  };
  await Promise.all(Array.from({ length: concurrency }, worker));
  return samples;
}

function summarize(values) {
  const sorted = [...values].sort((a, b) => a - b);
  const at = (q) => sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))];
  const round = (ms) => Math.round(ms * 100) / 100;
  const mean = sorted.reduce((sum, value) => sum + value, 0) / sorted.length;
  return { n: sorted.length, p50: round(at(0.5)), p99: round(at(0.99)), mean: round(mean) };
}

/** Every kind at one concurrency, in rounds of one block per kind, the order rotating. */
async function measureAt(kinds, concurrency) {
  const samples = Object.fromEntries(kinds.map((kind) => [kind.name, []]));
  const rounds = Math.ceil(options.samples / options.block);
  for (let round = 0; round < rounds; round++) {
    const count = Math.min(options.block, options.samples - round * options.block);
    for (let i = 0; i < kinds.length; i++) {
      const kind = kinds[(i + round) % kinds.length];
      samples[kind.name].push(...(await runBlock(kind, count, concurrency)));
    }
  }
  const pick = (name, step) => summarize(samples[name].map((sample) => sample[step]));
  const baseline = pick("password", "total");
  const rows = [
    ["password login (baseline)", baseline],
    ["TOTP: login → MFA_REQUIRED", pick("totp", "login")],
    ["TOTP: completeLogin", pick("totp", "completeLogin")],
    ["TOTP total", pick("totp", "total")],
    ["passkey total", pick("passkey", "total")],
  ].map(([label, summary]) => ({ label, ...summary, ratioP50: Math.round((summary.p50 / baseline.p50) * 100) / 100 }));
  return {
    concurrency,
    rows,
    passkeySteps: { startAndSign: pick("passkey", "startAndSign"), finish: pick("passkey", "finish") },
  };
}

async function measureDatabase(label, env) {
  const keyway = await startKeyway(env);
  try {
    log(`${label}: keyway (pid ${keyway.pid}) at ${keyway.url}, passkey origin ${keyway.origin}`);
    log(`${label}: enrolling ${options.totpAccounts} TOTP accounts and ${SMALL_POOL} each of password and passkey`);
    const accounts = { password: [], totp: [], passkey: [] };
    for (let i = 0; i < SMALL_POOL; i++) {
      accounts.password.push(await signUp(keyway.url));
      accounts.passkey.push(await enrolPasskey(keyway.url, keyway.origin));
    }
    const enrolStarted = Date.now();
    for (let i = 0; i < options.totpAccounts; i++) accounts.totp.push(await enrolTotp(keyway.url));
    log(`${label}: TOTP accounts enrolled in ${Math.round((Date.now() - enrolStarted) / 1000)} s`);
    const kinds = signInKinds(keyway.url, accounts);
    // Warm-up: JIT, the connection pool, the hashing thread.
    for (const kind of kinds) await runBlock(kind, options.warmUp, 1);
    const totpPool = kinds.find((kind) => kind.name === "totp").pool;
    // Accounts enrolled in this step cannot sign in before the next: a warm-up wait is no news.
    totpPool.waits = 0;
    const loadAtStart = loadAverage();
    const started = Date.now();
    const byConcurrency = [];
    for (const concurrency of options.concurrency) {
      log(`${label}: ${options.samples} samples of each kind, ${concurrency} in flight`);
      byConcurrency.push(await measureAt(kinds, concurrency));
    }
    return {
      database: label,
      loadAtStart,
      loadAtEnd: loadAverage(),
      seconds: Math.round((Date.now() - started) / 1000),
      totpWaitsForNextStep: totpPool.waits,
      byConcurrency,
    };
  } finally {
    await keyway.stop();
  }
}

function printTable(result) {
  console.log(
    `\n${result.database}: ${options.samples} sign-ins of each kind per concurrency, blocks of ${options.block}, ` +
      `${result.seconds} s, load average ${result.loadAtStart[0]} → ${result.loadAtEnd[0]}, ` +
      `${result.totpWaitsForNextStep} waits for a TOTP step`,
  );
  console.log("\n| in flight | measurement | n | p50 ms | p99 ms | mean ms | p50 / baseline p50 |");
  console.log("| --- | --- | --- | --- | --- | --- | --- |");
  for (const { concurrency, rows } of result.byConcurrency)
    for (const row of rows)
      console.log(
        `| ${concurrency} | ${row.label} | ${row.n} | ${row.p50.toFixed(1)} | ${row.p99.toFixed(1)} | ${row.mean.toFixed(1)} | ${row.ratioP50.toFixed(2)} |`,
      );
}

async function serverVersion(url) {
  const client = new pg.Client({ connectionString: url });
  await client.connect();
  try {
    return (await client.query("SHOW server_version")).rows[0].server_version;
  } finally {
    await client.end();
  }
}

const database = scratch();
let created = false;
async function cleanUp() {
  killChildren();
  if (created) await database.drop().catch((error) => log("could not drop", database.name, error.message));
  for (const dir of dataDirs) rmSync(dir, { recursive: true, force: true });
}
cleanUpOnAbort(cleanUp, HARD_LIMIT_MS, log);

try {
  const result = {
    machine: {
      cpu: os.cpus()[0]?.model,
      cores: os.cpus().length,
      memoryGiB: Math.round((os.totalmem() / 2 ** 30) * 10) / 10,
      node: process.version,
    },
    options,
    runs: [],
  };
  console.log(
    `Machine: ${result.machine.cpu}, ${result.machine.cores} cores, ${result.machine.memoryGiB} GiB; Node ${result.machine.node}`,
  );
  result.runs.push(await measureDatabase("embedded (PGlite)", {}));
  printTable(result.runs.at(-1));
  if (process.env.BENCH_DATABASE_URL) {
    await database.create();
    created = true;
    const version = await serverVersion(database.url);
    result.runs.push(await measureDatabase(`PostgreSQL ${version}`, { DATABASE_URL: database.url }));
    printTable(result.runs.at(-1));
  }
  console.log(JSON.stringify(result));
} finally {
  await cleanUp();
}
