// The directive engine on its own: how demands are read (renamed through @link,
// on interfaces, on root types), how they fold into the fields that reach them,
// and the reshaping of an answer — here on a plain schema whose non-null fields
// stay non-null, as keyway's own schema does, so null bubbling shows.
import { buildSchema, execute, parse, print, type DocumentNode } from "graphql";
import { createAuthorizer, reshape, withoutRefused, type Requester } from "../../src/authz/enforcement";
import type { PolicyRule } from "../../src/authz/model";
import {
  compileFieldDemands,
  liftInterfaceDemands,
  mergeRequirements,
  policyNames,
  readRequirements,
} from "../../src/authz/requirements";
import type { CallerGrants } from "../../src/token/access-token";

const SDL = `
  directive @authenticated on FIELD_DEFINITION | OBJECT | INTERFACE | SCALAR | ENUM
  directive @requiresScopes(scopes: [[String!]!]!) on FIELD_DEFINITION | OBJECT | INTERFACE | SCALAR | ENUM
  directive @policy(policies: [[String!]!]!) on FIELD_DEFINITION | OBJECT | INTERFACE | SCALAR | ENUM
  type Query { account: Account  things: [Thing!]!  fresh: String @policy(policies: [["recent"], ["otp"]]) }
  type Account { id: ID!  secret: String! @requiresScopes(scopes: [["account:secret"]])  nick: String }
  interface Thing @authenticated { id: ID! }
  type Plain implements Thing { id: ID! }
`;

const grants = (overrides: Partial<CallerGrants> = {}): CallerGrants => ({
  roles: [],
  scopes: [],
  emailVerified: false,
  amr: ["pwd"],
  authTime: 1_000,
  ...overrides,
});
const signedIn = (g: CallerGrants): Requester & { reads: number } => {
  const requester = { authenticated: true, refusal: null, reads: 0, grants: async () => (requester.reads++, g) };
  return requester;
};
const anonymous: Requester = { authenticated: false, refusal: null, grants: async () => null };

const POLICIES = new Map<string, PolicyRule>([
  ["recent", { maxAuthAge: 300 }],
  ["otp", { amr: ["otp"] }],
]);

function setUp(sdl = SDL) {
  const schema = buildSchema(sdl);
  return { schema, authorizer: createAuthorizer(schema, readRequirements(parse(sdl)), POLICIES) };
}

const DATA = {
  account: { id: "a1", secret: "s", nick: "n" },
  things: [{ __typename: "Plain", id: "t1" }],
  fresh: "fresh",
};

/** What a client would get: the filtered document run over DATA, then reshaped. */
async function answer(requester: Requester, query: string, now = 1_000_000) {
  const { schema, authorizer } = setUp();
  const document = parse(query);
  const refused = await authorizer.decide(authorizer.guardedFields(document, undefined), requester, now);
  const filtered = withoutRefused(document, refused);
  const fetched = (await execute({ schema, document: filtered.document, rootValue: DATA })) as {
    data: Record<string, unknown>;
  };
  const shaped = reshape(
    schema,
    document,
    undefined,
    undefined,
    { data: fetched.data, typeKey: filtered.typeKey },
    refused,
  );
  return { data: shaped.data, errors: shaped.errors.map((e) => [e.path?.join("."), e.extensions.code]) };
}

describe("reading demands", () => {
  it("follows a renamed @link, and ignores a same-named directive it does not point to", () => {
    const supergraph = parse(`
      schema @link(url: "https://specs.apollo.dev/link/v1.0")
             @link(url: "https://specs.apollo.dev/authenticated/v0.1", as: "mustLogIn", for: SECURITY) { query: Query }
      directive @mustLogIn on FIELD_DEFINITION | OBJECT | INTERFACE | SCALAR | ENUM
      directive @authenticated on FIELD_DEFINITION
      type Query { a: String @mustLogIn  b: String @authenticated }
    `);
    const requirements = readRequirements(supergraph);
    // Under the rename, @authenticated is some other directive of that name.
    expect([...requirements.fields.keys()]).toEqual(["Query.a"]);
  });

  it("imports through federation's @link, renamed or not", () => {
    const subgraph = parse(`
      extend schema @link(url: "https://specs.apollo.dev/federation/v2.6",
                          import: [{ name: "@requiresScopes", as: "@needs" }, "@policy"])
      type Query { a: String @needs(scopes: [["x"]])  b: String @policy(policies: [["p"]]) c: String @federation__authenticated }
    `);
    expect(Object.fromEntries(readRequirements(subgraph).fields)).toEqual({
      "Query.a": [{ scopes: [["x"]] }],
      "Query.b": [{ policies: [["p"]] }],
      "Query.c": [{ authenticated: true }],
    });
  });

  it("compiles an interface type's demand onto every field returning it", () => {
    const { schema } = setUp();
    const compiled = compileFieldDemands(schema, readRequirements(parse(SDL)));
    expect(compiled.get("Query.things")).toEqual([{ authenticated: true }]);
    expect(compiled.get("Query.account")).toBeUndefined();
    expect(compiled.get("Account.secret")).toEqual([{ scopes: [["account:secret"]] }]);
  });
});

