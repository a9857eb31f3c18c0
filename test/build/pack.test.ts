// keyway as a dependency: `npm pack` gives a tarball that a fresh project installs
// and builds on. The project imports keyway/subgraph and keyway/client with their
// typings (strict, nodenext and bundler resolution), runs a subgraph that trusts
// callers only through keyway/subgraph behind a keyway started from the same
// tarball, and signs in through keyway/client. Nothing here is skipped: a step that
// cannot run (no npm, no registry or cache) fails the test with its output.
import { spawn, type ChildProcess } from "node:child_process";
import { createHash, generateKeyPairSync, sign } from "node:crypto";
import { existsSync, readFileSync } from "node:fs";
import { copyFile, mkdir, mkdtemp, readdir, readFile, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import path from "node:path";
import { hashRequestBody } from "../../src/token/identity-token";
import { signUp, uniqueEmail } from "../helpers/auth";
import { createTestDatabase, type TestDatabase } from "../helpers/database";
import { callGraphQL, errorOf } from "../helpers/http";
import { logSink, recordSecret } from "../helpers/log-capture";
import { freePort } from "../helpers/net";

const ROOT = path.resolve(__dirname, "../..");
const CONSUMER_SOURCES = path.join(__dirname, "consumer");
const rootPackage = JSON.parse(readFileSync(path.join(ROOT, "package.json"), "utf8")) as {
  dependencies: Record<string, string>;
  devDependencies: Record<string, string>;
};

/** What the consumer installs beside keyway, at the versions keyway itself is built and tested with. */
const CONSUMER_DEPENDENCIES = [
  `typescript@${rootPackage.devDependencies.typescript}`,
  `@types/node@${rootPackage.devDependencies["@types/node"]}`,
  `@apollo/server@${rootPackage.dependencies["@apollo/server"]}`,
  `@apollo/subgraph@${rootPackage.dependencies["@apollo/subgraph"]}`,
  `graphql@${rootPackage.dependencies.graphql}`,
];

/** A fresh project's view of the environment: nothing of jest's, nor of the npm run that may have started it, but the same npm cache. */
function cleanEnv(extra: Record<string, string> = {}): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = { PATH: process.env.PATH, HOME: process.env.HOME };
  for (const name of ["TMPDIR", "npm_config_cache", "npm_config_registry", "npm_config_userconfig"])
    if (process.env[name]) env[name] = process.env[name];
  return { ...env, ...extra };
}

interface Finished {
  status: number | null;
  stdout: string;
  stderr: string;
}

function run(command: string, args: string[], cwd: string, timeoutMs: number): Promise<Finished> {
  return new Promise((resolve, reject) => {
    const child = spawn(command, args, { cwd, env: cleanEnv(), timeout: timeoutMs });
    let stdout = "";
    let stderr = "";
    child.stdout.on("data", (chunk: Buffer) => (stdout += chunk.toString()));
    child.stderr.on("data", (chunk: Buffer) => (stderr += chunk.toString()));
    child.on("error", reject);
    child.on("close", (status) => resolve({ status, stdout, stderr }));
  });
}

/** Runs to exit 0 or throws with everything it printed, so a failure says why. */
async function succeed(command: string, args: string[], cwd: string, timeoutMs = 120_000): Promise<Finished> {
  const result = await run(command, args, cwd, timeoutMs);
  if (result.status !== 0) {
    throw new Error(
      `\`${command} ${args.join(" ")}\` in ${cwd} exited with ${result.status}\n--- stdout\n${result.stdout}\n--- stderr\n${result.stderr}`,
    );
  }
  return result;
}

interface Started {
  child: ChildProcess;
  output: () => string;
}

/** Starts a long-running process of the consumer's and resolves once it prints a line matching `ready`. */
function start(
  label: string,
  args: string[],
  cwd: string,
  env: Record<string, string>,
  ready: RegExp,
  timeoutMs = 90_000,
): Promise<Started & { match: RegExpExecArray }> {
  const child = spawn(process.execPath, args, { cwd, env: cleanEnv(env) });
  const sink = logSink(label);
  let output = "";
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      child.kill("SIGKILL");
      reject(new Error(`${label} did not start within ${timeoutMs} ms:\n${output}`));
    }, timeoutMs);
    const onData = (chunk: Buffer) => {
      output += chunk.toString();
      sink(chunk.toString());
      const match = ready.exec(output);
      if (match) {
        clearTimeout(timer);
        resolve({ child, output: () => output, match });
      }
    };
    child.stdout.on("data", onData);
    child.stderr.on("data", onData);
    child.on("exit", (code) => {
      clearTimeout(timer);
      reject(new Error(`${label} exited with ${code} before it was ready:\n${output}`));
    });
  });
}

const stop = (started: Started | undefined): Promise<void> =>
  new Promise((resolve) => {
    if (!started || started.child.exitCode !== null || started.child.signalCode !== null) return resolve();
    started.child.once("exit", () => resolve());
    started.child.kill("SIGTERM");
  });

