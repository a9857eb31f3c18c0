// Authenticated query through keyway to the example notes subgraph, against the
// same query sent to the subgraph directly with a valid identity (no gateway).
// Usage: npm run build && node bench/subgraph.mjs [--seconds 10] [--connections 32]
import { spawn } from "node:child_process";
import { generateKeyPairSync } from "node:crypto";
import { mkdtempSync } from "node:fs";
import { createRequire } from "node:module";
import net from "node:net";
import { tmpdir } from "node:os";
import path from "node:path";
import { fileURLToPath } from "node:url";
import autocannon from "autocannon";

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "..");
const require = createRequire(import.meta.url);
const { signIdentityToken } = require(path.join(root, "dist/token/identity-token.js"));
const { toSigningKey } = require(path.join(root, "dist/token/keys.js"));
const arg = (name, fallback) => (process.argv.includes(`--${name}`) ? Number(process.argv[process.argv.indexOf(`--${name}`) + 1]) : fallback);
const seconds = arg("seconds", 10);
const connections = arg("connections", 32);

const freePort = () => new Promise((resolve) => { const s = net.createServer().listen(0, "127.0.0.1", () => { const { port } = s.address(); s.close(() => resolve(port)); }); });
const start = (file, env, ready) => new Promise((resolve, reject) => {
  const child = spawn(process.execPath, [path.join(root, file)], { cwd: root, env: { PATH: process.env.PATH, LOG_LEVEL: "warn", ...env } });
  let out = "";
  const onData = (chunk) => {
    out += chunk;
    if (!ready.test(out)) return;
    // Stop reading into a growing string: scanning it per chunk would steal the load generator's CPU.
    child.stdout.off("data", onData);
    child.stdout.resume();
    resolve(child);
  };
  child.stdout.on("data", onData);
  child.on("exit", (code) => reject(new Error(`${file} exited ${code}: ${out}`)));
});
const gql = async (url, query, headers = {}) => (await fetch(url, { method: "POST", headers: { "content-type": "application/json", ...headers }, body: JSON.stringify({ query }) })).json();
/** `headersFor()` is called for every request, so each can carry an identity of its own. */
const load = (url, headersFor, body) =>
  new Promise((resolve, reject) =>
    autocannon(
      { url, connections, duration: seconds, requests: [{ method: "POST", body, setupRequest: (request) => ({ ...request, headers: { "content-type": "application/json", ...headersFor() } }) }] },
      (error, result) => (error ? reject(error) : resolve(result)),
    ),
  );

const pem = generateKeyPairSync("ec", { namedCurve: "P-256" }).privateKey.export({ format: "pem", type: "pkcs8" }).toString();
const [keywayPort, notesPort] = [await freePort(), await freePort()];
const notesUrl = `http://127.0.0.1:${notesPort}/graphql`;
const keywayUrl = `http://127.0.0.1:${keywayPort}/graphql`;
const notes = await start("dist-examples/notes-subgraph/server.js", { NOTES_PORT: String(notesPort), KEYWAY_JWKS_URL: `http://127.0.0.1:${keywayPort}/.well-known/jwks.json` }, /notes subgraph at/);
const keyway = await start("dist/main.js", { PORT: String(keywayPort), LOG_LEVEL: "info", JWT_PRIVATE_KEY: pem, DATA_DIR: mkdtempSync(path.join(tmpdir(), "kw-bench-")), SUBGRAPHS: `notes=${notesUrl}`, AUTH_IP_LIMIT: "100000/1m" }, /keyway is listening/);
try {
  const signUp = await gql(keywayUrl, `mutation { signUp(input: { email: "bench-${Date.now()}@example.io", password: "correct horse" }) { accessToken } }`);
  const accessToken = signUp.data.signUp.accessToken;
  await gql(keywayUrl, 'mutation { addNote(text: "hello") { id } }', { authorization: `Bearer ${accessToken}` });
  const claims = JSON.parse(Buffer.from(accessToken.split(".")[1], "base64url").toString());
  const key = toSigningKey(pem);
  const body = JSON.stringify({ query: "{ myNotes { text } }" });
  // An identity is good for one request, as keyway mints them: a fresh one for each request
  // here too, minted in this process (the load generator), bound to the body.
  const mintIdentity = () => signIdentityToken({ keys: { signing: key, find: () => key, jwks: () => ({ keys: [] }) }, issuer: "keyway" }, claims, "notes", Date.now(), body);
  const direct = await gql(notesUrl, "{ myNotes { text } }", { "keyway-identity": mintIdentity() });
  const through = await gql(keywayUrl, "{ myNotes { text } }", { authorization: `Bearer ${accessToken}` });
  if (JSON.stringify(direct) !== JSON.stringify(through)) throw new Error(`answers differ: ${JSON.stringify(direct)} vs ${JSON.stringify(through)}`);
  const bearer = () => ({ authorization: `Bearer ${accessToken}` });
  await load(keywayUrl, bearer, body); // warm-up of both paths
  const viaKeyway = await load(keywayUrl, bearer, body);
  const directly = await load(notesUrl, () => ({ "keyway-identity": mintIdentity() }), body);
  const summary = (r) => ({ requestsPerSecond: Math.round(r.requests.average), p50: r.latency.p50, p99: r.latency.p99, non2xx: r.non2xx, errors: r.errors });
  console.log(JSON.stringify({ connections, seconds, throughKeyway: summary(viaKeyway), subgraphDirect: summary(directly), ratio: +(viaKeyway.requests.average / directly.requests.average).toFixed(2) }, null, 2));
} finally {
  keyway.kill("SIGTERM");
  notes.kill("SIGTERM");
}
