// Active users recently read for `me`, so an authenticated request does not pay
// a database round trip for a row that almost never changes (emails cannot be
// changed; the only change is being disabled or deleted).
//
// Why serving a cached row is safe: `me` runs only for an access token whose
// session is not on the revocation list, and disabling a user ends their
// sessions (AuthService.disableUser), which puts them on that list — here at
// once, on other instances within the revocation sync's delay. So a disabled
// user is refused before this cache is consulted. The entry is also forgotten
// in this process, and the TTL bounds how long a row changed behind keyway's
// back (a disable by hand in SQL that ends no session) can still be served.
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
