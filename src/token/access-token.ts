// Access tokens: ES256/RS256 JWTs typed `at+jwt` (RFC 9068), verified against the
// gateway's own key set.
import { randomUUID } from "node:crypto";
import {
  authorizationClaims,
  CLOCK_TOLERANCE_SECONDS,
  signJwt,
  verifyJwt,
  type CallerGrants,
  type JwtFailure,
  type VerifiedClaims,
} from "./jwt-verify";
import type { KeySet } from "./keys";

export type AccessClaims = VerifiedClaims;
export type { CallerGrants };
export type AccessTokenFailure = JwtFailure;
export type VerifyAccessTokenResult =
  { ok: true; claims: AccessClaims; kid: string } | { ok: false; reason: AccessTokenFailure };

export interface AccessTokenOptions {
  keys: KeySet;
  issuer: string;
  audience: string;
  ttlSeconds: number;
}

export interface SignAccessTokenInput {
  userId: string;
  sessionId: string;
  /** Tokens never outlive their session. */
  sessionExpiresAt: Date;
  grants: CallerGrants;
  now: number;
}

const ACCESS_TOKEN_TYPES = new Set(["at+jwt", "application/at+jwt"]);

export function signAccessToken(
  options: AccessTokenOptions,
  input: SignAccessTokenInput,
): { token: string; expiresIn: number } {
  const iat = Math.floor(input.now / 1000);
  const exp = Math.min(iat + options.ttlSeconds, Math.floor(input.sessionExpiresAt.getTime() / 1000));
  const claims = {
    iss: options.issuer,
    aud: options.audience,
    sub: input.userId,
    sid: input.sessionId,
    iat,
    exp,
    jti: randomUUID(),
    ...authorizationClaims(input.grants),
  };
  return { token: signJwt(claims, options.keys.signing, "at+jwt"), expiresIn: Math.max(0, exp - iat) };
}

/**
 * A token lives at most ACCESS_TOKEN_TTL as configured now, whatever `exp` it was
 * signed with: after the TTL is lowered across a restart, older and longer-lived
 * tokens end on the new schedule, so the revocation list rebuilt at start-up (one
 * TTL back) covers every token still accepted.
 */
export function verifyAccessToken(options: AccessTokenOptions, token: string, now: number): VerifyAccessTokenResult {
  const result = verifyJwt(token, {
    types: ACCESS_TOKEN_TYPES,
    issuer: options.issuer,
    audience: options.audience,
    findKey: (kid) => options.keys.find(kid),
    now,
  });
  if (!result.ok) return { ok: false, reason: result.reason };
  const exp = Math.min(result.claims.exp, result.claims.iat + options.ttlSeconds);
  if (exp !== result.claims.exp && Math.floor(now / 1000) > exp + CLOCK_TOLERANCE_SECONDS)
    return { ok: false, reason: "TOKEN_EXPIRED" };
  return { ok: true, kid: result.kid, claims: exp === result.claims.exp ? result.claims : { ...result.claims, exp } };
}
