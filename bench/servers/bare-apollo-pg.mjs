// Baseline for a cold `me`: bare `@apollo/server` on Fastify (as bare-apollo.mjs)
// whose `me` reads the caller's user row by primary key on every request. The
// caller is the `sub` of the Bearer token, decoded but NOT verified: the baseline
// prices the read, not authentication.
//
// DATABASE_URL: the rows keyway serves, through `pg` with DATABASE_POOL_SIZE
// connections (keyway's own pool size). PGLITE_USERS_FILE instead: a PGlite of its
// own in this process (keyway's embedded database cannot be opened twice), loaded
// with the same ids and emails from that JSON file.
import { ApolloServer } from "@apollo/server";
import { fastifyApolloHandler } from "@as-integrations/fastify";
import Fastify from "fastify";
import { mkdtempSync, readFileSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import pg from "pg";

const READ = 'SELECT id, email FROM "User" WHERE id = $1';
const query = await openDatabase();

const typeDefs = "type User { id: ID! email: String! } type Query { me: User! }";
const resolvers = {
  Query: {
    async me(_parent, _args, { sub }) {
      const { rows } = await query(READ, [sub]);
      if (rows.length !== 1) throw new Error("no such user");
      return rows[0];
    },
  },
};
const apollo = new ApolloServer({ typeDefs, resolvers, csrfPrevention: true });
await apollo.start();
const app = Fastify({ logger: false });
app.route({
  url: "/graphql",
  method: ["GET", "POST"],
  handler: fastifyApolloHandler(apollo, { context: async (request) => ({ sub: subjectOf(request) }) }),
});
await app.listen({ port: 0, host: "127.0.0.1" });
process.stdout.write(`bare apollo with pg at http://127.0.0.1:${app.server.address().port}\n`);
process.on("SIGTERM", () => app.close().then(() => process.exit(0)));

/** The `sub` claim of `Authorization: Bearer <jwt>`, unverified. */
function subjectOf(request) {
  const token = (request.headers.authorization ?? "").slice("Bearer ".length);
  const payload = token.split(".")[1] ?? "";
  return JSON.parse(Buffer.from(payload, "base64url").toString("utf8")).sub;
}

async function openDatabase() {
  if (process.env.DATABASE_URL) {
    const pool = new pg.Pool({
      connectionString: process.env.DATABASE_URL,
      max: Number(process.env.DATABASE_POOL_SIZE ?? 10),
    });
    return (sql, values) => pool.query(sql, values);
  }
  const { PGlite } = await import("@electric-sql/pglite");
  // On disk, as keyway's embedded database is.
  const db = await PGlite.create(mkdtempSync(path.join(os.tmpdir(), "keyway-bare-pg-")));
  await db.exec('CREATE TABLE "User" (id uuid PRIMARY KEY, email varchar(254) NOT NULL UNIQUE)');
  const users = JSON.parse(readFileSync(process.env.PGLITE_USERS_FILE, "utf8"));
  await db.query('INSERT INTO "User" (id, email) SELECT * FROM unnest($1::uuid[], $2::text[])', [
    users.map((user) => user.id),
    users.map((user) => user.email),
  ]);
  return (sql, values) => db.query(sql, values);
}
