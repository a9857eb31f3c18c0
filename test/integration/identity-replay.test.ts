// A captured keyway-identity header is good for the one subgraph request it was
// minted for: a real keyway in front of an in-test subgraph that trusts callers only
// through keyway/subgraph, and that also records every identity it is sent, as
// someone reading its traffic or its logs would.
import http from "node:http";
import "reflect-metadata";
import { ApolloServer } from "@apollo/server";
import { ApolloServerPluginInlineTraceDisabled } from "@apollo/server/plugin/disabled";
import { startStandaloneServer } from "@apollo/server/standalone";
import { buildSubgraphSchema } from "@apollo/subgraph";
import { GraphQLError, parse } from "graphql";
import { createIdentityVerifier, IDENTITY_HEADER, type IdentityClaims } from "keyway/subgraph";
import { verifyAccessToken } from "../../src/token/access-token";
import { signIdentityToken } from "../../src/token/identity-token";
import { signUp, type Account } from "../helpers/auth";
import { callGraphQL, errorOf } from "../helpers/http";
import { freePort } from "../helpers/net";
import { startTestServer, type TestServer } from "../helpers/server";

interface Captured {
  identity: string;
  /** The body as the subgraph's server parsed it. */
  body: Record<string, unknown>;
}

async function startNotesSubgraph(jwksUrl: string) {
  const identity = createIdentityVerifier({ jwksUrl, audience: "notes" });
  const captured: Captured[] = [];
  const notes = new Map<string, string[]>();
  const callerOf = (context: { identity: IdentityClaims | null }) => {
    if (!context.identity) throw new GraphQLError("Sign in", { extensions: { code: "UNAUTHENTICATED" } });
    return context.identity.sub;
  };
  const schema = buildSubgraphSchema([
    {
      typeDefs: parse(`
        extend schema @link(url: "https://specs.apollo.dev/federation/v2.3", import: ["@key"])
        type User @key(fields: "id") { id: ID! notes: [String!]! }
        type Query { myNotes: [String!]! noteCount: Int! }
        type Mutation { addNote(text: String!): [String!]! }
      `),
      resolvers: {
        Query: {
          myNotes: (_root: unknown, _args: unknown, context: { identity: IdentityClaims | null }) =>
            notes.get(callerOf(context)) ?? [],
          noteCount: (_root: unknown, _args: unknown, context: { identity: IdentityClaims | null }) =>
            (notes.get(callerOf(context)) ?? []).length,
        },
        Mutation: {
          addNote: (_root: unknown, args: { text: string }, context: { identity: IdentityClaims | null }) => {
            const sub = callerOf(context);
            notes.set(sub, [...(notes.get(sub) ?? []), args.text]);
            return notes.get(sub);
          },
        },
        User: {
          __resolveReference: (reference: { id: string }) => reference,
          notes: (user: { id: string }, _args: unknown, context: { identity: IdentityClaims | null }) =>
            callerOf(context) === user.id ? (notes.get(user.id) ?? []) : [],
        },
      },
    },
  ]);
  const server = new ApolloServer({ schema, plugins: [ApolloServerPluginInlineTraceDisabled()] });
  const { url } = await startStandaloneServer(server, {
    listen: { port: 0, host: "127.0.0.1" },
    context: async ({ req }) => {
      const header = req.headers[IDENTITY_HEADER];
      if (typeof header === "string")
        captured.push({
          identity: header,
          body: structuredClone((req as { body?: Record<string, unknown> }).body ?? {}),
        });
      return { identity: await identity.verifyHttpRequest(req) };
    },
  });
  return { url, captured, stop: () => server.stop() };
}

/** The caller's claims as keyway holds them after verifying the access token: what it mints identities from. */
function verifiedClaims(accessToken: string) {
  const verified = verifyAccessToken(keyway.services.accessTokens, accessToken, Date.now());
  if (!verified.ok) throw new Error(`access token refused: ${verified.reason}`);
  return verified.claims;
}

const claimsOf = (identity: string): Record<string, unknown> =>
  JSON.parse(Buffer.from(identity.split(".")[1], "base64url").toString()) as Record<string, unknown>;

