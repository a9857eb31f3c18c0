// The subgraph of `npm run bench:authz`: the caller's notes, with the Federation
// authorization directives on the fields every request selects — or, with
// DIRECTIVES=off, the same SDL without them, so the two differ in nothing else.
// Like the example notes subgraph it trusts callers only through keyway's
// identity verifier (each identity good for one request, bound to its body).
// Env: SUBGRAPH_PORT, KEYWAY_JWKS_URL, DIRECTIVES (on | off). Prints its URL.
import { createRequire } from "node:module";
import path from "node:path";
import { root } from "../lib/processes.mjs";

const require = createRequire(import.meta.url);
const { ApolloServer } = require("@apollo/server");
const { ApolloServerPluginInlineTraceDisabled } = require("@apollo/server/plugin/disabled");
const { startStandaloneServer } = require("@apollo/server/standalone");
const { buildSubgraphSchema } = require("@apollo/subgraph");
const { GraphQLError, parse } = require("graphql");
const { createIdentityVerifier } = require(path.join(root, "dist/subgraph/index.js"));

/** The policy and the scopes named here are defined by the AUTHZ_FILE bench/authz.mjs writes. */
const GUARDED_SDL = `
  extend schema @link(url: "https://specs.apollo.dev/federation/v2.6",
                      import: ["@key", "@authenticated", "@requiresScopes", "@policy"])
  type Query {
    myNotes: [Note!]! @authenticated
  }
  type Note {
    id: ID!
    text: String! @requiresScopes(scopes: [["notes:read"]])
    createdAt: String! @policy(policies: [["reader"]])
    "Refused to every bench caller: the path where keyway reshapes the answer."
    secret: String @requiresScopes(scopes: [["notes:admin"]])
  }
`;
const NOTES_PER_CALLER = 5;
const CREATED_AT = "2026-01-01T00:00:00.000Z";

const directives = process.env.DIRECTIVES ?? "on";
if (!["on", "off"].includes(directives)) throw new Error(`DIRECTIVES=${directives}: expected on or off`);
const typeDefs =
  directives === "on" ? GUARDED_SDL : GUARDED_SDL.replace(/ @(authenticated|requiresScopes|policy)(\([^)]*\))?/g, "");

const identity = createIdentityVerifier({ jwksUrl: process.env.KEYWAY_JWKS_URL, audience: "notes" });
const schema = buildSubgraphSchema([
  {
    typeDefs: parse(typeDefs),
    resolvers: {
      Query: {
        myNotes(_source, _args, context) {
          if (!context.identity)
            throw new GraphQLError("Sign in to see your notes", { extensions: { code: "UNAUTHENTICATED" } });
          const { sub } = context.identity;
          return Array.from({ length: NOTES_PER_CALLER }, (_, i) => ({
            id: `${sub}:${i}`,
            text: `note ${i}`,
            createdAt: CREATED_AT,
            secret: `secret ${i}`,
          }));
        },
      },
    },
  },
]);
const server = new ApolloServer({ schema, plugins: [ApolloServerPluginInlineTraceDisabled()] });
const { url } = await startStandaloneServer(server, {
  listen: { port: Number(process.env.SUBGRAPH_PORT ?? 0), host: "127.0.0.1" },
  context: async ({ req }) => ({ identity: await identity.verifyHttpRequest(req) }),
});
process.stdout.write(`authz subgraph (directives ${directives}) at ${url}\n`);
process.on("SIGTERM", () => server.stop().then(() => process.exit(0)));
