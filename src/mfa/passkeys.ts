// Passkeys (WebAuthn, through @simplewebauthn/server): registration on a session
// that signed in recently, usernameless login, and step-up. Every ceremony starts
// with a challenge stored as a hash and claimed once by the response that names
// it; a response is verified against the configured rpId and origins, with user
// verification required, and its signature counter must move forward.
import { randomBytes } from "node:crypto";
import {
  generateAuthenticationOptions,
  generateRegistrationOptions,
  verifyAuthenticationResponse,
  verifyRegistrationResponse,
  type AuthenticationResponseJSON,
  type AuthenticatorTransport,
  type RegistrationResponseJSON,
} from "@simplewebauthn/server";
import { enforce, type Authenticated, type AuthRequest, type AuthService } from "../auth/auth.service";
import type { AuthRateLimits } from "../auth/rate-limits";
import type { WebAuthnConfig } from "../config";
import { badUserInput, conflict, unauthenticated } from "../errors";
import { isUuid } from "../ids";
import type { Logger } from "../logger";
import type { SessionService } from "../session/session.service";
import type { UserStore } from "../users/user.store";
import { hashChallenge } from "./challenge";
import { requireRecentSignIn, type Caller } from "./recent-sign-in";
import type { ChallengePurpose, PasskeyRecord, PasskeyStore } from "./passkey.store";
import type { MailKind } from "../account/account.store";
import { settleNotice, timedNotice } from "../account/notices";

export const PASSKEY_CHALLENGE_TTL_MS = 5 * 60_000;
/** What a passkey login or step-up proves (RFC 8176): a hardware-bound key, unlocked by its user. */
export const PASSKEY_METHODS = ["hwk"];
const NAME_MAX = 64;
/** Passkeys one user may have: enough for every device they own, not a place to store data. */
export const PASSKEYS_PER_USER = 20;
/** WebAuthn caps credential ids at 1023 bytes; keys of the algorithms offered are far below 2 KiB. */
const CREDENTIAL_ID_MAX_BYTES = 1023;
const PUBLIC_KEY_MAX_BYTES = 2048;
/** The transports browsers report (hints only); anything else a client sends is dropped. */
const TRANSPORTS = new Set(["usb", "nfc", "ble", "smart-card", "hybrid", "internal", "cable"]);
/** A response is a few kilobytes at most; anything much larger is refused unread. */
const RESPONSE_MAX = 64 * 1024;

export interface PasskeyServiceOptions {
  store: PasskeyStore;
  users: UserStore;
  auth: AuthService;
  sessions: SessionService;
  limits: AuthRateLimits;
  webauthn: WebAuthnConfig;
  logger: Logger;
  /** Wakes the mail worker for a notice queued. */
  mailQueued(): void;
  now(): number;
}

export interface SteppedUp {
  userId: string;
  sessionId: string;
}

const tooManyPasskeys = () =>
  conflict(`You have ${PASSKEYS_PER_USER} passkeys, the most an account may have: remove one first`);

/** The WebAuthn user handle of a user: their id's bytes (opaque, and no personal data). */
const userHandleOf = (userId: string): Uint8Array<ArrayBuffer> => Uint8Array.from(Buffer.from(userId, "utf8"));

export class PasskeyService {
  constructor(private readonly options: PasskeyServiceOptions) {}

  /** Creation options for a new passkey of the caller (JSON); needs a recent sign-in, as TOTP enrolment does. */
  async startRegistration(caller: Caller, request: AuthRequest): Promise<string> {
    enforce(await this.options.limits.consumeAuthCall(request.ip));
    requireRecentSignIn(caller, this.options.now());
    const user = await this.options.auth.currentUser(caller.userId);
    const existing = await this.options.store.listPasskeys(user.id);
    if (existing.length >= PASSKEYS_PER_USER) throw tooManyPasskeys();
    const { rpId, rpName } = this.options.webauthn;
    const options = await generateRegistrationOptions({
      rpName,
      rpID: rpId,
      userName: user.email,
      userDisplayName: user.email,
      userID: userHandleOf(user.id),
      challenge: randomBytes(32),
      timeout: PASSKEY_CHALLENGE_TTL_MS,
      attestationType: "none",
      // The browser will not make a second passkey on an authenticator that holds one.
      excludeCredentials: existing.map((passkey) => ({
        id: passkey.credentialId,
        transports: passkey.transports as AuthenticatorTransport[],
      })),
      authenticatorSelection: { residentKey: "required", requireResidentKey: true, userVerification: "required" },
    });
    await this.saveChallenge(options.challenge, "register", user.id);
    return JSON.stringify(options);
  }

