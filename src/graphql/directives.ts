// Definitions of the Federation directives keyway's own schema applies (@key on
// User, @requiresScopes on the admin fields). With them its printed SDL —
// schema.graphql, introspection — is valid GraphQL that any client tool builds,
// and shows the requirements as the contract writes them. As a subgraph
// (gateway/local-subgraph.ts) the federation @link supplies the same directives;
// these definitions are compatible with Federation 2's (scopes and field sets as
// strings).
import {
  DirectiveLocation,
  GraphQLBoolean,
  GraphQLDirective,
  GraphQLList,
  GraphQLNonNull,
  GraphQLString,
  type GraphQLInputType,
} from "graphql";

const nonNullList = (type: GraphQLInputType) => new GraphQLNonNull(new GraphQLList(type));

export const keyDirective = new GraphQLDirective({
  name: "key",
  description: "Federation: the fields that identify an entity other subgraphs may extend.",
  isRepeatable: true,
  locations: [DirectiveLocation.OBJECT, DirectiveLocation.INTERFACE],
  args: {
    fields: { type: new GraphQLNonNull(GraphQLString) },
    resolvable: { type: GraphQLBoolean, defaultValue: true },
  },
});

export const requiresScopesDirective = new GraphQLDirective({
  name: "requiresScopes",
  description:
    "Federation: the caller needs all scopes of at least one inner list; otherwise the field answers null with FORBIDDEN (UNAUTHENTICATED without a caller).",
  locations: [
    DirectiveLocation.FIELD_DEFINITION,
    DirectiveLocation.OBJECT,
    DirectiveLocation.INTERFACE,
    DirectiveLocation.SCALAR,
    DirectiveLocation.ENUM,
  ],
  args: { scopes: { type: nonNullList(nonNullList(new GraphQLNonNull(GraphQLString))) } },
});

export const KEYWAY_DIRECTIVES = [keyDirective, requiresScopesDirective];
