// Account recovery and verification (API.md "Account recovery and verification"),
// from outside: a real keyway delivers over SMTP to a real SMTP server on loopback,
// and every link a test uses is read out of a mail that arrived there.
import { readdir, readFile } from "node:fs/promises";
import path from "node:path";
import { print } from "graphql";
import { simpleParser } from "mailparser";
import {
  ChangeEmailDocument,
  RequestEmailVerificationDocument,
  VerifyEmailDocument,
  type MeQuery,
} from "../generated/operations";
import {
  LOGIN,
  ME,
  SIGN_UP,
  REFRESH_TOKEN,
  decodeAccessToken,
  login,
  refresh,
  signUp,
  tokensOf,
  uniqueEmail,
  type Tokens,
} from "../helpers/auth";
import { changePassword, metric, NEW_PASSWORD, requestPasswordReset, RESET_PASSWORD } from "../helpers/accounts";
import { recordSecret } from "../helpers/log-capture";
import { callGraphQL, errorOf, type GraphQLResponse } from "../helpers/http";
import { startTestServer, TestClock, type TestServer } from "../helpers/server";
import { startTestSmtp, type ReceivedMail, type TestSmtp } from "../helpers/smtp";

const REQUEST_EMAIL_VERIFICATION = print(RequestEmailVerificationDocument);
const VERIFY_EMAIL = print(VerifyEmailDocument);
const CHANGE_EMAIL = print(ChangeEmailDocument);

const APP_URL = "https://app.keyway.test/account";
const MAIL_FROM_ADDRESS = "accounts@keyway.test";
const LINK_INVALID = { code: "UNAUTHENTICATED", reason: "LINK_INVALID" };
const INVALID_CREDENTIALS = { code: "UNAUTHENTICATED", reason: "INVALID_CREDENTIALS" };
/** The subjects of src/mail/templates.ts: how a test tells the mails to one address apart. */
const SUBJECT = {
  reset: "Reset your password",
  verify: "Verify your email address",
  change: "Confirm your new email address",
  passwordChanged: "Your password was changed",
  passwordReset: "Your password was reset",
  changeRequested: "A change of your email address was requested",
};

const requestReset = (url: string, email: string) => requestPasswordReset(url, email);
const resetPassword = (url: string, token: string, newPassword = NEW_PASSWORD) =>
  callGraphQL(url, RESET_PASSWORD, { variables: { token, newPassword } });
const verifyEmail = (url: string, token: string) => callGraphQL(url, VERIFY_EMAIL, { variables: { token } });
const requestVerification = (url: string, accessToken: string) =>
  callGraphQL(url, REQUEST_EMAIL_VERIFICATION, { accessToken });
const changeEmail = (url: string, accessToken: string, newEmail: string, currentPassword: string) =>
  callGraphQL(url, CHANGE_EMAIL, { accessToken, variables: { newEmail, currentPassword } });
const loginAnswer = (url: string, email: string, password: string) =>
  callGraphQL(url, LOGIN, { variables: { input: { email, password } } });
const refreshAnswer = (url: string, tokens: Tokens) => callGraphQL(url, REFRESH_TOKEN, { cookie: tokens.cookie });

async function me(url: string, accessToken: string): Promise<MeQuery["me"]> {
  const response = await callGraphQL<MeQuery>(url, ME, { accessToken });
  expect(response.body.errors).toBeUndefined();
  return response.body.data!.me;
}

/** A refusal of the whole operation: no data, and this error. */
function refusalOf(response: GraphQLResponse) {
  expect(response.status).toBeLessThan(500);
  expect(response.body.data ?? null).toBeNull();
  return errorOf(response);
}

/** A RATE_LIMITED refusal with a whole number of seconds to wait, within the window. */
function expectRateLimited(response: GraphQLResponse, windowSeconds: number): void {
  expect(refusalOf(response)?.code).toBe("RATE_LIMITED");
  const retryAfter = response.body.errors?.[0]?.extensions?.retryAfter;
  expect(Number.isInteger(retryAfter)).toBe(true);
  expect(retryAfter).toBeGreaterThan(0);
  expect(retryAfter).toBeLessThanOrEqual(windowSeconds);
}

