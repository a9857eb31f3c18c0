// `npm run soak`: a bounded load shaped like production's, against a keyway started
// from dist/ as an operator would: PGlite in a temp DATA_DIR, or, with DATABASE_URL
// (a PostgreSQL server on 127.0.0.1), a scratch database on that server, dropped after.
//
// A population of browser-like users (each its own cookie jar and address) signs up
// first, then requests arrive at a constant rate (open loop: a slow answer does not
// slow the arrivals, and latency counts from when a request was due): 90 % `me`,
// 8 % refreshes (a page reload's silent refresh, or two tabs refreshing at once),
// 2 % a logout followed by a login; and, as the SDK does, a refresh when a user's
// token (60 s here) is about to expire. Each action goes to a random user who is not
// waiting on an answer. The run fails (exit 1) on any 5xx, any session lost — a
// user who did not log out but can no longer refresh or read `me` — any other
// refusal, a user kept out by overload refusals for over 30 s, arrivals the
// population could not take, a heap that grew more than 20% between the window
// after the sign-ups and the end, or a heap figure it cannot trust (a sample that
// went unanswered, or a window with too few samples).
//
// Usage: npm run soak [-- --duration 120 --rate 300 --users 400]
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import nodeProcess from "../helpers/node-process.cjs";

const { KEYWAY_LISTENING, startNode } = nodeProcess;
const option = (name, fallback) => {
  const at = process.argv.indexOf(`--${name}`);
  if (at === -1) return fallback;
  const value = Number(process.argv[at + 1]);
  if (!Number.isFinite(value) || value <= 0) {
    console.error(`--${name} takes a positive number, not ${process.argv[at + 1] ?? "nothing"}`);
    process.exit(2);
  }
  return value;
};
const DURATION_S = option("duration", 120);
/** Requests a second offered once everyone has signed up. */
const RATE = option("rate", 300);
const USERS = option("users", 400);
const SHARES = [
  ["me", 90],
  ["refresh", 8],
  ["login", 2],
];
/** A user refused for overload this long (retrying after each retryAfter) fails the run: logins must recover. */
const KEPT_OUT_LIMIT_MS = 30_000;
/** Sign-ups in flight at once before the clock starts: about what password hashing serves without a line. */
const SIGN_UP_CONCURRENCY = 4;
const WARM_UP_S = Math.min(10, DURATION_S / 3);
const HEAP_WINDOW_S = Math.min(15, DURATION_S / 4);
// Heap used is a sawtooth whose major collections V8 spaces out as the run goes on
// (measured with --trace-gc: every 5-7 s early on, 18-39 s by the end), so the low
// of a window of raw samples says when the last collection happened, not what is
// retained; on PGlite a 15 s window often holds no collection at all. So the soak
// asks keyway (through test/helpers/heap-after-gc.cjs) for the heap in use right
// after a full collection, once a second (one extra collection a second is the
// price). What is left is what keyway holds plus the requests in flight at that
// instant (measured: the samples of a window differ by under 1 MB, about 2%), and
// the lowest sample of a window is the former.
// A window must hold at least two thirds of the samples it expects (10 of 15), so
// its low does not rest on a few samples taken while keyway was stalled; a sample
// that gets no answer fails the run.
const SAMPLE_EVERY_MS = 1000;
const ANSWER_WITHIN_MS = 10_000;
const minSamples = (windowSeconds) => Math.ceil(((windowSeconds * 1000) / SAMPLE_EVERY_MS) * (2 / 3));

const OPERATIONS = {
  signUp: "mutation SignUp($input: SignUpInput!) { signUp(input: $input) { accessToken expiresIn } }",
  login: "mutation Login($input: LoginInput!) { login(input: $input) { accessToken expiresIn } }",
  refreshToken: "mutation Refresh { refreshToken { accessToken expiresIn } }",
  logout: "mutation Logout { logout }",
  me: "query Me { me { id email } }",
};

// ---- the server under load -------------------------------------------------

