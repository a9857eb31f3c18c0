// What every SessionStore promises, on PGlite and on PostgreSQL: the compare-and-
// swap rotations under concurrency, ends stamped for the revocation poll, the
// purge's cut-offs, batches and lock.
import { randomBytes, randomUUID } from "node:crypto";
import { Client } from "pg";
import type { NewSession, SessionRecord } from "../../src/session/session.store";
import { createPrismaSessionStore } from "../../src/session/session.prisma-store";
import { STORE_DATABASES, useStores } from "./stores";

const HOUR = 3600_000;
const T0 = new Date(Date.UTC(2030, 0, 1));
const at = (ms: number) => new Date(T0.getTime() + ms);
const hash = () => randomBytes(32).toString("hex");
const family = () => randomBytes(16).toString("base64url");

describe.each(STORE_DATABASES)("SessionStore on %s", (kind) => {
  const fixture = useStores(kind);
  let userId: string;
  beforeAll(async () => {
    userId = (await fixture().stores.users.create({ email: `owner-${randomUUID()}@example.io`, passwordHash: "x" }))!
      .id;
  });
  const sessions = () => fixture().stores.sessions;
  const newSession = (overrides: Partial<NewSession> = {}): NewSession => ({
    userId,
    tokenFamily: family(),
    tokenHash: hash(),
    now: T0,
    expiresAt: at(24 * HOUR),
    amr: ["pwd"],
    userAgent: "test",
    ip: "203.0.113.7",
    ...overrides,
  });

  it("creates a session with exactly the record's fields, found by id and by family", async () => {
    const input = newSession();
    const created = await sessions().create(input);
    expect(created).toEqual({
      id: expect.any(String),
      userId,
      tokenFamily: input.tokenFamily,
      tokenHash: input.tokenHash,
      previousTokenHash: null,
      sealedToken: null,
      generation: 0,
      rotatedAt: null,
      createdAt: T0,
      authTime: T0,
      amr: ["pwd"],
      lastUsedAt: T0,
      expiresAt: input.expiresAt,
      endedAt: null,
      endReason: null,
      userAgent: "test",
      ip: "203.0.113.7",
    });
    expect(await sessions().findById(created.id)).toEqual(created);
    expect(await sessions().findByFamily(input.tokenFamily)).toEqual(created);
    expect(await sessions().findById(randomUUID())).toBeNull();
    expect(await sessions().findByFamily(family())).toBeNull();
  });

  describe("rotate (compare-and-swap on generation and hash)", () => {
    it("swaps for exactly one of many concurrent callers with the same expectation", async () => {
      const session = await sessions().create(newSession());
      const attempts = Array.from({ length: 10 }, () =>
        sessions().rotate({
          id: session.id,
          expectedGeneration: 0,
          expectedHash: session.tokenHash,
          tokenHash: hash(),
          sealedToken: "sealed",
          now: at(HOUR),
        }),
      );
      expect((await Promise.all(attempts)).filter(Boolean)).toHaveLength(1);
      const after = (await sessions().findById(session.id))!;
      expect(after).toMatchObject({
        generation: 1,
        previousTokenHash: session.tokenHash,
        sealedToken: "sealed",
        rotatedAt: at(HOUR),
        lastUsedAt: at(HOUR),
      });
    });

    it("refuses a stale generation, a stale hash, and an ended session", async () => {
      const session = await sessions().create(newSession());
      const swap = (expectedGeneration: number, expectedHash: string) =>
        sessions().rotate({
          id: session.id,
          expectedGeneration,
          expectedHash,
          tokenHash: hash(),
          sealedToken: "s",
          now: at(HOUR),
        });
      expect(await swap(1, session.tokenHash)).toBe(false);
      expect(await swap(0, hash())).toBe(false);
      await sessions().end(session.id, "LOGOUT", at(HOUR));
      expect(await swap(0, session.tokenHash)).toBe(false);
    });
  });

  describe("rotateCurrent (one statement: swap on the presented hash of a live session, with its owner)", () => {
    const rotation = (session: SessionRecord, presentedHash = session.tokenHash, now = at(HOUR)) => ({
      tokenFamily: session.tokenFamily,
      presentedHash,
      tokenHash: hash(),
      sealedToken: "sealed",
      now,
      usedSince: new Date(now.getTime() - 12 * HOUR),
    });

    it("returns the rotated session and its owner", async () => {
      const session = await sessions().create(newSession());
      const next = rotation(session);
      const rotated = await sessions().rotateCurrent(next);
      expect(rotated?.session).toMatchObject({
        id: session.id,
        generation: 1,
        tokenHash: next.tokenHash,
        previousTokenHash: session.tokenHash,
        lastUsedAt: next.now,
      });
      expect(rotated?.user).toMatchObject({
        id: userId,
        email: expect.stringContaining("@example.io"),
        disabledAt: null,
      });
      // The statement runs on the driver, not Prisma: its rows must be the records Prisma reads,
      // field for field and type for type (dates as Date, arrays as arrays, nothing extra).
      expect(rotated?.session).toStrictEqual(await sessions().findById(session.id));
      expect(rotated?.session.rotatedAt).toBeInstanceOf(Date);
      const { passwordHash, disabledAt, roles, emailVerifiedAt, createdAt, updatedAt, email } =
        await fixture().database.prisma.user.findUniqueOrThrow({ where: { id: userId } });
      expect(rotated?.user).toStrictEqual({
        id: userId,
        email,
        passwordHash,
        disabledAt,
        roles,
        emailVerifiedAt,
        createdAt,
        updatedAt,
      });
      // The same statement through Prisma (prismaRunner: a store bound to a transaction) rotates alike.
      const throughPrisma = createPrismaSessionStore(fixture().database.prisma);
      const other = await sessions().create(newSession());
      const otherNext = rotation(other);
      const rotatedThroughPrisma = await throughPrisma.rotateCurrent(otherNext);
      expect(rotatedThroughPrisma?.session).toStrictEqual(await sessions().findById(other.id));
      expect(rotatedThroughPrisma?.session).toMatchObject({ generation: 1, tokenHash: otherNext.tokenHash });
      expect(rotatedThroughPrisma?.user).toStrictEqual(rotated?.user);
      expect(await throughPrisma.rotateCurrent(otherNext)).toBeNull(); // the presented hash is no longer current
    });

    it("keeps the session's authTime and amr, and reads the owner's roles as they are at the rotation", async () => {
      const owner = (await fixture().stores.users.create({
        email: `roles-${randomUUID()}@example.io`,
        passwordHash: "x",
      }))!;
      const session = await sessions().create(newSession({ userId: owner.id, amr: ["pwd", "otp"] }));
      await fixture().stores.users.grantRole(owner.id, "editor", at(HOUR));
      const rotated = await sessions().rotateCurrent(rotation(session, session.tokenHash, at(2 * HOUR)));
      expect(rotated?.session).toMatchObject({ authTime: T0, amr: ["pwd", "otp"], lastUsedAt: at(2 * HOUR) });
      expect(rotated?.user).toMatchObject({ id: owner.id, roles: ["editor"], emailVerifiedAt: null });
    });

    it("rotates for exactly one of many concurrent presenters of one token", async () => {
      const session = await sessions().create(newSession());
      const results = await Promise.all(Array.from({ length: 10 }, () => sessions().rotateCurrent(rotation(session))));
      expect(results.filter((result) => result !== null)).toHaveLength(1);
      expect((await sessions().findById(session.id))?.generation).toBe(1);
    });

    it("returns null for a hash that is not the current one, an ended, an expired and an idle session", async () => {
      const stale = await sessions().create(newSession());
      expect(await sessions().rotateCurrent(rotation(stale, hash()))).toBeNull();
      const ended = await sessions().create(newSession());
      await sessions().end(ended.id, "LOGOUT", at(1));
      expect(await sessions().rotateCurrent(rotation(ended))).toBeNull();
      const expired = await sessions().create(newSession({ expiresAt: at(HOUR - 1) }));
      expect(await sessions().rotateCurrent(rotation(expired))).toBeNull();
      const idle = await sessions().create(newSession());
      expect(await sessions().rotateCurrent(rotation(idle, idle.tokenHash, at(13 * HOUR)))).toBeNull();
      for (const session of [stale, ended, expired, idle])
        expect((await sessions().findById(session.id))?.generation).toBe(0);
    });
  });

  describe("reauthenticate (a step-up)", () => {
    const STEP_UP = ["otp", "hwk", "mfa"];
    // Used since just before T0, when the sessions below were made: live unless the test says otherwise.

    it("dates the session now and swaps the earlier second factors for the ones proven, keeping the first", async () => {
      const session = await sessions().create(newSession({ amr: ["pwd", "otp", "mfa"] }));
      const stepped = await sessions().reauthenticate(session.id, userId, ["hwk"], STEP_UP, at(HOUR), at(-1));
      expect(stepped).toMatchObject({ id: session.id, amr: ["pwd", "hwk"], authTime: at(HOUR), lastUsedAt: at(HOUR) });
      const again = await sessions().reauthenticate(session.id, userId, ["otp", "mfa"], STEP_UP, at(2 * HOUR), at(-1));
      expect(again?.amr).toEqual(["pwd", "otp", "mfa"]);
      // A session a passkey started keeps no first factor: only what was just proven.
      const passkey = await sessions().create(newSession({ amr: ["hwk"] }));
      expect(
        (await sessions().reauthenticate(passkey.id, userId, ["otp", "mfa"], STEP_UP, at(HOUR), at(-1)))?.amr,
      ).toEqual(["otp", "mfa"]);
      // The same method twice is one entry.
      expect(
        (await sessions().reauthenticate(passkey.id, userId, ["hwk", "hwk"], STEP_UP, at(HOUR), at(-1)))?.amr,
      ).toEqual(["hwk"]);
    });

    it("touches only a live session of that user", async () => {
      const session = await sessions().create(newSession());
      const stranger = (await fixture().stores.users.create({
        email: `x-${randomUUID()}@example.io`,
        passwordHash: "x",
      }))!;
      expect(await sessions().reauthenticate(session.id, stranger.id, ["otp"], STEP_UP, at(HOUR), at(-1))).toBeNull();
      // Idle since `usedSince`: not live.
      expect(await sessions().reauthenticate(session.id, userId, ["otp"], STEP_UP, at(HOUR), at(HOUR / 2))).toBeNull();
      const expired = await sessions().create(newSession({ expiresAt: at(HOUR / 2) }));
      expect(await sessions().reauthenticate(expired.id, userId, ["otp"], STEP_UP, at(HOUR), at(-1))).toBeNull();
      await sessions().end(session.id, "LOGOUT", at(HOUR / 4));
      expect(await sessions().reauthenticate(session.id, userId, ["otp"], STEP_UP, at(HOUR), at(-1))).toBeNull();
      // None of the refusals changed the row.
      expect(await sessions().findById(session.id)).toMatchObject({ amr: ["pwd"], authTime: T0 });
    });
  });

  it("touch moves lastUsedAt forward only, and never for an ended session", async () => {
    const session = await sessions().create(newSession());
    await sessions().touch(session.id, at(HOUR));
    await sessions().touch(session.id, at(HOUR / 2));
    expect((await sessions().findById(session.id))?.lastUsedAt).toEqual(at(HOUR));
    await sessions().end(session.id, "LOGOUT", at(2 * HOUR));
    await sessions().touch(session.id, at(3 * HOUR));
    expect((await sessions().findById(session.id))?.lastUsedAt).toEqual(at(HOUR));
  });

  it("ends a session once, and ends every live session of a user, naming them", async () => {
    const one = await sessions().create(newSession());
    expect(await sessions().end(one.id, "REVOKED", at(HOUR))).toBe(true);
    expect(await sessions().end(one.id, "LOGOUT", at(2 * HOUR))).toBe(false);
    expect(await sessions().findById(one.id)).toMatchObject({ endedAt: at(HOUR), endReason: "REVOKED" });

    const owner = (await fixture().stores.users.create({ email: `all-${randomUUID()}@example.io`, passwordHash: "x" }))!
      .id;
    const live = await Promise.all([1, 2, 3].map(() => sessions().create(newSession({ userId: owner }))));
    await sessions().end(live[0].id, "LOGOUT", at(HOUR));
    const ended = await sessions().endAllOfUser(owner, "LOGOUT_ALL", at(2 * HOUR));
    expect(ended.sort()).toEqual([live[1].id, live[2].id].sort());
    expect(await sessions().endAllOfUser(owner, "LOGOUT_ALL", at(3 * HOUR))).toEqual([]);
  });

  it("lists a user's live sessions, newest first, leaving out ended, expired and idle ones", async () => {
    const owner = (await fixture().stores.users.create({
      email: `list-${randomUUID()}@example.io`,
      passwordHash: "x",
    }))!.id;
    const older = await sessions().create(newSession({ userId: owner, now: at(0) }));
    const newer = await sessions().create(newSession({ userId: owner, now: at(60_000) }));
    const ended = await sessions().create(newSession({ userId: owner, now: at(120_000) }));
    await sessions().end(ended.id, "LOGOUT", at(130_000));
    await sessions().create(newSession({ userId: owner, now: at(0), expiresAt: at(HOUR) }));
    const live = await sessions().listLive(owner, at(2 * HOUR), at(-HOUR));
    expect(live.map((session) => session.id)).toEqual([newer.id, older.id]);
    expect(await sessions().listLive(owner, at(2 * HOUR), at(30_000))).toEqual([
      expect.objectContaining({ id: newer.id }),
    ]);
  });

  describe("ended sessions for the revocation poll", () => {
    it("finds ends by endedAt, and from a horizon every end committed after the read that gave it", async () => {
      const first = await sessions().create(newSession());
      await sessions().end(first.id, "LOGOUT", at(HOUR));
      const read = await sessions().listEndedSince(at(HOUR));
      expect(read.ids).toContain(first.id);
      const second = await sessions().create(newSession());
      await sessions().end(second.id, "LOGOUT", at(-HOUR)); // an end stamped in the past, by a slow clock
      const next = await sessions().listEndedFrom(read.horizon);
      expect(next.ids).toContain(second.id);
      expect(next.horizon >= read.horizon).toBe(true);
      // The horizon moves past an end once no transaction older than it is running. The
      // database server is shared (other suites hold transactions open for seconds), so
      // it may take a few polls; it must get there.
      let horizon = next.horizon;
      const deadline = Date.now() + 30_000;
      let after = await sessions().listEndedFrom(horizon);
      while (after.ids.includes(first.id) && Date.now() < deadline) {
        await new Promise((resolve) => setTimeout(resolve, 200));
        horizon = (await sessions().listEndedFrom(horizon)).horizon;
        after = await sessions().listEndedFrom(horizon);
      }
      expect(after.ids).not.toContain(first.id);
    }, 60_000);

    it("stamps an end made by hand in SQL too", async () => {
      const session = await sessions().create(newSession());
      const { horizon } = await sessions().listEndedFrom(0n);
      await fixture().database.prisma
        .$executeRaw`UPDATE "Session" SET "endedAt" = now(), "endReason" = 'REVOKED' WHERE id = ${session.id}::uuid`;
      expect((await sessions().listEndedFrom(horizon)).ids).toContain(session.id);
    });
  });
});

