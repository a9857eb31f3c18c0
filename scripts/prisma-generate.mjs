// Runs the local Prisma CLI's `generate`, so `npm ci` ends with a current client even
// on a machine that reaches only the npm registry.
//
// The CLI fetches its native schema engine before any command, though `generate`
// never runs it; pointing PRISMA_SCHEMA_ENGINE_BINARY at an existing executable skips
// the download. The variable is set for this child process only, and only when the
// user has not chosen an engine, so every other `prisma` command keeps its stock
// behaviour (including downloading the engine where the network allows).
import { spawnSync } from "node:child_process";
import { existsSync } from "node:fs";
import { createRequire } from "node:module";
import path from "node:path";
import { fileURLToPath } from "node:url";

const require = createRequire(import.meta.url);

// Installed as a dependency (from a tarball or a registry), keyway ships its Prisma
// client already compiled in dist/generated/prisma and no src/ to generate into, so
// there is nothing to do — and the consumer's install must not depend on the
// Prisma CLI finding a schema inside node_modules.
const packageRoot = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "..");
if (!existsSync(path.join(packageRoot, "src"))) process.exit(0);

function resolvePrismaCli() {
  try {
    return require.resolve("prisma/build/index.js");
  } catch {
    return null;
  }
}

function buildChildEnv(env) {
  if (env.PRISMA_SCHEMA_ENGINE_BINARY) return env;
  return {
    ...env,
    PRISMA_SCHEMA_ENGINE_BINARY: process.execPath,
    CHECKPOINT_DISABLE: env.CHECKPOINT_DISABLE ?? "1",
  };
}

const cli = resolvePrismaCli();
if (!cli) {
  console.error("prisma-generate: the `prisma` package is not installed; run `npm ci` first.");
  process.exit(1);
}

const result = spawnSync(process.execPath, [cli, "generate", ...process.argv.slice(2)], {
  stdio: "inherit",
  env: buildChildEnv(process.env),
});

if (result.error) {
  console.error(`prisma-generate: could not start the Prisma CLI: ${result.error.message}`);
  process.exit(1);
}
if (result.status !== 0) {
  const how = result.signal ? `signal ${result.signal}` : `exit code ${result.status}`;
  console.error(`prisma-generate: \`prisma generate\` failed (${how});`);
  console.error("the Prisma client in src/generated/prisma is missing or stale.");
  process.exit(result.status || 1);
}
