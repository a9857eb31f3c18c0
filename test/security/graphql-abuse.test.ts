// Abusive GraphQL documents: every limit of src/graphql/limits.ts served at its
// value and refused one past it (a coded error, status 400), documents far past
// every limit, batching, and what production shows of a refusal — over HTTP,
// against keyway's own schema and through the composed supergraph.
import { generateKeyPairSync } from "node:crypto";
import { readFileSync } from "node:fs";
import path from "node:path";
import { ApolloServer } from "@apollo/server";
import { ApolloServerPluginInlineTraceDisabled } from "@apollo/server/plugin/disabled";
import { startStandaloneServer } from "@apollo/server/standalone";
import { buildSubgraphSchema } from "@apollo/subgraph";
import { Kind, Lexer, parse, Source, TokenKind } from "graphql";
import { GRAPHQL_LIMITS } from "../../src/graphql/limits";
import { signUp, type Account } from "../helpers/auth";
import { callGraphQL, errorOf, type GraphQLResponse } from "../helpers/http";
import { startTestServer, type TestServer } from "../helpers/server";

const { maxDepth, maxAliases, maxDirectives, maxFields, maxTokens, maxDocumentBytes } = GRAPHQL_LIMITS;
const range = (n: number) => Array.from({ length: n }, (_, i) => i);

/** `__type` nests without end: `__type`, `fields`, `type`, then `ofType`s, then `name`. */
const ofDepth = (depth: number) =>
  `{ __type(name: "User") { fields { type { ${"ofType { ".repeat(depth - 4)}name ${"} ".repeat(depth - 4)}} } } }`;
const withAliases = (count: number) =>
  `{ ${range(count)
    .map((i) => `a${i}: me { id }`)
    .join(" ")} }`;
const withDirectives = (count: number) =>
  `{ ${range(count)
    .map(() => "__typename @include(if: true)")
    .join(" ")} }`;
const withFields = (count: number) => `{ ${"__typename ".repeat(count)}}`;
/** Operations of 5 tokens each, the first padded to reach exactly `count`; Q0 is the one run. */
const withTokens = (count: number) =>
  range(Math.floor(count / 5))
    .map((i) => `query Q${i} { __typename${i === 0 ? " __typename".repeat(count % 5) : ""} }`)
    .join("\n");
/** A comment pads a one-field document to exactly `bytes` UTF-8 bytes. */
const PADDED = "{ __typename }\n#";
const ofBytes = (bytes: number) => PADDED + "x".repeat(bytes - PADDED.length);

function countTokens(document: string): number {
  const lexer = new Lexer(new Source(document));
  let count = 0;
  while (lexer.advance().kind !== TokenKind.EOF) count++;
  return count;
}

