// What the Federation authorization directives demand, read from SDL: keyway's
// own printed schema, or a composed supergraph where the directives may be
// renamed through their @link. Compiled per schema into one list of demands per
// field, so deciding an operation only looks fields up.
//
// A field demands what its own definition says, what its parent type says when
// the parent is a root type, what the type it returns says, and — when that
// type is an interface or a union — what every possible type behind it says.
// A field selected through an interface also demands what that field says on
// every implementation. Whichever way an operation reaches a value (fragments,
// aliases, abstract types), the field that leads there carries the whole bill.
import {
  getNamedType,
  isAbstractType,
  isInterfaceType,
  isObjectType,
  Kind,
  type ConstDirectiveNode,
  type DocumentNode,
  type GraphQLField,
  type GraphQLNamedType,
  type GraphQLSchema,
} from "graphql";

/** One condition; a field's demands must all hold. Lists are OR of ANDs, as in the directives. */
export type Demand = { authenticated: true } | { scopes: string[][] } | { policies: string[][] };

/** Demands by type name and by "Type.field". */
export interface SchemaRequirements {
  types: Map<string, Demand[]>;
  fields: Map<string, Demand[]>;
}

const SPECS = {
  authenticated: "authenticated",
  requiresScopes: "requiresScopes",
  policy: "policy",
} as const;
type Spec = keyof typeof SPECS;

/** The directive names a document uses for each spec: its @link `as`/`import`, else the spec's own name. */
export function directiveNames(document: DocumentNode): Map<string, Spec> {
  const names = new Map<string, Spec>(Object.keys(SPECS).map((spec) => [spec, spec as Spec]));
  for (const definition of document.definitions) {
    if (definition.kind !== Kind.SCHEMA_DEFINITION && definition.kind !== Kind.SCHEMA_EXTENSION) continue;
    for (const link of definition.directives ?? []) {
      if (link.name.value !== "link") continue;
      const url = stringArgument(link, "url");
      const spec = url ? specOfUrl(url) : undefined;
      const as = stringArgument(link, "as");
      if (spec && as) {
        names.delete(spec);
        names.set(as, spec);
      }
      // A federation @link importing the directives, possibly renamed ({ name, as }).
      for (const imported of importsOf(link)) {
        const spec = imported.name.replace(/^@/, "") as Spec;
        if (!(spec in SPECS)) continue;
        if (imported.as) {
          names.delete(spec);
          names.set(imported.as.replace(/^@/, ""), spec);
        }
      }
      // Not imported through federation's link: usable as federation__<name>.
      if (url?.includes("specs.apollo.dev/federation/"))
        for (const spec of Object.keys(SPECS))
          if (!names.has(`federation__${spec}`)) names.set(`federation__${spec}`, spec as Spec);
    }
  }
  return names;
}

function specOfUrl(url: string): Spec | undefined {
  const match = /specs\.apollo\.dev\/(authenticated|requiresScopes|policy)\/v\d+\.\d+/.exec(url);
  return match ? (match[1] as Spec) : undefined;
}

function stringArgument(directive: ConstDirectiveNode, name: string): string | undefined {
  const value = directive.arguments?.find((argument) => argument.name.value === name)?.value;
  return value?.kind === Kind.STRING ? value.value : undefined;
}

function importsOf(link: ConstDirectiveNode): { name: string; as?: string }[] {
  const value = link.arguments?.find((argument) => argument.name.value === "import")?.value;
  if (value?.kind !== Kind.LIST) return [];
  return value.values.flatMap((item) => {
    if (item.kind === Kind.STRING) return [{ name: item.value }];
    if (item.kind !== Kind.OBJECT) return [];
    const field = (key: string) => {
      const found = item.fields.find((f) => f.name.value === key)?.value;
      return found?.kind === Kind.STRING ? found.value : undefined;
    };
    const name = field("name");
    return name ? [{ name, as: field("as") }] : [];
  });
}

/** The demands written by these directives, in the order written; unrelated directives are ignored. */
export function demandsOf(directives: readonly ConstDirectiveNode[] | undefined, names: Map<string, Spec>): Demand[] {
  const demands: Demand[] = [];
  for (const directive of directives ?? []) {
    const spec = names.get(directive.name.value);
    if (spec === "authenticated") demands.push({ authenticated: true });
    if (spec === "requiresScopes") demands.push({ scopes: nestedStrings(directive, "scopes") });
    if (spec === "policy") demands.push({ policies: nestedStrings(directive, "policies") });
  }
  return demands;
}

