// Security notices: mails that tell an account's owner something changed (a
// password, an address, a second factor), with no link in them. Each counts
// against the address's MAIL_ADDRESS_LIMIT, so an account signed up with someone
// else's address cannot make keyway mail them without end; past it the notice is
// dropped silently and the change itself goes ahead.
import type { AuthRateLimits } from "../auth/rate-limits";
import type { MailKind, QueuedMail } from "./account.store";

/** A notice not delivered within a week is given up: by then it tells nothing useful. */
export const NOTICE_LIFETIME_MS = 7 * 86_400_000;

/** A notice to queue with a change, and when (the stores queue it in the change's transaction). */
export interface TimedNotice {
  mail: QueuedMail;
  now: Date;
}

/** noticeFor, with the time it is queued at: what the second-factor stores take. */
export async function timedNotice(
  limits: Pick<AuthRateLimits, "consumeMailToAddress">,
  kind: MailKind,
  recipient: string,
  now: Date,
): Promise<TimedNotice | null> {
  const mail = await noticeFor(limits, kind, recipient, now);
  return mail && { mail, now };
}

export async function noticeFor(
  limits: Pick<AuthRateLimits, "consumeMailToAddress">,
  kind: MailKind,
  recipient: string,
  now: Date,
): Promise<QueuedMail | null> {
  const limit = await limits.consumeMailToAddress("notice", recipient);
  return limit.ok ? { kind, recipient, discardAfter: new Date(now.getTime() + NOTICE_LIFETIME_MS) } : null;
}

/**
 * After the change a notice was counted for: wakes the mail worker when the change
 * happened (its notice queued with it), and gives the count back when it did not
 * (refused, or beaten by a concurrent request). A refused or empty operation must
 * not spend the budget, or enough of them would let a real change go unheard of.
 */
export async function settleNotice(
  limits: Pick<AuthRateLimits, "refundMailToAddress">,
  notice: { mail: { recipient: string } } | null,
  happened: boolean,
  mailQueued: () => void,
): Promise<void> {
  if (!notice) return;
  if (happened) mailQueued();
  else await limits.refundMailToAddress("notice", notice.mail.recipient);
}
