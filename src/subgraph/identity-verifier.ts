// What a subgraph calls in its context function: turn the gateway's forwarded
// identity into trusted claims, null for an anonymous request, or refuse a forgery.
import { GraphQLError } from "graphql";
import { readKeyId, verifyJwt, type VerifiedClaims } from "../token/jwt-verify";
import { IDENTITY_HEADER, IDENTITY_TOKEN_TYPE } from "../token/identity-token";
import { createJwksCache, type JwksCacheOptions } from "./jwks-cache";

export type IdentityClaims = VerifiedClaims;

export interface IdentityVerifierOptions extends JwksCacheOptions {
  /** This subgraph's name, exactly as in keyway's SUBGRAPHS. */
  audience: string;
  /** keyway's JWT_ISSUER (default "keyway"). */
  issuer?: string;
  now?: () => number;
}

type HeaderSource = Headers | { get(name: string): string | null | undefined } | Record<string, string | string[] | undefined>;

export interface IdentityVerifier {
  /** Claims of the caller, or null when the gateway forwarded no identity (anonymous). */
  verifyRequest(headers: HeaderSource): Promise<IdentityClaims | null>;
}

const TYPES = new Set([IDENTITY_TOKEN_TYPE]);

export function createIdentityVerifier(options: IdentityVerifierOptions): IdentityVerifier {
  const jwks = createJwksCache(options);
  const now = options.now ?? Date.now;
  return {
    async verifyRequest(headers) {
      const token = readHeader(headers, IDENTITY_HEADER);
      if (token === null || token === "") return null;
      const kid = readKeyId(token);
      if (kid) await jwks.resolve(kid);
      const verified = verifyJwt(token, { types: TYPES, issuer: options.issuer ?? "keyway", audience: options.audience, findKey: jwks.peek, now: now() });
      if (!verified.ok) throw refuse(verified.reason === "TOKEN_EXPIRED" ? "IDENTITY_EXPIRED" : "IDENTITY_INVALID");
      return verified.claims;
    },
  };
}

function refuse(reason: "IDENTITY_INVALID" | "IDENTITY_EXPIRED"): GraphQLError {
  return new GraphQLError("The forwarded identity is not valid", { extensions: { code: "UNAUTHENTICATED", reason, http: { status: 401 } } });
}

function readHeader(headers: HeaderSource, name: string): string | null {
  if (typeof (headers as Headers).get === "function") return (headers as Headers).get(name) ?? null;
  const value = (headers as Record<string, string | string[] | undefined>)[name];
  if (Array.isArray(value)) return value.length === 1 ? (value[0] ?? null) : "invalid";
  return value ?? null;
}
