// Security events of the auth core, emitted where they happen and consumed by
// the audit log and the metrics. Events carry ids, reasons and the client IP —
// never a password, a token, or an email address.
import type { Logger } from "../logger";

export type AuthCall =
  | "signUp"
  | "login"
  | "refreshToken"
  | "logout"
  | "logoutAll"
  | "revokeSession"
  | "requestPasswordReset"
  | "resetPassword"
  | "changePassword"
  | "requestEmailVerification"
  | "verifyEmail"
  | "changeEmail"
  | "startTotpEnrollment"
  | "confirmTotpEnrollment"
  | "disableTotp"
  | "completeLogin"
  | "stepUp"
  | "startPasskeyRegistration"
  | "finishPasskeyRegistration"
  | "removePasskey"
  | "startPasskeyLogin"
  | "finishPasskeyLogin";
/** The admin API's operations (src/graphql/admin.resolver.ts). */
export type AdminCall = "users" | "grantRole" | "revokeRole" | "disableUser";

export type AuthEvent =
  /** A call answered: `outcome` is "success" or the refusal's reason (else its code), lower-cased. */
  | { type: "auth.call"; call: AuthCall; outcome: string; userId?: string; sessionId?: string; ip?: string | null }
  /** An access token was presented and refused. */
  | { type: "token.rejected"; reason: string }
  | { type: "sessions.ended"; reason: string; sessionIds: string[] }
  /** A role granted or revoked by `actor` ("cli", or the admin's user id); `changed` is false when it already was so. */
  | {
      type: "role.changed";
      change: "granted" | "revoked";
      userId: string;
      role: string;
      actor: string;
      changed: boolean;
    }
  /**
   * An admin API call answered, as auth.call; `actor` is the caller's user id when
   * there was one. Refusals are audited from this; a success by its own event below.
   */
  | { type: "admin.call"; call: AdminCall; outcome: string; actor?: string; ip?: string | null }
  /** A user's TOTP and recovery codes removed by `actor` ("cli"); `changed` is false when they had none. */
  | { type: "mfa.reset"; userId: string; actor: string; changed: boolean }
  /** An account disabled by `actor` ("cli", or the admin's user id); `changed` is false when it already was. */
  | { type: "user.disabled"; userId: string; actor: string; changed: boolean }
  /**
   * An admin read a page of accounts: how they asked (whether by email, never the
   * address itself), and whose accounts they saw.
   */
  | {
      type: "users.listed";
      actor: string;
      filter: { byEmail: boolean; first: number; after: string | null };
      count: number;
      userIds: string[];
    };

export interface AuthEvents {
  emit(event: AuthEvent): void;
  subscribe(listener: (event: AuthEvent) => void): () => void;
}

export function createAuthEvents(): AuthEvents {
  const listeners = new Set<(event: AuthEvent) => void>();
  return {
    emit(event) {
      for (const listener of listeners) listener(event);
    },
    subscribe(listener) {
      listeners.add(listener);
      return () => listeners.delete(listener);
    },
  };
}

/** Every security event, one JSON line each, marked `audit: true` for log routing. */
export function writeAuditLog(events: AuthEvents, logger: Logger): () => void {
  return events.subscribe((event) => {
    if (event.type === "token.rejected") return; // counted in metrics; one line per bad token would let anyone flood the log
    if (event.type === "auth.call") {
      const { type: _type, call, ...fields } = event;
      logger.info(
        { audit: true, event: `${call}.${event.outcome === "success" ? "succeeded" : "refused"}`, ...fields },
        `audit: ${call}`,
      );
      return;
    }
    if (event.type === "role.changed") {
      const { type: _type, change, ...fields } = event;
      logger.info({ audit: true, event: `role.${change}`, ...fields }, `audit: role.${change}`);
      return;
    }
    if (event.type === "admin.call") {
      if (event.outcome === "success") return; // its user.disabled, role.* or users.listed line says what happened
      const { type: _type, call, ...fields } = event;
      logger.info({ audit: true, event: `admin.${call}.refused`, ...fields }, `audit: admin.${call}`);
      return;
    }
    if (event.type === "user.disabled" || event.type === "users.listed" || event.type === "mfa.reset") {
      const { type, ...fields } = event;
      logger.info({ audit: true, event: type, ...fields }, `audit: ${type}`);
      return;
    }
    const name = event.reason === "REFRESH_TOKEN_REUSED" ? "refresh_token.reuse_detected" : "sessions.ended";
    logger.info({ audit: true, event: name, reason: event.reason, sessionIds: event.sessionIds }, `audit: ${name}`);
  });
}

/** The outcome label of a refusal: its reason where it has one, else its code. */
export function outcomeOf(error: unknown): string {
  const extensions = (error as { extensions?: { code?: unknown; reason?: unknown } }).extensions;
  const label =
    [extensions?.reason, extensions?.code].find((value) => typeof value === "string") ?? "INTERNAL_SERVER_ERROR";
  return label.toLowerCase();
}
