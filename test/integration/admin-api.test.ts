// The admin API over HTTP, as an admin's tool calls it: users, grantRole,
// revokeRole and disableUser need the scope keyway:admin (the default mapping
// gives it to role admin, which the first admin gets from the operator).
import { randomUUID } from "node:crypto";
import { execute, parse, print } from "graphql";
import type { GraphQLContext } from "../../src/graphql/context";
import { buildKeywaySchema } from "../../src/graphql/schema";
import { schemaDepsOf } from "../../src/keyway";
import { verifyAccessToken, type CallerGrants } from "../../src/token/access-token";
import { LOGIN, ME, login, signUp, type Account } from "../helpers/auth";
import { callGraphQL, errorOf, type GraphQLResponse } from "../helpers/http";
import { startTestServer, type TestServer } from "../helpers/server";

let server: TestServer;
let admin: Account;

const USERS = `query Users($email: String, $first: Int, $after: ID) {
  users(email: $email, first: $first, after: $after) { id email roles emailVerified createdAt }
}`;
const GRANT = "mutation Grant($userId: ID!, $role: String!) { grantRole(userId: $userId, role: $role) { id roles } }";
const REVOKE =
  "mutation Revoke($userId: ID!, $role: String!) { revokeRole(userId: $userId, role: $role) { id roles } }";
const DISABLE = "mutation Disable($userId: ID!) { disableUser(userId: $userId) { id email roles } }";

interface ListedUser {
  id: string;
  email: string;
  roles: string[];
  emailVerified: boolean;
  createdAt: string;
}

beforeAll(async () => {
  server = await startTestServer();
  const first = await signUp(server.url);
  // As `npx keyway role:grant <email> admin` does it: through RoleService, actor "cli".
  expect(await server.services.roles.grantRole(first.userId, "admin", "cli")).toMatchObject({ changed: true });
  // The role reaches a token at the next sign-in.
  admin = await login(server.url, first.email);
});
afterAll(() => server?.stop());

const asAdmin = (query: string, variables?: Record<string, unknown>) =>
  callGraphQL(server.url, query, { accessToken: admin.accessToken, variables });

const listUsers = async (variables: Record<string, unknown>): Promise<ListedUser[]> => {
  const response = await asAdmin(USERS, variables);
  expect(response.body.errors).toBeUndefined();
  return (response.body.data as { users: ListedUser[] }).users;
};

const auditLines = () =>
  server.logs.map((line) => JSON.parse(line) as Record<string, unknown>).filter((line) => line.audit === true);

async function metric(name: string, labels = ""): Promise<number> {
  const text = await (await fetch(`${server.url}/metrics`)).text();
  const prefix = labels ? `${name}{${labels}} ` : `${name} `;
  const line = text.split("\n").find((candidate) => candidate.startsWith(prefix));
  return line ? Number(line.slice(prefix.length)) : 0;
}

/** A refusal of the one root field `field`: its error, and no data for it. */
function refusalOf(response: GraphQLResponse, field: string) {
  expect(response.status).toBe(200);
  expect(response.body.data?.[field] ?? null).toBeNull();
  expect(response.body.errors).toHaveLength(1);
  const [error] = response.body.errors!;
  return { code: error.extensions?.code, path: (error as { path?: unknown }).path };
}

