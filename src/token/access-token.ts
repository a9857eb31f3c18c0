// Access tokens: ES256/RS256 JWTs typed `at+jwt` (RFC 9068), verified against the
// gateway's own key set.
import { randomUUID } from "node:crypto";
import { signJwt, verifyJwt, type JwtFailure, type VerifiedClaims } from "./jwt-verify";
import type { KeySet } from "./keys";

export type AccessClaims = VerifiedClaims;
export type AccessTokenFailure = JwtFailure;
export type VerifyAccessTokenResult = { ok: true; claims: AccessClaims } | { ok: false; reason: AccessTokenFailure };

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
  now: number;
}

const ACCESS_TOKEN_TYPES = new Set(["at+jwt", "application/at+jwt"]);

export function signAccessToken(options: AccessTokenOptions, input: SignAccessTokenInput): { token: string; expiresIn: number } {
  const iat = Math.floor(input.now / 1000);
  const exp = Math.min(iat + options.ttlSeconds, Math.floor(input.sessionExpiresAt.getTime() / 1000));
  const claims = { iss: options.issuer, aud: options.audience, sub: input.userId, sid: input.sessionId, iat, exp, jti: randomUUID() };
  return { token: signJwt(claims, options.keys.signing, "at+jwt"), expiresIn: Math.max(0, exp - iat) };
}

export function verifyAccessToken(options: AccessTokenOptions, token: string, now: number): VerifyAccessTokenResult {
  const result = verifyJwt(token, { types: ACCESS_TOKEN_TYPES, issuer: options.issuer, audience: options.audience, findKey: (kid) => options.keys.find(kid), now });
  return result.ok ? result : { ok: false, reason: result.reason };
}
