// The refresh token's transport: an HttpOnly, SameSite=Strict cookie for browsers,
// or the `x-refresh-token` header for clients that cannot keep cookies. The only
// module that knows the cookie's attributes.
import type { FastifyReply, FastifyRequest } from "fastify";

export const REFRESH_HEADER = "x-refresh-token";

export interface RefreshCookieOptions {
  name: string;
  secure: boolean;
}

export type RefreshTransport = "cookie" | "header";

/** The presented refresh token; a non-empty header wins over the cookie. */
export function readRefreshToken(request: FastifyRequest, options: RefreshCookieOptions): string | null {
  const fromHeader = headerValue(request);
  if (fromHeader) return fromHeader;
  const fromCookie = request.cookies[options.name];
  return fromCookie ? fromCookie : null;
}

/**
 * Clients that send the header (any non-empty value) get tokens back in it instead
 * of a cookie. An empty header counts as absent: that client is read from its cookie,
 * so its rotated token must go back into the cookie, or the cookie goes stale.
 */
export const refreshTransportOf = (request: FastifyRequest): RefreshTransport =>
  headerValue(request) ? "header" : "cookie";

function headerValue(request: FastifyRequest): string {
  const header = request.headers[REFRESH_HEADER];
  return typeof header === "string" ? header.trim() : "";
}

export function sendRefreshToken(
  reply: FastifyReply,
  options: RefreshCookieOptions,
  transport: RefreshTransport,
  token: string,
  maxAgeSeconds: number,
): void {
  if (transport === "header") {
    void reply.header(REFRESH_HEADER, token);
    return;
  }
  void reply.setCookie(options.name, token, { ...cookieAttributes(options), maxAge: maxAgeSeconds });
}

export function clearRefreshToken(reply: FastifyReply, options: RefreshCookieOptions): void {
  void reply.clearCookie(options.name, cookieAttributes(options));
}

function cookieAttributes(options: RefreshCookieOptions) {
  return { httpOnly: true, sameSite: "strict" as const, path: "/", secure: options.secure };
}
