// Sends what the outbox holds. Every instance runs one: it claims due mails with
// a lease (the store's SKIP LOCKED claim, so two instances never hold one mail),
// sends each, and on failure lets it go again after a backoff. A mail is given up
// only when it can no longer matter: its link ended or expired, or its
// `discardAfter` passed. An SMTP outage therefore delays mail and fails no request.
//
// A link's token is minted here, just before its mail is sent, and only its hash
// is stored: no row, queue or log ever holds a usable token. A retry mints a new
// one, which ends the one an earlier attempt may have delivered after all.
import { randomBytes, randomUUID } from "node:crypto";
import {
  RESET_REQUEST,
  type AccountStore,
  type ClaimedMail,
  type LinkKind,
  type MailKind,
} from "../account/account.store";
import type { Logger } from "../logger";
import { hashSecret } from "../token/refresh-token";
import { inWords, linkUrl, renderMail } from "./templates";
import type { MailTransport } from "./transport";

export type MailOutcome = "sent" | "retried" | "failed";

export interface MailWorkerOptions {
  store: AccountStore;
  transport: MailTransport;
  /** APP_URL: links are built on it. */
  appUrl: string;
  /** Seconds a link of each kind lasts (the store sets its expiry; the mail says it in words). */
  linkTtl: Record<LinkKind, number>;
  /** How often to look for due mail when none was queued here (other instances queue too). */
  pollIntervalMs: number;
  /** The first retry's delay; each further one doubles, up to MAX_BACKOFF_MS. */
  retryBaseMs: number;
  logger: Logger;
  now(): number;
  /**
   * Whether a reset request for this address may go on (MAIL_ADDRESS_LIMIT); one
   * past the limit is dropped here, not at the request, so asking costs the same
   * whether or not the address is over it. Default: always.
   */
  admitResetRequest?(email: string): Promise<boolean>;
  /** Told of each attempt's outcome: metrics. */
  onOutcome?(kind: string, outcome: MailOutcome): void;
}

export interface MailWorker {
  /** Something was queued here: look now rather than at the next poll. */
  wake(): void;
  /** Sends everything due now; resolves when none is left (tests, and the CLI). */
  drain(): Promise<void>;
  stop(): Promise<void>;
}

/** How long a claim holds a mail: well beyond one delivery's timeouts (transport.ts). */
export const CLAIM_MS = 5 * 60_000;
const BATCH = 10;
const MAX_BACKOFF_MS = 15 * 60_000;
/** Sent and given-up mails, ended links: kept this long (for support questions), then purged. */
const RETENTION_MS = 7 * 86_400_000;
const PURGE_EVERY_MS = 3_600_000;
/** 256 bits: a link token cannot be guessed, and its SHA-256 alone identifies it. */
const LINK_TOKEN_BYTES = 32;

export const newLinkToken = (): string => randomBytes(LINK_TOKEN_BYTES).toString("base64url");
export const hashLinkToken = (token: string): string => hashSecret(token);

