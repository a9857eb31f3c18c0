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
  type GraphQLInterfaceType,
  type GraphQLObjectType,
  type GraphQLNamedType,
  type GraphQLSchema,
} from "graphql";

/** One condition; a field's demands must all hold. Lists are OR of ANDs, as in the directives. */
export type Demand = { authenticated: true } | { scopes: string[][] } | { policies: string[][] };

/** Demands by type name and by "Type.field". */
export interface DemandMaps {
  types: Map<string, Demand[]>;
  fields: Map<string, Demand[]>;
}

export interface SchemaRequirements extends DemandMaps {
  /**
   * Written by a subgraph's author on an interface or an interface field (lifted
   * before composition): they bind every implementation too, so a type
   * condition on an implementation does not step around them. Demands that
   * composition put on interfaces (inherited from implementations) are in
   * `types`/`fields` and bind only selections through the interface.
   */
  interfaces?: DemandMaps;
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

/** Adds demands under a key, after any already there; none adds nothing. */
function addDemands(map: Map<string, Demand[]>, key: string, demands: readonly Demand[]): void {
  if (demands.length > 0) map.set(key, [...(map.get(key) ?? []), ...demands]);
}

/** Every demand an SDL document writes on types and fields. */
export function readRequirements(document: DocumentNode): SchemaRequirements {
  const names = directiveNames(document);
  const types = new Map<string, Demand[]>();
  const fields = new Map<string, Demand[]>();
  for (const definition of document.definitions) {
    if (!("name" in definition) || !definition.name || !("directives" in definition)) continue;
    switch (definition.kind) {
      case Kind.OBJECT_TYPE_DEFINITION:
      case Kind.OBJECT_TYPE_EXTENSION:
      case Kind.INTERFACE_TYPE_DEFINITION:
      case Kind.INTERFACE_TYPE_EXTENSION:
        for (const field of definition.fields ?? [])
          addDemands(fields, `${definition.name.value}.${field.name.value}`, demandsOf(field.directives, names));
        addDemands(types, definition.name.value, demandsOf(definition.directives, names));
        break;
      case Kind.SCALAR_TYPE_DEFINITION:
      case Kind.SCALAR_TYPE_EXTENSION:
      case Kind.ENUM_TYPE_DEFINITION:
      case Kind.ENUM_TYPE_EXTENSION:
      case Kind.UNION_TYPE_DEFINITION:
      case Kind.UNION_TYPE_EXTENSION:
        addDemands(types, definition.name.value, demandsOf(definition.directives, names));
        break;
      default:
        break;
    }
  }
  return { types, fields };
}

/** Both sets of demands together: where both demand something of one type or field, all of it. */
export function mergeRequirements(...all: SchemaRequirements[]): SchemaRequirements {
  const merged = { types: new Map(), fields: new Map(), interfaces: { types: new Map(), fields: new Map() } };
  const into = (target: DemandMaps, source: DemandMaps) => {
    for (const key of ["types", "fields"] as const)
      for (const [name, demands] of source[key]) addDemands(target[key], name, demands);
  };
  for (const requirements of all) {
    into(merged, requirements);
    if (requirements.interfaces) into(merged.interfaces, requirements.interfaces);
  }
  return merged;
}

/**
 * A subgraph's SDL without the directives on its interfaces and their fields,
 * and the demands those directives wrote. Composition refuses them there (as
 * Apollo's does: an interface inherits its implementations' demands instead);
 * keyway takes them off before composing and enforces them itself, so a
 * subgraph author may guard an interface, or one of its fields, as the
 * directives' definitions allow.
 */
export function liftInterfaceDemands(document: DocumentNode): { document: DocumentNode; lifted: SchemaRequirements } {
  const names = directiveNames(document);
  const written: DemandMaps = { types: new Map(), fields: new Map() };
  const keep = (directives: readonly ConstDirectiveNode[] | undefined) =>
    directives?.filter((directive) => !names.has(directive.name.value));
  const definitions = document.definitions.map((definition) => {
    if (definition.kind !== Kind.INTERFACE_TYPE_DEFINITION && definition.kind !== Kind.INTERFACE_TYPE_EXTENSION)
      return definition;
    const name = definition.name.value;
    addDemands(written.types, name, demandsOf(definition.directives, names));
    const fields = definition.fields?.map((field) => {
      addDemands(written.fields, `${name}.${field.name.value}`, demandsOf(field.directives, names));
      return { ...field, directives: keep(field.directives) };
    });
    return { ...definition, directives: keep(definition.directives), fields };
  });
  return {
    document: { ...document, definitions },
    lifted: { types: new Map(), fields: new Map(), interfaces: written },
  };
}

/** Every policy name the requirements mention. */
export function policyNames(requirements: SchemaRequirements): Set<string> {
  const names = new Set<string>();
  const { interfaces } = requirements;
  for (const map of [
    requirements.types,
    requirements.fields,
    ...(interfaces ? [interfaces.types, interfaces.fields] : []),
  ])
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
  const written = requirements.interfaces ?? {
    types: new Map<string, Demand[]>(),
    fields: new Map<string, Demand[]>(),
  };
  const interfacesOf = (type: GraphQLNamedType) =>
    isObjectType(type) || isInterfaceType(type) ? type.getInterfaces() : [];
  /** A type's own demands, and those its authors wrote on the interfaces it implements. */
  const typeDemands = (type: GraphQLNamedType): Demand[] => [
    ...(requirements.types.get(type.name) ?? []),
    ...(written.types.get(type.name) ?? []),
    ...interfacesOf(type).flatMap((i) => written.types.get(i.name) ?? []),
  ];
  /** What a value of this type demands: its own, or every possible type's for an interface or union. */
  const ofType = (type: GraphQLNamedType): Demand[] =>
    isAbstractType(type)
      ? [...typeDemands(type), ...schema.getPossibleTypes(type).flatMap(typeDemands)]
      : typeDemands(type);
  /** A field's own demands, and those written on the same field of the interfaces its type implements. */
  const fieldDemands = (type: GraphQLObjectType | GraphQLInterfaceType, name: string): Demand[] => [
    ...(requirements.fields.get(`${type.name}.${name}`) ?? []),
    ...(written.fields.get(`${type.name}.${name}`) ?? []),
    ...type.getInterfaces().flatMap((i) => written.fields.get(`${i.name}.${name}`) ?? []),
  ];
  const compiled = new Map<string, Demand[]>();
  for (const type of Object.values(schema.getTypeMap())) {
    if (type.name.startsWith("__") || !(isObjectType(type) || isInterfaceType(type))) continue;
    for (const field of Object.values(type.getFields()) as GraphQLField<unknown, unknown>[]) {
      const demands = [
        ...fieldDemands(type, field.name),
        ...(roots.has(type.name) ? typeDemands(type) : []),
        ...ofType(getNamedType(field.type)),
        ...(isInterfaceType(type)
          ? schema.getPossibleTypes(type).flatMap((impl) => fieldDemands(impl, field.name))
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
