-- AlterTable
ALTER TABLE "Session" ADD COLUMN     "endedTxid" BIGINT;

-- CreateIndex
CREATE INDEX "Session_endedTxid_idx" ON "Session"("endedTxid");

-- Whoever ends a session (keyway, the CLI, or an operator's SQL), the row records
-- which transaction did it. Transaction ids order commits where clocks cannot: an
-- instance polling for "ended since" remembers the oldest transaction still running
-- at its last poll and reads from there, so no commit is missed however late it
-- lands or whatever the ending instance's clock said.
CREATE FUNCTION "keyway_stamp_session_end"() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  IF NEW."endedAt" IS NOT NULL AND (TG_OP = 'INSERT' OR OLD."endedAt" IS NULL) THEN
    NEW."endedTxid" := pg_current_xact_id()::text::bigint;
  END IF;
  RETURN NEW;
END
$$;

CREATE TRIGGER "Session_stamp_end" BEFORE INSERT OR UPDATE OF "endedAt" ON "Session"
  FOR EACH ROW EXECUTE FUNCTION "keyway_stamp_session_end"();
