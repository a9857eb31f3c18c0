// `npx keyway <command>`: the operator's tools. Same configuration (environment)
// as the server. Results go to stdout (as JSON with --json), audit lines and
// problems to stderr. Exit codes: 0 done, 1 refused or failed, 2 bad usage or
// configuration, 3 (db:status) migrations pending.
import "reflect-metadata";
import { createInterface } from "node:readline";
import { Writable } from "node:stream";
import {
  changeRole,
  createUser,
  disableUser,
  listSessions,
  resetLink,
  resetMfa,
  migrate,
  migrationStatus,
  revokeSession,
  rotateKeys,
  type AdminContext,
} from "./admin/commands";
import { loadConfigOrReport } from "./config";
import { openDatabase } from "./db/client";
import { openKeyway } from "./keyway";
import { createLogger } from "./logger";

const USAGE = `usage: keyway <command> [--json]
       keyway help                show this

  user:create <email>        create an account; the password is read from stdin
  user:disable <email>       disable an account and end all its sessions
  user:reset-link <email>    print a one-time password reset link to hand to the user (ends their
                             earlier reset links; nothing is mailed)
  user:reset-mfa <email>     remove the account's TOTP, recovery codes and passkeys (it signs in
                             with the password alone until it enrols again)
  role:grant <email> <role>  give the account a role (running instances authorize on it within the
                             revocation bound; new tokens carry it)
  role:revoke <email> <role> take a role from the account (as role:grant: tokens already issued are
                             authorized without it; user:disable ends every session at once)
  sessions:list <email>      the account's live sessions
  sessions:revoke <id>       end one session
  keys:rotate                add a new signing key; the current one verifies until its tokens expire
  db:migrate                 apply pending migrations
  db:status                  applied and pending migrations (exit 3 when some are pending)`;

type Output = { json: unknown; text: string };

interface Command {
  args: string[];
  /** Needs the auth services (and a current schema), not only a database connection. */
  services: boolean;
  run(context: AdminContext, args: string[]): Promise<Output & { exitCode?: number }>;
}

const table = (rows: string[][]): string => rows.map((row) => row.join("  ")).join("\n");
const iso = (date: Date | null | undefined): string => date?.toISOString() ?? "-";

const COMMANDS: Record<string, Command> = {
  "user:create": {
    args: ["email"],
    services: true,
    async run(context, [email]) {
      const user = await createUser(context, email, await readPassword());
      return { json: user, text: `created ${user.email} (${user.id})` };
    },
  },
  "user:disable": {
    args: ["email"],
    services: true,
    async run(context, [email]) {
      const result = await disableUser(context, email);
      return { json: result, text: `disabled ${result.email}; ended ${result.sessionsEnded} session(s)` };
    },
  },
  "user:reset-link": {
    args: ["email"],
    services: true,
    async run(context, [email]) {
      const result = await resetLink(context, email);
      return { json: result, text: `${result.url}\n(for ${result.email}; works once, until ${iso(result.expiresAt)})` };
    },
  },
  "user:reset-mfa": {
    args: ["email"],
    services: true,
    async run(context, [email]) {
      const result = await resetMfa(context, email);
      const text = result.removed
        ? `removed the second factors (TOTP, recovery codes, passkeys) of ${result.email}`
        : `${result.email} had no second factor`;
      return { json: result, text };
    },
  },
  "role:grant": {
    args: ["email", "role"],
    services: true,
    async run(context, [email, role]) {
      const result = await changeRole(context, "grant", email, role);
      const text = result.changed ? `granted ${role} to ${result.email}` : `${result.email} already has ${role}`;
      return { json: result, text: `${text}; roles: ${result.roles.join(", ") || "none"}` };
    },
  },
  "role:revoke": {
    args: ["email", "role"],
    services: true,
    async run(context, [email, role]) {
      const result = await changeRole(context, "revoke", email, role);
      const text = result.changed ? `revoked ${role} from ${result.email}` : `${result.email} does not have ${role}`;
      return { json: result, text: `${text}; roles: ${result.roles.join(", ") || "none"}` };
    },
  },
  "sessions:list": {
    args: ["email"],
    services: true,
    async run(context, [email]) {
      const sessions = await listSessions(context, email);
      const rows = sessions.map((session) => [
        session.id,
        iso(session.createdAt),
        iso(session.lastUsedAt),
        iso(session.expiresAt),
        session.ip ?? "-",
        session.userAgent ?? "-",
      ]);
      return {
        json: sessions,
        text: sessions.length
          ? table([["id", "created", "last used", "expires", "ip", "user agent"], ...rows])
          : "no live sessions",
      };
    },
  },
  "sessions:revoke": {
    args: ["id"],
    services: true,
    async run(context, [id]) {
      const result = await revokeSession(context, id);
      return { json: result, text: `revoked session ${result.id}` };
    },
  },
  "keys:rotate": {
    args: [],
    services: true,
    async run(context) {
      const rotation = await rotateKeys(context);
      const text = [
        `new signing key ${rotation.kid}: published now, signs from ${iso(rotation.activatesAt)}`,
        `key ${rotation.replaces} stops signing then and leaves the JWKS at ${iso(rotation.replacedVerifiesUntil)}`,
        ...(rotation.removed.length ? [`removed expired keys: ${rotation.removed.join(", ")}`] : []),
      ].join("\n");
      return { json: rotation, text };
    },
  },
  "db:migrate": {
    args: [],
    services: false,
    async run(context) {
      const result = await migrate(context);
      return {
        json: result,
        text: result.applied.length ? `applied ${result.applied.join(", ")}` : "database schema is current",
      };
    },
  },
  "db:status": {
    args: [],
    services: false,
    async run(context) {
      const status = await migrationStatus(context);
      const lines = [
        ...status.applied.map((name) => `applied  ${name}`),
        ...status.pending.map((name) => `pending  ${name}`),
      ];
      return { json: status, text: lines.join("\n") || "no migrations", exitCode: status.pending.length ? 3 : 0 };
    },
  },
};

