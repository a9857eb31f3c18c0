// `npm run bench:accounts`: (a) does requestPasswordReset tell a known address from
// an unknown one by its time? N requests for each, interleaved and alternating which
// goes first, against keyway on the embedded database (PGlite, fresh DATA_DIR) with
// a loopback SMTP server that really receives the known addresses' mails. Prints
// median and p90 of each and their ratios (API.md: within 10 %). (b) Reset to
// refusal: a password reset on instance A, and how long instance B still accepts
// the session's old access token — two instances on PostgreSQL, with Redis (poll
// 60 s, so only pub/sub counts) and without it (the default 2 s database poll).
//
// Usage: npm run bench:accounts -- [--trials 300] [--accounts 30] [--refusals 20] [--only timing,refusal]
// (b) needs PostgreSQL (BENCH_DATABASE_URL or TEST_DATABASE_URL as the admin URL,
// else postgres://postgres@127.0.0.1:5432/postgres; a fresh database is created and
// dropped) and Redis (REDIS_URL, else redis://127.0.0.1:6379; keys under a unique
// prefix, removed at the end). Everything listens on 127.0.0.1. Tables and ratios on
// stdout, then one JSON line; progress on stderr.
import { generateKeyPairSync, randomUUID } from "node:crypto";
import { mkdtempSync, rmSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import { simpleParser } from "mailparser";
import { SMTPServer } from "smtp-server";
import { cleanUpOnAbort, KEYWAY_LISTENING, killChildren, startProcess } from "./lib/processes.mjs";
import { redisUrl, scratch } from "./lib/scratch.mjs";

const arg = (name, fallback) => {
  const at = process.argv.indexOf(`--${name}`);
  return at === -1 ? fallback : process.argv[at + 1];
};
const options = {
  trials: Number(arg("trials", 300)),
  accounts: Number(arg("accounts", 30)),
  refusals: Number(arg("refusals", 20)),
  only: new Set(arg("only", "timing,refusal").split(",").filter(Boolean)),
};
const PASSWORD = "correct horse battery staple";
const NEW_PASSWORD = "a brand new passphrase";
const POLL_EVERY_MS = 10;
const GIVE_UP_MS = 15_000;
const HARD_LIMIT_MS = 10 * 60_000;

const database = scratch();
const prefix = database.redisPrefix;
const dbName = database.name;
const databaseUrl = database.url;
const dataDirs = [];
const tempDir = () => {
  const dir = mkdtempSync(path.join(os.tmpdir(), "keyway-bench-accounts-"));
  dataDirs.push(dir);
  return dir;
};
const jwtKey = generateKeyPairSync("ec", { namedCurve: "P-256" })
  .privateKey.export({ type: "pkcs8", format: "pem" })
  .toString();
const loadAtStart = os.loadavg().map((load) => Math.round(load * 100) / 100);
const log = (...parts) => process.stderr.write(`[accounts] ${parts.join(" ")}\n`);
const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

/** A loopback SMTP server that keeps, per recipient, how many mails came and the last link token. */
async function startSmtpSink() {
  const received = new Map();
  const waiters = new Set();
  const server = new SMTPServer({
    authOptional: true,
    disabledCommands: ["STARTTLS"],
    logger: false,
    onData(stream, session, callback) {
      simpleParser(stream)
        .then((mail) => {
          const token = /#token=([A-Za-z0-9_-]+)/.exec(mail.text ?? "")?.[1] ?? null;
          for (const { address } of session.envelope.rcptTo) {
            const entry = received.get(address) ?? { count: 0, token: null };
            entry.count++;
            if (token) entry.token = token;
            received.set(address, entry);
          }
          for (const wake of waiters) wake();
          callback();
        })
        .catch(callback);
    },
  });
  server.on("error", () => undefined);
  await new Promise((resolve) => server.listen(0, "127.0.0.1", resolve));
  return {
    url: `smtp://127.0.0.1:${server.server.address().port}`,
    received,
    /** The next link token mailed to `email` after `count` mails had come. */
    tokenAfter(email, count) {
      return new Promise((resolve, reject) => {
        const check = () => {
          const entry = received.get(email);
          if (!entry || entry.count <= count || !entry.token) return;
          waiters.delete(check);
          clearTimeout(timer);
          resolve(entry.token);
        };
        const timer = setTimeout(() => {
          waiters.delete(check);
          reject(new Error(`no mail to ${email} within ${GIVE_UP_MS} ms`));
        }, GIVE_UP_MS);
        waiters.add(check);
        check();
      });
    },
    stop: () => new Promise((resolve) => server.close(resolve)),
  };
}

async function startKeyway(env) {
  const ready = env.REDIS_URL
    ? new RegExp(`^(?=[^]*?"msg":"redis is up)[^]*?${KEYWAY_LISTENING.source}`)
    : KEYWAY_LISTENING;
  return startProcess("dist/main.js", {
    env: {
      PORT: "0",
      HOST: "127.0.0.1",
      LOG_LEVEL: "info",
      JWT_PRIVATE_KEY: jwtKey,
      AUTH_IP_LIMIT: "100000000/1m",
      MAIL_POLL_INTERVAL: "1s",
      REDIS_KEY_PREFIX: prefix,
      ...env,
    },
    ready,
    timeoutMs: 60_000,
  });
}

async function gql(url, query, variables, headers = {}) {
  const response = await fetch(`${url}/graphql`, {
    method: "POST",
    headers: { "content-type": "application/json", ...headers },
    body: JSON.stringify({ query, variables }),
  });
  return (await response.json()) ?? {};
}
const SIGN_UP = "mutation($i: SignUpInput!) { signUp(input: $i) { accessToken } }";
const REQUEST_RESET = "mutation($email: String!) { requestPasswordReset(email: $email) }";
const RESET = "mutation($t: String!, $p: String!) { resetPassword(token: $t, newPassword: $p) { accessToken } }";
const ME = "query Me { me { id } }";

async function signUp(url) {
  const email = `bench-${randomUUID().slice(0, 8)}@example.io`;
  const body = await gql(url, SIGN_UP, { i: { email, password: PASSWORD } });
  const accessToken = body.data?.signUp?.accessToken;
  if (!accessToken) throw new Error(`signUp failed: ${JSON.stringify(body)}`);
  return { email, accessToken };
}

async function requestReset(url, email) {
  const started = performance.now();
  const body = await gql(url, REQUEST_RESET, { email });
  const ms = performance.now() - started;
  if (body.data?.requestPasswordReset !== true) throw new Error(`requestPasswordReset failed: ${JSON.stringify(body)}`);
  return ms;
}

function summarize(samples) {
  const sorted = [...samples].sort((a, b) => a - b);
  const at = (q) => sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))];
  const round = (ms) => Math.round(ms * 100) / 100;
  return { n: sorted.length, median: round(at(0.5)), p90: round(at(0.9)), worst: round(sorted.at(-1)) };
}
const ratio = (a, b) => Math.round((a / b) * 1000) / 1000;
const row = (cells, widths) => cells.map((cell, i) => String(cell).padStart(widths[i])).join("  ");

