// keyway as a process: start-up, configuration errors, restarts and shutdown.
import { mkdtempSync, readdirSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { createTestDatabase, type TestDatabase } from "../helpers/database";
import { BrowserClient, uniqueEmail } from "../helpers/client";
import { ROOT, runKeyway, startKeyway, stopKeyway } from "../helpers/process";

/** Every migration in prisma/migrations, in the order they apply. */
const migrationNames = (): string[] =>
  readdirSync(path.join(ROOT, "prisma", "migrations"), { withFileTypes: true })
    .filter((entry) => entry.isDirectory())
    .map((entry) => entry.name)
    .sort();

const databaseEnv = (database: TestDatabase): Record<string, string> =>
  database.url ? { DATABASE_URL: database.url, DATA_DIR: database.dataDir } : { DATA_DIR: database.dataDir };

describe("start-up", () => {
  let database: TestDatabase;
  beforeAll(async () => {
    database = await createTestDatabase();
  });
  afterAll(() => database.drop());

  it("serves health, readiness and one ES256 key; a restart keeps the data, the key and the schema", async () => {
    const first = await startKeyway(databaseEnv(database));
    expect((await fetch(`${first.url}/healthz`)).status).toBe(200);
    expect((await fetch(`${first.url}/readyz`)).status).toBe(200);
    const jwks = (await (await fetch(`${first.url}/.well-known/jwks.json`)).json()) as {
      keys: Array<{ kid: string; alg: string }>;
    };
    expect(jwks.keys).toHaveLength(1);
    expect(jwks.keys[0]).toMatchObject({ alg: "ES256", kid: expect.any(String) });
    expect(first.logs.find((line) => line.msg === "migrations applied")?.applied).toEqual(migrationNames());
    if (!database.url)
      expect(first.logs.some((line) => line.level === 40 && String(line.msg).includes("development signing key"))).toBe(
        true,
      );
    const email = uniqueEmail("restart");
    await new BrowserClient(first.url).signUp(email);
    expect(await stopKeyway(first)).toBe(0);
    expect(first.logs.at(-1)?.msg).toBe("stopped");

    const second = await startKeyway(databaseEnv(database));
    const again = (await (await fetch(`${second.url}/.well-known/jwks.json`)).json()) as typeof jwks;
    expect(again.keys[0].kid).toBe(jwks.keys[0].kid);
    expect(second.logs.find((line) => line.msg === "database schema is current")).toBeDefined();
    expect((await new BrowserClient(second.url).login(email)).user.email).toBe(email);

    expect(await stopKeyway(second)).toBe(0);
    expect(second.logs.map((line) => line.msg)).toEqual(
      expect.arrayContaining(["shutting down: draining requests", "stopped"]),
    );
  }, 120_000);
});

describe("stopping", () => {
  it("stops on SIGTERM even after whoever read its output has gone (closed stdout)", async () => {
    const database = await createTestDatabase();
    try {
      const instance = await startKeyway(databaseEnv(database));
      instance.child.stdout!.destroy();
      instance.child.stderr!.destroy();
      await new Promise((resolve) => setTimeout(resolve, 300));
      instance.child.kill("SIGTERM");
      const exit = await Promise.race([
        instance.exited,
        new Promise((resolve) => setTimeout(() => resolve("still running"), 15_000)),
      ]);
      if (exit === "still running") instance.child.kill("SIGKILL");
      expect(exit).toBe(0);
    } finally {
      await database.drop();
    }
  }, 60_000);
});

describe("refusing to start", () => {
  it("exits non-zero before listening, with one line per configuration problem", async () => {
    const run = runKeyway({ ACCESS_TOKEN_TTL: "15x", PORT: "99999", NODE_ENV: "production" });
    expect(await run.exited).toBe(2);
    const lines = run.output().stderr.trim().split("\n");
    expect(lines).toHaveLength(4);
    expect(lines.join("\n")).toMatch(/ACCESS_TOKEN_TTL="15x"/);
    expect(lines.join("\n")).toMatch(/SMTP_URL is required when NODE_ENV=production/);
    expect(lines.join("\n")).toMatch(/PORT="99999"/);
    expect(lines.join("\n")).toMatch(/JWT_PRIVATE_KEY/);
    expect(run.output().stdout).not.toContain("listening");
  });

  it("refuses a malformed AUTHZ_FILE with one line per problem, each naming its JSON path", async () => {
    const file = path.join(mkdtempSync(path.join(tmpdir(), "keyway-authz-")), "authz.json");
    writeFileSync(
      file,
      JSON.stringify({
        roles: { Staff: ["notes:read"], viewer: [] },
        policies: { stepUp: { all: [{ amr: ["otp"] }, { maxAuthAge: "5 minutes" }] }, typo: { anyRoles: ["a"] } },
      }),
    );
    const run = runKeyway({ AUTHZ_FILE: file, ACCESS_TOKEN_TTL: "15x" });
    expect(await run.exited).toBe(2);
    const lines = run.output().stderr.trim().split("\n");
    expect(lines).toEqual([
      expect.stringMatching(/^keyway: ACCESS_TOKEN_TTL="15x" is not valid/),
      expect.stringMatching(new RegExp(`^keyway: AUTHZ_FILE=${file}: roles\\.Staff: "Staff" is not a valid role name`)),
      `keyway: AUTHZ_FILE=${file}: roles.viewer: expected a non-empty list of scopes`,
      expect.stringMatching(/: policies\.stepUp\.all\[1\]\.maxAuthAge: "5 minutes" is not a duration/),
      expect.stringMatching(/: policies\.typo\.anyRoles: unknown rule/),
    ]);
    expect(run.output().stdout).not.toContain("listening");

    const missing = runKeyway({ AUTHZ_FILE: `${file}.absent` });
    expect(await missing.exited).toBe(2);
    expect(missing.output().stderr.trim()).toBe(`keyway: AUTHZ_FILE=${file}.absent cannot be read: ENOENT`);
  });

  it("explains an unusable DATA_DIR instead of crashing in a loop", async () => {
    const file = path.join(mkdtempSync(path.join(tmpdir(), "keyway-ro-")), "a-file");
    writeFileSync(file, "");
    const run = runKeyway({ DATA_DIR: file });
    expect(await run.exited).toBe(1);
    expect(run.output().stderr).toMatch(/keyway: failed to start: .*(ENOTDIR|not a directory)/i);
  });
});

describe("warning about production settings that undo a protection", () => {
  it("starts, and says so once per setting before listening", async () => {
    const database = await createTestDatabase();
    const { generateKeyPairSync } = await import("node:crypto");
    const pem = generateKeyPairSync("ec", { namedCurve: "P-256" })
      .privateKey.export({ format: "pem", type: "pkcs8" })
      .toString();
    const keyway = await startKeyway({
      ...databaseEnv(database),
      NODE_ENV: "production",
      JWT_PRIVATE_KEY: pem,
      // Nothing is mailed in this test; production only needs to know where mail would go.
      SMTP_URL: "smtp://127.0.0.1:9",
      COOKIE_SECURE: "false",
      TRUST_PROXY: "true",
      CORS_ORIGINS: "http://app.example.com",
      APP_URL: "http://app.example.com/account",
    });
    try {
      const warnings = keyway.logs.filter((line) => line.insecure === true);
      expect(warnings.map((line) => line.level)).toEqual([40, 40, 40, 40, 40]);
      expect(warnings.map((line) => String(line.msg).split(" ")[0])).toEqual([
        "COOKIE_SECURE=false",
        "TRUST_PROXY=true",
        "CORS_ORIGINS",
        "WEBAUTHN_ORIGINS", // APP_URL's origin, plain HTTP too
        "APP_URL",
      ]);
      const listening = keyway.logs.findIndex((line) => line.msg === "keyway is listening");
      expect(keyway.logs.indexOf(warnings[4])).toBeLessThan(listening);
    } finally {
      expect(await stopKeyway(keyway)).toBe(0);
      await database.drop();
    }
  }, 60_000);
});
