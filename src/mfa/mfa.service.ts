// TOTP second factor and recovery codes: enrolment, login with a second factor
// (completeLogin), step-up and removal. Secrets are sealed at rest under a key
// derived from the root signing key; codes are checked here and their use recorded
// atomically in the store, so each is accepted once. Wrong codes count against the
// same per-account limit as wrong passwords.
import { enforce, type Authenticated, type AuthRequest, type AuthService } from "../auth/auth.service";
import type { AuthRateLimits } from "../auth/rate-limits";
import { badUserInput, conflict, unauthenticated } from "../errors";
import type { SessionService } from "../session/session.service";
import { deriveSealKey, seal, unseal } from "../token/seal";
import type { SigningKey } from "../token/keys";
import type { UserRecord, UserStore } from "../users/user.store";
import { CHALLENGE_SHAPE, hashChallenge, passwordTagOf } from "./challenge";
import type { MfaStore } from "./mfa.store";
import type { MailKind } from "../account/account.store";
import { settleNotice, timedNotice } from "../account/notices";
import { PASSKEY_METHODS, type PasskeyService } from "./passkeys";
import type { PasskeyRecord } from "./passkey.store";
import { requireRecentSignIn, type Caller } from "./recent-sign-in";
export { ENROLMENT_MAX_AUTH_AGE_MS, type Caller } from "./recent-sign-in";
import {
  hashRecoveryCode,
  matchTotpStep,
  newRecoveryCodes,
  newTotpSecret,
  normalizeRecoveryCode,
  totpUri,
} from "./totp";

export interface MfaServiceOptions {
  store: MfaStore;
  users: UserStore;
  auth: AuthService;
  sessions: SessionService;
  limits: AuthRateLimits;
  /** Step-up with a passkey verifies through it. */
  passkeys: PasskeyService;
  /** Wakes the mail worker for a notice queued. */
  mailQueued(): void;
  /** The root signing key (JWT_PRIVATE_KEY, or the development key): TOTP secrets are sealed under a key derived from it. */
  rootKey: SigningKey;
  /** The otpauth URL's issuer: JWT_ISSUER. */
  issuer: string;
  now(): number;
}

export interface TotpEnrollment {
  secret: string;
  otpauthUrl: string;
}

/** What a second factor adds to a session's amr (RFC 8176). */
const TOTP_METHODS = ["otp", "mfa"];
/**
 * A recovery code proves a second factor (the printed codes), but not the
 * authenticator: "mfa" without "otp", so a policy that asks for "otp" still wants
 * the device (or a new enrolment).
 */
const RECOVERY_METHODS = ["mfa"];
const SEAL_INFO = "keyway totp-secret seal v1";

export const totpSealKey = (root: SigningKey): Buffer =>
  deriveSealKey(root.privateKey.export({ format: "der", type: "pkcs8" }), SEAL_INFO);

type CodeProof = "totp" | "recovery";

export class MfaService {
  private readonly sealKey: Buffer;

  constructor(private readonly options: MfaServiceOptions) {
    this.sealKey = totpSealKey(options.rootKey);
  }

  /**
   * A new pending secret, replacing a pending one; CONFLICT when TOTP is enabled
   * already. Only for a session signed in within ENROLMENT_MAX_AUTH_AGE_MS: a stolen
   * older session must not put its holder's authenticator on the account.
   */
  async startTotpEnrollment(caller: Caller, request: AuthRequest): Promise<TotpEnrollment> {
    enforce(await this.options.limits.consumeAuthCall(request.ip));
    requireRecentSignIn(caller, this.options.now());
    const user = await this.options.auth.currentUser(caller.userId);
    const secret = newTotpSecret();
    if (!(await this.options.store.startTotp(user.id, seal(secret, this.sealKey), this.now())))
      throw conflict("TOTP is already enabled; disable it first");
    return { secret, otpauthUrl: totpUri(secret, this.options.issuer, user.email) };
  }