/** `[[String!]!]!` as written; anything else reads as an empty OR, which nobody satisfies. */
function nestedStrings(directive: ConstDirectiveNode, name: string): string[][] {
  const value = directive.arguments?.find((argument) => argument.name.value === name)?.value;
  if (value?.kind !== Kind.LIST) return [];
  return value.values.map((inner) =>
    inner.kind === Kind.LIST ? inner.values.flatMap((v) => (v.kind === Kind.STRING ? [v.value] : [])) : [],
  );
}

/** Every demand an SDL document writes on types and fields. */
export function readRequirements(document: DocumentNode): SchemaRequirements {
  const names = directiveNames(document);
  const types = new Map<string, Demand[]>();
  const fields = new Map<string, Demand[]>();
  const add = (map: Map<string, Demand[]>, key: string, demands: Demand[]) => {
    if (demands.length > 0) map.set(key, [...(map.get(key) ?? []), ...demands]);
  };
  for (const definition of document.definitions) {
    if (!("name" in definition) || !definition.name || !("directives" in definition)) continue;
    switch (definition.kind) {
      case Kind.OBJECT_TYPE_DEFINITION:
      case Kind.OBJECT_TYPE_EXTENSION:
      case Kind.INTERFACE_TYPE_DEFINITION:
      case Kind.INTERFACE_TYPE_EXTENSION:
        for (const field of definition.fields ?? [])
          add(fields, `${definition.name.value}.${field.name.value}`, demandsOf(field.directives, names));
        add(types, definition.name.value, demandsOf(definition.directives, names));
        break;
      case Kind.SCALAR_TYPE_DEFINITION:
      case Kind.SCALAR_TYPE_EXTENSION:
      case Kind.ENUM_TYPE_DEFINITION:
      case Kind.ENUM_TYPE_EXTENSION:
      case Kind.UNION_TYPE_DEFINITION:
      case Kind.UNION_TYPE_EXTENSION:
        add(types, definition.name.value, demandsOf(definition.directives, names));
        break;
      default:
        break;
    }
  }
  return { types, fields };
}

/** Every policy name the requirements mention. */
export function policyNames(requirements: SchemaRequirements): Set<string> {
  const names = new Set<string>();
  for (const map of [requirements.types, requirements.fields])
    for (const demands of map.values())
      for (const demand of demands)
        if ("policies" in demand) for (const and of demand.policies) for (const p of and) names.add(p);
  return names;
}

/** Demands per field of the schema ("Type.field"), with everything the field leads to folded in. */
export type FieldDemands = ReadonlyMap<string, readonly Demand[]>;

export function compileFieldDemands(schema: GraphQLSchema, requirements: SchemaRequirements): FieldDemands {
  const roots = new Set(
    [schema.getQueryType(), schema.getMutationType(), schema.getSubscriptionType()].flatMap((t) => (t ? [t.name] : [])),
  );
  const ofType = (type: GraphQLNamedType): Demand[] => {
    const own = requirements.types.get(type.name) ?? [];
    if (!isAbstractType(type)) return own;
    return [
      ...own,
      ...schema.getPossibleTypes(type).flatMap((possible) => requirements.types.get(possible.name) ?? []),
    ];
  };
  const compiled = new Map<string, Demand[]>();
  for (const type of Object.values(schema.getTypeMap())) {
    if (type.name.startsWith("__") || !(isObjectType(type) || isInterfaceType(type))) continue;
    for (const field of Object.values(type.getFields()) as GraphQLField<unknown, unknown>[]) {
      const demands = [
        ...(requirements.fields.get(`${type.name}.${field.name}`) ?? []),
        ...(roots.has(type.name) ? (requirements.types.get(type.name) ?? []) : []),
        ...ofType(getNamedType(field.type)),
        ...(isInterfaceType(type)
          ? schema.getPossibleTypes(type).flatMap((impl) => requirements.fields.get(`${impl.name}.${field.name}`) ?? [])
          : []),
      ];
      if (demands.length > 0) compiled.set(`${type.name}.${field.name}`, dedupe(demands));
    }
  }
  return compiled;
}

function dedupe(demands: Demand[]): Demand[] {
  const seen = new Set<string>();
  return demands.filter((demand) => {
    const key = JSON.stringify(demand);
    if (seen.has(key)) return false;
    seen.add(key);
    return true;
  });
}
