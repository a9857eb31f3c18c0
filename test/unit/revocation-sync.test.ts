// The revocation poll's bookkeeping, against a store whose answers the test writes.
import type { Logger } from "../../src/logger";
import { createRevocationList, type RevocationList } from "../../src/session/revocation-list";
import type { EndedSessions } from "../../src/session/session.store";
import { startRevocationSync } from "../../src/shared-state/revocation-sync";

function recordingLogger() {
  const warnings: string[] = [];
  const logger = { warn: (_fields: unknown, message: string) => warnings.push(message) } as unknown as Logger;
  return { logger, warnings };
}

/** A sync without Redis whose timer never fires in a test: it polls when the test says. */
function pollOnDemand(
  revocations: RevocationList,
  store: Parameters<typeof startRevocationSync>[0]["store"],
  horizon: bigint,
  endedSince: Date,
) {
  const { logger, warnings } = recordingLogger();
  const sync = startRevocationSync({
    revocations,
    store,
    redis: null,
    channel: "c",
    pollIntervalMs: 3_600_000,
    horizon,
    endedSince: () => endedSince,
    logger,
  });
  return { sync, warnings };
}

describe("revocation poll", () => {
  it("reads from each poll's horizon, and by time once when transaction ids go backwards (a restored database)", async () => {
    const revocations = createRevocationList({ retentionMs: 60_000, now: Date.now });
    const asked: Array<string> = [];
    const answers: EndedSessions[] = [
      { ids: ["a"], horizon: 120n },
      { ids: [], horizon: 7n }, // the database was replaced: its counter is far behind
      { ids: [], horizon: 11n },
    ];
    const since = new Date("2026-01-01T00:00:00Z");
    const store = {
      listEndedFrom: async (horizon: bigint) => (asked.push(`from ${horizon}`), answers.shift()!),
      listEndedSince: async (from: Date) => (asked.push(`since ${from.toISOString()}`), { ids: ["b"], horizon: 9n }),
    };
    const { sync, warnings } = pollOnDemand(revocations, store, 100n, since);
    await sync.poll();
    await sync.poll();
    await sync.poll();
    await sync.stop();
    expect(asked.slice(0, 3)).toEqual(["from 100", "from 120", `since ${since.toISOString()}`]);
    expect(asked[3]).toBe("from 9");
    expect(revocations.has("a") && revocations.has("b")).toBe(true);
    expect(warnings).toEqual([expect.stringContaining("went backwards")]);
  });

  it("warns, now and then, when every poll re-reads many ends (a long transaction holds the horizon)", async () => {
    const revocations = createRevocationList({ retentionMs: 60_000, now: Date.now });
    const many = Array.from({ length: 1500 }, (_, i) => `s${i}`);
    const store = {
      listEndedFrom: async () => ({ ids: many, horizon: 50n }),
      listEndedSince: async () => ({ ids: [], horizon: 50n }),
    };
    const { sync, warnings } = pollOnDemand(revocations, store, 50n, new Date());
    for (let i = 0; i < 3; i++) await sync.poll();
    await sync.stop();
    expect(warnings.filter((message) => message.includes("holds the poll's horizon back"))).toHaveLength(1);
    expect(revocations.size).toBe(1500);
  });
});

describe("revocation list", () => {
  it("keeps an entry from when it was first heard of: hearing it again does not extend it", () => {
    let now = 1_000_000;
    const revocations = createRevocationList({ retentionMs: 10_000, now: () => now });
    revocations.add("s");
    now += 8_000;
    revocations.add("s");
    now += 2_001;
    revocations.add("other"); // adding prunes
    expect(revocations.has("s")).toBe(false);
    expect(revocations.has("other")).toBe(true);
  });
});
