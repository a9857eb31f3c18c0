// Live grants across instances (API.md, "Authorization"): a role revoked or a user
// disabled on one instance, or by the CLI in a process of its own, counts on
// another within the revocation bound — 1 s with Redis, REVOCATION_POLL_INTERVAL
// without — for access tokens issued before: in context.grants(), in `me { roles }`
// and in the identity a subgraph receives. Two in-process instances on one
// PostgreSQL, each with its own services, cache and Redis connections; A forwards
// to an in-test subgraph. Redis keys and channels live under a prefix of this run.
import { generateKeyPairSync, randomUUID } from "node:crypto";
import { ME, signUp, type Account } from "../helpers/auth";
import { createTestDatabase, type TestDatabase } from "../helpers/database";
import { callGraphQL } from "../helpers/http";
import { logSink } from "../helpers/log-capture";
import { freePort } from "../helpers/net";
import { startNode } from "../helpers/node-process.cjs";
import { childEnv } from "../helpers/process";
import { startTestServer, type TestServer } from "../helpers/server";
import { startWhoamiSubgraph } from "../helpers/whoami-subgraph";
import { verifyAccessToken } from "../../src/token/access-token";

jest.setTimeout(120_000);

const REDIS_URL = "redis://127.0.0.1:6379";
const JWT_PRIVATE_KEY = generateKeyPairSync("ec", { namedCurve: "P-256" })
  .privateKey.export({ type: "pkcs8", format: "pem" })
  .toString();
/** The contract's bound with Redis. */
const REDIS_BOUND_MS = 1_000;
const POLL_INTERVAL_MS = 1_000;
/** One poll's query and a loaded event loop on top of the interval (as revocation-poll.test.ts). */
const POLL_SLACK_MS = 1_000;
const CALLER = `{ caller { roles } }`;
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

let database: TestDatabase;
beforeAll(async () => {
  database = await createTestDatabase({ kind: "postgres" });
});
afterAll(() => database?.drop());

interface Pair {
  a: TestServer;
  b: TestServer;
  whoami: Awaited<ReturnType<typeof startWhoamiSubgraph>>;
  env: Record<string, string>;
}

/** A (forwarding to the whoami subgraph) and B on the shared database, with this environment. */
async function startPair(env: Record<string, string>): Promise<Pair> {
  const port = await freePort();
  const whoami = await startWhoamiSubgraph(`http://127.0.0.1:${port}/.well-known/jwks.json`);
  const shared = { JWT_PRIVATE_KEY, ...env };
  const a = await startTestServer({ database, port, env: { ...shared, SUBGRAPHS: `whoami=${whoami.url}` } });
  const b = await startTestServer({ database, env: shared });
  return { a, b, whoami, env: shared };
}
async function stopPair(pair: Pair | undefined): Promise<void> {
  await pair?.a.stop();
  await pair?.b.stop();
  await pair?.whoami.stop();
}

/** The caller's roles on A, three ways: its grants, `me`, and the identity the subgraph got. */
async function rolesOnA(pair: Pair, account: Account) {
  const verified = verifyAccessToken(pair.a.services.accessTokens, account.accessToken, Date.now());
  if (!verified.ok) throw new Error(verified.reason);
  // At once, so one look at A takes one round trip however loaded the machine is.
  const [grants, me, caller] = await Promise.all([
    pair.a.services.grants.current(verified.claims),
    callGraphQL<{ me: { roles: string[] } | null }>(pair.a.url, ME, { accessToken: account.accessToken }),
    callGraphQL<{ caller: { roles: string[] } | null }>(pair.a.url, CALLER, { accessToken: account.accessToken }),
  ]);
  return {
    grants: grants === null ? null : grants.roles,
    me: me.body.data?.me?.roles ?? errorReason(me.body.errors),
    subgraph: caller.body.data?.caller?.roles ?? errorReason(caller.body.errors),
  };
}
function errorReason(errors: Array<{ extensions?: Record<string, unknown> }> | undefined): string {
  const { reason, code } = errors?.[0]?.extensions ?? {};
  return typeof reason === "string" ? reason : typeof code === "string" ? code : "no answer";
}

type Seen = Awaited<ReturnType<typeof rolesOnA>>;
type View = keyof Seen;

/**
 * Milliseconds from `since` until each view on A satisfies `done`, polled every
 * 25 ms; Infinity for a view that never does within `giveUpMs`.
 */
async function msUntil(
  pair: Pair,
  account: Account,
  since: number,
  done: (value: Seen[View]) => boolean,
  giveUpMs: number,
): Promise<Record<View, number>> {
  const seenAt: Partial<Record<View, number>> = {};
  const views: View[] = ["grants", "me", "subgraph"];
  while (views.some((view) => seenAt[view] === undefined) && Date.now() - since <= giveUpMs) {
    const seen = await rolesOnA(pair, account);
    const elapsed = Date.now() - since;
    for (const view of views) if (seenAt[view] === undefined && done(seen[view])) seenAt[view] = elapsed;
    await sleep(25);
  }
  return { grants: seenAt.grants ?? Infinity, me: seenAt.me ?? Infinity, subgraph: seenAt.subgraph ?? Infinity };
}

