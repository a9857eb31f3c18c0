// Authenticated query through keyway to the example notes subgraph, against the
// same query sent to the subgraph directly with a valid identity (no gateway),
// with the CPU each process spent per request: throughput on a shared machine
// moves with its neighbours, CPU per request much less.
// Usage: npm run build && node bench/subgraph.mjs [--seconds 10] [--connections 32] [--sessions 8] [--rate <req/s>]
//   --rate  offer this many requests a second instead of as many as the servers take:
//           CPU per request compares fairly only at the same rate
import "./lib/ensure-deps.mjs";
import { generateKeyPairSync } from "node:crypto";
import { mkdtempSync } from "node:fs";
import { createRequire } from "node:module";
import { tmpdir } from "node:os";
import path from "node:path";
import { cpuSeconds, freePort, KEYWAY_LISTENING, killChildren, root, startProcess } from "./lib/processes.mjs";

const { default: autocannon } = await import("autocannon");
const require = createRequire(import.meta.url);
const { signIdentityToken } = require(path.join(root, "dist/token/identity-token.js"));
const { toSigningKey } = require(path.join(root, "dist/token/keys.js"));
const { verifyAccessToken } = require(path.join(root, "dist/token/access-token.js"));
const arg = (name, fallback) =>
  process.argv.includes(`--${name}`) ? Number(process.argv[process.argv.indexOf(`--${name}`) + 1]) : fallback;
const seconds = arg("seconds", 10);
const connections = arg("connections", 32);
const sessionCount = arg("sessions", 8);
const rate = arg("rate", 0);
process.on("SIGINT", () => (killChildren(), process.exit(130)));

const gql = async (url, query, headers = {}) =>
  (
    await fetch(url, {
      method: "POST",
      headers: { "content-type": "application/json", ...headers },
      body: JSON.stringify({ query }),
    })
  ).json();
/** `headersFor()` is called for every request, so each can carry credentials of its own. */
const load = (url, headersFor, body) =>
  new Promise((resolve, reject) =>
    autocannon(
      {
        url,
        connections,
        duration: seconds,
        ...(rate ? { overallRate: rate } : {}),
        requests: [
          {
            method: "POST",
            body,
            setupRequest: (request) => ({
              ...request,
              headers: { "content-type": "application/json", ...headersFor() },
            }),
          },
        ],
      },
      (error, result) => (error ? reject(error) : resolve(result)),
    ),
  );
/** One measurement, with the CPU-µs per completed request of each process named in `pids`. */
async function measure(url, headersFor, body, pids) {
  const before = Object.fromEntries(Object.entries(pids).map(([name, pid]) => [name, cpuSeconds(pid)]));
  const result = await load(url, headersFor, body);
  const cpuMicrosPerRequest = Object.fromEntries(
    Object.entries(pids).map(([name, pid]) => [
      name,
      Math.round(((cpuSeconds(pid) - before[name]) * 1e6) / result.requests.total),
    ]),
  );
  return {
    requestsPerSecond: Math.round(result.requests.average),
    p50: result.latency.p50,
    p99: result.latency.p99,
    non2xx: result.non2xx,
    errors: result.errors,
    cpuMicrosPerRequest,
  };
}

const pem = generateKeyPairSync("ec", { namedCurve: "P-256" })
  .privateKey.export({ format: "pem", type: "pkcs8" })
  .toString();
const keywayPort = await freePort();
const keywayUrl = `http://127.0.0.1:${keywayPort}/graphql`;
const notes = await startProcess("dist-examples/notes-subgraph/server.js", {
  env: {
    NOTES_PORT: String(await freePort()),
    KEYWAY_JWKS_URL: `http://127.0.0.1:${keywayPort}/.well-known/jwks.json`,
  },
  ready: /notes subgraph at (\S+)/,
});
const keyway = await startProcess("dist/main.js", {
  env: {
    PORT: String(keywayPort),
    LOG_LEVEL: "info",
    JWT_PRIVATE_KEY: pem,
    DATA_DIR: mkdtempSync(path.join(tmpdir(), "kw-bench-")),
    SUBGRAPHS: `notes=${notes.url}`,
    // The example's @policy names are defined in its AUTHZ_FILE: without it composition stops.
    AUTHZ_FILE: path.join(root, "examples", "authz.json"),
    AUTH_IP_LIMIT: "100000/1m",
  },
  ready: KEYWAY_LISTENING,
});
try {
  const query = "{ myNotes { text } }";
  const body = JSON.stringify({ query });
  const sessions = [];
  for (let i = 0; i < sessionCount; i++) {
    const signUp = await gql(
      keywayUrl,
      `mutation { signUp(input: { email: "bench-${Date.now()}-${i}@example.io", password: "correct horse" }) { accessToken } }`,
    );
    sessions.push(signUp.data.signUp.accessToken);
  }
  for (const accessToken of sessions)
    await gql(keywayUrl, 'mutation { addNote(text: "hello") { id } }', { authorization: `Bearer ${accessToken}` });
  const key = toSigningKey(pem);
  const keys = { signing: key, find: () => key, jwks: () => ({ keys: [] }) };
  // The callers as keyway's context holds them (verified, camelCase), which is what identities are minted from.
  const claims = sessions.map((token) => {
    const verified = verifyAccessToken(
      { keys, issuer: "keyway", audience: "keyway", ttlSeconds: 900 },
      token,
      Date.now(),
    );
    if (!verified.ok) throw new Error(`bench: an access token did not verify (${verified.reason})`);
    return verified.claims;
  });
  let next = 0;
  const bearer = () => ({ authorization: `Bearer ${sessions[next++ % sessions.length]}` });
  // An identity is good for one request, as keyway mints them: a fresh one for each request
  // here too, minted in this process (the load generator), bound to the body.
  const identity = () => ({
    "keyway-identity": signIdentityToken(
      { keys, issuer: "keyway" },
      claims[next++ % claims.length],
      "notes",
      Date.now(),
      body,
    ),
  });
  const direct = await gql(notes.url, query, identity());
  const through = await gql(keywayUrl, query, bearer());
  if (JSON.stringify(direct) !== JSON.stringify(through))
    throw new Error(`answers differ: ${JSON.stringify(direct)} vs ${JSON.stringify(through)}`);
  await load(keywayUrl, bearer, body); // warm-up of both processes
  const throughKeyway = await measure(keywayUrl, bearer, body, { keyway: keyway.pid, subgraph: notes.pid });
  const subgraphDirect = await measure(notes.url, identity, body, { subgraph: notes.pid });
  console.log(
    JSON.stringify(
      {
        connections,
        seconds,
        sessions: sessionCount,
        rate: rate || "unbounded",
        throughKeyway,
        subgraphDirect,
        ratio: +(throughKeyway.requestsPerSecond / subgraphDirect.requestsPerSecond).toFixed(2),
      },
      null,
      2,
    ),
  );
} finally {
  await keyway.stop();
  await notes.stop();
}
