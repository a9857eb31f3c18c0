// Fails the run when any log line of any keyway the tests started holds a password or
// token the tests handled, or anything shaped like one (test/helpers/log-capture.ts).
import { rmSync } from "node:fs";
import path from "node:path";
import { RUN_DIR_ENV, SECRETS_FILE, scanRunLogs } from "./helpers/log-capture";

export default function searchLogsForSecrets(): void {
  const dir = process.env[RUN_DIR_ENV];
  if (!dir) return;
  const leaks = scanRunLogs(dir);
  if (leaks.length > 0) {
    // Where, never what: the report itself must not repeat the secret.
    const where = leaks.slice(0, 20).map((leak) => `  ${leak.what} in ${path.join(dir, leak.file)}:${leak.line}`);
    throw new Error(`secrets found in the logs of this run (${leaks.length}):\n${where.join("\n")}`);
  }
  // The logs stay for reading; the list of secrets is no longer needed.
  rmSync(path.join(dir, SECRETS_FILE), { force: true });
}
