// Property-based fuzzing of every public operation: arbitrary variables (strings of
// any unicode, huge values, deep nesting, wrong shapes, non-JSON bodies) and arbitrary
// Authorization / Cookie / x-refresh-token / content-type headers. Whatever arrives,
// keyway answers below 500 with coded errors that reveal nothing of its insides, and
// stays healthy. FUZZ_SEED=<n> replays a run; a failure prints its seed.
import fc from "fast-check";
import {
  LOGIN,
  LOGOUT,
  LOGOUT_ALL,
  ME,
  REFRESH_HEADER,
  REFRESH_TOKEN,
  REVOKE_SESSION,
  SESSIONS,
  SIGN_UP,
  login,
  refresh,
  signUp,
  type Account,
  type Tokens,
} from "../helpers/auth";
import { startTestServer, type TestServer } from "../helpers/server";

const SEED = Number(process.env.FUZZ_SEED) || Math.floor(Math.random() * 2 ** 31);
const RUNS = 1000;
// The header property must reach keyway's success paths, or it fuzzes only the
// refusals: rotations in this share of its refreshToken runs, grace answers of
// those rotations, and me answers of its me runs. Measured over ten runs on both
// databases: rotations 34-49%, grace answers 38-76% of them, me 22-35%.
const MIN_SUCCESS_SHARE = { rotation: 0.15, graceAnswer: 0.15, me: 0.15 } as const;

let server: TestServer;
let account: Account;
/** The session whose tokens the header property uses (see tokensForThisRun). */
let held: Tokens;
beforeAll(async () => {
  // The limits keyway would otherwise apply to one client's thousands of calls.
  server = await startTestServer({ env: { LOGIN_ATTEMPTS_LIMIT: "1000000/1m", AUTH_IP_LIMIT: "1000000/1m" } });
  account = await signUp(server.url, undefined, undefined, { headers: { [REFRESH_HEADER]: "1" } });
  held = account;
});
afterAll(() => server?.stop());

