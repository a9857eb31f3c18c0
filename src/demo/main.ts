// The demo page: a person logs in, closes the tab, comes back, and is still
// logged in — the page never holds the refresh token, only an access token in
// memory, which it gets back on load through a silent refresh. It also serves
// the pages mailed links open (/demo/reset-password, /demo/verify-email) and
// the account's own password and address changes, and second factors: an
// authenticator app (with a QR code), passkeys, the MFA challenge at login, and
// step-up.
import QRCode from "qrcode";
import {
  KeywayClient,
  KeywayError,
  MeDocument,
  RevokeSessionDocument,
  SessionsDocument,
  linkToken,
  type KeywayState,
  type SessionsQuery,
} from "../client";

const element = <T extends HTMLElement>(id: string): T => document.getElementById(id) as T;
const status = element<HTMLParagraphElement>("status");
const errorLine = element<HTMLParagraphElement>("error");

const LINK_INVALID = "This link has expired or was already used. Ask for a new one.";
const WRONG_CURRENT_PASSWORD = { INVALID_CREDENTIALS: "The current password is wrong." };

// A mailed link's page and token. The token leaves the address bar (and so the
// history) at once and lives on in memory only; a reload cannot reuse it.
const linkPage = /\/(reset-password|verify-email)$/.exec(location.pathname)?.[1] ?? null;
const token = linkPage ? linkToken() : null;
if (linkPage) history.replaceState(null, "", location.pathname);
/** While set, the page asks for a new password instead of showing the sign-in form. */
let resetToken = linkPage === "reset-password" ? token : null;
/** While set, a right password (or reset link) waits for a second factor: the challenge completeLogin takes. */
let mfaChallenge: string | null = null;
/** How recent a second factor a guarded field asks for in the example's policy (examples/authz.json). */
const FRESH_FACTOR_SECONDS = 5 * 60;

/** Back to the plain page once the link has been used (or found unusable). */
function leaveLinkPage(): void {
  if (linkPage) history.replaceState(null, "", location.pathname.slice(0, -linkPage.length - 1));
}

const client = new KeywayClient({
  url: new URL("/graphql", location.origin).href,
  transport: "cookie",
  onSessionEnd: () => showError("Your session ended. Please log in again."),
});
client.subscribe(render);

function render(state: KeywayState): void {
  element("reset").hidden = resetToken === null;
  element("mfa").hidden = mfaChallenge === null || state.user !== null;
  element("signed-out").hidden = state.user !== null || resetToken !== null || mfaChallenge !== null;
  element("signed-in").hidden = state.user === null;
  status.textContent = state.user ? "Signed in" : "Signed out";
  element("email").textContent = state.user?.email ?? "";
  element("email-verified").textContent = state.user?.emailVerified ? "verified" : "not verified";
  element("verify-email").hidden = state.user?.emailVerified !== false;
  const roles = state.user?.roles ?? [];
  element("roles").textContent = roles.length > 0 ? roles.join(", ") : "none";
  element("expiry").textContent = state.accessTokenExpiresAt
    ? new Date(state.accessTokenExpiresAt).toLocaleTimeString()
    : "";
  if (state.user) {
    void showClaims();
    return;
  }
  element("sessions").replaceChildren();
  element("passkeys").replaceChildren();
  element("recovery-codes").replaceChildren();
  element("recovery").hidden = true;
  element("totp-enrol").hidden = true;
  // Nothing one account was told stays on the page for the next.
  for (const id of [
    "verify-message",
    "change-password-message",
    "change-email-message",
    "step-up-message",
    "totp-message",
    "passkey-message",
  ])
    say(element(id), "");
}

function showError(message: string): void {
  errorLine.textContent = message;
}

/** A form's status line: `failed` shows it as an error. */
function say(line: HTMLElement, message: string, failed = false): void {
  line.textContent = message;
  line.classList.toggle("error", failed);
}

/** The page's own line above everything: what became of a mailed link. */
function notice(message: string, failed = false): void {
  say(element("notice"), message, failed);
  element("notice").hidden = false;
}

/** What to tell the person; `own` words a code or reason the way this form's context needs. */
/** A browser-side passkey failure, already worded for the person. */
class PasskeyCeremonyError extends Error {}