  /** Verifies the authenticator's answer to startRegistration's options and stores the passkey. */
  async finishRegistration(
    caller: Caller,
    response: unknown,
    name: unknown,
    request: AuthRequest,
  ): Promise<PasskeyRecord> {
    enforce(await this.options.limits.consumeAuthCall(request.ip));
    const label = passkeyName(name);
    const user = await this.options.auth.currentUser(caller.userId);
    const parsed = parseResponse<RegistrationResponseJSON>(response);
    const { rpId, origins } = this.options.webauthn;
    const verification = await this.verify("registration", parsed.response ?? {}, () =>
      verifyRegistrationResponse({
        response: parsed,
        expectedChallenge: (challenge) => this.claim(challenge, "register", user.id),
        expectedOrigin: origins,
        expectedRPID: rpId,
        requireUserVerification: true,
      }),
    );
    if (!verification.verified) throw unauthenticated("PASSKEY_INVALID");
    const { credential, credentialDeviceType, credentialBackedUp } = verification.registrationInfo;
    // The library takes an id and a key of any size (with "none" attestation the client chooses them).
    if (
      Buffer.from(credential.id, "base64url").length > CREDENTIAL_ID_MAX_BYTES ||
      credential.publicKey.length > PUBLIC_KEY_MAX_BYTES
    ) {
      this.options.logger.info({ ceremony: "registration", why: "credential id or key too large" }, "passkey refused");
      throw unauthenticated("PASSKEY_INVALID");
    }
    if ((await this.options.store.listPasskeys(user.id)).length >= PASSKEYS_PER_USER) throw tooManyPasskeys();
    const notice = await this.noticeTo("passkey-added", user.email);
    const added = await this.options.store.addPasskey(
      {
        userId: user.id,
        credentialId: credential.id,
        publicKey: credential.publicKey,
        counter: credential.counter,
        transports: [...new Set(credential.transports ?? [])]
          .filter((transport) => typeof transport === "string" && TRANSPORTS.has(transport))
          .slice(0, TRANSPORTS.size),
        deviceType: credentialDeviceType,
        backedUp: credentialBackedUp,
        name: label,
        createdAt: new Date(this.options.now()),
      },
      notice,
      PASSKEYS_PER_USER,
    );
    await settleNotice(this.options.limits, notice, added !== null, () => this.options.mailQueued());
    // Registered already (to this user or, impossibly for a real authenticator, another), or the user was disabled.
    if (!added) throw unauthenticated("PASSKEY_INVALID");
    return added;
  }

  /** Request options for a passkey login or a step-up (JSON): any discoverable passkey of this site may answer. */
  async startAuthentication(request: AuthRequest): Promise<string> {
    enforce(await this.options.limits.consumeAuthCall(request.ip));
    const options = await generateAuthenticationOptions({
      rpID: this.options.webauthn.rpId,
      challenge: randomBytes(32),
      timeout: PASSKEY_CHALLENGE_TTL_MS,
      userVerification: "required",
    });
    await this.saveChallenge(options.challenge, "authenticate", null);
    return JSON.stringify(options);
  }

