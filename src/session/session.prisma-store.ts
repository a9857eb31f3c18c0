import type { PrismaClient } from "../generated/prisma/client";
import type { SessionStore } from "./session.store";

export function createPrismaSessionStore(prisma: PrismaClient): SessionStore {
  return {
    create: (session) =>
      prisma.session.create({
        data: {
          userId: session.userId,
          tokenFamily: session.tokenFamily,
          tokenHash: session.tokenHash,
          createdAt: session.now,
          lastUsedAt: session.now,
          expiresAt: session.expiresAt,
          userAgent: session.userAgent,
          ip: session.ip,
        },
      }),

    findByFamily: (tokenFamily) => prisma.session.findUnique({ where: { tokenFamily } }),

    findById: (id) => prisma.session.findUnique({ where: { id } }),

    async rotate(rotation) {
      // One UPDATE guarded by generation and hash: PostgreSQL's row lock makes
      // concurrent swaps of the same generation serialize, and only the first matches.
      const { count } = await prisma.session.updateMany({
        where: { id: rotation.id, generation: rotation.expectedGeneration, tokenHash: rotation.expectedHash, endedAt: null },
        data: {
          tokenHash: rotation.tokenHash,
          previousTokenHash: rotation.expectedHash,
          sealedToken: rotation.sealedToken,
          generation: { increment: 1 },
          rotatedAt: rotation.now,
          lastUsedAt: rotation.now,
        },
      });
      return count === 1;
    },

    async touch(id, now) {
      await prisma.session.updateMany({ where: { id, endedAt: null, lastUsedAt: { lt: now } }, data: { lastUsedAt: now } });
    },

    async end(id, reason, now) {
      const { count } = await prisma.session.updateMany({ where: { id, endedAt: null }, data: { endedAt: now, endReason: reason } });
      return count === 1;
    },

    async endAllOfUser(userId, reason, now) {
      const ended = await prisma.session.updateManyAndReturn({
        where: { userId, endedAt: null },
        data: { endedAt: now, endReason: reason },
        select: { id: true },
      });
      return ended.map((session) => session.id);
    },

    listLive: (userId, now, usedSince) =>
      prisma.session.findMany({
        where: { userId, endedAt: null, expiresAt: { gt: now }, lastUsedAt: { gt: usedSince } },
        orderBy: { createdAt: "desc" },
      }),

    async listEndedSince(since) {
      const ended = await prisma.session.findMany({ where: { endedAt: { gte: since } }, select: { id: true, endedAt: true } });
      return ended.flatMap((session) => (session.endedAt ? [{ id: session.id, endedAt: session.endedAt }] : []));
    },
  };
}
