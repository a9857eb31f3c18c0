// Directive enforcement on one operation, before anything executes: find the
// fields it selects that carry demands (once per document, however often the
// document is sent), decide them for this caller, drop the refused ones from
// the document that runs — so no resolver and no subgraph ever sees them — and
// afterwards give the client back the shape it asked for: each refused field
// null with a coded error at its path, nulls bubbling up through non-null
// fields as GraphQL says.
//
// That last step executes the client's own document once more, over the data
// already fetched and a resolver-less copy of the schema, so null propagation,
// list positions, aliases, fragments and @skip/@include come out exactly as
// graphql-js would give them. It runs only when something was refused.
import {
  buildASTSchema,
  execute,
  getNamedType,
  isCompositeType,
  Kind,
  parse,
  printSchema,
  visit,
  type DocumentNode,
  type ExecutionResult,
  type FieldNode,
  type FragmentDefinitionNode,
  type GraphQLCompositeType,
  type GraphQLError,
  type GraphQLSchema,
  type SelectionSetNode,
} from "graphql";
import { forbidden, unauthenticated, type KeywayError } from "../errors";
import type { AccessTokenReason } from "../errors";
import type { CallerGrants } from "../token/access-token";
import { evaluatePolicy, type PolicyRule } from "./model";
import { compileFieldDemands, type Demand, type FieldDemands, type SchemaRequirements } from "./requirements";

/** A field of the operation that carries demands. */
export interface GuardedField {
  node: FieldNode;
  /** "Type.field" */
  coordinate: string;
  demands: readonly Demand[];
}

/** Who is asking: the context's caller and their live grants. */
export interface Requester {
  /** Whether a verified, unrevoked access token came with the request. */
  authenticated: boolean;
  /** Why the token was refused, when it was. */
  refusal: AccessTokenReason | null;
  grants(): Promise<CallerGrants | null>;
}

export interface Authorizer {
  readonly schema: GraphQLSchema;
  guardedFields(document: DocumentNode, operationName: string | null | undefined): readonly GuardedField[];
  /** The refused fields of the operation, each with the error it answers. */
  decide(guarded: readonly GuardedField[], requester: Requester, now: number): Promise<Map<FieldNode, KeywayError>>;
}

/** Alias of the __typename every selection set of a filtered document carries, for the reshaping pass. */
const TYPE_KEY = "__keyway_type";
const MESSAGE = "You may not see this field";

export function createAuthorizer(
  schema: GraphQLSchema,
  requirements: SchemaRequirements,
  policies: ReadonlyMap<string, PolicyRule>,
): Authorizer {
  const demands = compileFieldDemands(schema, requirements);
  // Apollo hands the same DocumentNode back for the same query text (its document store).
  const analysed = new WeakMap<DocumentNode, Map<string, readonly GuardedField[]>>();
  return {
    schema,
    guardedFields(document, operationName) {
      let byOperation = analysed.get(document);
      if (!byOperation) analysed.set(document, (byOperation = new Map<string, readonly GuardedField[]>()));
      const key = operationName ?? "";
      let guarded = byOperation.get(key);
      if (!guarded) byOperation.set(key, (guarded = collectGuarded(schema, demands, document, operationName)));
      return guarded;
    },
    async decide(guarded, requester, now) {
      const refused = new Map<FieldNode, KeywayError>();
      if (guarded.length === 0) return refused;
      if (!requester.authenticated) {
        const error = unauthenticated(
          requester.refusal && requester.refusal !== "TOKEN_MISSING" ? requester.refusal : "TOKEN_MISSING",
        );
        for (const field of guarded) refused.set(field.node, error);
        return refused;
      }
      const needsGrants = guarded.some((field) => field.demands.some((demand) => !("authenticated" in demand)));
      const grants = needsGrants ? await requester.grants() : null;
      // Each policy at most once per request, however many fields name it.
      const decided = new Map<string, boolean>();
      const policyHolds = (name: string) => {
        let holds = decided.get(name);
        if (holds === undefined) {
          const rule = policies.get(name);
          // Composition refuses unknown policies; one that slipped through admits nobody.
          holds = rule !== undefined && grants !== null && evaluatePolicy(rule, grants, now);
          decided.set(name, holds);
        }
        return holds;
      };
      const holds = (demand: Demand): boolean => {
        if ("authenticated" in demand) return true;
        if (!grants) return false;
        if ("scopes" in demand) return demand.scopes.some((all) => all.every((scope) => grants.scopes.includes(scope)));
        return demand.policies.some((all) => all.every(policyHolds));
      };
      // A caller whose account is gone or disabled is no caller.
      const gone = unauthenticated("SESSION_ENDED");
      const missingScopes = forbidden(MESSAGE, "MISSING_SCOPES");
      const policyFailed = forbidden(MESSAGE, "POLICY_FAILED");
      for (const field of guarded) {
        // The first unmet demand says why, so a client can tell a missing scope from a failed policy.
        const unmet = field.demands.find((demand) => !holds(demand));
        if (unmet) refused.set(field.node, !grants ? gone : "scopes" in unmet ? missingScopes : policyFailed);
      }
      return refused;
    },
  };
}

