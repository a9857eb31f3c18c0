// "Passwords and tokens never in logs", checked over a whole jest run: every keyway a
// test starts (in process or as a child) appends its log lines under the run's
// directory, and the HTTP helpers record every secret they send or receive in a
// sidecar file there. test/global-teardown.ts searches the logs for both.
import { appendFileSync, mkdirSync, readdirSync, readFileSync } from "node:fs";
import path from "node:path";

/** Set by test/global-setup.ts; jest workers inherit it. Unset: nothing is captured. */
export const RUN_DIR_ENV = "KEYWAY_TEST_RUN_DIR";
export const SECRETS_FILE = "secrets.txt";

const runDir = (): string | undefined => process.env[RUN_DIR_ENV] || undefined;

let sequence = 0;

/** A sink for one server's log text: a file of its own, named by worker pid and label. */
export function logSink(label: string): (text: string) => void {
  const dir = runDir();
  if (!dir) return () => undefined;
  mkdirSync(dir, { recursive: true });
  const file = path.join(dir, `${process.pid}-${++sequence}-${label.replace(/[^a-z0-9-]/gi, "_")}.log`);
  return (text) => appendFileSync(file, text);
}

const recorded = new Set<string>();

/** Remembers a secret the tests handled, so the end of the run can look for it in the logs. */
export function recordSecret(value: string | null | undefined): void {
  const dir = runDir();
  if (!dir || !value || value.length < 8 || recorded.has(value) || /[\r\n]/.test(value)) return;
  recorded.add(value);
  mkdirSync(dir, { recursive: true });
  appendFileSync(path.join(dir, SECRETS_FILE), `${value}\n`);
}

/** Every value under a `password` key of GraphQL variables (`newPassword`, `currentPassword` too). */
export function recordPasswords(variables: unknown): void {
  if (!variables || typeof variables !== "object") return;
  for (const [key, value] of Object.entries(variables)) {
    if (/password$/i.test(key) && typeof value === "string") recordSecret(value);
    else recordPasswords(value);
  }
}

export interface Leak {
  file: string;
  line: number;
  what: string;
}

/**
 * Shapes that are a secret wherever they appear, recorded or not: a JWT (keyway logs
 * none, not even a refused one), keyway's refresh-token format, a PEM private key.
 */
const SECRET_SHAPES: Array<[string, RegExp]> = [
  ["a JWT", /eyJ[A-Za-z0-9_-]{8,}\.eyJ[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]*/],
  ["a refresh token", /(?<![A-Za-z0-9_-])[A-Za-z0-9_-]{22}\.[A-Za-z0-9_-]{43}(?![A-Za-z0-9_-])/],
  ["a private key", /PRIVATE KEY-----/],
  // A mailed link (reset, verification) with its token; the tokens themselves are recorded as they arrive (smtp.ts).
  ["a link token", /#token=[A-Za-z0-9_-]{8,}/],
];

/** Every recorded secret or secret-shaped string found in the run's log files. */
export function scanRunLogs(dir: string): Leak[] {
  const secrets = readText(path.join(dir, SECRETS_FILE)).split("\n").filter(Boolean);
  const leaks: Leak[] = [];
  for (const name of readdirSync(dir).filter((file) => file.endsWith(".log"))) {
    // Whole-file searches: Boyer-Moore over a few MB per secret, not one pass per line.
    const text = readText(path.join(dir, name));
    const lineAt = (index: number) => text.slice(0, index).split("\n").length;
    for (const [what, pattern] of SECRET_SHAPES) {
      const match = pattern.exec(text);
      if (match) leaks.push({ file: name, line: lineAt(match.index), what });
    }
    for (const secret of secrets) {
      const index = text.indexOf(secret);
      if (index !== -1) leaks.push({ file: name, line: lineAt(index), what: "a recorded secret" });
    }
  }
  return leaks;
}

function readText(file: string): string {
  try {
    return readFileSync(file, "utf8");
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === "ENOENT") return "";
    throw error;
  }
}
