import { buildSchema, Kind, parse, print } from "graphql";
import { relaxRemoteFields } from "../../src/gateway/remote-nullability";

/** keyway's side, as far as the relaxation reads it: which types and fields keyway resolves. */
const LOCAL = buildSchema(`type User { id: ID! email: String! } type Query { me: User }`);

/** `Type.field` → its type as printed, after the relaxation. */
const fieldTypes = (sdl: string) =>
  Object.fromEntries(
    relaxRemoteFields(parse(sdl), LOCAL).definitions.flatMap((node) =>
      "fields" in node && node.kind !== Kind.INPUT_OBJECT_TYPE_DEFINITION
        ? (node.fields ?? []).map((field) => [`${node.name.value}.${field.name.value}`, print(field.type)])
        : [],
    ),
  );

it("relaxes plain fields and keeps key fields and keyway's own fields", () => {
  expect(
    fieldTypes(`
      type User @key(fields: "id") { id: ID! email: String! @external notes: [String!]! }
      type Note @key(fields: "id owner { id }") { id: ID! owner: User! text: String! }
    `),
  ).toEqual({
    "User.id": "ID!",
    "User.email": "String!",
    "User.notes": "[String!]",
    "Note.id": "ID!",
    "Note.owner": "User!",
    "Note.text": "String",
  });
});

it("relaxes a field across every interface and implementation linked by implements once any member relaxes it", () => {
  expect(
    fieldTypes(`
      interface Node { id: ID! }
      interface Post implements Node { id: ID! title: String! }
      type Article implements Node & Post @key(fields: "id") { id: ID! title: String! }
      type Video implements Node & Post { id: ID! title: String! }
      interface Keyed @key(fields: "sku") { sku: ID! name: String! }
      type Product implements Keyed @key(fields: "sku") { sku: ID! name: String! }
      extend type Product { price: Int! }
    `),
  ).toEqual({
    "Node.id": "ID",
    "Post.id": "ID",
    "Post.title": "String",
    "Article.id": "ID",
    "Article.title": "String",
    "Video.id": "ID",
    "Video.title": "String",
    "Keyed.sku": "ID!",
    "Keyed.name": "String",
    "Product.sku": "ID!",
    "Product.name": "String",
    "Product.price": "Int",
  });
});

it("never changes a field keyway resolves, even when its type implements a remote interface", () => {
  expect(
    fieldTypes(`
      interface Account { id: ID! email: String! }
      type User implements Account @key(fields: "id") { id: ID! email: String! @external }
      type Bot implements Account { id: ID! email: String! }
    `),
  ).toEqual({
    "Account.id": "ID",
    "Account.email": "String",
    "User.id": "ID!",
    "User.email": "String!",
    "Bot.id": "ID",
    "Bot.email": "String",
  });
});

it("relaxes remote fields named like Object.prototype members too (they are not keyway's)", () => {
  expect(fieldTypes(`type Gadget { constructor: String! toString: String! hasOwnProperty: Int! }`)).toEqual({
    "Gadget.constructor": "String",
    "Gadget.toString": "String",
    "Gadget.hasOwnProperty": "Int",
  });
});
