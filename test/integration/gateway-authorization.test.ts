// The Federation authorization directives enforced by keyway on a composed
// supergraph: every directive on every location an in-test subgraph can put it
// (fields, objects, scalars, enums; interfaces and unions through the types
// behind them), OR-of-AND semantics, null bubbling, and each way an operation
// could try to reach a guarded field — aliases, inline and named fragments,
// interfaces, unions, @include/@skip, entity fields on keyway's own User. The
// subgraph records every operation it receives, so "never requested" is counted,
// not assumed.
import { mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { ApolloServer } from "@apollo/server";
import { ApolloServerPluginInlineTraceDisabled } from "@apollo/server/plugin/disabled";
import { startStandaloneServer } from "@apollo/server/standalone";
import { buildSubgraphSchema } from "@apollo/subgraph";
import { parse } from "graphql";
import { login, signUp, type Account } from "../helpers/auth";
import { callGraphQL, type GraphQLResponse } from "../helpers/http";
import { startTestServer, TestClock, type TestServer } from "../helpers/server";

const TYPE_DEFS = `
  extend schema @link(url: "https://specs.apollo.dev/federation/v2.6",
                      import: ["@key", "@authenticated", "@requiresScopes", "@policy"])
  type Query {
    open: String!
    signedIn: String @authenticated
    scoped: String @requiresScopes(scopes: [["vault:read"], ["vault:admin", "audit"]])
    verified: String @policy(policies: [["verified_email"]])
    recent: String @policy(policies: [["recent_login"]])
    strong: String @policy(policies: [["second_factor"], ["recent_login", "verified_email"]])
    vault: Vault
    items: [Item!]
    search: [Result!]
    level: Level
    secret: Secret
    profile: Profile
    pass: Pass
    nonce: Nonce
    tier: Tier
    badge: Badge
    seal: Seal
    rank: Rank
    gadgets: [Gadget!]
    widget: Widget
  }
  type Mutation { open: Boolean!  wipe: Boolean @requiresScopes(scopes: [["vault:admin"]]) }
  type Vault @requiresScopes(scopes: [["vault:read"]]) { id: ID! content: String! }
  interface Item { id: ID! label: String note: String }
  type Book implements Item { id: ID! label: String note: String @requiresScopes(scopes: [["notes:read"]]) }
  type Pen implements Item { id: ID! label: String note: String }
  union Result = Book | Vault
  enum Level @authenticated { LOW HIGH }
  scalar Secret @requiresScopes(scopes: [["vault:read"]])
  type Profile { name: String!  ssn: String! @authenticated }
  interface Gadget @authenticated { id: ID!  code: String @requiresScopes(scopes: [["vault:read"]]) }
  type Widget implements Gadget { id: ID!  code: String }
  type User @key(fields: "id") { id: ID!  shoeSize: Int @requiresScopes(scopes: [["vault:read"]]) }
  type Pass @authenticated { id: ID! }
  scalar Nonce @authenticated
  enum Tier @requiresScopes(scopes: [["vault:read"]]) { GOLD }
  type Badge @policy(policies: [["verified_email"]]) { id: ID! }
  scalar Seal @policy(policies: [["verified_email"]])
  enum Rank @policy(policies: [["verified_email"]]) { TOP }
`;

const GUARDED = [
  "signedIn",
  "scoped",
  "verified",
  "vault",
  "content",
  "note",
  "level",
  "secret",
  "ssn",
  "wipe",
  "shoeSize",
  "search",
];

async function startVaultSubgraph() {
  const received: string[] = [];
  const book = { __typename: "Book", id: "b1", label: "Book", note: "book note" };
  const pen = { __typename: "Pen", id: "p1", label: "Pen", note: "pen note" };
  const vault = { __typename: "Vault", id: "v1", content: "gold" };
  const widget = { __typename: "Widget", id: "w1", code: "1234" };
  const schema = buildSubgraphSchema([
    {
      typeDefs: parse(TYPE_DEFS),
      resolvers: {
        Query: {
          open: () => "open",
          signedIn: () => "signed in",
          scoped: () => "scoped",
          verified: () => "verified",
          recent: () => "recent",
          strong: () => "strong",
          vault: () => vault,
          items: () => [book, pen],
          search: () => [book, vault],
          level: () => "HIGH",
          secret: () => "s3cr3t",
          profile: () => ({ name: "Ada", ssn: "123" }),
          gadgets: () => [widget],
          widget: () => widget,
          pass: () => ({ id: "pass" }),
          nonce: () => "nonce",
          tier: () => "GOLD",
          badge: () => ({ id: "badge" }),
          seal: () => "seal",
          rank: () => "TOP",
        },
        Mutation: { open: () => true, wipe: () => true },
        Item: { __resolveType: (item: { __typename: string }) => item.__typename },
        Result: { __resolveType: (item: { __typename: string }) => item.__typename },
        Gadget: { __resolveType: (item: { __typename: string }) => item.__typename },
        User: { __resolveReference: (reference: { id: string }) => ({ ...reference, shoeSize: 44 }) },
      },
    },
  ]);
  const server = new ApolloServer({
    schema,
    plugins: [
      ApolloServerPluginInlineTraceDisabled(),
      {
        async requestDidStart({ request }) {
          if (!request.query?.includes("_service")) received.push(request.query ?? "");
        },
      },
    ],
  });
  const { url } = await startStandaloneServer(server, { listen: { port: 0, host: "127.0.0.1" } });
  return { url, received, stop: () => server.stop() };
}

let subgraph: Awaited<ReturnType<typeof startVaultSubgraph>>;
/** keyway's clock, for maxAuthAge; every test leaves it where it found it. */
const clock = new TestClock();
let keyway: TestServer;
/** No roles; then a role per scope set; then a verified email. */
let plain: Account;
let reader: Account;
let adminOnly: Account;
let auditor: Account;
let verified: Account;

async function accountWith(roles: string[], emailVerified = false): Promise<Account> {
  const account = await signUp(keyway.url);
  for (const role of roles) await keyway.services.roles.grantRole(account.userId, role, "test");
  if (emailVerified)
    await keyway.database.prisma
      .$executeRaw`UPDATE "User" SET "emailVerifiedAt" = now() WHERE id = ${account.userId}::uuid`;
  keyway.services.auth.forgetUser(account.userId);
  // A new token carries the new grants whether the gateway reads them live or from the token.
  return login(keyway.url, account.email, account.password);
}

beforeAll(async () => {
  subgraph = await startVaultSubgraph();
  const authzFile = path.join(mkdtempSync(path.join(tmpdir(), "keyway-authz-")), "authz.json");
  writeFileSync(
    authzFile,
    JSON.stringify({
      roles: {
        reader: ["vault:read", "notes:read"],
        "vault-admin": ["vault:admin"],
        auditor: ["vault:admin", "audit"],
      },
      policies: {
        verified_email: { emailVerified: true },
        recent_login: { maxAuthAge: "5m" },
        second_factor: { amr: ["otp", "hwk"] },
      },
    }),
  );
  keyway = await startTestServer({ clock, env: { SUBGRAPHS: `vault=${subgraph.url}`, AUTHZ_FILE: authzFile } });
  [plain, reader, adminOnly, auditor, verified] = await Promise.all([
    accountWith([]),
    accountWith(["reader"]),
    accountWith(["vault-admin"]),
    accountWith(["auditor"]),
    accountWith([], true),
  ]);
});
afterAll(async () => {
  await keyway?.stop();
  await subgraph?.stop().catch(() => undefined);
});
beforeEach(() => {
  subgraph.received.length = 0;
});

type Caller = Account | null;
const ask = (caller: Caller, query: string, variables?: Record<string, unknown>) =>
  callGraphQL(keyway.url, query, { accessToken: caller?.accessToken, variables });

/** The errors as [path, code] pairs, sorted, for exact comparison. */
const refusals = (response: GraphQLResponse) =>
  (response.body.errors ?? []).map((e) => [(e as { path?: unknown[] }).path?.join("."), e.extensions?.code]).sort();

/** Whether the subgraph was asked for this field name in any operation since the test began. */
const requested = (field: string) => subgraph.received.some((query) => new RegExp(`\\b${field}\\b`).test(query));

describe("each directive, on each location", () => {
  it("@authenticated on a field: anonymous callers get null and UNAUTHENTICATED, the rest is served", async () => {
    const anonymous = await ask(null, "{ open signedIn }");
    expect(anonymous.status).toBe(200);
    expect(anonymous.body.data).toEqual({ open: "open", signedIn: null });
    expect(refusals(anonymous)).toEqual([["signedIn", "UNAUTHENTICATED"]]);
    expect(anonymous.body.errors?.[0].extensions?.reason).toBe("TOKEN_MISSING");
    expect(requested("signedIn")).toBe(false);
    expect(requested("open")).toBe(true);

    const signedIn = await ask(plain, "{ open signedIn }");
    expect(signedIn.body).toEqual({ data: { open: "open", signedIn: "signed in" } });
  });

  it("a refused token is UNAUTHENTICATED with its reason, not anonymous", async () => {
    const response = await callGraphQL(keyway.url, "{ signedIn }", { accessToken: "not.a.jwt" });
    expect(response.body.data).toEqual({ signedIn: null });
    expect(response.body.errors?.map((e) => e.extensions)).toEqual([
      { code: "UNAUTHENTICATED", reason: "TOKEN_INVALID" },
    ]);
    expect(requested("signedIn")).toBe(false);
  });

  it("@requiresScopes is an OR of ANDs", async () => {
    const scoped = async (caller: Caller) => (await ask(caller, "{ scoped }")).body;
    expect(await scoped(reader)).toEqual({ data: { scoped: "scoped" } }); // [vault:read]
    expect(await scoped(auditor)).toEqual({ data: { scoped: "scoped" } }); // [vault:admin, audit]
    const half = await ask(adminOnly, "{ scoped }"); // vault:admin without audit satisfies neither
    expect(half.body.data).toEqual({ scoped: null });
    expect(refusals(half)).toEqual([["scoped", "FORBIDDEN"]]);
    expect(half.body.errors?.[0].extensions?.reason).toBe("MISSING_SCOPES");
    expect(refusals(await ask(plain, "{ scoped }"))).toEqual([["scoped", "FORBIDDEN"]]);
    expect(refusals(await ask(null, "{ scoped }"))).toEqual([["scoped", "UNAUTHENTICATED"]]);
  });

  it("@policy from AUTHZ_FILE: a verified email", async () => {
    expect((await ask(verified, "{ verified }")).body).toEqual({ data: { verified: "verified" } });
    const unverified = await ask(plain, "{ verified }");
    expect(unverified.body.data).toEqual({ verified: null });
    expect(refusals(unverified)).toEqual([["verified", "FORBIDDEN"]]);
    expect(unverified.body.errors?.[0].extensions?.reason).toBe("POLICY_FAILED");
  });

  it("@policy over the session: maxAuthAge and amr, alone and combined (OR of ANDs)", async () => {
    expect((await ask(plain, "{ recent }")).body).toEqual({ data: { recent: "recent" } });
    // A password login: no second factor, and not verified, so neither branch of `strong` holds.
    const weak = await ask(plain, "{ strong }");
    expect(weak.body.data).toEqual({ strong: null });
    expect(weak.body.errors?.map((e) => e.extensions)).toEqual([{ code: "FORBIDDEN", reason: "POLICY_FAILED" }]);
    // Verified and signed in within 5 minutes: the second branch holds.
    expect((await ask(verified, "{ strong }")).body).toEqual({ data: { strong: "strong" } });
    clock.advance(6 * 60); // the access token (15 min) is still good; the login is 6 minutes old
    try {
      subgraph.received.length = 0;
      const stale = await ask(verified, "{ recent strong verified }");
      expect(stale.body.data).toEqual({ recent: null, strong: null, verified: "verified" });
      expect(refusals(stale)).toEqual([
        ["recent", "FORBIDDEN"],
        ["strong", "FORBIDDEN"],
      ]);
      expect(requested("recent")).toBe(false);
    } finally {
      clock.advance(-6 * 60);
    }
  });

  it("on an object type: every field returning it is guarded", async () => {
    const refused = await ask(plain, "{ open vault { id content } }");
    expect(refused.body.data).toEqual({ open: "open", vault: null });
    expect(refusals(refused)).toEqual([["vault", "FORBIDDEN"]]);
    expect(requested("vault")).toBe(false);
    expect((await ask(reader, "{ vault { id content } }")).body).toEqual({
      data: { vault: { id: "v1", content: "gold" } },
    });
  });

  it("on an enum and on a scalar", async () => {
    const anonymous = await ask(null, "{ level secret open }");
    expect(anonymous.body.data).toEqual({ level: null, secret: null, open: "open" });
    expect(refusals(anonymous)).toEqual([
      ["level", "UNAUTHENTICATED"],
      ["secret", "UNAUTHENTICATED"],
    ]);
    const signedIn = await ask(plain, "{ level secret }");
    expect(signedIn.body.data).toEqual({ level: "HIGH", secret: null });
    expect(refusals(signedIn)).toEqual([["secret", "FORBIDDEN"]]);
    expect((await ask(reader, "{ level secret }")).body).toEqual({ data: { level: "HIGH", secret: "s3cr3t" } });
  });

  it("an interface field carries the demands of that field on every implementation", async () => {
    const response = await ask(plain, "{ items { id label note } }");
    expect(response.body.data).toEqual({
      items: [
        { id: "b1", label: "Book", note: null },
        { id: "p1", label: "Pen", note: null },
      ],
    });
    // One error per refused field of the document, where the answer first reached it: a list of
    // any length costs the client (and keyway) one error, not one per item.
    expect(refusals(response)).toEqual([["items.0.note", "FORBIDDEN"]]);
    expect(requested("note")).toBe(false);
    expect((await ask(reader, "{ items { note } }")).body).toEqual({
      data: { items: [{ note: "book note" }, { note: "pen note" }] },
    });
  });

  it("on an interface and an interface field (composition refuses them there; keyway lifts them and binds every implementation)", async () => {
    const anonymous = await ask(null, "{ open gadgets { id } widget { id } }");
    expect(anonymous.body.data).toEqual({ open: "open", gadgets: null, widget: null });
    expect(refusals(anonymous)).toEqual([
      ["gadgets", "UNAUTHENTICATED"],
      ["widget", "UNAUTHENTICATED"],
    ]);
    expect(requested("gadgets")).toBe(false);
    expect(requested("widget")).toBe(false);

    const signedIn = await ask(plain, "{ gadgets { id code } widget { id code } }");
    expect(signedIn.body.data).toEqual({ gadgets: [{ id: "w1", code: null }], widget: { id: "w1", code: null } });
    expect(refusals(signedIn)).toEqual([
      ["gadgets.0.code", "FORBIDDEN"],
      ["widget.code", "FORBIDDEN"],
    ]);
    const viaImplementation = await ask(plain, "{ gadgets { ... on Widget { code } } }");
    expect(viaImplementation.body.data).toEqual({ gadgets: [{ code: null }] });
    expect(requested("code")).toBe(false);

    expect((await ask(reader, "{ gadgets { code } widget { code } }")).body).toEqual({
      data: { gadgets: [{ code: "1234" }], widget: { code: "1234" } },
    });
  });

  it("a union field carries the demands of every member", async () => {
    const response = await ask(plain, "{ search { ... on Book { id } } open }");
    expect(response.body.data).toEqual({ search: null, open: "open" });
    expect(refusals(response)).toEqual([["search", "FORBIDDEN"]]);
    expect(requested("search")).toBe(false);
    expect((await ask(reader, "{ search { __typename ... on Vault { content } } }")).body).toEqual({
      data: { search: [{ __typename: "Book" }, { __typename: "Vault", content: "gold" }] },
    });
  });

  it("a refused field of a subgraph is null beside its siblings (keyway serves subgraph fields as nullable)", async () => {
    const response = await ask(null, "{ profile { name ssn } open }");
    expect(response.body.data).toEqual({ profile: { name: "Ada", ssn: null }, open: "open" });
    expect(refusals(response)).toEqual([["profile.ssn", "UNAUTHENTICATED"]]);
    expect(requested("ssn")).toBe(false);
    expect((await ask(plain, "{ profile { name ssn } }")).body).toEqual({
      data: { profile: { name: "Ada", ssn: "123" } },
    });
  });

  it("a guarded mutation is never run; the operation's other fields are", async () => {
    const response = await ask(plain, "mutation { open wipe }");
    expect(response.body.data).toEqual({ open: true, wipe: null });
    expect(refusals(response)).toEqual([["wipe", "FORBIDDEN"]]);
    expect(requested("wipe")).toBe(false);
    expect(requested("open")).toBe(true);
  });

  it("a subgraph's guarded field on keyway's own User is not fetched for a caller without the scope", async () => {
    const response = await ask(plain, "{ me { id shoeSize } }");
    expect(response.body.data).toEqual({ me: { id: plain.userId, shoeSize: null } });
    expect(refusals(response)).toEqual([["me.shoeSize", "FORBIDDEN"]]);
    expect(requested("shoeSize")).toBe(false);
    expect((await ask(reader, "{ me { shoeSize } }")).body).toEqual({ data: { me: { shoeSize: 44 } } });
  });
});

// Composition (as Apollo's) refuses the three directives on a subgraph's interfaces and interface
// fields; interfaces get their demands from the implementations (the cases above).
describe("every directive on every location the cases above leave out", () => {
  // [directive, location, root field (whose type carries the directive), selection, value, refused caller, code, admitted caller]
  const locations: Array<[string, string, string, string, unknown, () => Caller, string, () => Caller]> = [
    ["@authenticated", "an object", "pass", "{ id }", { id: "pass" }, () => null, "UNAUTHENTICATED", () => plain],
    ["@authenticated", "a scalar", "nonce", "", "nonce", () => null, "UNAUTHENTICATED", () => plain],
    ["@requiresScopes", "an enum", "tier", "", "GOLD", () => plain, "FORBIDDEN", () => reader],
    ["@policy", "an object", "badge", "{ id }", { id: "badge" }, () => plain, "FORBIDDEN", () => verified],
    ["@policy", "a scalar", "seal", "", "seal", () => plain, "FORBIDDEN", () => verified],
    ["@policy", "an enum", "rank", "", "TOP", () => plain, "FORBIDDEN", () => verified],
  ];
  it.each(locations)(
    "%s on %s (%s)",
    async (_directive, _location, field, selection, value, refusedCaller, code, admitted) => {
      const refused = await ask(refusedCaller(), `{ open ${field} ${selection} }`);
      expect(refused.body.data).toEqual({ open: "open", [field]: null });
      expect(refusals(refused)).toEqual([[field, code]]);
      expect(requested(field)).toBe(false);
      expect((await ask(admitted(), `{ ${field} ${selection} }`)).body).toEqual({ data: { [field]: value } });
    },
  );
});

describe("no shape of operation lets a guarded field slip past", () => {
  // [shape, query, variables, the response keys refused]: each refused key answers null with its own error.
  const shapes: Array<[string, string, Record<string, unknown>, string[]]> = [
    ["an alias", "{ open mine: signedIn }", {}, ["mine"]],
    ["two aliases of one field", "{ open a: signedIn b: signedIn }", {}, ["a", "b"]],
    ["an inline fragment", "{ open ... on Query { signedIn } }", {}, ["signedIn"]],
    ["an inline fragment without a type condition", "{ open ... { signedIn } }", {}, ["signedIn"]],
    ["a named fragment", "query { open ...F } fragment F on Query { signedIn }", {}, ["signedIn"]],
    [
      "a fragment inside a fragment",
      "query { open ...A } fragment A on Query { ...B } fragment B on Query { signedIn }",
      {},
      ["signedIn"],
    ],
    ["@include(if: true)", "query ($yes: Boolean!) { open signedIn @include(if: $yes) }", { yes: true }, ["signedIn"]],
    ["@skip(if: false)", "query ($no: Boolean!) { open signedIn @skip(if: $no) }", { no: false }, ["signedIn"]],
    [
      "@include(if: true) on a fragment spread",
      "query ($yes: Boolean!) { open ...F @include(if: $yes) } fragment F on Query { signedIn }",
      { yes: true },
      ["signedIn"],
    ],
    [
      "@skip(if: false) on an inline fragment",
      "query ($no: Boolean!) { open ... @skip(if: $no) { signedIn } }",
      { no: false },
      ["signedIn"],
    ],
    ["the chosen one of several operations", "query A { open } query B { open signedIn }", {}, ["signedIn"]],
  ];
  it.each(shapes)("%s", async (_shape, query, variables, refusedKeys) => {
    const operationName = query.startsWith("query A") ? "B" : undefined;
    const response = await callGraphQL(keyway.url, query, { variables, operationName });
    expect(response.body.data).toEqual({ open: "open", ...Object.fromEntries(refusedKeys.map((key) => [key, null])) });
    expect(refusals(response)).toEqual(refusedKeys.map((key) => [key, "UNAUTHENTICATED"]).sort());
    expect(requested("signedIn")).toBe(false);
  });

  it("one fragment spread in two places: refused at both", async () => {
    const response = await ask(null, "{ profile { ...P } again: profile { ...P } } fragment P on Profile { name ssn }");
    expect(response.body.data).toEqual({ profile: { name: "Ada", ssn: null }, again: { name: "Ada", ssn: null } });
    expect(refusals(response)).toEqual([
      ["again.ssn", "UNAUTHENTICATED"],
      ["profile.ssn", "UNAUTHENTICATED"],
    ]);
    expect(requested("ssn")).toBe(false);
  });

  it("interfaces: a type condition on the guarded implementation", async () => {
    const response = await ask(plain, "{ items { id ... on Book { note } ... on Pen { label } } }");
    expect(response.body.data).toEqual({
      items: [
        { id: "b1", note: null },
        { id: "p1", label: "Pen" },
      ],
    });
    expect(refusals(response)).toEqual([["items.0.note", "FORBIDDEN"]]);
    expect(requested("note")).toBe(false);
  });

  it("interfaces: an unguarded implementation's field is served, the guarded one's is not", async () => {
    // Pen.note has no demand; Item.note carries Book.note's. Both select the response key "note".
    const response = await ask(plain, "{ items { ... on Pen { note } ... on Item { note } } }");
    expect(response.body.data).toEqual({ items: [{ note: null }, { note: "pen note" }] });
    expect(refusals(response)).toEqual([["items.0.note", "FORBIDDEN"]]);
    // Pen's note is asked for inside its type condition; no note outside it (as Item's, which would fetch Book's).
    const sent = subgraph.received.join("\n");
    expect(sent).toMatch(/on Pen\s*\{[^}]*\bnote\b/);
    expect(sent.replace(/on Pen\s*\{[^}]*\}/g, "")).not.toMatch(/\bnote\b/);
  });

  it("abstract types: a fragment on a guarded union member, and __typename alone", async () => {
    const viaFragment = await ask(plain, "{ search { ... on Vault { content } } }");
    expect(viaFragment.body.data).toEqual({ search: null });
    const typenameOnly = await ask(plain, "{ vault { __typename } }");
    expect(typenameOnly.body.data).toEqual({ vault: null });
    expect(refusals(typenameOnly)).toEqual([["vault", "FORBIDDEN"]]);
    expect(requested("vault")).toBe(false);
    expect(requested("search")).toBe(false);
  });

  it("@skip(if: true) on a guarded field is no refusal: the field is not asked for", async () => {
    const response = await ask(null, "query ($yes: Boolean!) { open signedIn @skip(if: $yes) }", { yes: true });
    expect(response.body).toEqual({ data: { open: "open" } });
  });

  it("a guarded field that is not refused gets no error; ungarded fields never cost a refusal", async () => {
    const response = await ask(reader, `{ ${["open", "signedIn", "scoped", "level", "secret"].join(" ")} }`);
    expect(response.body.errors).toBeUndefined();
    for (const field of GUARDED.filter((f) => ["signedIn", "scoped", "level", "secret"].includes(f)))
      expect(requested(field)).toBe(true);
  });
});