describe.each(STORE_DATABASES)("SessionStore purge on %s (a database of its own, so counts are exact)", (kind) => {
  const fixture = useStores(kind);
  const sessions = () => fixture().stores.sessions;

  it("deletes by every cut-off, in batches, up to the batch limit", async () => {
    const owner = (await fixture().stores.users.create({
      email: `purge-${randomUUID()}@example.io`,
      passwordHash: "x",
    }))!.id;
    const create = (now: Date, expiresAt: Date) =>
      sessions().create({
        userId: owner,
        tokenFamily: family(),
        tokenHash: hash(),
        now,
        expiresAt,
        amr: [],
        userAgent: null,
        ip: null,
      });
    const remaining = async () =>
      (await fixture().database.prisma.session.findMany({ select: { id: true } })).map((row) => row.id);
    const keep = await create(at(10 * HOUR), at(100 * HOUR));
    const endedLongAgo = await Promise.all([1, 2, 3].map(() => create(at(10 * HOUR), at(100 * HOUR))));
    for (const session of endedLongAgo) await sessions().end(session.id, "LOGOUT", at(HOUR));
    await create(at(0), at(2 * HOUR)); // expired long ago
    await create(at(0), at(100 * HOUR)); // idle long ago
    const cutoffs = { endedBefore: at(5 * HOUR), expiredBefore: at(5 * HOUR), usedBefore: at(5 * HOUR) };
    // Five to go, two per batch, two batches a round: four now, the last one next round.
    expect(await sessions().purge(cutoffs, { size: 2, maxBatches: 2 })).toEqual({ ran: true, deleted: 4 });
    expect(await remaining()).toHaveLength(2);
    expect(await sessions().purge(cutoffs, { size: 2, maxBatches: 2 })).toEqual({ ran: true, deleted: 1 });
    expect(await remaining()).toEqual([keep.id]);
    expect(await sessions().purge(cutoffs, { size: 2, maxBatches: 2 })).toEqual({ ran: true, deleted: 0 });
  });
});

