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

/** The registered claims every token keyway signs carries, on the wire and verified alike. */
interface RegisteredClaims {
  iss: string;
  aud: string;
  sub: string;
  sid: string;
  iat: number;
  exp: number;
  jti: string;
}

/** The claims as they travel in a token keyway signs. */
export interface TokenClaims extends RegisteredClaims {
  /** Role names. */
  roles?: string[];
  /** Scopes, space-separated (RFC 9068). */
  scope?: string;
  email_verified?: boolean;
  /** Authentication method references (RFC 8176). */
  amr?: string[];
  /** When the session authenticated, seconds since the epoch. */
  auth_time?: number;
  /** Identity tokens: the hash of the request body they were minted for. */
  bh?: string;
}

/**
 * A verified token's claims, typed for use. Tokens signed before keyway issued
 * roles, scopes, email_verified, amr or auth_time verify as having none: no roles,
 * no scopes, not verified, no methods, an unknown auth time.
 */
export interface VerifiedClaims extends RegisteredClaims, CallerGrants {}

/** Who the caller is beyond their ids: roles, the scopes they grant, and how the session authenticated. */
export interface CallerGrants {
  roles: string[];
  /** `scope` split at spaces. */
  scopes: string[];
  emailVerified: boolean;
  amr: string[];
  /** `auth_time`, or null when the token has none. */
  authTime: number | null;
}

/** The wire form of these claims, e.g. for the identity minted from an access token's. */
export function authorizationClaims(
  claims: CallerGrants,
): Pick<TokenClaims, "roles" | "scope" | "email_verified" | "amr" | "auth_time"> {
  return {
    roles: claims.roles,
    scope: claims.scopes.join(" "),
    email_verified: claims.emailVerified,
    amr: claims.amr,
    ...(claims.authTime === null ? {} : { auth_time: claims.authTime }),
  };
}

export type JwtFailure = "TOKEN_INVALID" | "TOKEN_EXPIRED";
export type JwtVerifyResult =
  { ok: true; claims: VerifiedClaims; kid: string } | { ok: false; reason: JwtFailure; kid?: string };

/** Seconds of clock skew tolerated on exp/nbf/iat (the contract allows at most 1). */
export const CLOCK_TOLERANCE_SECONDS = 1;
/** A token this long is refused before any parsing or crypto. */
const MAX_TOKEN_LENGTH = 4096;
/** Header members that try to tell the verifier where keys live; keyway never issues them. */
const KEY_POINTING_HEADERS = ["jku", "jwk", "x5u", "x5c", "crit"];

export function readKeyId(token: string): string | null {
  const header = token.length > MAX_TOKEN_LENGTH ? null : decodeHeader(token);
  return header && typeof header.kid === "string" ? header.kid : null;
}

export function verifyJwt(token: string, options: JwtVerifyOptions): JwtVerifyResult {
  const invalid = { ok: false, reason: "TOKEN_INVALID" } as const;
  if (token.length > MAX_TOKEN_LENGTH) return invalid;
  const header = decodeHeader(token);
  // jsonwebtoken parses the payload again and keeps the last of repeated members, so a
  // token that different parsers would read differently is refused before it gets there.
  if (!header || !decodesStrictly(token.split(".")[1])) return invalid;
  if (typeof header.kid !== "string" || typeof header.typ !== "string") return invalid;
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
  return { ok: true, claims, kid: header.kid };
}

function toClaims(payload: jwt.JwtPayload): VerifiedClaims | null {
  const { iss, aud, sub, sid, iat, exp, jti } = payload as Record<string, unknown>;
  const strings = [iss, aud, sub, sid, jti].every((value) => typeof value === "string" && value.length > 0);
  if (!strings || typeof iat !== "number" || typeof exp !== "number") return null;
  const { roles = [], scope = "", email_verified = false, amr = [], auth_time = null } = payload;
  // Absent is "none"; present and malformed is a token keyway did not make.
  if (!isStringList(roles) || typeof scope !== "string" || typeof email_verified !== "boolean" || !isStringList(amr))
    return null;
  // An authentication after the token was issued, or before the epoch, is not one keyway stamped.
  if (
    auth_time !== null &&
    (!Number.isSafeInteger(auth_time) || auth_time < 0 || auth_time > iat + CLOCK_TOLERANCE_SECONDS)
  )
    return null;
  const scopes = scope.split(" ").filter((entry) => entry.length > 0);
  return {
    ...({ iss, aud, sub, sid, iat, exp, jti } as RegisteredClaims),
    roles,
    scopes,
    emailVerified: email_verified,
    amr,
    authTime: auth_time as number | null,
  };
}

const isStringList = (value: unknown): value is string[] =>
  Array.isArray(value) && value.every((entry) => typeof entry === "string");

/** Three non-empty base64url segments, nothing else: Buffer would silently skip foreign characters. */
const COMPACT_JWS = /^[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+$/;

function decodeHeader(token: string): Record<string, unknown> | null {
  if (!COMPACT_JWS.test(token)) return null;
  return decodeObject(token.slice(0, token.indexOf(".")));
}

const decodesStrictly = (segment: string): boolean => decodeObject(segment) !== null;

/** A JSON object with no repeated member names at any depth, else null (RFC 7515 §4, RFC 7519 §4: reject or take the last; we reject). */
function decodeObject(segment: string): Record<string, unknown> | null {
  const text = Buffer.from(segment, "base64url").toString("utf8");
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch {
    return null;
  }
  if (!value || typeof value !== "object" || Array.isArray(value) || hasRepeatedMember(text)) return null;
  return value as Record<string, unknown>;
}

/**
 * Walks text that JSON.parse already accepted, keeping the member names of each open
 * object; names are compared decoded, so "alg" and "\u0061lg" are the same member.
 */
function hasRepeatedMember(json: string): boolean {
  const open: Array<Set<string> | null> = [];
  let expectingName = false;
  for (let i = 0; i < json.length; i++) {
    const char = json[i];
    if (char === '"') {
      let end = i + 1;
      while (json[end] !== '"') end += json[end] === "\\" ? 2 : 1;
      const names = open[open.length - 1];
      if (expectingName && names) {
        const name = JSON.parse(json.slice(i, end + 1)) as string;
        if (names.has(name)) return true;
        names.add(name);
        expectingName = false;
      }
      i = end;
    } else if (char === "{") {
      open.push(new Set());
      expectingName = true;
    } else if (char === "[") {
      open.push(null);
    } else if (char === "}" || char === "]") {
      open.pop();
    } else if (char === ",") {
      expectingName = open.length > 0 && open[open.length - 1] !== null;
    }
  }
  return false;
}

export function signJwt(
  claims: TokenClaims,
  key: { kid: string; alg: SigningAlgorithm; privateKey: KeyObject },
  typ: string,
): string {
  return jwt.sign(claims, key.privateKey, { algorithm: key.alg, header: { alg: key.alg, typ, kid: key.kid } });
}