/** (a) Known against unknown addresses, interleaved; each known account asked for in turn. */
async function measureTiming() {
  const smtp = await startSmtpSink();
  // The per-address limit is set high: each known account is asked for trials/accounts times.
  const keyway = await startKeyway({ DATA_DIR: tempDir(), SMTP_URL: smtp.url, MAIL_ADDRESS_LIMIT: "100000000/1h" });
  try {
    log(`(a) signing up ${options.accounts} accounts`);
    const known = [];
    for (let i = 0; i < options.accounts; i++) known.push((await signUp(keyway.url)).email);
    const unknown = () => `ghost-${randomUUID().slice(0, 8)}@example.io`;
    // Warm-up: JIT, connection pool, the SMTP connection.
    for (let i = 0; i < 20; i++) {
      await requestReset(keyway.url, unknown());
      await requestReset(keyway.url, known[i % known.length]);
    }
    log(`(a) ${options.trials} requests of each, shuffled`);
    // Shuffled rather than alternating: a known address's mail leaves work behind for the
    // next requests, and pairs would put the other kind next more often than its own.
    const order = [...Array(options.trials).fill(true), ...Array(options.trials).fill(false)];
    for (let i = order.length - 1; i > 0; i--) {
      const j = Math.floor(Math.random() * (i + 1));
      [order[i], order[j]] = [order[j], order[i]];
    }
    const samples = { known: [], unknown: [] };
    for (const [i, isKnown] of order.entries()) {
      if (isKnown) samples.known.push(await requestReset(keyway.url, known[samples.known.length % known.length]));
      else samples.unknown.push(await requestReset(keyway.url, unknown()));
      if ((i + 1) % 200 === 0) log(`    ${i + 1}/${order.length}`);
    }
    // Every known request ends in a mail sent, or given up when a newer request for the
    // same address ended its link first (the worker runs at its poll, behind the requests);
    // no unknown one does.
    const expected = 20 + options.trials;
    const mailMetric = async (name) => {
      const text = await (await fetch(`${keyway.url}/metrics`)).text();
      const line = text.split("\n").find((candidate) => candidate.startsWith(`${name}{kind="password-reset"} `));
      return line ? Number(line.split(" ")[1]) : 0;
    };
    const deadline = Date.now() + GIVE_UP_MS;
    let [sent, givenUp] = [0, 0];
    while (Date.now() < deadline) {
      [sent, givenUp] = [await mailMetric("keyway_mails_sent_total"), await mailMetric("keyway_mails_failed_total")];
      if (sent + givenUp >= expected) break;
      await sleep(200);
    }
    const toUnknown = [...smtp.received.keys()].filter((address) => address.startsWith("ghost-")).length;
    const knownSummary = summarize(samples.known);
    const unknownSummary = summarize(samples.unknown);
    return {
      known: knownSummary,
      unknown: unknownSummary,
      ratioMedian: ratio(unknownSummary.median, knownSummary.median),
      ratioP90: ratio(unknownSummary.p90, knownSummary.p90),
      knownRequests: expected,
      mailsSent: sent,
      mailsSuperseded: givenUp,
      mailsToUnknown: toUnknown,
    };
  } finally {
    await keyway.stop();
    await smtp.stop();
  }
}