const dataDir = mkdtempSync(path.join(tmpdir(), "keyway-soak-"));
// Its users share a published password: they go in a database of the run's own, never one that stays.
let database = null;
if (process.env.DATABASE_URL) {
  process.env.BENCH_DATABASE_URL = process.env.DATABASE_URL;
  const { scratch } = await import("../../bench/lib/scratch.mjs");
  database = scratch();
  await database.create();
}
const env = {
  PATH: process.env.PATH,
  PORT: "0",
  LOG_LEVEL: "info",
  DATA_DIR: dataDir,
  AUTH_IP_LIMIT: "10000000/1m",
  // Short enough that every user's client refreshes before expiry (as the SDK does) a few times a run.
  ACCESS_TOKEN_TTL: "60s",
  // The soak stands where a load balancer would: each user is a person at an address
  // of their own (X-Forwarded-For), because keyway bounds password hashing per client
  // address and 64 people are not one client.
  TRUST_PROXY: "127.0.0.1",
  ...(database ? { DATABASE_URL: database.url } : {}),
};
// Its access log goes to a file, never through this process (test/helpers/node-process.cjs).
const keyway = startNode("dist/main.js", { env, heapProbe: true, stdout: "file", stderr: "inherit" });
const server = keyway.child;
const [, baseUrl] = await keyway.waitFor(KEYWAY_LISTENING, { timeoutMs: 120_000, label: "keyway" });
let serverExit = null;
server.on("exit", (code, signal) => (serverExit = { code, signal }));

// ---- bookkeeping ------------------------------------------------------------

const stats = Object.fromEntries(Object.keys(OPERATIONS).map((name) => [name, { count: 0, latencies: [] }]));
const failures = { serverErrors: [], lostSessions: [], unexpected: [], heapSamples: [] };
/** Logins and sign-ups refused as RATE_LIMITED, and the longest a user waited to get in because of them. */
const overload = { refusals: 0, longestKeptOutMs: 0 };
const heapSamples = [];

/**
 * One request. Its latency counts from `since` (when the action was due: a slow
 * generator does not hide a wait) or from sending; `timed: false` leaves it out of
 * the figures (a login attempt refused for overload: authenticate() times the whole).
 */
async function call(user, name, { variables, tab = user.jar, since, timed = true } = {}) {
  const headers = { "content-type": "application/json", "x-forwarded-for": user.address };
  if (user.accessToken && (name === "me" || name === "logout")) headers.authorization = `Bearer ${user.accessToken}`;
  if (tab.cookie) headers.cookie = tab.cookie;
  const started = since ?? performance.now();
  const response = await fetch(`${baseUrl}/graphql`, {
    method: "POST",
    headers,
    body: JSON.stringify({ query: OPERATIONS[name], variables }),
  });
  const body = await response.json().catch(() => null);
  if (timed) record(name, performance.now() - started);
  for (const line of response.headers.getSetCookie()) {
    const [pair, ...attributes] = line.split(";");
    const cleared = attributes.some((attribute) => /^\s*max-age=0$/i.test(attribute));
    tab.cookie = cleared ? null : pair.trim();
  }
  if (response.status >= 500) failures.serverErrors.push({ name, status: response.status, body });
  return { status: response.status, body, error: body?.errors?.[0]?.extensions };
}

function record(name, latency) {
  stats[name].count++;
  stats[name].latencies.push(latency);
}

// ---- one virtual user: a person with a browser -------------------------------

const pick = (weights) => {
  let roll = Math.random() * weights.reduce((sum, [, weight]) => sum + weight, 0);
  for (const [action, weight] of weights) if ((roll -= weight) < 0) return action;
  return weights[0][0];
};

function lose(user, what, result) {
  failures.lostSessions.push({ user: user.email, what, error: result.error ?? result.status });
  user.accessToken = null;
  user.jar.cookie = null;
}