describe("users", () => {
  it("pages through every account in id order, each once, with roles and never a password hash", async () => {
    const made = [await signUp(server.url), await signUp(server.url), await signUp(server.url)];
    const seen: ListedUser[] = [];
    let after: string | undefined;
    for (let page = 0; page < 50; page++) {
      const users = await listUsers({ first: 2, after });
      expect(users.length).toBeLessThanOrEqual(2);
      if (users.length === 0) break;
      seen.push(...users);
      after = users[users.length - 1].id;
    }
    const ids = seen.map((user) => user.id);
    expect(ids).toEqual([...ids].sort());
    expect(new Set(ids).size).toBe(ids.length);
    for (const account of [admin, ...made]) expect(ids).toContain(account.userId);
    expect(seen.find((user) => user.id === admin.userId)).toMatchObject({ email: admin.email, roles: ["admin"] });
    // The default page holds them all here, in the same order.
    expect((await listUsers({})).map((user) => user.id)).toEqual(ids);

    const hashField = await asAdmin("{ users { id passwordHash } }");
    expect(hashField.status).toBe(400);
    expect(errorOf(hashField)?.code).toBe("GRAPHQL_VALIDATION_FAILED");
  });

  it("filters by the address as sign-up normalises it: trimmed, any case", async () => {
    const target = await signUp(server.url);
    const found = await listUsers({ email: `  ${target.email.toUpperCase()} ` });
    expect(found).toEqual([
      { id: target.userId, email: target.email, roles: [], emailVerified: false, createdAt: expect.any(String) },
    ]);
    expect(await listUsers({ email: `other-${target.email}` })).toEqual([]);
  });

  it("refuses a page size outside 1..100, a cursor that is no user id, and an email that is no address", async () => {
    for (const [variables, field] of [
      [{ first: 0 }, "first"],
      [{ first: 101 }, "first"],
      [{ first: -5 }, "first"],
      [{ first: null }, "first"],
      [{ after: "not-a-uuid" }, "after"],
      [{ after: "1" }, "after"],
      [{ email: "not an email" }, "email"],
    ] as const) {
      const response = await asAdmin(USERS, variables);
      expect({ variables, error: response.body.errors?.[0]?.extensions }).toEqual({
        variables,
        error: { code: "BAD_USER_INPUT", field },
      });
    }
    expect(await listUsers({ first: 100 })).not.toHaveLength(0);
  });
});

describe("grantRole and revokeRole", () => {
  it("grant and revoke through RoleService, idempotently, with the admin as actor; the user's next token carries them", async () => {
    const user = await signUp(server.url);
    const granted = await asAdmin(GRANT, { userId: user.userId, role: "staff" });
    expect(granted.body).toEqual({ data: { grantRole: { id: user.userId, roles: ["staff"] } } });
    const again = await asAdmin(GRANT, { userId: user.userId, role: "staff" });
    expect(again.body).toEqual({ data: { grantRole: { id: user.userId, roles: ["staff"] } } });
    expect((await server.stores.users.findById(user.userId))?.roles).toEqual(["staff"]);
    const me = await callGraphQL(server.url, "{ me { roles } }", {
      accessToken: (await login(server.url, user.email)).accessToken,
    });
    expect(me.body.data).toEqual({ me: { roles: ["staff"] } });

    const revoked = await asAdmin(REVOKE, { userId: user.userId, role: "staff" });
    expect(revoked.body).toEqual({ data: { revokeRole: { id: user.userId, roles: [] } } });
    expect((await asAdmin(REVOKE, { userId: user.userId, role: "staff" })).body.errors).toBeUndefined();
    expect((await server.stores.users.findById(user.userId))?.roles).toEqual([]);

    const audited = auditLines().filter(
      (line) => line.userId === user.userId && String(line.event).startsWith("role."),
    );
    expect(audited).toEqual([
      expect.objectContaining({ event: "role.granted", actor: admin.userId, role: "staff", changed: true }),
      expect.objectContaining({ event: "role.granted", actor: admin.userId, role: "staff", changed: false }),
      expect.objectContaining({ event: "role.revoked", actor: admin.userId, role: "staff", changed: true }),
      expect.objectContaining({ event: "role.revoked", actor: admin.userId, role: "staff", changed: false }),
    ]);
  });

  it("refuses an unknown user, a malformed id and a bad role name as BAD_USER_INPUT", async () => {
    const user = await signUp(server.url);
    for (const query of [GRANT, REVOKE]) {
      const unknown = await asAdmin(query, { userId: randomUUID(), role: "staff" });
      expect(unknown.body.errors?.[0]).toMatchObject({
        message: expect.stringMatching(/^No user has the id /),
        extensions: { code: "BAD_USER_INPUT", field: "userId" },
      });
      const malformed = await asAdmin(query, { userId: "42", role: "staff" });
      expect(malformed.body.errors?.[0]?.extensions).toEqual({ code: "BAD_USER_INPUT", field: "userId" });
      const badRole = await asAdmin(query, { userId: user.userId, role: "Staff!" });
      expect(badRole.body.errors?.[0]).toMatchObject({
        message: expect.stringContaining("is not a role name"),
        extensions: { code: "BAD_USER_INPUT", field: "role" },
      });
    }
    expect((await server.stores.users.findById(user.userId))?.roles).toEqual([]);
  });
});

