// The authorization model: which scopes each role grants, and the named policies
// that AUTHZ_FILE defines (authz-file.ts reads and checks it). Pure: the token
// minting asks it for a user's scopes, and a directive engine can evaluate
// policies against whatever facts it has about a caller.

import { isRoleName } from "./names";

/** A policy rule as parsed: durations are seconds. */
export type PolicyRule =
  | { anyRole: readonly string[] }
  | { allScopes: readonly string[] }
  | { emailVerified: true }
  | { amr: readonly string[] }
  | { maxAuthAge: number }
  | { all: readonly PolicyRule[] }
  | { any: readonly PolicyRule[] };

export interface AuthzModel {
  /** Role → the scopes it grants; null for the default (each role its own name, admin also keyway:admin). */
  roles: ReadonlyMap<string, readonly string[]> | null;
  policies: ReadonlyMap<string, PolicyRule>;
}

/** What a policy is decided on: the caller's claims, or their live state. */
export interface PolicyFacts {
  roles: readonly string[];
  scopes: readonly string[];
  emailVerified: boolean;
  /** RFC 8176 authentication methods of the session. */
  amr: readonly string[];
  /** When the session authenticated, seconds since the epoch; null when unknown (fails maxAuthAge). */
  authTime: number | null;
}

export const ADMIN_ROLE = "admin";
/** An authentication time further in the future than this is no authentication time. */
const AUTH_TIME_SKEW_SECONDS = 60;
/** The scope keyway's own admin operations require. */
export const ADMIN_SCOPE = "keyway:admin";

/** Without AUTHZ_FILE, or a file without "roles". */
export const DEFAULT_AUTHZ_MODEL: AuthzModel = Object.freeze({ roles: null, policies: new Map() });

/** The scopes the roles grant together, each once, in the order first granted. */
export function scopesFor(model: AuthzModel, roles: readonly string[]): string[] {
  const scopes = new Set<string>();
  for (const role of roles) {
    // Written some other way than RoleService (SQL by hand), a role with a space would
    // add a scope of its own to the space-separated claim.
    if (!isRoleName(role)) continue;
    const granted = model.roles ? (model.roles.get(role) ?? []) : defaultScopes(role);
    for (const scope of granted) scopes.add(scope);
  }
  return [...scopes];
}

const defaultScopes = (role: string): string[] => (role === ADMIN_ROLE ? [role, ADMIN_SCOPE] : [role]);

/** Whether the facts satisfy the rule at `now` (milliseconds since the epoch). */
export function evaluatePolicy(rule: PolicyRule, facts: PolicyFacts, now: number): boolean {
  if ("anyRole" in rule) return rule.anyRole.some((role) => facts.roles.includes(role));
  if ("allScopes" in rule) return rule.allScopes.every((scope) => facts.scopes.includes(scope));
  if ("emailVerified" in rule) return facts.emailVerified;
  if ("amr" in rule) return rule.amr.some((method) => facts.amr.includes(method));
  if ("maxAuthAge" in rule)
    return (
      facts.authTime !== null &&
      facts.authTime <= Math.floor(now / 1000) + AUTH_TIME_SKEW_SECONDS &&
      Math.floor(now / 1000) - facts.authTime <= rule.maxAuthAge
    );
  if ("all" in rule) return rule.all.every((inner) => evaluatePolicy(inner, facts, now));
  return rule.any.some((inner) => evaluatePolicy(inner, facts, now));
}
