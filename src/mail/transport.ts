// Where mails go: an SMTP server (SMTP_URL) through nodemailer, or in development
// the outbox directory, one .eml file per mail, that any mail client opens.
import { mkdir, writeFile } from "node:fs/promises";
import path from "node:path";
import nodemailer from "nodemailer";
import type { Logger } from "../logger";
import type { MailContent } from "./templates";

export interface OutgoingMail extends MailContent {
  /** The outbox row's id: the Message-ID's left part, and the .eml file's name. */
  id: string;
  to: string;
}

export interface MailTransport {
  /** "smtp" or "outbox", for logs and metrics. */
  kind: "smtp" | "outbox";
  /** Resolves once the server accepted the mail (or the file is written); rejects with the reason otherwise. */
  send(mail: OutgoingMail): Promise<void>;
  close(): void;
}

export interface MailTransportOptions {
  smtpUrl: string | undefined;
  from: string;
  /** The outbox is `dataDir/outbox/`. */
  dataDir: string;
  logger: Logger;
}

/**
 * Bounds on one delivery, so a hung SMTP server releases the worker long before
 * its claim on the mail lapses (mail-worker.ts CLAIM_MS).
 */
const SMTP_TIMEOUTS = { connectionTimeout: 10_000, greetingTimeout: 10_000, socketTimeout: 30_000 };

export function createMailTransport(options: MailTransportOptions): MailTransport {
  const message = (mail: OutgoingMail) => ({
    from: options.from,
    to: mail.to,
    subject: mail.subject,
    text: mail.text,
    html: mail.html,
    messageId: `<${mail.id}@keyway>`,
  });
  if (options.smtpUrl) {
    const smtp = nodemailer.createTransport({ url: options.smtpUrl, ...SMTP_TIMEOUTS });
    return {
      kind: "smtp",
      async send(mail) {
        await smtp.sendMail(message(mail));
      },
      close: () => smtp.close(),
    };
  }
  const outbox = path.join(options.dataDir, "outbox");
  const files = nodemailer.createTransport({ streamTransport: true, buffer: true, newline: "unix" });
  return {
    kind: "outbox",
    async send(mail) {
      const info = await files.sendMail(message(mail));
      await mkdir(outbox, { recursive: true, mode: 0o700 });
      const file = path.join(outbox, `${mail.id}.eml`);
      // The file holds the link; only its owner reads it, and the log line says where it is, never what.
      await writeFile(file, info.message as Buffer, { mode: 0o600 });
      options.logger.info({ file }, "mail written to the development outbox (SMTP_URL is not set)");
    },
    close: () => files.close(),
  };
}