/** (b) One trial: sign up on B, reset through A, poll B with the old token until it is refused. */
async function refusalTrial(a, b, smtp, jitterMs) {
  const account = await signUp(b.url);
  const mailedBefore = smtp.received.get(account.email)?.count ?? 0;
  await requestReset(a.url, account.email);
  const token = await smtp.tokenAfter(account.email, mailedBefore);
  const before = await gql(b.url, ME, {}, { authorization: `Bearer ${account.accessToken}` });
  if (!before.data?.me) throw new Error(`token refused on B before the reset: ${JSON.stringify(before)}`);
  // Without it, trials lock onto B's poll timer and every delay comes out alike (instances.mjs says more).
  await sleep(Math.random() * jitterMs);
  const sentAt = performance.now();
  const reset = await gql(a.url, RESET, { t: token, p: NEW_PASSWORD });
  const answeredAt = performance.now();
  if (!reset.data?.resetPassword) throw new Error(`resetPassword failed: ${JSON.stringify(reset)}`);
  for (;;) {
    const body = await gql(b.url, ME, {}, { authorization: `Bearer ${account.accessToken}` });
    const now = performance.now();
    if (body.errors?.[0]?.extensions?.code === "UNAUTHENTICATED")
      return { fromResetStart: now - sentAt, fromResetAnswer: now - answeredAt };
    if (!body.data?.me) throw new Error(`unexpected answer while polling: ${JSON.stringify(body)}`);
    if (now - sentAt > GIVE_UP_MS) throw new Error(`B still accepts the token ${GIVE_UP_MS} ms after the reset`);
    await sleep(POLL_EVERY_MS);
  }
}

