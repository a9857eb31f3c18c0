// The Federation authorization directives, enforced where every operation
// passes: an Apollo Server plugin over whatever schema is served — keyway's own,
// or the supergraph, whose SDL says what each subgraph demands. Refused fields
// leave the document before execution (src/authz/enforcement.ts) and come back
// as null with a coded error when the response is written.
import type { ApolloServerPlugin } from "@apollo/server";
import { printSchemaWithDirectives } from "@graphql-tools/utils";
import { parse, type DocumentNode, type FieldNode, type GraphQLFormattedError, type GraphQLSchema } from "graphql";
import { createAuthorizer, reshape, withoutRefused, type Authorizer } from "../authz/enforcement";
import type { PolicyRule } from "../authz/model";
import {
  liftInterfaceDemands,
  mergeRequirements,
  readRequirements,
  type SchemaRequirements,
} from "../authz/requirements";
import type { KeywayError } from "../errors";
import type { GraphQLContext } from "./context";

export interface AuthorizationPluginOptions {
  policies: ReadonlyMap<string, PolicyRule>;
  now(): number;
  /** The demands of a served schema when its server knows more than its SDL says (the supergraph's lifted interface demands). */
  requirementsOf?(schema: GraphQLSchema): SchemaRequirements | undefined;
  /** Told how many fields each refusal took out (metrics). */
  onRefused?(fields: number, code: string): void;
}

/** The demands of a served schema: from the supergraph SDL when there is one, else from the schema's own directives. */
export function requirementsOf(schema: GraphQLSchema, supergraphSdl?: string): SchemaRequirements {
  if (supergraphSdl) return readRequirements(parse(supergraphSdl));
  // keyway's own schema, as its authors wrote it: what is written on an interface binds its implementations too.
  const { document, lifted } = liftInterfaceDemands(parse(printSchemaWithDirectives(schema)));
  return mergeRequirements(readRequirements(document), lifted);
}

export function authorizationPlugin(options: AuthorizationPluginOptions): ApolloServerPlugin<GraphQLContext> {
  const authorizers = new WeakMap<GraphQLSchema, Authorizer>();
  const authorizerFor = (schema: GraphQLSchema, supergraphSdl?: string) => {
    let authorizer = authorizers.get(schema);
    if (!authorizer) {
      const requirements = options.requirementsOf?.(schema) ?? requirementsOf(schema, supergraphSdl);
      authorizer = createAuthorizer(schema, requirements, options.policies);
      authorizers.set(schema, authorizer);
    }
    return authorizer;
  };
  return {
    async serverWillStart() {
      return {
        // Compiled when a schema arrives (a recomposed supergraph too), not on some client's request.
        schemaDidLoadOrUpdate: ({ apiSchema, coreSupergraphSdl }) => void authorizerFor(apiSchema, coreSupergraphSdl),
      };
    },
    async requestDidStart() {
      let refusal: { original: DocumentNode; refused: Map<FieldNode, KeywayError>; typeKey: string } | null = null;
      return {
        async didResolveOperation(request) {
          const { document, contextValue: context } = request;
          const authorizer = authorizerFor(request.schema);
          const guarded = authorizer.guardedFields(document, request.request.operationName);
          if (guarded.length === 0) return;
          const refused = await authorizer.decide(
            guarded,
            { authenticated: context.caller !== null, refusal: context.refusal, grants: () => context.grants() },
            options.now(),
          );
          if (refused.size === 0) return;
          const filtered = withoutRefused(document, refused);
          refusal = { original: document, refused, typeKey: filtered.typeKey };
          // Apollo executes whatever document the request holds once this hook has run.
          (request as { document: DocumentNode }).document = filtered.document;
          const codes = new Map<string, number>();
          for (const error of refused.values()) {
            const code = String(error.extensions.code);
            codes.set(code, (codes.get(code) ?? 0) + 1);
          }
          for (const [code, fields] of codes) options.onRefused?.(fields, code);
        },
        async willSendResponse(request) {
          const body = request.response.body;
          if (!refusal || body.kind !== "single") return;
          const result = body.singleResult;
          if (result.data === null || result.data === undefined) return;
          const shaped = reshape(
            request.schema,
            refusal.original,
            request.request.operationName,
            request.request.variables,
            { data: result.data, typeKey: refusal.typeKey },
            refusal.refused,
          );
          const errors: GraphQLFormattedError[] = [
            ...(result.errors ?? []),
            ...shaped.errors.map((error) => error.toJSON()),
          ];
          body.singleResult = { ...result, data: shaped.data, ...(errors.length > 0 ? { errors } : {}) };
        },
      };
    },
  };
}
