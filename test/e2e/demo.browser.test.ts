// The demo client in a real Chromium: a person logs in, reloads, closes the
// browser and comes back, opens two tabs, lets the access token expire, logs out
// in one tab — and the refresh token never reaches script or a response body.
// Then the mailed links: a forgotten password reset from the mail a real SMTP
// server received, an address verified and changed, a password changed.
import { writeFileSync } from "node:fs";
import path from "node:path";
import type { Browser, BrowserContext, Page } from "playwright-core";
import { DEFAULT_PASSWORD, uniqueEmail } from "../helpers/auth";
import { ARTIFACTS, browserAvailable, launchChromium } from "../helpers/browser";
import { freePort } from "../helpers/net";
import { startTestServer, TestClock, type TestServer } from "../helpers/server";
import { startTestSmtp, type ReceivedMail, type TestSmtp } from "../helpers/smtp";

const suite = browserAvailable() ? describe : describe.skip;
const clock = new TestClock();
let server: TestServer;
let mailServer: TestServer;
let smtp: TestSmtp;
let browser: Browser;

const NEW_PASSWORD = "a new and longer passphrase";
const LINK_INVALID = "This link has expired or was already used. Ask for a new one.";

suite("the demo client in Chromium", () => {
  beforeAll(async () => {
    server = await startTestServer({
      clock,
      env: { DEMO: "true", ACCESS_TOKEN_TTL: "15m", REFRESH_REUSE_GRACE: "10s" },
    });
    browser = await launchChromium();
  });
  afterAll(async () => {
    await browser?.close();
    await server?.stop();
  });

  /** A page that records every GraphQL operation it sends and every response body it receives. */
  async function openDemo(context: BrowserContext, site = server) {
    const page = await context.newPage();
    const operations: string[] = [];
    const bodies: string[] = [];
    page.on("request", (request) => {
      const query = request.postDataJSON()?.query as string | undefined;
      if (query) operations.push(/(?:query|mutation)\s+(\w+)/.exec(query)?.[1] ?? "?");
    });
    page.on(
      "response",
      (response) =>
        void response.text().then(
          (text) => bodies.push(text),
          () => undefined,
        ),
    );
    await page.goto(`${site.url}/demo`);
    await waitForStatus(page, /^Signed (in|out)$/);
    return { page, operations, bodies };
  }

  const waitForStatus = (page: Page, status: RegExp | string) =>
    page.getByTestId("status").filter({ hasText: status }).waitFor();

  // Within the sign-in form: other forms on the page have email and password fields too.
  async function fillCredentials(page: Page, email: string, password: string, button: "Sign up" | "Log in") {
    const form = page.getByTestId("credentials");
    await form.getByLabel("Email").fill(email);
    await form.getByLabel("Password").fill(password);
    await form.getByRole("button", { name: button }).click();
  }

  async function signUpIn(page: Page, email = uniqueEmail("browser")): Promise<string> {
    await fillCredentials(page, email, DEFAULT_PASSWORD, "Sign up");
    await waitForStatus(page, "Signed in");
    await page.getByTestId("email").filter({ hasText: email }).waitFor();
    return email;
  }

  async function logIn(page: Page, email: string, password = DEFAULT_PASSWORD): Promise<void> {
    await fillCredentials(page, email, password, "Log in");
    await waitForStatus(page, "Signed in");
    await page.getByTestId("email").filter({ hasText: email }).waitFor();
  }

  const waitForText = (page: Page, testId: string, text: string) =>
    page.getByTestId(testId).filter({ hasText: text }).waitFor();

  const mailTo = (address: string, subject: string) =>
    smtp.waitFor((mail) => mail.to.includes(address) && mail.subject === subject);

  /** The link of a mail, checked to lead to this server's page for it. */
  function linkOf(mail: ReceivedMail, page: "reset-password" | "verify-email"): string {
    expect(mail.link).toBe(`${mailServer.url}/demo/${page}#token=${mail.token}`);
    return mail.link!;
  }

  /** Waits until the sessions table lists exactly `count` rows. */
  const expectSessionRows = (page: Page, count: number) =>
    page.getByTestId("sessions").locator(`tr:nth-child(${count}):last-child`).waitFor();

  /** Waits until the page has shown the account's second factors: the last request of a sign-in's loading. */
  const factorsShown = (page: Page) => page.getByTestId("totp-state").filter({ hasText: /\S/ }).waitFor();

  const refreshCookie = async (context: BrowserContext) =>
    (await context.cookies()).find((cookie) => cookie.name === "refresh_token");

  it("logs in; a reload signs back in silently; the refresh token is nowhere script or a body can see", async () => {
    const context = await browser.newContext();
    const { page, operations, bodies } = await openDemo(context);
    const email = await signUpIn(page);
    await page.getByTestId("sessions").locator("tr.current").waitFor();
    await factorsShown(page);

    await page.reload();
    await waitForStatus(page, "Signed in");
    await factorsShown(page);
    expect(await page.getByTestId("email").textContent()).toBe(email);
    expect(operations).toEqual([
      "Refresh",
      "SignUp",
      "Me",
      "Sessions",
      "SecondFactors",
      "Refresh",
      "Me",
      "Sessions",
      "SecondFactors",
    ]);

    const cookie = await refreshCookie(context);
    expect(cookie).toMatchObject({ httpOnly: true, sameSite: "Strict", path: "/" });
    // Evaluated in the page (a string: the test itself is compiled without the DOM's types).
    const visible = await page.evaluate<Record<string, string>>(
      "({ cookie: document.cookie, local: JSON.stringify({ ...localStorage }), session: JSON.stringify({ ...sessionStorage }) })",
    );
    for (const place of Object.values(visible)) expect(place).not.toContain(cookie!.value);
    expect(bodies.length).toBeGreaterThanOrEqual(7);
    for (const body of bodies) expect(body).not.toContain(cookie!.value);
    await page.screenshot({ path: path.join(ARTIFACTS, "demo-signed-in.png"), fullPage: true });
    await context.close();
  });

  it("a new browser context from the saved storage state is still logged in", async () => {
    const first = await browser.newContext();
    const email = await signUpIn((await openDemo(first)).page);
    const saved = await first.storageState();
    await first.close();

    const reopened = await browser.newContext({ storageState: saved });
    const { page, operations } = await openDemo(reopened);
    await waitForStatus(page, "Signed in");
    expect(await page.getByTestId("email").textContent()).toBe(email);
    expect(operations[0]).toBe("Refresh");
    await reopened.close();
  });

  it("shows the caller's roles, and a role granted since shows after the next silent refresh", async () => {
    const context = await browser.newContext();
    const { page } = await openDemo(context);
    await signUpIn(page);
    expect(await page.getByTestId("roles").textContent()).toBe("none");
    const user = await server.services.auth.findUserByEmail((await page.getByTestId("email").textContent()) ?? "");
    await server.services.roles.grantRole(user!.id, "staff", "test");
    await page.reload();
    await waitForStatus(page, "Signed in");
    await page
      .getByTestId("roles")
      .filter({ hasText: /^staff$/ })
      .waitFor();
    await context.close();
  });

  it("two tabs refreshing at the same moment both stay logged in", async () => {
    const context = await browser.newContext();
    const first = await openDemo(context);
    const email = await signUpIn(first.page);
    const second = await openDemo(context);
    await waitForStatus(second.page, "Signed in");

    await Promise.all([first.page.reload(), second.page.reload()]);
    for (const { page } of [first, second]) {
      await waitForStatus(page, "Signed in");
      await page.getByTestId("reload-sessions").click();
      await page.getByTestId("sessions").locator("tr.current").waitFor();
      expect(await page.getByTestId("email").textContent()).toBe(email);
    }
    await context.close();
  });

  it("an expired access token is refreshed transparently by the next action", async () => {
    const context = await browser.newContext();
    const { page, operations } = await openDemo(context);
    await signUpIn(page);
    await factorsShown(page); // the sign-up's loading is over
    const before = operations.length;
    clock.advance(15 * 60 + 5); // keyway's clock; the page still believes its token is fresh

    const answered = (operation: string) =>
      page.waitForResponse((response) => (response.request().postData() ?? "").includes(`query ${operation}`));
    const sessionsAnswered = answered("Sessions");
    const factorsAnswered = answered("SecondFactors");
    await page.getByTestId("reload-sessions").click();
    expect((await (await sessionsAnswered).json()).data.sessions.length).toBeGreaterThan(0);
    await factorsAnswered;
    await waitForStatus(page, "Signed in");
    expect(operations.slice(before)).toEqual(["Me", "Refresh", "Me", "Sessions", "SecondFactors"]);
    expect(await page.getByTestId("error").textContent()).toBe("");
    await context.close();
  });

  it("logging out in one tab logs the other out on its next request", async () => {
    const context = await browser.newContext();
    const first = await openDemo(context);
    await signUpIn(first.page);
    const second = await openDemo(context);
    await waitForStatus(second.page, "Signed in");

    await first.page.getByTestId("logout").click();
    await waitForStatus(first.page, "Signed out");
    expect(await refreshCookie(context)).toBeUndefined();

    await second.page.getByTestId("reload-sessions").click();
    await waitForStatus(second.page, "Signed out");
    expect(await second.page.getByTestId("error").textContent()).toContain("session ended");
    await context.close();
  });

  it("measures a cold page load with silent refresh (median of 20)", async () => {
    const setup = await browser.newContext();
    await signUpIn((await openDemo(setup)).page);
    let state = await setup.storageState();
    await setup.close();

    const samples: number[] = [];
    for (let i = 0; i < 20; i++) {
      // A fresh context each time: empty HTTP cache, nothing in memory, only the cookie.
      const context = await browser.newContext({ storageState: state });
      const { page } = await openDemo(context);
      await waitForStatus(page, "Signed in");
      // The page marks the moment its first screen is complete (sessions listed); "Signed in" shows a little earlier.
      // A function, not a string: the demo's CSP forbids eval, which a string predicate needs.
      await page.waitForFunction(() => performance.getEntriesByName("keyway:ready").length > 0);
      samples.push(await page.evaluate(() => performance.getEntriesByName("keyway:ready")[0].startTime));
      state = await context.storageState(); // the rotated cookie, as a browser would keep it
      await context.close();
    }
    samples.sort((a, b) => a - b);
    const median = (samples[9] + samples[10]) / 2;
    writeFileSync(
      path.join(ARTIFACTS, "demo-cold-load.json"),
      JSON.stringify({ medianMs: median, samplesMs: samples }, null, 2),
    );
    console.log(
      `cold page load with silent refresh: median ${median.toFixed(1)} ms over 20 (min ${samples[0].toFixed(1)}, max ${samples[19].toFixed(1)})`,
    );
    expect(samples).toHaveLength(20);
    // Twenty fresh browser contexts: on a loaded 2-core machine one load has taken 9 s.
  }, 180_000);

  describe("with the links keyway mails", () => {
    // A keyway of its own, on the real clock, mailing to a test SMTP server: its links must
    // lead to this very server's /demo.
    beforeAll(async () => {
      smtp = await startTestSmtp();
      // The port is picked first so that APP_URL, which mailed links are built on, is this very server's /demo.
      const port = await freePort();
      mailServer = await startTestServer({
        port,
        env: { DEMO: "true", APP_URL: `http://127.0.0.1:${port}/demo`, SMTP_URL: smtp.url, MAIL_POLL_INTERVAL: "1" },
      });
    });
    afterAll(async () => {
      await mailServer?.stop();
      await smtp?.stop();
    });

    it("forgot password: the mailed link sets a new password and signs in; a session elsewhere ends", async () => {
      const contextA = await browser.newContext();
      const { page, operations } = await openDemo(contextA, mailServer);
      const email = await signUpIn(page);
      // B: another browser signed in as the same person, holding a session the reset must end.
      const contextB = await browser.newContext();
      const other = (await openDemo(contextB, mailServer)).page;
      await logIn(other, email);

      await page.getByTestId("logout").click();
      await waitForStatus(page, "Signed out");
      await page.getByText("Forgot password?").click();
      const forgot = page.getByTestId("forgot-form");
      const sent = "If that address has an account, a link is on its way.";
      // An address without an account hears the very same words (and gets no mail, checked below).
      const nobody = uniqueEmail("nobody");
      for (const address of [nobody, email]) {
        await forgot.getByLabel("Email").fill(address);
        await forgot.getByRole("button", { name: "Send a reset link" }).click();
        await waitForText(page, "forgot-message", sent);
        expect(await page.getByTestId("forgot-message").textContent()).toBe(sent);
      }

      const mail = await mailTo(email, "Reset your password");
      const before = operations.length;
      await page.goto(linkOf(mail, "reset-password"));
      await page.getByTestId("reset-form").waitFor();
      // The token left the address bar (replaceState, so no history entry holds it either).
      expect(page.url()).toBe(`${mailServer.url}/demo/reset-password`);
      // The reset form shows instead of the sign-in form, and no session was restored under it.
      expect(await page.getByTestId("credentials").isVisible()).toBe(false);
      expect(operations.slice(before)).toEqual([]);
      await page.screenshot({ path: path.join(ARTIFACTS, "demo-reset-password.png"), fullPage: true });

      await page.getByTestId("reset-form").getByLabel("New password").fill(NEW_PASSWORD);
      await page.getByRole("button", { name: "Set new password" }).click();
      await waitForStatus(page, "Signed in");
      expect(await page.getByTestId("email").textContent()).toBe(email);
      await page.getByTestId("sessions").locator("tr.current").waitFor();
      await factorsShown(page);
      expect(page.url()).toBe(`${mailServer.url}/demo`);
      expect(operations.slice(before)).toEqual(["ResetPassword", "Me", "Sessions", "SecondFactors"]);
      // A reset proves the address: it is verified now.
      expect(await page.getByTestId("email-verified").textContent()).toBe("verified");

      // B's next request finds its session ended by the reset.
      await other.getByTestId("reload-sessions").click();
      await waitForStatus(other, "Signed out");
      expect(await other.getByTestId("error").textContent()).toContain("session ended");
      // The old password no longer works; the link works only once.
      await fillCredentials(other, email, DEFAULT_PASSWORD, "Log in");
      await waitForText(other, "error", "Wrong email or password.");
      await other.goto(mail.link!);
      await other.getByTestId("reset-form").getByLabel("New password").fill("yet another passphrase");
      await other.getByRole("button", { name: "Set new password" }).click();
      await waitForText(other, "notice", LINK_INVALID);
      expect(await other.getByTestId("status").textContent()).toBe("Signed out");
      expect(await other.getByTestId("forgot-form").isVisible()).toBe(true);
      await logIn(other, email, NEW_PASSWORD);

      await mailTo(email, "Your password was reset");
      expect(smtp.to(nobody)).toEqual([]);
      await contextA.close();
      await contextB.close();
    });

    it("verifies the address: the button mails a link, and opening it shows the address verified", async () => {
      const context = await browser.newContext();
      const { page } = await openDemo(context, mailServer);
      const email = await signUpIn(page);
      expect(await page.getByTestId("email-verified").textContent()).toBe("not verified");

      await page.getByRole("button", { name: "Verify your email" }).click();
      await waitForText(page, "verify-message", "Check your inbox for a link.");
      const mail = await mailTo(email, "Verify your email address");
      await page.goto(linkOf(mail, "verify-email"));
      await waitForText(page, "notice", "Your email address is verified.");
      await waitForStatus(page, "Signed in");
      expect(await page.getByTestId("email").textContent()).toBe(email);
      expect(await page.getByTestId("email-verified").textContent()).toBe("verified");
      expect(await page.getByTestId("verify-email").isVisible()).toBe(false);
      expect(page.url()).toBe(`${mailServer.url}/demo`);
      expect((await mailServer.services.auth.findUserByEmail(email))?.emailVerifiedAt).toBeInstanceOf(Date);
      await page.screenshot({ path: path.join(ARTIFACTS, "demo-email-verified.png"), fullPage: true });

      // Opened a second time, the link is spent.
      await page.goto(mail.link!);
      await waitForText(page, "notice", LINK_INVALID);
      await context.close();
    });

    it("changes the password from the page: a wrong current one is refused, other sessions end", async () => {
      const contextA = await browser.newContext();
      const { page } = await openDemo(contextA, mailServer);
      const email = await signUpIn(page);
      const contextB = await browser.newContext();
      const other = (await openDemo(contextB, mailServer)).page;
      await logIn(other, email);
      await page.getByTestId("reload-sessions").click();
      await expectSessionRows(page, 2);

      const form = page.getByTestId("change-password");
      await form.getByLabel("Current password").fill("not the password");
      await form.getByLabel("New password").fill(NEW_PASSWORD);
      await form.getByRole("button", { name: "Change password" }).click();
      await waitForText(page, "change-password-message", "The current password is wrong.");

      await form.getByLabel("Current password").fill(DEFAULT_PASSWORD);
      await form.getByLabel("New password").fill(NEW_PASSWORD);
      await form.getByRole("button", { name: "Change password" }).click();
      await waitForText(page, "change-password-message", "Password changed. Your other sessions were signed out.");
      // This browser's session stays; B's is gone from the list and from B.
      await waitForStatus(page, "Signed in");
      await expectSessionRows(page, 1);
      await page.screenshot({ path: path.join(ARTIFACTS, "demo-password-changed.png"), fullPage: true });
      await other.getByTestId("reload-sessions").click();
      await waitForStatus(other, "Signed out");
      await mailTo(email, "Your password was changed");

      await page.getByTestId("logout").click();
      await waitForStatus(page, "Signed out");
      await fillCredentials(page, email, DEFAULT_PASSWORD, "Log in");
      await waitForText(page, "error", "Wrong email or password.");
      await logIn(page, email, NEW_PASSWORD);
      await contextA.close();
      await contextB.close();
    });

    it("changes the address: the link mailed to the new one makes it the account's, verified", async () => {
      const context = await browser.newContext();
      const { page } = await openDemo(context, mailServer);
      const email = await signUpIn(page);
      const newEmail = uniqueEmail("moved");

      const form = page.getByTestId("change-email");
      await form.getByLabel("New email").fill(newEmail);
      await form.getByLabel("Current password").fill(DEFAULT_PASSWORD);
      await form.getByRole("button", { name: "Change email" }).click();
      await waitForText(page, "change-email-message", "Check the new address for a link.");
      // Nothing changes until the new address proves itself.
      expect(await page.getByTestId("email").textContent()).toBe(email);
      await mailTo(email, "A change of your email address was requested");

      const mail = await mailTo(newEmail, "Confirm your new email address");
      await page.goto(linkOf(mail, "verify-email"));
      await waitForText(page, "notice", "Your email address is verified.");
      await waitForStatus(page, "Signed in");
      expect(await page.getByTestId("email").textContent()).toBe(newEmail);
      expect(await page.getByTestId("email-verified").textContent()).toBe("verified");
      await context.close();
    });
  });
});
