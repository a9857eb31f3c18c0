// Baseline for benchmark 1: `@apollo/server` on Fastify through the same
// integration keyway uses, answering `{ me { id email } }` with a constant user
// and no authentication. Same framework and Apollo version as keyway, so the
// ratio measures what keyway adds (auth, context, logging, metrics, the user
// lookup), not a choice of HTTP server.
import { ApolloServer } from "@apollo/server";
import { fastifyApolloHandler } from "@as-integrations/fastify";
import Fastify from "fastify";

const typeDefs = "type User { id: ID! email: String! } type Query { me: User! }";
const user = { id: "00000000-0000-4000-8000-000000000000", email: "bench@example.io" };
const apollo = new ApolloServer({ typeDefs, resolvers: { Query: { me: () => user } }, csrfPrevention: true });
await apollo.start();
const app = Fastify({ logger: false });
app.route({ url: "/graphql", method: ["GET", "POST"], handler: fastifyApolloHandler(apollo) });
await app.listen({ port: 0, host: "127.0.0.1" });
process.stdout.write(`bare apollo at http://127.0.0.1:${app.server.address().port}\n`);
process.on("SIGTERM", () => app.close().then(() => process.exit(0)));