function expectRefused(response: GraphQLResponse, code: string, message?: RegExp): void {
  expect({ status: response.status, code: errorOf(response)?.code, data: response.body.data }).toEqual({
    status: 400,
    code,
    data: undefined,
  });
  if (message) expect(response.body.errors?.[0]?.message).toMatch(message);
  expect(JSON.stringify(response.body)).not.toMatch(/stacktrace|\bat \//);
}

function expectServed(response: GraphQLResponse): void {
  expect({ status: response.status, errors: response.body.errors }).toEqual({ status: 200, errors: undefined });
  expect(response.body.data).toBeTruthy();
}

const postBody = (url: string, body: string, headers: Record<string, string> = {}) =>
  fetch(`${url}/graphql`, { method: "POST", headers: { "content-type": "application/json", ...headers }, body });

describe("limits on keyway's own schema", () => {
  let server: TestServer;
  let account: Account;
  beforeAll(async () => {
    server = await startTestServer();
    account = await signUp(server.url);
  });
  afterAll(() => server?.stop());
  const call = (query: string, operationName?: string) =>
    callGraphQL(server.url, query, { accessToken: account.accessToken, operationName });

  it("serves every operation of the client, and me with sessions in one query", async () => {
    const operations = readFileSync(path.join(__dirname, "../../src/client/operations.graphql"), "utf8");
    for (const definition of parse(operations).definitions) {
      if (definition.kind !== Kind.OPERATION_DEFINITION) continue;
      // Anonymous, so LogoutAll ends nothing: each runs or is refused for its own
      // reasons (no caller, missing variables), never for a limit.
      const name = definition.name!.value;
      const response = await callGraphQL(server.url, operations, { operationName: name });
      expect({ name, status: response.status, code: errorOf(response)?.code }).toEqual({
        name,
        status: expect.any(Number),
        code: expect.not.stringMatching(/^(GRAPHQL_|BAD_REQUEST)/),
      });
      expect(response.status).toBeLessThan(500);
    }
    expectServed(
      await call("{ me { id email createdAt } sessions { id createdAt lastUsedAt expiresAt userAgent ip current } }"),
    );
  });

  it.each([
    ["depth", maxDepth, ofDepth, /depth limit of \d+ exceeded, found/],
    ["aliases", maxAliases, withAliases, /Aliases limit of \d+ exceeded/],
    ["directives", maxDirectives, withDirectives, /Directives limit of \d+ exceeded/],
    ["fields", maxFields, withFields, /Cost limit of \d+ exceeded/],
  ])(
    "serves %s at the limit and refuses one more as GRAPHQL_VALIDATION_FAILED",
    async (_name, limit, build, message) => {
      expectServed(await call(build(limit)));
      const refused = await call(build(limit + 1));
      expectRefused(refused, "GRAPHQL_VALIDATION_FAILED", message);
      expect(refused.body.errors?.[0]?.message).toContain(`found ${limit + 1}`);
    },
  );

  it("serves a document of exactly the token limit and refuses one more token while parsing", async () => {
    expect([countTokens(withTokens(maxTokens)), countTokens(withTokens(maxTokens + 1))]).toEqual([
      maxTokens,
      maxTokens + 1,
    ]);
    expectServed(await call(withTokens(maxTokens), "Q0"));
    expectRefused(await call(withTokens(maxTokens + 1), "Q0"), "GRAPHQL_PARSE_FAILED", /more that \d+ tokens/);
  });

  it("serves a document of exactly the size limit and refuses one more byte before parsing", async () => {
    expect(Buffer.byteLength(ofBytes(maxDocumentBytes))).toBe(maxDocumentBytes);
    expectServed(await call(ofBytes(maxDocumentBytes)));
    expectRefused(await call(ofBytes(maxDocumentBytes + 1)), "GRAPHQL_PARSE_FAILED", /too large/);
    // Bytes, not characters: two-byte characters fill the limit with half as many.
    const wide = PADDED + "é".repeat(maxDocumentBytes / 2);
    expect(wide.length).toBeLessThan(maxDocumentBytes);
    expectRefused(await call(wide), "GRAPHQL_PARSE_FAILED", /too large/);
  });

  it("refuses documents far past every limit, each by the first limit it meets", async () => {
    const nested = "{a".repeat(10_000) + "}".repeat(10_000); // 10k levels, 20k tokens, under the size limit
    expect(nested.length).toBeLessThan(maxDocumentBytes);
    expectRefused(await call(nested), "GRAPHQL_PARSE_FAILED", /tokens/);
    expectRefused(await call(`{ ${"a ".repeat(15_000)}}`), "GRAPHQL_PARSE_FAILED", /tokens/);
    expectRefused(await call("{}".repeat(50_000)), "GRAPHQL_PARSE_FAILED", /too large/); // 100k tokens
    expectRefused(await call(withAliases(10_000)), "GRAPHQL_PARSE_FAILED", /too large/);
    // Small but exponential: each fragment spreads the one below twice.
    const fragments = range(60)
      .map((i) => `fragment F${i + 1} on Query { ...F${i} ...F${i} }`)
      .join(" ");
    expectRefused(
      await call(`${fragments} fragment F0 on Query { __typename } { ...F60 }`),
      "GRAPHQL_VALIDATION_FAILED",
      /Cost limit/,
    );
    // Validation stops at the limit, before graphql-js's own rules walk the 400
    // overlapping fields (quadratic work), even in a fragment defined above its operation.
    const overlapping = await call(`fragment F on Query { ${"me { id } ".repeat(400)}} { ...F }`);
    expectRefused(overlapping, "GRAPHQL_VALIDATION_FAILED", /Cost limit/);
    expect(overlapping.body.errors?.map((error) => error.message)).toEqual([
      expect.stringMatching(/Cost limit/),
      expect.stringMatching(/Validation aborted/),
    ]);
    // Past the HTTP body limit the refusal is a 413, still a coded GraphQL error.
    const huge = await callGraphQL(server.url, "#".repeat(300 * 1024));
    expect({ status: huge.status, code: errorOf(huge)?.code }).toEqual({ status: 413, code: "BAD_REQUEST" });
    expect((await call("{ me { id } }")).body.data).toEqual({ me: { id: account.userId } });
  });

  it("refuses a batch, of any length, with a coded error and 400, and runs none of it", async () => {
    const refresh = { query: "mutation { refreshToken { accessToken } }" };
    for (const batch of [[refresh, refresh], [refresh], []]) {
      const response = await postBody(server.url, JSON.stringify(batch), { cookie: account.cookie });
      expect(response.headers.get("content-type")).toMatch(/application\/json/);
      expect({ status: response.status, cookies: response.headers.getSetCookie() }).toEqual({
        status: 400,
        cookies: [],
      });
      expect(await response.json()).toEqual({
        errors: [{ message: expect.stringMatching(/batching/i), extensions: { code: "BAD_REQUEST" } }],
      });
    }
  });

  it("keeps introspection and field suggestions in development", async () => {
    expectServed(await call("{ __schema { queryType { name } } }"));
    expectServed(await call('{ __type(name: "User") { name } }'));
    const typo = await call("{ mee { id } }");
    expectRefused(typo, "GRAPHQL_VALIDATION_FAILED", /Cannot query field "mee" on type "Query"\. Did you mean "me"\?/);
  });
});

describe("in production", () => {
  let server: TestServer;
  beforeAll(async () => {
    const JWT_PRIVATE_KEY = generateKeyPairSync("ec", { namedCurve: "P-256" })
      .privateKey.export({ type: "pkcs8", format: "pem" })
      .toString();
    server = await startTestServer({
      env: { NODE_ENV: "production", SMTP_URL: "smtp://127.0.0.1:9", JWT_PRIVATE_KEY },
    });
  });
  afterAll(() => server?.stop());

  /** Only the code and its fixed message: nothing of the document, the schema or the limit. */
  const expectMasked = (response: GraphQLResponse, code: string, message: string) => {
    expect({ status: response.status, data: response.body.data, count: response.body.errors?.length }).toEqual({
      status: 400,
      data: undefined,
      count: expect.any(Number),
    });
    // A refusal at a limit also carries graphql-js's note that it stopped validating: masked the same way.
    for (const error of response.body.errors!) expect(error).toEqual({ message, extensions: { code } });
  };

  it("refuses introspection through __schema and __type alike", async () => {
    expectMasked(
      await callGraphQL(server.url, "{ __schema { queryType { name } } }"),
      "GRAPHQL_VALIDATION_FAILED",
      "Invalid request",
    );
    expectMasked(
      await callGraphQL(server.url, '{ __type(name: "User") { name } }'),
      "GRAPHQL_VALIDATION_FAILED",
      "Invalid request",
    );
  });

  it("masks validation, parse, limit and variable errors to a fixed message per code, suggestions included", async () => {
    const cases: Array<[string, Record<string, unknown> | undefined, string, string]> = [
      ["{ mee { id } }", undefined, "GRAPHQL_VALIDATION_FAILED", "Invalid request"],
      ["{ me { id emial } }", undefined, "GRAPHQL_VALIDATION_FAILED", "Invalid request"],
      ["{ me { id ", undefined, "GRAPHQL_PARSE_FAILED", "The request could not be parsed"],
      [withFields(maxFields + 1), undefined, "GRAPHQL_VALIDATION_FAILED", "Invalid request"],
      [withTokens(maxTokens + 1), undefined, "GRAPHQL_PARSE_FAILED", "The request could not be parsed"],
      [
        "mutation($i: LoginInput!) { login(input: $i) { accessToken } }",
        { i: { emial: "a@example.io", password: "hunter2 hunter2" } },
        "BAD_USER_INPUT",
        "Invalid variables",
      ],
    ];
    for (const [query, variables, code, message] of cases) {
      const response = await callGraphQL(server.url, query, { variables });
      expectMasked(response, code, message);
      expect(JSON.stringify(response.body)).not.toMatch(/Did you mean|mee|emial|LoginInput|hunter2|limit/);
    }
  });

  it("masks the batching refusal too", async () => {
    const response = await postBody(
      server.url,
      JSON.stringify([{ query: "{ __typename }" }, { query: "{ __typename }" }]),
    );
    expectMasked(
      { status: response.status, body: await response.json() } as GraphQLResponse,
      "BAD_REQUEST",
      "Bad request",
    );
  });

  it("keeps keyway's own coded errors as they are", async () => {
    const response = await callGraphQL(server.url, "{ me { id } }");
    expect(response.body.errors?.[0]).toMatchObject({
      message: "An access token is required",
      extensions: { code: "UNAUTHENTICATED", reason: "TOKEN_MISSING" },
    });
  });
});

describe("limits through the composed supergraph (SUBGRAPHS)", () => {
  let server: TestServer;
  let subgraph: { url: string; stop(): Promise<void> };
  let subgraphRequests = 0;
  beforeAll(async () => {
    const schema = buildSubgraphSchema([
      { typeDefs: parse("type Query { notesVersion: String! }"), resolvers: { Query: { notesVersion: () => "1" } } },
    ]);
    const apollo = new ApolloServer({ schema, plugins: [ApolloServerPluginInlineTraceDisabled()] });
    const { url } = await startStandaloneServer(apollo, {
      listen: { port: 0, host: "127.0.0.1" },
      context: async () => (subgraphRequests++, {}),
    });
    subgraph = { url, stop: () => apollo.stop() };
    server = await startTestServer({ env: { SUBGRAPHS: `notes=${url}` } });
  });
  afterAll(async () => {
    await server?.stop();
    await subgraph?.stop();
  });

  it("serves a subgraph's field at the alias limit and refuses more before any subgraph is called", async () => {
    const aliased = (count: number) =>
      `{ ${range(count)
        .map((i) => `v${i}: notesVersion`)
        .join(" ")} }`;
    const served = await callGraphQL(server.url, aliased(maxAliases));
    expectServed(served);
    expect(Object.keys(served.body.data!)).toHaveLength(maxAliases);
    const before = subgraphRequests;
    expectRefused(await callGraphQL(server.url, aliased(maxAliases + 1)), "GRAPHQL_VALIDATION_FAILED", /Aliases limit/);
    expectRefused(
      await callGraphQL(server.url, `{ notesVersion ${"__typename ".repeat(maxTokens)}}`),
      "GRAPHQL_PARSE_FAILED",
      /tokens/,
    );
    expectRefused(await callGraphQL(server.url, ofBytes(maxDocumentBytes + 1)), "GRAPHQL_PARSE_FAILED", /too large/);
    expect(subgraphRequests).toBe(before);
  });

  it("refuses a batch there too", async () => {
    const response = await postBody(
      server.url,
      JSON.stringify([{ query: "{ notesVersion }" }, { query: "{ notesVersion }" }]),
    );
    expect(response.status).toBe(400);
    expect(errorOf({ body: await response.json() } as GraphQLResponse)?.code).toBe("BAD_REQUEST");
  });
});