async function measureRefusal(label, env, jitterMs) {
  log(`(b) ${label}: starting two instances`);
  const smtp = await startSmtpSink();
  const shared = { DATABASE_URL: databaseUrl, DATA_DIR: tempDir(), SMTP_URL: smtp.url, ...env };
  const [a, b] = await Promise.all([startKeyway(shared), startKeyway(shared)]);
  try {
    const results = [];
    for (let i = 0; i < options.refusals; i++) results.push(await refusalTrial(a, b, smtp, jitterMs));
    return {
      redis: Boolean(env.REDIS_URL),
      revocationPollInterval: env.REVOCATION_POLL_INTERVAL ?? "2s (default)",
      fromResetStart: summarize(results.map((result) => result.fromResetStart)),
      fromResetAnswer: summarize(results.map((result) => result.fromResetAnswer)),
    };
  } finally {
    await Promise.all([a.stop(), b.stop()]);
    await smtp.stop();
  }
}

let created = false;
async function cleanUp() {
  killChildren();
  if (created) await database.drop().catch((error) => log("could not drop", dbName, error.message));
  await database.clearRedis().catch(() => undefined);
  for (const dir of dataDirs) rmSync(dir, { recursive: true, force: true });
}

cleanUpOnAbort(cleanUp, HARD_LIMIT_MS, log);

try {
  const result = {
    machine: { cpus: os.cpus().length, model: os.cpus()[0]?.model, node: process.version, loadavgAtStart: loadAtStart },
  };
  if (options.only.has("timing")) {
    const timing = await measureTiming();
    result.resetRequestTiming = timing;
    const widths = [10, 6, 12, 10, 10];
    console.log(
      `(a) requestPasswordReset, ${options.trials} known and ${options.trials} unknown, shuffled, back to back, PGlite, ${options.accounts} known accounts`,
    );
    console.log(row(["address", "n", "median ms", "p90 ms", "worst ms"], widths));
    for (const kind of ["known", "unknown"]) {
      const s = timing[kind];
      console.log(row([kind, s.n, s.median.toFixed(2), s.p90.toFixed(2), s.worst.toFixed(2)], widths));
    }
    console.log(
      `ratio unknown/known: median ${timing.ratioMedian}, p90 ${timing.ratioP90} (API.md: within 0.9–1.1); ${timing.knownRequests} known requests (with warm-up): ${timing.mailsSent} mails sent, ${timing.mailsSuperseded} superseded by a newer request; ${timing.mailsToUnknown} mails to unknown addresses`,
    );
  }
  if (options.only.has("refusal")) {
    await database.create();
    created = true;
    // Migrate once, so the instances below start on a current schema.
    await (await startKeyway({ DATABASE_URL: databaseUrl, DATA_DIR: tempDir() })).stop();
    const withRedis = await measureRefusal(
      "with Redis, poll 60 s",
      { REDIS_URL: redisUrl, REVOCATION_POLL_INTERVAL: "60s" },
      0,
    );
    const withoutRedis = await measureRefusal("without Redis, poll 2 s (default)", {}, 2_000);
    result.resetToRefusal = { withRedis, withoutRedis };
    const widths = [26, 4, 22, 22];
    console.log(`\n(b) reset on A to refusal of the old access token on B, ${options.refusals} trials, PostgreSQL`);
    console.log(row(["mode", "n", "from reset sent ms", "from reset answer ms"], widths));
    for (const [mode, r] of [
      ["Redis (poll 60 s)", withRedis],
      ["no Redis (poll 2 s)", withoutRedis],
    ])
      console.log(
        row(
          [
            mode,
            r.fromResetStart.n,
            `${r.fromResetStart.median} / p90 ${r.fromResetStart.p90}`,
            `${r.fromResetAnswer.median} / p90 ${r.fromResetAnswer.p90}`,
          ],
          widths,
        ),
      );
  }
  console.log(JSON.stringify(result));
} finally {
  await cleanUp();
}
