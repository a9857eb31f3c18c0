-- NOT NULL added by hand: Prisma cannot say it of a list, and its diff ignores it (db.migrations.test.ts checks).
-- AlterTable
ALTER TABLE "User" ADD COLUMN     "emailVerifiedAt" TIMESTAMPTZ(3),
ADD COLUMN     "roles" TEXT[] NOT NULL DEFAULT ARRAY[]::TEXT[];