/** Straight to the subgraph, past keyway, as someone who can reach it would. */
async function sendDirect(url: string, identity: string, body: unknown) {
  const response = await fetch(url, {
    method: "POST",
    headers: { "content-type": "application/json", [IDENTITY_HEADER]: identity },
    body: JSON.stringify(body),
  });
  const answer = (await response.json()) as {
    data?: unknown;
    errors?: Array<{ extensions?: { code?: string; reason?: string } }>;
  };
  return { status: response.status, data: answer.data, error: answer.errors?.[0]?.extensions };
}

let keyway: TestServer;
let notes: Awaited<ReturnType<typeof startNotesSubgraph>>;
let alice: Account;

beforeAll(async () => {
  const port = await freePort();
  notes = await startNotesSubgraph(`http://127.0.0.1:${port}/.well-known/jwks.json`);
  keyway = await startTestServer({ port, env: { SUBGRAPHS: `notes=${notes.url}` } });
  alice = await signUp(keyway.url);
});
afterAll(async () => {
  await keyway?.stop();
  await notes?.stop();
});

/** The identities the subgraph received while `run` ran. */
async function capturing(run: () => Promise<void>): Promise<Captured[]> {
  const from = notes.captured.length;
  await run();
  return notes.captured.slice(from);
}

describe("through keyway", () => {
  it("serves mutations, queries and entity references, each subgraph request with an identity of its own", async () => {
    const sent = await capturing(async () => {
      const added = await callGraphQL(keyway.url, "mutation($text: String!) { addNote(text: $text) }", {
        accessToken: alice.accessToken,
        variables: { text: "milk" },
      });
      expect(added.body).toEqual({ data: { addNote: ["milk"] } });
      // A root field and an entity reference: two requests to the notes subgraph in one operation.
      const both = await callGraphQL(keyway.url, "{ myNotes me { id notes } }", { accessToken: alice.accessToken });
      expect(both.body).toEqual({ data: { myNotes: ["milk"], me: { id: alice.userId, notes: ["milk"] } } });
      // Fields of one subgraph that the gateway batches into one request.
      const batched = await callGraphQL(
        keyway.url,
        "{ a: myNotes b: noteCount mine: me { notes } again: me { id notes } }",
        { accessToken: alice.accessToken },
      );
      expect(batched.body).toEqual({
        data: { a: ["milk"], b: 1, mine: { notes: ["milk"] }, again: { id: alice.userId, notes: ["milk"] } },
      });
    });
    expect(sent.length).toBeGreaterThanOrEqual(4);
    const claims = sent.map((request) => claimsOf(request.identity));
    expect(new Set(claims.map((claim) => claim.jti)).size).toBe(sent.length);
    for (const claim of claims)
      expect(claim).toMatchObject({ aud: "notes", sub: alice.userId, bh: expect.stringMatching(/^[\w-]{43}$/) });
  });

  it("keeps callers apart when they send the same query at the same moment", async () => {
    const bob = await signUp(keyway.url);
    await callGraphQL(keyway.url, 'mutation { addNote(text: "bob\'s") }', { accessToken: bob.accessToken });
    const answers = await Promise.all(
      Array.from({ length: 20 }, (_, i) =>
        callGraphQL<{ myNotes: string[] }>(keyway.url, "{ myNotes }", {
          accessToken: (i % 2 ? bob : alice).accessToken,
        }),
      ),
    );
    answers.forEach((answer, i) => expect(answer.body.data?.myNotes).toEqual(i % 2 ? ["bob's"] : ["milk"]));
  });
});

