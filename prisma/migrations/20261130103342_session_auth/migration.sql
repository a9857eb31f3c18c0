-- Edited by hand from the generated diff: sessions that exist began with a password
-- login, so they get amr {pwd} and their creation as auth_time before the columns
-- become NOT NULL (which Prisma cannot say of a list; its diff ignores it).

-- AlterTable
ALTER TABLE "Session" ADD COLUMN     "amr" TEXT[] DEFAULT ARRAY[]::TEXT[],
ADD COLUMN     "authTime" TIMESTAMPTZ(3) DEFAULT CURRENT_TIMESTAMP;

UPDATE "Session" SET "amr" = ARRAY['pwd']::TEXT[], "authTime" = "createdAt";

ALTER TABLE "Session" ALTER COLUMN "amr" SET NOT NULL,
ALTER COLUMN "authTime" SET NOT NULL;
