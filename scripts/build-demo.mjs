// Bundles the demo web client (src/demo) into dist/demo: one script, its page
// and stylesheet. keyway serves them at /demo when DEMO=true.
import { build } from "esbuild";
import { copyFileSync, mkdirSync } from "node:fs";
import path from "node:path";
import { fileURLToPath } from "node:url";

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "..");
const source = path.join(root, "src", "demo");
const target = path.join(root, "dist", "demo");

mkdirSync(target, { recursive: true });
await build({
  entryPoints: [path.join(source, "main.ts")],
  outfile: path.join(target, "app.js"),
  bundle: true,
  format: "iife",
  target: "es2022",
  minify: true,
  sourcemap: true,
  tsconfig: path.join(root, "tsconfig.demo.json"),
  logLevel: "warning",
});
for (const file of ["index.html", "app.css"]) copyFileSync(path.join(source, file), path.join(target, file));
