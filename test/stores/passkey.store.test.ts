// What every PasskeyStore promises, on PGlite and on PostgreSQL: a challenge
// claimed once and only for its purpose, one row per credential id, a counter
// raised by compare-and-set so one assertion is recorded once, and changes only
// by a passkey's owner.
import { randomBytes, randomUUID } from "node:crypto";
import type { ChallengePurpose, NewPasskey } from "../../src/mfa/passkey.store";
import { STORE_DATABASES, useStores } from "./stores";

const T0 = new Date(Date.UTC(2030, 0, 1));
const at = (seconds: number) => new Date(T0.getTime() + seconds * 1000);
const hash = () => randomBytes(32).toString("hex");
const credentialId = () => randomBytes(32).toString("base64url");
const race = <T>(count: number, attempt: () => Promise<T>) => Promise.all(Array.from({ length: count }, attempt));

describe.each(STORE_DATABASES)("PasskeyStore on %s", (kind) => {
  const fixture = useStores(kind);
  const stores = () => fixture().stores;
  const passkeys = () => stores().passkeys;

  async function user() {
    return (await stores().users.create({ email: `passkey-${randomUUID()}@example.io`, passwordHash: "x" }))!.id;
  }

  const newPasskey = (userId: string, overrides: Partial<NewPasskey> = {}): NewPasskey => ({
    userId,
    credentialId: credentialId(),
    publicKey: new Uint8Array(randomBytes(77)),
    counter: 0,
    transports: ["internal", "hybrid"],
    deviceType: "multiDevice",
    backedUp: true,
    name: null,
    createdAt: T0,
    ...overrides,
  });

  async function added(userId: string, overrides: Partial<NewPasskey> = {}) {
    const passkey = await passkeys().addPasskey(newPasskey(userId, overrides));
    expect(passkey).not.toBeNull();
    return passkey!;
  }

  describe("challenges", () => {
    async function challenge(purpose: ChallengePurpose, userId: string | null, expiresAt = at(300)) {
      const challengeHash = hash();
      await passkeys().createChallenge({ challengeHash, purpose, userId, now: T0, expiresAt });
      return challengeHash;
    }

    it("is claimed once, saying whom a registration is for", async () => {
      const userId = await user();
      const register = await challenge("register", userId);
      expect(await passkeys().claimChallenge(register, "register", at(10))).toEqual({ userId });
      expect(await passkeys().claimChallenge(register, "register", at(11))).toBeUndefined();

      const authenticate = await challenge("authenticate", null);
      expect(await passkeys().claimChallenge(authenticate, "authenticate", at(10))).toEqual({ userId: null });
      expect(await passkeys().claimChallenge(authenticate, "authenticate", at(11))).toBeUndefined();
      expect(await passkeys().claimChallenge(hash(), "authenticate", at(10))).toBeUndefined();
    });

    it("is claimed by exactly one of many concurrent callers", async () => {
      const register = await challenge("register", await user());
      const claims = await race(8, () => passkeys().claimChallenge(register, "register", at(10)));
      expect(claims.filter((claim) => claim !== undefined)).toHaveLength(1);
    });

    it("is not claimed for the other purpose, which leaves it to be claimed for its own", async () => {
      const userId = await user();
      const register = await challenge("register", userId);
      expect(await passkeys().claimChallenge(register, "authenticate", at(10))).toBeUndefined();
      const authenticate = await challenge("authenticate", null);
      expect(await passkeys().claimChallenge(authenticate, "register", at(10))).toBeUndefined();
      expect(await passkeys().claimChallenge(register, "register", at(10))).toEqual({ userId });
      expect(await passkeys().claimChallenge(authenticate, "authenticate", at(10))).toEqual({ userId: null });
    });

    it("is not claimed once expired", async () => {
      const expiring = await challenge("authenticate", null, at(300));
      expect(await passkeys().claimChallenge(expiring, "authenticate", at(300))).toBeUndefined();
      expect(await passkeys().claimChallenge(expiring, "authenticate", at(299))).toEqual({ userId: null });
    });
  });

  describe("addPasskey", () => {
    it("stores a passkey with exactly the record's fields, found by its credential id", async () => {
      const userId = await user();
      // The largest counter an authenticator can send (32 bits unsigned).
      const input = newPasskey(userId, { counter: 4_294_967_295, name: "Laptop" });
      const passkey = await passkeys().addPasskey(input);
      expect(passkey).toEqual({ ...input, id: expect.any(String), lastUsedAt: null });
      expect(passkey!.publicKey).toBeInstanceOf(Uint8Array);
      expect(await passkeys().findByCredentialId(input.credentialId)).toEqual(passkey);
      expect(await passkeys().findByCredentialId(credentialId())).toBeNull();
    });

    it("answers null for a credential id registered already, by anyone, and one of many concurrent adds wins", async () => {
      const owner = await user();
      const first = await added(owner);
      expect(await passkeys().addPasskey(newPasskey(owner, { credentialId: first.credentialId }))).toBeNull();
      expect(await passkeys().addPasskey(newPasskey(await user(), { credentialId: first.credentialId }))).toBeNull();
      expect(await passkeys().findByCredentialId(first.credentialId)).toEqual(first);

      const raced = credentialId();
      const claimants = await Promise.all([1, 2, 3, 4].map(() => user()));
      const results = await Promise.all(
        claimants.map((userId) => passkeys().addPasskey(newPasskey(userId, { credentialId: raced }))),
      );
      const winners = results.filter((result) => result !== null);
      expect(winners).toHaveLength(1);
      expect(await passkeys().findByCredentialId(raced)).toEqual(winners[0]);
    });

    it("answers null for a disabled or unknown user, storing nothing", async () => {
      const disabled = await user();
      await stores().users.disable(disabled, T0);
      const refused = newPasskey(disabled);
      expect(await passkeys().addPasskey(refused)).toBeNull();
      expect(await passkeys().findByCredentialId(refused.credentialId)).toBeNull();
      expect(await passkeys().listPasskeys(disabled)).toEqual([]);

      const orphan = newPasskey(randomUUID());
      expect(await passkeys().addPasskey(orphan)).toBeNull();
      expect(await passkeys().findByCredentialId(orphan.credentialId)).toBeNull();
    });
  });

  it("lists a user's passkeys oldest first, and no one else's", async () => {
    const owner = await user();
    const newer = await added(owner, { createdAt: at(60) });
    const older = await added(owner, { createdAt: at(0) });
    await added(await user(), { createdAt: at(30) });
    expect(await passkeys().listPasskeys(owner)).toEqual([older, newer]);
    expect(await passkeys().listPasskeys(await user())).toEqual([]);
  });

  describe("recordUse (compare-and-set on the counter)", () => {
    it("records the counter, backup state and time when the counter is the expected one", async () => {
      const passkey = await added(await user(), { counter: 5, backedUp: false });
      expect(await passkeys().recordUse(passkey.id, 4, { counter: 6, backedUp: true, now: at(10) })).toBe(false);
      expect(await passkeys().findByCredentialId(passkey.credentialId)).toEqual(passkey);

      expect(await passkeys().recordUse(passkey.id, 5, { counter: 6, backedUp: true, now: at(10) })).toBe(true);
      expect(await passkeys().findByCredentialId(passkey.credentialId)).toEqual({
        ...passkey,
        counter: 6,
        backedUp: true,
        lastUsedAt: at(10),
      });
      // The counter it was checked against is stale now.
      expect(await passkeys().recordUse(passkey.id, 5, { counter: 7, backedUp: true, now: at(20) })).toBe(false);
    });

    it("records one assertion for exactly one of many concurrent callers", async () => {
      const passkey = await added(await user(), { counter: 5 });
      const uses = await race(8, () =>
        passkeys().recordUse(passkey.id, 5, { counter: 6, backedUp: true, now: at(10) }),
      );
      expect(uses.filter(Boolean)).toHaveLength(1);
      expect((await passkeys().findByCredentialId(passkey.credentialId))?.counter).toBe(6);
    });

    it("answers false for a removed passkey", async () => {
      const owner = await user();
      const passkey = await added(owner);
      await passkeys().removePasskey(owner, passkey.id);
      expect(await passkeys().recordUse(passkey.id, 0, { counter: 0, backedUp: true, now: at(10) })).toBe(false);
    });
  });

  it("renames only the owner's passkey, answering it as it is after", async () => {
    const owner = await user();
    const passkey = await added(owner);
    expect(await passkeys().renamePasskey(await user(), passkey.id, "Stolen")).toBeNull();
    expect(await passkeys().renamePasskey(owner, randomUUID(), "Nothing")).toBeNull();
    expect(await passkeys().findByCredentialId(passkey.credentialId)).toEqual(passkey);

    expect(await passkeys().renamePasskey(owner, passkey.id, "Phone")).toEqual({ ...passkey, name: "Phone" });
    expect(await passkeys().renamePasskey(owner, passkey.id, null)).toEqual({ ...passkey, name: null });
  });

  it("adds no passkey past maxPerUser, even for racing additions", async () => {
    const owner = await user();
    const results = await race(6, () => passkeys().addPasskey(newPasskey(owner), null, 2));
    expect(results.filter((result) => result !== null)).toHaveLength(2);
    expect(await passkeys().listPasskeys(owner)).toHaveLength(2);
    expect(await passkeys().addPasskey(newPasskey(owner), null, 3)).not.toBeNull();
  });

  it("removes only the owner's passkey, once", async () => {
    const owner = await user();
    const passkey = await added(owner);
    expect(await passkeys().removePasskey(await user(), passkey.id)).toBe(false);
    expect(await passkeys().findByCredentialId(passkey.credentialId)).toEqual(passkey);
    expect(await passkeys().removePasskey(owner, passkey.id)).toBe(true);
    expect(await passkeys().findByCredentialId(passkey.credentialId)).toBeNull();
    expect(await passkeys().removePasskey(owner, passkey.id)).toBe(false);
  });

  it("queues a notice with an addition and a removal, and none with a refusal", async () => {
    const owner = await user();
    const recipient = `notice-${randomUUID()}@example.io`;
    const notice = (kind: "passkey-added" | "passkey-removed") => ({
      mail: { kind, recipient, discardAfter: at(3600) },
      now: T0,
    });
    const passkey = await passkeys().addPasskey(newPasskey(owner), notice("passkey-added"));
    expect(passkey).not.toBeNull();
    // A duplicate id is refused: its notice goes with the rolled-back insert.
    expect(
      await passkeys().addPasskey(newPasskey(owner, { credentialId: passkey!.credentialId }), notice("passkey-added")),
    ).toBeNull();
    expect(await passkeys().removePasskey(await user(), passkey!.id, notice("passkey-removed"))).toBe(false);
    expect(await passkeys().removePasskey(owner, passkey!.id, notice("passkey-removed"))).toBe(true);
    const mails = await fixture().database.prisma.mail.findMany({ where: { recipient }, orderBy: { kind: "asc" } });
    expect(mails.map((mail) => [mail.kind, mail.createdAt.getTime(), mail.linkId])).toEqual([
      ["passkey-added", T0.getTime(), null],
      ["passkey-removed", T0.getTime(), null],
    ]);
  });
});

