// The identities a subgraph has accepted, each remembered until it expires, so
// that each is accepted once. Bounded: when full, the least recently accepted is
// forgotten — at the default size that takes more than 100 000 identities within
// one identity's life (30 s), over 3 000 requests a second to one process, and
// even then the forgotten one has usually expired already.
import { LRUCache } from "lru-cache";

export interface ReplayCache {
  /** Whether this jti was accepted before and has not expired since. */
  seen(jti: string): boolean;
  /** Remembers an accepted jti until `exp` (seconds), as long as the verifier would still accept it. */
  remember(jti: string, exp: number): void;
}

export const DEFAULT_REPLAY_CACHE_SIZE = 100_000;
/** jwt-verify accepts a token up to 1 s past `exp` (clock tolerance); kept a little longer. */
const KEPT_AFTER_EXPIRY_MS = 5_000;

export function createReplayCache(options: { max: number; now: () => number }): ReplayCache {
  // The verifier's clock drives expiry (tests control it); no timers: stale entries go when looked at or evicted.
  const accepted = new LRUCache<string, true>({ max: options.max, perf: { now: options.now }, ttlResolution: 0 });
  return {
    seen: (jti) => accepted.has(jti),
    remember(jti, exp) {
      accepted.set(jti, true, { ttl: Math.max(1, exp * 1000 + KEPT_AFTER_EXPIRY_MS - options.now()) });
    },
  };
}