describe("disableUser", () => {
  it("disables the account and ends its sessions: its access token is refused at once, its password too", async () => {
    const user = await signUp(server.url);
    expect((await callGraphQL(server.url, ME, { accessToken: user.accessToken })).body.errors).toBeUndefined();
    const disabledBefore = await metric("keyway_users_disabled_total");

    const disabled = await asAdmin(DISABLE, { userId: user.userId });
    expect(disabled.body).toEqual({ data: { disableUser: { id: user.userId, email: user.email, roles: [] } } });
    expect(errorOf(await callGraphQL(server.url, ME, { accessToken: user.accessToken }))).toEqual({
      code: "UNAUTHENTICATED",
      reason: "SESSION_ENDED",
    });
    const relogin = await callGraphQL(server.url, LOGIN, {
      variables: { input: { email: user.email, password: user.password } },
    });
    expect(errorOf(relogin)).toEqual({ code: "UNAUTHENTICATED", reason: "INVALID_CREDENTIALS" });
    expect((await server.stores.users.findById(user.userId))?.disabledAt).toBeInstanceOf(Date);

    // Idempotent: the account as it is, counted once.
    const again = await asAdmin(DISABLE, { userId: user.userId });
    expect(again.body).toEqual(disabled.body);
    expect(await metric("keyway_users_disabled_total")).toBe(disabledBefore + 1);
    expect(auditLines().filter((line) => line.event === "user.disabled" && line.userId === user.userId)).toEqual([
      expect.objectContaining({ actor: admin.userId, changed: true }),
      expect.objectContaining({ actor: admin.userId, changed: false }),
    ]);
  });

  it("refuses the caller's own account (pointing to the CLI), an unknown user and a malformed id", async () => {
    const own = await asAdmin(DISABLE, { userId: admin.userId });
    expect(own.body.errors?.[0]).toMatchObject({
      message: expect.stringContaining("keyway user:disable"),
      extensions: { code: "BAD_USER_INPUT", field: "userId" },
    });
    expect((await callGraphQL(server.url, ME, { accessToken: admin.accessToken })).body.errors).toBeUndefined();
    expect((await server.stores.users.findById(admin.userId))?.disabledAt).toBeNull();

    const unknown = await asAdmin(DISABLE, { userId: randomUUID() });
    expect(unknown.body.errors?.[0]).toMatchObject({
      message: expect.stringMatching(/^No user has the id /),
      extensions: { code: "BAD_USER_INPUT" },
    });
    expect((await asAdmin(DISABLE, { userId: "nope" })).body.errors?.[0]?.extensions?.code).toBe("BAD_USER_INPUT");
  });
});

describe("who may call it", () => {
  const operations: Array<[string, string, (victim: string) => Record<string, unknown>]> = [
    ["users", USERS, () => ({})],
    ["grantRole", GRANT, (victim) => ({ userId: victim, role: "admin" })],
    ["revokeRole", REVOKE, (victim) => ({ userId: victim, role: "staff" })],
    ["disableUser", DISABLE, (victim) => ({ userId: victim })],
  ];

  it("a signed-in user without keyway:admin (roles other than admin included) is FORBIDDEN, and nothing changes", async () => {
    const victim = await signUp(server.url);
    await server.services.roles.grantRole(victim.userId, "staff", "cli");
    const staff = await signUp(server.url);
    await server.services.roles.grantRole(staff.userId, "staff", "cli");
    const plain = await signUp(server.url);
    const callers = [plain, await login(server.url, staff.email)];
    for (const caller of callers) {
      for (const [field, query, variables] of operations) {
        const response = await callGraphQL(server.url, query, {
          accessToken: caller.accessToken,
          variables: variables(victim.userId),
        });
        expect({ field, ...refusalOf(response, field) }).toEqual({ field, code: "FORBIDDEN", path: [field] });
      }
    }
    expect(await server.stores.users.findById(victim.userId)).toMatchObject({ roles: ["staff"], disabledAt: null });
  });

  it("without a valid access token it is UNAUTHENTICATED, with the token's reason", async () => {
    const victim = await signUp(server.url);
    for (const [field, query, variables] of operations) {
      const anonymous = await callGraphQL(server.url, query, { variables: variables(victim.userId) });
      expect({ field, ...refusalOf(anonymous, field) }).toEqual({ field, code: "UNAUTHENTICATED", path: [field] });
      expect(errorOf(anonymous)?.reason).toBe("TOKEN_MISSING");
      const forged = await callGraphQL(server.url, query, {
        accessToken: "not.a.token",
        variables: variables(victim.userId),
      });
      expect(errorOf(forged)).toEqual({ code: "UNAUTHENTICATED", reason: "TOKEN_INVALID" });
    }
    expect(await server.stores.users.findById(victim.userId)).toMatchObject({ roles: [], disabledAt: null });
  });

  it("an ended admin session is refused like any other", async () => {
    const second = await login(server.url, admin.email);
    await callGraphQL(server.url, "mutation { logout }", { cookie: second.cookie });
    const response = await callGraphQL(server.url, USERS, { accessToken: second.accessToken });
    expect(errorOf(response)).toEqual({ code: "UNAUTHENTICATED", reason: "SESSION_ENDED" });
  });
});

