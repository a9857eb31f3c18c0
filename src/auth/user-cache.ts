// Active users recently read, so an authenticated request (`me`, the live grants
// authorization reads) does not pay a database round trip for a row that seldom
// changes: emails cannot be changed; roles, email verification and being disabled can.
//
// Why serving a cached row is safe: whoever changes those columns (keyway, the CLI,
// SQL by hand) stamps the row (migration user_changed_txid), and the change feed
// (shared-state/change-feed.ts) makes every instance forget the user — here at once,
// elsewhere within the revocation bound (published through Redis, else polled). A
// row read before such a forget is not kept (the epoch below). Disabling a user also
// ends their sessions, so their tokens are refused before this cache is consulted.
// The TTL bounds what the feed cannot report: a deleted user, a feed that failed.
import { LRUCache } from "lru-cache";
import type { UserRecord } from "../users/user.store";

export interface UserCache {
  /** The user remembered for `userId`, if remembered less than the TTL before `now` (ms). */
  get(userId: string, now: number): UserRecord | undefined;
  /**
   * For a row just read as active. `readSince` is the `epoch` taken before the
   * read: if any user was forgotten meanwhile, the row may predate that and is
   * not kept.
   */
  remember(user: UserRecord, now: number, readSince: number): void;
  /** Drops the entry; call wherever a user is disabled or deleted. */
  forget(userId: string): void;
  /** Changes on every `forget`. */
  readonly epoch: number;
  readonly size: number;
}

export interface UserCacheOptions {
  /** Least recently used entries are dropped beyond this many. */
  maxEntries: number;
  ttlMs: number;
}

interface Entry {
  user: Readonly<UserRecord>;
  storedAt: number;
}

export function createUserCache(options: UserCacheOptions): UserCache {
  // lru-cache keeps the bound and the recency; the age check is ours, against the caller's clock.
  const entries = new LRUCache<string, Entry>({ max: options.maxEntries });
  let epoch = 0;
  return {
    get(userId, now) {
      const entry = entries.get(userId);
      if (!entry) return undefined;
      if (now - entry.storedAt >= options.ttlMs || now < entry.storedAt) {
        entries.delete(userId);
        return undefined;
      }
      // A copy per caller: GraphQL layers (federation's entity resolution) annotate what they are given.
      return { ...entry.user };
    },
    remember(user, now, readSince) {
      if (readSince !== epoch || user.disabledAt) return;
      // Frozen: what is kept for every request of this user cannot be changed through one of them.
      entries.set(user.id, {
        user: Object.freeze({ ...user, roles: Object.freeze([...user.roles]) }) as typeof user,
        storedAt: now,
      });
    },
    forget(userId) {
      epoch++;
      entries.delete(userId);
    },
    get epoch() {
      return epoch;
    },
    get size() {
      return entries.size;
    },
  };
}