/** Every field node the operation can reach (through its fragments too) whose field carries demands. */
function collectGuarded(
  schema: GraphQLSchema,
  demands: FieldDemands,
  document: DocumentNode,
  operationName: string | null | undefined,
): GuardedField[] {
  const operations = document.definitions.filter((d) => d.kind === Kind.OPERATION_DEFINITION);
  const operation = operationName
    ? operations.find((o) => o.name?.value === operationName)
    : operations.length === 1
      ? operations[0]
      : undefined;
  if (!operation) return [];
  const fragments = new Map<string, FragmentDefinitionNode>();
  for (const d of document.definitions) if (d.kind === Kind.FRAGMENT_DEFINITION) fragments.set(d.name.value, d);
  const root = schema.getRootType(operation.operation);
  if (!root) return [];
  const guarded: GuardedField[] = [];
  // A fragment's type condition is fixed, so its fields are the same wherever it is spread: visit each once.
  const visitedFragments = new Set<string>();
  const walk = (selectionSet: SelectionSetNode, parent: GraphQLCompositeType) => {
    for (const selection of selectionSet.selections) {
      if (selection.kind === Kind.FIELD) {
        if (!("getFields" in parent)) continue; // a union: only __typename
        const field = parent.getFields()[selection.name.value];
        if (!field) continue; // __typename, or introspection
        const coordinate = `${parent.name}.${field.name}`;
        const fieldDemands = demands.get(coordinate);
        if (fieldDemands) guarded.push({ node: selection, coordinate, demands: fieldDemands });
        const type = getNamedType(field.type);
        if (selection.selectionSet && isCompositeType(type)) walk(selection.selectionSet, type);
      } else if (selection.kind === Kind.INLINE_FRAGMENT) {
        const type = selection.typeCondition ? schema.getType(selection.typeCondition.name.value) : parent;
        if (type && isCompositeType(type)) walk(selection.selectionSet, type);
      } else {
        const name = selection.name.value;
        const fragment = fragments.get(name);
        if (!fragment || visitedFragments.has(name)) continue;
        visitedFragments.add(name);
        const type = schema.getType(fragment.typeCondition.name.value);
        if (type && isCompositeType(type)) walk(fragment.selectionSet, type);
      }
    }
  };
  walk(operation.selectionSet, root);
  return guarded;
}

/** The document without the refused fields; every selection set also names its type for the reshaping pass. */
export function withoutRefused(document: DocumentNode, refused: ReadonlyMap<FieldNode, unknown>): DocumentNode {
  const typeField: FieldNode = {
    kind: Kind.FIELD,
    alias: { kind: Kind.NAME, value: TYPE_KEY },
    name: { kind: Kind.NAME, value: "__typename" },
  };
  return visit(document, {
    Field: { enter: (node) => (refused.has(node) ? null : undefined) },
    SelectionSet: { leave: (node) => ({ ...node, selections: [typeField, ...node.selections] }) },
  });
}

const shapeSchemas = new WeakMap<GraphQLSchema, GraphQLSchema>();

/**
 * The client's answer: its own document executed over the data the filtered one
 * fetched, each refused field throwing its error. A value selected both by a
 * refused and an admitted node of one response key (an interface field and the
 * same field on a type the caller may read) was fetched by the admitted one and
 * is served.
 */
export function reshape(
  schema: GraphQLSchema,
  document: DocumentNode,
  operationName: string | null | undefined,
  variables: Record<string, unknown> | undefined,
  data: Record<string, unknown>,
  refused: ReadonlyMap<FieldNode, KeywayError>,
): { data: Record<string, unknown> | null; errors: readonly GraphQLError[] } {
  let shapeSchema = shapeSchemas.get(schema);
  if (!shapeSchema) shapeSchemas.set(schema, (shapeSchema = buildASTSchema(parse(printSchema(schema)))));
  const shaped = execute({
    schema: shapeSchema,
    document,
    operationName: operationName ?? undefined,
    variableValues: variables,
    rootValue: data,
    fieldResolver: (source: Record<string, unknown>, _args, _context, info) => {
      const error = info.fieldNodes.every((node) => refused.has(node)) ? refused.get(info.fieldNodes[0]) : undefined;
      if (error) throw error;
      return source[info.fieldNodes[0].alias?.value ?? info.fieldName];
    },
    typeResolver: (value: Record<string, unknown>) => value[TYPE_KEY] as string | undefined,
  }) as ExecutionResult;
  return { data: shaped.data ?? null, errors: shaped.errors ?? [] };
}
