// Second factors on the demo page in a real Chromium, with a virtual
// authenticator (the DevTools protocol's WebAuthn domain) standing in for a
// phone or security key: a passkey registered, used to sign in with no email
// typed, and to step up; an authenticator app enrolled from the page's QR code
// and asked for at login; and a passkey made for another rpId refused, by the
// browser on the page and by keyway when a phishing page relays its answer.
import type { Browser, BrowserContext, CDPSession, Page } from "playwright-core";
import { generate } from "otplib";
import { DEFAULT_PASSWORD, uniqueEmail } from "../helpers/auth";
import { browserAvailable, launchChromium } from "../helpers/browser";
import { freePort } from "../helpers/net";
import { startTestServer, type TestServer } from "../helpers/server";

const suite = browserAvailable() ? describe : describe.skip;
let server: TestServer;
let browser: Browser;
let origin: string;

suite("second factors on the demo page in Chromium", () => {
  beforeAll(async () => {
    const port = await freePort();
    // Browsers make passkeys for domain names only: the page is opened as localhost, which is a secure context.
    origin = `http://localhost:${port}`;
    server = await startTestServer({
      port,
      env: { DEMO: "true", APP_URL: `${origin}/demo`, AUTH_IP_LIMIT: "100000/1m" },
    });
    browser = await launchChromium();
  });
  afterAll(async () => {
    await browser?.close();
    await server?.stop();
  });

  /** A fresh browser profile with one virtual platform authenticator: resident keys, user verification (a fingerprint, say). */
  async function openWithAuthenticator(context: BrowserContext, site = origin) {
    const page = await context.newPage();
    const cdp = await context.newCDPSession(page);
    await cdp.send("WebAuthn.enable", { enableUI: false });
    const { authenticatorId } = await cdp.send("WebAuthn.addVirtualAuthenticator", {
      options: {
        protocol: "ctap2",
        ctap2Version: "ctap2_1",
        transport: "internal",
        hasResidentKey: true,
        hasUserVerification: true,
        isUserVerified: true,
        automaticPresenceSimulation: true,
      },
    });
    await page.goto(`${site}/demo`);
    await waitForStatus(page, /^Signed (in|out)$/);
    return { page, cdp, authenticatorId };
  }

  const waitForStatus = (page: Page, status: RegExp | string) =>
    page.getByTestId("status").filter({ hasText: status }).waitFor();
  const waitForText = (page: Page, testId: string, text: string | RegExp) =>
    page.getByTestId(testId).filter({ hasText: text }).waitFor();

  async function submitCredentials(page: Page, email: string, button: "Sign up" | "Log in"): Promise<void> {
    const form = page.getByTestId("credentials");
    await form.getByLabel("Email").fill(email);
    await form.getByLabel("Password").fill(DEFAULT_PASSWORD);
    await form.getByRole("button", { name: button }).click();
  }

  async function signUp(page: Page): Promise<string> {
    const email = uniqueEmail("factors");
    await submitCredentials(page, email, "Sign up");
    await waitForStatus(page, "Signed in");
    await waitForText(page, "email", email);
    return email;
  }

  async function registerPasskey(page: Page, name: string): Promise<void> {
    await page.getByTestId("passkey-add").getByLabel("Name").fill(name);
    await page.getByTestId("passkey-add").getByRole("button", { name: "Add a passkey" }).click();
    await waitForText(page, "passkey-message", "Passkey added.");
    await waitForText(page, "passkeys", name);
  }

  const credentialsOf = async (cdp: CDPSession, authenticatorId: string) =>
    (await cdp.send("WebAuthn.getCredentials", { authenticatorId })).credentials;

  const sessionsOf = (email: string) =>
    server.database.prisma.session.findMany({ where: { user: { email } }, orderBy: { createdAt: "asc" } });

  it("registers a passkey, signs in with it without typing an email, and steps up with it", async () => {
    const context = await browser.newContext();
    const { page, cdp, authenticatorId } = await openWithAuthenticator(context);
    const email = await signUp(page);
    await registerPasskey(page, "Virtual key");

    const [credential] = await credentialsOf(cdp, authenticatorId);
    expect(credential).toMatchObject({ isResidentCredential: true, rpId: "localhost" });
    const stored = await server.database.prisma.passkey.findFirstOrThrow({ where: { user: { email } } });
    expect(stored.credentialId).toBe(Buffer.from(credential.credentialId, "base64").toString("base64url"));
    expect(stored.name).toBe("Virtual key");

    await page.getByTestId("logout").click();
    await waitForStatus(page, "Signed out");
    await page.getByTestId("passkey-login").click();
    await waitForStatus(page, "Signed in");
    await waitForText(page, "email", email);
    await waitForText(page, "amr", /^hwk$/);
    const signedIn = (await sessionsOf(email)).at(-1)!;
    expect(signedIn.amr).toEqual(["hwk"]);
    expect(signedIn.endedAt).toBeNull();

    // A step-up on the session a password started: same session, the passkey added to its amr.
    await page.getByTestId("logout").click();
    await waitForStatus(page, "Signed out");
    await submitCredentials(page, email, "Log in");
    await waitForStatus(page, "Signed in");
    await waitForText(page, "amr", /^pwd$/);
    const passwordSession = (await sessionsOf(email)).at(-1)!;
    await page.getByTestId("step-up-passkey").click();
    await waitForText(page, "step-up-message", "Stepped up with your passkey.");
    await waitForText(page, "amr", "pwd, hwk");
    await waitForText(page, "fresh-factor", "guarded fields are open");
    const steppedUp = await server.database.prisma.session.findUniqueOrThrow({ where: { id: passwordSession.id } });
    expect(steppedUp.amr).toEqual(["pwd", "hwk"]);
    expect(steppedUp.authTime.getTime()).toBeGreaterThan(passwordSession.authTime.getTime());
    expect((await sessionsOf(email)).length).toBe(3); // sign-up, passkey login, password login: step-up started none

    // The signature counter moved with each of the two uses (the login and the step-up).
    const used = await server.database.prisma.passkey.findUniqueOrThrow({ where: { id: stored.id } });
    expect(used.lastUsedAt).not.toBeNull();
    expect(used.counter).toBe(stored.counter + 2n); // from the count the registration reported
    expect(Number(used.counter)).toBe((await credentialsOf(cdp, authenticatorId))[0].signCount);
    await context.close();
  });

  it("enrols an authenticator app from the page's QR code, then asks for its code at login", async () => {
    const context = await browser.newContext();
    const { page } = await openWithAuthenticator(context);
    const email = await signUp(page);
    await page.getByTestId("totp-start").click();
    await page.getByTestId("totp-qr").locator("svg").waitFor();
    const secret = (await page.getByTestId("totp-secret").textContent())!;
    expect(secret).toMatch(/^[A-Z2-7]{32}$/);

    await page
      .getByTestId("totp-confirm")
      .getByLabel("Code from the app")
      .fill(await generate({ secret }));
    await page.getByTestId("totp-confirm").getByRole("button", { name: "Turn on" }).click();
    await waitForText(page, "totp-message", "Authenticator app turned on.");
    expect(await page.getByTestId("recovery-codes").locator("li").count()).toBe(10);
    await waitForText(page, "totp-state", "On. 10 recovery codes left.");

    await page.getByTestId("logout").click();
    await waitForStatus(page, "Signed out");
    await submitCredentials(page, email, "Log in");
    await page.getByTestId("mfa").waitFor();
    expect(await page.getByTestId("status").textContent()).toBe("Signed out");

    await page.getByTestId("mfa-form").getByLabel("Code").fill("000000");
    await page.getByTestId("mfa-form").getByRole("button", { name: "Continue" }).click();
    await waitForText(page, "mfa-message", "That code is not right");
    // The code that enrolled is spent; the next step's is accepted (an app shows it 30 s later).
    const next = await generate({ secret, epoch: Math.floor(Date.now() / 1000) + 30 });
    await page.getByTestId("mfa-form").getByLabel("Code").fill(next);
    await page.getByTestId("mfa-form").getByRole("button", { name: "Continue" }).click();
    await waitForStatus(page, "Signed in");
    await waitForText(page, "amr", "pwd, otp, mfa");
    expect((await sessionsOf(email)).at(-1)!.amr).toEqual(["pwd", "otp", "mfa"]);
    await context.close();
  });

  it("refuses a passkey made for another rpId: the browser on the page, and keyway when a phishing page relays it", async () => {
    const context = await browser.newContext();
    const { page, cdp, authenticatorId } = await openWithAuthenticator(context);
    const email = await signUp(page);
    await registerPasskey(page, "Real key");
    const [real] = await credentialsOf(cdp, authenticatorId);

    // The same key, as a look-alike site (another rpId) would have it made: the phisher's page, on its own domain.
    const phishing = `http://evil.localhost:${new URL(origin).port}`;
    const { authenticatorId: phone } = await cdp.send("WebAuthn.addVirtualAuthenticator", {
      options: {
        protocol: "ctap2",
        transport: "usb",
        hasResidentKey: true,
        hasUserVerification: true,
        isUserVerified: true,
      },
    });
    await cdp.send("WebAuthn.addCredential", {
      authenticatorId: phone,
      credential: {
        credentialId: real.credentialId,
        isResidentCredential: true,
        rpId: "evil.localhost",
        privateKey: real.privateKey,
        userHandle: real.userHandle,
        signCount: real.signCount + 1,
      },
    });
    // Virtual authenticators belong to the tab: the same tab goes to the look-alike.
    const evil = page;
    await evil.goto(`${phishing}/demo`);
    await waitForStatus(evil, "Signed out");
    // On the look-alike, keyway's options name rpId localhost: the browser will not use them there.
    await evil.getByTestId("passkey-login").click();
    await waitForText(evil, "error", "This browser will not use passkeys on this address");

    // The phisher asks keyway for options and has the browser answer for its own rpId, then relays the answer.
    const relayed = await evil.evaluate(`(async () => {
      const post = (query, variables) => fetch("/graphql", { method: "POST", headers: { "content-type": "application/json" }, body: JSON.stringify({ query, variables }) }).then((r) => r.json());
      const options = JSON.parse((await post("mutation { startPasskeyLogin }")).data.startPasskeyLogin);
      const b64 = (s) => Uint8Array.from(atob(s.replace(/-/g, "+").replace(/_/g, "/")), (c) => c.charCodeAt(0));
      const url = (buffer) => btoa(String.fromCharCode(...new Uint8Array(buffer))).replace(/\\+/g, "-").replace(/\\//g, "_").replace(/=+$/, "");
      const credential = await navigator.credentials.get({ publicKey: { challenge: b64(options.challenge), rpId: "evil.localhost", userVerification: "required" } });
      const response = {
        id: credential.id, rawId: url(credential.rawId), type: "public-key", clientExtensionResults: {},
        response: {
          clientDataJSON: url(credential.response.clientDataJSON),
          authenticatorData: url(credential.response.authenticatorData),
          signature: url(credential.response.signature),
          userHandle: credential.response.userHandle ? url(credential.response.userHandle) : undefined,
        },
      };
      return post("mutation ($response: String!) { finishPasskeyLogin(response: $response) { accessToken } }", { response: JSON.stringify(response) });
    })()`);
    expect(relayed).toMatchObject({
      data: null,
      errors: [{ extensions: { code: "UNAUTHENTICATED", reason: "PASSKEY_INVALID" } }],
    });
    // Refused for where the answer was made, not for anything else about it.
    const refusal = server.logs.filter((line) => line.includes("passkey refused")).at(-1);
    expect(refusal).toMatch(/origin/i);
    // The values the client sent stay out of the log line (the library quotes them in its message).
    expect(refusal).not.toContain("evil.localhost");
    // The credential keyway knows is the real one, untouched: no session came of the relay.
    expect((await sessionsOf(email)).length).toBe(1);
    const stored = await server.database.prisma.passkey.findFirstOrThrow({ where: { user: { email } } });
    expect(stored.credentialId).toBe(Buffer.from(real.credentialId, "base64").toString("base64url"));
    expect(stored.lastUsedAt).toBeNull();
    await context.close();
  });
});
