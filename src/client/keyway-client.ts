// The client side of keyway's token rules, for browsers and for Node.
//
// The access token lives in memory only. The refresh token never reaches script
// in a browser (HttpOnly cookie); a cookieless client keeps it through the
// `x-refresh-token` header and hands it to `onRefreshToken` to store. Refreshing
// is single-flight: however many requests find their token expired at once, one
// `refreshToken` call serves them all — a second call would present a rotated
// token and, outside the grace window, end the session as theft.
import {
  startAuthentication,
  startRegistration,
  type AuthenticationResponseJSON,
  type PublicKeyCredentialCreationOptionsJSON,
  type PublicKeyCredentialRequestOptionsJSON,
  type RegistrationResponseJSON,
} from "@simplewebauthn/browser";
import { KeywayError, errorsOf, type GraphQLResult } from "./errors";
import {
  ChangeEmailDocument,
  ChangePasswordDocument,
  CompleteLoginDocument,
  ConfirmTotpEnrollmentDocument,
  DisableTotpDocument,
  FinishPasskeyLoginDocument,
  FinishPasskeyRegistrationDocument,
  PasskeysDocument,
  RemovePasskeyDocument,
  RenamePasskeyDocument,
  SecondFactorsDocument,
  StartPasskeyLoginDocument,
  StartPasskeyRegistrationDocument,
  LoginDocument,
  LogoutDocument,
  RefreshDocument,
  RequestEmailVerificationDocument,
  RequestPasswordResetDocument,
  ResetPasswordDocument,
  SignUpDocument,
  StartTotpEnrollmentDocument,
  StepUpDocument,
  VerifyEmailDocument,
  type AuthFieldsFragment,
  type PasskeyFieldsFragment,
  type SecondFactorsQuery,
  type StartTotpEnrollmentMutation,
  type TypedDocumentString,
} from "./operations";

export type RefreshTransport = "cookie" | "header";
export type KeywayUser = AuthFieldsFragment["user"];
export type TotpEnrollment = StartTotpEnrollmentMutation["startTotpEnrollment"];
export type Passkey = PasskeyFieldsFragment;
export type SecondFactors = SecondFactorsQuery["secondFactors"];

/**
 * The browser's side of a WebAuthn ceremony. The default is @simplewebauthn/browser
 * (navigator.credentials); Node or a native app passes its own authenticator.
 */
export interface WebAuthnCeremonies {
  register(options: PublicKeyCredentialCreationOptionsJSON): Promise<RegistrationResponseJSON>;
  authenticate(options: PublicKeyCredentialRequestOptionsJSON): Promise<AuthenticationResponseJSON>;
}

const BROWSER_WEBAUTHN: WebAuthnCeremonies = {
  register: (optionsJSON) => startRegistration({ optionsJSON }),
  authenticate: (optionsJSON) => startAuthentication({ optionsJSON }),
};

export interface KeywayClientOptions {
  /** keyway's GraphQL endpoint, e.g. "https://auth.example.com/graphql". */
  url: string;
  /** "cookie" (default where `document` exists) or "header" (default elsewhere: Node, native apps). */
  transport?: RefreshTransport;
  /** Header transport: the refresh token kept from an earlier run. */
  refreshToken?: string | null;
  /** Header transport: receives every rotated refresh token, and null once the session is over. */
  onRefreshToken?(token: string | null): void | Promise<void>;
  /** Refresh this long before the access token expires (at most half its lifetime). Default 30 s. */
  refreshMarginSeconds?: number;
  /** Keep the access token fresh with a timer instead of only on demand. Default: true with cookies. */
  refreshAhead?: boolean;
  /** Called when the session is gone (logout elsewhere, expiry, theft detected). */
  onSessionEnd?(reason: string | undefined): void;
  fetch?: typeof fetch;
  /** Passkey ceremonies; default: the browser's, through @simplewebauthn/browser. */
  webauthn?: WebAuthnCeremonies;
}