  /** Enables the pending factor with a right code; the recovery codes, shown this once. Needs a recent sign-in, as start does. */
  async confirmTotpEnrollment(caller: Caller, code: unknown, request: AuthRequest): Promise<string[]> {
    requireRecentSignIn(caller, this.options.now());
    const user = await this.attempt(caller.userId, request);
    const factor = await this.options.store.findTotp(user.id);
    if (!factor || factor.enabled) throw badUserInput("There is no pending TOTP enrolment", "code");
    const secret = unseal(factor.sealedSecret, this.sealKey);
    const step = secret && typeof code === "string" ? await matchTotpStep(secret, code, this.options.now()) : null;
    const codes = newRecoveryCodes();
    const notice = step === null ? null : await this.noticeTo("totp-enabled", user.email);
    const confirmed =
      step !== null &&
      (await this.options.store.confirmTotp(
        user.id,
        factor.sealedSecret,
        step,
        codes.map((recovery) => hashRecoveryCode(normalizeRecoveryCode(recovery)!)),
        this.now(),
        notice,
      ));
    await settleNotice(this.options.limits, notice, confirmed, () => this.options.mailQueued());
    await this.settle(user, confirmed);
    return codes;
  }

  /** Removes the factor and the recovery codes, on a current TOTP code or a recovery code. */
  async disableTotp(userId: string, code: unknown, request: AuthRequest): Promise<true> {
    const user = await this.attempt(userId, request);
    await this.settle(user, (await this.useCode(user.id, code, ["totp", "recovery"])) !== null);
    const notice = await this.noticeTo("totp-disabled", user.email);
    const removed = await this.options.store.removeTotp(user.id, notice);
    await settleNotice(this.options.limits, notice, removed, () => this.options.mailQueued());
    return true;
  }

  /**
   * Trades a challenge (from login or a reset) and a TOTP or recovery code for a
   * session. A wrong code leaves the challenge usable; a challenge unknown, used or
   * expired is MFA_INVALID too, so it is never worth telling apart from a wrong code.
   */
  async completeLogin(challenge: unknown, code: unknown, request: AuthRequest): Promise<Authenticated> {
    enforce(await this.options.limits.consumeAuthCall(request.ip));
    if (typeof challenge !== "string" || !CHALLENGE_SHAPE.test(challenge)) throw unauthenticated("MFA_INVALID");
    const found = await this.options.store.findChallenge(hashChallenge(challenge), this.now());
    const user = found ? await this.options.users.findById(found.userId) : null;
    if (!found || !user || user.disabledAt || passwordTagOf(user) !== found.passwordTag)
      throw unauthenticated("MFA_INVALID");
    enforce(await this.options.limits.consumeSecondFactorAttempt(user.id));
    const proof = await this.useCode(user.id, code, ["totp", "recovery"]);
    await this.settle(user, proof !== null);
    // A concurrent completion took it first.
    if (!(await this.options.store.useChallenge(found.id, this.now()))) throw unauthenticated("MFA_INVALID");
    const methods = proof === "totp" ? TOTP_METHODS : RECOVERY_METHODS;
    const signedIn = await this.options.auth.signIn(user.id, request, { amr: [...found.amr, ...methods] });
    // A password reset or change may have committed between the read above and the insert.
    const current = await this.options.users.findById(user.id);
    if (!current || current.disabledAt || passwordTagOf(current) !== found.passwordTag) {
      await this.options.sessions.endSession(signedIn.session.id, current ? "PASSWORD_CHANGED" : "USER_DISABLED");
      throw unauthenticated("MFA_INVALID");
    }
    return signedIn;
  }