async function main(argv: string[]): Promise<number> {
  const json = argv.includes("--json");
  const [name, ...args] = argv.filter((arg) => arg !== "--json");
  if (name === "help" || name === "--help" || name === "-h") {
    process.stdout.write(`${USAGE}\n`);
    return 0;
  }
  const command = name ? COMMANDS[name] : undefined;
  if (!command || args.length !== command.args.length || args.some((arg) => arg.startsWith("--"))) {
    process.stderr.write(`${name && !command ? `keyway: unknown command "${name}"\n` : ""}${USAGE}\n`);
    return 2;
  }
  const config = loadConfigOrReport();
  if (!config) return 2;
  // Audit lines and warnings go to stderr so stdout stays the command's answer.
  const logger = createLogger({ level: config.logLevel, destination: process.stderr });
  const context: AdminContext = { config, logger, now: Date.now };
  try {
    // The same keyway the server runs (rotating keys included), on a schema it must not change.
    if (command.services)
      context.keyway = await openKeyway({ config, logger, migrations: "require-current", sendMail: false });
    else
      context.database = await openDatabase({
        url: config.databaseUrl,
        dataDir: config.dataDir,
        poolMax: config.databasePoolSize,
      });
    const result = await command.run(context, args);
    process.stdout.write(`${json ? JSON.stringify(result.json, null, 2) : result.text}\n`);
    return result.exitCode ?? 0;
  } catch (error) {
    const message = error instanceof Error ? error.message : String(error);
    if (json) process.stdout.write(`${JSON.stringify({ error: message })}\n`);
    process.stderr.write(`keyway: ${message}\n`);
    return 1;
  } finally {
    await context.keyway?.close();
    await context.database?.close();
  }
}

/** From a pipe: the first line. At a terminal: a prompt that does not echo. */
async function readPassword(): Promise<string> {
  if (!process.stdin.isTTY) {
    let input = "";
    for await (const chunk of process.stdin) input += chunk;
    return input.split(/\r?\n/)[0] ?? "";
  }
  process.stderr.write("password: ");
  const silent = new Writable({ write: (_chunk, _encoding, done) => done() });
  const prompt = createInterface({ input: process.stdin, output: silent, terminal: true });
  const password = await new Promise<string>((resolve) => prompt.question("", resolve));
  prompt.close();
  process.stderr.write("\n");
  return password;
}

main(process.argv.slice(2)).then(
  (code) => process.exit(code),
  (error: unknown) => {
    process.stderr.write(`keyway: ${error instanceof Error ? error.message : String(error)}\n`);
    process.exit(1);
  },
);
