// `npm run db:diff -- --name add_x`: writes prisma/migrations/<timestamp>_add_x/
// with the SQL that takes the committed migrations to prisma/schema.prisma,
// as `prisma migrate dev --create-only` would, but through the WASM schema engine.
//
// The diff logic lives in src/db (TypeScript, tested there). A fresh clone has no
// build, so the few modules it needs are compiled on the fly into node_modules/.cache,
// where their imports still resolve.
import { rm } from "node:fs/promises";
import { createRequire } from "node:module";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { parseArgs } from "node:util";
import ts from "typescript";

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "..");
const outDir = path.join(root, "node_modules", ".cache", "keyway-db-diff");
const migrationsDir = path.join(root, "prisma", "migrations");
const schemaPath = path.join(root, "prisma", "schema.prisma");

function readName() {
  const { values } = parseArgs({ options: { name: { type: "string", short: "n" } } });
  if (!values.name) {
    console.error("usage: npm run db:diff -- --name <what_changed>");
    process.exit(2);
  }
  return values.name;
}

async function compileDbModules() {
  await rm(outDir, { recursive: true, force: true });
  // The production build's settings, so the engine loads exactly as it does in dist.
  const configPath = path.join(root, "tsconfig.build.json");
  const { config, error } = ts.readConfigFile(configPath, ts.sys.readFile);
  if (error) throw new Error(ts.flattenDiagnosticMessageText(error.messageText, "\n"));
  const overrides = { outDir, sourceMap: false, noEmit: false, incremental: false };
  const { options } = ts.parseJsonConfigFileContent(config, ts.sys, root, overrides, configPath);
  const entries = ["diff.ts", "migrations.ts"].map((file) => path.join(root, "src", "db", file));
  const { emitSkipped } = ts.createProgram(entries, options).emit();
  if (emitSkipped) throw new Error("could not compile src/db");
  const require = createRequire(import.meta.url);
  return {
    ...require(path.join(outDir, "db", "diff.js")),
    ...require(path.join(outDir, "db", "migrations.js")),
  };
}

async function main() {
  const name = readName();
  const { diffSchema, formatMigrationName, writeMigration } = await compileDbModules();
  const migrationName = formatMigrationName(name);
  const sql = await diffSchema({ from: "migrations", migrationsDir, schemaPath });
  if (sql === null) {
    console.log("no changes: prisma/migrations already matches prisma/schema.prisma");
    return;
  }
  const dir = await writeMigration(migrationsDir, migrationName, sql);
  console.log(`created ${path.relative(root, dir)}/migration.sql`);
}

main().catch((error) => {
  console.error(`db:diff failed: ${error instanceof Error ? error.message : String(error)}`);
  process.exit(1);
});