/** A user holding `staff` with a token minted before, cached on A. */
async function staffOnA(pair: Pair): Promise<Account> {
  const account = await signUp(pair.b.url);
  await pair.b.services.roles.grantRole(account.userId, "staff", "test");
  // Until A has heard of the grant (this is also the grant's propagation), then cached there.
  const seen = await msUntil(pair, account, Date.now(), (roles) => JSON.stringify(roles) === '["staff"]', 15_000);
  expect(Math.max(...Object.values(seen))).toBeLessThan(Infinity);
  expect(await rolesOnA(pair, account)).toEqual({ grants: ["staff"], me: ["staff"], subgraph: ["staff"] });
  return account;
}

const noRoles = (roles: Seen[View]) => Array.isArray(roles) && roles.length === 0;

/**
 * `keyway <args>` as an operator runs it, against the pair's database, while A is
 * watched; milliseconds from the change's stamp (User.changedAt, the database's
 * clock on this machine, taken just before the commit) until each view on A showed
 * it. The CLI's own output is no clock: its log lines may be flushed only at exit.
 */
async function msFromCliChange(pair: Pair, account: Account, args: string[], done: (value: Seen[View]) => boolean) {
  const startedAt = Date.now();
  const cli = startNode("scripts/keyway.cjs", {
    args,
    env: childEnv({ DATABASE_URL: database.url!, DATA_DIR: database.dataDir, ...pair.env }),
    onOutput: logSink("cli"),
  });
  const seen = await msUntil(pair, account, startedAt, done, 30_000);
  expect(await cli.exited).toBe(0);
  const [{ changedAt }] = await pair.a.database.prisma.$queryRaw<Array<{ changedAt: Date }>>`
    SELECT "changedAt" FROM "User" WHERE "id" = ${account.userId}::uuid`;
  const fromChange = (ms: number) => startedAt + ms - changedAt.getTime();
  return { grants: fromChange(seen.grants), me: fromChange(seen.me), subgraph: fromChange(seen.subgraph) };
}

describe.each([
  {
    mode: "with Redis (the poll 60 s: Redis alone must do it)",
    env: () => ({ REDIS_URL, REDIS_KEY_PREFIX: `kwtest-${randomUUID()}:`, REVOCATION_POLL_INTERVAL: "60s" }),
    boundMs: REDIS_BOUND_MS,
  },
  {
    mode: `without Redis (REVOCATION_POLL_INTERVAL=${POLL_INTERVAL_MS / 1000}s)`,
    env: () => ({ REVOCATION_POLL_INTERVAL: `${POLL_INTERVAL_MS / 1000}s` }),
    boundMs: POLL_INTERVAL_MS + POLL_SLACK_MS,
  },
])("two instances $mode", ({ env, boundMs, mode }) => {
  let pair: Pair;
  beforeAll(async () => {
    pair = await startPair(env());
    if (pair.a.services.redis) {
      for (const instance of [pair.a, pair.b]) expect(await instance.services.redis!.settled()).toBe("up");
    }
  }, 60_000);
  afterAll(() => stopPair(pair));

  it("a role revoked on B is gone on A — grants, me and the subgraph's identity — within the bound", async () => {
    const account = await staffOnA(pair);
    const revokedAt = Date.now();
    expect((await pair.b.services.roles.revokeRole(account.userId, "staff", "test"))?.changed).toBe(true);
    const ms = await msUntil(pair, account, revokedAt, noRoles, 10_000);
    console.log(`${mode}: role revoked on B gone on A after ${JSON.stringify(ms)} ms`);
    for (const view of Object.values(ms)) expect(view).toBeLessThanOrEqual(boundMs);
  });

  it("a role revoked by the CLI (a process of its own) is gone on A within the bound of the change", async () => {
    const account = await staffOnA(pair);
    const email = (await pair.a.stores.users.findById(account.userId))!.email;
    const ms = await msFromCliChange(pair, account, ["role:revoke", email, "staff"], noRoles);
    console.log(`${mode}: role revoked by the CLI gone on A after ${JSON.stringify(ms)} ms`);
    for (const view of Object.values(ms)) expect(view).toBeLessThanOrEqual(boundMs);
  });

  it("a user disabled by the CLI has null grants on A and is refused there, within the bound", async () => {
    const account = await staffOnA(pair);
    const email = (await pair.a.stores.users.findById(account.userId))!.email;
    const ms = await msFromCliChange(
      pair,
      account,
      ["user:disable", email],
      (value) => value === null || value === "SESSION_ENDED",
    );
    console.log(`${mode}: user disabled by the CLI refused on A after ${JSON.stringify(ms)} ms`);
    for (const view of Object.values(ms)) expect(view).toBeLessThanOrEqual(boundMs);
    expect(await rolesOnA(pair, account)).toEqual({ grants: null, me: "SESSION_ENDED", subgraph: "SESSION_ENDED" });
  });
});
