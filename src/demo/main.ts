// The demo page: a person logs in, closes the tab, comes back, and is still
// logged in — the page never holds the refresh token, only an access token in
// memory, which it gets back on load through a silent refresh.
import {
  KeywayClient,
  KeywayError,
  MeDocument,
  RevokeSessionDocument,
  SessionsDocument,
  type KeywayState,
  type SessionsQuery,
} from "../client";

const element = <T extends HTMLElement>(id: string): T => document.getElementById(id) as T;
const status = element<HTMLParagraphElement>("status");
const errorLine = element<HTMLParagraphElement>("error");

const client = new KeywayClient({
  url: new URL("/graphql", location.origin).href,
  transport: "cookie",
  onSessionEnd: () => showError("Your session ended. Please log in again."),
});
client.subscribe(render);

function render(state: KeywayState): void {
  element("signed-out").hidden = state.user !== null;
  element("signed-in").hidden = state.user === null;
  status.textContent = state.user ? "Signed in" : "Signed out";
  element("email").textContent = state.user?.email ?? "";
  const roles = state.user?.roles ?? [];
  element("roles").textContent = roles.length > 0 ? roles.join(", ") : "none";
  element("expiry").textContent = state.accessTokenExpiresAt
    ? new Date(state.accessTokenExpiresAt).toLocaleTimeString()
    : "";
  if (!state.user) element("sessions").replaceChildren();
}

function showError(message: string): void {
  errorLine.textContent = message;
}

function describe(error: unknown): string {
  if (!(error instanceof KeywayError)) return "keyway could not be reached. Try again.";
  if (error.code === "RATE_LIMITED") return `Too many attempts. Try again in ${error.retryAfter ?? 60} s.`;
  if (error.reason === "INVALID_CREDENTIALS") return "Wrong email or password.";
  if (error.code === "CONFLICT") return "That email already has an account. Log in instead.";
  return error.message;
}

async function loadSessions(): Promise<void> {
  const me = await client.request(MeDocument);
  if (!me.data) return; // the session ended; onSessionEnd has said so and render() shows the form
  const result = await client.request(SessionsDocument);
  element("sessions").replaceChildren(...(result.data?.sessions ?? []).map(sessionRow));
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
    const revoke = document.createElement("button");
    revoke.type = "button";
    revoke.className = "secondary";
    revoke.textContent = "Revoke";
    revoke.addEventListener("click", () => {
      client
        .request(RevokeSessionDocument, { id: session.id })
        .then(loadSessions)
        .catch((error: unknown) => showError(describe(error)));
    });
    action.append(revoke);
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
    showError(describe(error));
  }
}

function textField(form: FormData, name: string): string {
  const value = form.get(name);
  return typeof value === "string" ? value : "";
}

element<HTMLFormElement>("credentials").addEventListener("submit", (event) => void submitCredentials(event));

element("reload-sessions").addEventListener(
  "click",
  () => void loadSessions().catch((error: unknown) => showError(describe(error))),
);
element("logout").addEventListener(
  "click",
  () => void client.logout().catch((error: unknown) => showError(describe(error))),
);

async function start(): Promise<void> {
  status.textContent = "Restoring your session…";
  try {
    if (await client.restore()) await loadSessions();
  } catch (error) {
    showError(describe(error));
  }
  render(client.current);
  // Read by the browser test: how long a cold load takes to reach a signed-in (or signed-out) page.
  performance.mark("keyway:ready");
}

void start();
