// keyway as a federation gateway: a real keyway composed with an in-test
// @apollo/subgraph that extends User, over real HTTP on 127.0.0.1.
import "reflect-metadata";
import { randomUUID } from "node:crypto";
import { Writable } from "node:stream";
import { ApolloServer } from "@apollo/server";
import { ApolloServerPluginInlineTraceDisabled } from "@apollo/server/plugin/disabled";
import { startStandaloneServer } from "@apollo/server/standalone";
import { buildSubgraphSchema } from "@apollo/subgraph";
import { GraphQLError, parse } from "graphql";
import type { GraphQLContext } from "../../src/graphql/context";
import { loadConfig } from "../../src/config";
import { buildLocalSubgraphSchema, createSupergraph } from "../../src/gateway";
import { openKeyway, schemaDepsOf } from "../../src/keyway";
import { createLogger } from "../../src/logger";
import { createServer } from "../../src/server";
import { login, refresh, signUp, type Account } from "../helpers/auth";
import { createTestDatabase } from "../helpers/database";
import { freePort } from "../helpers/net";
import { callGraphQL, errorOf } from "../helpers/http";

const IDENTITY = "keyway-identity";
/** What the gateway's hook sends: a marker standing in for the signed identity token, given the body it is for. */
const headersFor = (subgraph: string, context: GraphQLContext) => {
  const caller = context.caller;
  return (body: string): Record<string, string> =>
    caller ? { [IDENTITY]: `test-identity:${subgraph}:${caller.sub}:${Buffer.from(body).toString("base64url")}` } : {};
};
const markerOf = (header: string | undefined) => header?.split(":").slice(0, 3).join(":");

/** The notes subgraph: extends User with notes that echo the headers the subgraph received. */
async function startNotesSubgraph(port = 0) {
  const received: Record<string, string>[] = [];
  const bodies: unknown[] = [];
  const schema = buildSubgraphSchema([
    {
      typeDefs: parse(`
        extend schema @link(url: "https://specs.apollo.dev/federation/v2.3", import: ["@key"])
        type User @key(fields: "id") { id: ID! notes: [String!]! }
        type Query { notesVersion: String! authorsOf(ids: [ID!]!): [User]! refused: String crashed: String whoami: String }
      `),
      resolvers: {
        Query: {
          notesVersion: () => "1",
          whoami: (_root: unknown, _args: unknown, context: { headers: Record<string, string> }) =>
            markerOf(context.headers[IDENTITY]) ?? null,
          authorsOf: (_root: unknown, args: { ids: string[] }) => args.ids.map((id) => ({ id })),
          refused: () => {
            throw new GraphQLError("Not your notes", { extensions: { code: "FORBIDDEN" } });
          },
          crashed: () => {
            throw new Error("db password is hunter2");
          },
        },
        User: {
          __resolveReference: (reference: { id: string }) => reference,
          notes: (user: { id: string }, _args: unknown, context: { headers: Record<string, string> }) => [
            `note of ${user.id}`,
            `headers:${JSON.stringify(context.headers)}`,
          ],
        },
      },
    },
  ]);
  const server = new ApolloServer({ schema, plugins: [ApolloServerPluginInlineTraceDisabled()] });
  const { url } = await startStandaloneServer(server, {
    listen: { port, host: "127.0.0.1" },
    context: async ({ req }) => {
      const headers = Object.fromEntries(Object.entries(req.headers).map(([name, value]) => [name, String(value)]));
      received.push(headers);
      bodies.push((req as { body?: unknown }).body);
      return { headers };
    },
  });
  return { url, port: Number(new URL(url).port), received, bodies, stop: () => server.stop() };
}

async function startGateway(subgraphs: { name: string; url: string }[], maxRetryDelayMs?: number) {
  const testDatabase = await createTestDatabase();
  const config = loadConfig({
    NODE_ENV: "test",
    DATA_DIR: testDatabase.dataDir,
    ...(testDatabase.url ? { DATABASE_URL: testDatabase.url } : {}),
  });
  const logs: string[] = [];
  const logger = createLogger({
    level: "info",
    destination: new Writable({ write: (chunk, _e, done) => (logs.push(String(chunk)), done()) }),
  });
  // keyway as main.ts opens it; only the supergraph is this test's own (its headersFor, timeouts and retries).
  const keyway = await openKeyway({ config, logger, migrations: "apply" });
  const { services, database, keys } = keyway;
  const resolvers = schemaDepsOf(services);
  const gateway = await createSupergraph({
    localSchema: await buildLocalSubgraphSchema(resolvers),
    subgraphs,
    headersFor,
    logger,
    requestTimeoutMs: 3000,
    maxRetryDelayMs,
    definedPolicies: new Set(config.authz.policies.keys()),
  });
  const server = await createServer({ config, database, keys, logger, services, gateway });
  const url = await server.listen(0, "127.0.0.1");
  return {
    url,
    gateway,
    logs,
    async stop() {
      await server.close();
      await keyway.close();
      await testDatabase.drop();
    },
  };
}

const ME_WITH_NOTES = "{ me { id email notes } }";

