// Preloaded into the keyway that `npm run soak` starts (node --expose-gc --require …).
// On SIGUSR2 it runs a full collection and writes the heap still in use, and the
// resident set, to file descriptor 3: what keyway retains, measured when the soak
// asks, instead of wherever V8's own collections happened to leave the heap.
const { writeSync } = require("node:fs");

process.on("SIGUSR2", () => {
  globalThis.gc();
  const { heapUsed, rss } = process.memoryUsage();
  writeSync(3, `${heapUsed} ${rss}\n`);
});
