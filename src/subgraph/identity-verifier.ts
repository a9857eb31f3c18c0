// What a subgraph calls in its context function: turn the gateway's forwarded
// identity into trusted claims, null for an anonymous request, or refuse it.
//
// An identity is good for one request: the one whose body it was minted for (its
// `bh` claim), once (its `jti`, remembered until it expires). So a header captured
// from the network, a log or a compromised neighbour cannot be sent again, with
// that body or another. That needs the body, which is why leaving it out throws.
import { GraphQLError } from "graphql";
import { readKeyId, verifyJwt, type VerifiedClaims } from "../token/jwt-verify";
import {
  hashRequestBody,
  IDENTITY_HEADER,
  IDENTITY_TOKEN_TYPE,
  readBodyHash,
  type GraphQLRequestBody,
} from "../token/identity-token";
import { createJwksCache, type JwksCacheOptions } from "./jwks-cache";
import { createReplayCache, DEFAULT_REPLAY_CACHE_SIZE } from "./replay-cache";

/**
 * The caller as keyway vouches for them: ids, lifetime, and since roles exist
 * `roles`, `scopes` (the token's space-separated `scope`), `emailVerified`,
 * `amr` and `authTime` (seconds; null when the identity has none). Identities
 * from a keyway before roles verify with none of them: [], false, null.
 */
export type IdentityClaims = VerifiedClaims;
export type { GraphQLRequestBody };

export interface IdentityVerifierOptions extends JwksCacheOptions {
  /** This subgraph's name, exactly as in keyway's SUBGRAPHS. */
  audience: string;
  /** keyway's JWT_ISSUER (default "keyway"). */
  issuer?: string;
  /** Accepted identities remembered against replay (default 100 000); when full, the least recently accepted is forgotten. */
  replayCacheSize?: number;
}

type HeaderSource =
  Headers | { get(name: string): string | null | undefined } | Record<string, string | string[] | undefined>;

/** A Node request after a JSON body parser ran: Apollo's standalone `req`, Express's `req`, Fastify's `request`. */
export interface ParsedHttpRequest {
  method?: string;
  headers: HeaderSource;
  body?: unknown;
}

export type IdentityRefusal = "IDENTITY_INVALID" | "IDENTITY_EXPIRED" | "IDENTITY_REPLAYED";

export interface IdentityVerifier {
  /**
   * Claims of the caller, or null when the gateway forwarded no identity (anonymous).
   * `body` is the request's GraphQL body as parsed (`req.body`) or as JSON text, null
   * for a request without one. Throws UNAUTHENTICATED for a forged, expired, replayed
   * or other-request identity, and a TypeError when `body` is undefined.
   */
  verifyRequest(headers: HeaderSource, body: GraphQLRequestBody | null): Promise<IdentityClaims | null>;
  /** verifyRequest(req.headers, req.body); a TypeError when no body parser ran (`req` has no `body`). */
  verifyHttpRequest(req: ParsedHttpRequest): Promise<IdentityClaims | null>;
}

const TYPES = new Set([IDENTITY_TOKEN_TYPE]);

export function createIdentityVerifier(options: IdentityVerifierOptions): IdentityVerifier {
  const now = options.now ?? Date.now;
  const jwks = createJwksCache({ ...options, now });
  const replays = createReplayCache({ max: options.replayCacheSize ?? DEFAULT_REPLAY_CACHE_SIZE, now });

  const verifyRequest = async (headers: HeaderSource, body: unknown): Promise<IdentityClaims | null> => {
    if (body === undefined) {
      throw new TypeError(
        "verifyRequest(headers, body) needs the request body (req.body, its JSON text, or null for none): without it a replayed identity cannot be refused",
      );
    }
    const token = readHeader(headers, IDENTITY_HEADER);
    if (token === null || token === "") return null;
    const kid = readKeyId(token);
    if (kid) await jwks.resolve(kid);
    const verified = verifyJwt(token, {
      types: TYPES,
      issuer: options.issuer ?? "keyway",
      audience: options.audience,
      findKey: jwks.peek,
      now: now(),
    });
    if (!verified.ok) throw refuse(verified.reason === "TOKEN_EXPIRED" ? "IDENTITY_EXPIRED" : "IDENTITY_INVALID");
    // From here to remember() nothing awaits: two requests with one jti cannot both pass.
    const { claims } = verified;
    if (replays.seen(claims.jti, claims.iat)) throw refuse("IDENTITY_REPLAYED");
    const bound = readBodyHash(token);
    if (bound === null || bound !== hashRequestBody(body)) throw refuse("IDENTITY_INVALID");
    replays.remember(claims.jti, claims.iat, claims.exp);
    return claims;
  };

  return {
    verifyRequest,
    async verifyHttpRequest(req) {
      if (!("body" in req))
        throw new TypeError("verifyHttpRequest(req) needs a request whose JSON body was parsed (req.body)");
      // keyway sends identities only with POST. A GET runs the query in its URL, not the
      // body a parser may have read, so the binding would vouch for the wrong operation.
      if (req.method !== undefined && req.method.toUpperCase() !== "POST" && readHeader(req.headers, IDENTITY_HEADER))
        throw refuse("IDENTITY_INVALID");
      return verifyRequest(req.headers, req.body ?? null);
    },
  };
}

function refuse(reason: IdentityRefusal): GraphQLError {
  return new GraphQLError("The forwarded identity is not valid", {
    extensions: { code: "UNAUTHENTICATED", reason, http: { status: 401 } },
  });
}

function readHeader(headers: HeaderSource, name: string): string | null {
  if (typeof (headers as Headers).get === "function") return (headers as Headers).get(name) ?? null;
  const value = (headers as Record<string, string | string[] | undefined>)[name];
  if (Array.isArray(value)) return value.length === 1 ? (value[0] ?? null) : "invalid";
  return value ?? null;
}
