// Ended sessions whose access tokens may still be unexpired. Checked on every
// authenticated request without touching the database; an entry is only needed
// for one access-token lifetime after the session ended.
export interface RevocationList {
  add(sessionId: string): void;
  has(sessionId: string): boolean;
  readonly size: number;
}

export interface RevocationListOptions {
  /** How long an entry must be kept: the access-token lifetime plus clock tolerance. */
  retentionMs: number;
  now(): number;
}

export function createRevocationList(options: RevocationListOptions): RevocationList {
  // Insertion order is expiry order (constant retention), so pruning stops at the first live entry.
  const expiries = new Map<string, number>();
  const prune = () => {
    const now = options.now();
    for (const [sessionId, expiresAt] of expiries) {
      if (expiresAt > now) break;
      expiries.delete(sessionId);
    }
  };
  return {
    add(sessionId) {
      prune();
      // Kept from when it was first heard of: hearing again (every poll while a long
      // transaction holds the poll's horizon back, or Redis and the poll both) must
      // not keep an entry forever.
      if (!expiries.has(sessionId)) expiries.set(sessionId, options.now() + options.retentionMs);
    },
    has: (sessionId) => expiries.has(sessionId),
    get size() {
      return expiries.size;
    },
  };
}