const OPERATIONS: Record<string, { query: string; shaped: fc.Arbitrary<Record<string, unknown>> }> = {};
const anyText = fc.oneof(
  fc.string(),
  fc.string({ unit: "binary" }),
  fc.string({ unit: "grapheme", maxLength: 200 }),
  fc.constantFrom(
    "",
    " ",
    "\u0000",
    "a@b.io",
    "correct horse battery staple",
    "00000000-0000-4000-8000-000000000000",
    "' OR 1=1 --",
    "${jndi:x}",
    "<script>",
  ),
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
const headerText = fc.string({
  unit: fc.oneof(fc.integer({ min: 0x20, max: 0x7e }), fc.constant(9)).map((code) => String.fromCharCode(code)),
  maxLength: 600,
});

// A rotation makes a refresh token useless to every later run, so the arbitraries
// name a token and each run fills in tokens minted for it (tokensForThisRun).
const TOKEN_KINDS = ["access", "refresh", "previousRefresh", "accessAltered", "refreshReversed"] as const;
type TokenKind = (typeof TOKEN_KINDS)[number];
const placeholder = (kind: TokenKind) => `{{${kind}}}`;
const token = (...kinds: TokenKind[]) => fc.constantFrom(...kinds).map(placeholder);
const tokenLike = token(...TOKEN_KINDS);

let runTokens: Record<TokenKind, string> | undefined;

/**
 * The tokens for one run. After a run that may have rotated or ended the held
 * session, it is rotated: a fresh access and refresh token, and the one just
 * replaced, inside its reuse grace; if that run ended it (logout, logoutAll, a
 * reuse), a login starts another, rotated once for the same three. After any
 * other run the same tokens still work.
 */
async function tokensForThisRun(sessionTouched: boolean): Promise<Record<TokenKind, string>> {
  if (runTokens && !sessionTouched) return runTokens;
  const rotate = (refreshToken: string) => refresh(server.url, { headers: { [REFRESH_HEADER]: refreshToken } });
  let previous = held.refreshToken;
  held = await rotate(previous).catch(async () => {
    previous = (await login(server.url, account.email, account.password, { headers: { [REFRESH_HEADER]: "1" } }))
      .refreshToken;
    return rotate(previous);
  });
  runTokens = {
    access: held.accessToken,
    refresh: held.refreshToken,
    previousRefresh: previous,
    accessAltered: `${held.accessToken}x`,
    refreshReversed: held.refreshToken.split(".").reverse().join("."),
  };
  return runTokens;
}

/** Whether a run may have rotated or ended the held session: an answered rotation, a reuse, or an ending that ended something. */
const touchesSession = (operation: string, answer: Answer) =>
  ["refreshToken", "logout", "logoutAll", "revokeSession"].includes(operation) &&
  (Boolean(answer.data?.[operation]) || answer.errors?.[0]?.extensions?.reason === "REFRESH_TOKEN_REUSED");

function withTokens(headers: Record<string, string>, tokens: Record<TokenKind, string>): Record<string, string> {
  const fill = (value: string) =>
    value.replace(/\{\{(\w+)\}\}/g, (match, kind: string) => tokens[kind as TokenKind] ?? match);
  return Object.fromEntries(Object.entries(headers).map(([name, value]) => [name, fill(value)]));
}

/** The refresh token keyway reads: a non-empty x-refresh-token header wins over the cookie (src/http/cookies.ts). */
const presentedRefreshToken = (headers: Partial<Record<string, string>>) =>
  headers["x-refresh-token"]?.trim() || (headers.cookie ?? "");

// Each header is usable for this run about as often as it is noise, so that the
// success paths (rotation, grace answers, me) are fuzzed too and not only refusals.
const JSON_TYPES = ["application/json", "application/json; charset=utf-8"];
const OTHER_TYPES = [
  "application/json; charset=latin1",
  "text/plain",
  "application/x-www-form-urlencoded",
  "multipart/form-data",
  "application/graphql",
];
const headerValues = () => ({
  authorization: fc.oneof(
    { weight: 3, arbitrary: token("access").map((value) => `Bearer ${value}`) },
    { weight: 1, arbitrary: tokenLike.map((value) => `Bearer ${value}`) },
    { weight: 1, arbitrary: headerText },
    { weight: 1, arbitrary: headerText.map((text) => `Bearer ${text}`) },
  ),
  cookie: fc.oneof(
    headerText,
    tokenLike.map((value) => `refresh_token=${value}`),
    headerText.map((text) => `refresh_token=${text}; refresh_token=x`),
  ),
  "x-refresh-token": fc.oneof(
    { weight: 3, arbitrary: token("refresh", "previousRefresh") },
    { weight: 1, arbitrary: tokenLike },
    { weight: 1, arbitrary: headerText },
  ),
  "content-type": fc.oneof(
    { weight: 3, arbitrary: fc.constantFrom(...JSON_TYPES) },
    { weight: 1, arbitrary: fc.constantFrom(...OTHER_TYPES) },
    { weight: 1, arbitrary: headerText },
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
const INTERNALS =
  /\n\s+at |\bat [\w.<>]+ \(|\.(ts|js|cjs|mjs):\d+|\/work\/|node_modules|prisma|pglite|postgres|sqlstate|syntax error at|ECONNREFUSED|INTERNAL_SERVER_ERROR|stacktrace/i;

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

type Answer = {
  data?: Record<string, unknown> | null;
  errors?: Array<{ message?: unknown; extensions?: { code?: unknown; reason?: unknown } }>;
};

async function send(body: string, headers: Record<string, string>): Promise<Answer> {
  const response = await fetch(`${server.url}/graphql`, {
    method: "POST",
    headers: { "content-type": "application/json", ...headers },
    body,
  });
  const text = await response.text();
  expect(response.status).toBeLessThan(500);
  const parsed = JSON.parse(text) as Answer;
  for (const error of parsed.errors ?? []) {
    expect(typeof error.extensions?.code).toBe("string");
    let message = String(error.message);
    for (const echoed of echoedTexts(body)) message = message.split(echoed).join("");
    expect(message).not.toMatch(INTERNALS);
    expect(error.extensions?.code).not.toBe("INTERNAL_SERVER_ERROR");
  }
  return parsed;
}

async function check<T>(property: fc.IAsyncProperty<T>): Promise<void> {
  try {
    await fc.assert(property, { numRuns: RUNS, seed: SEED });
  } catch (error) {
    throw new Error(`fuzz failed; replay with FUZZ_SEED=${SEED}\n${(error as Error).message}`, { cause: error });
  }
}

const operationNames = Object.keys(OPERATIONS);

describe(`fuzzing every public operation (seed ${SEED}, ${RUNS} runs per property)`, () => {
  it("survives arbitrary variables and bodies", async () => {
    const arbitrary = fc
      .constantFrom(...operationNames)
      .chain((name) =>
        fc.tuple(
          fc.constant(name),
          anyBody(OPERATIONS[name].query, anyVariables(OPERATIONS[name].shaped)),
          fc.constant({}),
        ),
      );
    await check(
      fc.asyncProperty(arbitrary, async ([, body, headers]) => {
        await send(body, headers);
      }),
    );
  }, 60_000);

  it("survives arbitrary Authorization, Cookie, x-refresh-token and content-type headers, with live tokens in them", async () => {
    const arbitrary = fc.constantFrom(...operationNames).chain((name) =>
      fc.tuple(
        fc.constant(name),
        OPERATIONS[name].shaped.map((variables) => JSON.stringify({ query: OPERATIONS[name].query, variables })),
        anyHeaders(),
      ),
    );
    const runs = { refreshToken: 0, me: 0 };
    const reached = { rotation: 0, graceAnswer: 0, me: 0 };
    let sessionTouched = true;
    await check(
      fc.asyncProperty(arbitrary, async ([name, body, headers]) => {
        const tokens = await tokensForThisRun(sessionTouched);
        sessionTouched = true; // until the answer says otherwise: a run that throws is followed by a rotation
        const answer = await send(body, withTokens(headers, tokens));
        sessionTouched = touchesSession(name, answer);
        if (name === "refreshToken") {
          runs.refreshToken++;
          if (answer.data?.refreshToken) reached.rotation++;
          // The token replaced before this run was the one read, and it worked: the reuse grace answered.
          if (answer.data?.refreshToken && presentedRefreshToken(headers).includes(placeholder("previousRefresh")))
            reached.graceAnswer++;
        }
        if (name === "me") {
          runs.me++;
          if (answer.data?.me) reached.me++;
        }
      }),
    );
    console.log(
      `fuzzed headers reached: ${reached.rotation} rotations (${reached.graceAnswer} grace answers) in ${runs.refreshToken} refreshToken runs, ${reached.me} me answers in ${runs.me} me runs`,
    );
    expect(reached.rotation).toBeGreaterThanOrEqual(MIN_SUCCESS_SHARE.rotation * runs.refreshToken);
    expect(reached.graceAnswer).toBeGreaterThanOrEqual(MIN_SUCCESS_SHARE.graceAnswer * reached.rotation);
    expect(reached.me).toBeGreaterThanOrEqual(MIN_SUCCESS_SHARE.me * runs.me);
    // Live tokens cost a rotation after each run that used them up and a login after each that
    // ended the session: 11-19 s on a busy 2-core machine (27 s once), where dead tokens took 5 s.
  }, 120_000);

  it("is healthy afterwards: /healthz answers and a normal login works", async () => {
    expect((await fetch(`${server.url}/healthz`)).status).toBe(200);
    await expect(login(server.url, account.email, account.password)).resolves.toMatchObject({ userId: account.userId });
  });
});