describe("a captured identity", () => {
  /** The identity keyway would mint for alice's request to the notes subgraph with this body. */
  const aliceIdentityFor = (body: object) =>
    signIdentityToken(
      { keys: keyway.keys, issuer: "keyway" },
      verifiedClaims(alice.accessToken),
      "notes",
      Date.now(),
      JSON.stringify(body),
    );
  it("is refused when replayed straight to the subgraph, with its own body or another", async () => {
    const [request] = await capturing(async () => {
      await callGraphQL(keyway.url, "{ myNotes }", { accessToken: alice.accessToken });
    });
    expect(await sendDirect(notes.url, request.identity, request.body)).toMatchObject({
      data: undefined,
      error: { code: "UNAUTHENTICATED", reason: "IDENTITY_REPLAYED" },
    });
    const write = { query: 'mutation { addNote(text: "not mine") }' };
    expect(await sendDirect(notes.url, request.identity, write)).toMatchObject({
      data: undefined,
      error: { code: "UNAUTHENTICATED", reason: "IDENTITY_REPLAYED" },
    });
    expect((await callGraphQL(keyway.url, "{ myNotes }", { accessToken: alice.accessToken })).body.data).toEqual({
      myNotes: ["milk"],
    });
  });

  it("is refused for another body even before it was used, and keyway signs only the body it sends", async () => {
    // An identity keyway would mint for one request, offered with another: the body hash does not match.
    const read = { query: "{ myNotes }" };
    const identity = aliceIdentityFor(read);
    expect(await sendDirect(notes.url, identity, { query: 'mutation { addNote(text: "not mine") }' })).toMatchObject({
      error: { code: "UNAUTHENTICATED", reason: "IDENTITY_INVALID" },
    });
    expect(await sendDirect(notes.url, identity, read)).toMatchObject({ status: 200, data: { myNotes: ["milk"] } });
  });

  it("is refused on a GET, whose query comes from the URL whatever body a parser read", async () => {
    // A fresh identity, never used: captured on its way and raced to the subgraph.
    const write = { query: 'mutation { addNote(text: "harmless") }' };
    const identity = aliceIdentityFor(write);
    const answer = await new Promise<{
      data?: unknown;
      errors?: Array<{ extensions?: { code?: string; reason?: string } }>;
    }>((resolve, reject) => {
      const body = JSON.stringify(write);
      const request = http.request(
        `${notes.url}?query=${encodeURIComponent("{ myNotes }")}`,
        {
          method: "GET",
          headers: {
            "content-type": "application/json",
            "content-length": Buffer.byteLength(body),
            "apollo-require-preflight": "1",
            [IDENTITY_HEADER]: identity,
          },
        },
        (response) => {
          let text = "";
          response.on("data", (chunk) => (text += chunk));
          response.on("end", () => resolve(JSON.parse(text)));
        },
      );
      request.on("error", reject);
      request.end(body);
    });
    expect(answer.data ?? null).toBeNull();
    expect(answer.errors?.[0]?.extensions).toMatchObject({ code: "UNAUTHENTICATED", reason: "IDENTITY_INVALID" });
    // The identity was not spent by the refusal: keyway's own POST with it would still go through.
    expect(await sendDirect(notes.url, identity, write)).toMatchObject({ status: 200 });
  });

  it("is not followed by new ones once the session has ended", async () => {
    const carol = await signUp(keyway.url);
    const before = await capturing(async () => {
      await callGraphQL(keyway.url, "{ myNotes }", { accessToken: carol.accessToken });
    });
    expect(before).toHaveLength(1);
    await callGraphQL(keyway.url, "mutation { logout }", { cookie: carol.cookie });
    const after = await capturing(async () => {
      const refused = await callGraphQL(keyway.url, "{ myNotes me { notes } }", { accessToken: carol.accessToken });
      expect(errorOf(refused)).toEqual({ code: "UNAUTHENTICATED", reason: "SESSION_ENDED" });
    });
    expect(after).toEqual([]);
    expect(await sendDirect(notes.url, before[0].identity, before[0].body)).toMatchObject({
      error: { code: "UNAUTHENTICATED", reason: "IDENTITY_REPLAYED" },
    });
  });

  it("never exists for an anonymous request", async () => {
    const sent = await capturing(async () => {
      const response = await callGraphQL(keyway.url, "{ myNotes }");
      expect(errorOf(response)?.code).toBe("UNAUTHENTICATED");
    });
    expect(sent).toEqual([]);
  });
});
