// What a mail says: each kind has a subject, a plain-text and an HTML part; a link
// mail carries its one link in both, with the token in the fragment, and a notice
// carries none. The HTML part escapes what it is given.
import type { MailKind } from "../../src/account/account.store";
import { inWords, linkUrl, renderMail } from "../../src/mail/templates";

const LINK_KINDS: MailKind[] = ["password-reset", "email-verification", "email-change"];
const NOTICE_KINDS: MailKind[] = [
  "password-changed",
  "password-reset-done",
  "email-change-requested",
  "totp-enabled",
  "totp-disabled",
  "passkey-added",
  "passkey-removed",
  "second-factors-reset",
];

describe("links", () => {
  it("lead to the page of their kind under APP_URL, the token in the fragment", () => {
    expect(linkUrl("https://app.example.com/account", "PASSWORD_RESET", "abc_-1")).toBe(
      "https://app.example.com/account/reset-password#token=abc_-1",
    );
    expect(linkUrl("http://127.0.0.1:4000/demo", "EMAIL_VERIFICATION", "t")).toBe(
      "http://127.0.0.1:4000/demo/verify-email#token=t",
    );
    expect(linkUrl("http://127.0.0.1:4000/demo", "EMAIL_CHANGE", "t")).toBe(
      "http://127.0.0.1:4000/demo/verify-email#token=t",
    );
  });
});

describe("renderMail", () => {
  const link = { url: "https://app.example.com/reset-password#token=T0KEN", expiresIn: "1 hour" };

  it.each(LINK_KINDS.map((kind) => [kind]))("%s carries its link in text and HTML, and its lifetime", (kind) => {
    const mail = renderMail(kind, link);
    expect(mail.subject.length).toBeGreaterThan(5);
    expect(mail.text).toContain(`\n${link.url}\n`);
    expect(mail.html).toContain(`href="${link.url}"`);
    expect(mail.text).toContain("1 hour");
  });

  it.each(NOTICE_KINDS.map((kind) => [kind]))("%s is a notice: no link at all", (kind) => {
    const mail = renderMail(kind);
    expect(mail.text).not.toMatch(/https?:|#token=/);
    expect(mail.html).not.toMatch(/<a |#token=/);
    expect(mail.text).toMatch(/If this was not you/);
  });

  it("escapes the link in the HTML part", () => {
    const mail = renderMail("password-reset", { url: 'https://x.example/"><script>#token=a&b', expiresIn: "1 hour" });
    expect(mail.html).toContain('href="https://x.example/&quot;&gt;&lt;script&gt;#token=a&amp;b"');
    expect(mail.html).not.toContain("<script>");
  });
});

it.each([
  [3600, "1 hour"],
  [86400, "24 hours"],
  [7 * 86400, "7 days"],
  [1800, "30 minutes"],
  [90, "90 seconds"],
  [60, "1 minute"],
])("inWords(%i) is %s", (seconds, words) => {
  expect(inWords(seconds)).toBe(words);
});
