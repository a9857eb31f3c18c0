// What every MfaStore promises, on PGlite and on PostgreSQL: one pending secret at
// a time and never one over an enabled factor, a confirmation that brings its
// recovery codes in one transaction, and uses (a step, a recovery code, a
// challenge) that exactly one of many racing callers wins.
import { randomBytes, randomUUID } from "node:crypto";
import type { NewChallenge } from "../../src/mfa/mfa.store";
import { STORE_DATABASES, useStores } from "./stores";

const T0 = new Date(Date.UTC(2030, 0, 1));
const at = (seconds: number) => new Date(T0.getTime() + seconds * 1000);
const hash = () => randomBytes(32).toString("hex");
const hashes = (count: number) => Array.from({ length: count }, hash);
const race = <T>(count: number, attempt: () => Promise<T>) => Promise.all(Array.from({ length: count }, attempt));

describe.each(STORE_DATABASES)("MfaStore on %s", (kind) => {
  const fixture = useStores(kind);
  const stores = () => fixture().stores;
  const mfa = () => stores().mfa;
  const prisma = () => fixture().database.prisma;

  async function user() {
    return (await stores().users.create({ email: `mfa-${randomUUID()}@example.io`, passwordHash: "x" }))!.id;
  }

  /** A user with TOTP enabled at `step`, and these recovery codes. */
  async function enrolled(codeHashes = hashes(3), step = 100) {
    const userId = await user();
    expect(await mfa().startTotp(userId, "sealed", T0)).toBe(true);
    expect(await mfa().confirmTotp(userId, "sealed", step, codeHashes, T0)).toBe(true);
    return userId;
  }

  const challenge = (userId: string, overrides: Partial<NewChallenge> = {}): NewChallenge => ({
    userId,
    tokenHash: hash(),
    amr: ["pwd"],
    passwordTag: hash(),
    now: T0,
    expiresAt: at(300),
    ...overrides,
  });

  describe("startTotp", () => {
    it("stores a pending secret, and a second start replaces a pending one", async () => {
      const userId = await user();
      expect(await mfa().findTotp(userId)).toBeNull();
      expect(await mfa().startTotp(userId, "first", T0)).toBe(true);
      expect(await mfa().findTotp(userId)).toEqual({ sealedSecret: "first", enabled: false, lastUsedStep: null });
      expect(await mfa().hasTotp(userId)).toBe(false);

      expect(await mfa().startTotp(userId, "second", at(60))).toBe(true);
      expect(await mfa().findTotp(userId)).toEqual({ sealedSecret: "second", enabled: false, lastUsedStep: null });
      // The replaced secret can no longer be confirmed; the new one can.
      expect(await mfa().confirmTotp(userId, "first", 100, hashes(1), at(60))).toBe(false);
      expect(await mfa().confirmTotp(userId, "second", 100, hashes(1), at(60))).toBe(true);
    });

    it("refuses over an enabled factor, and for a disabled or unknown user", async () => {
      const userId = await enrolled();
      expect(await mfa().startTotp(userId, "other", at(60))).toBe(false);
      expect(await mfa().findTotp(userId)).toEqual({ sealedSecret: "sealed", enabled: true, lastUsedStep: 100 });

      const disabled = await user();
      await stores().users.disable(disabled, T0);
      expect(await mfa().startTotp(disabled, "sealed", T0)).toBe(false);
      expect(await mfa().findTotp(disabled)).toBeNull();

      expect(await mfa().startTotp(randomUUID(), "sealed", T0)).toBe(false);
    });
  });

  describe("confirmTotp", () => {
    it("enables the pending factor with its secret, recording the step and storing the codes", async () => {
      const userId = await user();
      await mfa().startTotp(userId, "sealed", T0);
      expect(await mfa().confirmTotp(userId, "not-the-secret", 100, hashes(3), T0)).toBe(false);
      expect(await mfa().hasTotp(userId)).toBe(false);
      expect(await mfa().countRecoveryCodes(userId)).toBe(0);

      expect(await mfa().confirmTotp(userId, "sealed", 100, hashes(3), T0)).toBe(true);
      expect(await mfa().findTotp(userId)).toEqual({ sealedSecret: "sealed", enabled: true, lastUsedStep: 100 });
      expect(await mfa().hasTotp(userId)).toBe(true);
      expect(await mfa().countRecoveryCodes(userId)).toBe(3);
      // Enabled, not pending: a later confirmation leaves it and its codes alone.
      expect(await mfa().confirmTotp(userId, "sealed", 101, hashes(5), at(60))).toBe(false);
      expect(await mfa().findTotp(userId)).toMatchObject({ lastUsedStep: 100 });
      expect(await mfa().countRecoveryCodes(userId)).toBe(3);
    });

    it("enables for exactly one of many concurrent confirmations, with that one's codes only", async () => {
      const userId = await user();
      await mfa().startTotp(userId, "sealed", T0);
      const results = await race(6, () => mfa().confirmTotp(userId, "sealed", 100, hashes(4), T0));
      expect(results.filter(Boolean)).toHaveLength(1);
      expect(await mfa().countRecoveryCodes(userId)).toBe(4);
    });

    it("needs a step later than a used one", async () => {
      // No store call leaves a used step on a pending factor (a start clears it), so
      // it is put there by hand: the guard must hold whatever the row says.
      const userId = await user();
      await mfa().startTotp(userId, "sealed", T0);
      await prisma().totpFactor.update({ where: { userId }, data: { lastUsedStep: 100 } });
      expect(await mfa().confirmTotp(userId, "sealed", 99, hashes(1), T0)).toBe(false);
      expect(await mfa().confirmTotp(userId, "sealed", 100, hashes(1), T0)).toBe(false);
      expect(await mfa().hasTotp(userId)).toBe(false);
      expect(await mfa().confirmTotp(userId, "sealed", 101, hashes(1), T0)).toBe(true);
      expect(await mfa().findTotp(userId)).toMatchObject({ enabled: true, lastUsedStep: 101 });
    });

    it("replaces the user's recovery codes, and fails whole when the new ones cannot be stored", async () => {
      const userId = await user();
      await mfa().startTotp(userId, "sealed", T0);
      // Left from earlier (by hand: removeTotp deletes codes with the factor).
      const leftover = hash();
      await prisma().recoveryCode.create({ data: { userId, codeHash: leftover } });

      // The same hash twice breaks the (userId, codeHash) index mid-way.
      const duplicate = hash();
      await expect(mfa().confirmTotp(userId, "sealed", 100, [hash(), duplicate, duplicate], T0)).rejects.toThrow();
      expect(await mfa().findTotp(userId)).toEqual({ sealedSecret: "sealed", enabled: false, lastUsedStep: null });
      expect(await prisma().recoveryCode.findMany({ where: { userId }, select: { codeHash: true } })).toEqual([
        { codeHash: leftover },
      ]);

      const fresh = hashes(2);
      expect(await mfa().confirmTotp(userId, "sealed", 100, fresh, T0)).toBe(true);
      expect(await mfa().countRecoveryCodes(userId)).toBe(2);
      expect(await mfa().useRecoveryCode(userId, leftover, T0)).toBe(false);
      expect(await mfa().useRecoveryCode(userId, fresh[0], T0)).toBe(true);
    });
  });

  describe("useTotpStep", () => {
    it("accepts only a step later than the last used one", async () => {
      const userId = await enrolled([], 100);
      expect(await mfa().useTotpStep(userId, 100)).toBe(false);
      expect(await mfa().useTotpStep(userId, 99)).toBe(false);
      expect(await mfa().useTotpStep(userId, 101)).toBe(true);
      expect(await mfa().useTotpStep(userId, 101)).toBe(false);
      expect(await mfa().findTotp(userId)).toMatchObject({ lastUsedStep: 101 });
    });

    it("accepts one step for exactly one of many concurrent callers", async () => {
      const userId = await enrolled([], 100);
      expect((await race(8, () => mfa().useTotpStep(userId, 101))).filter(Boolean)).toHaveLength(1);
      expect(await mfa().findTotp(userId)).toMatchObject({ lastUsedStep: 101 });
    });

    it("never moves back when different steps race: the latest is accepted and stays", async () => {
      const userId = await enrolled([], 100);
      const steps = [104, 101, 108, 102, 107, 103];
      const results = await Promise.all(steps.map((step) => mfa().useTotpStep(userId, step)));
      expect(results[steps.indexOf(108)]).toBe(true);
      expect(await mfa().findTotp(userId)).toMatchObject({ lastUsedStep: 108 });
    });

    it("refuses a pending factor and a user without one", async () => {
      const pending = await user();
      await mfa().startTotp(pending, "sealed", T0);
      expect(await mfa().useTotpStep(pending, 100)).toBe(false);
      expect(await mfa().findTotp(pending)).toMatchObject({ lastUsedStep: null });
      expect(await mfa().useTotpStep(await user(), 100)).toBe(false);
    });
  });

  describe("useRecoveryCode", () => {
    it("uses each of the user's codes once, counting what is left", async () => {
      const codes = hashes(3);
      const userId = await enrolled(codes);
      expect(await mfa().useRecoveryCode(userId, hash(), T0)).toBe(false);
      expect(await mfa().useRecoveryCode(userId, codes[1], T0)).toBe(true);
      expect(await mfa().useRecoveryCode(userId, codes[1], at(1))).toBe(false);
      expect(await mfa().countRecoveryCodes(userId)).toBe(2);
      // Another user's code is not this user's, even with the same hash.
      const other = await enrolled([codes[0]]);
      expect(await mfa().useRecoveryCode(other, codes[2], T0)).toBe(false);
      expect(await mfa().useRecoveryCode(other, codes[0], T0)).toBe(true);
      expect(await mfa().countRecoveryCodes(userId)).toBe(2);
    });

    it("uses a code for exactly one of many concurrent callers", async () => {
      const codes = hashes(2);
      const userId = await enrolled(codes);
      expect((await race(8, () => mfa().useRecoveryCode(userId, codes[0], T0))).filter(Boolean)).toHaveLength(1);
      expect(await mfa().countRecoveryCodes(userId)).toBe(1);
    });

    it("refuses a code while TOTP is not enabled: pending, or no factor at all", async () => {
      // Codes only ever come with a confirmation, so these are put in by hand: the
      // guard must hold whatever the rows say.
      const pending = await user();
      await mfa().startTotp(pending, "sealed", T0);
      const none = await user();
      for (const userId of [pending, none]) {
        const code = hash();
        await prisma().recoveryCode.create({ data: { userId, codeHash: code } });
        expect(await mfa().useRecoveryCode(userId, code, T0)).toBe(false);
        expect(await mfa().countRecoveryCodes(userId)).toBe(1);
      }
    });
  });

  describe("removeTotp", () => {
    it("removes the factor with its recovery codes and the user's open challenges, and no one else's", async () => {
      const userId = await enrolled(hashes(3));
      const other = await enrolled(hashes(2));
      const own = challenge(userId);
      const theirs = challenge(other);
      await mfa().createChallenge(own);
      await mfa().createChallenge(theirs);

      expect(await mfa().removeTotp(userId)).toBe(true);
      expect(await mfa().findTotp(userId)).toBeNull();
      expect(await mfa().hasTotp(userId)).toBe(false);
      expect(await mfa().countRecoveryCodes(userId)).toBe(0);
      expect(await prisma().recoveryCode.count({ where: { userId } })).toBe(0);
      expect(await mfa().findChallenge(own.tokenHash, T0)).toBeNull();
      expect(await prisma().mfaChallenge.count({ where: { userId } })).toBe(0);
      expect(await mfa().removeTotp(userId)).toBe(false);

      expect(await mfa().hasTotp(other)).toBe(true);
      expect(await mfa().countRecoveryCodes(other)).toBe(2);
      expect(await mfa().findChallenge(theirs.tokenHash, T0)).not.toBeNull();
    });

    it("queues its notice only when an enabled factor went", async () => {
      const recipient = `notice-${randomUUID()}@example.io`;
      const notice = { mail: { kind: "totp-disabled" as const, recipient, discardAfter: at(3600) }, now: T0 };
      const pending = await user();
      await mfa().startTotp(pending, "sealed", T0);
      expect(await mfa().removeTotp(pending, notice)).toBe(true);
      expect(await mfa().removeTotp(pending, notice)).toBe(false);
      expect(await prisma().mail.count({ where: { recipient } })).toBe(0);
      expect(await mfa().removeTotp(await enrolled(), notice)).toBe(true);
      expect(await prisma().mail.count({ where: { recipient } })).toBe(1);
    });

    it("removes a pending factor, after which a new enrolment starts afresh", async () => {
      const userId = await user();
      await mfa().startTotp(userId, "sealed", T0);
      expect(await mfa().removeTotp(userId)).toBe(true);
      expect(await mfa().findTotp(userId)).toBeNull();
      expect(await mfa().confirmTotp(userId, "sealed", 100, hashes(1), T0)).toBe(false);
      expect(await mfa().startTotp(userId, "again", T0)).toBe(true);
    });
  });

  describe("removeSecondFactors", () => {
    it("removes TOTP, codes, challenges and passkeys in one go, queuing the notice only if there was any", async () => {
      const userId = await enrolled(hashes(2));
      await mfa().createChallenge(challenge(userId));
      const passkey = await stores().passkeys.addPasskey({
        userId,
        credentialId: randomBytes(16).toString("base64url"),
        publicKey: randomBytes(77),
        counter: 0,
        transports: [],
        deviceType: "multiDevice",
        backedUp: true,
        name: null,
        createdAt: T0,
      });
      expect(passkey).not.toBeNull();
      const recipient = `notice-${randomUUID()}@example.io`;
      const notice = { mail: { kind: "second-factors-reset" as const, recipient, discardAfter: at(3600) }, now: T0 };
      expect(await mfa().removeSecondFactors(userId, notice)).toEqual({ totp: true, passkeys: 1 });
      expect(await mfa().findTotp(userId)).toBeNull();
      expect(await prisma().recoveryCode.count({ where: { userId } })).toBe(0);
      expect(await prisma().mfaChallenge.count({ where: { userId } })).toBe(0);
      expect(await stores().passkeys.listPasskeys(userId)).toEqual([]);
      expect(await mfa().removeSecondFactors(userId, notice)).toEqual({ totp: false, passkeys: 0 });
      expect(await prisma().mail.count({ where: { recipient } })).toBe(1);
    });
  });

  describe("challenges", () => {
    it("finds an open challenge by its hash, with exactly the record's fields", async () => {
      const userId = await user();
      const input = challenge(userId, { amr: ["email"] });
      await mfa().createChallenge(input);
      expect(await mfa().findChallenge(input.tokenHash, at(299))).toEqual({
        id: expect.any(String),
        userId,
        amr: ["email"],
        passwordTag: input.passwordTag,
      });
      expect(await mfa().findChallenge(hash(), T0)).toBeNull();
    });

    it("is used once, then no longer found", async () => {
      const userId = await user();
      const input = challenge(userId);
      await mfa().createChallenge(input);
      const { id } = (await mfa().findChallenge(input.tokenHash, T0))!;
      expect(await mfa().useChallenge(id, at(10))).toBe(true);
      expect(await mfa().useChallenge(id, at(11))).toBe(false);
      expect(await mfa().findChallenge(input.tokenHash, at(12))).toBeNull();
    });

    it("is used by exactly one of many concurrent callers", async () => {
      const userId = await user();
      const input = challenge(userId);
      await mfa().createChallenge(input);
      const { id } = (await mfa().findChallenge(input.tokenHash, T0))!;
      expect((await race(8, () => mfa().useChallenge(id, at(10)))).filter(Boolean)).toHaveLength(1);
    });

    it("is neither found nor used once expired", async () => {
      const userId = await user();
      const input = challenge(userId, { expiresAt: at(300) });
      await mfa().createChallenge(input);
      const { id } = (await mfa().findChallenge(input.tokenHash, at(299)))!;
      expect(await mfa().findChallenge(input.tokenHash, at(300))).toBeNull();
      expect(await mfa().useChallenge(id, at(300))).toBe(false);
      expect(await mfa().useChallenge(id, at(299))).toBe(true);
    });
  });
});