/** Signs up or logs in; a refusal for overload is tried again after its retryAfter, as clients do. */
async function authenticate(user, name, since = performance.now()) {
  for (;;) {
    const variables = { input: { email: user.email, password: user.password } };
    const result = await call(user, name, { variables, timed: false });
    const payload = result.body?.data?.[name];
    if (!payload && result.error?.code === "RATE_LIMITED" && result.error.retryAfter > 0) {
      // Password hashing is saturated (README, "Overload").
      overload.refusals++;
      user.keptOutSince ??= Date.now();
      if (Date.now() - user.keptOutSince > KEPT_OUT_LIMIT_MS)
        return failures.unexpected.push({ name, error: `kept out for over ${KEPT_OUT_LIMIT_MS / 1000} s` });
      await new Promise((resolve) => setTimeout(resolve, result.error.retryAfter * 1000));
      continue;
    }
    if (!payload) return failures.unexpected.push({ name, error: result.error ?? result.status });
    // One figure per sign-in: from the first attempt (or when it was due) to the answer that let the user in.
    record(name, performance.now() - since);
    if (user.keptOutSince !== undefined)
      overload.longestKeptOutMs = Math.max(overload.longestKeptOutMs, Date.now() - user.keptOutSince);
    user.keptOutSince = undefined;
    user.accessToken = payload.accessToken;
    user.expiresAt = Date.now() + payload.expiresIn * 1000;
    user.registered = true;
    return;
  }
}

async function refresh(user, reason, since) {
  const result = await call(user, "refreshToken", { since });
  const payload = result.body?.data?.refreshToken;
  if (!payload) return lose(user, `refresh (${reason})`, result);
  user.accessToken = payload.accessToken;
  user.expiresAt = Date.now() + payload.expiresIn * 1000;
}

/** Two tabs share one cookie jar and refresh at the same instant: both must stay logged in. */
async function refreshFromTwoTabs(user, since) {
  const [first, second] = await Promise.all([
    call(user, "refreshToken", { since }),
    call(user, "refreshToken", { since }),
  ]);
  for (const result of [first, second])
    if (!result.body?.data?.refreshToken) return lose(user, "refresh (two tabs)", result);
  user.accessToken = second.body.data.refreshToken.accessToken;
  user.expiresAt = Date.now() + second.body.data.refreshToken.expiresIn * 1000;
}

/** One arrival's action for `user`, due at `dueAt` (performance.now() time). */
async function act(user, action, dueAt) {
  // A client refreshes shortly before its access token expires, as the SDK does.
  if (action === "me" && user.expiresAt - Date.now() < 2000) return refresh(user, "expiry", dueAt);
  switch (action) {
    case "me": {
      const result = await call(user, "me", { since: dueAt });
      if (result.body?.data?.me?.email !== user.email) return lose(user, "me", result);
      return;
    }
    case "refresh":
      // A reload: the page has no token in memory and refreshes silently; now and then two tabs at once.
      return Math.random() < 0.25 ? refreshFromTwoTabs(user, dueAt) : refresh(user, "reload", dueAt);
    default: {
      const result = await call(user, "logout", { since: dueAt });
      if (result.body?.data?.logout !== true)
        failures.unexpected.push({ name: "logout", error: result.error ?? result.status });
      user.accessToken = null;
      user.jar.cookie = null;
      return authenticate(user, "login");
    }
  }
}

const users = Array.from({ length: USERS }, (_, index) => ({
  email: `soak-${index}-${process.pid}@example.io`,
  password: "correct horse battery staple",
  address: `10.${Math.floor(index / 62500)}.${Math.floor(index / 250) % 250}.${(index % 250) + 1}`,
  jar: { cookie: null },
  accessToken: null,
  expiresAt: 0,
  registered: false,
}));
/** Users not waiting on an answer, by index; an action takes one at random and gives it back. */
const idle = [];
const arrivals = { offered: 0, noIdleUser: 0, late: 0, completed: 0 };

