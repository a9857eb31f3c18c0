// What a subgraph asks of a verified identity most often. Null (an anonymous
// request) holds no scope and no role, so a check needs no null test first.
import type { IdentityClaims } from "./identity-verifier";

/** Whether the caller's token grants this scope (the identity's `scope`, from their roles through AUTHZ_FILE). */
export const hasScope = (identity: IdentityClaims | null | undefined, scope: string): boolean =>
  identity?.scopes.includes(scope) ?? false;

/** Whether the caller held this role when their access token was issued. */
export const hasRole = (identity: IdentityClaims | null | undefined, role: string): boolean =>
  identity?.roles.includes(role) ?? false;
