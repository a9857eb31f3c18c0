// `keyway <command>` as an operator runs it: the compiled CLI in a child process
// against a real database (PGlite, or PostgreSQL with TEST_DATABASE_URL), with
// keyway itself started and stopped around it to see the effect on clients.
import { decodeAccessToken, REFRESH_HEADER, LOGIN, ME, REFRESH_TOKEN, uniqueEmail } from "../helpers/auth";
import { print } from "graphql";
import { generate } from "otplib";
import { ConfirmTotpEnrollmentDocument, StartTotpEnrollmentDocument } from "../generated/operations";
import { RESET_PASSWORD } from "../helpers/accounts";
import { createTestDatabase, type TestDatabase } from "../helpers/database";
import { callGraphQL, errorOf } from "../helpers/http";
import { logSink } from "../helpers/log-capture";
import { startNode } from "../helpers/node-process.cjs";
import { childEnv, startKeyway, stopKeyway } from "../helpers/process";

const PASSWORD = "a long enough password";
// Each CLI run is a process that opens the database and builds keyway's services
// (seconds on a loaded 2-core machine); the longest test runs nine of them and
// starts keyway twice.
jest.setTimeout(180_000);
let database: TestDatabase;
let env: Record<string, string>;

beforeAll(async () => {
  database = await createTestDatabase();
  env = { DATA_DIR: database.dataDir, LOG_LEVEL: "info", ...(database.url ? { DATABASE_URL: database.url } : {}) };
});
afterAll(() => database.drop());

interface CliResult {
  code: number | null;
  stdout: string;
  stderr: string;
  // Each command prints its own JSON shape; the tests read it as such and assert on values.
  // eslint-disable-next-line @typescript-eslint/no-explicit-any
  json: any;
}

async function keyway(args: string[], input = "", options: { printsSecret?: boolean } = {}): Promise<CliResult> {
  // Through the shared starter, so the CLI's output joins the run's logs for the secret scan; a
  // command whose answer is a secret (user:reset-link) is scanned by its test instead.
  const onOutput = options.printsSecret ? undefined : logSink("cli");
  const run = startNode("scripts/keyway.cjs", { args, env: childEnv(env), onOutput });
  run.child.stdin!.end(input);
  const code = await run.exited;
  const { stdout, stderr } = run.output();
  let json: unknown;
  try {
    json = JSON.parse(stdout);
  } catch {
    json = undefined;
  }
  return { code, stdout, stderr, json };
}

const auditEvents = (stderr: string) =>
  stderr
    .split("\n")
    .filter((line) => line.startsWith("{"))
    .map((line) => JSON.parse(line) as Record<string, unknown>)
    .filter((line) => line.audit === true);

/** Logs in through a running keyway; returns the tokens of the new session. */
async function loginThroughKeyway(url: string, email: string) {
  const response = await callGraphQL(url, LOGIN, {
    variables: { input: { email, password: PASSWORD } },
    headers: { [REFRESH_HEADER]: "1" },
  });
  const login = (response.body.data as { login: { accessToken: string } }).login;
  return { accessToken: login.accessToken, refreshToken: response.headers.get(REFRESH_HEADER)! };
}

