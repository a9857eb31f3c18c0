// Signing-key rotation over time (a controllable clock): a rotated key is
// published before it signs, the key it replaces verifies until every token it
// signed has expired, then leaves the JWKS; keys sealed under another root are ignored.
import { generateKeyPairSync } from "node:crypto";
import { ME, signUp } from "../helpers/auth";
import { callGraphQL, errorOf } from "../helpers/http";
import { startTestServer, TestClock, type TestServer } from "../helpers/server";
import { ACTIVATION_DELAY_MS, createRotatingKeySet, rotateSigningKey } from "../../src/token/key-rotation";
import { loadKeySet } from "../../src/token/keys";
import { openDatabase } from "../../src/db/client";
import { migrateDatabase } from "../../src/db/migrate";
import { createTestDatabase } from "../helpers/database";
import { createPrismaSigningKeyStore } from "../../src/token/signing-key.prisma-store";

const ACCESS_TTL_SECONDS = 600;
const clock = new TestClock();
let server: TestServer;

beforeAll(async () => {
  server = await startTestServer({
    clock,
    env: { ACCESS_TOKEN_TTL: `${ACCESS_TTL_SECONDS}s`, SESSION_IDLE_TTL: "30d" },
  });
});
afterAll(() => server.stop());

const kidOf = (token: string): string =>
  (JSON.parse(Buffer.from(token.split(".")[0], "base64url").toString()) as { kid: string }).kid;
const publishedKids = async (): Promise<string[]> =>
  ((await (await fetch(`${server.url}/.well-known/jwks.json`)).json()) as { keys: Array<{ kid: string }> }).keys
    .map((key) => key.kid)
    .sort();
const meWith = (accessToken: string) =>
  callGraphQL(server.url, ME, { headers: { authorization: `Bearer ${accessToken}` } });
const rotate = () =>
  rotateSigningKey({
    root: loadKeySet({ privateKeyPem: undefined, dataDir: server.config.dataDir }),
    store: server.stores.signingKeys,
    accessTokenTtlSeconds: ACCESS_TTL_SECONDS,
    now: clock.now,
  });

it("publishes first, signs after the activation delay, and drops the old key once its tokens have expired", async () => {
  const oldKid = server.keys.signing.kid;
  const early = await signUp(server.url);
  expect(kidOf(early.accessToken)).toBe(oldKid);

  const rotation = await rotate();
  await server.keys.reload();
  expect(await publishedKids()).toEqual([oldKid, rotation.kid].sort());
  // Not yet: other instances and subgraphs get time to learn the new kid.
  expect(kidOf((await signUp(server.url)).accessToken)).toBe(oldKid);

  clock.advance(ACTIVATION_DELAY_MS / 1000 + 1);
  const late = await signUp(server.url);
  expect(kidOf(late.accessToken)).toBe(rotation.kid);
  // Tokens the old key signed keep working after it stopped signing.
  expect((await meWith(early.accessToken)).body.data).toEqual({ me: expect.objectContaining({ email: early.email }) });

  // Past every token the old key could have signed (+ slack), it leaves the JWKS and verifies nothing.
  clock.advance(ACCESS_TTL_SECONDS + 61);
  expect(await publishedKids()).toEqual([rotation.kid]);
  expect(server.keys.find(oldKid)).toBeUndefined();
  expect(errorOf(await meWith(early.accessToken))).toMatchObject({ code: "UNAUTHENTICATED" });
  expect((await meWith((await signUp(server.url)).accessToken)).body.data).toBeTruthy();
});

it("a second rotation retires the rotated key, and deletes keys past their window", async () => {
  const previous = server.keys.signing.kid;
  const next = await rotate();
  expect(next.replaces).toBe(previous);
  clock.advance(ACTIVATION_DELAY_MS / 1000 + ACCESS_TTL_SECONDS + 62);
  const third = await rotate();
  expect(third.removed).toEqual([previous]);
  await server.keys.reload();
  expect(await publishedKids()).toEqual([next.kid, third.kid].sort());
  expect((await server.database.prisma.signingKey.findMany()).map((row) => row.kid)).not.toContain(previous);
});

it("keys sealed under another root key are ignored, not trusted", async () => {
  const foreignRoot = generateKeyPairSync("ec", { namedCurve: "P-256" })
    .privateKey.export({ format: "pem", type: "pkcs8" })
    .toString();
  const elsewhere = createRotatingKeySet({
    root: loadKeySet({ privateKeyPem: foreignRoot, dataDir: server.config.dataDir }),
    store: server.stores.signingKeys,
    accessTokenTtlSeconds: ACCESS_TTL_SECONDS,
    now: clock.now,
  });
  await elsewhere.reload();
  const kids = elsewhere.jwks().keys.map((key) => key.kid);
  expect(kids).toEqual([elsewhere.signing.kid]);
  expect(kids).not.toContain(server.keys.signing.kid);
});

describe("concurrent rotations (PostgreSQL: separate connections, as separate CLI runs are)", () => {
  it("leave exactly one key that has not been scheduled to retire", async () => {
    const database = await createTestDatabase({ kind: "postgres" });
    const connections = await Promise.all(
      [0, 1, 2, 3].map(() => openDatabase({ url: database.url, dataDir: database.dataDir })),
    );
    try {
      await migrateDatabase(connections[0]);
      const root = loadKeySet({ privateKeyPem: undefined, dataDir: database.dataDir });
      const rotateOn = (connection: (typeof connections)[number]) =>
        rotateSigningKey({
          root,
          store: createPrismaSigningKeyStore(connection.prisma),
          accessTokenTtlSeconds: ACCESS_TTL_SECONDS,
          now: Date.now,
        });
      // One rotation first, as on a deployment that has rotated before; then three at once.
      const first = await rotateOn(connections[0]);
      const rotations = await Promise.all(connections.slice(1).map(rotateOn));
      const rows = await connections[0].prisma.signingKey.findMany();
      // The root's own row and four new keys; only the newest may still be waiting to retire.
      expect(rows).toHaveLength(5);
      expect(rows.filter((row) => row.retiredAt === null)).toHaveLength(1);
      // Each rotation replaced what signed, or was about to, when it ran: they form one chain.
      expect(new Set([first, ...rotations].map((rotation) => rotation.replaces)).size).toBe(4);
    } finally {
      await Promise.all(connections.map((connection) => connection.close()));
      await database.drop();
    }
  });
});
