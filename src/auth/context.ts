// The per-request context. It verifies the access token once, and instead of
// throwing records why a token was refused, so login/signUp/refreshToken still
// work with a bad Authorization header and only operations needing a caller fail.
import type { FastifyReply, FastifyRequest } from "fastify";
import type { AccessTokenReason } from "../errors";
import type { AuthEvents } from "./auth-events";
import { canonicalAddress } from "../http/client-address";
import { readRefreshToken, refreshTransportOf, type RefreshCookieOptions, type RefreshTransport } from "../http/cookies";
import type { RevocationList } from "../session/revocation-list";
import { verifyAccessToken, type AccessClaims, type AccessTokenOptions } from "../token/access-token";
import { createVerifiedTokenCache, type VerifiedTokenCache } from "../token/verified-token-cache";
import type { AuthRequest, AuthService } from "./auth.service";

export interface GraphQLContext {
  request: FastifyRequest;
  reply: FastifyReply;
  /** Verified claims of a live session, or null with `refusal` saying why. */
  caller: AccessClaims | null;
  refusal: AccessTokenReason | null;
  refreshToken: string | null;
  refreshTransport: RefreshTransport;
  client: AuthRequest;
  auth: AuthService;
  cookie: RefreshCookieOptions;
  events: AuthEvents;
}

export interface ContextBuilderOptions {
  accessTokens: AccessTokenOptions;
  revocations: RevocationList;
  cookie: RefreshCookieOptions;
  auth: AuthService;
  events: AuthEvents;
  now(): number;
  /** Defaults to a cache of VERIFIED_TOKEN_CACHE_SIZE entries per context builder. */
  verifiedTokens?: VerifiedTokenCache;
  /** Told what arrived when no client address could be established (a proxy chain writing something else). */
  onUnusableAddress?(raw: string): void;
}

/** Room for this many distinct live access tokens; a miss only costs one verification. */
const VERIFIED_TOKEN_CACHE_SIZE = 10_000;

type Caller = { caller: AccessClaims; refusal: null } | { caller: null; refusal: AccessTokenReason };

const TOKEN68 = /^[A-Za-z0-9\-._~+/]+=*$/;

export function createContextBuilder(options: ContextBuilderOptions) {
  const identify = { ...options, verifiedTokens: options.verifiedTokens ?? createVerifiedTokenCache({ maxEntries: VERIFIED_TOKEN_CACHE_SIZE }) };
  return async (request: FastifyRequest, reply: FastifyReply): Promise<GraphQLContext> => ({
    request,
    reply,
    ...observed(identifyCaller(request, identify), options.events),
    refreshToken: readRefreshToken(request, options.cookie),
    refreshTransport: refreshTransportOf(request),
    client: { ip: clientAddress(request, options.onUnusableAddress), userAgent: headerValue(request.headers["user-agent"]) },
    auth: options.auth,
    cookie: options.cookie,
    events: options.events,
  });
}

/** A presented token that was refused is a security signal; no token at all is not. */
function observed(identified: Caller, events: AuthEvents): Caller {
  if (identified.refusal && identified.refusal !== "TOKEN_MISSING") events.emit({ type: "token.rejected", reason: identified.refusal });
  return identified;
}

export function identifyCaller(request: FastifyRequest, options: Pick<ContextBuilderOptions, "accessTokens" | "revocations" | "now" | "verifiedTokens">): Caller {
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

function clientAddress(request: FastifyRequest, onUnusable?: (raw: string) => void): string | null {
  const address = canonicalAddress(request.ip);
  if (address === null) onUnusable?.(String(request.ip ?? ""));
  return address;
}

function countHeader(rawHeaders: string[], name: string): number {
  let count = 0;
  for (let i = 0; i < rawHeaders.length; i += 2) if (rawHeaders[i]?.toLowerCase() === name) count++;
  return count;
}

const headerValue = (value: string | string[] | undefined): string | null => (typeof value === "string" && value ? value : null);
