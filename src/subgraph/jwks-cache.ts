// keyway's public keys as a subgraph sees them: fetched once, kept, and fetched
// again only when a token names a key the cache does not know (key rotation). An
// outage of the JWKS endpoint therefore fails nothing signed with a known key.
import { createPublicKey, type JsonWebKey } from "node:crypto";
import type { SigningAlgorithm, VerificationKey } from "../token/jwt-verify";

export interface JwksCacheOptions {
  jwksUrl: string;
  fetch?: typeof fetch;
  /** Unknown kids trigger at most one refetch per this many ms (default 1000), so forged kids cannot flood keyway. */
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
const MAX_UNKNOWN_KIDS = 1000;

export function createJwksCache(options: JwksCacheOptions): JwksCache {
  const fetchImpl = options.fetch ?? fetch;
  const minInterval = options.minRefetchIntervalMs ?? 1000;
  let keys = new Map<string, VerificationKey>();
  // Kids a refetch did not turn up: asked once each, then refused without fetching (bounded).
  const unknown = new Set<string>();
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
    // New keys may be the ones a remembered kid was waiting for.
    if ([...next.keys()].some((kid) => !keys.has(kid))) unknown.clear();
    keys = next;
  };

  return {
    peek: (kid) => keys.get(kid),
    async resolve(kid) {
      if (keys.has(kid) || unknown.has(kid)) return keys.get(kid);
      if (inFlight === null) {
        if (Date.now() - lastFetch < minInterval) return undefined;
        lastFetch = Date.now();
        inFlight = refresh().finally(() => (inFlight = null));
      }
      await inFlight.catch(() => undefined);
      const found = keys.get(kid);
      if (!found && unknown.size < MAX_UNKNOWN_KIDS) unknown.add(kid);
      return found;
    },
  };
}
