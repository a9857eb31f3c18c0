// Summarises a .cpuprofile (from `npm run bench -- --profile`): self time by
// package or source file, and the top functions. Usage: node bench/profile-summary.mjs <file> [top]
import { readFileSync } from "node:fs";

const [file, top = "25"] = process.argv.slice(2);
const profile = JSON.parse(readFileSync(file, "utf8"));
const byId = new Map(profile.nodes.map((node) => [node.id, node]));
const self = new Map();
const dt = profile.timeDeltas;
for (let i = 0; i < profile.samples.length; i++)
  self.set(profile.samples[i], (self.get(profile.samples[i]) ?? 0) + (dt[i] ?? 0));
const total = [...self.values()].reduce((a, b) => a + b, 0);

const where = (url) => {
  if (!url) return "(native/vm)";
  const pkg = /node_modules\/((?:@[^/]+\/)?[^/]+)/.exec(url);
  if (pkg) return pkg[1];
  if (url.startsWith("node:")) return url;
  return url.replace(/^.*\/(dist|src)\//, "$1/");
};
const group = (key) => {
  const sums = new Map();
  for (const [id, time] of self) {
    const k = key(byId.get(id));
    sums.set(k, (sums.get(k) ?? 0) + time);
  }
  return [...sums].sort((a, b) => b[1] - a[1]).slice(0, Number(top));
};
const pct = (time) => `${((100 * time) / total).toFixed(1).padStart(5)}%`;
console.log(`total sampled ${(total / 1e6).toFixed(1)} s`);
console.log("\n-- self time by package / file --");
for (const [k, t] of group((node) => where(node.callFrame.url))) console.log(pct(t), k);
console.log("\n-- self time by function --");
for (const [k, t] of group(
  (node) => `${node.callFrame.functionName || "(anonymous)"} ${where(node.callFrame.url)}:${node.callFrame.lineNumber}`,
))
  console.log(pct(t), k);