describe("keyway CLI", () => {
  const email = uniqueEmail("cli");

  it("reports pending migrations with exit code 3, refuses account work until they are applied, then applies them", async () => {
    const before = await keyway(["db:status", "--json"]);
    expect(before.code).toBe(3);
    expect(before.json.applied).toEqual([]);
    expect(before.json.pending.length).toBeGreaterThanOrEqual(2);

    const early = await keyway(["user:create", email], PASSWORD);
    expect(early.code).toBe(1);
    expect(early.stderr).toContain("run `keyway db:migrate` first");

    const migrated = await keyway(["db:migrate", "--json"]);
    expect(migrated.code).toBe(0);
    expect(migrated.json.applied).toEqual(before.json.pending);
    expect((await keyway(["db:migrate"])).stdout).toContain("database schema is current");
    const after = await keyway(["db:status", "--json"]);
    expect(after.code).toBe(0);
    expect(after.json).toEqual({ applied: before.json.pending, pending: [] });
  });

  it("creates an account from a password on stdin, and refuses a duplicate, a weak password and bad usage", async () => {
    const created = await keyway(["user:create", `  ${email.toUpperCase()} `, "--json"], `${PASSWORD}\n`);
    expect(created.code).toBe(0);
    expect(created.json).toMatchObject({ email, id: expect.stringMatching(/^[0-9a-f-]{36}$/) });
    expect(auditEvents(created.stderr)).toEqual([
      expect.objectContaining({ event: "user.created", userId: created.json.id, actor: "cli" }),
    ]);
    expect(created.stderr).not.toContain(PASSWORD);

    const duplicate = await keyway(["user:create", email], PASSWORD);
    expect(duplicate.code).toBe(1);
    expect(duplicate.stderr).toContain("already exists");
    const weak = await keyway(["user:create", uniqueEmail("weak")], "short");
    expect(weak.code).toBe(1);
    expect(weak.stderr).toContain("8 to 128");
    expect((await keyway(["user:create"])).code).toBe(2);
    expect((await keyway(["no:such-command"])).code).toBe(2);
  });

  it("lists and revokes sessions, and disabling an account ends the rest — refused by keyway after a restart", async () => {
    // PGlite admits one process at a time, so keyway is stopped while the CLI works.
    let server = await startKeyway(env);
    const first = await loginThroughKeyway(server.url, email);
    const second = await loginThroughKeyway(server.url, email);
    await stopKeyway(server);

    const listed = await keyway(["sessions:list", email, "--json"]);
    expect(listed.code).toBe(0);
    expect(listed.json).toHaveLength(2);
    const sessionOf = async (accessToken: string) =>
      JSON.parse(Buffer.from(accessToken.split(".")[1], "base64url").toString()).sid as string;
    expect((listed.json as Array<{ id: string }>).map((session) => session.id).sort()).toEqual(
      [await sessionOf(first.accessToken), await sessionOf(second.accessToken)].sort(),
    );

    const revoked = await keyway(["sessions:revoke", await sessionOf(first.accessToken)]);
    expect(revoked.code).toBe(0);
    expect(auditEvents(revoked.stderr).map((event) => event.event)).toContain("session.revoked");
    expect((await keyway(["sessions:revoke", await sessionOf(first.accessToken)])).code).toBe(1);
    expect((await keyway(["sessions:revoke", "not-a-uuid"])).stderr).toContain("is not a session id");

    const disabled = await keyway(["user:disable", email, "--json"]);
    expect(disabled.code).toBe(0);
    expect(disabled.json).toMatchObject({ email, sessionsEnded: 1, newlyDisabled: true });
    // The same event the admin API's disableUser emits, with the operator as actor.
    expect(auditEvents(disabled.stderr)).toContainEqual(
      expect.objectContaining({ event: "user.disabled", actor: "cli", userId: disabled.json.id, changed: true }),
    );
    expect(JSON.stringify(auditEvents(disabled.stderr))).not.toContain(email);
    expect((await keyway(["sessions:list", email])).stdout).toContain("no live sessions");
    expect((await keyway(["user:disable", uniqueEmail("nobody")])).code).toBe(1);

    server = await startKeyway(env);
    try {
      for (const tokens of [first, second]) {
        const refreshed = await callGraphQL(server.url, REFRESH_TOKEN, {
          headers: { [REFRESH_HEADER]: tokens.refreshToken },
        });
        expect(errorOf(refreshed)).toMatchObject({ code: "UNAUTHENTICATED", reason: "REFRESH_TOKEN_INVALID" });
        const me = await callGraphQL(server.url, ME, { headers: { authorization: `Bearer ${tokens.accessToken}` } });
        expect(errorOf(me)).toMatchObject({ code: "UNAUTHENTICATED", reason: "SESSION_ENDED" });
      }
      const login = await callGraphQL(server.url, LOGIN, { variables: { input: { email, password: PASSWORD } } });
      expect(errorOf(login)).toMatchObject({ code: "UNAUTHENTICATED", reason: "INVALID_CREDENTIALS" });
    } finally {
      await stopKeyway(server);
    }
  });

  it("grants and revokes roles idempotently, audited by user id and role (never the email); keyway then serves them", async () => {
    const holder = uniqueEmail("roles");
    expect((await keyway(["user:create", holder], PASSWORD)).code).toBe(0);

    const granted = await keyway(["role:grant", holder, "admin", "--json"]);
    expect(granted.code).toBe(0);
    expect(granted.json).toMatchObject({ email: holder, role: "admin", changed: true, roles: ["admin"] });
    const [audit] = auditEvents(granted.stderr).filter((event) => String(event.event).startsWith("role."));
    expect(audit).toMatchObject({ event: "role.granted", actor: "cli", userId: granted.json.id, role: "admin" });
    expect(JSON.stringify(auditEvents(granted.stderr))).not.toContain(holder);

    const again = await keyway(["role:grant", holder, "admin", "--json"]);
    expect(again.code).toBe(0);
    expect(again.json).toMatchObject({ changed: false, roles: ["admin"] });
    expect((await keyway(["role:grant", holder, "staff"])).stdout).toContain("granted staff to");
    const revoked = await keyway(["role:revoke", holder, "admin", "--json"]);
    expect(revoked.json).toMatchObject({ changed: true, roles: ["staff"] });
    expect(auditEvents(revoked.stderr)).toContainEqual(
      expect.objectContaining({ event: "role.revoked", actor: "cli", userId: granted.json.id, role: "admin" }),
    );
    expect((await keyway(["role:revoke", holder, "admin"])).stdout).toContain("does not have admin");

    const badRole = await keyway(["role:grant", holder, "Admin!", "--json"]);
    expect(badRole.code).toBe(1);
    expect(badRole.json.error).toMatch(/"Admin!" is not a role name: role names are 1 to 64 characters/);
    expect((await keyway(["role:grant", uniqueEmail("nobody"), "staff"])).stderr).toContain(
      "no account with the email",
    );
    expect((await keyway(["role:grant", holder])).code).toBe(2);

    const server = await startKeyway(env);
    try {
      const { accessToken } = await loginThroughKeyway(server.url, holder);
      const me = await callGraphQL(server.url, ME, { headers: { authorization: `Bearer ${accessToken}` } });
      expect(me.body.data?.me).toMatchObject({ email: holder, roles: ["staff"], emailVerified: false });
      expect(decodeAccessToken(accessToken)).toMatchObject({ roles: ["staff"], scope: "staff", amr: ["pwd"] });
    } finally {
      await stopKeyway(server);
    }
  });

  it("user:reset-link prints a one-time link (audited by user id, token never in a log line) that a running keyway honours once", async () => {
    const holder = uniqueEmail("reset-link");
    expect((await keyway(["user:create", holder], PASSWORD)).code).toBe(0);
    const first = await keyway(["user:reset-link", holder, "--json"], "", { printsSecret: true });
    expect(first.code).toBe(0);
    const second = await keyway(["user:reset-link", `  ${holder.toUpperCase()}`, "--json"], "", { printsSecret: true });
    expect(second.json).toMatchObject({ id: first.json.id, email: holder });
    const tokenOf = (url: string) => /\/demo\/reset-password#token=([A-Za-z0-9_-]{43})$/.exec(url)?.[1];
    const [older, newer] = [tokenOf(first.json.url), tokenOf(second.json.url)];
    expect(older).toBeDefined();
    expect(newer).toBeDefined();
    expect(newer).not.toBe(older);
    expect(auditEvents(second.stderr)).toContainEqual(
      expect.objectContaining({ event: "reset_link.issued", actor: "cli", userId: first.json.id }),
    );
    // The link is the answer on stdout; the log lines on stderr carry neither it nor the address.
    expect(second.stderr).not.toContain(newer);
    expect(second.stderr).not.toContain(holder);

    const unknown = await keyway(["user:reset-link", uniqueEmail("nobody")]);
    expect(unknown.code).toBe(1);
    expect(unknown.stderr).toContain("no account with the email");

    const server = await startKeyway(env);
    try {
      const reset = (token: string | undefined) =>
        callGraphQL(server.url, RESET_PASSWORD, { variables: { token, newPassword: "another long password" } });
      // A newer link ends the older one; the newer works once.
      expect(errorOf(await reset(older))).toMatchObject({ code: "UNAUTHENTICATED", reason: "LINK_INVALID" });
      const used = await reset(newer);
      expect(errorOf(used)).toBeUndefined();
      expect(used.body.data).toMatchObject({ resetPassword: { user: { email: holder } } });
      expect(errorOf(await reset(newer))).toMatchObject({ code: "UNAUTHENTICATED", reason: "LINK_INVALID" });
    } finally {
      await stopKeyway(server);
    }
  });

  it("user:reset-mfa removes TOTP and recovery codes (audited by user id): the password alone signs in again", async () => {
    const holder = uniqueEmail("reset-mfa");
    expect((await keyway(["user:create", holder], PASSWORD)).code).toBe(0);
    let server = await startKeyway(env);
    let secret: string;
    try {
      const { accessToken } = await loginThroughKeyway(server.url, holder);
      const started = await callGraphQL(server.url, print(StartTotpEnrollmentDocument), { accessToken });
      secret = (started.body.data as { startTotpEnrollment: { secret: string } }).startTotpEnrollment.secret;
      const confirmed = await callGraphQL(server.url, print(ConfirmTotpEnrollmentDocument), {
        accessToken,
        variables: { code: await generate({ secret }) },
      });
      expect(confirmed.body.data?.confirmTotpEnrollment).toHaveLength(10);
      const login = await callGraphQL(server.url, LOGIN, {
        variables: { input: { email: holder, password: PASSWORD } },
      });
      expect(errorOf(login)).toMatchObject({ code: "UNAUTHENTICATED", reason: "MFA_REQUIRED" });
    } finally {
      await stopKeyway(server);
    }

    const reset = await keyway(["user:reset-mfa", holder, "--json"]);
    expect(reset.code).toBe(0);
    expect(reset.json).toMatchObject({ email: holder, removed: true });
    expect(auditEvents(reset.stderr)).toContainEqual(
      expect.objectContaining({ event: "mfa.reset", actor: "cli", userId: reset.json.id, changed: true }),
    );
    expect(reset.stderr).not.toContain(holder);
    const again = await keyway(["user:reset-mfa", holder]);
    expect(again.code).toBe(0);
    expect(again.stdout).toContain("had no second factor");
    expect((await keyway(["user:reset-mfa", uniqueEmail("nobody")])).code).toBe(1);

    server = await startKeyway(env);
    try {
      const login = await callGraphQL(server.url, LOGIN, {
        variables: { input: { email: holder, password: PASSWORD } },
      });
      expect(errorOf(login)).toBeUndefined();
      expect(decodeAccessToken((login.body.data as { login: { accessToken: string } }).login.accessToken).amr).toEqual([
        "pwd",
      ]);
    } finally {
      await stopKeyway(server);
    }
  });

  it("keys:rotate publishes a new key at once; keyway serves it in the JWKS beside the current one, which keeps signing for now", async () => {
    let server = await startKeyway(env);
    const before = (await (await fetch(`${server.url}/.well-known/jwks.json`)).json()) as {
      keys: Array<{ kid: string }>;
    };
    await stopKeyway(server);
    expect(before.keys).toHaveLength(1);

    const rotated = await keyway(["keys:rotate", "--json"]);
    expect(rotated.code).toBe(0);
    expect(rotated.json.replaces).toBe(before.keys[0].kid);
    expect(new Date(rotated.json.activatesAt).getTime()).toBeGreaterThan(Date.now());
    expect(auditEvents(rotated.stderr)).toEqual([
      expect.objectContaining({ event: "keys.rotated", kid: rotated.json.kid }),
    ]);

    server = await startKeyway(env);
    try {
      const after = (await (await fetch(`${server.url}/.well-known/jwks.json`)).json()) as {
        keys: Array<{ kid: string }>;
      };
      expect(after.keys.map((key) => key.kid).sort()).toEqual([before.keys[0].kid, rotated.json.kid].sort());
      expect(server.logs.find((line) => line.msg === "keyway is listening")?.kid).toBe(before.keys[0].kid);
    } finally {
      await stopKeyway(server);
    }
  });
});