let work: string;
let project: string;
let packedFiles: string[];

beforeAll(async () => {
  work = await mkdtemp(path.join(tmpdir(), "keyway-pack-"));
  project = path.join(work, "consumer");
  // dist/ is compiled by test/global-setup.ts before any test runs.
  const packed = await succeed("npm", ["pack", "--json", "--ignore-scripts", "--pack-destination", work], ROOT);
  const [summary] = JSON.parse(packed.stdout) as Array<{ filename: string; files: Array<{ path: string }> }>;
  packedFiles = summary.files.map((file) => file.path);
  await mkdir(path.join(project, "src"), { recursive: true });
  await writeFile(
    path.join(project, "package.json"),
    JSON.stringify({ name: "keyway-consumer", private: true, type: "module" }, null, 2),
  );
  await writeFile(
    path.join(project, "tsconfig.json"),
    JSON.stringify({
      compilerOptions: {
        strict: true,
        target: "ES2022",
        module: "nodenext",
        moduleResolution: "nodenext",
        outDir: "out",
        rootDir: "src",
        types: ["node"],
        skipLibCheck: false,
      },
      include: ["src"],
    }),
  );
  for (const file of await readdir(CONSUMER_SOURCES))
    await copyFile(path.join(CONSUMER_SOURCES, file), path.join(project, "src", file));
  // From the npm cache where it has them (CI runs `npm ci` first); the registry otherwise.
  await succeed(
    "npm",
    [
      "install",
      path.join(work, summary.filename),
      ...CONSUMER_DEPENDENCIES,
      "--prefer-offline",
      "--no-audit",
      "--no-fund",
    ],
    project,
    480_000,
  );
}, 600_000);

afterAll(async () => {
  if (work) await rm(work, { recursive: true, force: true });
});

it("packs what a consumer needs, and none of the repository's sources, tests or benchmarks", () => {
  for (const needed of [
    "LICENSE",
    "README.md",
    "package.json",
    "dist/subgraph/index.js",
    "dist/subgraph/index.d.ts",
    "dist/client/index.js",
    "dist/client/index.d.ts",
    "dist/main.js",
    "dist/cli.js",
    "dist/generated/prisma/client.js",
    "dist/demo/index.html",
    "docs/api.md",
    "prisma/schema.prisma",
    "scripts/keyway.cjs",
    "scripts/prisma-generate.mjs",
  ]) {
    expect({ needed, packed: packedFiles.includes(needed) }).toEqual({ needed, packed: true });
  }
  expect(packedFiles.some((file) => file.startsWith("prisma/migrations/") && file.endsWith("/migration.sql"))).toBe(
    true,
  );
  const foreign = packedFiles.filter(
    (file) =>
      /^(src|test|bench|examples|dist-examples|node_modules)\//.test(file) ||
      file.endsWith(".map") ||
      file.endsWith(".tsbuildinfo"),
  );
  expect(foreign).toEqual([]);
});

it("keyway's postinstall does nothing where keyway is a dependency, and succeeds", async () => {
  // npm 11 runs dependencies' install scripts only once approved; an approved or older npm runs this.
  const installed = path.join(project, "node_modules", "keyway");
  await succeed(process.execPath, [path.join(installed, "scripts", "prisma-generate.mjs")], installed, 60_000);
  expect((await readdir(installed)).sort()).toEqual([
    "LICENSE",
    "README.md",
    "dist",
    "docs",
    "package.json",
    "prisma",
    "scripts",
  ]);
});