export interface KeywayState {
  user: KeywayUser | null;
  /** Epoch ms at which the in-memory access token expires; null when there is none. */
  accessTokenExpiresAt: number | null;
}

const REFRESH_HEADER = "x-refresh-token";
/** Answers from the refresh call that mean "there is no session", as opposed to a fault. */
const NO_SESSION = new Set(["REFRESH_TOKEN_MISSING", "REFRESH_TOKEN_INVALID", "REFRESH_TOKEN_REUSED"]);

export class KeywayClient {
  private readonly options: Required<
    Pick<KeywayClientOptions, "url" | "transport" | "refreshMarginSeconds" | "refreshAhead">
  > &
    KeywayClientOptions;
  private readonly send: typeof fetch;
  private accessToken: string | null = null;
  private refreshToken: string | null;
  private lifetimeMs = 0;
  private state: KeywayState = { user: null, accessTokenExpiresAt: null };
  private refreshing: Promise<string | null> | null = null;
  private timer: ReturnType<typeof setTimeout> | null = null;
  private readonly listeners = new Set<(state: KeywayState) => void>();

  constructor(options: KeywayClientOptions) {
    const transport = options.transport ?? ("document" in globalThis ? "cookie" : "header");
    this.options = { refreshMarginSeconds: 30, refreshAhead: transport === "cookie", ...options, transport };
    this.send = options.fetch ?? ((input, init) => fetch(input, init));
    this.refreshToken = options.refreshToken ?? null;
  }

  get current(): KeywayState {
    return this.state;
  }

  /** Calls `listener` on every change of the signed-in user or token; returns the unsubscribe. */
  subscribe(listener: (state: KeywayState) => void): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  async signUp(email: string, password: string): Promise<KeywayUser> {
    return this.authenticate(
      await this.call(SignUpDocument, { input: { email, password } }, { refresh: "request" }),
      "signUp",
    );
  }

  /**
   * Signs in with a password. For an account with a second factor this rejects with a
   * KeywayError whose reason is "MFA_REQUIRED" and whose `challenge` completeLogin takes.
   */
  async login(email: string, password: string): Promise<KeywayUser> {
    return this.authenticate(
      await this.call(LoginDocument, { input: { email, password } }, { refresh: "request" }),
      "login",
    );
  }

  /** Finishes a login (or a password reset) that answered MFA_REQUIRED, with a TOTP or recovery code. */
  async completeLogin(challenge: string, code: string): Promise<KeywayUser> {
    return this.authenticate(
      await this.call(CompleteLoginDocument, { challenge, code }, { refresh: "request" }),
      "completeLogin",
    );
  }

  /** A new TOTP secret for the signed-in user, pending until confirmTotpEnrollment. */
  async startTotpEnrollment(): Promise<TotpEnrollment> {
    return dataOf(await this.request(StartTotpEnrollmentDocument, {})).startTotpEnrollment;
  }

  /** Enables TOTP with a code from the authenticator; resolves to the recovery codes, shown this once. */
  async confirmTotpEnrollment(code: string): Promise<string[]> {
    return dataOf(await this.request(ConfirmTotpEnrollmentDocument, { code })).confirmTotpEnrollment;
  }

  /** Removes TOTP and the recovery codes, given a TOTP or recovery code. */
  async disableTotp(code: string): Promise<void> {
    dataOf(await this.request(DisableTotpDocument, { code }));
  }

  /** Re-proves the second factor on this session: the new access token carries a fresh auth_time and amr. */
  async stepUp(code: string): Promise<void> {
    await this.authenticate(await this.request(StepUpDocument, { code }), "stepUp");
  }

  /** Re-proves a passkey on this session (the browser asks for it): a fresh auth_time, and "hwk" in amr. */
  async stepUpWithPasskey(): Promise<void> {
    const passkeyResponse = JSON.stringify(await this.webauthn.authenticate(await this.passkeyRequestOptions()));
    await this.authenticate(await this.request(StepUpDocument, { passkeyResponse }), "stepUp");
  }

