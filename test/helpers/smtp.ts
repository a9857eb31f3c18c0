// A real SMTP server on 127.0.0.1 for the tests (the smtp-server package): keyway
// delivers to it over SMTP exactly as to a provider, and the tests read what
// arrived, parsed (mailparser). It can go down and come back on the same port.
import type { AddressInfo } from "node:net";
import { simpleParser } from "mailparser";
import { SMTPServer } from "smtp-server";
import { recordSecret } from "./log-capture";

export interface ReceivedMail {
  /** The envelope's recipients. */
  to: string[];
  from: string;
  subject: string;
  text: string;
  html: string;
  messageId: string;
  /** The first keyway link in the text part, and the token in its fragment; null for a notice. */
  link: string | null;
  token: string | null;
  receivedAt: number;
}

export interface TestSmtp {
  /** SMTP_URL for keyway. */
  url: string;
  port: number;
  /** Every mail accepted so far, in order. */
  mails: ReceivedMail[];
  /** The first mail (already here or yet to come) matching `match`; rejects after `timeoutMs`. */
  waitFor(match: (mail: ReceivedMail) => boolean, timeoutMs?: number): Promise<ReceivedMail>;
  /** Mails to this address. */
  to(address: string): ReceivedMail[];
  /** Stops listening and drops open connections: deliveries fail as with a server that is down. */
  down(): Promise<void>;
  /** Listens again on the same port. */
  up(): Promise<void>;
  stop(): Promise<void>;
}

const LINK = /https?:\/\/\S+#token=([A-Za-z0-9_-]+)/;

export async function startTestSmtp(port = 0): Promise<TestSmtp> {
  const mails: ReceivedMail[] = [];
  const waiters = new Set<() => void>();
  let server: SMTPServer | null = null;
  let boundPort = port;

  const listen = async (): Promise<void> => {
    const smtp = new SMTPServer({
      authOptional: true,
      // Plain SMTP on loopback: no certificate to make, and nodemailer then sends without TLS.
      disabledCommands: ["STARTTLS"],
      logger: false,
      onData(stream, session, callback) {
        simpleParser(stream)
          .then((parsed) => {
            const text = parsed.text ?? "";
            const link = LINK.exec(text);
            if (link) recordSecret(link[1]);
            mails.push({
              to: session.envelope.rcptTo.map((rcpt) => rcpt.address),
              from: session.envelope.mailFrom ? session.envelope.mailFrom.address : "",
              subject: parsed.subject ?? "",
              text,
              html: typeof parsed.html === "string" ? parsed.html : "",
              messageId: parsed.messageId ?? "",
              link: link ? link[0] : null,
              token: link ? link[1] : null,
              receivedAt: Date.now(),
            });
            for (const wake of waiters) wake();
            callback();
          })
          .catch((error: Error) => callback(error));
      },
    });
    await new Promise<void>((resolve, reject) => {
      smtp.once("error", reject);
      smtp.listen(boundPort, "127.0.0.1", () => {
        smtp.off("error", reject);
        resolve();
      });
    });
    smtp.on("error", () => undefined);
    boundPort = (smtp.server.address() as AddressInfo).port;
    server = smtp;
  };

  const close = async (): Promise<void> => {
    const smtp = server;
    server = null;
    if (!smtp) return;
    // Open connections would keep close() waiting; a server that went down drops them.
    const connections = (smtp as unknown as { connections?: Set<{ close(): void }> }).connections;
    for (const connection of connections ?? []) connection.close();
    await new Promise<void>((resolve) => smtp.close(() => resolve()));
  };

  await listen();
  return {
    get url() {
      return `smtp://127.0.0.1:${boundPort}`;
    },
    get port() {
      return boundPort;
    },
    mails,
    to: (address) => mails.filter((mail) => mail.to.includes(address)),
    waitFor(match, timeoutMs = 10_000) {
      return new Promise((resolve, reject) => {
        const check = () => {
          const found = mails.find(match);
          if (!found) return;
          waiters.delete(check);
          clearTimeout(timer);
          resolve(found);
        };
        const timer = setTimeout(() => {
          waiters.delete(check);
          reject(new Error(`no matching mail within ${timeoutMs} ms (${mails.length} received)`));
        }, timeoutMs);
        waiters.add(check);
        check();
      });
    },
    down: close,
    up: listen,
    stop: close,
  };
}
