// Compile once before any test file runs: the process tests start dist/main.js as
// an operator would, and the codegen check reads the compiled schema. Also opens
// this run's log directory (test/helpers/log-capture.ts), searched at the end.
import { execFileSync } from "node:child_process";
import { mkdirSync, readdirSync, rmSync, statSync } from "node:fs";
import path from "node:path";
import { RUN_DIR_ENV } from "./helpers/log-capture";

const root = path.resolve(__dirname, "..");
const LOGS = path.join(root, "test-artifacts", "logs");
/** Old runs are pruned; a day keeps the logs of concurrent and recent runs. */
const KEEP_RUNS_MS = 24 * 3600 * 1000;

export default function compile(): void {
  const tsc = path.join(root, "node_modules", ".bin", "tsc");
  // From scratch: an incremental build keeps files whose source is gone and outputs edited
  // by hand, and the package test packs exactly what is in dist/.
  for (const dir of ["dist", "dist-examples"]) rmSync(path.join(root, dir), { recursive: true, force: true });
  execFileSync(tsc, ["-p", "tsconfig.build.json"], { cwd: root, stdio: "inherit" });
  // The example subgraph runs as its own process, as a subgraph author's service would.
  execFileSync(tsc, ["-p", "tsconfig.examples.json"], { cwd: root, stdio: "inherit" });
  // The browser tests load the demo client that keyway serves from dist/demo.
  execFileSync(process.execPath, [path.join(root, "scripts", "build-demo.mjs")], { cwd: root, stdio: "inherit" });
  openRunLogs();
}

function openRunLogs(): void {
  mkdirSync(LOGS, { recursive: true });
  for (const name of readdirSync(LOGS)) {
    const dir = path.join(LOGS, name);
    if (Date.now() - statSync(dir).mtimeMs > KEEP_RUNS_MS) rmSync(dir, { recursive: true, force: true });
  }
  const dir = path.join(LOGS, `${new Date().toISOString().replace(/[:.]/g, "-")}-${process.pid}`);
  mkdirSync(dir);
  // Workers are started after this and inherit the environment.
  process.env[RUN_DIR_ENV] = dir;
}