// Below the gateway: the schema executed directly, as nothing but the resolvers guard it.
describe("the resolvers' own check (defence in depth under the directive)", () => {
  async function executeAs(account: Account | null, grants: CallerGrants | null, query: string, variables = {}) {
    const schema = await buildKeywaySchema(schemaDepsOf(server.services));
    const verified = account && verifyAccessToken(server.services.accessTokens, account.accessToken, Date.now());
    if (verified && !verified.ok) throw new Error(`token refused: ${verified.reason}`);
    const caller = verified?.claims ?? null;
    const context = {
      caller,
      refusal: caller ? null : "TOKEN_MISSING",
      grants: async () => grants,
      client: { ip: "192.0.2.1", userAgent: null },
    } as unknown as GraphQLContext;
    return execute({ schema, document: parse(query), variableValues: variables, contextValue: context });
  }
  const grantsOf = (scopes: string[]): CallerGrants => ({
    roles: [],
    scopes,
    emailVerified: true,
    amr: ["pwd"],
    authTime: null,
  });

  it("decides on the caller's current grants: FORBIDDEN (MISSING_SCOPES) without keyway:admin, audited and counted", async () => {
    const victim = await signUp(server.url);
    const refusedBefore = await metric("keyway_admin_calls_total", 'call="grantRole",outcome="missing_scopes"');
    // The admin's token carries keyway:admin, but their grants now do not: the grants decide.
    const refused = await executeAs(admin, grantsOf(["staff"]), GRANT, { userId: victim.userId, role: "admin" });
    expect(refused.errors?.map((error) => error.extensions)).toEqual([{ code: "FORBIDDEN", reason: "MISSING_SCOPES" }]);
    expect((await server.stores.users.findById(victim.userId))?.roles).toEqual([]);
    expect(await metric("keyway_admin_calls_total", 'call="grantRole",outcome="missing_scopes"')).toBe(
      refusedBefore + 1,
    );
    expect(auditLines()).toContainEqual(
      expect.objectContaining({
        event: "admin.grantRole.refused",
        actor: admin.userId,
        outcome: "missing_scopes",
        ip: "192.0.2.1",
      }),
    );

    const allowed = await executeAs(admin, grantsOf(["keyway:admin"]), GRANT, { userId: victim.userId, role: "x" });
    expect(allowed.errors).toBeUndefined();
  });

  it("is UNAUTHENTICATED without a caller, and when the caller's grants are gone (user disabled or deleted)", async () => {
    const anonymous = await executeAs(null, null, USERS);
    expect(anonymous.errors?.map((error) => error.extensions)).toEqual([
      { code: "UNAUTHENTICATED", reason: "TOKEN_MISSING" },
    ]);
    const gone = await executeAs(admin, null, USERS);
    expect(gone.errors?.map((error) => error.extensions)).toEqual([
      { code: "UNAUTHENTICATED", reason: "SESSION_ENDED" },
    ]);
  });
});

