// Access tokens already verified, so a client sending the same token again does
// not pay for ECDSA verification and JSON parsing on every request. Keyed on
// the whole token string: only the exact bytes that passed verification hit,
// so a token with any character changed is verified (and refused) afresh.
// What a cache must not do is outlive the token, so an entry is served only
// while its `exp` lies ahead, nor the key that signed it, so an entry whose key
// left the key set (retired, or pulled after a leak) is verified afresh. It says
// nothing about the session: the caller still checks the revocation list on every
// request, hit or miss.
import { LRUCache } from "lru-cache";
import type { AccessClaims } from "./access-token";

export interface VerifiedTokenCache {
  /** Claims of a token that passed verification, if it has not expired by `now` (ms) and `isKeyKnown` still knows its key. */
  get(token: string, now: number, isKeyKnown?: (kid: string) => boolean): AccessClaims | undefined;
  /** Only for tokens that just passed full verification; `now` (ms) lets it drop expired entries; `kid` is the key that verified it. */
  remember(token: string, claims: AccessClaims, now?: number, kid?: string): void;
  readonly size: number;
}

export interface VerifiedTokenCacheOptions {
  /** Least recently used entries are dropped beyond this many. */
  maxEntries: number;
}

interface Entry {
  claims: Readonly<AccessClaims>;
  kid: string | undefined;
}

export function createVerifiedTokenCache(options: VerifiedTokenCacheOptions): VerifiedTokenCache {
  // lru-cache keeps the bound and the recency; expiry is the token's own `exp`, against the caller's clock.
  const entries = new LRUCache<string, Entry>({ max: options.maxEntries });
  return {
    get(token, now, isKeyKnown) {
      const entry = entries.get(token);
      if (!entry) return undefined;
      // Strictly before exp, without the verifier's clock tolerance: past it, full verification decides.
      const stale =
        now >= entry.claims.exp * 1000 ||
        (entry.kid !== undefined && isKeyKnown !== undefined && !isKeyKnown(entry.kid));
      if (stale) {
        entries.delete(token);
        return undefined;
      }
      return entry.claims;
    },
    remember(token, claims, now, kid) {
      // Shared by every request presenting this token: nobody may change it for the others.
      const frozen = Object.freeze({
        ...claims,
        roles: Object.freeze([...claims.roles]),
        scopes: Object.freeze([...claims.scopes]),
        amr: Object.freeze([...claims.amr]),
      });
      entries.set(token, { claims: frozen as typeof claims, kid });
      if (now === undefined) return;
      // Rotation leaves every previous token unused until it expires; dropping expired
      // ones from the least recently used end keeps the cache near the live tokens
      // rather than at its cap.
      const expired: string[] = [];
      for (const oldest of entries.rkeys()) {
        const entry = entries.peek(oldest);
        if (entry && now < entry.claims.exp * 1000) break;
        expired.push(oldest);
      }
      for (const key of expired) entries.delete(key);
    },
    get size() {
      return entries.size;
    },
  };
}