function describe(error: unknown, own: Record<string, string> = {}): string {
  if (error instanceof PasskeyCeremonyError) return error.message;
  if (!(error instanceof KeywayError)) return "keyway could not be reached. Try again.";
  const specific = own[error.reason ?? ""] ?? own[error.code];
  if (specific) return specific;
  if (error.reason === "LINK_INVALID") return LINK_INVALID;
  if (error.code === "RATE_LIMITED") return `Too many attempts. Try again in ${error.retryAfter ?? 60} s.`;
  if (error.reason === "INVALID_CREDENTIALS") return "Wrong email or password.";
  if (error.code === "CONFLICT") return "That email already has an account. Log in instead.";
  if (error.reason === "MFA_INVALID") return "That code is not right, or was used already.";
  if (error.reason === "PASSKEY_INVALID") return "That passkey was not accepted here.";
  if (error.reason === "POLICY_FAILED")
    return "Log in again first: changing your second factors needs a sign-in within the last 10 minutes.";
  return error.message;
}

/** A passkey ceremony's failure: the browser's own refusals (cancelled, another site's domain) say what they are. */
function describePasskey(error: unknown): string {
  if (error instanceof KeywayError) return describe(error);
  const name = error instanceof Error ? error.name : "";
  if (name === "NotAllowedError") return "No passkey was used (cancelled, or none for this site).";
  if (name === "SecurityError")
    return "This browser will not use passkeys on this address: open the page on the domain keyway is configured for.";
  return `The browser could not use a passkey: ${error instanceof Error ? error.message : String(error)}`;
}

/** What the session's access token says about how it signed in (read for display only; keyway checks it). */
async function showClaims(): Promise<void> {
  const token = await client.getAccessToken();
  const payload = token?.split(".")[1];
  if (!payload) return;
  const claims = JSON.parse(atob(payload.replace(/-/g, "+").replace(/_/g, "/"))) as {
    amr?: string[];
    auth_time?: number;
  };
  element("amr").textContent = (claims.amr ?? []).join(", ") || "nothing recorded";
  const authTime = claims.auth_time ?? 0;
  element("auth-time").textContent = new Date(authTime * 1000).toLocaleTimeString();
  const secondFactor = (claims.amr ?? []).some((method) => method === "otp" || method === "hwk");
  const fresh = secondFactor && Date.now() / 1000 - authTime <= FRESH_FACTOR_SECONDS;
  element("fresh-factor").textContent = fresh
    ? "A second factor within 5 minutes: guarded fields are open."
    : "No second factor within 5 minutes: step up to open guarded fields.";
}

async function loadFactors(): Promise<void> {
  const { totp, recoveryCodesLeft, passkeys } = await client.secondFactors();
  element("totp-state").textContent = totp
    ? `On. ${recoveryCodesLeft} recovery code${recoveryCodesLeft === 1 ? "" : "s"} left.`
    : "Off.";
  element("totp-start").hidden = totp;
  element("totp-disable").hidden = !totp;
  if (totp) element("totp-enrol").hidden = true;
  element("passkeys").replaceChildren(
    ...passkeys.map((passkey) => {
      const item = document.createElement("li");
      item.dataset.passkeyId = passkey.id;
      const used = passkey.lastUsedAt ? `last used ${new Date(passkey.lastUsedAt).toLocaleString()}` : "not used yet";
      item.textContent = `${passkey.name ?? "Unnamed passkey"} (${passkey.backedUp ? "synced" : "this device"}, ${used})`;
      item.append(
        secondaryButton("Remove", () => {
          client
            .removePasskey(passkey.id)
            .then(loadFactors)
            .catch((error: unknown) => say(element("passkey-message"), describe(error), true));
        }),
      );
      return item;
    }),
  );
}

/** A row's own button (Revoke, Remove). */
function secondaryButton(label: string, onClick: () => void): HTMLButtonElement {
  const button = document.createElement("button");
  button.type = "button";
  button.className = "secondary";
  button.textContent = label;
  button.addEventListener("click", onClick);
  return button;
}

async function loadSessions(): Promise<void> {
  const me = await client.request(MeDocument);
  if (!me.data) return; // the session ended; onSessionEnd has said so and render() shows the form
  const result = await client.request(SessionsDocument);
  element("sessions").replaceChildren(...(result.data?.sessions ?? []).map(sessionRow));
  await loadFactors();
}

function sessionRow(session: SessionsQuery["sessions"][number]): HTMLTableRowElement {
  const row = document.createElement("tr");
  row.className = session.current ? "current" : "";
  row.dataset.sessionId = session.id;
  const cells = [
    new Date(session.createdAt).toLocaleString(),
    new Date(session.lastUsedAt).toLocaleString(),
    session.userAgent ?? "unknown",
    session.ip ?? "",
  ];
  for (const text of cells) row.insertCell().textContent = text;
  const action = row.insertCell();
  if (session.current) {
    action.textContent = "this browser";
  } else {
    action.append(
      secondaryButton("Revoke", () => {
        client
          .request(RevokeSessionDocument, { id: session.id })
          .then(loadSessions)
          .catch((error: unknown) => showError(describe(error)));
      }),
    );
  }
  return row;
}

