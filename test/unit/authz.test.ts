// The authorization model: scopes from roles, every policy rule and their nesting,
// and AUTHZ_FILE's checks, each problem one line named by its JSON path.
import { parseAuthzFile } from "../../src/authz/authz-file";
import {
  DEFAULT_AUTHZ_MODEL,
  evaluatePolicy,
  scopesFor,
  type PolicyFacts,
  type PolicyRule,
} from "../../src/authz/model";

const NOW = Date.UTC(2030, 0, 1);
const facts = (overrides: Partial<PolicyFacts> = {}): PolicyFacts => ({
  roles: ["staff"],
  scopes: ["staff", "notes:read"],
  emailVerified: false,
  amr: ["pwd"],
  authTime: NOW / 1000 - 120,
  ...overrides,
});

function parsed(json: unknown) {
  const result = parseAuthzFile(JSON.stringify(json));
  if (!result.ok) throw new Error(result.problems.join("\n"));
  return result.model;
}
function problems(text: string): string[] {
  const result = parseAuthzFile(text);
  return result.ok ? [] : result.problems;
}

describe("scopesFor", () => {
  it("by default grants each role a scope of its own name, and admin also keyway:admin", () => {
    expect(scopesFor(DEFAULT_AUTHZ_MODEL, [])).toEqual([]);
    expect(scopesFor(DEFAULT_AUTHZ_MODEL, ["staff", "notes:editor"])).toEqual(["staff", "notes:editor"]);
    expect(scopesFor(DEFAULT_AUTHZ_MODEL, ["admin"])).toEqual(["admin", "keyway:admin"]);
  });

  it("grants nothing for a stored role that is not a role name (written by hand, say), so no scope is smuggled", () => {
    expect(scopesFor(DEFAULT_AUTHZ_MODEL, ["viewer keyway:admin", "staff"])).toEqual(["staff"]);
  });

  it("with a roles mapping grants exactly what it lists, each scope once; unlisted roles grant nothing", () => {
    const model = parsed({ roles: { editor: ["notes:read", "notes:write"], viewer: ["notes:read"] } });
    expect(scopesFor(model, ["viewer", "editor", "stranger"])).toEqual(["notes:read", "notes:write"]);
    expect(scopesFor(model, ["admin"])).toEqual([]);
  });

  it("a file with policies only keeps the default mapping", () => {
    expect(scopesFor(parsed({ policies: { p: { emailVerified: true } } }), ["admin"])).toEqual([
      "admin",
      "keyway:admin",
    ]);
  });
});

describe("evaluatePolicy", () => {
  const cases: Array<[string, PolicyRule, Partial<PolicyFacts>, boolean]> = [
    ["anyRole: one held", { anyRole: ["admin", "staff"] }, {}, true],
    ["anyRole: none held", { anyRole: ["admin"] }, {}, false],
    ["allScopes: all held", { allScopes: ["staff", "notes:read"] }, {}, true],
    ["allScopes: one missing", { allScopes: ["staff", "notes:write"] }, {}, false],
    ["emailVerified: verified", { emailVerified: true }, { emailVerified: true }, true],
    ["emailVerified: not verified", { emailVerified: true }, {}, false],
    ["amr: any of", { amr: ["otp", "pwd"] }, {}, true],
    ["amr: none of", { amr: ["otp", "hwk"] }, {}, false],
    ["maxAuthAge: recent enough", { maxAuthAge: 300 }, {}, true],
    ["maxAuthAge: exactly at the bound", { maxAuthAge: 120 }, {}, true],
    ["maxAuthAge: too old", { maxAuthAge: 60 }, {}, false],
    ["maxAuthAge: unknown auth time", { maxAuthAge: 300 }, { authTime: null }, false],
    ["maxAuthAge: an auth time in the future", { maxAuthAge: 300 }, { authTime: Math.floor(NOW / 1000) + 3600 }, false],
    ["all: every rule", { all: [{ anyRole: ["staff"] }, { amr: ["pwd"] }] }, {}, true],
    ["all: one fails", { all: [{ anyRole: ["staff"] }, { emailVerified: true }] }, {}, false],
    ["any: one holds", { any: [{ emailVerified: true }, { anyRole: ["staff"] }] }, {}, true],
    ["any: none holds", { any: [{ emailVerified: true }, { amr: ["hwk"] }] }, {}, false],
    [
      "nested: any of (admin) or (staff with a fresh second factor)",
      {
        any: [
          { anyRole: ["admin"] },
          { all: [{ anyRole: ["staff"] }, { any: [{ amr: ["otp"] }, { maxAuthAge: 300 }] }] },
        ],
      },
      {},
      true,
    ],
    [
      "nested: the same, authenticated too long ago without otp",
      {
        any: [
          { anyRole: ["admin"] },
          { all: [{ anyRole: ["staff"] }, { any: [{ amr: ["otp"] }, { maxAuthAge: 60 }] }] },
        ],
      },
      {},
      false,
    ],
  ];
  it.each(cases)("%s", (_name, rule, overrides, expected) => {
    expect(evaluatePolicy(rule, facts(overrides), NOW)).toBe(expected);
  });
});

