import type { Prisma, PrismaClient } from "../generated/prisma/client";
import { isUniqueViolation } from "../db/errors";
import {
  RESET_REQUEST,
  type AccountStore,
  type ClaimedMail,
  type LinkKind,
  type NewLink,
  type QueuedMail,
} from "./account.store";

type Tx = Prisma.TransactionClient;

const ALL_LINKS: LinkKind[] = ["PASSWORD_RESET", "EMAIL_VERIFICATION", "EMAIL_CHANGE"];

/** Locks the user's row until the transaction ends; false for no such user. */
async function lockUser(tx: Tx, userId: string): Promise<boolean> {
  const rows = await tx.$queryRaw<unknown[]>`SELECT 1 FROM "User" WHERE "id" = ${userId}::uuid FOR UPDATE`;
  return rows.length === 1;
}

/** An open link: not used or ended, and not expired at `now`. */
const openAt = (now: Date) => ({ endedAt: null, expiresAt: { gt: now } });

export function createPrismaAccountStore(prisma: PrismaClient): AccountStore {
  /** Ends the user's open links of these kinds: a newer link, or a change that makes them moot. */
  const endLinks = (tx: Tx, userId: string, kinds: LinkKind[], now: Date) =>
    tx.accountLink.updateMany({ where: { userId, kind: { in: kinds }, endedAt: null }, data: { endedAt: now } });

  /**
   * Due at `now` by the service's clock, the one the worker claims by: the database's
   * own now() may run ahead of it (another host's clock), leaving the mail unsent until
   * the worker's clock catches up.
   */
  const queue = (tx: Tx, mails: QueuedMail[], now: Date, linkId?: string) =>
    tx.mail.createMany({
      data: mails.map((mail) => ({ ...mail, linkId: linkId ?? null, createdAt: now, nextAttemptAt: now })),
    });

  const openLinkIn = async (tx: Tx, link: NewLink, mail: QueuedMail | null, notices: QueuedMail[]) => {
    // Serialised with a change of the user's address: a link never goes out to an address just left.
    await lockUser(tx, link.userId);
    await endLinks(tx, link.userId, [link.kind], link.now);
    const { id } = await tx.accountLink.create({
      data: { userId: link.userId, kind: link.kind, email: link.email, createdAt: link.now, expiresAt: link.expiresAt },
      select: { id: true },
    });
    if (mail) await queue(tx, [mail], link.now, id);
    if (notices.length > 0) await queue(tx, notices, link.now);
    return id;
  };

  /** The open link with this token's hash, locked until the transaction ends, with its active owner. */
  const takeLink = async (tx: Tx, tokenHash: string, kinds: LinkKind[], now: Date) => {
    const [row] = await tx.$queryRaw<Array<{ id: string; userId: string; kind: LinkKind; email: string }>>`
      SELECT l."id", l."userId", l."kind"::text AS "kind", l."email"
      FROM "AccountLink" l JOIN "User" u ON u."id" = l."userId"
      WHERE l."tokenHash" = ${tokenHash} AND l."endedAt" IS NULL AND l."expiresAt" > ${now}
        AND u."disabledAt" IS NULL
      FOR UPDATE OF l, u`;
    return row && kinds.includes(row.kind) ? row : null;
  };

  return {
    async queueResetRequest(email, now, discardAfter) {
      await prisma.mail.create({
        data: { kind: RESET_REQUEST, recipient: email, createdAt: now, nextAttemptAt: now, discardAfter },
        select: { id: true },
      });
    },

    openLink: (link, mail, notices = []) => prisma.$transaction((tx) => openLinkIn(tx, link, mail, notices)),

    resolveResetRequest: (requestId, claimId, email, now, expiresAt) =>
      prisma.$transaction(async (tx) => {
        const { count } = await tx.mail.deleteMany({ where: { id: requestId, claimId, sentAt: null } });
        if (count === 0) return false;
        // Locked, so an address change in flight either commits first (and this finds no one) or waits.
        const [user] = await tx.$queryRaw<Array<{ id: string; disabledAt: Date | null }>>`
          SELECT "id", "disabledAt" FROM "User" WHERE "email" = ${email} FOR UPDATE`;
        if (!user || user.disabledAt) return false;
        const link = { userId: user.id, kind: "PASSWORD_RESET" as const, email, now, expiresAt };
        await openLinkIn(tx, link, { kind: "password-reset", recipient: email, discardAfter: expiresAt }, []);
        return true;
      }),

    async dropResetRequest(requestId, claimId) {
      const { count } = await prisma.mail.deleteMany({ where: { id: requestId, claimId, sentAt: null } });
      return count === 1;
    },

    findOpenLink: (linkId, now) =>
      prisma.accountLink.findFirst({
        where: { id: linkId, ...openAt(now) },
        select: { kind: true, email: true, expiresAt: true },
      }),

    async isLinkOpen(tokenHash, kinds, now) {
      const link = await prisma.accountLink.findFirst({
        where: { tokenHash, kind: { in: kinds }, ...openAt(now), user: { disabledAt: null } },
        select: { id: true },
      });
      return link !== null;
    },

    async mintLink(linkId, tokenHash, now) {
      const { count } = await prisma.accountLink.updateMany({
        where: { id: linkId, ...openAt(now) },
        data: { tokenHash },
      });
      return count === 1;
    },

    resetPassword: (tokenHash, passwordHash, now, notice) =>
      prisma.$transaction(async (tx) => {
        const link = await takeLink(tx, tokenHash, ["PASSWORD_RESET"], now);
        if (!link) return null;
        const { email } = await tx.user.findUniqueOrThrow({ where: { id: link.userId }, select: { email: true } });
        // Mailed to an address the account no longer has: its holder must not reset it.
        if (email !== link.email) return null;
        await tx.accountLink.update({ where: { id: link.id }, data: { endedAt: now } });
        // The link went to this address: using it proves the address.
        await tx.user.update({
          where: { id: link.userId },
          data: { passwordHash, emailVerifiedAt: now },
          select: { id: true },
        });
        // Whoever forced the reset may have left links of their own: an email change above all.
        await endLinks(tx, link.userId, ALL_LINKS, now);
        const ended = await tx.session.updateManyAndReturn({
          where: { userId: link.userId, endedAt: null },
          data: { endedAt: now, endReason: "PASSWORD_RESET" },
          select: { id: true },
        });
        await queue(tx, [{ ...notice, recipient: email }], now);
        return { userId: link.userId, endedSessionIds: ended.map((session) => session.id) };
      }),

    changePassword: ({ userId, expectedHash, passwordHash, keepSessionId, now, notice }) =>
      prisma.$transaction(async (tx) => {
        // FOR UPDATE, not the UPDATE's weaker lock: a login inserting a session (its foreign
        // key takes a share lock on this row) waits until the change commits, and then sees it.
        if (!(await lockUser(tx, userId))) return null;
        const { count } = await tx.user.updateMany({
          where: { id: userId, passwordHash: expectedHash, disabledAt: null },
          data: { passwordHash },
        });
        if (count === 0) return null;
        // A pending email change or reset may be an intruder's, who knew the old password.
        await endLinks(tx, userId, ALL_LINKS, now);
        const ended = await tx.session.updateManyAndReturn({
          where: { userId, endedAt: null, id: { not: keepSessionId } },
          data: { endedAt: now, endReason: "PASSWORD_CHANGED" },
          select: { id: true },
        });
        if (notice) await queue(tx, [notice], now);
        return ended.map((session) => session.id);
      }),

    async verifyEmail(tokenHash, now) {
      try {
        return await prisma.$transaction(async (tx) => {
          const link = await takeLink(tx, tokenHash, ["EMAIL_VERIFICATION", "EMAIL_CHANGE"], now);
          if (!link) return { ok: false, reason: "LINK_INVALID" } as const;
          const kind = link.kind as "EMAIL_VERIFICATION" | "EMAIL_CHANGE";
          if (kind === "EMAIL_VERIFICATION") {
            // A verification link proves the address it went to, only while it is still the user's.
            const { count } = await tx.user.updateMany({
              where: { id: link.userId, email: link.email },
              data: { emailVerifiedAt: now },
            });
            if (count === 0) return { ok: false, reason: "LINK_INVALID" } as const;
          } else {
            await tx.user.update({
              where: { id: link.userId },
              data: { email: link.email, emailVerifiedAt: now },
              select: { id: true },
            });
            // Links mailed to the old address must not outlive it.
            await endLinks(tx, link.userId, ["PASSWORD_RESET", "EMAIL_VERIFICATION"], now);
          }
          await tx.accountLink.update({ where: { id: link.id }, data: { endedAt: now } });
          return { ok: true, userId: link.userId, kind } as const;
        });
      } catch (error) {
        if (isUniqueViolation(error)) return { ok: false, reason: "EMAIL_TAKEN" };
        throw error;
      }
    },

    async claimMails(limit, now, leaseMs, claimId) {
      const until = new Date(now.getTime() + leaseMs);
      return prisma.$queryRaw<ClaimedMail[]>`
        UPDATE "Mail" SET "claimedUntil" = ${until}, "claimId" = ${claimId}::uuid, "attempts" = "attempts" + 1
        WHERE "id" IN (
          SELECT "id" FROM "Mail"
          WHERE "sentAt" IS NULL AND "discardedAt" IS NULL AND "nextAttemptAt" <= ${now}
            AND ("claimedUntil" IS NULL OR "claimedUntil" <= ${now})
          ORDER BY "nextAttemptAt"
          LIMIT ${limit}
          FOR UPDATE SKIP LOCKED)
        RETURNING "id", "kind", "recipient", "linkId", "attempts", "discardAfter", "createdAt"`;
    },

    async markSent(id, claimId, now) {
      const { count } = await prisma.mail.updateMany({
        where: { id, claimId, sentAt: null },
        data: { sentAt: now, claimedUntil: null, lastError: null },
      });
      return count === 1;
    },

    async markFailed(id, claimId, nextAttemptAt, error) {
      await prisma.mail.updateMany({
        where: { id, claimId, sentAt: null },
        data: { nextAttemptAt, claimedUntil: null, claimId: null, lastError: error.slice(0, 200) },
      });
    },

    async discard(id, claimId, now, reason) {
      await prisma.mail.updateMany({
        where: { id, claimId, sentAt: null },
        data: { discardedAt: now, claimedUntil: null, lastError: reason.slice(0, 200) },
      });
    },

    countQueued: () => prisma.mail.count({ where: { sentAt: null, discardedAt: null } }),

    async purge(before) {
      const mails = await prisma.mail.deleteMany({
        where: { OR: [{ sentAt: { lt: before } }, { discardedAt: { lt: before } }] },
      });
      const links = await prisma.accountLink.deleteMany({
        where: { OR: [{ endedAt: { lt: before } }, { expiresAt: { lt: before } }] },
      });
      return mails.count + links.count;
    },
  };
}
