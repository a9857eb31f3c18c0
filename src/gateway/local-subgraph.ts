// keyway's own schema as a Federation 2 subgraph. The type-graphql schema stays
// the source of truth (its printed SDL and its resolvers, middlewares and
// authChecker included); @apollo/subgraph adds _service/_entities and the
// federation directives on top, so both schemas answer keyway's operations alike.
import { buildSubgraphSchema } from "@apollo/subgraph";
import type { GraphQLResolverMap } from "@apollo/subgraph";
import { printSchemaWithDirectives } from "@graphql-tools/utils";
import { parse, type GraphQLSchema } from "graphql";
import { createResolversMap } from "type-graphql";
import type { GraphQLContext } from "../graphql/context";
import { KeywayError } from "../errors";
import { isUuid } from "../ids";
import type { AuthService } from "../auth/auth.service";
import { buildKeywaySchema, type KeywaySchemaDeps } from "../graphql/schema";

/** The name keyway's own subgraph has in the composition; no remote subgraph may take it. */
export const LOCAL_SUBGRAPH_NAME = "keyway";

/**
 * Federation 2.6: the version with @authenticated, @requiresScopes and @policy (2.5,
 * 2.6), imported under their own names so keyway's fields and any subgraph's read alike
 * and reach the composed supergraph, where the gateway enforces them.
 */
const FEDERATION_LINK =
  'extend schema @link(url: "https://specs.apollo.dev/federation/v2.6", import: ["@key", "@authenticated", "@requiresScopes", "@policy"])';

export async function buildLocalSubgraphSchema(deps: KeywaySchemaDeps, schema?: GraphQLSchema): Promise<GraphQLSchema> {
  const typeSchema = schema ?? (await buildKeywaySchema(deps));
  // printSchemaWithDirectives keeps User's @key, which graphql's printSchema would drop.
  const typeDefs = parse(`${FEDERATION_LINK}\n${printSchemaWithDirectives(typeSchema)}`);
  const resolvers = createResolversMap(typeSchema) as GraphQLResolverMap<GraphQLContext>;
  const resolveReference = (reference: { id?: unknown }, context: GraphQLContext) =>
    resolveUserReference(deps.auth, reference, context);
  resolvers.User = { ...(resolvers.User as object), __resolveReference: resolveReference };
  return buildSubgraphSchema([{ typeDefs, resolvers }]);
}

/**
 * Another subgraph returned a User by id and the client wants keyway's fields.
 * An unknown or disabled account is no entity: null, not an authentication error,
 * so one dangling reference does not fail its siblings. Only the caller's own
 * User resolves: subgraphs may reference any user, but keyway does not hand out
 * other people's emails through them.
 */
async function resolveUserReference(auth: AuthService, reference: { id?: unknown }, context: GraphQLContext) {
  // Ids are UUIDs; anything else would be a database error, not a missing user.
  if (!isUuid(reference.id)) return null;
  // An email is personal: keyway resolves the caller's own User only, whatever ids a subgraph returns.
  if (context.caller?.sub !== reference.id) return null;
  try {
    return await auth.currentUser(reference.id);
  } catch (error) {
    if (error instanceof KeywayError && error.extensions.code === "UNAUTHENTICATED") return null;
    throw error;
  }
}
