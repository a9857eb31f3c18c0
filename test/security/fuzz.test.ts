// Property-based fuzzing of every public operation: arbitrary variables (strings of
// any unicode, huge values, deep nesting, wrong shapes, non-JSON bodies) and arbitrary
// Authorization / Cookie / x-refresh-token / content-type headers. Whatever arrives,
// keyway answers below 500 with coded errors that reveal nothing of its insides, and
// stays healthy. FUZZ_SEED=<n> replays a run; a failure prints its seed.
import fc from "fast-check";
import { LOGIN, LOGOUT, LOGOUT_ALL, ME, REFRESH_TOKEN, REVOKE_SESSION, SESSIONS, SIGN_UP, login, signUp, type Account } from "../helpers/auth";
import { startTestServer, type TestServer } from "../helpers/server";

const SEED = Number(process.env.FUZZ_SEED) || Math.floor(Math.random() * 2 ** 31);
const RUNS = 1000;

let server: TestServer;
let account: Account;
beforeAll(async () => {
  server = await startTestServer({ env: { LOGIN_ATTEMPTS_LIMIT: "1000000/1m", AUTH_IP_LIMIT: "1000000/1m" } });
  account = await signUp(server.url);
});
afterAll(() => server?.stop());

const OPERATIONS: Record<string, { query: string; shaped: fc.Arbitrary<Record<string, unknown>> }> = {};
const anyText = fc.oneof(
  fc.string(),
  fc.string({ unit: "binary" }),
  fc.string({ unit: "grapheme", maxLength: 200 }),
  fc.constantFrom("", " ", "\u0000", "a@b.io", "correct horse battery staple", "00000000-0000-4000-8000-000000000000", "' OR 1=1 --", "${jndi:x}", "<script>"),
  fc.integer({ min: 200, max: 300_000 }).map((length) => "é".repeat(length)),
);
const credentials = fc.record({ input: fc.record({ email: anyText, password: anyText }) });
Object.assign(OPERATIONS, {
  signUp: { query: SIGN_UP, shaped: credentials },
  login: { query: LOGIN, shaped: credentials },
  refreshToken: { query: REFRESH_TOKEN, shaped: fc.constant({}) },
  logout: { query: LOGOUT, shaped: fc.constant({}) },
  logoutAll: { query: LOGOUT_ALL, shaped: fc.constant({}) },
  revokeSession: { query: REVOKE_SESSION, shaped: fc.record({ id: anyText }) },
  me: { query: ME, shaped: fc.constant({}) },
  sessions: { query: SESSIONS, shaped: fc.constant({}) },
});

// Deeper than this overflows JSON.stringify in the test itself (jest's vm has a small stack).
const nested = fc.integer({ min: 1, max: 2000 }).map((depth) => {
  let value: unknown = "leaf";
  for (let i = 0; i < depth; i++) value = i % 2 ? [value] : { email: value };
  return { input: value };
});
const anyVariables = (shaped: fc.Arbitrary<Record<string, unknown>>) =>
  fc.oneof(
    { weight: 4, arbitrary: shaped },
    { weight: 1, arbitrary: fc.dictionary(fc.string(), fc.jsonValue({ maxDepth: 4 })) },
    { weight: 1, arbitrary: fc.record({ input: fc.jsonValue({ maxDepth: 6 }), id: fc.jsonValue({ maxDepth: 2 }) }) },
    { weight: 1, arbitrary: nested },
  );

