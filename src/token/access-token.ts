// Access tokens: ES256/RS256 JWTs typed `at+jwt` (RFC 9068). The only module that
// imports jsonwebtoken, so there is exactly one place where tokens are verified.
import { randomUUID } from "node:crypto";
import jwt from "jsonwebtoken";
import type { KeySet } from "./keys";

export interface AccessClaims {
  iss: string;
  aud: string;
  /** User id. */
  sub: string;
  /** Session id. */
  sid: string;
  iat: number;
  exp: number;
  jti: string;
}

export type AccessTokenFailure = "TOKEN_INVALID" | "TOKEN_EXPIRED";
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

/** Seconds of clock skew tolerated on exp/nbf/iat (the contract allows at most 1). */
const CLOCK_TOLERANCE_SECONDS = 1;
/** A token this long is refused before any parsing or crypto. */
const MAX_TOKEN_LENGTH = 4096;
const ACCESS_TOKEN_TYPES = new Set(["at+jwt", "application/at+jwt"]);
/** Header members that try to tell the verifier where keys live; keyway never issues them. */
const KEY_POINTING_HEADERS = ["jku", "jwk", "x5u", "x5c", "crit"];

export function signAccessToken(options: AccessTokenOptions, input: SignAccessTokenInput): { token: string; expiresIn: number } {
  const iat = Math.floor(input.now / 1000);
  const exp = Math.min(iat + options.ttlSeconds, Math.floor(input.sessionExpiresAt.getTime() / 1000));
  const { signing } = options.keys;
  const token = jwt.sign({ iss: options.issuer, aud: options.audience, sub: input.userId, sid: input.sessionId, iat, exp, jti: randomUUID() }, signing.privateKey, {
    algorithm: signing.alg,
    header: { alg: signing.alg, typ: "at+jwt", kid: signing.kid },
  });
  return { token, expiresIn: Math.max(0, exp - iat) };
}

export function verifyAccessToken(options: AccessTokenOptions, token: string, now: number): VerifyAccessTokenResult {
  const invalid = { ok: false, reason: "TOKEN_INVALID" } as const;
  if (token.length > MAX_TOKEN_LENGTH) return invalid;
  const header = decodeHeader(token);
  if (!header || typeof header.kid !== "string" || typeof header.typ !== "string") return invalid;
  if (!ACCESS_TOKEN_TYPES.has(header.typ.toLowerCase())) return invalid;
  if (KEY_POINTING_HEADERS.some((name) => name in header)) return invalid;
  const key = options.keys.find(header.kid);
  // The algorithm is pinned to the key's own: a token cannot choose HS256 or none.
  if (!key || header.alg !== key.alg) return invalid;

  const nowSeconds = Math.floor(now / 1000);
  let payload: jwt.JwtPayload;
  try {
    payload = jwt.verify(token, key.publicKey, {
      algorithms: [key.alg],
      issuer: options.issuer,
      audience: options.audience,
      clockTolerance: CLOCK_TOLERANCE_SECONDS,
      clockTimestamp: nowSeconds,
    }) as jwt.JwtPayload;
  } catch (error) {
    return error instanceof jwt.TokenExpiredError ? { ok: false, reason: "TOKEN_EXPIRED" } : invalid;
  }
  const claims = toClaims(payload);
  if (!claims || claims.iat > nowSeconds + CLOCK_TOLERANCE_SECONDS) return invalid;
  return { ok: true, claims };
}

function toClaims(payload: jwt.JwtPayload): AccessClaims | null {
  const { iss, aud, sub, sid, iat, exp, jti } = payload as Record<string, unknown>;
  const strings = [iss, aud, sub, sid, jti].every((value) => typeof value === "string" && value.length > 0);
  if (!strings || typeof iat !== "number" || typeof exp !== "number") return null;
  return { iss, aud, sub, sid, iat, exp, jti } as AccessClaims;
}

function decodeHeader(token: string): Record<string, unknown> | null {
  const dot = token.indexOf(".");
  if (dot < 1 || token.split(".").length !== 3) return null;
  try {
    const header: unknown = JSON.parse(Buffer.from(token.slice(0, dot), "base64url").toString("utf8"));
    return header && typeof header === "object" && !Array.isArray(header) ? (header as Record<string, unknown>) : null;
  } catch {
    return null;
  }
}
