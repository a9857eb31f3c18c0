// Child processes for the benchmarks: keyway from dist/, baseline servers, and
// CPU accounting from /proc. Servers always run in their own process so the
// load generator (this process) and the server compete for the cores as two
// processes would on any shared machine, and their CPU can be told apart.
import { readdirSync, readFileSync } from "node:fs";
import net from "node:net";
import nodeProcess from "../../test/helpers/node-process.cjs";

const { ROOT, killAll, startNode, KEYWAY_LISTENING } = nodeProcess;
export const root = ROOT;
/** keyway's "listening" log line; the first group is its URL. */
export { KEYWAY_LISTENING };

export const freePort = () =>
  new Promise((resolve) => {
    const server = net.createServer().listen(0, "127.0.0.1", () => {
      const { port } = server.address();
      server.close(() => resolve(port));
    });
  });

/**
 * Spawns `node [nodeArgs] file` and resolves once its output matches `ready`; the
 * first capture group, if any, is returned as `url`. Its stdout goes to a file,
 * not a pipe (test/helpers/node-process.cjs says why).
 */
export async function startProcess(file, { env = {}, ready, nodeArgs = [], timeoutMs = 90_000, heapProbe = false }) {
  const server = startNode(file, {
    env: { PATH: process.env.PATH, HOME: process.env.HOME, ...env },
    nodeArgs,
    heapProbe,
    stdout: "file",
  });
  const match = await server.waitFor(ready, { timeoutMs, everyMs: 50 });
  return {
    pid: server.pid,
    url: match[1],
    heapAfterGc: server.heapAfterGc,
    stop: () => server.stop().then(() => undefined),
  };
}

/** Kills whatever is still running (on error or Ctrl-C); only children this process started. */
export const killChildren = killAll;

/** CPU seconds (user + system, all threads) a process has used so far, from /proc/<pid>/stat. */
export function cpuSeconds(pid) {
  const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
  // Fields after the parenthesised command name; utime and stime are fields 14 and 15.
  const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
  return (Number(fields[11]) + Number(fields[12])) / CLOCK_TICKS;
}

/**
 * CPU seconds used so far by each process named `postgres` on this machine (the
 * server and its backends), by pid; null when there is none (PGlite runs inside
 * keyway). Subtract readings with postgresCpuSince.
 */
export function postgresCpuSeconds() {
  const byPid = new Map();
  for (const entry of readdirSync("/proc")) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      if (readFileSync(`/proc/${entry}/comm`, "utf8").trim() === "postgres")
        byPid.set(entry, cpuSeconds(Number(entry)));
    } catch {
      // The process ended between the listing and the read.
    }
  }
  return byPid.size ? byPid : null;
}

/**
 * PostgreSQL's CPU seconds between two readings: the processes alive at the second,
 * counted from the first (or from their start, if they started since). A backend
 * that exited in between is missed, so this can only undercount.
 */
export function postgresCpuSince(before, after) {
  if (!before || !after) return null;
  let total = 0;
  for (const [pid, seconds] of after) total += seconds - (before.get(pid) ?? 0);
  return total;
}

// Linux's USER_HZ is 100 on every mainstream architecture; getconf would only add a subprocess.
const CLOCK_TICKS = 100;

/**
 * Cleans up when the run is cut short: after `limitMs` (a hung server must not hold
 * the machine) or on Ctrl-C / SIGTERM. `log` says why. The timer does not keep the
 * process alive.
 */
export function cleanUpOnAbort(cleanUp, limitMs, log) {
  setTimeout(async () => {
    log(`gave up after ${limitMs / 1000} s`);
    await cleanUp();
    process.exit(1);
  }, limitMs).unref();
  for (const signal of ["SIGINT", "SIGTERM"]) process.on(signal, () => cleanUp().finally(() => process.exit(130)));
}
