// What every AccountStore promises, on PGlite and on PostgreSQL: links that end
// when a newer one opens or when they are used, changes that take their mail with
// them in one transaction, and an outbox whose claims never overlap.
import { createHash, randomUUID } from "node:crypto";
import type { QueuedMail } from "../../src/account/account.store";
import { STORE_DATABASES, useStores } from "./stores";

const email = () => `account-${randomUUID()}@example.io`;
const hash = (token: string) => createHash("sha256").update(token).digest("hex");
const T0 = new Date("2030-01-01T00:00:00.000Z");
const later = (seconds: number) => new Date(T0.getTime() + seconds * 1000);
const HOUR = 3600;
const notice = (recipient: string): QueuedMail => ({
  kind: "password-changed",
  recipient,
  discardAfter: later(7 * 24 * HOUR),
});

describe.each(STORE_DATABASES)("AccountStore on %s", (kind) => {
  const fixture = useStores(kind);
  const stores = () => fixture().stores;
  const accounts = () => stores().accounts;
  const prisma = () => fixture().database.prisma;

  async function user(address = email()) {
    return (await stores().users.create({ email: address, passwordHash: "old-hash" }))!;
  }

  /** A reset link for the user, opened at T0 with its mail, and minted with `token`. */
  async function resetLink(userId: string, address: string, token: string) {
    const id = await accounts().openLink(
      { userId, kind: "PASSWORD_RESET", email: address, now: T0, expiresAt: later(HOUR) },
      { kind: "password-reset", recipient: address, discardAfter: later(HOUR) },
    );
    expect(await accounts().mintLink(id, hash(token), T0)).toBe(true);
    return id;
  }

  it("opens a link with its mail in one go, and a newer link of a kind ends the older", async () => {
    const owner = await user();
    const first = await resetLink(owner.id, owner.email, "first");
    const mails = await prisma().mail.findMany({ where: { linkId: first } });
    expect(mails).toMatchObject([{ kind: "password-reset", recipient: owner.email, sentAt: null }]);

    await resetLink(owner.id, owner.email, "second");
    expect(await accounts().findOpenLink(first, T0)).toBeNull();
    expect(await accounts().mintLink(first, hash("again"), T0)).toBe(false);
    expect(await accounts().isLinkOpen(hash("first"), ["PASSWORD_RESET"], T0)).toBe(false);
    expect(await accounts().isLinkOpen(hash("second"), ["PASSWORD_RESET"], T0)).toBe(true);
    // Another kind is not ended by it, nor is the link found under a kind it is not.
    expect(await accounts().isLinkOpen(hash("second"), ["EMAIL_VERIFICATION"], T0)).toBe(false);
    expect(await accounts().isLinkOpen(hash("second"), ["PASSWORD_RESET"], later(HOUR))).toBe(false);
  });

  it("resets a password once: sets it, verifies the address, ends every session and link, queues the notice", async () => {
    const owner = await user();
    await resetLink(owner.id, owner.email, "token");
    const change = await accounts().openLink(
      { userId: owner.id, kind: "EMAIL_CHANGE", email: email(), now: T0, expiresAt: later(24 * HOUR) },
      null,
    );
    const sessions = await Promise.all(
      ["a", "b"].map((family) =>
        stores().sessions.create({
          userId: owner.id,
          tokenFamily: `${family}-${randomUUID()}`,
          tokenHash: hash(family),
          now: T0,
          expiresAt: later(30 * 24 * HOUR),
          amr: ["pwd"],
          userAgent: null,
          ip: null,
        }),
      ),
    );

    const reset = await accounts().resetPassword(hash("token"), "new-hash", later(60), notice(""));
    expect(reset).toEqual({ userId: owner.id, endedSessionIds: expect.any(Array) });
    expect([...reset!.endedSessionIds].sort()).toEqual(sessions.map((session) => session.id).sort());
    expect(await stores().users.findById(owner.id)).toMatchObject({
      passwordHash: "new-hash",
      emailVerifiedAt: later(60),
    });
    expect(await accounts().findOpenLink(change, later(60))).toBeNull();
    expect(await prisma().mail.count({ where: { recipient: owner.email, kind: "password-changed" } })).toBe(1);

    expect(await accounts().resetPassword(hash("token"), "third-hash", later(61), notice(""))).toBeNull();
    expect((await stores().users.findById(owner.id))?.passwordHash).toBe("new-hash");
  });

  it("refuses a reset link of a disabled account, and one past its expiry", async () => {
    const disabled = await user();
    await resetLink(disabled.id, disabled.email, "disabled");
    await stores().users.disable(disabled.id, T0);
    expect(await accounts().isLinkOpen(hash("disabled"), ["PASSWORD_RESET"], T0)).toBe(false);
    expect(await accounts().resetPassword(hash("disabled"), "x", T0, notice(""))).toBeNull();

    const late = await user();
    await resetLink(late.id, late.email, "late");
    expect(await accounts().resetPassword(hash("late"), "x", later(HOUR), notice(""))).toBeNull();
    expect((await stores().users.findById(late.id))?.passwordHash).toBe("old-hash");
  });

  it("changes a password only from the hash it was read with, keeping one session", async () => {
    const owner = await user();
    const keep = await stores().sessions.create({
      userId: owner.id,
      tokenFamily: `keep-${randomUUID()}`,
      tokenHash: hash("keep"),
      now: T0,
      expiresAt: later(HOUR),
      amr: ["pwd"],
      userAgent: null,
      ip: null,
    });
    const change = { userId: owner.id, passwordHash: "new-hash", keepSessionId: keep.id, now: T0, notice: null };
    expect(await accounts().changePassword({ ...change, expectedHash: "not-the-hash" })).toBeNull();
    expect(await accounts().changePassword({ ...change, expectedHash: "old-hash" })).toEqual([]);
    expect((await stores().sessions.findById(keep.id))?.endedAt).toBeNull();
    // The second writer saw the old hash too: it loses.
    expect(await accounts().changePassword({ ...change, passwordHash: "other", expectedHash: "old-hash" })).toBeNull();
    expect((await stores().users.findById(owner.id))?.passwordHash).toBe("new-hash");
  });

  it("verifies an address only while it is the user's, and an email change fails whole when the address is taken", async () => {
    const owner = await user();
    const verify = await accounts().openLink(
      { userId: owner.id, kind: "EMAIL_VERIFICATION", email: owner.email, now: T0, expiresAt: later(HOUR) },
      null,
    );
    await accounts().mintLink(verify, hash("verify"), T0);
    expect(await accounts().verifyEmail(hash("verify"), T0)).toEqual({
      ok: true,
      userId: owner.id,
      kind: "EMAIL_VERIFICATION",
    });
    expect(await accounts().verifyEmail(hash("verify"), T0)).toEqual({ ok: false, reason: "LINK_INVALID" });

    const taken = await user();
    const change = await accounts().openLink(
      { userId: owner.id, kind: "EMAIL_CHANGE", email: taken.email, now: T0, expiresAt: later(HOUR) },
      null,
    );
    await accounts().mintLink(change, hash("change"), T0);
    expect(await accounts().verifyEmail(hash("change"), T0)).toEqual({ ok: false, reason: "EMAIL_TAKEN" });
    expect((await stores().users.findById(owner.id))?.email).toBe(owner.email);
    // Nothing half-done: the link is still open, and works once the address is free.
    expect(await accounts().findOpenLink(change, T0)).not.toBeNull();
    await prisma().user.delete({ where: { id: taken.id } });
    expect(await accounts().verifyEmail(hash("change"), T0)).toMatchObject({ ok: true, kind: "EMAIL_CHANGE" });
    expect((await stores().users.findById(owner.id))?.email).toBe(taken.email);
  });

  it("claims each due mail for one claimant only, and only the claim holding a mail settles it", async () => {
    const due = later(10 * 24 * HOUR);
    const recipients = Array.from({ length: 6 }, () => email());
    for (const recipient of recipients) await accounts().queueResetRequest(recipient, due, later(11 * 24 * HOUR));

    const claims = await Promise.all(
      ["one", "two", "three"].map(async () => {
        const claimId = randomUUID();
        return { claimId, mails: await accounts().claimMails(10, due, 60_000, claimId) };
      }),
    );
    const claimed = claims.flatMap((claim) => claim.mails);
    const ours = claimed.map((mail) => mail.recipient).filter((recipient) => recipients.includes(recipient));
    expect([...ours].sort()).toEqual([...recipients].sort());
    expect(new Set(claimed.map((mail) => mail.id)).size).toBe(claimed.length);
    // Held: nothing is claimed again until the lease lapses.
    expect(await accounts().claimMails(10, due, 60_000, randomUUID())).toEqual([]);

    const [{ claimId, mails }] = claims.filter((claim) => claim.mails.length > 0);
    const [mail] = mails;
    expect(await accounts().markSent(mail.id, randomUUID(), due)).toBe(false);
    expect(await accounts().markSent(mail.id, claimId, due)).toBe(true);
    // After the lease, the other claimed mails come back with one more attempt counted.
    const again = await accounts().claimMails(100, new Date(due.getTime() + 60_001), 60_000, randomUUID());
    const ids = new Set(claimed.map((row) => row.id));
    const reclaimed = again.filter((row) => ids.has(row.id));
    expect(reclaimed.map((row) => row.id)).not.toContain(mail.id);
    expect(reclaimed.length).toBe(claimed.length - 1);
    expect(reclaimed.every((row) => row.attempts === 2)).toBe(true);
  });

  it("resolves a reset request into a link and its mail for an active account only, deleting the request either way", async () => {
    const owner = await user();
    const unknown = email();
    const at = later(20 * 24 * HOUR);
    await accounts().queueResetRequest(owner.email, at, later(21 * 24 * HOUR));
    await accounts().queueResetRequest(unknown, at, later(21 * 24 * HOUR));
    const claimId = randomUUID();
    // Earlier tests' rows are due by now too: this test's are told apart by their recipients.
    const requests = (await accounts().claimMails(100, at, 60_000, claimId)).filter((mail) =>
      [owner.email, unknown].includes(mail.recipient),
    );
    expect(requests.map((request) => request.kind)).toEqual(["password-reset-request", "password-reset-request"]);
    const results = await Promise.all(
      requests.map((request) =>
        accounts().resolveResetRequest(request.id, claimId, request.recipient, at, later(21 * 24 * HOUR)),
      ),
    );
    expect(results.filter(Boolean)).toHaveLength(1);
    expect(await prisma().mail.count({ where: { id: { in: requests.map((request) => request.id) } } })).toBe(0);
    expect(await prisma().mail.count({ where: { recipient: owner.email, kind: "password-reset" } })).toBe(1);
    // A request another claim took over is left alone.
    const next = later(22 * 24 * HOUR);
    await accounts().queueResetRequest(owner.email, next, later(23 * 24 * HOUR));
    const taken = (await accounts().claimMails(100, next, 60_000, randomUUID())).find(
      (mail) => mail.kind === "password-reset-request" && mail.recipient === owner.email,
    )!;
    expect(taken).toBeDefined();
    expect(await accounts().resolveResetRequest(taken.id, randomUUID(), owner.email, next, later(HOUR))).toBe(false);
    expect(await accounts().dropResetRequest(taken.id, randomUUID())).toBe(false);
  });
});
