// The one place that calls jsonwebtoken.verify. Access tokens (the gateway) and
// identity tokens (subgraphs) differ only in the options they pass here.
import type { KeyObject } from "node:crypto";
import jwt from "jsonwebtoken";

export type SigningAlgorithm = "ES256" | "RS256";

export interface VerificationKey {
  alg: SigningAlgorithm;
  publicKey: KeyObject;
}

export interface JwtVerifyOptions {
  /** Accepted `typ` header values, lower-case. */
  types: ReadonlySet<string>;
  issuer: string;
  audience: string;
  findKey(kid: string): VerificationKey | undefined;
  /** Milliseconds since the epoch. */
  now: number;
}

export interface VerifiedClaims {
  iss: string;
  aud: string;
  sub: string;
  sid: string;
  iat: number;
  exp: number;
  jti: string;
}

export type JwtFailure = "TOKEN_INVALID" | "TOKEN_EXPIRED";
export type JwtVerifyResult = { ok: true; claims: VerifiedClaims } | { ok: false; reason: JwtFailure; kid?: string };

/** Seconds of clock skew tolerated on exp/nbf/iat (the contract allows at most 1). */
const CLOCK_TOLERANCE_SECONDS = 1;
/** A token this long is refused before any parsing or crypto. */
const MAX_TOKEN_LENGTH = 4096;
/** Header members that try to tell the verifier where keys live; keyway never issues them. */
const KEY_POINTING_HEADERS = ["jku", "jwk", "x5u", "x5c", "crit"];

export function readKeyId(token: string): string | null {
  const header = decodeHeader(token);
  return header && typeof header.kid === "string" ? header.kid : null;
}

export function verifyJwt(token: string, options: JwtVerifyOptions): JwtVerifyResult {
  const invalid = { ok: false, reason: "TOKEN_INVALID" } as const;
  if (token.length > MAX_TOKEN_LENGTH) return invalid;
  const header = decodeHeader(token);
  if (!header || typeof header.kid !== "string" || typeof header.typ !== "string") return invalid;
  if (!options.types.has(header.typ.toLowerCase())) return invalid;
  if (KEY_POINTING_HEADERS.some((name) => name in header)) return invalid;
  const key = options.findKey(header.kid);
  if (!key) return { ok: false, reason: "TOKEN_INVALID", kid: header.kid };
  // The algorithm is pinned to the key's own: a token cannot choose HS256 or none.
  if (header.alg !== key.alg) return invalid;

  const nowSeconds = Math.floor(options.now / 1000);
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

function toClaims(payload: jwt.JwtPayload): VerifiedClaims | null {
  const { iss, aud, sub, sid, iat, exp, jti } = payload as Record<string, unknown>;
  const strings = [iss, aud, sub, sid, jti].every((value) => typeof value === "string" && value.length > 0);
  if (!strings || typeof iat !== "number" || typeof exp !== "number") return null;
  return { iss, aud, sub, sid, iat, exp, jti } as VerifiedClaims;
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

export function signJwt(claims: VerifiedClaims, key: { kid: string; alg: SigningAlgorithm; privateKey: KeyObject }, typ: string): string {
  return jwt.sign(claims, key.privateKey, { algorithm: key.alg, header: { alg: key.alg, typ, kid: key.kid } });
}
