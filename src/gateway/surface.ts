// What /graphql serves: keyway's own schema, or — with SUBGRAPHS — the supergraph
// of keyway's schema and the configured subgraphs, each subgraph request carrying
// an identity token minted for it.
import type { GraphQLSchema } from "graphql";
import type { Config } from "../config";
import { buildKeywaySchema, type KeywaySchemaDeps } from "../graphql/schema";
import type { Logger } from "../logger";
import type { KeySet } from "../token/keys";
import { createIdentityForwarding } from "./identity-forwarding";
import { buildLocalSubgraphSchema } from "./local-subgraph";
import { createSupergraph, type Supergraph } from "./supergraph";

export type GraphQLSurface =
  { schema: GraphQLSchema; gateway?: undefined } | { gateway: Supergraph; schema?: undefined };

export interface GraphQLSurfaceDeps {
  config: Config;
  keys: KeySet;
  logger: Logger;
  /** What keyway's own resolvers are built with. */
  resolvers: KeywaySchemaDeps;
  now?: () => number;
}

export async function buildGraphQLSurface(deps: GraphQLSurfaceDeps): Promise<GraphQLSurface> {
  const schema = await buildKeywaySchema(deps.resolvers);
  if (deps.config.subgraphs.length === 0) return { schema };
  const gateway = await createSupergraph({
    localSchema: await buildLocalSubgraphSchema(deps.resolvers, schema),
    subgraphs: deps.config.subgraphs,
    headersFor: createIdentityForwarding({
      keys: deps.keys,
      issuer: deps.config.jwt.issuer,
      now: deps.now ?? Date.now,
    }),
    logger: deps.logger,
    definedPolicies: new Set(deps.config.authz.policies.keys()),
  });
  return { gateway };
}
