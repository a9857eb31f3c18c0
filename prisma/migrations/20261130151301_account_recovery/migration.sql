-- CreateEnum
CREATE TYPE "AccountLinkKind" AS ENUM ('PASSWORD_RESET', 'EMAIL_VERIFICATION', 'EMAIL_CHANGE');

-- AlterEnum
-- Both values are new; neither is used in this migration, as PostgreSQL requires.


ALTER TYPE "SessionEndReason" ADD VALUE 'PASSWORD_RESET';
ALTER TYPE "SessionEndReason" ADD VALUE 'PASSWORD_CHANGED';

-- CreateTable
CREATE TABLE "AccountLink" (
    "id" UUID NOT NULL,
    "userId" UUID NOT NULL,
    "kind" "AccountLinkKind" NOT NULL,
    "email" VARCHAR(254) NOT NULL,
    "tokenHash" CHAR(64),
    "createdAt" TIMESTAMPTZ(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,
    "expiresAt" TIMESTAMPTZ(3) NOT NULL,
    "endedAt" TIMESTAMPTZ(3),

    CONSTRAINT "AccountLink_pkey" PRIMARY KEY ("id")
);

-- CreateTable
CREATE TABLE "Mail" (
    "id" UUID NOT NULL,
    "kind" VARCHAR(64) NOT NULL,
    "recipient" VARCHAR(254) NOT NULL,
    "linkId" UUID,
    "createdAt" TIMESTAMPTZ(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,
    "nextAttemptAt" TIMESTAMPTZ(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,
    "attempts" INTEGER NOT NULL DEFAULT 0,
    "claimedUntil" TIMESTAMPTZ(3),
    "claimId" UUID,
    "sentAt" TIMESTAMPTZ(3),
    "discardedAt" TIMESTAMPTZ(3),
    "discardAfter" TIMESTAMPTZ(3) NOT NULL,
    "lastError" VARCHAR(200),

    CONSTRAINT "Mail_pkey" PRIMARY KEY ("id")
);

-- CreateIndex
CREATE UNIQUE INDEX "AccountLink_tokenHash_key" ON "AccountLink"("tokenHash");

-- CreateIndex
CREATE INDEX "AccountLink_userId_kind_idx" ON "AccountLink"("userId", "kind");

-- CreateIndex
CREATE INDEX "AccountLink_expiresAt_idx" ON "AccountLink"("expiresAt");

-- CreateIndex
CREATE INDEX "Mail_nextAttemptAt_idx" ON "Mail"("nextAttemptAt");

-- CreateIndex
CREATE INDEX "Mail_createdAt_idx" ON "Mail"("createdAt");

-- AddForeignKey
ALTER TABLE "AccountLink" ADD CONSTRAINT "AccountLink_userId_fkey" FOREIGN KEY ("userId") REFERENCES "User"("id") ON DELETE CASCADE ON UPDATE CASCADE;

-- AddForeignKey
ALTER TABLE "Mail" ADD CONSTRAINT "Mail_linkId_fkey" FOREIGN KEY ("linkId") REFERENCES "AccountLink"("id") ON DELETE CASCADE ON UPDATE CASCADE;

-- A changed address is a changed user too: instances drop the cached row (change-feed.ts).
DROP TRIGGER "User_stamp_change" ON "User";
CREATE TRIGGER "User_stamp_change" BEFORE UPDATE OF "roles", "disabledAt", "emailVerifiedAt", "email" ON "User"
  FOR EACH ROW
  WHEN (OLD."roles" IS DISTINCT FROM NEW."roles" OR OLD."disabledAt" IS DISTINCT FROM NEW."disabledAt"
    OR OLD."emailVerifiedAt" IS DISTINCT FROM NEW."emailVerifiedAt" OR OLD."email" IS DISTINCT FROM NEW."email")
  EXECUTE FUNCTION "keyway_stamp_user_change"();