describe("what the engine adds to a document cannot be turned against it", () => {
  it("a client alias named like the engine's type key leaves the admitted part of the operation intact", async () => {
    const query = "{ signedIn profile { __keyway_type: name } }";
    const response = await ask(null, query);
    expect(response.body.data).toEqual({ signedIn: null, profile: { __keyway_type: "Ada" } });
    expect(refusals(response)).toEqual([["signedIn", "UNAUTHENTICATED"]]);
    expect(subgraph.received.join("\n")).not.toMatch(/__keyway_type:\s*__typename/);
  });

  it("a refused field in a list costs one error per place in the document, whatever the list's length", async () => {
    const aliases = Array.from({ length: 10 }, (_, i) => `n${i}: note`).join(" ");
    const response = await ask(plain, `{ items { id ${aliases} } }`);
    const items = (response.body.data as { items: Array<Record<string, unknown>> }).items;
    expect(items).toHaveLength(2);
    for (const item of items) for (let i = 0; i < 10; i++) expect(item[`n${i}`]).toBeNull();
    expect(refusals(response)).toEqual(Array.from({ length: 10 }, (_, i) => [`items.0.n${i}`, "FORBIDDEN"]).sort());
  });
});

describe("composition", () => {
  it("refuses to start when a subgraph names a policy AUTHZ_FILE does not define", async () => {
    const authzFile = path.join(mkdtempSync(path.join(tmpdir(), "keyway-authz-")), "authz.json");
    writeFileSync(authzFile, JSON.stringify({ policies: { some_other: { emailVerified: true } } }));
    await expect(
      startTestServer({ env: { SUBGRAPHS: `vault=${subgraph.url}`, AUTHZ_FILE: authzFile } }),
    ).rejects.toThrow(/\[vault\] @policy names "verified_email", which AUTHZ_FILE does not define/);
  });
});