describe("keyway composing a subgraph that extends User", () => {
  let notes: Awaited<ReturnType<typeof startNotesSubgraph>>;
  let keyway: Awaited<ReturnType<typeof startGateway>>;
  let account: Account;

  beforeAll(async () => {
    notes = await startNotesSubgraph();
    keyway = await startGateway([{ name: "notes", url: notes.url }]);
    account = await signUp(keyway.url);
  });
  afterAll(async () => {
    await keyway?.stop();
    await notes?.stop().catch(() => undefined);
  });

  it("answers keyway's and the subgraph's fields of User in one query", async () => {
    const response = await callGraphQL<{ me: { id: string; email: string; notes: string[] } }>(
      keyway.url,
      ME_WITH_NOTES,
      { accessToken: account.accessToken },
    );
    expect(response.body.errors).toBeUndefined();
    expect(response.body.data?.me).toMatchObject({ id: account.userId, email: account.email });
    expect(response.body.data?.me.notes[0]).toBe(`note of ${account.userId}`);
  });

  it("resolves User references from the subgraph through keyway, for the caller's own user only", async () => {
    const query = "query($ids: [ID!]!) { authorsOf(ids: $ids) { id email } }";
    const other = await signUp(keyway.url);
    const mine = await callGraphQL(keyway.url, query, {
      variables: { ids: [account.userId] },
      accessToken: account.accessToken,
    });
    expect(mine.body).toEqual({ data: { authorsOf: [{ id: account.userId, email: account.email }] } });
    // Someone else's id, an unknown or a malformed one is no user for this caller: that item is null, its siblings are served.
    const mixed = await callGraphQL(keyway.url, query, {
      variables: { ids: [other.userId, account.userId, randomUUID(), "not-a-uuid"] },
      accessToken: account.accessToken,
    });
    expect(mixed.body.data).toEqual({ authorsOf: [null, { id: account.userId, email: account.email }, null, null] });
    const anonymous = await callGraphQL(keyway.url, query, { variables: { ids: [account.userId] } });
    expect(anonymous.body.data).toEqual({ authorsOf: [null] });
    expect(JSON.stringify(anonymous.body)).not.toContain(account.email);
  });

  it("keeps login and refreshToken working through the composed schema, refresh cookie included", async () => {
    const loggedIn = await login(keyway.url, account.email);
    expect(loggedIn.cookie).toMatch(/^refresh_token=/);
    expect(loggedIn.response.setCookies.join("\n")).toMatch(/HttpOnly/i);
    const refreshed = await refresh(keyway.url, { cookie: loggedIn.cookie });
    expect(refreshed.refreshToken).not.toBe(loggedIn.refreshToken);
    expect(refreshed.cookie).toMatch(/^refresh_token=/);
  });

  it("keeps keyway's error codes through the composed schema", async () => {
    const wrong = await callGraphQL(
      keyway.url,
      'mutation { login(input: { email: "nobody@example.io", password: "wrong password" }) { accessToken } }',
    );
    expect(errorOf(wrong)).toEqual({ code: "UNAUTHENTICATED", reason: "INVALID_CREDENTIALS" });
    const anonymous = await callGraphQL(keyway.url, "{ me { id } }");
    expect(errorOf(anonymous)).toEqual({ code: "UNAUTHENTICATED", reason: "TOKEN_MISSING" });
    expect(JSON.stringify(anonymous.body)).not.toMatch(/stack|at \//);
  });

  it("passes a subgraph's coded errors on and masks its unexpected ones", async () => {
    const response = await callGraphQL(keyway.url, "{ notesVersion refused crashed }");
    expect(response.body.data).toEqual({ notesVersion: "1", refused: null, crashed: null });
    const byPath = Object.fromEntries(
      (response.body.errors ?? []).map((e) => [String((e as { path?: unknown[] }).path), e]),
    );
    expect(byPath.refused).toMatchObject({ message: "Not your notes", extensions: { code: "FORBIDDEN" } });
    expect(byPath.crashed).toMatchObject({
      message: "Internal server error",
      extensions: { code: "INTERNAL_SERVER_ERROR" },
    });
    expect(JSON.stringify(response.body)).not.toContain("hunter2");
  });

  it("never passes the client's Authorization, Cookie, x-refresh-token or identity-looking headers to the subgraph", async () => {
    const loggedIn = await login(keyway.url, account.email);
    notes.received.length = 0;
    const response = await callGraphQL<{ me: { notes: string[] } }>(keyway.url, ME_WITH_NOTES, {
      accessToken: loggedIn.accessToken,
      cookie: loggedIn.cookie,
      headers: {
        "x-refresh-token": loggedIn.refreshToken,
        "x-user-id": "someone-else",
        [IDENTITY]: "forged",
        "x-forwarded-for": "10.0.0.1",
      },
    });
    expect(response.body.errors).toBeUndefined();
    expect(notes.received.length).toBeGreaterThan(0);
    for (const headers of notes.received) {
      expect(headers).not.toHaveProperty("authorization");
      expect(headers).not.toHaveProperty("cookie");
      expect(headers).not.toHaveProperty("x-refresh-token");
      expect(headers).not.toHaveProperty("x-user-id");
      expect(headers).not.toHaveProperty("x-forwarded-for");
      expect(markerOf(headers[IDENTITY])).toBe(`test-identity:notes:${account.userId}`);
      // Beyond the hook's headers and content-type/accept, only what Node's fetch adds for any request.
      const transport = [
        "host",
        "connection",
        "content-length",
        "user-agent",
        "accept-encoding",
        "accept-language",
        "sec-fetch-mode",
      ];
      expect(
        Object.keys(headers)
          .filter((name) => !transport.includes(name))
          .sort(),
      ).toEqual(["accept", "content-type", IDENTITY]);
    }
    const echoed = response.body.data!.me.notes[1];
    expect(echoed).not.toContain(loggedIn.accessToken);
    expect(echoed).not.toContain(loggedIn.refreshToken);
    expect(echoed).not.toContain("forged");
  });

  it("hands the identity hook the exact body each subgraph request sends", async () => {
    notes.received.length = 0;
    notes.bodies.length = 0;
    const response = await callGraphQL(keyway.url, "{ notesVersion }", { accessToken: account.accessToken });
    expect(response.body).toEqual({ data: { notesVersion: "1" } });
    expect(notes.received).toHaveLength(1);
    const signedFor = JSON.parse(Buffer.from(notes.received[0][IDENTITY].split(":")[3], "base64url").toString());
    expect(signedFor).toEqual(notes.bodies[0]);
    expect(signedFor.query).toContain("notesVersion");
  });

  it("never merges the same subgraph request of two callers, which would answer one with the other's identity", async () => {
    const other = await signUp(keyway.url);
    const callers = Array.from({ length: 20 }, (_, i) => (i % 2 ? other : account));
    const answers = await Promise.all(
      callers.map((caller) =>
        callGraphQL<{ whoami: string }>(keyway.url, "{ whoami }", { accessToken: caller.accessToken }),
      ),
    );
    answers.forEach((answer, i) => expect(answer.body.data?.whoami).toBe(`test-identity:notes:${callers[i].userId}`));
  });

  it("sends no identity for anonymous requests", async () => {
    notes.received.length = 0;
    const response = await callGraphQL(keyway.url, "{ notesVersion }", {
      headers: { [IDENTITY]: "forged", authorization: "Bearer not-a-token" },
    });
    expect(response.body).toEqual({ data: { notesVersion: "1" } });
    expect(notes.received).toHaveLength(1);
    expect(notes.received[0]).not.toHaveProperty(IDENTITY);
    expect(notes.received[0]).not.toHaveProperty("authorization");
  });

  // Last: stops the subgraph.
  it("fails only the subgraph's fields, with SUBGRAPH_UNAVAILABLE, while it is down", async () => {
    await notes.stop();
    const mixed = await callGraphQL<{ me: { id: string; email: string; notes: string[] | null } }>(
      keyway.url,
      ME_WITH_NOTES,
      { accessToken: account.accessToken },
    );
    expect(mixed.status).toBe(200);
    expect(mixed.body.data?.me).toEqual({ id: account.userId, email: account.email, notes: null });
    expect(mixed.body.errors).toHaveLength(1);
    expect(mixed.body.errors?.[0]).toMatchObject({
      path: ["me", "notes"],
      extensions: { code: "SUBGRAPH_UNAVAILABLE" },
    });

    const rootField = await callGraphQL(keyway.url, "{ notesVersion }");
    expect(errorOf(rootField)).toEqual({ code: "SUBGRAPH_UNAVAILABLE", reason: undefined });

    const me = await callGraphQL(keyway.url, "{ me { id } }", { accessToken: account.accessToken });
    expect(me.body).toEqual({ data: { me: { id: account.userId } } });
    const again = await login(keyway.url, account.email);
    expect(again.cookie).toMatch(/^refresh_token=/);
  });
});

describe("a subgraph unreachable at start-up", () => {
  it("is left out while keyway serves its own operations, and composed once it answers", async () => {
    const port = await freePort();
    const keyway = await startGateway([{ name: "notes", url: `http://127.0.0.1:${port}/` }], 200);
    let notes: Awaited<ReturnType<typeof startNotesSubgraph>> | undefined;
    try {
      expect(keyway.gateway.missing).toEqual(["notes"]);
      const account = await signUp(keyway.url);
      const before = await callGraphQL(keyway.url, ME_WITH_NOTES, { accessToken: account.accessToken });
      expect(errorOf(before)?.code).toBe("GRAPHQL_VALIDATION_FAILED");
      expect((await callGraphQL(keyway.url, "{ me { id } }", { accessToken: account.accessToken })).body).toEqual({
        data: { me: { id: account.userId } },
      });

      notes = await startNotesSubgraph(port);
      await keyway.gateway.whenComplete();
      const after = await callGraphQL<{ me: { notes: string[] } }>(keyway.url, ME_WITH_NOTES, {
        accessToken: account.accessToken,
      });
      expect(after.body.errors).toBeUndefined();
      expect(after.body.data?.me.notes[0]).toBe(`note of ${account.userId}`);
    } finally {
      await keyway.stop();
      await notes?.stop();
    }
  });
});
