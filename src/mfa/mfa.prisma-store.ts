import type { Prisma, PrismaClient } from "../generated/prisma/client";
import type { MfaStore, Notice } from "./mfa.store";

type Tx = Prisma.TransactionClient;

/** Queues a notice in the transaction of the change it tells of (the mail worker sends it). */
export async function queueNotice(tx: Tx, notice: Notice | null | undefined): Promise<void> {
  if (!notice) return;
  await tx.mail.create({
    data: { ...notice.mail, createdAt: notice.now, nextAttemptAt: notice.now },
    select: { id: true },
  });
}

export function createPrismaMfaStore(prisma: PrismaClient): MfaStore {
  return {
    startTotp: (userId, sealedSecret, now) =>
      prisma.$transaction(async (tx) => {
        // Locked: a confirmation racing this start either commits first (and this refuses) or waits.
        const [user] = await tx.$queryRaw<Array<{ confirmedAt: Date | null; found: number }>>`
          SELECT t."confirmedAt", 1 AS "found"
          FROM "User" u LEFT JOIN "TotpFactor" t ON t."userId" = u."id"
          WHERE u."id" = ${userId}::uuid AND u."disabledAt" IS NULL
          FOR UPDATE OF u`;
        if (!user || user.confirmedAt) return false;
        await tx.totpFactor.upsert({
          where: { userId },
          create: { userId, sealedSecret, createdAt: now },
          update: { sealedSecret, createdAt: now, lastUsedStep: null },
          select: { userId: true },
        });
        return true;
      }),

    async findTotp(userId) {
      const row = await prisma.totpFactor.findUnique({
        where: { userId },
        select: { sealedSecret: true, confirmedAt: true, lastUsedStep: true },
      });
      return (
        row && { sealedSecret: row.sealedSecret, enabled: row.confirmedAt !== null, lastUsedStep: row.lastUsedStep }
      );
    },

    async hasTotp(userId) {
      return (await prisma.totpFactor.count({ where: { userId, confirmedAt: { not: null } } })) === 1;
    },

    confirmTotp: (userId, sealedSecret, step, codeHashes, now, notice) =>
      prisma.$transaction(async (tx) => {
        // The lock startTotp takes: a start racing this confirmation waits, then sees it confirmed.
        await tx.$queryRaw`SELECT 1 FROM "User" WHERE "id" = ${userId}::uuid FOR UPDATE`;
        const { count } = await tx.totpFactor.updateMany({
          where: {
            userId,
            sealedSecret,
            confirmedAt: null,
            OR: [{ lastUsedStep: null }, { lastUsedStep: { lt: step } }],
          },
          data: { confirmedAt: now, lastUsedStep: step },
        });
        if (count === 0) return false;
        await tx.recoveryCode.deleteMany({ where: { userId } });
        await tx.recoveryCode.createMany({ data: codeHashes.map((codeHash) => ({ userId, codeHash })) });
        await queueNotice(tx, notice);
        return true;
      }),

    async useTotpStep(userId, step) {
      const { count } = await prisma.totpFactor.updateMany({
        where: { userId, confirmedAt: { not: null }, OR: [{ lastUsedStep: null }, { lastUsedStep: { lt: step } }] },
        data: { lastUsedStep: step },
      });
      return count === 1;
    },

    async useRecoveryCode(userId, codeHash, now) {
      const { count } = await prisma.recoveryCode.updateMany({
        where: { userId, codeHash, usedAt: null, user: { totp: { confirmedAt: { not: null } } } },
        data: { usedAt: now },
      });
      return count === 1;
    },

    removeTotp: (userId, notice) =>
      prisma.$transaction(async (tx) => {
        const enabled = await tx.totpFactor.count({ where: { userId, confirmedAt: { not: null } } });
        const { count } = await tx.totpFactor.deleteMany({ where: { userId } });
        await tx.recoveryCode.deleteMany({ where: { userId } });
        await tx.mfaChallenge.deleteMany({ where: { userId } });
        if (enabled === 1 && count === 1) await queueNotice(tx, notice);
        return count === 1;
      }),

    removeSecondFactors: (userId, notice) =>
      prisma.$transaction(async (tx) => {
        const { count: totp } = await tx.totpFactor.deleteMany({ where: { userId } });
        await tx.recoveryCode.deleteMany({ where: { userId } });
        await tx.mfaChallenge.deleteMany({ where: { userId } });
        const { count: passkeys } = await tx.passkey.deleteMany({ where: { userId } });
        if (totp + passkeys > 0) await queueNotice(tx, notice);
        return { totp: totp === 1, passkeys };
      }),

    countRecoveryCodes: (userId) => prisma.recoveryCode.count({ where: { userId, usedAt: null } }),

    async createChallenge({ userId, tokenHash, amr, passwordTag, now, expiresAt }) {
      await prisma.mfaChallenge.create({
        data: { userId, tokenHash, amr, passwordTag, createdAt: now, expiresAt },
        select: { id: true },
      });
    },

    findChallenge: (tokenHash, now) =>
      prisma.mfaChallenge.findFirst({
        where: { tokenHash, usedAt: null, expiresAt: { gt: now } },
        select: { id: true, userId: true, amr: true, passwordTag: true },
      }),

    async useChallenge(id, now) {
      const { count } = await prisma.mfaChallenge.updateMany({
        where: { id, usedAt: null, expiresAt: { gt: now } },
        data: { usedAt: now },
      });
      return count === 1;
    },

    async purgeChallenges(before) {
      const { count } = await prisma.mfaChallenge.deleteMany({
        where: { OR: [{ usedAt: { lt: before } }, { expiresAt: { lt: before } }] },
      });
      return count;
    },
  };
}
