import { randomUUID } from "node:crypto";
import type { UserRecord as User } from "../../src/users/user.store";
import { createUserCache } from "../../src/auth/user-cache";

const T0 = Date.UTC(2030, 0, 1);
const TTL = 30_000;

const aUser = (overrides: Partial<User> = {}): User => ({
  id: randomUUID(),
  email: `${randomUUID()}@example.io`,
  passwordHash: "$argon2id$stub",
  disabledAt: null,
  roles: [],
  emailVerifiedAt: null,
  createdAt: new Date(T0),
  updatedAt: new Date(T0),
  ...overrides,
});

describe("user cache", () => {
  it("serves a remembered user until the TTL has passed, then not", () => {
    const cache = createUserCache({ maxEntries: 10, ttlMs: TTL });
    const user = aUser();
    cache.remember(user, T0, cache.epoch);
    expect(cache.get(user.id, T0 + TTL - 1)).toEqual(user);
    expect(cache.get(user.id, T0 + TTL)).toBeUndefined();
    // An expired entry is gone, not merely hidden.
    expect(cache.size).toBe(0);
  });

  it("does not serve an entry to a clock that went backwards", () => {
    const cache = createUserCache({ maxEntries: 10, ttlMs: TTL });
    const user = aUser();
    cache.remember(user, T0, cache.epoch);
    expect(cache.get(user.id, T0 - 1)).toBeUndefined();
  });

  it("never remembers a disabled user", () => {
    const cache = createUserCache({ maxEntries: 10, ttlMs: TTL });
    const user = aUser({ disabledAt: new Date(T0) });
    cache.remember(user, T0, cache.epoch);
    expect(cache.get(user.id, T0)).toBeUndefined();
  });

  it("forgets a user on request", () => {
    const cache = createUserCache({ maxEntries: 10, ttlMs: TTL });
    const user = aUser();
    cache.remember(user, T0, cache.epoch);
    cache.forget(user.id);
    expect(cache.get(user.id, T0)).toBeUndefined();
  });

  it("drops a row read before a forget that happened while the read was in flight", () => {
    const cache = createUserCache({ maxEntries: 10, ttlMs: TTL });
    const user = aUser();
    const readSince = cache.epoch;
    cache.forget(user.id); // e.g. disableUser ran between the read and its answer
    cache.remember(user, T0, readSince);
    expect(cache.get(user.id, T0)).toBeUndefined();
    cache.remember(user, T0, cache.epoch);
    expect(cache.get(user.id, T0)).toEqual(user);
  });

  it("keeps at most maxEntries, dropping the least recently used", () => {
    const cache = createUserCache({ maxEntries: 2, ttlMs: TTL });
    const [a, b, c] = [aUser(), aUser(), aUser()];
    cache.remember(a, T0, cache.epoch);
    cache.remember(b, T0, cache.epoch);
    expect(cache.get(a.id, T0)).toBeDefined(); // a is now more recent than b
    cache.remember(c, T0, cache.epoch);
    expect(cache.size).toBe(2);
    expect(cache.get(b.id, T0)).toBeUndefined();
    expect(cache.get(a.id, T0)).toBeDefined();
    expect(cache.get(c.id, T0)).toBeDefined();
  });

  it("hands each caller its own copy, so one request cannot change the row for the next", () => {
    const cache = createUserCache({ maxEntries: 10, ttlMs: TTL });
    const user = aUser();
    const email = user.email;
    cache.remember(user, T0, cache.epoch);
    const served = cache.get(user.id, T0)!;
    served.email = "changed-by-one-request@example.io";
    user.email = "changed-at-the-source@example.io";
    expect(cache.get(user.id, T0)?.email).toBe(email);
    expect(cache.get(user.id, T0)).not.toBe(cache.get(user.id, T0));
  });
});