describe.each(STORE_DATABASES)("MfaStore purge on %s (a database of its own, so counts are exact)", (kind) => {
  const fixture = useStores(kind);

  it("deletes challenges used or expired before the cut-off, and only those", async () => {
    const { users, mfa } = fixture().stores;
    const userId = (await users.create({ email: `purge-${randomUUID()}@example.io`, passwordHash: "x" }))!.id;
    const create = async (expiresAt: Date, usedAt?: Date) => {
      const tokenHash = hash();
      await mfa.createChallenge({ userId, tokenHash, amr: ["pwd"], passwordTag: hash(), now: T0, expiresAt });
      if (usedAt) expect(await mfa.useChallenge((await mfa.findChallenge(tokenHash, T0))!.id, usedAt)).toBe(true);
      return tokenHash;
    };
    await create(at(100)); // expired before the cut-off
    await create(at(1000), at(50)); // used before it
    const usedAfter = await create(at(1000), at(500));
    const open = await create(at(1000));
    const expiresAfter = await create(at(300));

    expect(await mfa.purgeChallenges(at(200))).toBe(2);
    const left = await fixture().database.prisma.mfaChallenge.findMany({ select: { tokenHash: true } });
    expect(left.map((row) => row.tokenHash).sort()).toEqual([usedAfter, open, expiresAfter].sort());
    expect(await mfa.purgeChallenges(at(200))).toBe(0);
  });
});
