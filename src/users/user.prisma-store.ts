import type { PrismaClient } from "../generated/prisma/client";
import { isUniqueViolation } from "../db/errors";
import type { UserRecord, UserStore } from "./user.store";

const USER_FIELDS = {
  id: true,
  email: true,
  passwordHash: true,
  disabledAt: true,
  createdAt: true,
  updatedAt: true,
} as const;

export function createPrismaUserStore(prisma: PrismaClient): UserStore {
  return {
    async create(user) {
      try {
        return await prisma.user.create({ data: user, select: USER_FIELDS });
      } catch (error) {
        if (isUniqueViolation(error)) return null;
        throw error;
      }
    },
    findById: (id): Promise<UserRecord | null> => prisma.user.findUnique({ where: { id }, select: USER_FIELDS }),
    findByEmail: (email): Promise<UserRecord | null> =>
      prisma.user.findUnique({ where: { email }, select: USER_FIELDS }),
    async disable(id, at) {
      const { count } = await prisma.user.updateMany({ where: { id, disabledAt: null }, data: { disabledAt: at } });
      return count === 1;
    },
  };
}