  /** A usernameless login: the passkey names its user; a new session with amr ["hwk"]. */
  async login(response: unknown, request: AuthRequest): Promise<Authenticated> {
    enforce(await this.options.limits.consumeAuthCall(request.ip));
    const passkey = await this.assert(response);
    const owner = await this.options.users.findById(passkey.userId);
    if (!owner || owner.disabledAt) throw unauthenticated("PASSKEY_INVALID");
    const signedIn = await this.options.auth.signIn(passkey.userId, request, { amr: PASSKEY_METHODS });
    // The user may have been disabled, or the passkey removed, between the checks above and the insert.
    const [current, still] = await Promise.all([
      this.options.users.findById(passkey.userId),
      this.options.store.findByCredentialId(passkey.credentialId),
    ]);
    if (!current || current.disabledAt || !still) {
      await this.options.sessions.endSession(signedIn.session.id, current?.disabledAt ? "USER_DISABLED" : "REVOKED");
      throw unauthenticated("PASSKEY_INVALID");
    }
    return signedIn;
  }

  /** Verifies an assertion for step-up: it must be one of the caller's passkeys. */
  async verifyStepUp(userId: string, response: unknown): Promise<void> {
    const passkey = await this.assert(response, userId);
    if (passkey.userId !== userId) throw unauthenticated("PASSKEY_INVALID");
  }

  list(userId: string): Promise<PasskeyRecord[]> {
    return this.options.store.listPasskeys(userId);
  }

  async rename(userId: string, id: unknown, name: unknown): Promise<PasskeyRecord> {
    const label = passkeyName(name);
    const renamed = isUuid(id) ? await this.options.store.renamePasskey(userId, id, label) : null;
    if (!renamed) throw badUserInput("You have no passkey with that id", "id");
    return renamed;
  }

  /** Removes one of the caller's passkeys; false when they have none with that id. Needs a recent sign-in. */
  async remove(caller: Caller, id: unknown, request: AuthRequest): Promise<boolean> {
    enforce(await this.options.limits.consumeAuthCall(request.ip));
    requireRecentSignIn(caller, this.options.now());
    if (!isUuid(id)) return false;
    const user = await this.options.auth.currentUser(caller.userId);
    const notice = await this.noticeTo("passkey-removed", user.email);
    const removed = await this.options.store.removePasskey(user.id, id, notice);
    await settleNotice(this.options.limits, notice, removed, () => this.options.mailQueued());
    return removed;
  }

  private noticeTo(kind: MailKind, recipient: string) {
    return timedNotice(this.options.limits, kind, recipient, new Date(this.options.now()));
  }

  /**
   * The stored passkey a valid assertion was made with, its counter and backup state
   * recorded; PASSKEY_INVALID for anything else. `userId` (step-up) must own it.
   */
  private async assert(response: unknown, userId?: string): Promise<PasskeyRecord> {
    const parsed = parseResponse<AuthenticationResponseJSON>(response);
    const passkey = typeof parsed.id === "string" ? await this.options.store.findByCredentialId(parsed.id) : null;
    if (!passkey || (userId !== undefined && passkey.userId !== userId)) throw unauthenticated("PASSKEY_INVALID");
    const handle = parsed.response?.userHandle;
    // A discoverable credential names its user: it must be the one the passkey was registered to.
    if (handle && handle !== Buffer.from(userHandleOf(passkey.userId)).toString("base64url"))
      throw unauthenticated("PASSKEY_INVALID");
    const { rpId, origins } = this.options.webauthn;
    const verification = await this.verify("authentication", parsed.response ?? {}, () =>
      verifyAuthenticationResponse({
        response: parsed,
        expectedChallenge: (challenge) => this.claim(challenge, "authenticate", null),
        expectedOrigin: origins,
        expectedRPID: rpId,
        credential: {
          id: passkey.credentialId,
          publicKey: passkey.publicKey as Uint8Array<ArrayBuffer>,
          counter: passkey.counter,
          transports: passkey.transports,
        },
        requireUserVerification: true,
      }),
    );
    if (!verification.verified) throw unauthenticated("PASSKEY_INVALID");
    const { newCounter, credentialBackedUp } = verification.authenticationInfo;
    const recorded = await this.options.store.recordUse(passkey.id, passkey.counter, {
      counter: newCounter,
      backedUp: credentialBackedUp,
      now: new Date(this.options.now()),
    });
    if (!recorded) throw unauthenticated("PASSKEY_INVALID");
    return passkey;
  }