  /** Makes a passkey for the signed-in user (the browser asks for it) and stores it; needs a sign-in within 10 minutes. */
  async registerPasskey(name?: string): Promise<Passkey> {
    const options = dataOf(await this.request(StartPasskeyRegistrationDocument, {})).startPasskeyRegistration;
    const created = await this.webauthn.register(JSON.parse(options) as PublicKeyCredentialCreationOptionsJSON);
    const variables = { response: JSON.stringify(created), name: name ?? null };
    return dataOf(await this.request(FinishPasskeyRegistrationDocument, variables)).finishPasskeyRegistration;
  }

  /** Signs in with a passkey: no email asked, the browser offers the site's passkeys. */
  async loginWithPasskey(): Promise<KeywayUser> {
    const response = JSON.stringify(await this.webauthn.authenticate(await this.passkeyRequestOptions()));
    return this.authenticate(
      await this.call(FinishPasskeyLoginDocument, { response }, { refresh: "request" }),
      "finishPasskeyLogin",
    );
  }

  async passkeys(): Promise<Passkey[]> {
    return dataOf(await this.request(PasskeysDocument, {})).passkeys;
  }

  async renamePasskey(id: string, name: string | null): Promise<Passkey> {
    return dataOf(await this.request(RenamePasskeyDocument, { id, name })).renamePasskey;
  }

  /** Removes one of the user's passkeys; false when there was none with that id. Needs a sign-in within 10 minutes. */
  async removePasskey(id: string): Promise<boolean> {
    return dataOf(await this.request(RemovePasskeyDocument, { id })).removePasskey;
  }

  /** The signed-in user's second factors: TOTP, recovery codes left, passkeys. */
  async secondFactors(): Promise<SecondFactors> {
    return dataOf(await this.request(SecondFactorsDocument, {})).secondFactors;
  }

  /** Asks for a reset link to be mailed; resolves alike whether or not the address has an account. */
  async requestPasswordReset(email: string): Promise<void> {
    dataOf(await this.anonymous(RequestPasswordResetDocument, { email }));
  }

  /**
   * Sets a new password with the token of a reset link (linkToken() reads it from the
   * page's address) and signs in; every other session of the account has ended.
   */
  async resetPassword(token: string, newPassword: string): Promise<KeywayUser> {
    return this.authenticate(
      await this.call(ResetPasswordDocument, { token, newPassword }, { refresh: "request" }),
      "resetPassword",
    );
  }

  /** Changes the signed-in user's password; their other sessions end, this one stays. */
  async changePassword(currentPassword: string, newPassword: string): Promise<void> {
    dataOf(await this.request(ChangePasswordDocument, { currentPassword, newPassword }));
  }

  /** Mails the signed-in user a link that verifies their address. */
  async requestEmailVerification(): Promise<void> {
    dataOf(await this.request(RequestEmailVerificationDocument, {}));
  }

  /** Uses a verification (or email change) link's token; needs no session, as the link may open anywhere. */
  async verifyEmail(token: string): Promise<void> {
    dataOf(await this.anonymous(VerifyEmailDocument, { token }));
    // The signed-in user, if any, may be the one whose address this verified.
    if (this.state.user) await this.refresh().catch(() => undefined);
  }

  /** Mails a link to the new address; the address changes once it is opened (verifyEmail). */
  async changeEmail(newEmail: string, currentPassword: string): Promise<void> {
    dataOf(await this.request(ChangeEmailDocument, { newEmail, currentPassword }));
  }

  /** On start-up with nothing in memory: the refresh token, if any, silently signs the user back in. */
  async restore(): Promise<KeywayUser | null> {
    return (await this.refresh()) ? this.state.user : null;
  }

  /** A usable access token, refreshed first when it is missing or about to expire; null when signed out. */
  async getAccessToken(): Promise<string | null> {
    const expiresAt = this.state.accessTokenExpiresAt;
    if (this.accessToken && expiresAt && expiresAt - Date.now() > this.marginMs()) return this.accessToken;
    return this.refresh();
  }

