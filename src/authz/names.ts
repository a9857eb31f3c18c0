// What a role or a scope may be called. Role names are ours to choose, so they are
// kept plain enough for a CLI argument, a log line and a JWT claim alike; scopes
// follow RFC 6749's scope-token, since they travel space-separated in `scope`.

const ROLE_NAME = /^[a-z0-9:_-]{1,64}$/;
/** RFC 6749 §3.3 scope-token: printable ASCII but space, `"` and `\`; bounded in length here. */
const SCOPE_NAME = /^[\x21\x23-\x5B\x5D-\x7E]{1,128}$/;

export const ROLE_NAME_RULE = 'role names are 1 to 64 characters: lower-case letters, digits, ":", "_" and "-"';
export const SCOPE_NAME_RULE =
  'scopes are 1 to 128 printable ASCII characters without spaces, quotes (") or backslashes (RFC 6749)';

/**
 * Bounds that keep every token keyway signs under the 4 KiB it accepts: 16 roles of at
 * most 64 characters, and the scopes all roles grant together at most 1024 characters.
 */
export const MAX_ROLES_PER_USER = 16;
export const MAX_SCOPE_TEXT = 1024;

export const isRoleName = (value: unknown): value is string => typeof value === "string" && ROLE_NAME.test(value);
export const isScopeName = (value: unknown): value is string => typeof value === "string" && SCOPE_NAME.test(value);
