// The per-request context, where a request meets GraphQL: who the caller is (or
// why their token was refused) and the facts of the request the resolvers need —
// the refresh token and how it travels, the client's address and user agent, and
// the reply to set cookies on. Services reach resolvers through their constructors.
import type { FastifyReply, FastifyRequest } from "fastify";
import type { AuthRequest } from "../auth/auth.service";
import type { IdentifyCaller } from "../auth/caller";
import type { AccessTokenReason } from "../errors";
import { canonicalAddress } from "../http/client-address";
import {
  readRefreshToken,
  refreshTransportOf,
  type RefreshCookieOptions,
  type RefreshTransport,
} from "../http/cookies";
import type { LiveGrants } from "../authz/live-grants";
import type { AccessClaims, CallerGrants } from "../token/access-token";

export interface GraphQLContext {
  request: FastifyRequest;
  reply: FastifyReply;
  /** Verified claims of a live session, or null with `refusal` saying why. */
  caller: AccessClaims | null;
  refusal: AccessTokenReason | null;
  /**
   * The caller's grants as they stand now (live-grants.ts), read at most once per
   * request; null without a caller, or when the user is gone or disabled.
   */
  grants(): Promise<CallerGrants | null>;
  refreshToken: string | null;
  refreshTransport: RefreshTransport;
  client: AuthRequest;
}

export interface ContextBuilderOptions {
  identifyCaller: IdentifyCaller;
  grants: LiveGrants;
  cookie: RefreshCookieOptions;
  /** Told what arrived when no client address could be established (a proxy chain writing something else). */
  onUnusableAddress?: (raw: string) => void;
}

export function createContextBuilder(options: ContextBuilderOptions) {
  return async (request: FastifyRequest, reply: FastifyReply): Promise<GraphQLContext> => {
    const identified = options.identifyCaller(request);
    let grants: Promise<CallerGrants | null> | undefined;
    return {
      request,
      reply,
      ...identified,
      grants: () => (grants ??= identified.caller ? options.grants.current(identified.caller) : Promise.resolve(null)),
      refreshToken: readRefreshToken(request, options.cookie),
      refreshTransport: refreshTransportOf(request),
      client: {
        ip: clientAddress(request, options.onUnusableAddress),
        userAgent: headerValue(request.headers["user-agent"]),
      },
    };
  };
}

function clientAddress(request: FastifyRequest, onUnusable?: (raw: string) => void): string | null {
  const address = canonicalAddress(request.ip);
  if (address === null) onUnusable?.(String(request.ip ?? ""));
  return address;
}

const headerValue = (value: string | string[] | undefined): string | null =>
  typeof value === "string" && value ? value : null;