  /** One refresh for everyone who asks while it runs. Resolves with the new access token, or null when there is no session. */
  refresh(): Promise<string | null> {
    this.refreshing ??= this.rotate().finally(() => (this.refreshing = null));
    return this.refreshing;
  }

  async logout(): Promise<void> {
    this.cancelTimer();
    try {
      const token = this.accessToken;
      await this.call(LogoutDocument, {}, { refresh: "send", authorization: token });
    } finally {
      await this.end(undefined, false);
    }
  }

  /**
   * `fetch` for GraphQL requests to keyway or anything behind it: adds the access
   * token, and when the answer says it expired, refreshes (once, shared) and retries once.
   */
  readonly fetch = async (input: string | URL | Request, init: RequestInit = {}): Promise<Response> => {
    const token = await this.getAccessToken();
    const response = await this.send(input, this.withAuthorization(init, token));
    const reason = await rejectionOf(response);
    if (reason === "SESSION_ENDED") await this.end(reason, true);
    if (reason !== "TOKEN_EXPIRED" || !token) return response;
    // Someone may have refreshed while this request was out; only a token that is still ours is stale.
    const fresh = this.accessToken && this.accessToken !== token ? this.accessToken : await this.refresh();
    return fresh ? this.send(input, this.withAuthorization(init, fresh)) : response;
  };

  /** A typed GraphQL request through `fetch` to `url` (or another endpoint behind keyway). */
  async request<TResult, TVariables>(
    document: TypedDocumentString<TResult, TVariables>,
    variables?: TVariables,
    url = this.options.url,
  ): Promise<GraphQLResult<TResult>> {
    const response = await this.fetch(url, jsonPost(document, variables));
    return (await response.json()) as GraphQLResult<TResult>;
  }

  private async rotate(): Promise<string | null> {
    if (this.options.transport === "header" && !this.refreshToken) return null;
    const result = await this.call(RefreshDocument, {}, { refresh: "send" });
    const payload = result.data?.refreshToken;
    if (payload) return this.accept(payload);
    const error = errorsOf(result)[0];
    if (error && NO_SESSION.has(String(error.extensions?.reason))) {
      await this.end(String(error.extensions?.reason), this.state.user !== null);
      return null;
    }
    throw KeywayError.from(result);
  }

  private async authenticate<T extends Record<string, AuthFieldsFragment | undefined>>(
    result: GraphQLResult<T>,
    field: keyof T,
  ): Promise<KeywayUser> {
    const payload = result.data?.[field];
    if (!payload) throw KeywayError.from(result);
    this.accept(payload);
    return payload.user;
  }

  private accept(payload: AuthFieldsFragment): string {
    this.accessToken = payload.accessToken;
    this.lifetimeMs = payload.expiresIn * 1000;
    this.setState({ user: payload.user, accessTokenExpiresAt: Date.now() + payload.expiresIn * 1000 });
    this.scheduleRefresh();
    return payload.accessToken;
  }

  private async end(reason: string | undefined, notify: boolean): Promise<void> {
    this.cancelTimer();
    this.accessToken = null;
    if (this.options.transport === "header" && this.refreshToken !== null) {
      this.refreshToken = null;
      await this.options.onRefreshToken?.(null);
    }
    const wasSignedIn = this.state.user !== null;
    this.setState({ user: null, accessTokenExpiresAt: null });
    if (notify && wasSignedIn) this.options.onSessionEnd?.(reason);
  }

