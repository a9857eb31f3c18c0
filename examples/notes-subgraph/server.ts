// The example notes subgraph: Apollo Federation 2 with @apollo/subgraph and
// type-graphql, trusting callers only through keyway/subgraph.
import "reflect-metadata";
import { ApolloServer } from "@apollo/server";
import { ApolloServerPluginInlineTraceDisabled } from "@apollo/server/plugin/disabled";
import { startStandaloneServer } from "@apollo/server/standalone";
import { buildSubgraphSchema, type GraphQLResolverMap } from "@apollo/subgraph";
import { printSchemaWithDirectives } from "@graphql-tools/utils";
import { parse, type GraphQLSchema } from "graphql";
import { createIdentityVerifier } from "keyway/subgraph";
import { buildSchema, createResolversMap } from "type-graphql";
import { NotesResolver, UserNotesResolver, type NotesContext } from "./notes.resolver";
import { User } from "./notes.types";

export interface NotesSubgraphOptions {
  port: number;
  /** Where keyway publishes its keys, e.g. http://127.0.0.1:4000/.well-known/jwks.json */
  jwksUrl: string;
}

/** Federation 2.6, with the authorization directives keyway enforces at the gateway. */
const FEDERATION_LINK =
  'extend schema @link(url: "https://specs.apollo.dev/federation/v2.6", import: ["@key", "@authenticated", "@requiresScopes", "@policy"])';

export async function buildNotesSchema(): Promise<GraphQLSchema> {
  // User is reached only through keyway's entity, never from this subgraph's roots: list it explicitly.
  const schema = await buildSchema({
    resolvers: [NotesResolver, UserNotesResolver],
    orphanedTypes: [User],
    validate: false,
  });
  const sdl = `${FEDERATION_LINK}\n${printSchemaWithDirectives(schema)}`;
  return buildSubgraphSchema([
    { typeDefs: parse(sdl), resolvers: createResolversMap(schema) as GraphQLResolverMap<NotesContext> },
  ]);
}

export async function startNotesSubgraph(
  options: NotesSubgraphOptions,
): Promise<{ url: string; stop(): Promise<void> }> {
  // Adopting keyway: one verifier, one line in the context function. It needs the parsed
  // body as well as the headers: an identity is good for the one request it came with.
  const identity = createIdentityVerifier({ jwksUrl: options.jwksUrl, audience: "notes" });
  const server = new ApolloServer<NotesContext>({
    schema: await buildNotesSchema(),
    plugins: [ApolloServerPluginInlineTraceDisabled()],
  });
  const { url } = await startStandaloneServer(server, {
    listen: { port: options.port, host: "127.0.0.1" },
    context: async ({ req }) => ({ identity: await identity.verifyHttpRequest(req) }),
  });
  return { url, stop: () => server.stop() };
}

if (require.main === module) {
  const port = Number(process.env.NOTES_PORT ?? 4001);
  const jwksUrl = process.env.KEYWAY_JWKS_URL ?? "http://127.0.0.1:4000/.well-known/jwks.json";
  startNotesSubgraph({ port, jwksUrl }).then(
    ({ url }) => process.stdout.write(`notes subgraph at ${url}\n`),
    (error: unknown) => {
      process.stderr.write(
        `notes subgraph failed to start: ${error instanceof Error ? error.message : String(error)}\n`,
      );
      process.exitCode = 1;
    },
  );
}
