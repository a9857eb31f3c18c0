// Identity tokens: what the gateway hands each subgraph instead of the caller's
// access token. One per subgraph request: aud = that subgraph, a fresh jti, and
// bh = the hash of the very body it travels with, so a captured header is good
// for nothing but the request it came with, which the subgraph helper accepts
// once. 30 s of life at most, typed so neither the gateway nor another subgraph
// accepts it as anything else.
import { createHash, randomUUID } from "node:crypto";
import type { AccessClaims } from "./access-token";
import { authorizationClaims, signJwt } from "./jwt-verify";
import type { KeySet } from "./keys";

export const IDENTITY_TOKEN_TYPE = "keyway-identity+jwt";
export const IDENTITY_HEADER = "keyway-identity";
export const IDENTITY_TOKEN_TTL_SECONDS = 30;

export interface IdentityTokenOptions {
  keys: KeySet;
  issuer: string;
}

/** A GraphQL-over-HTTP request body: as a server parsed it (`req.body`), or its JSON text (string or bytes). */
export type GraphQLRequestBody =
  string | Uint8Array | { query?: unknown; operationName?: unknown; variables?: unknown };

/** When an identity minted at `now` (ms) expires, in seconds: never after the access token it stands for. */
export const identityExpiry = (caller: AccessClaims, now: number): number =>
  Math.min(Math.floor(now / 1000) + IDENTITY_TOKEN_TTL_SECONDS, caller.exp);

/** An identity for one request to `subgraph`: the one whose body is `body`, exactly as sent. */
export function signIdentityToken(
  options: IdentityTokenOptions,
  caller: AccessClaims,
  subgraph: string,
  now: number,
  body: GraphQLRequestBody,
): string {
  const bh = hashRequestBody(body);
  if (bh === null) throw new TypeError("an identity is minted only for a GraphQL request body (a JSON object)");
  const iat = Math.floor(now / 1000);
  const claims = {
    iss: options.issuer,
    aud: subgraph,
    sub: caller.sub,
    sid: caller.sid,
    iat,
    exp: identityExpiry(caller, now),
    jti: randomUUID(),
    ...authorizationClaims(caller),
    bh,
  };
  return signJwt(claims, options.keys.signing, IDENTITY_TOKEN_TYPE);
}

/**
 * The `bh` claim: SHA-256, base64url, of the request's { query, operationName,
 * variables } as canonical JSON — members sorted by name at every depth, absent
 * ones as null — so any re-serialisation of the same JSON (spacing, member order,
 * escapes) hashes alike. Null when the body is not one JSON object (a batch, no
 * body, not JSON).
 */
export function hashRequestBody(body: unknown): string | null {
  let request = body;
  if (typeof body === "string" || body instanceof Uint8Array) {
    try {
      request = JSON.parse(typeof body === "string" ? body : Buffer.from(body).toString("utf8"));
    } catch {
      return null;
    }
  }
  if (!isPlainObject(request)) return null;
  const { query = null, operationName = null, variables = null } = request;
  let canonical: string;
  try {
    canonical = canonicalJson({ query, operationName, variables });
  } catch {
    return null; // nested deeper than the stack allows
  }
  return createHash("sha256").update(canonical).digest("base64url");
}

/** The `bh` of a token whose signature verifyJwt has already checked (it also refused repeated members). */
export function readBodyHash(verifiedToken: string): string | null {
  const payload = JSON.parse(Buffer.from(verifiedToken.split(".")[1] ?? "", "base64url").toString("utf8")) as {
    bh?: unknown;
  };
  return typeof payload.bh === "string" ? payload.bh : null;
}

function canonicalJson(value: unknown): string {
  if (Array.isArray(value))
    return `[${value.map((item) => (item === undefined ? "null" : canonicalJson(item))).join(",")}]`;
  if (isPlainObject(value)) {
    const members = Object.keys(value)
      .filter((name) => value[name] !== undefined)
      .sort()
      .map((name) => `${JSON.stringify(name)}:${canonicalJson(value[name])}`);
    return `{${members.join(",")}}`;
  }
  return JSON.stringify(value) ?? "null";
}

const isPlainObject = (value: unknown): value is Record<string, unknown> =>
  typeof value === "object" && value !== null && !Array.isArray(value);
