// keyway's public keys as a subgraph sees them: fetched once, kept, and fetched
// again only when a token names a key the cache does not know (key rotation). An
// outage of the JWKS endpoint therefore fails nothing signed with a known key.
import { createPublicKey, type JsonWebKey } from "node:crypto";
import type { SigningAlgorithm, VerificationKey } from "../token/jwt-verify";

export interface JwksCacheOptions {
  jwksUrl: string;
  fetch?: typeof fetch;
  /** Unknown kids trigger at most one refetch per this many ms (a flood of forged kids costs one request). */
  minRefetchIntervalMs?: number;
  timeoutMs?: number;
}

export interface JwksCache {
  /** The key for this kid, refetching the set once if it is unknown. */
  resolve(kid: string): Promise<VerificationKey | undefined>;
  /** The key if already cached; never fetches. */
  peek(kid: string): VerificationKey | undefined;
}

const ALGORITHMS = new Set<SigningAlgorithm>(["ES256", "RS256"]);

export function createJwksCache(options: JwksCacheOptions): JwksCache {
  const fetchImpl = options.fetch ?? fetch;
  const minInterval = options.minRefetchIntervalMs ?? 10_000;
  let keys = new Map<string, VerificationKey>();
  let lastFetch = 0;
  let inFlight: Promise<void> | null = null;

  const refresh = async () => {
    const response = await fetchImpl(options.jwksUrl, { signal: AbortSignal.timeout(options.timeoutMs ?? 3000) });
    if (!response.ok) throw new Error(`JWKS answered ${response.status}`);
    const body = (await response.json()) as { keys?: Array<JsonWebKey & { kid?: string; alg?: string }> };
    const next = new Map<string, VerificationKey>();
    for (const jwk of body.keys ?? []) {
      if (typeof jwk.kid !== "string" || !ALGORITHMS.has(jwk.alg as SigningAlgorithm)) continue;
      next.set(jwk.kid, { alg: jwk.alg as SigningAlgorithm, publicKey: createPublicKey({ key: jwk, format: "jwk" }) });
    }
    keys = next;
  };

  return {
    peek: (kid) => keys.get(kid),
    async resolve(kid) {
      const known = keys.get(kid);
      if (known) return known;
      if (Date.now() - lastFetch >= minInterval || keys.size === 0) {
        lastFetch = Date.now();
        inFlight ??= refresh().finally(() => (inFlight = null));
        await inFlight.catch(() => undefined);
      } else if (inFlight) {
        await inFlight.catch(() => undefined);
      }
      return keys.get(kid);
    },
  };
}
