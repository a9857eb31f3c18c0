// Identity tokens: what the gateway hands each subgraph instead of the caller's
// access token. One per subgraph (aud = its name), 30 s of life, typed so neither
// the gateway nor another subgraph accepts it as anything else.
import { randomUUID } from "node:crypto";
import type { AccessClaims } from "./access-token";
import { signJwt } from "./jwt-verify";
import type { KeySet } from "./keys";

export const IDENTITY_TOKEN_TYPE = "keyway-identity+jwt";
export const IDENTITY_HEADER = "keyway-identity";
export const IDENTITY_TOKEN_TTL_SECONDS = 30;

export interface IdentityTokenOptions {
  keys: KeySet;
  issuer: string;
}

/** When an identity minted at `now` (ms) expires, in seconds: never after the access token it stands for. */
export const identityExpiry = (caller: AccessClaims, now: number): number => Math.min(Math.floor(now / 1000) + IDENTITY_TOKEN_TTL_SECONDS, caller.exp);

export function signIdentityToken(options: IdentityTokenOptions, caller: AccessClaims, subgraph: string, now: number): string {
  const iat = Math.floor(now / 1000);
  const exp = identityExpiry(caller, now);
  const claims = { iss: options.issuer, aud: subgraph, sub: caller.sub, sid: caller.sid, iat, exp, jti: randomUUID() };
  return signJwt(claims, options.keys.signing, IDENTITY_TOKEN_TYPE);
}