  private async call<TResult, TVariables>(
    document: TypedDocumentString<TResult, TVariables>,
    variables: TVariables,
    how: { refresh: "request" | "send"; authorization?: string | null },
  ): Promise<GraphQLResult<TResult>> {
    const init = jsonPost(document, variables);
    const headers = init.headers as Record<string, string>;
    if (how.authorization) headers.authorization = `Bearer ${how.authorization}`;
    if (this.options.transport === "header") {
      // Asking with any value makes keyway answer in the header; sending carries the token itself.
      const value = how.refresh === "send" ? this.refreshToken : "1";
      if (value) headers[REFRESH_HEADER] = value;
    } else {
      init.credentials = "include";
    }
    const response = await this.send(this.options.url, init);
    const rotated = response.headers.get(REFRESH_HEADER);
    if (this.options.transport === "header" && rotated) {
      this.refreshToken = rotated;
      await this.options.onRefreshToken?.(rotated);
    }
    return (await response.json()) as GraphQLResult<TResult>;
  }

  private get webauthn(): WebAuthnCeremonies {
    return this.options.webauthn ?? BROWSER_WEBAUTHN;
  }

  private async passkeyRequestOptions(): Promise<PublicKeyCredentialRequestOptionsJSON> {
    const options = dataOf(await this.anonymous(StartPasskeyLoginDocument, {})).startPasskeyLogin;
    return JSON.parse(options) as PublicKeyCredentialRequestOptionsJSON;
  }

  /** A request that carries no credentials at all: no access token, no refresh cookie. */
  private async anonymous<TResult, TVariables>(
    document: TypedDocumentString<TResult, TVariables>,
    variables: TVariables,
  ): Promise<GraphQLResult<TResult>> {
    const response = await this.send(this.options.url, { ...jsonPost(document, variables), credentials: "omit" });
    return (await response.json()) as GraphQLResult<TResult>;
  }

  private withAuthorization(init: RequestInit, token: string | null): RequestInit {
    const headers = new Headers(init.headers);
    if (token) headers.set("authorization", `Bearer ${token}`);
    return { ...init, headers };
  }

  /** How long before expiry a token counts as stale: the configured margin, at most half its lifetime. */
  private marginMs(): number {
    return Math.min(this.options.refreshMarginSeconds * 1000, this.lifetimeMs / 2);
  }

  private scheduleRefresh(): void {
    this.cancelTimer();
    if (!this.options.refreshAhead) return;
    this.timer = setTimeout(() => void this.refresh().catch(() => undefined), this.lifetimeMs - this.marginMs());
    // In Node a pending refresh must not keep the process alive.
    (this.timer as { unref?: () => void }).unref?.();
  }

  private cancelTimer(): void {
    if (this.timer) clearTimeout(this.timer);
    this.timer = null;
  }

  private setState(state: KeywayState): void {
    this.state = state;
    for (const listener of this.listeners) listener(state);
  }
}

/**
 * The token of a keyway link (password reset, email verification) from a page's
 * address: links carry it in the fragment, `#token=…`, which browsers never send
 * to a server. Null when there is none.
 */
export function linkToken(
  href: string = (globalThis as { location?: { href?: string } }).location?.href ?? "",
): string | null {
  const fragment = href.includes("#") ? href.slice(href.indexOf("#") + 1) : "";
  return new URLSearchParams(fragment).get("token");
}

/** The data of a result that must have some; its errors as a KeywayError otherwise. */
function dataOf<T>(result: GraphQLResult<T>): T {
  if (!result.data || errorsOf(result).length > 0) throw KeywayError.from(result);
  return result.data;
}

function jsonPost(document: { toString(): string }, variables: unknown): RequestInit {
  return {
    method: "POST",
    headers: { "content-type": "application/json" },
    body: JSON.stringify({ query: document.toString(), variables }),
  };
}

/** The access-token reason a response was refused with, read without consuming the caller's body. */
async function rejectionOf(response: Response): Promise<string | undefined> {
  if (response.status === 401) return "TOKEN_EXPIRED";
  if (!(response.headers.get("content-type") ?? "").includes("json")) return undefined;
  const body = (await response
    .clone()
    .json()
    .catch(() => null)) as GraphQLResult<unknown> | null;
  const error = body ? errorsOf(body).find((candidate) => candidate.extensions?.code === "UNAUTHENTICATED") : undefined;
  return error ? String(error.extensions?.reason) : undefined;
}