describe.each(STORE_DATABASES)("PasskeyStore purge on %s (a database of its own, so counts are exact)", (kind) => {
  const fixture = useStores(kind);

  it("deletes challenges expired before the cut-off, used or not, and only those", async () => {
    const { passkeys } = fixture().stores;
    const create = async (expiresAt: Date, usedAt?: Date) => {
      const challengeHash = hash();
      await passkeys.createChallenge({ challengeHash, purpose: "authenticate", userId: null, now: T0, expiresAt });
      if (usedAt) expect(await passkeys.claimChallenge(challengeHash, "authenticate", usedAt)).toBeDefined();
      return challengeHash;
    };
    await create(at(100)); // expired before the cut-off
    await create(at(150), at(50)); // used, and expired before it
    const usedBefore = await create(at(1000), at(50)); // used before it, alive still: purged once it expires
    const usedAfter = await create(at(1000), at(500));
    const open = await create(at(1000));
    const expiresAfter = await create(at(300));

    expect(await passkeys.purgeChallenges(at(200))).toBe(2);
    const left = await fixture().database.prisma.passkeyChallenge.findMany({ select: { challengeHash: true } });
    expect(left.map((row) => row.challengeHash).sort()).toEqual([usedBefore, usedAfter, open, expiresAfter].sort());
    expect(await passkeys.purgeChallenges(at(200))).toBe(0);
  });
});