// Header values fetch can send: visible ASCII and tab (no CR, LF or NUL).
const headerText = fc.string({ unit: fc.oneof(fc.integer({ min: 0x20, max: 0x7e }), fc.constant(9)).map((code) => String.fromCharCode(code)), maxLength: 600 });
const tokenLike = () => fc.constantFrom(account.accessToken, account.refreshToken, `${account.accessToken}x`, account.refreshToken.split(".").reverse().join("."));
const headerValues = () => ({
  authorization: fc.oneof(headerText, tokenLike().map((token) => `Bearer ${token}`), headerText.map((text) => `Bearer ${text}`)),
  cookie: fc.oneof(headerText, tokenLike().map((token) => `refresh_token=${token}`), headerText.map((text) => `refresh_token=${text}; refresh_token=x`)),
  "x-refresh-token": fc.oneof(headerText, tokenLike()),
  "content-type": fc.oneof(
    fc.constantFrom("application/json", "application/json; charset=utf-8", "application/json; charset=latin1", "text/plain", "application/x-www-form-urlencoded", "multipart/form-data", "application/graphql"),
    headerText,
  ),
});
const anyHeaders = () => fc.record(headerValues(), { requiredKeys: [] });
const anyBody = (query: string, variables: fc.Arbitrary<Record<string, unknown>>) =>
  fc.oneof(
    { weight: 5, arbitrary: variables.map((value) => JSON.stringify({ query, variables: value })) },
    { weight: 1, arbitrary: fc.string({ unit: "binary", maxLength: 2000 }) },
    { weight: 1, arbitrary: fc.jsonValue({ maxDepth: 3 }).map((value) => JSON.stringify(value)) },
  );

/** Signs of an unmasked error: stack frames, source paths, the ORM, SQL, internal codes. */
const INTERNALS = /\n\s+at |\bat [\w.<>]+ \(|\.(ts|js|cjs|mjs):\d+|\/work\/|node_modules|prisma|pglite|postgres|sqlstate|syntax error at|ECONNREFUSED|INTERNAL_SERVER_ERROR|stacktrace/i;

/** Every string the request carried: the server may echo them, and they are not its insides. */
function echoedTexts(body: string): string[] {
  const texts = [body];
  const collect = (value: unknown): void => {
    if (typeof value === "string" && value.length >= 3) texts.push(value, JSON.stringify(value).slice(1, -1));
    else if (value && typeof value === "object") Object.values(value).forEach(collect);
  };
  try {
    collect(JSON.parse(body));
  } catch {
    // Not JSON: only the body itself can be echoed.
  }
  return texts.sort((a, b) => b.length - a.length);
}

async function send(body: string, headers: Record<string, string>): Promise<void> {
  const response = await fetch(`${server.url}/graphql`, { method: "POST", headers: { "content-type": "application/json", ...headers }, body });
  const text = await response.text();
  expect(response.status).toBeLessThan(500);
  const parsed = JSON.parse(text) as { errors?: Array<{ message?: unknown; extensions?: { code?: unknown } }> };
  for (const error of parsed.errors ?? []) {
    expect(typeof error.extensions?.code).toBe("string");
    let message = String(error.message);
    for (const echoed of echoedTexts(body)) message = message.split(echoed).join("");
    expect(message).not.toMatch(INTERNALS);
    expect(error.extensions?.code).not.toBe("INTERNAL_SERVER_ERROR");
  }
}

async function check<T>(property: fc.IAsyncProperty<T>): Promise<void> {
  try {
    await fc.assert(property, { numRuns: RUNS, seed: SEED });
  } catch (error) {
    throw new Error(`fuzz failed; replay with FUZZ_SEED=${SEED}\n${(error as Error).message}`);
  }
}

const operationNames = Object.keys(OPERATIONS);

describe(`fuzzing every public operation (seed ${SEED}, ${RUNS} runs per property)`, () => {
  it("survives arbitrary variables and bodies", async () => {
    const arbitrary = fc.constantFrom(...operationNames).chain((name) =>
      fc.tuple(fc.constant(name), anyBody(OPERATIONS[name]!.query, anyVariables(OPERATIONS[name]!.shaped)), fc.constant({})),
    );
    await check(fc.asyncProperty(arbitrary, async ([, body, headers]) => send(body, headers)));
  }, 60_000);

  it("survives arbitrary Authorization, Cookie, x-refresh-token and content-type headers", async () => {
    const arbitrary = fc.constantFrom(...operationNames).chain((name) =>
      fc.tuple(fc.constant(name), OPERATIONS[name]!.shaped.map((variables) => JSON.stringify({ query: OPERATIONS[name]!.query, variables })), anyHeaders()),
    );
    await check(fc.asyncProperty(arbitrary, async ([, body, headers]) => send(body, headers as Record<string, string>)));
  }, 60_000);

  it("is healthy afterwards: /healthz answers and a normal login works", async () => {
    expect((await fetch(`${server.url}/healthz`)).status).toBe(200);
    await expect(login(server.url, account.email, account.password)).resolves.toMatchObject({ userId: account.userId });
  });
});