export function startMailWorker(options: MailWorkerOptions): MailWorker {
  const { store, logger } = options;
  let running: Promise<void> | null = null;
  /** Within a pass: go round once more (a full batch, or a reset request that queued its mail). */
  let again = false;
  /** Woken while a pass ran: run another once it ends, as it may have looked before the new mail was there. */
  let woken = false;
  let stopped = false;
  let lastPurge = 0;

  const pass = async (): Promise<void> => {
    do {
      again = false;
      const claimId = randomUUID();
      const claimed = await store.claimMails(BATCH, new Date(options.now()), CLAIM_MS, claimId);
      for (const mail of claimed) await handle(mail, claimId);
      if (claimed.length === BATCH) again = true;
    } while (again && !stopped);
    if (options.now() - lastPurge > PURGE_EVERY_MS) {
      lastPurge = options.now();
      const purged = await store.purge(new Date(lastPurge - RETENTION_MS));
      if (purged > 0) logger.info({ purged }, "purged old mails and links");
    }
  };

  const handle = async (mail: ClaimedMail, claimId: string): Promise<void> => {
    const now = new Date(options.now());
    try {
      if (mail.kind === RESET_REQUEST) {
        // A request that waited out a whole link lifetime (an outage) is answered by nothing now.
        const admitted = mail.discardAfter > now && (await (options.admitResetRequest?.(mail.recipient) ?? true));
        if (!admitted) {
          await store.dropResetRequest(mail.id, claimId);
          return;
        }
        const expiresAt = new Date(now.getTime() + options.linkTtl.PASSWORD_RESET * 1000);
        // A mail queued by this is due now: go round once more.
        if (await store.resolveResetRequest(mail.id, claimId, mail.recipient, now, expiresAt)) again = true;
        return;
      }
      if (mail.discardAfter <= now) return giveUp(mail, claimId, "expired before it could be sent");
      let link: { url: string; expiresIn: string } | undefined;
      if (mail.linkId) {
        const open = await store.findOpenLink(mail.linkId, now);
        const token = newLinkToken();
        if (!open || !(await store.mintLink(mail.linkId, hashLinkToken(token), now)))
          return giveUp(mail, claimId, "its link ended before it was sent");
        link = { url: linkUrl(options.appUrl, open.kind, token), expiresIn: inWords(options.linkTtl[open.kind]) };
      }
      await options.transport.send({ id: mail.id, to: mail.recipient, ...renderMail(mail.kind as MailKind, link) });
      if (await store.markSent(mail.id, claimId, new Date(options.now()))) options.onOutcome?.(mail.kind, "sent");
    } catch (error) {
      const reason = failureOf(error);
      const next = new Date(options.now() + backoff(mail.attempts, options.retryBaseMs));
      if (next >= mail.discardAfter) return giveUp(mail, claimId, `gave up after ${mail.attempts} attempts: ${reason}`);
      await store.markFailed(mail.id, claimId, next, reason);
      options.onOutcome?.(mail.kind, "retried");
      // Never the recipient or the body: the id finds the row.
      logger.warn(
        { mail: mail.id, kind: mail.kind, attempts: mail.attempts, reason, retryAt: next },
        "mail not sent; will retry",
      );
    }
  };

  const giveUp = async (mail: ClaimedMail, claimId: string, reason: string): Promise<void> => {
    await store.discard(mail.id, claimId, new Date(options.now()), reason);
    options.onOutcome?.(mail.kind, "failed");
    logger.warn({ mail: mail.id, kind: mail.kind, attempts: mail.attempts, reason }, "mail given up");
  };

  const run = (): Promise<void> => {
    if (running) {
      woken = true;
      return running;
    }
    running = pass()
      .catch((error: unknown) => {
        // The database may be away: the mails stay queued, and the next poll tries again.
        logger.warn({ err: error }, "mail worker could not read the outbox");
      })
      .finally(() => {
        running = null;
        if (woken && !stopped) {
          woken = false;
          void run();
        }
      });
    return running;
  };

  const timer = setInterval(() => void run(), options.pollIntervalMs).unref();
  void run();
  return {
    wake: () => void run(),
    async drain() {
      while (running) await running;
      await run();
    },
    async stop() {
      stopped = true;
      clearInterval(timer);
      while (running) await running;
      options.transport.close();
    },
  };
}

/** Exponential from `baseMs`, capped, with ±20 % jitter so instances that failed together do not retry together. */
function backoff(attempts: number, baseMs: number): number {
  const delay = Math.min(MAX_BACKOFF_MS, baseMs * 2 ** Math.max(0, attempts - 1));
  return Math.round(delay * (0.8 + Math.random() * 0.4));
}

/** What went wrong, as a code: an SMTP reply's number, or the socket's error code. */
function failureOf(error: unknown): string {
  const { code, responseCode } = (error ?? {}) as { code?: unknown; responseCode?: unknown };
  if (typeof responseCode === "number") return `SMTP ${responseCode}`;
  return typeof code === "string" ? code : "unknown error";
}
