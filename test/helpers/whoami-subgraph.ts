// A subgraph named "whoami" that answers what keyway/subgraph tells it about the
// caller from the identity keyway forwarded: what a subgraph sees of a caller.
import { ApolloServer } from "@apollo/server";
import { ApolloServerPluginInlineTraceDisabled } from "@apollo/server/plugin/disabled";
import { startStandaloneServer } from "@apollo/server/standalone";
import { buildSubgraphSchema } from "@apollo/subgraph";
import { parse } from "graphql";
import { createIdentityVerifier, hasRole, hasScope, type IdentityClaims } from "keyway/subgraph";

/** A subgraph that answers what keyway/subgraph tells it about the caller. */
export async function startWhoamiSubgraph(jwksUrl: string) {
  const identity = createIdentityVerifier({ jwksUrl, audience: "whoami" });
  const schema = buildSubgraphSchema([
    {
      typeDefs: parse(`
        extend schema @link(url: "https://specs.apollo.dev/federation/v2.3", import: ["@key"])
        type Caller { sub: ID! roles: [String!]! scopes: [String!]! emailVerified: Boolean! amr: [String!]! authTime: Float
                      canWrite: Boolean! isEditor: Boolean! }
        type Query { caller: Caller }
      `),
      resolvers: {
        Query: {
          caller: (_root: unknown, _args: unknown, { identity }: { identity: IdentityClaims | null }) =>
            identity && {
              ...identity,
              canWrite: hasScope(identity, "notes:write"),
              isEditor: hasRole(identity, "editor"),
            },
        },
      },
    },
  ]);
  const server = new ApolloServer({ schema, plugins: [ApolloServerPluginInlineTraceDisabled()] });
  const { url } = await startStandaloneServer(server, {
    listen: { port: 0, host: "127.0.0.1" },
    context: async ({ req }) => ({ identity: await identity.verifyHttpRequest(req) }),
  });
  return { url, stop: () => server.stop() };
}
