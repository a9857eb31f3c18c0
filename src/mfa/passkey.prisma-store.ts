import type { PrismaClient } from "../generated/prisma/client";
import { queueNotice } from "./mfa.prisma-store";
import type { PasskeyRecord, PasskeyStore } from "./passkey.store";

const PASSKEY_SELECT = {
  id: true,
  userId: true,
  credentialId: true,
  publicKey: true,
  counter: true,
  transports: true,
  deviceType: true,
  backedUp: true,
  name: true,
  createdAt: true,
  lastUsedAt: true,
} as const;

type Row = Omit<PasskeyRecord, "counter"> & { counter: bigint };

const toRecord = (row: Row): PasskeyRecord => ({
  ...row,
  publicKey: new Uint8Array(row.publicKey),
  counter: Number(row.counter),
});

const isUniqueViolation = (error: unknown): boolean =>
  typeof error === "object" && error !== null && (error as { code?: unknown }).code === "P2002";

export function createPrismaPasskeyStore(prisma: PrismaClient): PasskeyStore {
  return {
    async createChallenge({ challengeHash, purpose, userId, now, expiresAt }) {
      await prisma.passkeyChallenge.create({
        data: { challengeHash, purpose, userId, createdAt: now, expiresAt },
        select: { id: true },
      });
    },

    async claimChallenge(challengeHash, purpose, now) {
      const [claimed] = await prisma.$queryRaw<Array<{ userId: string | null }>>`
        UPDATE "PasskeyChallenge" SET "usedAt" = ${now}
        WHERE "challengeHash" = ${challengeHash} AND "purpose" = ${purpose}
          AND "usedAt" IS NULL AND "expiresAt" > ${now}
        RETURNING "userId"::text AS "userId"`;
      return claimed;
    },

    // Used or not, a challenge is dead once expired (5 minutes): one indexed condition finds them all.
    async purgeChallenges(before) {
      const { count } = await prisma.passkeyChallenge.deleteMany({ where: { expiresAt: { lt: before } } });
      return count;
    },

    async addPasskey(passkey, notice, maxPerUser = Infinity) {
      try {
        return await prisma.$transaction(async (tx) => {
          const [user] = await tx.$queryRaw<Array<{ id: string }>>`
            SELECT "id"::text FROM "User" WHERE "id" = ${passkey.userId}::uuid AND "disabledAt" IS NULL FOR UPDATE`;
          if (!user) return null;
          if ((await tx.passkey.count({ where: { userId: passkey.userId } })) >= maxPerUser) return null;
          const row = await tx.passkey.create({
            data: { ...passkey, publicKey: Buffer.from(passkey.publicKey), counter: BigInt(passkey.counter) },
            select: PASSKEY_SELECT,
          });
          await queueNotice(tx, notice);
          return toRecord(row);
        });
      } catch (error) {
        if (isUniqueViolation(error)) return null;
        throw error;
      }
    },

    async findByCredentialId(credentialId) {
      const row = await prisma.passkey.findUnique({ where: { credentialId }, select: PASSKEY_SELECT });
      return row && toRecord(row);
    },

    async listPasskeys(userId) {
      const rows = await prisma.passkey.findMany({
        where: { userId },
        orderBy: [{ createdAt: "asc" }, { id: "asc" }],
        select: PASSKEY_SELECT,
      });
      return rows.map(toRecord);
    },

    async recordUse(id, expectedCounter, { counter, backedUp, now }) {
      const { count } = await prisma.passkey.updateMany({
        where: { id, counter: BigInt(expectedCounter) },
        data: { counter: BigInt(counter), backedUp, lastUsedAt: now },
      });
      return count === 1;
    },

    async renamePasskey(userId, id, name) {
      const { count } = await prisma.passkey.updateMany({ where: { id, userId }, data: { name } });
      if (count === 0) return null;
      const row = await prisma.passkey.findUnique({ where: { id }, select: PASSKEY_SELECT });
      return row && toRecord(row);
    },

    removePasskey: (userId, id, notice) =>
      prisma.$transaction(async (tx) => {
        const { count } = await tx.passkey.deleteMany({ where: { id, userId } });
        if (count === 1) await queueNotice(tx, notice);
        return count === 1;
      }),
  };
}
