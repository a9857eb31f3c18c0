-- AlterTable
ALTER TABLE "User" ADD COLUMN     "changedAt" TIMESTAMPTZ(3),
ADD COLUMN     "changedTxid" BIGINT;

-- CreateIndex
CREATE INDEX "User_changedAt_idx" ON "User"("changedAt");

-- CreateIndex
CREATE INDEX "User_changedTxid_idx" ON "User"("changedTxid");

-- Whoever changes what a user is authorized on (keyway, the CLI, or an operator's
-- SQL), the row records when and in which transaction. Instances drop the user's
-- cached row on hearing of it; the poll that is their floor reads by transaction,
-- as for ended sessions (migration session_ended_txid), so no change is missed
-- however late its commit lands.
CREATE FUNCTION "keyway_stamp_user_change"() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  NEW."changedAt" := clock_timestamp();
  NEW."changedTxid" := pg_current_xact_id()::text::bigint;
  RETURN NEW;
END
$$;

CREATE TRIGGER "User_stamp_change" BEFORE UPDATE OF "roles", "disabledAt", "emailVerifiedAt" ON "User"
  FOR EACH ROW
  WHEN (OLD."roles" IS DISTINCT FROM NEW."roles" OR OLD."disabledAt" IS DISTINCT FROM NEW."disabledAt"
    OR OLD."emailVerifiedAt" IS DISTINCT FROM NEW."emailVerifiedAt")
  EXECUTE FUNCTION "keyway_stamp_user_change"();