describe("over SMTP", () => {
  const clock = new TestClock();
  let smtp: TestSmtp;
  let server: TestServer;

  beforeAll(async () => {
    smtp = await startTestSmtp();
    server = await startTestServer({
      clock,
      env: {
        SMTP_URL: smtp.url,
        MAIL_POLL_INTERVAL: "1",
        MAIL_FROM: `Keyway Accounts <${MAIL_FROM_ADDRESS}>`,
        APP_URL,
        MAIL_ADDRESS_LIMIT: "2/1h",
        LOGIN_ATTEMPTS_LIMIT: "3/15m",
      },
    });
  });
  afterAll(async () => {
    await server?.stop();
    await smtp?.stop();
  });

  const mailsTo = (address: string, subject: string) => smtp.to(address).filter((mail) => mail.subject === subject);
  /** The `count`th mail with this subject to `address`, once it has arrived. */
  async function mailTo(address: string, subject: string, count = 1): Promise<ReceivedMail> {
    await smtp.waitFor(() => mailsTo(address, subject).length >= count);
    return mailsTo(address, subject)[count - 1];
  }
  /** The session of these tokens has ended: its refresh token and its access token are both refused. */
  async function expectSessionEnded(tokens: Tokens): Promise<void> {
    expect(errorOf(await refreshAnswer(server.url, tokens))).toEqual({
      code: "UNAUTHENTICATED",
      reason: "REFRESH_TOKEN_INVALID",
    });
    expect(errorOf(await callGraphQL(server.url, ME, { accessToken: tokens.accessToken }))).toEqual({
      code: "UNAUTHENTICATED",
      reason: "SESSION_ENDED",
    });
  }
  /** The token of a reset link mailed to `email`, requested now. */
  async function resetToken(email: string): Promise<string> {
    const already = mailsTo(email, SUBJECT.reset).length;
    expect((await requestReset(server.url, email)).body).toEqual({ data: { requestPasswordReset: true } });
    const mail = await mailTo(email, SUBJECT.reset, already + 1);
    return mail.token!;
  }
  /**
   * Lets every mail queued so far be sent or given up: a later request's mail has
   * arrived (the worker takes them in the order they were queued) and the worker is idle.
   */
  async function settleMail(): Promise<void> {
    const marker = await signUp(server.url);
    await resetToken(marker.email);
    await server.services.mail.drain();
  }

  describe("password reset", () => {
    it("mails a link that sets the password once, ends every session, signs in, and notifies", async () => {
      const account = await signUp(server.url);
      const otherDevice = await login(server.url, account.email, account.password);

      const token = await resetToken(account.email);
      const [received] = mailsTo(account.email, SUBJECT.reset);
      expect(received.to).toEqual([account.email]);
      expect(received.from).toBe(MAIL_FROM_ADDRESS);
      expect(received.link).toBe(`${APP_URL}/reset-password#token=${token}`);
      expect(received.text).toContain(received.link);
      expect(received.html).toContain(`href="${received.link}"`);
      expect(token).toMatch(/^[A-Za-z0-9_-]{43}$/);

      const reset = await resetPassword(server.url, token);
      const signedIn = tokensOf(reset, "resetPassword");
      const payload = reset.body.data?.resetPassword as { user: { id: string; emailVerified: boolean } };
      expect(payload.user).toMatchObject({ id: account.userId, emailVerified: true });
      expect(signedIn.cookie).not.toBe("");
      expect(decodeAccessToken(signedIn.accessToken).email_verified).toBe(true);
      // The link proved the mailbox, not a password: a policy asking for "pwd" is not met by it.
      expect(decodeAccessToken(signedIn.accessToken).amr).toEqual(["email"]);
      expect(await me(server.url, signedIn.accessToken)).toMatchObject({ id: account.userId, emailVerified: true });
      // The new session is a real one: its refresh cookie rotates.
      expect((await refresh(server.url, { cookie: signedIn.cookie })).userId).toBe(account.userId);

      expect(errorOf(await loginAnswer(server.url, account.email, account.password))).toEqual(INVALID_CREDENTIALS);
      expect((await login(server.url, account.email, NEW_PASSWORD)).userId).toBe(account.userId);

      expect(refusalOf(await resetPassword(server.url, token, "yet another passphrase"))).toEqual(LINK_INVALID);
      expect((await login(server.url, account.email, NEW_PASSWORD)).userId).toBe(account.userId);

      for (const before of [account, otherDevice]) await expectSessionEnded(before);

      const notice = await mailTo(account.email, SUBJECT.passwordReset);
      expect(notice.token).toBeNull();
      expect(notice.from).toBe(MAIL_FROM_ADDRESS);
    });

    it("ends an email change an intruder left pending, and every login racing it", async () => {
      const account = await signUp(server.url);
      const intruder = await login(server.url, account.email, account.password);
      const theirs = uniqueEmail("intruder");
      expect((await changeEmail(server.url, intruder.accessToken, theirs, account.password)).body).toEqual({
        data: { changeEmail: true },
      });
      const takeover = (await mailTo(theirs, SUBJECT.change)).token!;

      // The owner resets, while someone who knows the old password logs in at the same moment.
      const link = await resetToken(account.email);
      // Three: this server's LOGIN_ATTEMPTS_LIMIT, which counts attempts before their passwords are checked.
      const racing = Array.from({ length: 3 }, () => loginAnswer(server.url, account.email, account.password));
      const reset = tokensOf(await resetPassword(server.url, link), "resetPassword");
      for (const answer of await Promise.all(racing)) {
        // Each racer was either refused (the new password, or hashing saturated), or signed in to a
        // session the reset (or the login's own check) ended.
        const refusal = errorOf(answer);
        if (refusal) expect([INVALID_CREDENTIALS, { code: "RATE_LIMITED" }]).toContainEqual(refusal);
        else {
          const racer = tokensOf(answer, "login");
          expect(errorOf(await callGraphQL(server.url, ME, { accessToken: racer.accessToken }))).toEqual({
            code: "UNAUTHENTICATED",
            reason: "SESSION_ENDED",
          });
        }
      }

      expect(refusalOf(await verifyEmail(server.url, takeover))).toEqual(LINK_INVALID);
      expect((await me(server.url, reset.accessToken)).email).toBe(account.email);
      // Whatever the racing logins were answered, none of their sessions outlives the reset.
      const live = await server.database.prisma.session.findMany({
        where: { userId: account.userId, endedAt: null },
        select: { id: true },
      });
      expect(live).toEqual([{ id: reset.sessionId }]);
    });

    it("voids an older link when a newer one is mailed", async () => {
      const account = await signUp(server.url);
      const first = await resetToken(account.email);
      const second = await resetToken(account.email);
      expect(second).not.toBe(first);

      expect(refusalOf(await resetPassword(server.url, first))).toEqual(LINK_INVALID);
      expect(tokensOf(await resetPassword(server.url, second), "resetPassword").userId).toBe(account.userId);
    });

    it("refuses malformed and unknown tokens, and a weak new password consumes nothing", async () => {
      const unknown = "A".repeat(43);
      for (const token of ["", "short", `${unknown}=`, "!".repeat(43), `${unknown}A`, unknown]) {
        expect(refusalOf(await resetPassword(server.url, token))).toEqual(LINK_INVALID);
        expect(refusalOf(await verifyEmail(server.url, token))).toEqual(LINK_INVALID);
      }

      const account = await signUp(server.url);
      const token = await resetToken(account.email);
      for (const weak of ["short", "x".repeat(129)])
        expect(refusalOf(await resetPassword(server.url, token, weak))?.code).toBe("BAD_USER_INPUT");
      // A reset link is no verification link, and trying it as one uses nothing up either.
      expect(refusalOf(await verifyEmail(server.url, token))).toEqual(LINK_INVALID);
      expect(errorOf(await loginAnswer(server.url, account.email, NEW_PASSWORD))).toEqual(INVALID_CREDENTIALS);

      expect(tokensOf(await resetPassword(server.url, token), "resetPassword").userId).toBe(account.userId);
    });

    it("answers true for an address without an account and mails it nothing", async () => {
      const nobody = uniqueEmail("nobody");
      expect((await requestReset(server.url, nobody)).body).toEqual({ data: { requestPasswordReset: true } });
      // Requested after it, so by the time this one is sent the other was handled too.
      await settleMail();

      expect(smtp.to(nobody)).toEqual([]);
      // Nothing left that could still become a mail, either.
      expect(await server.database.prisma.mail.count({ where: { recipient: nobody } })).toBe(0);
    });

    it("drops a third request for one address within MAIL_ADDRESS_LIMIT=2/1h, answering true all the same", async () => {
      const account = await signUp(server.url);
      await resetToken(account.email);
      const second = await resetToken(account.email);

      const third = await requestReset(server.url, account.email);
      expect(third.status).toBe(200);
      expect(third.body).toEqual({ data: { requestPasswordReset: true } });
      await settleMail();

      expect(mailsTo(account.email, SUBJECT.reset)).toHaveLength(2);
      // No third link was opened either: the second still works.
      expect(tokensOf(await resetPassword(server.url, second), "resetPassword").userId).toBe(account.userId);
    });
  });

  describe("email verification", () => {
    it("mails the caller a link that marks the address verified, in me and in the next token", async () => {
      const account = await signUp(server.url);
      expect(decodeAccessToken(account.accessToken).email_verified).toBe(false);
      expect((await me(server.url, account.accessToken)).emailVerified).toBe(false);

      const requested = await requestVerification(server.url, account.accessToken);
      expect(requested.body).toEqual({ data: { requestEmailVerification: true } });
      const mail = await mailTo(account.email, SUBJECT.verify);
      expect(mail.from).toBe(MAIL_FROM_ADDRESS);
      expect(mail.link).toBe(`${APP_URL}/verify-email#token=${mail.token}`);
      expect(mail.html).toContain(`href="${mail.link}"`);

      expect((await verifyEmail(server.url, mail.token!)).body).toEqual({ data: { verifyEmail: true } });
      expect(await me(server.url, account.accessToken)).toMatchObject({ email: account.email, emailVerified: true });
      const refreshed = await refresh(server.url, { cookie: account.cookie });
      expect(decodeAccessToken(refreshed.accessToken).email_verified).toBe(true);

      expect(refusalOf(await verifyEmail(server.url, mail.token!))).toEqual(LINK_INVALID);
    });

    it("answers true and mails nothing when the address is verified already", async () => {
      const account = await signUp(server.url);
      await verifyEmail(server.url, (await requestAndWait(account)).token!);

      const again = await requestVerification(server.url, account.accessToken);
      expect(again.body).toEqual({ data: { requestEmailVerification: true } });
      await settleMail();
      expect(mailsTo(account.email, SUBJECT.verify)).toHaveLength(1);
      expect(
        await server.database.prisma.mail.count({ where: { recipient: account.email, kind: "email-verification" } }),
      ).toBe(1);
    });

    it("needs a caller", async () => {
      expect(refusalOf(await callGraphQL(server.url, REQUEST_EMAIL_VERIFICATION))).toEqual({
        code: "UNAUTHENTICATED",
        reason: "TOKEN_MISSING",
      });
    });

    async function requestAndWait(account: Tokens & { email: string }): Promise<ReceivedMail> {
      expect((await requestVerification(server.url, account.accessToken)).body.errors).toBeUndefined();
      return mailTo(account.email, SUBJECT.verify);
    }
  });

  describe("email change", () => {
    it("moves the account once the new address's link is used, and voids links mailed to the old one", async () => {
      const account = await signUp(server.url);
      // Mailed to the old address before the change: it must not outlive that address.
      const oldReset = await resetToken(account.email);
      const newEmail = uniqueEmail("moved");

      const changed = await changeEmail(server.url, account.accessToken, newEmail, account.password);
      expect(changed.body).toEqual({ data: { changeEmail: true } });
      const link = await mailTo(newEmail, SUBJECT.change);
      expect(link.link).toBe(`${APP_URL}/verify-email#token=${link.token}`);
      const notice = await mailTo(account.email, SUBJECT.changeRequested);
      expect(notice.token).toBeNull();
      expect(smtp.to(account.email).some((mail) => mail.text.includes(newEmail))).toBe(false);

      // Nothing moves before the link is used.
      expect((await me(server.url, account.accessToken)).email).toBe(account.email);
      expect(errorOf(await loginAnswer(server.url, newEmail, account.password))).toEqual(INVALID_CREDENTIALS);
      expect((await login(server.url, account.email, account.password)).userId).toBe(account.userId);

      expect((await verifyEmail(server.url, link.token!)).body).toEqual({ data: { verifyEmail: true } });
      expect(await me(server.url, account.accessToken)).toMatchObject({ email: newEmail, emailVerified: true });
      expect((await login(server.url, newEmail, account.password)).userId).toBe(account.userId);
      expect(errorOf(await loginAnswer(server.url, account.email, account.password))).toEqual(INVALID_CREDENTIALS);

      expect(refusalOf(await resetPassword(server.url, oldReset))).toEqual(LINK_INVALID);
      expect(refusalOf(await verifyEmail(server.url, link.token!))).toEqual(LINK_INVALID);
    });

    it("refuses a wrong current password and an address that is taken, mailing nothing", async () => {
      const account = await signUp(server.url);
      const other = await signUp(server.url);
      const target = uniqueEmail("target");

      expect(refusalOf(await changeEmail(server.url, account.accessToken, target, "not the password"))).toEqual(
        INVALID_CREDENTIALS,
      );
      expect(refusalOf(await changeEmail(server.url, account.accessToken, other.email, account.password))?.code).toBe(
        "CONFLICT",
      );
      // As signUp compares addresses: trimmed, any case.
      const shouted = ` ${other.email.toUpperCase()} `;
      expect(refusalOf(await changeEmail(server.url, account.accessToken, shouted, account.password))?.code).toBe(
        "CONFLICT",
      );

      expect(await server.database.prisma.mail.count({ where: { recipient: { in: [target, other.email] } } })).toBe(0);
      expect(
        await server.database.prisma.mail.count({
          where: { recipient: account.email, kind: "email-change-requested" },
        }),
      ).toBe(0);
      expect((await me(server.url, account.accessToken)).email).toBe(account.email);
    });

    it("answers CONFLICT, changing nothing, when the new address was taken before the link was used", async () => {
      const account = await signUp(server.url);
      const contested = uniqueEmail("contested");
      expect(
        (await changeEmail(server.url, account.accessToken, contested, account.password)).body.errors,
      ).toBeUndefined();
      const link = await mailTo(contested, SUBJECT.change);

      const newcomer = await signUp(server.url, contested, "the newcomer's own password");
      expect(refusalOf(await verifyEmail(server.url, link.token!))?.code).toBe("CONFLICT");

      expect(await me(server.url, account.accessToken)).toMatchObject({ email: account.email, emailVerified: false });
      expect((await login(server.url, account.email, account.password)).userId).toBe(account.userId);
      expect(await me(server.url, newcomer.accessToken)).toMatchObject({ id: newcomer.userId, email: contested });
      expect((await login(server.url, contested, "the newcomer's own password")).userId).toBe(newcomer.userId);
      // Nothing half-done: the link was not used up, and using it again changes nothing either.
      expect(refusalOf(await verifyEmail(server.url, link.token!))?.code).toBe("CONFLICT");
      expect((await me(server.url, account.accessToken)).email).toBe(account.email);
    });
  });

  describe("email change racing a sign-up", () => {
    it("lets exactly one of the link's use and a sign-up of the same address win; the other is CONFLICT", async () => {
      const account = await signUp(server.url);
      const contested = uniqueEmail("contested");
      await changeEmail(server.url, account.accessToken, contested, account.password);
      const token = (await mailTo(contested, SUBJECT.change)).token!;

      const [verified, signedUp] = await Promise.all([
        verifyEmail(server.url, token),
        callGraphQL(server.url, SIGN_UP, { variables: { input: { email: contested, password: NEW_PASSWORD } } }),
      ]);
      const winners = [verified, signedUp].filter((answer) => errorOf(answer) === undefined);
      expect(winners).toHaveLength(1);
      const loser = [verified, signedUp].find((answer) => errorOf(answer) !== undefined)!;
      expect(refusalOf(loser)?.code).toBe("CONFLICT");

      // One account holds the address, and the other account is whole: nothing half-changed.
      const holders = await server.database.prisma.user.findMany({ where: { email: contested }, select: { id: true } });
      expect(holders).toHaveLength(1);
      const mine = await server.database.prisma.user.findUniqueOrThrow({ where: { id: account.userId } });
      if (winners[0] === verified) {
        expect(holders[0].id).toBe(account.userId);
        expect(mine.emailVerifiedAt).not.toBeNull();
      } else {
        expect(holders[0].id).not.toBe(account.userId);
        expect(mine).toMatchObject({ email: account.email, emailVerifiedAt: null });
      }
    });
  });

  describe("password change", () => {
    it("refuses a wrong current password, then throttles like login (LOGIN_ATTEMPTS_LIMIT=3/15m)", async () => {
      const account = await signUp(server.url);
      for (let attempt = 0; attempt < 3; attempt++)
        expect(refusalOf(await changePassword(server.url, account.accessToken, "not the password"))).toEqual(
          INVALID_CREDENTIALS,
        );
      expectRateLimited(await changePassword(server.url, account.accessToken, "not the password"), 15 * 60);
      // While limited even the right one is refused, and the password stays as it was.
      expectRateLimited(await changePassword(server.url, account.accessToken, account.password), 15 * 60);
      expectRateLimited(await loginAnswer(server.url, account.email, account.password), 15 * 60);
      expect(await server.database.prisma.session.count({ where: { userId: account.userId, endedAt: null } })).toBe(1);
    });

    it("ends every other session, keeps the caller's, notifies, and voids a pending reset link", async () => {
      const account = await signUp(server.url);
      const otherDevice = await login(server.url, account.email, account.password);
      const pendingReset = await resetToken(account.email);

      const changed = await changePassword(server.url, account.accessToken, account.password);
      expect(changed.body).toEqual({ data: { changePassword: true } });

      await expectSessionEnded(otherDevice);
      expect((await me(server.url, account.accessToken)).id).toBe(account.userId);
      const rotated = await refresh(server.url, { cookie: account.cookie });
      expect(rotated.sessionId).toBe(account.sessionId);
      expect(rotated.refreshToken).not.toBe(account.refreshToken);

      expect(errorOf(await loginAnswer(server.url, account.email, account.password))).toEqual(INVALID_CREDENTIALS);
      expect((await login(server.url, account.email, NEW_PASSWORD)).userId).toBe(account.userId);

      const notice = await mailTo(account.email, SUBJECT.passwordChanged);
      expect(notice.token).toBeNull();
      expect(refusalOf(await resetPassword(server.url, pendingReset, "the attacker's passphrase"))).toEqual(
        LINK_INVALID,
      );
    });

    it("ends a pending email change too, and sends notices only within MAIL_ADDRESS_LIMIT=2/1h", async () => {
      const account = await signUp(server.url);
      const theirs = uniqueEmail("intruder");
      await changeEmail(server.url, account.accessToken, theirs, account.password);
      const takeover = (await mailTo(theirs, SUBJECT.change)).token!;

      // The change-requested notice above was the first to this address; two password changes follow.
      let current = account.password;
      for (const next of ["second passphrase", "third passphrase"]) {
        expect((await changePassword(server.url, account.accessToken, current, next)).body).toEqual({
          data: { changePassword: true },
        });
        current = next;
      }
      expect(refusalOf(await verifyEmail(server.url, takeover))).toEqual(LINK_INVALID);
      await settleMail();
      // An account signed up with someone else's address cannot make keyway mail them without end.
      expect(smtp.to(account.email).filter((mail) => mail.token === null)).toHaveLength(2);
      expect(mailsTo(account.email, SUBJECT.passwordChanged)).toHaveLength(1);
      expect((await login(server.url, account.email, current)).userId).toBe(account.userId);
    });

    it("refuses a weak new password without changing anything", async () => {
      const account = await signUp(server.url);
      const otherDevice = await login(server.url, account.email, account.password);
      expect(refusalOf(await changePassword(server.url, account.accessToken, account.password, "short"))?.code).toBe(
        "BAD_USER_INPUT",
      );
      expect((await me(server.url, otherDevice.accessToken)).id).toBe(account.userId);
      expect((await login(server.url, account.email, account.password)).userId).toBe(account.userId);
    });
  });

  describe("link expiry", () => {
    it("honours a reset link until PASSWORD_RESET_TTL (1h), and refuses it past that", async () => {
      const [early, late] = [await signUp(server.url), await signUp(server.url)];
      const [earlyToken, lateToken] = [await resetToken(early.email), await resetToken(late.email)];
      clock.advance(3600 - 60);
      expect(tokensOf(await resetPassword(server.url, earlyToken), "resetPassword").userId).toBe(early.userId);
      clock.advance(61);
      expect(refusalOf(await resetPassword(server.url, lateToken))).toEqual(LINK_INVALID);
      expect(errorOf(await loginAnswer(server.url, late.email, NEW_PASSWORD))).toEqual(INVALID_CREDENTIALS);
    });

    it("honours a verification link until EMAIL_VERIFICATION_TTL (24h), and refuses it past that", async () => {
      const [early, account] = [await signUp(server.url), await signUp(server.url)];
      const tokens: string[] = [];
      for (const holder of [early, account]) {
        expect((await requestVerification(server.url, holder.accessToken)).body.errors).toBeUndefined();
        tokens.push((await mailTo(holder.email, SUBJECT.verify)).token!);
      }
      clock.advance(86400 - 60);
      expect((await verifyEmail(server.url, tokens[0])).body).toEqual({ data: { verifyEmail: true } });
      clock.advance(61);
      expect(refusalOf(await verifyEmail(server.url, tokens[1]))).toEqual(LINK_INVALID);
      const fresh = await login(server.url, account.email, account.password);
      expect((await me(server.url, fresh.accessToken)).emailVerified).toBe(false);
    });
  });

  describe("metrics", () => {
    it("counts sent mails by kind and shows the outbox's size", async () => {
      const before = await metric(server.url, "keyway_mails_sent_total", 'kind="password-reset"');
      await resetToken((await signUp(server.url)).email);
      // The count moves once the SMTP server's acceptance is recorded, just after the mail arrives.
      await server.services.mail.drain();
      expect(await metric(server.url, "keyway_mails_sent_total", 'kind="password-reset"')).toBe(before + 1);
      const text = await (await fetch(`${server.url}/metrics`)).text();
      expect(text).toMatch(/^keyway_mails_queued \d+$/m);
    });
  });
});

