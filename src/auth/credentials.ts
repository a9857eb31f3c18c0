// Input rules for emails and passwords, applied before anything is hashed or stored.
export const EMAIL_MAX_LENGTH = 254;
export const PASSWORD_MIN_LENGTH = 8;
export const PASSWORD_MAX_LENGTH = 128;

export type CredentialsResult = { ok: true; email: string; password: string } | { ok: false; message: string; field: "email" | "password" };

const codePoints = (value: string): number => [...value].length;
// eslint-disable-next-line no-control-regex
const CONTROL_CHARACTERS = /[\u0000-\u001f\u007f-\u009f]/;
const EMAIL_SHAPE = /^[^\s@]+@[^\s@]+\.[^\s@]+$/;

/** Trim, bound, and lower-case the email; bound the password (in code points). */
export function normalizeCredentials(rawEmail: string, password: string): CredentialsResult {
  const trimmed = rawEmail.trim();
  if (codePoints(trimmed) > EMAIL_MAX_LENGTH) return { ok: false, field: "email", message: `Email must be at most ${EMAIL_MAX_LENGTH} characters` };
  if (CONTROL_CHARACTERS.test(trimmed) || !EMAIL_SHAPE.test(trimmed)) return { ok: false, field: "email", message: "Email is not a valid address" };
  const length = codePoints(password);
  if (length < PASSWORD_MIN_LENGTH || length > PASSWORD_MAX_LENGTH) {
    return { ok: false, field: "password", message: `Password must be ${PASSWORD_MIN_LENGTH} to ${PASSWORD_MAX_LENGTH} characters` };
  }
  return { ok: true, email: trimmed.toLowerCase(), password };
}
