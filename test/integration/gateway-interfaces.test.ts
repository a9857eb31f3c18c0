// keyway composing a subgraph whose interfaces have non-null fields: interfaces,
// interfaces implementing interfaces, a union and an entity extension of User
// returning an interface list, queried through keyway's HTTP endpoint.
import { ApolloServer } from "@apollo/server";
import { ApolloServerPluginInlineTraceDisabled } from "@apollo/server/plugin/disabled";
import { startStandaloneServer } from "@apollo/server/standalone";
import { buildSubgraphSchema } from "@apollo/subgraph";
import { parse } from "graphql";
import { signUp, type Account } from "../helpers/auth";
import { callGraphQL } from "../helpers/http";
import { startTestServer, type TestServer } from "../helpers/server";

// Article is an entity and Video is not, so one family of types mixes key fields with plain ones.
const TYPE_DEFS = `
  extend schema @link(url: "https://specs.apollo.dev/federation/v2.3", import: ["@key"])
  interface Node { id: ID! }
  interface Post implements Node { id: ID! title: String! related: [Post!]! }
  type Article implements Node & Post @key(fields: "id") { id: ID! title: String! body: String! related: [Post!]! }
  type Video implements Node & Post { id: ID! title: String! seconds: Int! related: [Post!]! }
  type Tag { name: String! }
  union SearchResult = Article | Video | Tag
  type User @key(fields: "id") { id: ID! posts: [Post!]! }
  type Query { posts: [Post!]! node(id: ID!): Node search: [SearchResult!]! }
`;

type Post = { __typename: "Article" | "Video"; id: string; title: string; body?: string; seconds?: number };
const ARTICLE: Post = { __typename: "Article", id: "a1", title: "Composing", body: "Interfaces compose." };
const VIDEO: Post = { __typename: "Video", id: "v1", title: "Watching", seconds: 90 };
const POSTS = [ARTICLE, VIDEO];
const byId = (id: string) => POSTS.find((post) => post.id === id) ?? null;

async function startPostsSubgraph() {
  const schema = buildSubgraphSchema([
    {
      typeDefs: parse(TYPE_DEFS),
      resolvers: {
        Query: {
          posts: () => POSTS,
          node: (_root: unknown, args: { id: string }) => byId(args.id),
          search: () => [ARTICLE, { __typename: "Tag", name: "federation" }, VIDEO],
        },
        Node: { __resolveType: (node: Post) => node.__typename },
        Post: { __resolveType: (post: Post) => post.__typename },
        SearchResult: { __resolveType: (result: { __typename: string }) => result.__typename },
        Article: {
          __resolveReference: (reference: { id: string }) => byId(reference.id),
          related: () => [VIDEO],
        },
        Video: { related: () => [ARTICLE] },
        User: {
          __resolveReference: (reference: { id: string }) => reference,
          posts: () => POSTS,
        },
      },
    },
  ]);
  const server = new ApolloServer({ schema, plugins: [ApolloServerPluginInlineTraceDisabled()] });
  const { url } = await startStandaloneServer(server, { listen: { port: 0, host: "127.0.0.1" } });
  return { url, stop: () => server.stop() };
}

let subgraph: Awaited<ReturnType<typeof startPostsSubgraph>>;
let keyway: TestServer;
let account: Account;

beforeAll(async () => {
  subgraph = await startPostsSubgraph();
  keyway = await startTestServer({ env: { SUBGRAPHS: `posts=${subgraph.url}` } });
  account = await signUp(keyway.url);
});
afterAll(async () => {
  await keyway?.stop();
  await subgraph?.stop().catch(() => undefined);
});

const query = (text: string) => callGraphQL(keyway.url, text, { accessToken: account.accessToken });

const THROUGH_INTERFACES = `{
  posts {
    __typename id title
    ... on Article { id body }
    ... on Video { id seconds }
    related { __typename title ...VideoLength }
  }
  node(id: "a1") { __typename id ... on Post { title } }
}
fragment VideoLength on Video { seconds }`;

describe("a subgraph with non-null interface fields", () => {
  it("composes, and answers through interface fields, inline and named fragments and __typename", async () => {
    const response = await query(THROUGH_INTERFACES);
    expect(response.body).toEqual({
      data: {
        posts: [
          { ...ARTICLE, related: [{ __typename: "Video", title: VIDEO.title, seconds: VIDEO.seconds }] },
          { ...VIDEO, related: [{ __typename: "Article", title: ARTICLE.title }] },
        ],
        node: { __typename: "Article", id: "a1", title: ARTICLE.title },
      },
    });
  });

  it("answers a union of its types", async () => {
    const response = await query(
      "{ search { __typename ... on Post { id title } ... on Tag { name } ... on Video { seconds } } }",
    );
    expect(response.body).toEqual({
      data: {
        search: [
          { __typename: "Article", id: "a1", title: ARTICLE.title },
          { __typename: "Tag", name: "federation" },
          { __typename: "Video", id: "v1", title: VIDEO.title, seconds: VIDEO.seconds },
        ],
      },
    });
  });

  it("answers an interface list it adds to keyway's User beside keyway's own fields", async () => {
    const response = await query("{ me { id email posts { __typename title ... on Article { body } } } }");
    expect(response.body).toEqual({
      data: {
        me: {
          id: account.userId,
          email: account.email,
          posts: [
            { __typename: "Article", title: ARTICLE.title, body: ARTICLE.body },
            { __typename: "Video", title: VIDEO.title },
          ],
        },
      },
    });
  });

  it("leaves keyway's own types as they were", async () => {
    const response = await query('{ __type(name: "User") { fields { name type { kind name } } } }');
    const fields = (response.body.data as { __type: { fields: { name: string; type: { kind: string } }[] } }).__type
      .fields;
    expect(fields.find((field) => field.name === "id")?.type.kind).toBe("NON_NULL");
    expect(fields.find((field) => field.name === "email")?.type.kind).toBe("NON_NULL");
  });

  // Last: stops the subgraph.
  it("answers its interface-typed fields null with SUBGRAPH_UNAVAILABLE while it is down, and serves the rest", async () => {
    await subgraph.stop();
    const mixed = await query("{ me { id email posts { __typename title ... on Article { body } } } }");
    expect(mixed.status).toBe(200);
    expect(mixed.body.data).toEqual({ me: { id: account.userId, email: account.email, posts: null } });
    expect(mixed.body.errors).toHaveLength(1);
    expect(mixed.body.errors?.[0]).toMatchObject({
      path: ["me", "posts"],
      extensions: { code: "SUBGRAPH_UNAVAILABLE" },
    });

    const roots = await query(`{ me { id } posts { title } node(id: "a1") { id } search { __typename } }`);
    expect(roots.status).toBe(200);
    expect(roots.body.data).toEqual({ me: { id: account.userId }, posts: null, node: null, search: null });
    expect(roots.body.errors?.map((error) => (error as { path?: unknown[] }).path).sort()).toEqual([
      ["node"],
      ["posts"],
      ["search"],
    ]);
    for (const error of roots.body.errors ?? []) expect(error.extensions?.code).toBe("SUBGRAPH_UNAVAILABLE");
  });
});