async function submitCredentials(event: SubmitEvent): Promise<void> {
  event.preventDefault();
  const form = new FormData(event.target as HTMLFormElement);
  const action = (event.submitter as HTMLButtonElement | null)?.value === "signUp" ? "signUp" : "login";
  showError("");
  try {
    await client[action](textField(form, "email"), textField(form, "password"));
    await loadSessions();
  } catch (error) {
    if (!askForSecondFactor(error)) showError(describe(error));
  }
}

/** A right password (or reset link) of an account with TOTP: ask for a code. False for any other error. */
function askForSecondFactor(error: unknown): boolean {
  if (!(error instanceof KeywayError && error.reason === "MFA_REQUIRED" && error.challenge)) return false;
  mfaChallenge = error.challenge;
  say(element("mfa-message"), "");
  render(client.current);
  element<HTMLInputElement>("mfa-form").querySelector("input")?.focus();
  return true;
}

element<HTMLFormElement>("mfa-form").addEventListener("submit", (event) => {
  event.preventDefault();
  const form = event.target as HTMLFormElement;
  const code = textField(new FormData(form), "code");
  if (!mfaChallenge) return;
  client.completeLogin(mfaChallenge, code).then(
    async () => {
      mfaChallenge = null;
      form.reset();
      render(client.current);
      await loadSessions();
    },
    (error: unknown) => say(element("mfa-message"), describe(error), true),
  );
});

element("mfa-cancel").addEventListener("click", () => {
  mfaChallenge = null;
  render(client.current);
});

element("passkey-login").addEventListener("click", () => {
  showError("");
  client.loginWithPasskey().then(loadSessions, (error: unknown) => showError(describePasskey(error)));
});

function textField(form: FormData, name: string): string {
  const value = form.get(name);
  return typeof value === "string" ? value : "";
}

/**
 * Wires a form: `action` gets its fields; the returned text shows in the form's
 * status line, a failure in `describe`'s words (with `own` for this form).
 */
function onSubmit(
  id: string,
  line: HTMLElement,
  action: (fields: FormData) => Promise<string>,
  own: Record<string, string> = {},
): void {
  const form = element<HTMLFormElement>(id);
  form.addEventListener("submit", (event) => {
    event.preventDefault();
    const fields = new FormData(form);
    say(line, "");
    action(fields).then(
      (message) => {
        form.reset();
        say(line, message);
      },
      (error: unknown) => say(line, describe(error, own), true),
    );
  });
}

element<HTMLFormElement>("credentials").addEventListener("submit", (event) => void submitCredentials(event));

// The same words whether or not the address has an account: the page cannot know, and must not guess.
onSubmit("forgot-form", element("forgot-message"), async (fields) => {
  await client.requestPasswordReset(textField(fields, "email"));
  return "If that address has an account, a link is on its way.";
});

const resetMessage = element("reset-message");
element<HTMLFormElement>("reset-form").addEventListener("submit", (event) => {
  event.preventDefault();
  const newPassword = textField(new FormData(event.target as HTMLFormElement), "newPassword");
  say(resetMessage, "");
  if (resetToken) void submitReset(resetToken, newPassword);
});

async function submitReset(token: string, newPassword: string): Promise<void> {
  try {
    await client.resetPassword(token, newPassword); // signs in: render() shows the account
  } catch (error) {
    if (error instanceof KeywayError && error.reason === "MFA_REQUIRED") {
      // The password is set and every session ended; the second factor signs in.
      resetToken = null;
      leaveLinkPage();
      askForSecondFactor(error);
      return;
    }
    if (!(error instanceof KeywayError && error.reason === "LINK_INVALID")) {
      say(resetMessage, describe(error), true); // e.g. a password the policy refuses: try another
      return;
    }
    // A dead link: back to the sign-in view, with the way to ask for a new one open.
    notice(LINK_INVALID, true);
    element<HTMLDetailsElement>("forgot").open = true;
  }
  resetToken = null;
  leaveLinkPage();
  render(client.current);
  if (client.current.user) await loadSessions().catch((error: unknown) => showError(describe(error)));
}

