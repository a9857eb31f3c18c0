// Who presented which access token. The token is verified once (and remembered),
// checked against the revocation list on every request, and a refusal is
// recorded with its reason instead of thrown, so login/signUp/refreshToken still
// work with a bad Authorization header and only operations needing a caller fail.
import type { FastifyRequest } from "fastify";
import type { AccessTokenReason } from "../errors";
import type { RevocationList } from "../session/revocation-list";
import { verifyAccessToken, type AccessClaims, type AccessTokenOptions } from "../token/access-token";
import { createVerifiedTokenCache, type VerifiedTokenCache } from "../token/verified-token-cache";
import type { AuthEvents } from "./auth-events";

export type Caller = { caller: AccessClaims; refusal: null } | { caller: null; refusal: AccessTokenReason };
export type IdentifyCaller = (request: FastifyRequest) => Caller;

export interface CallerIdentifierOptions {
  accessTokens: AccessTokenOptions;
  revocations: RevocationList;
  events: AuthEvents;
  now(): number;
  /** Defaults to a cache of VERIFIED_TOKEN_CACHE_SIZE entries. */
  verifiedTokens?: VerifiedTokenCache;
}

/** Room for this many distinct live access tokens; a miss only costs one verification. */
const VERIFIED_TOKEN_CACHE_SIZE = 10_000;

const TOKEN68 = /^[A-Za-z0-9\-._~+/]+=*$/;

export function createCallerIdentifier(options: CallerIdentifierOptions): IdentifyCaller {
  const identify = {
    ...options,
    verifiedTokens: options.verifiedTokens ?? createVerifiedTokenCache({ maxEntries: VERIFIED_TOKEN_CACHE_SIZE }),
  };
  return (request) => {
    const identified = identifyCaller(request, identify);
    // A presented token that was refused is a security signal; no token at all is not.
    if (identified.refusal && identified.refusal !== "TOKEN_MISSING")
      options.events.emit({ type: "token.rejected", reason: identified.refusal });
    return identified;
  };
}

export function identifyCaller(
  request: FastifyRequest,
  options: Pick<CallerIdentifierOptions, "accessTokens" | "revocations" | "now" | "verifiedTokens">,
): Caller {
  const refuse = (refusal: AccessTokenReason): Caller => ({ caller: null, refusal });
  const count = countHeader(request.raw.rawHeaders, "authorization");
  if (count === 0) return refuse("TOKEN_MISSING");
  // Node keeps only the first of repeated Authorization headers; two is ambiguous, so neither counts.
  if (count > 1) return refuse("TOKEN_INVALID");
  const value = request.headers.authorization ?? "";
  if (value === "") return refuse("TOKEN_MISSING");
  // One canonical form: the scheme, one space, the token. A single word is a bare
  // token or a scheme without one: "Bearer" alone is the Bearer scheme without its
  // token (TOKEN_MISSING); any other single word, "Basic" included, is not a Bearer
  // credential (TOKEN_INVALID), as the contract says of bare tokens and other schemes.
  const space = value.indexOf(" ");
  const scheme = space === -1 ? value : value.slice(0, space);
  if (scheme.toLowerCase() !== "bearer") return refuse("TOKEN_INVALID");
  const token = space === -1 ? "" : value.slice(space + 1);
  if (token === "") return refuse("TOKEN_MISSING");
  if (!TOKEN68.test(token)) return refuse("TOKEN_INVALID");

  const now = options.now();
  let claims = options.verifiedTokens?.get(token, now, (kid) => options.accessTokens.keys.find(kid) !== undefined);
  if (!claims) {
    const verified = verifyAccessToken(options.accessTokens, token, now);
    if (!verified.ok) return refuse(verified.reason);
    claims = verified.claims;
    options.verifiedTokens?.remember(token, claims, now, verified.kid);
  }
  // Every request, cached or not: a session can end while its token is still unexpired.
  if (options.revocations.has(claims.sid)) return refuse("SESSION_ENDED");
  return { caller: claims, refusal: null };
}

function countHeader(rawHeaders: string[], name: string): number {
  let count = 0;
  for (let i = 0; i < rawHeaders.length; i += 2) if (rawHeaders[i]?.toLowerCase() === name) count++;
  return count;
}
