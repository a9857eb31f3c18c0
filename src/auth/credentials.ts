// Input rules for emails and passwords, applied before anything is hashed or stored.
export const EMAIL_MAX_LENGTH = 254;
export const PASSWORD_MIN_LENGTH = 8;
export const PASSWORD_MAX_LENGTH = 128;

type Invalid = { ok: false; message: string; field: "email" | "password" };
export type EmailResult = { ok: true; email: string } | Invalid;
export type CredentialsResult = { ok: true; email: string; password: string } | Invalid;

const codePoints = (value: string): number => [...value].length;
// eslint-disable-next-line no-control-regex
const CONTROL_CHARACTERS = /[\u0000-\u001f\u007f-\u009f]/;
/** Invisible format characters (zero-width space, joiners, bidi controls) make look-alike addresses. */
const FORMAT_CHARACTERS = /\p{Cf}/u;
const EMAIL_SHAPE = /^[^\s@]+@[^\s@]+\.[^\s@]+$/;

/**
 * Trimmed and lower-cased, then bounded: lower-casing can lengthen a string
 * ("İ" becomes "i̇", two code points), and the stored form is what must fit.
 * Text that is not well-formed UTF-16 (a lone surrogate) is refused, because it
 * would be stored as U+FFFD and so match other addresses.
 */
export function normalizeEmail(raw: string): EmailResult {
  // NFKC first: "José" typed precomposed or with a combining accent, or in full-width
  // letters, is one address, not a look-alike second account. Again after lower-casing,
  // which can decompose ("İ" → "i̇").
  const email = raw.trim().normalize("NFKC").toLowerCase().normalize("NFKC");
  if (codePoints(email) > EMAIL_MAX_LENGTH)
    return { ok: false, field: "email", message: `Email must be at most ${EMAIL_MAX_LENGTH} characters` };
  if (
    !email.isWellFormed() ||
    CONTROL_CHARACTERS.test(email) ||
    FORMAT_CHARACTERS.test(email) ||
    !EMAIL_SHAPE.test(email)
  )
    return { ok: false, field: "email", message: "Email is not a valid address" };
  return { ok: true, email };
}

/** A password's bounds, in code points; a lone surrogate would hash like U+FFFD, so it is refused. */
export function checkPassword(password: string): Invalid | null {
  const length = codePoints(password);
  if (length < PASSWORD_MIN_LENGTH || length > PASSWORD_MAX_LENGTH) {
    return {
      ok: false,
      field: "password",
      message: `Password must be ${PASSWORD_MIN_LENGTH} to ${PASSWORD_MAX_LENGTH} characters`,
    };
  }
  if (!password.isWellFormed())
    return { ok: false, field: "password", message: "Password contains an invalid character" };
  return null;
}

export function normalizeCredentials(rawEmail: string, password: string): CredentialsResult {
  const email = normalizeEmail(rawEmail);
  if (!email.ok) return email;
  return checkPassword(password) ?? { ok: true, email: email.email, password };
}
