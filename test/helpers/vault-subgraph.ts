// A one-field subgraph whose field `vault` a named @policy guards, for tests of
// policies that ask for a recent second factor: `{ open vault }` answers
// "open" and "gold" when the gateway lets the caller through.
import { ApolloServer } from "@apollo/server";
import { ApolloServerPluginInlineTraceDisabled } from "@apollo/server/plugin/disabled";
import { startStandaloneServer } from "@apollo/server/standalone";
import { buildSubgraphSchema } from "@apollo/subgraph";
import { parse } from "graphql";

export interface VaultSubgraph {
  url: string;
  stop(): Promise<void>;
}

export async function startVaultSubgraph(policy: string): Promise<VaultSubgraph> {
  const typeDefs = parse(`
    extend schema @link(url: "https://specs.apollo.dev/federation/v2.6", import: ["@policy"])
    type Query { open: String!  vault: String @policy(policies: [["${policy}"]]) }
  `);
  const schema = buildSubgraphSchema([{ typeDefs, resolvers: { Query: { open: () => "open", vault: () => "gold" } } }]);
  const server = new ApolloServer({ schema, plugins: [ApolloServerPluginInlineTraceDisabled()] });
  const { url } = await startStandaloneServer(server, { listen: { port: 0, host: "127.0.0.1" } });
  return { url, stop: () => server.stop() };
}
