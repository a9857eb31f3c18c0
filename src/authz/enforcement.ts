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
  GraphQLError,
  isNonNullType,
  type GraphQLResolveInfo,
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
      // Errors are made only for a refusal (a GraphQLError captures a stack), once per kind per request.
      const errors = new Map<string, KeywayError>();
      const errorFor = (unmet: Demand): KeywayError => {
        // A caller whose account is gone or disabled is no caller.
        const kind = !grants ? "gone" : "scopes" in unmet ? "MISSING_SCOPES" : "POLICY_FAILED";
        let error = errors.get(kind);
        if (!error) {
          error = kind === "gone" ? unauthenticated("SESSION_ENDED") : forbidden(MESSAGE, kind);
          errors.set(kind, error);
        }
        return error;
      };
      for (const field of guarded) {
        // The first unmet demand says why, so a client can tell a missing scope from a failed policy.
        const unmet = field.demands.find((demand) => !holds(demand));
        if (unmet) refused.set(field.node, errorFor(unmet));
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

/** A document without the refused fields, and the response key under which its selection sets name their type. */
export interface FilteredDocument {
  document: DocumentNode;
  typeKey: string;
}

/**
 * The document without the refused fields. Every selection set also names its
 * type, for the reshaping pass, under a response key the client's document does
 * not use (a client alias of the same name would otherwise merge with it).
 */
export function withoutRefused(document: DocumentNode, refused: ReadonlyMap<FieldNode, unknown>): FilteredDocument {
  const used = new Set<string>();
  visit(document, { Field: (node) => void used.add(node.alias?.value ?? node.name.value) });
  let typeKey = TYPE_KEY;
  for (let i = 1; used.has(typeKey); i++) typeKey = `${TYPE_KEY}${i}`;
  const typeField: FieldNode = {
    kind: Kind.FIELD,
    alias: { kind: Kind.NAME, value: typeKey },
    name: { kind: Kind.NAME, value: "__typename" },
  };
  const filtered = visit(document, {
    Field: { enter: (node) => (refused.has(node) ? null : undefined) },
    SelectionSet: { leave: (node) => ({ ...node, selections: [typeField, ...node.selections] }) },
  });
  return { document: filtered, typeKey };
}

const shapeSchemas = new WeakMap<GraphQLSchema, GraphQLSchema>();

/**
 * The client's answer: its own document executed over the data the filtered one
 * fetched. A refused field is null; where it is non-null it throws, so the null
 * bubbles as GraphQL says. Each place a refused field takes in the answer gets
 * one error, at the first item the answer reached there — not one per list
 * item, so a long list costs no more errors than a short one. A value selected both by a refused and
 * an admitted node of one response key (an interface field and the same field
 * on a type the caller may read) was fetched by the admitted one and is served.
 */
export function reshape(
  schema: GraphQLSchema,
  document: DocumentNode,
  operationName: string | null | undefined,
  variables: Record<string, unknown> | undefined,
  fetched: { data: Record<string, unknown>; typeKey: string },
  refused: ReadonlyMap<FieldNode, KeywayError>,
): { data: Record<string, unknown> | null; errors: readonly GraphQLError[] } {
  let shapeSchema = shapeSchemas.get(schema);
  if (!shapeSchema) shapeSchemas.set(schema, (shapeSchema = buildASTSchema(parse(printSchema(schema)))));
  const reached = new Map<string, { node: FieldNode; path: GraphQLResolveInfo["path"] }>();
  const bubbling = new Set<KeywayError>(refused.values());
  // graphql-js wraps every throw in an error with a stack; bubbling needs the throws, not the stacks.
  const stackTraceLimit = Error.stackTraceLimit;
  Error.stackTraceLimit = 0;
  let shaped: ExecutionResult;
  try {
    shaped = execute({
      schema: shapeSchema,
      document,
      operationName: operationName ?? undefined,
      variableValues: variables,
      rootValue: fetched.data,
      fieldResolver: (source: Record<string, unknown>, _args, _context, info) => {
        const node = info.fieldNodes[0];
        if (!info.fieldNodes.every((n) => refused.has(n))) return source[node.alias?.value ?? info.fieldName];
        // Keyed by the path without list positions: one error per place in the document, not per item.
        const place = responsePath(info.path)
          .filter((key) => typeof key === "string")
          .join(".");
        if (!reached.has(place)) reached.set(place, { node, path: info.path });
        const error = refused.get(node);
        if (error && isNonNullType(info.returnType)) throw error;
        return null;
      },
      typeResolver: (value: Record<string, unknown>) => value[fetched.typeKey] as string | undefined,
    }) as ExecutionResult;
  } finally {
    Error.stackTraceLimit = stackTraceLimit;
  }
  const others = (shaped.errors ?? []).filter((error) => !bubbling.has(error.originalError as KeywayError));
  const refusals = [...reached.values()].map(({ node, path }) => {
    const error = refused.get(node)!;
    return new GraphQLError(error.message, { nodes: [node], path: responsePath(path), extensions: error.extensions });
  });
  return { data: shaped.data ?? null, errors: [...refusals, ...others] };
}

function responsePath(path: GraphQLResolveInfo["path"] | undefined): (string | number)[] {
  const keys: (string | number)[] = [];
  for (let at = path; at; at = at.prev) keys.unshift(at.key);
  return keys;
}