/** Each user signs up, a few at a time; none of this is in the figures below. */
async function signUpEveryone() {
  let next = 0;
  await Promise.all(
    Array.from({ length: SIGN_UP_CONCURRENCY }, async () => {
      while (next < users.length) {
        const index = next++;
        await authenticate(users[index], "signUp");
        if (users[index].registered) idle.push(index);
      }
    }),
  );
  for (const entry of Object.values(stats)) entry.latencies.length = entry.count = 0;
}

/** Starts actions at RATE a second until the deadline, each on a random idle user; resolves when all have finished. */
async function arrive(deadline) {
  const inFlight = new Set();
  const begun = performance.now();
  const until = begun + (deadline - Date.now());
  while (performance.now() < until && serverExit === null) {
    const due = Math.floor(((performance.now() - begun) / 1000) * RATE);
    // How far this generator fell behind its schedule (its own event loop stalled): the
    // latencies count from when each action was due, so such a stall is in them.
    arrivals.late = Math.max(arrivals.late, performance.now() - begun - (arrivals.offered / RATE) * 1000);
    for (; arrivals.offered < due; arrivals.offered++) {
      if (idle.length === 0) {
        arrivals.noIdleUser++;
        continue;
      }
      const at = Math.floor(Math.random() * idle.length);
      const index = idle[at];
      idle[at] = idle[idle.length - 1];
      idle.pop();
      const dueAt = begun + (arrivals.offered / RATE) * 1000;
      const action = act(users[index], pick(SHARES), dueAt)
        .then(() => arrivals.completed++)
        .catch((error) => failures.unexpected.push({ name: "transport", error: String(error) }))
        .finally(() => {
          idle.push(index);
          inFlight.delete(action);
        });
      inFlight.add(action);
    }
    await new Promise((resolve) => setTimeout(resolve, 1));
  }
  await Promise.all(inFlight);
}

// ---- the run ------------------------------------------------------------------

/** The clock of the heap samples and the figures: restarted once everyone has signed up. */
let started = Date.now();
const seconds = () => (Date.now() - started) / 1000;
let deadline = Infinity;
// One question (SIGUSR2) at a time; the answer, "<heap used> <rss>", comes on the probe's own pipe.
let awaitingAnswer = null;
let partial = "";
server.stdio[3].setEncoding("utf8").on("data", (chunk) => {
  const lines = (partial + chunk).split("\n");
  partial = lines.pop();
  for (const line of lines) {
    if (awaitingAnswer) awaitingAnswer(line);
    else failures.heapSamples.push({ at: seconds(), error: `an answer nobody asked for: ${line}` });
    awaitingAnswer = null;
  }
});

function askHeap() {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`no answer within ${ANSWER_WITHIN_MS} ms`)), ANSWER_WITHIN_MS);
    awaitingAnswer = (line) => {
      clearTimeout(timer);
      const [bytes, rss] = line.split(" ").map(Number);
      if (bytes > 0 && rss > 0) resolve({ bytes, rss });
      else reject(new Error(`an unreadable answer: ${line}`));
    };
    server.kill("SIGUSR2");
  });
}

async function sampleHeap() {
  while (Date.now() < deadline && serverExit === null) {
    const at = seconds();
    try {
      heapSamples.push({ at, ...(await askHeap()) });
    } catch (error) {
      failures.heapSamples.push({ at, error: String(error) });
      awaitingAnswer = null;
    }
    await new Promise((resolve) =>
      setTimeout(resolve, Math.max(0, at * 1000 + SAMPLE_EVERY_MS - (Date.now() - started))),
    );
  }
}

console.log(
  `soak: ${USERS} users signing up, then ${RATE} requests/s for ${DURATION_S} s against ${baseUrl} (${process.env.DATABASE_URL ? "PostgreSQL" : "PGlite"})`,
);
const signUpStarted = Date.now();
await signUpEveryone();
console.log(`signed up ${idle.length} of ${USERS} users in ${((Date.now() - signUpStarted) / 1000).toFixed(1)} s`);
started = Date.now();
deadline = started + DURATION_S * 1000;
await Promise.all([sampleHeap(), arrive(deadline)]);
const neverIn = users.filter((user) => !user.registered).length;