describe("keyway CLI on the embedded database", () => {
  it("refuses, with a clear message, while keyway itself holds it", async () => {
    const embedded = await createTestDatabase({ kind: "pglite" });
    const previous = env;
    env = { DATA_DIR: embedded.dataDir, LOG_LEVEL: "info" };
    const server = await startKeyway(env);
    try {
      const refused = await keyway(["db:status"]);
      expect(refused.code).toBe(1);
      expect(refused.stderr).toContain(`is in use by process ${server.child.pid}`);
    } finally {
      env = previous;
      await stopKeyway(server);
      await embedded.drop();
    }
  });
});

describe("keyway CLI beside a running keyway (PostgreSQL, which admits both)", () => {
  it("a session revoked from the CLI is refused by the running instance within its revocation poll", async () => {
    const shared = await createTestDatabase({ kind: "postgres" });
    const sharedEnv = {
      DATA_DIR: shared.dataDir,
      DATABASE_URL: shared.url!,
      LOG_LEVEL: "info",
      REVOCATION_POLL_INTERVAL: "1s",
    };
    const previous = env;
    env = sharedEnv;
    const server = await startKeyway(sharedEnv);
    try {
      const email = uniqueEmail("live");
      expect((await keyway(["user:create", email], PASSWORD)).code).toBe(0);
      const tokens = await loginThroughKeyway(server.url, email);
      const me = () => callGraphQL(server.url, ME, { headers: { authorization: `Bearer ${tokens.accessToken}` } });
      expect(errorOf(await me())).toBeUndefined();
      // Granted beside the running instance: the session's next refresh carries it.
      expect((await keyway(["role:grant", email, "staff"])).code).toBe(0);
      const refreshed = await callGraphQL(server.url, REFRESH_TOKEN, {
        headers: { [REFRESH_HEADER]: tokens.refreshToken },
      });
      const { accessToken } = (refreshed.body.data as { refreshToken: { accessToken: string } }).refreshToken;
      expect(decodeAccessToken(accessToken)).toMatchObject({ roles: ["staff"], scope: "staff" });

      expect((await keyway(["user:disable", email])).code).toBe(0);
      const deadline = Date.now() + 10_000;
      let refusal = errorOf(await me());
      while (!refusal && Date.now() < deadline) {
        await new Promise((resolve) => setTimeout(resolve, 200));
        refusal = errorOf(await me());
      }
      expect(refusal).toMatchObject({ code: "UNAUTHENTICATED", reason: "SESSION_ENDED" });
    } finally {
      env = previous;
      await stopKeyway(server);
      await shared.drop();
    }
  });
});
