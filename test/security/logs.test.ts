// The end-of-run search for secrets in logs (test/global-teardown.ts) is only worth
// something if it finds what it looks for: each kind of leak planted in a run
// directory of its own is reported by file and line, and clean logs pass.
import { randomBytes } from "node:crypto";
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import path from "node:path";
import { SECRETS_FILE, scanRunLogs } from "../helpers/log-capture";

let dir: string;
beforeEach(async () => {
  dir = await mkdtemp(path.join(tmpdir(), "keyway-log-scan-"));
});
afterEach(() => rm(dir, { recursive: true, force: true }));

const line = (fields: Record<string, unknown>) => `${JSON.stringify({ level: 30, service: "keyway", ...fields })}\n`;
const b64 = (value: object) => Buffer.from(JSON.stringify(value)).toString("base64url");

it("reports nothing for clean logs, however much they hold", async () => {
  await writeFile(path.join(dir, SECRETS_FILE), "correct horse battery staple\n");
  const clean = Array.from({ length: 500 }, (_, i) =>
    line({ msg: "request", reqId: `req-${i}`, path: "/graphql", authorization: "[redacted]" }),
  ).join("");
  await writeFile(path.join(dir, "1-1-server.log"), clean);
  expect(scanRunLogs(dir)).toEqual([]);
});

it.each([
  ["a recorded secret", () => "the password was correct horse battery staple"],
  ["a JWT", () => `Bearer ${b64({ alg: "ES256" })}.${b64({ sub: "someone" })}.c2lnbmF0dXJl`],
  ["a refresh token", () => `${randomBytes(16).toString("base64url")}.${randomBytes(32).toString("base64url")}`],
  ["a private key", () => "-----BEGIN PRIVATE KEY-----"],
])("finds %s and says where", async (what, secret) => {
  await writeFile(path.join(dir, SECRETS_FILE), "correct horse battery staple\n");
  await writeFile(path.join(dir, "1-1-server.log"), line({ msg: "fine" }) + line({ msg: "request" }));
  await writeFile(path.join(dir, "1-2-child.log"), line({ msg: "fine" }) + line({ msg: "oops", detail: secret() }));
  expect(scanRunLogs(dir)).toEqual([{ file: "1-2-child.log", line: 2, what }]);
});
