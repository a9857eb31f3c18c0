// Access tokens already verified, so a client sending the same token again does
// not pay for ECDSA verification and JSON parsing on every request. Keyed on
// the whole token string: only the exact bytes that passed verification hit,
// so a token with any character changed is verified (and refused) afresh.
// What a cache must not do is outlive the token, so an entry is served only
// while its `exp` lies ahead, nor the key that signed it, so an entry whose key
// left the key set (retired, or pulled after a leak) is verified afresh. It says
// nothing about the session: the caller still checks the revocation list on every
// request, hit or miss.
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

export function createVerifiedTokenCache(options: VerifiedTokenCacheOptions): VerifiedTokenCache {
  // A Map iterates in insertion order: re-inserting on every hit keeps the least recently used first.
  const entries = new Map<string, { claims: AccessClaims; kid: string | undefined }>();
  return {
    get(token, now, isKeyKnown) {
      const entry = entries.get(token);
      if (!entry) return undefined;
      entries.delete(token);
      // Strictly before exp, without the verifier's clock tolerance: past it, full verification decides.
      if (now >= entry.claims.exp * 1000) return undefined;
      if (entry.kid !== undefined && isKeyKnown && !isKeyKnown(entry.kid)) return undefined;
      entries.set(token, entry);
      return entry.claims;
    },
    remember(token, claims, now, kid) {
      entries.delete(token);
      // Shared by every request presenting this token: nobody may change it for the others.
      entries.set(token, { claims: Object.freeze({ ...claims }), kid });
      // Rotation leaves every previous token unused until it expires; dropping expired
      // ones from the old end keeps the cache near the live tokens rather than at its cap.
      for (const [oldest, { claims: oldestClaims }] of entries) {
        const expired = now !== undefined && now >= oldestClaims.exp * 1000;
        if (!expired && entries.size <= options.maxEntries) break;
        entries.delete(oldest);
      }
    },
    get size() {
      return entries.size;
    },
  };
}