describe("per-IP limit (AUTH_IP_LIMIT=5/1m)", () => {
  let server: TestServer;
  beforeAll(async () => {
    server = await startTestServer({ env: { AUTH_IP_LIMIT: "5/1m", MAIL_POLL_INTERVAL: "1" } });
  });
  afterAll(() => server?.stop());

  it("refuses requestPasswordReset beyond it with RATE_LIMITED and retryAfter", async () => {
    for (let call = 0; call < 5; call++)
      expect((await requestReset(server.url, uniqueEmail("flood"))).body).toEqual({
        data: { requestPasswordReset: true },
      });
    expectRateLimited(await requestReset(server.url, uniqueEmail("flood")), 60);
  });
});

describe("development outbox (no SMTP_URL)", () => {
  let server: TestServer;
  beforeAll(async () => {
    server = await startTestServer({ env: { MAIL_POLL_INTERVAL: "1" } });
  });
  afterAll(() => server?.stop());

  it("writes each mail as an .eml file in DATA_DIR/outbox and logs where, never what", async () => {
    const account = await signUp(server.url);
    expect((await requestReset(server.url, account.email)).body).toEqual({ data: { requestPasswordReset: true } });
    await server.services.mail.drain();

    const outbox = path.join(server.config.dataDir, "outbox");
    const files = (await readdir(outbox)).filter((name) => name.endsWith(".eml"));
    expect(files).toHaveLength(1);
    const file = path.join(outbox, files[0]);
    const parsed = await simpleParser(await readFile(file));
    expect(parsed.subject).toBe(SUBJECT.reset);
    const prefix = `${server.config.mail.appUrl}/reset-password#token=`;
    const link = (parsed.text ?? "").split(/\s+/).find((word) => word.startsWith(prefix));
    expect(link).toBeDefined();
    const token = link!.slice(prefix.length);
    expect(token).toMatch(/^[A-Za-z0-9_-]{43}$/);
    recordSecret(token);

    const written = server.logs.filter((line) => (JSON.parse(line) as { file?: unknown }).file === file);
    expect(written).toHaveLength(1);
    expect(server.logs.filter((line) => line.includes(token))).toEqual([]);
    expect(server.logs.filter((line) => line.includes(account.email))).toEqual([]);

    // The link in the file is a working one.
    expect(tokensOf(await resetPassword(server.url, token), "resetPassword").userId).toBe(account.userId);
  });
});
