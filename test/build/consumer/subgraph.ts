// A subgraph as a keyway adopter writes it, in a project that installed keyway
// from its tarball (test/build/pack.test.ts). It trusts callers only through
// keyway/subgraph and answers who keyway said the caller is.
import { ApolloServer } from "@apollo/server";
import { ApolloServerPluginInlineTraceDisabled } from "@apollo/server/plugin/disabled";
import { startStandaloneServer } from "@apollo/server/standalone";
import { buildSubgraphSchema } from "@apollo/subgraph";
import { GraphQLError, parse } from "graphql";
import { createIdentityVerifier, type IdentityClaims } from "keyway/subgraph";

interface WhoamiContext {
  identity: IdentityClaims | null;
}

const typeDefs = parse(`
  extend schema @link(url: "https://specs.apollo.dev/federation/v2.3", import: ["@key"])
  type Query { whoami: Caller }
  type Caller { userId: ID!  sessionId: ID!  audience: String! }
`);

const resolvers = {
  Query: {
    whoami: (_parent: unknown, _args: unknown, { identity }: WhoamiContext) => {
      if (!identity) throw new GraphQLError("Sign in first", { extensions: { code: "UNAUTHENTICATED" } });
      return { userId: identity.sub, sessionId: identity.sid, audience: identity.aud };
    },
  },
};

async function main(): Promise<void> {
  const [jwksUrl = "", port = "0"] = process.argv.slice(2);
  const identity = createIdentityVerifier({ jwksUrl, audience: "whoami" });
  const server = new ApolloServer<WhoamiContext>({
    schema: buildSubgraphSchema([{ typeDefs, resolvers }]),
    includeStacktraceInErrorResponses: false,
    plugins: [ApolloServerPluginInlineTraceDisabled()],
  });
  const { url } = await startStandaloneServer(server, {
    listen: { port: Number(port), host: "127.0.0.1" },
    context: async ({ req }) => ({ identity: await identity.verifyHttpRequest(req) }),
  });
  process.stdout.write(`whoami subgraph at ${url}\n`);
}

main().catch((error: unknown) => {
  process.stderr.write(`${String(error)}\n`);
  process.exit(1);
});
