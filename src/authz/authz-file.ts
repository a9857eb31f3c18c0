// AUTHZ_FILE's JSON, checked whole: every problem is reported, one line each,
// named by its JSON path, so an operator fixes the file in one pass.
//   { "roles": { "<role>": ["<scope>", …] }, "policies": { "<name>": <rule> } }
import { DURATION_ACCEPTS, parseDuration } from "../config-values";
import { DEFAULT_AUTHZ_MODEL, type AuthzModel, type PolicyRule } from "./model";
import { isRoleName, isScopeName, MAX_SCOPE_TEXT, ROLE_NAME_RULE, SCOPE_NAME_RULE } from "./names";

export type ParsedAuthzFile = { ok: true; model: AuthzModel } | { ok: false; problems: string[] };

/** RFC 8176's registered authentication method reference values. */
const AMR_VALUES = new Set(
  "face fpt geo hwk iris kba mca mfa otp pin pop pwd rba retina sc sms swk tel user vbm wia".split(" "),
);
const POLICY_NAME = /^[A-Za-z0-9_.:-]{1,64}$/;
const RULE_KINDS = ["anyRole", "allScopes", "emailVerified", "amr", "maxAuthAge", "all", "any"] as const;
/** Rules nest "all"/"any" at most this deep; a deeper file is a mistake, not a policy. */
const MAX_RULE_DEPTH = 16;
/** The file is read whole at start-up. */
export const MAX_AUTHZ_FILE_BYTES = 1024 * 1024;

type Problems = string[];

export function parseAuthzFile(text: string): ParsedAuthzFile {
  if (Buffer.byteLength(text) > MAX_AUTHZ_FILE_BYTES)
    return { ok: false, problems: [`larger than ${MAX_AUTHZ_FILE_BYTES} bytes`] };
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch (error) {
    return { ok: false, problems: [`not JSON: ${(error as Error).message}`] };
  }
  const problems: Problems = [];
  if (!isObject(json)) return { ok: false, problems: ['expected a JSON object with "roles" and/or "policies"'] };
  for (const key of Object.keys(json))
    if (key !== "roles" && key !== "policies")
      problems.push(`${JSON.stringify(key)}: unknown key (expected "roles" or "policies")`);
  const roles = json.roles === undefined ? null : readRoles(json.roles, problems);
  const policies = json.policies === undefined ? new Map() : readPolicies(json.policies, problems);
  if (problems.length > 0) return { ok: false, problems };
  return { ok: true, model: { roles: roles ?? DEFAULT_AUTHZ_MODEL.roles, policies } };
}

function readRoles(value: unknown, problems: Problems): Map<string, string[]> | null {
  if (!isObject(value)) {
    problems.push("roles: expected an object of role name → list of scopes");
    return null;
  }
  const roles = new Map<string, string[]>();
  for (const [role, scopes] of Object.entries(value)) {
    const at = member("roles", role);
    if (!isRoleName(role)) problems.push(`${at}: ${JSON.stringify(role)} is not a valid role name: ${ROLE_NAME_RULE}`);
    const list = readNames(scopes, at, "scope", problems);
    if (list) roles.set(role, list);
  }
  const scopeText = [...new Set([...roles.values()].flat())].join(" ").length;
  if (scopeText > MAX_SCOPE_TEXT)
    problems.push(
      `roles: the scopes of all roles together come to ${scopeText} characters; at most ${MAX_SCOPE_TEXT} fit in a token`,
    );
  return roles;
}

function readPolicies(value: unknown, problems: Problems): Map<string, PolicyRule> {
  const policies = new Map<string, PolicyRule>();
  if (!isObject(value)) {
    problems.push("policies: expected an object of policy name → rule");
    return policies;
  }
  for (const [name, rule] of Object.entries(value)) {
    const at = member("policies", name);
    if (!POLICY_NAME.test(name)) problems.push(`${at}: policy names are 1 to 64 letters, digits, "_", ".", ":" or "-"`);
    const parsed = readRule(rule, at, problems, 0);
    if (parsed) policies.set(name, parsed);
  }
  return policies;
}