describe("SessionStore purge on PostgreSQL, where instances share one database", () => {
  const fixture = useStores("postgres");

  it("skips the round while another connection holds the purge's lock", async () => {
    const cutoffs = { endedBefore: at(5 * HOUR), expiredBefore: at(5 * HOUR), usedBefore: at(5 * HOUR) };
    const user = (await fixture().stores.users.create({
      email: `lock-${randomUUID()}@example.io`,
      passwordHash: "x",
    }))!;
    const old = await fixture().stores.sessions.create({
      userId: user.id,
      tokenFamily: family(),
      tokenHash: hash(),
      now: at(0),
      expiresAt: at(HOUR),
      amr: [],
      userAgent: null,
      ip: null,
    });
    const other = new Client({ connectionString: fixture().url });
    await other.connect();
    try {
      await other.query("SELECT pg_advisory_lock(7152025001)");
      expect(await fixture().stores.sessions.purge(cutoffs, { size: 10, maxBatches: 5 })).toEqual({
        ran: false,
        deleted: 0,
      });
      expect(await fixture().stores.sessions.findById(old.id)).not.toBeNull();
      await other.query("SELECT pg_advisory_unlock(7152025001)");
      expect(await fixture().stores.sessions.purge(cutoffs, { size: 10, maxBatches: 5 })).toEqual({
        ran: true,
        deleted: 1,
      });
    } finally {
      await other.end();
    }
  });
});