describe("parseAuthzFile", () => {
  it("reads roles and every rule form; maxAuthAge becomes seconds", () => {
    const model = parsed({
      roles: { "notes:editor": ["notes:read", "notes:write", "notes:read"] },
      policies: {
        verified: { emailVerified: true },
        stepUp: { all: [{ amr: ["otp", "hwk"] }, { maxAuthAge: "5m" }] },
        editors: { any: [{ anyRole: ["notes:editor"] }, { allScopes: ["keyway:admin"] }] },
      },
    });
    expect(model.roles?.get("notes:editor")).toEqual(["notes:read", "notes:write"]);
    expect(model.policies.get("stepUp")).toEqual({ all: [{ amr: ["otp", "hwk"] }, { maxAuthAge: 300 }] });
    expect([...model.policies.keys()]).toEqual(["verified", "stepUp", "editors"]);
  });

  it("accepts an empty object: the default mapping, no policies", () => {
    expect(parsed({})).toEqual(DEFAULT_AUTHZ_MODEL);
  });

  it("refuses what is not JSON, or not an object", () => {
    expect(problems("{ roles: ")).toEqual([expect.stringMatching(/^not JSON: /)]);
    expect(problems("[]")).toEqual([expect.stringContaining("expected a JSON object")]);
  });

  it("reports every problem, one line each, named by its JSON path", () => {
    const found = problems(
      JSON.stringify({
        role: {},
        roles: { Admin: ["ok"], staff: [], viewer: "notes:read", editor: ["has space", 7] },
        policies: {
          empty: {},
          two: { anyRole: ["a"], amr: ["otp"] },
          typo: { anyRoles: ["a"] },
          verified: { emailVerified: "yes" },
          old: { maxAuthAge: "5 minutes" },
          number: { maxAuthAge: 300 },
          amr: { amr: ["password"] },
          nested: { all: [{ any: [] }, { allScopes: ["x y"] }, "rule"] },
          "bad name!": { emailVerified: true },
          "line\nbreak": { emailVerified: true },
        },
      }),
    );
    expect(found).toEqual([
      '"role": unknown key (expected "roles" or "policies")',
      'roles.Admin: "Admin" is not a valid role name: role names are 1 to 64 characters: lower-case letters, digits, ":", "_" and "-"',
      "roles.staff: expected a non-empty list of scopes",
      "roles.viewer: expected a non-empty list of scopes",
      'roles.editor[0]: "has space" is not a valid scope: scopes are 1 to 128 printable ASCII characters without spaces, quotes (") or backslashes (RFC 6749)',
      'roles.editor[1]: 7 is not a valid scope: scopes are 1 to 128 printable ASCII characters without spaces, quotes (") or backslashes (RFC 6749)',
      "policies.empty: expected a rule: an object with one of anyRole, allScopes, emailVerified, amr, maxAuthAge, all, any",
      "policies.two: a rule has exactly one of its keys, not anyRole and amr",
      "policies.typo.anyRoles: unknown rule (an object with one of anyRole, allScopes, emailVerified, amr, maxAuthAge, all, any)",
      "policies.verified.emailVerified: expected true",
      expect.stringMatching(
        /^policies\.old\.maxAuthAge: "5 minutes" is not a duration: expected a string of whole seconds/,
      ),
      expect.stringMatching(/^policies\.number\.maxAuthAge: 300 is not a duration/),
      expect.stringMatching(
        /^policies\.amr\.amr\[0\]: "password" is not a valid amr value: expected a registered RFC 8176 value \(.*pwd/,
      ),
      "policies.nested.all[0].any: expected a non-empty list of rules",
      expect.stringMatching(/^policies\.nested\.all\[1\]\.allScopes\[0\]: "x y" is not a valid scope/),
      expect.stringMatching(/^policies\.nested\.all\[2\]: expected a rule/),
      'policies["bad name!"]: policy names are 1 to 64 letters, digits, "_", ".", ":" or "-"',
      'policies["line\\nbreak"]: policy names are 1 to 64 letters, digits, "_", ".", ":" or "-"',
    ]);
    for (const problem of found) expect(problem).not.toContain("\n");
  });

  it("bounds what must fit in a token and how deep rules nest, and the file's size", () => {
    const scopes = Array.from({ length: 9 }, (_, i) => `${String(i)}${"s".repeat(119)}`);
    expect(problems(JSON.stringify({ roles: { a: scopes.slice(0, 5), b: scopes.slice(4) } }))).toEqual([
      "roles: the scopes of all roles together come to 1088 characters; at most 1024 fit in a token",
    ]);
    expect(problems(JSON.stringify({ roles: { a: scopes.slice(0, 8) } }))).toEqual([]);
    // At the bound exactly: 8 scopes of 120 and one of 56, joined by 8 spaces, make 1024.
    expect(problems(JSON.stringify({ roles: { a: [...scopes.slice(0, 8), "t".repeat(56)] } }))).toEqual([]);
    expect(problems(JSON.stringify({ roles: { a: [...scopes.slice(0, 8), "t".repeat(57)] } }))).toEqual([
      "roles: the scopes of all roles together come to 1025 characters; at most 1024 fit in a token",
    ]);
    let rule: unknown = { anyRole: ["staff"] };
    for (let depth = 0; depth < 17; depth++) rule = { all: [rule] };
    expect(problems(JSON.stringify({ policies: { deep: rule } }))).toEqual([
      `policies.deep${".all[0]".repeat(17)}: rules nest at most 16 deep`,
    ]);
    let shallower: unknown = { anyRole: ["staff"] };
    for (let depth = 0; depth < 16; depth++) shallower = { all: [shallower] };
    expect(problems(JSON.stringify({ policies: { deep: shallower } }))).toEqual([]);
    // 5000 levels used to overflow the stack and escape the one-line report.
    const bomb = `{"policies":{"p":${'{"all":['.repeat(5000)}{"anyRole":["a"]}${"]}".repeat(5000)}}}`;
    expect(problems(bomb)).toEqual([expect.stringMatching(/rules nest at most 16 deep$/)]);
    expect(problems(`{"roles":{},"x":"${"y".repeat(1024 * 1024)}"}`)).toEqual(["larger than 1048576 bytes"]);
  });

  it("refuses roles or policies of the wrong type", () => {
    expect(problems(JSON.stringify({ roles: [], policies: "none" }))).toEqual([
      "roles: expected an object of role name → list of scopes",
      "policies: expected an object of policy name → rule",
    ]);
  });
});