function readRule(value: unknown, at: string, problems: Problems, depth: number): PolicyRule | null {
  if (depth > MAX_RULE_DEPTH) {
    problems.push(`${at}: rules nest at most ${MAX_RULE_DEPTH} deep`);
    return null;
  }
  const expected = `expected a rule: an object with one of ${RULE_KINDS.join(", ")}`;
  if (!isObject(value)) {
    problems.push(`${at}: ${expected}`);
    return null;
  }
  const keys = Object.keys(value);
  const unknown = keys.filter((key) => !(RULE_KINDS as readonly string[]).includes(key));
  for (const key of unknown)
    problems.push(`${at}.${key}: unknown rule (${expected.slice("expected a rule: ".length)})`);
  const kinds = keys.filter((key) => !unknown.includes(key));
  if (kinds.length !== 1) {
    if (kinds.length > 1) problems.push(`${at}: a rule has exactly one of its keys, not ${kinds.join(" and ")}`);
    else if (unknown.length === 0) problems.push(`${at}: ${expected}`);
    return null;
  }
  const kind = kinds[0] as (typeof RULE_KINDS)[number];
  const inner = value[kind];
  const here = `${at}.${kind}`;
  switch (kind) {
    case "anyRole":
      return wrap(readNames(inner, here, "role", problems), (anyRole) => ({ anyRole }));
    case "allScopes":
      return wrap(readNames(inner, here, "scope", problems), (allScopes) => ({ allScopes }));
    case "amr":
      return wrap(readNames(inner, here, "amr", problems), (amr) => ({ amr }));
    case "emailVerified":
      if (inner === true) return { emailVerified: true };
      problems.push(`${here}: expected true`);
      return null;
    case "maxAuthAge": {
      const seconds = typeof inner === "string" ? parseDuration(inner) : null;
      if (seconds?.ok) return { maxAuthAge: seconds.value };
      problems.push(`${here}: ${JSON.stringify(inner)} is not a duration: expected a string of ${DURATION_ACCEPTS}`);
      return null;
    }
    case "all":
    case "any": {
      if (!Array.isArray(inner) || inner.length === 0) {
        problems.push(`${here}: expected a non-empty list of rules`);
        return null;
      }
      const rules = inner.map((rule, index) => readRule(rule, `${here}[${index}]`, problems, depth + 1));
      if (rules.some((rule) => rule === null)) return null;
      return kind === "all" ? { all: rules as PolicyRule[] } : { any: rules as PolicyRule[] };
    }
  }
}

const NAME_CHECKS = {
  role: { valid: isRoleName, rule: ROLE_NAME_RULE, noun: "role name" },
  scope: { valid: isScopeName, rule: SCOPE_NAME_RULE, noun: "scope" },
  amr: {
    valid: (value: unknown) => typeof value === "string" && AMR_VALUES.has(value),
    rule: `expected a registered RFC 8176 value (${[...AMR_VALUES].join(", ")})`,
    noun: "amr value",
  },
} as const;

/** A non-empty list of valid names, each once; null (with problems) otherwise. */
function readNames(value: unknown, at: string, kind: keyof typeof NAME_CHECKS, problems: Problems): string[] | null {
  const check = NAME_CHECKS[kind];
  if (!Array.isArray(value) || value.length === 0) {
    problems.push(`${at}: expected a non-empty list of ${check.noun}s`);
    return null;
  }
  let ok = true;
  value.forEach((name: unknown, index) => {
    if (check.valid(name)) return;
    problems.push(`${at}[${index}]: ${JSON.stringify(name)} is not a valid ${check.noun}: ${check.rule}`);
    ok = false;
  });
  return ok ? [...new Set(value as string[])] : null;
}

/** `parent.key`, or `parent["odd key"]` for a key that would not read plainly (or would break the line). */
const member = (parent: string, key: string): string =>
  /^[A-Za-z0-9_:-]+$/.test(key) ? `${parent}.${key}` : `${parent}[${JSON.stringify(key)}]`;

const wrap = <T, R>(value: T | null, make: (value: T) => R): R | null => (value === null ? null : make(value));

const isObject = (value: unknown): value is Record<string, unknown> =>
  typeof value === "object" && value !== null && !Array.isArray(value);
