// Summarises a .cpuprofile (from `npm run bench -- --profile` or `npm run bench:mix --
// --profile`): self time by package or source file, and the top functions.
//
// Usage: node bench/profile-summary.mjs <file> [top] [--window <name>]
//   --window  only the samples taken while bench:mix measured <name> (a row's keyway
//             side, e.g. "me cold"), from the windows.json it writes beside the
//             profiles; times are then also given per request, in µs.
//             Without a name, lists the windows recorded for this profile.
// V8 stamps a profile with the same monotonic clock as process.hrtime, so a window
// the benchmark recorded in its own process lines up with the server's samples.
import { existsSync, readFileSync } from "node:fs";
import path from "node:path";

const argv = process.argv.slice(2);
const windowAt = argv.indexOf("--window");
const windowName = windowAt === -1 ? null : (argv[windowAt + 1] ?? "");
const [file, top = "25"] = argv.filter((arg, i) => windowAt === -1 || (i !== windowAt && i !== windowAt + 1));
const profile = JSON.parse(readFileSync(file, "utf8"));
const byId = new Map(profile.nodes.map((node) => [node.id, node]));

let windows = null;
if (windowName !== null) {
  const pid = Number(/\.(\d+)\.\d+\.\d+\.cpuprofile$/.exec(path.basename(file))?.[1]);
  const windowsFile = path.join(path.dirname(file), "windows.json");
  const recorded = existsSync(windowsFile) ? JSON.parse(readFileSync(windowsFile, "utf8")) : [];
  const mine = recorded.filter((window) => window.pid === pid);
  if (!windowName) {
    for (const name of new Set(mine.map((window) => window.name))) console.log(name);
    process.exit(0);
  }
  windows = mine.filter((window) => window.name === windowName);
  if (windows.length === 0) throw new Error(`no window "${windowName}" for pid ${pid} in ${windowsFile}`);
}
const inWindow = (atUs) => !windows || windows.some((window) => atUs >= window.fromUs && atUs < window.toUs);

const parentOf = new Map();
for (const node of profile.nodes) for (const child of node.children ?? []) parentOf.set(child, node.id);
const self = new Map();
/** Time with a function of keyway's own (dist/ or src/) anywhere on the stack, by function. */
const inclusive = new Map();
const dt = profile.timeDeltas;
let at = profile.startTime;
for (let i = 0; i < profile.samples.length; i++) {
  at += dt[i] ?? 0;
  if (!inWindow(at)) continue;
  const time = dt[i] ?? 0;
  self.set(profile.samples[i], (self.get(profile.samples[i]) ?? 0) + time);
  const seen = new Set();
  for (let id = profile.samples[i]; id !== undefined; id = parentOf.get(id)) {
    const { functionName, url, lineNumber } = byId.get(id).callFrame;
    if (!/\/(dist|src)\//.test(url) || /node_modules/.test(url)) continue;
    const key = `${functionName || "(anonymous)"} ${url.replace(/^.*\/(dist|src)\//, "$1/")}:${lineNumber}`;
    if (!seen.has(key)) (seen.add(key), inclusive.set(key, (inclusive.get(key) ?? 0) + time));
  }
}
const total = [...self.values()].reduce((a, b) => a + b, 0);
const requests = windows?.reduce((sum, window) => sum + window.completed, 0) ?? 0;

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
const show = (time) =>
  `${((100 * time) / total).toFixed(1).padStart(5)}%${requests ? ` ${(time / requests).toFixed(1).padStart(7)} µs/req` : ""}`;
console.log(
  `total sampled ${(total / 1e6).toFixed(1)} s${
    windows ? ` while measuring "${windowName}" (${windows.length} windows, ${requests} requests)` : ""
  }`,
);
if (requests) {
  const idle = group((node) => node.callFrame.functionName === "(idle)").find(([isIdle]) => isIdle)?.[1] ?? 0;
  console.log(`main thread busy ${((total - idle) / requests).toFixed(1)} µs per request (idle excluded)`);
}
console.log("\n-- self time by package / file --");
for (const [k, t] of group((node) => where(node.callFrame.url))) console.log(show(t), k);
console.log("\n-- self time by function --");
for (const [k, t] of group(
  (node) => `${node.callFrame.functionName || "(anonymous)"} ${where(node.callFrame.url)}:${node.callFrame.lineNumber}`,
))
  console.log(show(t), k);
// Synchronous: work resumed after an await (a driver parsing the reply) runs from the
// event loop's frames, not under the function that awaited it.
console.log("\n-- keyway's own functions, with everything they call synchronously (inclusive) --");
for (const [k, t] of [...inclusive].sort((a, b) => b[1] - a[1]).slice(0, Number(top))) console.log(show(t), k);
