// Sequential latency of login, refreshToken and an authenticated `me`, against a
// keyway started from dist/ as an operator would (PGlite, or DATABASE_URL if set).
// Usage: npm run build && node bench/latency.mjs [--login 100] [--refresh 500] [--me 2000]
import { mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { KEYWAY_LISTENING, startProcess } from "./lib/processes.mjs";
import { assertLoopback } from "./lib/loopback.mjs";

const arg = (name, fallback) => {
  const at = process.argv.indexOf(`--${name}`);
  return at === -1 ? fallback : Number(process.argv[at + 1]);
};
const counts = { login: arg("login", 100), refresh: arg("refresh", 500), me: arg("me", 2000) };

const env = {
  PATH: process.env.PATH,
  PORT: "0",
  LOG_LEVEL: "warn",
  DATA_DIR: mkdtempSync(path.join(tmpdir(), "keyway-bench-")),
  AUTH_IP_LIMIT: "1000000/1m",
};
if (process.env.DATABASE_URL) assertLoopback(process.env.DATABASE_URL, "this benchmark");
if (process.env.DATABASE_URL) env.DATABASE_URL = process.env.DATABASE_URL;
const keyway = await startProcess("dist/main.js", {
  env: { ...env, LOG_LEVEL: "info" },
  ready: KEYWAY_LISTENING,
});
const { url } = keyway;

const gql = async (query, { variables, headers = {} } = {}) => {
  const response = await fetch(`${url}/graphql`, {
    method: "POST",
    headers: { "content-type": "application/json", ...headers },
    body: JSON.stringify({ query, variables }),
  });
  const body = await response.json();
  if (body.errors) throw new Error(JSON.stringify(body.errors));
  return { body, response };
};
const time = async (count, fn) => {
  const samples = [];
  for (let i = 0; i < count; i++) {
    const start = process.hrtime.bigint();
    await fn(i);
    samples.push(Number(process.hrtime.bigint() - start) / 1e6);
  }
  samples.sort((a, b) => a - b);
  const at = (q) => samples[Math.min(samples.length - 1, Math.floor(q * samples.length))];
  return { n: count, median: at(0.5).toFixed(2), p99: at(0.99).toFixed(2) };
};

try {
  const email = `bench-${Date.now()}@example.io`;
  const input = { email, password: "correct horse battery" };
  await gql("mutation($i: SignUpInput!) { signUp(input: $i) { accessToken } }", { variables: { i: input } });
  const login = "mutation($i: LoginInput!) { login(input: $i) { accessToken } }";
  for (let i = 0; i < 5; i++) await gql(login, { variables: { i: input } }); // warm-up

  const results = {};
  results.login = await time(counts.login, () => gql(login, { variables: { i: input } }));
  const { response } = await gql(login, { variables: { i: input }, headers: { "x-refresh-token": "1" } });
  let refreshToken = response.headers.get("x-refresh-token");
  let accessToken;
  results.refreshToken = await time(counts.refresh, async () => {
    const { body, response: rotated } = await gql("mutation { refreshToken { accessToken } }", {
      headers: { "x-refresh-token": refreshToken },
    });
    refreshToken = rotated.headers.get("x-refresh-token");
    accessToken = body.data.refreshToken.accessToken;
  });
  results.me = await time(counts.me, () =>
    gql("{ me { id email } }", { headers: { authorization: `Bearer ${accessToken}` } }),
  );
  console.log(JSON.stringify({ database: env.DATABASE_URL ? "postgres" : "pglite", unit: "ms", ...results }, null, 2));
} finally {
  await keyway.stop();
}