  /**
   * Runs a verification; anything the library throws (malformed, wrong origin,
   * counter gone back) is PASSKEY_INVALID. A failure of our own store is not the
   * response's fault: it goes on as it is (a database outage answers 503).
   */
  private async verify<T>(ceremony: string, response: { clientDataJSON?: unknown }, run: () => Promise<T>): Promise<T> {
    // A page framed by another site must not make or use passkeys for this one.
    if (clientDataOf(response.clientDataJSON)?.crossOrigin === true) {
      this.options.logger.info({ ceremony, why: "cross-origin (framed) request" }, "passkey refused");
      throw unauthenticated("PASSKEY_INVALID");
    }
    try {
      return await run();
    } catch (error) {
      if (error instanceof StoreFailure) throw error.cause;
      // Which check failed, up to the first value the library quotes (what the client sent): short and fixed.
      const why = (error instanceof Error ? error.message : String(error)).split('"')[0].trim().slice(0, 160);
      this.options.logger.info({ ceremony, why }, "passkey refused");
      throw unauthenticated("PASSKEY_INVALID");
    }
  }

  private async saveChallenge(challenge: string, purpose: ChallengePurpose, userId: string | null): Promise<void> {
    const at = this.options.now();
    await this.options.store.createChallenge({
      challengeHash: hashChallenge(challenge),
      purpose,
      userId,
      now: new Date(at),
      expiresAt: new Date(at + PASSKEY_CHALLENGE_TTL_MS),
    });
  }

  /** Claims the challenge a response names; true only for the one claim of a live challenge of this purpose and user. */
  private async claim(challenge: string, purpose: ChallengePurpose, userId: string | null): Promise<boolean> {
    if (!/^[A-Za-z0-9_-]{43}$/.test(challenge)) return false;
    const claimed = await this.options.store
      .claimChallenge(hashChallenge(challenge), purpose, new Date(this.options.now()))
      .catch((error: unknown) => {
        throw new StoreFailure(error);
      });
    return claimed !== undefined && claimed.userId === userId;
  }
}

/** An error of keyway's own store met inside the library's verification, carried out of it unchanged. */
class StoreFailure extends Error {
  constructor(override readonly cause: unknown) {
    super("passkey store failure");
  }
}

/** The client data a response carries (base64url JSON), or null when it is not readable. */
function clientDataOf(encoded: unknown): { crossOrigin?: unknown } | null {
  if (typeof encoded !== "string") return null;
  try {
    const parsed: unknown = JSON.parse(Buffer.from(encoded, "base64url").toString("utf8"));
    return typeof parsed === "object" && parsed !== null ? parsed : null;
  } catch {
    return null;
  }
}

/** A response as the browser library produced it, JSON; anything else is PASSKEY_INVALID. */
function parseResponse<T>(response: unknown): T {
  if (typeof response !== "string" || response.length > RESPONSE_MAX) throw unauthenticated("PASSKEY_INVALID");
  try {
    const parsed: unknown = JSON.parse(response);
    if (typeof parsed === "object" && parsed !== null && !Array.isArray(parsed)) return parsed as T;
  } catch {
    // refused below
  }
  throw unauthenticated("PASSKEY_INVALID");
}

/** A label of at most NAME_MAX characters, trimmed; null for none. */
function passkeyName(name: unknown): string | null {
  if (name === null || name === undefined) return null;
  if (typeof name !== "string") throw badUserInput("A passkey's name must be text", "name");
  const trimmed = name.trim();
  if (trimmed.length > NAME_MAX) throw badUserInput(`A passkey's name is at most ${NAME_MAX} characters`, "name");
  // eslint-disable-next-line no-control-regex
  if (/[\u0000-\u001f\u007f]/.test(trimmed))
    throw badUserInput("A passkey's name cannot hold control characters", "name");
  return trimmed === "" ? null : trimmed;
}