describe("the directive engine in front of keyway's own schema (no SUBGRAPHS)", () => {
  it("an admin cannot disable their own account by writing their id in upper case", async () => {
    const response = await asAdmin(DISABLE, { userId: admin.userId.toUpperCase() });
    expect(response.body.errors?.map((e) => e.extensions?.code)).toEqual(["BAD_USER_INPUT"]);
    expect((await asAdmin(ME)).body.data).toEqual({ me: expect.objectContaining({ id: admin.userId }) });
  });

  it.each([
    ["users", USERS, {}],
    ["grantRole", GRANT, { role: "admin" }],
    ["revokeRole", REVOKE, { role: "admin" }],
    ["disableUser", DISABLE, {}],
  ])(
    "%s: a caller without keyway:admin is refused before the resolver runs (no admin audit line, the engine's counter moves)",
    async (_field, document, variables) => {
      const plain = await signUp(server.url);
      const before = await metric("keyway_authz_refused_fields_total", 'code="FORBIDDEN"');
      const auditsBefore = auditLines().length;
      const response = await callGraphQL(server.url, document, {
        accessToken: plain.accessToken,
        variables: { userId: admin.userId, ...variables },
      });
      expect(response.body.data).toBeNull(); // each admin field is non-null: its null reaches data
      expect(response.body.errors?.map((e) => e.extensions)).toEqual([{ code: "FORBIDDEN", reason: "MISSING_SCOPES" }]);
      expect(await metric("keyway_authz_refused_fields_total", 'code="FORBIDDEN"')).toBe(before + 1);
      // The resolver's own check writes admin.<call>.refused; it never ran.
      expect(auditLines().slice(auditsBefore)).toEqual([]);
      const adminNow = await server.stores.users.findById(admin.userId);
      expect(adminNow?.disabledAt).toBeNull();
      expect(adminNow?.roles).toContain("admin");
    },
  );
});

describe("audit and metrics", () => {
  it("a listing leaves an audit line with the actor, the filter (never the address) and whose accounts were read", async () => {
    const target = await signUp(server.url);
    const listedBefore = await metric("keyway_admin_calls_total", 'call="users",outcome="success"');
    await listUsers({ email: target.email, first: 5 });
    await listUsers({ first: 1, after: "00000000-0000-0000-0000-000000000000" });
    const lines = auditLines().filter((line) => line.event === "users.listed");
    expect(lines.slice(-2)).toEqual([
      expect.objectContaining({
        actor: admin.userId,
        filter: { byEmail: true, first: 5, after: null },
        count: 1,
        userIds: [target.userId],
      }),
      expect.objectContaining({
        actor: admin.userId,
        filter: { byEmail: false, first: 1, after: "00000000-0000-0000-0000-000000000000" },
        count: 1,
      }),
    ]);
    expect(await metric("keyway_admin_calls_total", 'call="users",outcome="success"')).toBe(listedBefore + 2);
  });

  it("no admin audit line carries an email address, a password hash or a token", async () => {
    const adminEvents = new Set(["users.listed", "user.disabled", "role.granted", "role.revoked"]);
    const lines = server.logs.filter((line) => {
      const parsed = JSON.parse(line) as Record<string, unknown>;
      return adminEvents.has(String(parsed.event)) || String(parsed.event).startsWith("admin.");
    });
    expect(lines.length).toBeGreaterThan(5);
    for (const line of lines) {
      expect(line).not.toMatch(/@example\.io|\$argon2|passwordHash|eyJ/);
    }
  });
});

it("the served schema declares each admin field's requirement as the contract writes it", async () => {
  const schema = await buildKeywaySchema();
  const fields = {
    users: schema.getQueryType()?.getFields().users,
    grantRole: schema.getMutationType()?.getFields().grantRole,
    revokeRole: schema.getMutationType()?.getFields().revokeRole,
    disableUser: schema.getMutationType()?.getFields().disableUser,
  };
  for (const [name, field] of Object.entries(fields)) {
    expect({ name, directives: field?.astNode?.directives?.map((directive) => print(directive)) }).toEqual({
      name,
      directives: ['@requiresScopes(scopes: [["keyway:admin"]])'],
    });
  }
  expect(schema.getDirective("requiresScopes")).toBeDefined();
});
