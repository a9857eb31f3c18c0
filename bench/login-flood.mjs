// `npm run bench:flood`: a genuine user's login latency while five other clients
// flood `login` with random emails up to their AUTH_IP_LIMIT (600/min each; every
// such login costs an argon2 hash), against the same user's logins with no flood,
// in one run. Two floods: "paced", each client at exactly 10 logins a second (the
// limit spread evenly), and "burst", each client keeping 20 logins in flight until
// its limit refuses it, which spends the minute's 600 in seconds — far more than
// one hashing core serves. Also keyway's memory over the flood: the hashing line
// must stay bounded.
//
// Usage: node bench/login-flood.mjs [--seconds 30] [--mode paced|burst] [--dist <path to main.js>]
// Each client is its own loopback address (127.0.0.2 … 127.0.0.7), so keyway's
// per-address limits apply exactly as to separate machines. keyway runs on PGlite
// in a fresh DATA_DIR (or DATABASE_URL).
import http from "node:http";
import { mkdtempSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import { randomUUID } from "node:crypto";
import { KEYWAY_LISTENING, killChildren, root, startProcess } from "./lib/processes.mjs";
import { assertLoopback } from "./lib/loopback.mjs";

const argv = process.argv.slice(2);
const option = (name, fallback) => (argv.includes(`--${name}`) ? argv[argv.indexOf(`--${name}`) + 1] : fallback);
const SECONDS = Number(option("seconds", 30));
const MAIN = option("dist", path.join(root, "dist", "main.js"));
const MODE = option("mode", "burst");
const BURST_IN_FLIGHT = 20;
const FLOODERS = 5;
const PER_FLOODER_PER_SECOND = 10; // AUTH_IP_LIMIT's default, 600 a minute
const GENUINE_EVERY_MS = 250;
const PASSWORD = "correct horse battery staple";
const log = (message) => process.stderr.write(`[flood] ${message}\n`);
process.on("SIGINT", () => (killChildren(), process.exit(130)));

if (process.env.DATABASE_URL) assertLoopback(process.env.DATABASE_URL, "this benchmark");
const keyway = await startProcess(path.relative(root, MAIN), {
  env: {
    PORT: "0",
    HOST: "127.0.0.1",
    LOG_LEVEL: "info",
    DATA_DIR: mkdtempSync(path.join(os.tmpdir(), "keyway-flood-")),
    ...(process.env.DATABASE_URL ? { DATABASE_URL: process.env.DATABASE_URL } : {}),
  },
  ready: KEYWAY_LISTENING,
  heapProbe: true,
});
const { port } = new URL(keyway.url);

/** One login from `address`; resolves with its latency and outcome. */
function login(address, email, password) {
  const body = JSON.stringify({
    query: "mutation($i: LoginInput!) { login(input: $i) { expiresIn } }",
    variables: { i: { email, password } },
  });
  const started = performance.now();
  return new Promise((resolve) => {
    const request = http.request(
      {
        host: "127.0.0.1",
        port,
        path: "/graphql",
        method: "POST",
        localAddress: address,
        agent: agents.get(address),
        headers: { "content-type": "application/json", "content-length": Buffer.byteLength(body) },
      },
      (response) => {
        let text = "";
        response.on("data", (chunk) => (text += chunk));
        response.on("end", () => {
          const answer = JSON.parse(text);
          resolve({
            ms: performance.now() - started,
            outcome: answer.errors
              ? String(answer.errors[0].extensions?.reason ?? answer.errors[0].extensions?.code)
              : "SIGNED_IN",
          });
        });
      },
    );
    request.on("error", (error) => resolve({ ms: performance.now() - started, outcome: `ERROR ${error.code}` }));
    request.end(body);
  });
}
const agents = new Map(
  Array.from({ length: FLOODERS + 2 }, (_, i) => [
    `127.0.0.${i + 2}`,
    new http.Agent({ keepAlive: true, maxSockets: 256 }),
  ]),
);
const GENUINE = `127.0.0.${FLOODERS + 2}`;

async function signUpGenuine() {
  const email = `genuine-${randomUUID().slice(0, 8)}@example.io`;
  const body = JSON.stringify({
    query: "mutation($i: SignUpInput!) { signUp(input: $i) { expiresIn } }",
    variables: { i: { email, password: PASSWORD } },
  });
  await fetch(`${keyway.url}/graphql`, { method: "POST", headers: { "content-type": "application/json" }, body });
  return email;
}

const memory = () => keyway.heapAfterGc();

/** The genuine user logs in every GENUINE_EVERY_MS for `seconds`. */
async function genuineLogins(email, seconds) {
  const answers = [];
  const stopAt = performance.now() + seconds * 1000;
  while (performance.now() < stopAt) {
    answers.push(await login(GENUINE, email, PASSWORD));
    await new Promise((resolve) => setTimeout(resolve, GENUINE_EVERY_MS));
  }
  return answers;
}

/** paced: each flooder fires PER_FLOODER_PER_SECOND logins a second, open loop. burst: each keeps BURST_IN_FLIGHT in flight. */
function flood(seconds) {
  const answers = [];
  const pending = [];
  const address = (i) => `127.0.0.${i + 2}`;
  const fire = (i) =>
    login(address(i), `flood-${randomUUID()}@example.io`, "a wrong password").then(
      (answer) => (answers.push(answer), answer),
    );
  const stopAt = performance.now() + seconds * 1000;
  if (MODE === "burst") {
    const loop = async (i) => {
      while (performance.now() < stopAt) await fire(i);
    };
    for (let i = 0; i < FLOODERS; i++) for (let j = 0; j < BURST_IN_FLIGHT; j++) pending.push(loop(i));
    return Promise.all(pending).then(() => answers);
  }
  const timers = Array.from({ length: FLOODERS }, (_, i) =>
    setInterval(() => pending.push(fire(i)), 1000 / PER_FLOODER_PER_SECOND),
  );
  return new Promise((resolve) =>
    setTimeout(async () => {
      timers.forEach(clearInterval);
      await Promise.all(pending);
      resolve(answers);
    }, seconds * 1000),
  );
}

const quantile = (values, q) => {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))];
};
const summary = (answers) => {
  const ms = answers.map((answer) => answer.ms);
  const outcomes = {};
  for (const answer of answers) outcomes[answer.outcome] = (outcomes[answer.outcome] ?? 0) + 1;
  return { count: answers.length, p50: quantile(ms, 0.5), p99: quantile(ms, 0.99), max: Math.max(...ms), outcomes };
};
const fmt = (s) =>
  `n=${s.count} p50 ${s.p50.toFixed(1)} ms, p99 ${s.p99.toFixed(1)} ms, max ${s.max.toFixed(1)} ms, ${JSON.stringify(s.outcomes)}`;

