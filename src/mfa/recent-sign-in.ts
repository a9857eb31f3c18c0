// Changing a second factor (TOTP, passkeys) needs a session that signed in, or
// stepped up, recently: a stolen older session must not put its holder's
// authenticator on the account, nor take the owner's off.
import { forbidden } from "../errors";

/** Who changes a factor: their id, and when their session signed in (`auth_time`, seconds), null when the token has none. */
export interface Caller {
  userId: string;
  authTime: number | null;
}

/** How recent that sign-in must be. */
export const ENROLMENT_MAX_AUTH_AGE_MS = 10 * 60_000;

export function requireRecentSignIn(caller: Caller, now: number): void {
  const signedInAt = caller.authTime === null ? null : caller.authTime * 1000;
  if (signedInAt === null || now - signedInAt > ENROLMENT_MAX_AUTH_AGE_MS)
    throw forbidden(
      `Sign in again to change your second factors: it needs a sign-in within the last ${ENROLMENT_MAX_AUTH_AGE_MS / 60_000} minutes`,
      "POLICY_FAILED",
    );
}