  /**
   * A right TOTP code or a passkey assertion (from startPasskeyLogin's options) of the
   * caller's: fresh auth_time and amr for the caller's session, and a new access
   * token for it. Either counts against the account's second-factor limit.
   */
  async stepUp(
    caller: { userId: string; sessionId: string },
    code: unknown,
    passkeyResponse: unknown,
    request: AuthRequest,
  ): Promise<Omit<Authenticated, "refreshToken" | "refreshMaxAge">> {
    const withPasskey = passkeyResponse !== null && passkeyResponse !== undefined;
    if (withPasskey === (code !== null && code !== undefined))
      throw badUserInput(
        "Step up with either a TOTP code or a passkey response",
        withPasskey ? "code" : "passkeyResponse",
      );
    const user = await this.attempt(caller.userId, request);
    if (withPasskey) {
      await this.options.passkeys.verifyStepUp(user.id, passkeyResponse);
      await this.options.limits.clearSecondFactorFailures(user.id);
      return this.options.auth.reauthenticate(user.id, caller.sessionId, PASSKEY_METHODS);
    }
    await this.settle(user, (await this.useCode(user.id, code, ["totp"])) !== null);
    return this.options.auth.reauthenticate(user.id, caller.sessionId, TOTP_METHODS);
  }

  /** What second factors the user has. */
  async secondFactors(
    userId: string,
  ): Promise<{ totp: boolean; recoveryCodesLeft: number; passkeys: PasskeyRecord[] }> {
    const [totp, recoveryCodesLeft, passkeys] = await Promise.all([
      this.options.store.hasTotp(userId),
      this.options.store.countRecoveryCodes(userId),
      this.options.passkeys.list(userId),
    ]);
    return { totp, recoveryCodesLeft: totp ? recoveryCodesLeft : 0, passkeys };
  }

  /** For the CLI's user:reset-mfa: removes TOTP, the recovery codes and every passkey; false when the user had none. */
  async resetMfa(userId: string): Promise<boolean> {
    const user = await this.options.users.findById(userId);
    const notice = user ? await this.noticeTo("second-factors-reset", user.email) : null;
    const removed = await this.options.store.removeSecondFactors(userId, notice);
    const any = removed.totp || removed.passkeys > 0;
    await settleNotice(this.options.limits, notice, any, () => this.options.mailQueued());
    return any;
  }

  /** The caller, once this attempt is counted against their account's second-factor limit. */
  private async attempt(userId: string, request: AuthRequest): Promise<UserRecord> {
    enforce(await this.options.limits.consumeAuthCall(request.ip));
    const user = await this.options.auth.currentUser(userId);
    enforce(await this.options.limits.consumeSecondFactorAttempt(user.id));
    return user;
  }

  /** A right code clears the account's failures, as a right password does; a wrong one is MFA_INVALID (and stays counted). */
  private async settle(user: UserRecord, right: boolean): Promise<void> {
    if (!right) throw unauthenticated("MFA_INVALID");
    await this.options.limits.clearSecondFactorFailures(user.id);
  }

  /** Uses the code if it is a right one of the kinds allowed, and says which it was; null for a wrong or used one. */
  private async useCode(userId: string, code: unknown, kinds: CodeProof[]): Promise<CodeProof | null> {
    if (typeof code !== "string") return null;
    const { store } = this.options;
    if (kinds.includes("totp")) {
      const factor = await store.findTotp(userId);
      const secret = factor?.enabled ? unseal(factor.sealedSecret, this.sealKey) : null;
      const step = secret ? await matchTotpStep(secret, code, this.options.now()) : null;
      if (step !== null) return (await store.useTotpStep(userId, step)) ? "totp" : null;
    }
    const recovery = kinds.includes("recovery") ? normalizeRecoveryCode(code) : null;
    if (recovery && (await store.useRecoveryCode(userId, hashRecoveryCode(recovery), this.now()))) return "recovery";
    return null;
  }

  private now(): Date {
    return new Date(this.options.now());
  }

  private noticeTo(kind: MailKind, recipient: string) {
    return timedNotice(this.options.limits, kind, recipient, this.now());
  }
}
