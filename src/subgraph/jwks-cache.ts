// keyway's public keys as a subgraph sees them.
//
// The set is fetched again once the max-age of keyway's Cache-Control runs out
// (keyway sends 15 s), so a key keyway stopped publishing — retired, or pulled
// because it leaked — stops verifying here within that. A token naming a kid the
// set lacks makes it fetch again too, but at most once per minRefetchIntervalMs
// (10 s) whatever the kids, so forged kids cannot make subgraphs hammer keyway.
// That bound loses no genuine kid: keyway publishes a key at least 25 s before any
// instance signs with it (src/token/key-rotation.ts: ACTIVATION_DELAY_MS, less one
// reload), so every fetch made in the 10 s before its first use already had it.
// A fetch that fails keeps the keys already known (a JWKS outage fails nothing
// signed with them) and is tried again after minRefetchIntervalMs.
import { createPublicKey, type JsonWebKey } from "node:crypto";
import type { SigningAlgorithm, VerificationKey } from "../token/jwt-verify";

export interface JwksCacheOptions {
  jwksUrl: string;
  fetch?: typeof fetch;
  /** At most one fetch per this many ms for unknown kids, and as the floor of max-age (default 10 000). */
  minRefetchIntervalMs?: number;
  timeoutMs?: number;
  /** Milliseconds since the epoch; a test's clock. */
  now?: () => number;
}

export interface JwksCache {
  /** The key for this kid from a set within its max-age; an unknown kid looks the set up again when the rate allows. */
  resolve(kid: string): Promise<VerificationKey | undefined>;
  /** The key if already cached; never fetches. */
  peek: (kid: string) => VerificationKey | undefined;
}

const ALGORITHMS = new Set<SigningAlgorithm>(["ES256", "RS256"]);
/** When the JWKS answer says nothing about caching. */
const DEFAULT_MAX_AGE_MS = 60_000;
/** A proxy's day-long max-age must not keep a pulled key trusted for a day. */
const LONGEST_MAX_AGE_MS = 600_000;

export function createJwksCache(options: JwksCacheOptions): JwksCache {
  const fetchImpl = options.fetch ?? fetch;
  const now = options.now ?? Date.now;
  const minInterval = options.minRefetchIntervalMs ?? 10_000;
  let keys = new Map<string, VerificationKey>();
  let staleAt = -Infinity;
  let lastAttempt = -Infinity;
  let inFlight: Promise<void> | null = null;

  /** Replaces the set with the JWKS's; returns how long the answer stays fresh. */
  const fetchKeys = async (): Promise<number> => {
    const response = await fetchImpl(options.jwksUrl, { signal: AbortSignal.timeout(options.timeoutMs ?? 3000) });
    if (!response.ok) throw new Error(`JWKS answered ${response.status}`);
    const body = (await response.json()) as { keys?: unknown };
    if (!Array.isArray(body?.keys)) throw new Error("JWKS answer without a keys array");
    const next = new Map<string, VerificationKey>();
    for (const jwk of body.keys as Array<JsonWebKey & { kid?: unknown; alg?: unknown }>) {
      if (typeof jwk?.kid !== "string" || !ALGORITHMS.has(jwk.alg as SigningAlgorithm)) continue;
      try {
        next.set(jwk.kid, {
          alg: jwk.alg as SigningAlgorithm,
          publicKey: createPublicKey({ key: jwk, format: "jwk" }),
        });
      } catch {
        // One unreadable key does not take the others down with it.
      }
    }
    keys = next;
    return maxAgeOf(response.headers.get("cache-control"));
  };

  const refresh = (): Promise<void> => {
    if (inFlight === null) {
      const startedAt = now();
      lastAttempt = startedAt;
      inFlight = fetchKeys()
        .then(
          (maxAge) => void (staleAt = startedAt + Math.min(Math.max(maxAge, minInterval), LONGEST_MAX_AGE_MS)),
          () => void (staleAt = startedAt + minInterval),
        )
        .finally(() => (inFlight = null));
    }
    return inFlight;
  };

  return {
    peek: (kid) => keys.get(kid),
    async resolve(kid) {
      if (now() >= staleAt) await refresh();
      // A fetch under way may be the one that brings this kid.
      if (!keys.has(kid) && (inFlight !== null || now() - lastAttempt >= minInterval)) await refresh();
      return keys.get(kid);
    },
  };
}

/** Cache-Control's max-age in ms; no-store/no-cache as 0; absent as the default. */
function maxAgeOf(cacheControl: string | null): number {
  if (cacheControl === null) return DEFAULT_MAX_AGE_MS;
  if (/(?:^|,)\s*no-(?:store|cache)\b/i.test(cacheControl)) return 0;
  const maxAge = /(?:^|,)\s*max-age\s*=\s*"?(\d+)"?/i.exec(cacheControl);
  return maxAge ? Number(maxAge[1]) * 1000 : DEFAULT_MAX_AGE_MS;
}
