// A remote subgraph's output fields made nullable before composition, so that
// subgraph being down costs only its own fields.
import {
  Kind,
  visit,
  type ConstDirectiveNode,
  type DefinitionNode,
  type DocumentNode,
  type GraphQLSchema,
  type InterfaceTypeDefinitionNode,
  type InterfaceTypeExtensionNode,
  type ObjectTypeDefinitionNode,
  type ObjectTypeExtensionNode,
} from "graphql";

type FieldsNode =
  ObjectTypeDefinitionNode | ObjectTypeExtensionNode | InterfaceTypeDefinitionNode | InterfaceTypeExtensionNode;

const FIELDS_KINDS: ReadonlySet<Kind> = new Set([
  Kind.OBJECT_TYPE_DEFINITION,
  Kind.OBJECT_TYPE_EXTENSION,
  Kind.INTERFACE_TYPE_DEFINITION,
  Kind.INTERFACE_TYPE_EXTENSION,
]);
const hasFields = (node: DefinitionNode): node is FieldsNode => FIELDS_KINDS.has(node.kind);

/**
 * Fields a remote subgraph adds to types keyway does not define in full are made
 * nullable in the composed schema: when that subgraph is down, `me { id notes }`
 * answers `notes: null` with SUBGRAPH_UNAVAILABLE instead of null-propagating over
 * `me` and the whole response. Key fields and fields keyway itself resolves keep
 * their declared types, so keyway's own API is unchanged.
 *
 * Interfaces and the types implementing them are relaxed alike, a field name at a
 * time across each family of types linked by `implements`: an interface's non-null
 * field would refuse an implementation's nullable one (composition fails), and a key
 * field left non-null on Article beside a relaxed one on Video would make the
 * ordinary `... on Article { id } ... on Video { id }` a validation error
 * ("conflicting types ID! and ID"). Fields keyway resolves never change.
 */
export function relaxRemoteFields(typeDefs: DocumentNode, localSchema: GraphQLSchema): DocumentNode {
  const relaxed = relaxedFields(typeDefs.definitions.filter(hasFields), localSchema);
  const relaxType = (node: FieldsNode) => ({
    ...node,
    fields: node.fields?.map((field) =>
      field.type.kind === Kind.NON_NULL_TYPE && relaxed.has(`${node.name.value}.${field.name.value}`)
        ? { ...field, type: field.type.type }
        : field,
    ),
  });
  return visit(typeDefs, {
    ObjectTypeDefinition: relaxType,
    ObjectTypeExtension: relaxType,
    InterfaceTypeDefinition: relaxType,
    InterfaceTypeExtension: relaxType,
  });
}

/** `Type.field` of every non-null field to relax. */
function relaxedFields(types: FieldsNode[], localSchema: GraphQLSchema): Set<string> {
  const keys = new Map<string, Set<string>>();
  for (const type of types)
    for (const field of keyFieldNames(type.directives ?? []))
      keys.set(type.name.value, (keys.get(type.name.value) ?? new Set()).add(field));
  const isLocal = (type: string, field: string) => {
    const localType = localSchema.getType(type) as { getFields?: () => Record<string, unknown> } | undefined;
    return Object.hasOwn(localType?.getFields?.() ?? {}, field);
  };

  const parent = new Map<string, string>();
  const familyOf = (type: string): string => {
    const up = parent.get(type);
    if (up === undefined || up === type) return type;
    const root = familyOf(up);
    parent.set(type, root);
    return root;
  };
  for (const type of types)
    for (const implemented of type.interfaces ?? [])
      parent.set(familyOf(type.name.value), familyOf(implemented.name.value));

  const nonNullFields = types.flatMap((type) =>
    (type.fields ?? [])
      .filter((field) => field.type.kind === Kind.NON_NULL_TYPE && !isLocal(type.name.value, field.name.value))
      .map((field) => ({ type: type.name.value, field: field.name.value })),
  );
  const relaxedInFamily = new Set(
    nonNullFields
      .filter(({ type, field }) => !keys.get(type)?.has(field))
      .map(({ type, field }) => `${familyOf(type)}.${field}`),
  );
  return new Set(
    nonNullFields
      .filter(({ type, field }) => relaxedInFamily.has(`${familyOf(type)}.${field}`))
      .map(({ type, field }) => `${type}.${field}`),
  );
}

/** Top-level field names of every @key(fields: "…") on a type. */
function keyFieldNames(directives: readonly ConstDirectiveNode[]): string[] {
  return directives
    .filter((d) => d.name.value === "key")
    .flatMap((d) => d.arguments ?? [])
    .flatMap((a) => (a.name.value === "fields" && a.value.kind === Kind.STRING ? [a.value.value] : []))
    .flatMap((fields) =>
      fields
        .replace(/\{[^}]*\}/g, " ")
        .split(/[\s,]+/)
        .filter(Boolean),
    );
}
