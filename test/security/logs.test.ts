// The end-of-run search for secrets in logs (test/global-teardown.ts) is only worth
// something if it finds what it looks for: each kind of leak planted in a run
// directory of its own is reported by file and line, and clean logs pass. Then a
// password reset run end to end leaves nothing secret in a log, a metric or an answer.
import { randomBytes } from "node:crypto";
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import path from "node:path";
import { print } from "graphql";
import { RequestPasswordResetDocument, ResetPasswordDocument } from "../generated/operations";
import { signUp } from "../helpers/auth";
import { callGraphQL, errorOf } from "../helpers/http";
import { SECRETS_FILE, scanRunLogs } from "../helpers/log-capture";
import { startTestServer, type TestServer } from "../helpers/server";
import { startTestSmtp, type TestSmtp } from "../helpers/smtp";

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
  ["a link token", () => `http://127.0.0.1:4000/demo/reset-password#token=${randomBytes(32).toString("base64url")}`],
])("finds %s and says where", async (what, secret) => {
  await writeFile(path.join(dir, SECRETS_FILE), "correct horse battery staple\n");
  await writeFile(path.join(dir, "1-1-server.log"), line({ msg: "fine" }) + line({ msg: "request" }));
  await writeFile(path.join(dir, "1-2-child.log"), line({ msg: "fine" }) + line({ msg: "oops", detail: secret() }));
  expect(scanRunLogs(dir)).toEqual([{ file: "1-2-child.log", line: 2, what }]);
});

describe("account recovery leaves no secret behind", () => {
  let smtp: TestSmtp;
  let server: TestServer;
  beforeAll(async () => {
    smtp = await startTestSmtp();
    server = await startTestServer({ env: { SMTP_URL: smtp.url, MAIL_POLL_INTERVAL: "1" } });
  });
  afterAll(async () => {
    await server?.stop();
    await smtp?.stop();
  });

  it("no log line, metric or response carries a link token, a new password, an address or a mail's body", async () => {
    const account = await signUp(server.url);
    const asked = await callGraphQL(server.url, print(RequestPasswordResetDocument), {
      variables: { email: account.email },
    });
    const mail = await smtp.waitFor((received) => received.to.includes(account.email) && received.token !== null);
    const newPassword = `new ${randomBytes(12).toString("hex")}`;
    const reset = await callGraphQL(server.url, print(ResetPasswordDocument), {
      variables: { token: mail.token, newPassword },
    });
    expect(errorOf(reset)).toBeUndefined();
    await smtp.waitFor((received) => received.to.includes(account.email) && /was reset/.test(received.subject));
    const metrics = await (await fetch(`${server.url}/metrics`)).text();
    expect(metrics).toMatch(/^keyway_mails_sent_total\{kind="password-reset"\} 1$/m);

    // The mail's own sentences, which only its recipient should read.
    const bodyLines = mail.text.split("\n").filter((text) => text.length > 20 && !text.includes("#token="));
    expect(bodyLines.length).toBeGreaterThan(0);
    const secrets = [mail.token!, newPassword, account.email, ...bodyLines];
    for (const [where, text] of [
      ["logs", server.logs.join("\n")],
      ["metrics", metrics],
      ["the request's answer", JSON.stringify(asked.body)],
    ] as const) {
      for (const secret of secrets)
        expect({ where, leaked: text.includes(secret) ? secret : null }).toEqual({ where, leaked: null });
    }
    // The reset's own answer carries the new session and the account's address, and nothing of the link.
    expect(JSON.stringify(reset.body)).not.toContain(mail.token!);
    expect(JSON.stringify(reset.body)).not.toContain(newPassword);
  });
});
