// Compile once before any test file runs: the process tests start dist/main.js as
// an operator would, and the codegen check reads the compiled schema.
import { execFileSync } from "node:child_process";
import path from "node:path";

export default function compile(): void {
  const root = path.resolve(__dirname, "..");
  const tsc = path.join(root, "node_modules", ".bin", "tsc");
  execFileSync(tsc, ["-p", "tsconfig.build.json"], { cwd: root, stdio: "inherit" });
  // The example subgraph runs as its own process, as a subgraph author's service would.
  execFileSync(tsc, ["-p", "tsconfig.examples.json"], { cwd: root, stdio: "inherit" });
  // The browser tests load the demo client that keyway serves from dist/demo.
  execFileSync(process.execPath, [path.join(root, "scripts", "build-demo.mjs")], { cwd: root, stdio: "inherit" });
}