try {
  const email = await signUpGenuine();
  await genuineLogins(email, 3); // warm-up
  const quiet = summary(await genuineLogins(email, Math.min(10, SECONDS)));
  log(`no flood: genuine ${fmt(quiet)}`);
  const memoryBefore = await memory();
  const samples = [];
  let sampling = true;
  const sampler = (async () => {
    while (sampling) {
      samples.push(await memory());
      await new Promise((resolve) => setTimeout(resolve, 1000));
    }
  })();
  const [genuine, flooded] = await Promise.all([genuineLogins(email, SECONDS), flood(SECONDS)]);
  sampling = false;
  await sampler;
  const underFlood = summary(genuine);
  const floodSummary = summary(flooded);
  const head = samples.slice(0, 5);
  const tail = samples.slice(-5);
  const avg = (list, key) => list.reduce((sum, sample) => sum + sample[key], 0) / list.length;
  log(`under flood: genuine ${fmt(underFlood)}`);
  log(
    `flood (${MODE}: ${FLOODERS} clients × ${MODE === "burst" ? `${BURST_IN_FLIGHT} in flight` : `${PER_FLOODER_PER_SECOND}/s`}): ${fmt(floodSummary)}`,
  );
  log(
    `keyway heap after a full collection: before ${memoryBefore.heap.toFixed(1)} MB; first 5 s of flood ${avg(head, "heap").toFixed(1)} MB, last 5 s ${avg(tail, "heap").toFixed(1)} MB (RSS ${avg(head, "rss").toFixed(0)} → ${avg(tail, "rss").toFixed(0)} MB)`,
  );
  process.stdout.write(
    `${JSON.stringify({ mode: MODE, seconds: SECONDS, quiet, underFlood, flood: floodSummary, ratioP99: underFlood.p99 / quiet.p99, memory: { before: memoryBefore, firstFive: { rss: avg(head, "rss"), heap: avg(head, "heap") }, lastFive: { rss: avg(tail, "rss"), heap: avg(tail, "heap") } } })}\n`,
  );
} finally {
  await keyway.stop();
}