// ---- report -------------------------------------------------------------------

const quantile = (values, q) => {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted.length ? sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))] : NaN;
};
/** The lowest heap in use after a full collection in a window, and whether it has enough samples to say so. */
function heapWindow(from, to) {
  const inside = heapSamples.filter((sample) => sample.at >= from && sample.at < to);
  const low = Math.min(...inside.map((sample) => sample.bytes));
  const rss = Math.max(...inside.map((sample) => sample.rss));
  return { from, to, samples: inside.length, needed: minSamples(to - from), low, rss };
}
const windows = [heapWindow(WARM_UP_S, WARM_UP_S + HEAP_WINDOW_S), heapWindow(DURATION_S - HEAP_WINDOW_S, DURATION_S)];
const [heapAfterWarmUp, heapAtEnd] = windows.map((window) => window.low);
const heapGrowth = heapAtEnd / heapAfterWarmUp - 1;
const elapsed = (Date.now() - started) / 1000;

console.log("\noperation      calls    per s   p50 ms   p99 ms");
for (const [name, { count, latencies }] of Object.entries(stats)) {
  if (count === 0) continue;
  console.log(
    `${name.padEnd(12)} ${String(count).padStart(7)} ${(count / elapsed).toFixed(1).padStart(8)} ${quantile(latencies, 0.5).toFixed(1).padStart(8)} ${quantile(latencies, 0.99).toFixed(1).padStart(8)}`,
  );
}
const mb = (bytes) => (bytes / 1024 / 1024).toFixed(1);
console.log(
  `\nheap in use after a full collection: ${mb(heapAfterWarmUp)} MB after ${WARM_UP_S.toFixed(0)} s, ${mb(heapAtEnd)} MB at the end (${(heapGrowth * 100).toFixed(1)}%)`,
);
for (const window of windows) {
  console.log(
    `  window ${window.from.toFixed(0)}-${window.to.toFixed(0)} s: lowest ${mb(window.low)} MB of ${window.samples} samples, ` +
      `${window.samples >= window.needed ? "" : `fewer than the ${window.needed} needed to trust it, `}` +
      `resident set up to ${mb(window.rss)} MB`,
  );
}
console.log(
  `arrivals: ${arrivals.offered} actions offered at ${RATE}/s, ${arrivals.completed} completed (at least ${Math.ceil(0.95 * RATE * DURATION_S)} needed), ${arrivals.noIdleUser} found every user waiting on an answer; this generator fell at most ${Math.round(arrivals.late)} ms behind its schedule (latencies count from when each action was due)`,
);
console.log(
  `refused for overload and retried: ${overload.refusals}, longest a user was kept out: ${(overload.longestKeptOutMs / 1000).toFixed(1)} s, users who never got in: ${neverIn}`,
);
console.log(
  `5xx: ${failures.serverErrors.length}, sessions lost: ${failures.lostSessions.length}, other failures: ${failures.unexpected.length}, failed heap samples: ${failures.heapSamples.length}, server exit: ${serverExit ? JSON.stringify(serverExit) : "none"}`,
);
for (const [kind, list] of Object.entries(failures))
  if (list.length) console.log(`${kind} (first 5):`, JSON.stringify(list.slice(0, 5)));

const passed =
  failures.serverErrors.length === 0 &&
  failures.lostSessions.length === 0 &&
  failures.unexpected.length === 0 &&
  neverIn === 0 &&
  arrivals.noIdleUser === 0 &&
  arrivals.completed >= 0.95 * RATE * DURATION_S &&
  failures.heapSamples.length === 0 &&
  windows.every((window) => window.samples >= window.needed) &&
  serverExit === null &&
  Number.isFinite(heapGrowth) &&
  heapGrowth <= 0.2;
await keyway.stop({ forceAfterMs: null });
rmSync(dataDir, { recursive: true, force: true });
await database?.drop();
console.log(passed ? "\nsoak passed" : "\nsoak FAILED");
process.exit(passed ? 0 : 1);