it("ships a README and docs whose links all land on files the package holds", async () => {
  const installed = path.join(project, "node_modules", "keyway");
  const missing: string[] = [];
  for (const file of ["README.md", "docs/api.md"]) {
    const text = await readFile(path.join(installed, file), "utf8");
    for (const [, target] of text.matchAll(/\]\(([^)#\s]+)(?:#[^)]*)?\)/g)) {
      if (/^[a-z][a-z0-9+.-]*:/i.test(target)) continue;
      if (!existsSync(path.resolve(path.dirname(path.join(installed, file)), target)))
        missing.push(`${file}: ${target}`);
    }
  }
  expect(missing).toEqual([]);
});

it("type-checks a strict nodenext project on both entry points, with real typings (bundler resolution too)", async () => {
  // tsc reports an unused @ts-expect-error, so src/typings.ts passes only if every wrong use there is refused.
  await succeed(path.join(project, "node_modules", ".bin", "tsc"), ["-p", "."], project, 180_000);
  await succeed(
    path.join(project, "node_modules", ".bin", "tsc"),
    ["-p", ".", "--noEmit", "--module", "esnext", "--moduleResolution", "bundler"],
    project,
    180_000,
  );
}, 400_000);

it("loads both entry points from CommonJS as well as from ES modules", async () => {
  const probe =
    'const s = require("keyway/subgraph"), c = require("keyway/client"); console.log([typeof s.createIdentityVerifier, s.IDENTITY_HEADER, typeof c.KeywayClient, typeof c.MeDocument].join(" "))';
  expect((await succeed(process.execPath, ["-e", probe], project)).stdout.trim()).toBe(
    "function keyway-identity function object",
  );
});

describe("a subgraph of the consumer's behind keyway", () => {
  let database: TestDatabase;
  let subgraph: Started | undefined;
  let keyway: Started | undefined;
  let keywayUrl: string;
  let subgraphUrl: string;

  beforeAll(async () => {
    database = await createTestDatabase();
    const keywayPort = await freePort();
    const subgraphPort = await freePort();
    subgraphUrl = `http://127.0.0.1:${subgraphPort}`;
    // out/ is what the type-check above compiled.
    subgraph = await start(
      "pack-subgraph",
      ["out/subgraph.js", `http://127.0.0.1:${keywayPort}/.well-known/jwks.json`, String(subgraphPort)],
      project,
      {},
      /whoami subgraph at /,
    );
    // keyway itself, started from the installed tarball as an operator would run it.
    const started = await start(
      "pack-keyway",
      [path.join("node_modules", "keyway", "dist", "main.js")],
      project,
      {
        PORT: String(keywayPort),
        DATA_DIR: database.dataDir,
        SUBGRAPHS: `whoami=${subgraphUrl}/graphql`,
        LOG_LEVEL: "info",
        ...(database.url ? { DATABASE_URL: database.url } : {}),
      },
      /"url":"(http:\/\/[^"]+)"[^\n]*"msg":"keyway is listening"/,
    );
    keyway = started;
    keywayUrl = started.match[1]!;
  }, 180_000);

  afterAll(async () => {
    await stop(keyway);
    await stop(subgraph);
    await database?.drop();
  });

  it("signs in through keyway/client and reaches the subgraph as the verified user", async () => {
    const email = uniqueEmail();
    const password = "correct horse battery staple";
    recordSecret(password);
    const caller = await succeed(
      process.execPath,
      ["out/caller.js", `${keywayUrl}/graphql`, email, password],
      project,
      60_000,
    );
    const seen = JSON.parse(caller.stdout) as {
      userId: string;
      me: { id: string; email: string } | null;
      whoami: { data?: { whoami: { userId: string; sessionId: string; audience: string } | null }; errors?: unknown };
      refreshTokenStored: boolean;
      refused: string | null;
    };
    expect(seen.me).toMatchObject({ id: seen.userId, email });
    expect(seen.whoami.errors).toBeUndefined();
    expect(seen.whoami.data?.whoami).toMatchObject({
      userId: seen.userId,
      sessionId: expect.stringMatching(/^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/),
      audience: "whoami",
    });
    expect(seen.refreshTokenStored).toBe(true);
    expect(seen.refused).toBe("UNAUTHENTICATED/INVALID_CREDENTIALS");
  }, 90_000);

  it("refuses requests sent to the subgraph directly: anonymous, forged with keyway's kid, or carrying an access token", async () => {
    const account = await signUp(keywayUrl);
    const query = "{ whoami { userId } }";
    const anonymous = await callGraphQL(subgraphUrl, query);
    expect({ error: errorOf(anonymous), data: anonymous.body.data }).toEqual({
      error: { code: "UNAUTHENTICATED", reason: undefined },
      data: { whoami: null },
    });

    // Everything a genuine identity has — keyway's kid, the typ, this subgraph's aud, the body's hash — but another key's signature.
    const jwks = (await (await fetch(`${keywayUrl}/.well-known/jwks.json`)).json()) as { keys: Array<{ kid: string }> };
    const { privateKey } = generateKeyPairSync("ec", { namedCurve: "P-256" });
    const now = Math.floor(Date.now() / 1000);
    const encode = (value: object) => Buffer.from(JSON.stringify(value)).toString("base64url");
    const body = JSON.stringify({ query });
    const unsigned = `${encode({ alg: "ES256", typ: "keyway-identity+jwt", kid: jwks.keys[0].kid })}.${encode({
      iss: "keyway",
      aud: "whoami",
      sub: account.userId,
      sid: account.sessionId,
      iat: now,
      exp: now + 30,
      jti: createHash("sha256").update(String(Math.random())).digest("hex"),
      bh: hashRequestBody(body),
    })}`;
    const forged = `${unsigned}.${sign("sha256", Buffer.from(unsigned), { key: privateKey, dsaEncoding: "ieee-p1363" }).toString("base64url")}`;

    for (const [name, identity] of Object.entries({ forged, accessToken: account.accessToken })) {
      const refused = await callGraphQL(subgraphUrl, query, { headers: { "keyway-identity": identity } });
      expect({ name, status: refused.status, error: errorOf(refused) }).toEqual({
        name,
        status: 401,
        error: { code: "UNAUTHENTICATED", reason: "IDENTITY_INVALID" },
      });
    }
  }, 60_000);
});
