import type { PrismaClient } from "../generated/prisma/client";
import type { SigningKeyStore } from "./signing-key.store";

/** An arbitrary constant naming the rotation's advisory lock among the database's. */
const KEY_ROTATION_LOCK = 7_152_025_002;

export function createPrismaSigningKeyStore(prisma: PrismaClient): SigningKeyStore {
  return {
    list: () =>
      prisma.signingKey.findMany({
        orderBy: { activatesAt: "asc" },
        select: { kid: true, sealedPrivateKey: true, activatesAt: true, retiredAt: true },
      }),

    rotate: (plan) =>
      prisma.$transaction(async (tx) => {
        // Two rotations at once would each retire only what they saw, and the one that
        // committed first would leave a key that never retires: one rotation at a time.
        await tx.$executeRaw`SELECT pg_advisory_xact_lock(${KEY_ROTATION_LOCK}::bigint)`;
        // The newest rotated key this root can open signs now or is about to; without one, the root does.
        const newest = await tx.signingKey.findFirst({
          where: { retiredAt: null, sealedPrivateKey: { not: null } },
          orderBy: { activatesAt: "desc" },
        });
        const replaces = newest?.sealedPrivateKey && plan.canOpen(newest.sealedPrivateKey) ? newest.kid : plan.rootKid;
        const { activatesAt } = plan.key;
        await tx.signingKey.updateMany({ where: { retiredAt: null }, data: { retiredAt: activatesAt } });
        if (replaces === plan.rootKid || !(await tx.signingKey.findUnique({ where: { kid: plan.rootKid } }))) {
          await tx.signingKey.upsert({
            where: { kid: plan.rootKid },
            create: { kid: plan.rootKid, sealedPrivateKey: null, activatesAt: new Date(0), retiredAt: activatesAt },
            update: {},
          });
        }
        await tx.signingKey.create({ data: plan.key });
        const expired = await tx.signingKey.findMany({
          where: { sealedPrivateKey: { not: null }, retiredAt: { lt: plan.deleteRetiredBefore } },
          select: { kid: true },
        });
        await tx.signingKey.deleteMany({ where: { kid: { in: expired.map((row) => row.kid) } } });
        return { replaces, removed: expired.map((row) => row.kid) };
      }),
  };
}