async function verifyLink(token: string): Promise<void> {
  try {
    await client.verifyEmail(token);
    notice("Your email address is verified.");
  } catch (error) {
    notice(describe(error, { CONFLICT: "That address has an account by now, so it cannot become yours." }), true);
  }
  leaveLinkPage();
}

const verifyMessage = element("verify-message");
element("verify-email").addEventListener("click", () => {
  say(verifyMessage, "");
  client.requestEmailVerification().then(
    () => say(verifyMessage, "Check your inbox for a link."),
    (error: unknown) => say(verifyMessage, describe(error), true),
  );
});

onSubmit(
  "change-password",
  element("change-password-message"),
  async (fields) => {
    await client.changePassword(textField(fields, "currentPassword"), textField(fields, "newPassword"));
    await loadSessions(); // the other sessions ended
    return "Password changed. Your other sessions were signed out.";
  },
  WRONG_CURRENT_PASSWORD,
);

onSubmit(
  "change-email",
  element("change-email-message"),
  async (fields) => {
    await client.changeEmail(textField(fields, "newEmail"), textField(fields, "currentPassword"));
    return "Check the new address for a link.";
  },
  { ...WRONG_CURRENT_PASSWORD, CONFLICT: "That address already has an account." },
);

const stepUpMessage = element("step-up-message");
element("step-up-passkey").addEventListener("click", () => {
  say(stepUpMessage, "");
  client.stepUpWithPasskey().then(
    () => say(stepUpMessage, "Stepped up with your passkey."),
    (error: unknown) => say(stepUpMessage, describePasskey(error), true),
  );
});

onSubmit("step-up-code", stepUpMessage, async (fields) => {
  await client.stepUp(textField(fields, "code"));
  return "Stepped up with your authenticator code.";
});

const totpMessage = element("totp-message");
element("totp-start").addEventListener("click", () => {
  say(totpMessage, "");
  client.startTotpEnrollment().then(
    async ({ secret, otpauthUrl }) => {
      const svg = await QRCode.toString(otpauthUrl, { type: "svg", margin: 1 });
      const image = new DOMParser().parseFromString(svg, "image/svg+xml").documentElement;
      image.setAttribute("role", "img");
      image.setAttribute("aria-label", "QR code of the authenticator key");
      element("totp-qr").replaceChildren(image);
      element("totp-secret").textContent = secret;
      element("totp-enrol").hidden = false;
    },
    (error: unknown) => say(totpMessage, describe(error), true),
  );
});

onSubmit("totp-confirm", totpMessage, async (fields) => {
  const codes = await client.confirmTotpEnrollment(textField(fields, "code"));
  element("recovery-codes").replaceChildren(
    ...codes.map((code) => {
      const item = document.createElement("li");
      item.textContent = code;
      return item;
    }),
  );
  element("recovery").hidden = false;
  element("totp-qr").replaceChildren();
  element("totp-secret").textContent = "";
  await loadFactors();
  return "Authenticator app turned on.";
});

onSubmit("totp-disable", totpMessage, async (fields) => {
  await client.disableTotp(textField(fields, "code"));
  element("recovery").hidden = true;
  await loadFactors();
  return "Authenticator app turned off.";
});

onSubmit("passkey-add", element("passkey-message"), async (fields) => {
  const name = textField(fields, "name").trim();
  try {
    await client.registerPasskey(name === "" ? undefined : name);
  } catch (error) {
    throw error instanceof KeywayError ? error : new PasskeyCeremonyError(describePasskey(error));
  }
  await loadFactors();
  return "Passkey added.";
});

element("reload-sessions").addEventListener(
  "click",
  () => void loadSessions().catch((error: unknown) => showError(describe(error))),
);
element("logout").addEventListener(
  "click",
  () => void client.logout().catch((error: unknown) => showError(describe(error))),
);

async function start(): Promise<void> {
  if (linkPage && !token) {
    notice("This link is incomplete. Open it from the mail again, or ask for a new one.", true);
    leaveLinkPage();
  }
  // Verified first, so the session restored next already carries the new address and state.
  if (linkPage === "verify-email" && token) await verifyLink(token);
  // A reset link decides who signs in: no session is restored under its form.
  if (!resetToken) {
    status.textContent = "Restoring your session…";
    try {
      if (await client.restore()) await loadSessions();
    } catch (error) {
      showError(describe(error));
    }
  }
  render(client.current);
  // Read by the browser test: how long a cold load takes to reach a signed-in (or signed-out) page.
  performance.mark("keyway:ready");
}

void start();