describe("lifting interface demands off a subgraph's SDL", () => {
  const SUBGRAPH = `
    extend schema @link(url: "https://specs.apollo.dev/federation/v2.6", import: ["@authenticated", "@policy"])
    interface Gadget @authenticated @deprecated(reason: "x") { id: ID!  code: String @policy(policies: [["p"]]) }
    type Widget implements Gadget { id: ID!  code: String  extra: String @authenticated }
    type Query { gadgets: [Gadget!]  widget: Widget }
  `;

  it("takes only the authorization directives off interfaces, and names every policy they use", () => {
    const { document, lifted } = liftInterfaceDemands(parse(SUBGRAPH));
    const printed = print(document);
    expect(printed).toContain('interface Gadget @deprecated(reason: "x")');
    expect(printed).toContain("code: String\n");
    expect(printed).toContain("extra: String @authenticated");
    expect(Object.fromEntries(lifted.interfaces!.types)).toEqual({ Gadget: [{ authenticated: true }] });
    expect(Object.fromEntries(lifted.interfaces!.fields)).toEqual({ "Gadget.code": [{ policies: [["p"]] }] });
    expect([...policyNames(mergeRequirements(readRequirements(document), lifted))]).toEqual(["p"]);
  });

  it("binds implementations: a field returning one, and the implementation's field", () => {
    const { document, lifted } = liftInterfaceDemands(parse(SUBGRAPH));
    const schema = buildSchema(`
      interface Gadget { id: ID! code: String }
      type Widget implements Gadget { id: ID! code: String extra: String }
      type Query { gadgets: [Gadget!] widget: Widget }
    `);
    const compiled = compileFieldDemands(schema, mergeRequirements(readRequirements(document), lifted));
    expect(compiled.get("Query.widget")).toEqual([{ authenticated: true }]);
    expect(compiled.get("Query.gadgets")).toEqual([{ authenticated: true }]);
    expect(compiled.get("Widget.code")).toEqual([{ policies: [["p"]] }]);
    expect(compiled.get("Gadget.code")).toEqual([{ policies: [["p"]] }]);
    expect(compiled.get("Widget.id")).toBeUndefined();
  });
});

describe("deciding and reshaping", () => {
  it("a refused non-null field nulls its nearest nullable parent, with one error at the field", async () => {
    const result = await answer(signedIn(grants()), "{ account { id secret } fresh }");
    expect(result).toEqual({ data: { account: null, fresh: "fresh" }, errors: [["account.secret", "FORBIDDEN"]] });
    const allowed = await answer(signedIn(grants({ scopes: ["account:secret"] })), "{ account { secret } }");
    expect(allowed).toEqual({ data: { account: { secret: "s" } }, errors: [] });
  });

  it("a refused field whose every ancestor is non-null nulls the whole data", async () => {
    expect(await answer(anonymous, "{ things { id } }")).toEqual({
      data: null,
      errors: [["things", "UNAUTHENTICATED"]],
    });
  });

  it("policies: OR of ANDs over maxAuthAge and amr; the grants are read once per request", async () => {
    const { authorizer } = setUp();
    const document = parse("{ a: fresh b: fresh c: fresh }");
    const guarded = authorizer.guardedFields(document, undefined);
    expect(guarded).toHaveLength(3);
    const now = 1_000 * 1000 + 200 * 1000; // 200 s after auth_time
    const recent = signedIn(grants());
    expect((await authorizer.decide(guarded, recent, now)).size).toBe(0);
    expect(recent.reads).toBe(1);
    const stale = signedIn(grants());
    expect((await authorizer.decide(guarded, stale, now + 400_000)).size).toBe(3);
    const otp = signedIn(grants({ amr: ["pwd", "otp"] }));
    expect((await authorizer.decide(guarded, otp, now + 400_000)).size).toBe(0);
  });

  it("only @authenticated: the grants are never read", async () => {
    const { authorizer } = setUp();
    const requester = signedIn(grants());
    const guarded = authorizer.guardedFields(parse("{ things { id } }"), undefined);
    expect((await authorizer.decide(guarded, requester, 0)).size).toBe(0);
    expect(requester.reads).toBe(0);
  });

  it("a caller whose grants are gone (disabled) is UNAUTHENTICATED", async () => {
    const { authorizer } = setUp();
    const gone: Requester = { authenticated: true, refusal: null, grants: async () => null };
    const refused = await authorizer.decide(authorizer.guardedFields(parse("{ fresh }"), undefined), gone, 0);
    expect([...refused.values()].map((e) => e.extensions)).toEqual([
      { code: "UNAUTHENTICATED", reason: "SESSION_ENDED" },
    ]);
  });

  it("analyses a document once per operation name", () => {
    const { authorizer } = setUp();
    const document: DocumentNode = parse("query A { fresh } query B { account { secret } }");
    expect(authorizer.guardedFields(document, "A").map((f) => f.coordinate)).toEqual(["Query.fresh"]);
    expect(authorizer.guardedFields(document, "B").map((f) => f.coordinate)).toEqual(["Account.secret"]);
    expect(authorizer.guardedFields(document, "B")).toBe(authorizer.guardedFields(document, "B"));
    expect(authorizer.guardedFields(document, undefined)).toEqual([]);
  });

  it("an unknown policy admits nobody", async () => {
    const sdl = SDL.replace('[["recent"], ["otp"]]', '[["nowhere"]]');
    const { authorizer } = setUp(sdl);
    const refused = await authorizer.decide(
      authorizer.guardedFields(parse("{ fresh }"), undefined),
      signedIn(grants({ amr: ["otp"] })),
      0,
    );
    expect(refused.size).toBe(1);
  });
});
