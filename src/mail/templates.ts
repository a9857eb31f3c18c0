// What keyway's mails say: short, plain text with an HTML twin, and for a link
// mail the one link, whose token travels in the fragment (#token=…) so it never
// reaches a server log or a Referer header.
import type { LinkKind, MailKind } from "../account/account.store";

export interface MailContent {
  subject: string;
  text: string;
  html: string;
}

/** Where a link of each kind leads under APP_URL; an app serves these pages (README "Mail"). */
export const LINK_PAGES: Record<LinkKind, string> = {
  PASSWORD_RESET: "reset-password",
  EMAIL_VERIFICATION: "verify-email",
  EMAIL_CHANGE: "verify-email",
};

export function linkUrl(appUrl: string, kind: LinkKind, token: string): string {
  return `${appUrl}/${LINK_PAGES[kind]}#token=${encodeURIComponent(token)}`;
}

interface Wording {
  subject: string;
  lines: string[];
  /** The link's call to action, for mails that carry one. */
  action?: string;
}

const IGNORE = "If you did not ask for this, you can ignore this mail.";
const NOT_YOU = "If this was not you, reset your password now and review your signed-in devices.";
const NOT_YOU_FACTORS =
  "If this was not you, reset your password now, then review your second factors and signed-in devices.";

function wordingOf(kind: MailKind, expiresIn: string | null): Wording {
  switch (kind) {
    case "password-reset":
      return {
        subject: "Reset your password",
        lines: [`Someone asked to reset the password of this account. The link works once, for ${expiresIn}.`, IGNORE],
        action: "Set a new password",
      };
    case "email-verification":
      return {
        subject: "Verify your email address",
        lines: [`Confirm that this address is yours. The link works once, for ${expiresIn}.`, IGNORE],
        action: "Verify this address",
      };
    case "email-change":
      return {
        subject: "Confirm your new email address",
        lines: [
          `Someone asked to make this the address of their account. It changes when you open the link, within ${expiresIn}.`,
          IGNORE,
        ],
        action: "Use this address",
      };
    case "password-changed":
      return {
        subject: "Your password was changed",
        lines: ["The password of your account was just changed, and your other devices were signed out.", NOT_YOU],
      };
    case "password-reset-done":
      return {
        subject: "Your password was reset",
        lines: ["The password of your account was just reset from a link, and every device was signed out.", NOT_YOU],
      };
    case "email-change-requested":
      return {
        subject: "A change of your email address was requested",
        lines: [
          "Someone signed in to your account asked to move it to another address. It moves only once that address is confirmed.",
          NOT_YOU,
        ],
      };
    case "totp-enabled":
      return {
        subject: "An authenticator app was added to your account",
        lines: ["Signing in to your account now asks for a code from an authenticator app.", NOT_YOU_FACTORS],
      };
    case "totp-disabled":
      return {
        subject: "The authenticator app was removed from your account",
        lines: ["Signing in to your account no longer asks for a code from an authenticator app.", NOT_YOU_FACTORS],
      };
    case "passkey-added":
      return {
        subject: "A passkey was added to your account",
        lines: ["A new passkey can now sign in to your account.", NOT_YOU_FACTORS],
      };
    case "passkey-removed":
      return {
        subject: "A passkey was removed from your account",
        lines: ["One of your passkeys can no longer sign in to your account.", NOT_YOU_FACTORS],
      };
    case "second-factors-reset":
      return {
        subject: "Your second factors were reset",
        lines: [
          "An administrator removed your authenticator app, recovery codes and passkeys: your password alone signs in until you add them again.",
          "If this was not you asking for it, contact your administrator now: someone may be taking over your account.",
        ],
      };
  }
}

/** The mail of `kind`; `link` for the kinds that carry one, with how long it lasts in words. */
export function renderMail(kind: MailKind, link?: { url: string; expiresIn: string }): MailContent {
  const wording = wordingOf(kind, link?.expiresIn ?? null);
  const text = [...wording.lines.slice(0, 1), ...(link ? ["", link.url, ""] : [""]), ...wording.lines.slice(1)].join(
    "\n",
  );
  const paragraphs = wording.lines.map((line) => `<p>${escapeHtml(line)}</p>`);
  const button =
    link && wording.action ? [`<p><a href="${escapeHtml(link.url)}">${escapeHtml(wording.action)}</a></p>`] : [];
  const html = [paragraphs[0], ...button, ...paragraphs.slice(1)].join("\n");
  return {
    subject: wording.subject,
    text: `${text}\n`,
    html: `<!doctype html>\n<html><body>\n${html}\n</body></html>\n`,
  };
}

/** "1 hour", "24 hours", "30 minutes": a link's lifetime as a mail says it. */
export function inWords(seconds: number): string {
  const unit = (count: number, name: string) => `${count} ${name}${count === 1 ? "" : "s"}`;
  if (seconds % 86400 === 0 && seconds > 86400 * 2) return unit(seconds / 86400, "day");
  if (seconds % 3600 === 0) return unit(seconds / 3600, "hour");
  if (seconds % 60 === 0) return unit(seconds / 60, "minute");
  return unit(seconds, "second");
}

const HTML_ESCAPES: Record<string, string> = { "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&#39;" };
const escapeHtml = (text: string) => text.replace(/[&<>"']/g, (char) => HTML_ESCAPES[char] ?? char);
