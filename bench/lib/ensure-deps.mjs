// The benchmarks' own dependencies (bench/package.json: the gateways keyway is
// compared with, the load generator) stay out of keyway's install. The first bench
// command installs them into bench/node_modules, and installs again whenever
// bench/package-lock.json changes.
//
// Entry points import this module first and load those packages with `await
// import()`: every static import of a module graph is resolved before any module in
// it runs, so a static one would fail before this install could happen.
import { execFileSync } from "node:child_process";
import { createHash } from "node:crypto";
import { existsSync, readFileSync, writeFileSync } from "node:fs";
import path from "node:path";
import { fileURLToPath } from "node:url";

const benchDir = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "..");
// The lockfile's hash, written after an install succeeds: what is installed now.
const stamp = path.join(benchDir, "node_modules", ".keyway-bench-lock");

const wanted = createHash("sha256")
  .update(readFileSync(path.join(benchDir, "package-lock.json")))
  .digest("hex");
const installed = existsSync(stamp) ? readFileSync(stamp, "utf8").trim() : null;
if (installed !== wanted) {
  process.stderr.write(
    "[bench] installing the benchmarks' own dependencies into bench/node_modules (npm ci --prefix bench)\n",
  );
  // stdout stays the benchmark's: npm's report goes to stderr.
  execFileSync("npm", ["ci", "--prefix", benchDir, "--no-audit", "--no-fund"], { stdio: ["ignore", 2, 2] });
  writeFileSync(stamp, `${wanted}\n`);
}
