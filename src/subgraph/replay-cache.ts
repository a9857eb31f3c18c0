// The identities a subgraph has accepted, each remembered until it expires, so
// that each is accepted once. Bounded: when full, the least recently accepted is
// forgotten — at the default size that takes more than 100 000 identities within
// one identity's life (30 s), over 3 000 requests a second to one process. A
// forgotten identity that had not expired could then be sent again unnoticed, so
// the cache also remembers the newest `iat` it had to forget that way and refuses
// every identity minted at or before it: a genuine identity arrives within moments
// of being minted, long after anything the cache is full of.
import { LRUCache } from "lru-cache";

export interface ReplayCache {
  /** Whether this identity may have been accepted before: its jti is remembered, or it is older than what was forgotten. */
  seen(jti: string, iat: number): boolean;
  /** Remembers an accepted jti until `exp` (seconds), as long as the verifier would still accept it. */
  remember(jti: string, iat: number, exp: number): void;
}

export const DEFAULT_REPLAY_CACHE_SIZE = 100_000;
/** jwt-verify accepts a token up to 1 s past `exp` (clock tolerance); kept a little longer. */
const KEPT_AFTER_EXPIRY_MS = 5_000;

export function createReplayCache(options: { max: number; now: () => number }): ReplayCache {
  let forgottenUpTo = -Infinity;
  // The verifier's clock drives expiry (tests control it); no timers: stale entries go when looked at or evicted.
  const accepted = new LRUCache<string, number>({
    max: options.max,
    perf: { now: options.now },
    ttlResolution: 0,
    // Evicted for room (not expired, not replaced): the jti it held can no longer be recognised.
    dispose: (iat, _jti, reason) => {
      if (reason === "evict") forgottenUpTo = Math.max(forgottenUpTo, iat);
    },
  });
  return {
    seen: (jti, iat) => iat <= forgottenUpTo || accepted.has(jti),
    remember(jti, iat, exp) {
      accepted.set(jti, iat, { ttl: Math.max(1, exp * 1000 + KEPT_AFTER_EXPIRY_MS - options.now()) });
    },
  };
}
