// Child processes for the benchmarks: keyway from dist/, baseline servers, and
// CPU accounting from /proc. Servers always run in their own process so the
// load generator (this process) and the server compete for the cores as two
// processes would on any shared machine, and their CPU can be told apart.
import { spawn } from "node:child_process";
import { closeSync, mkdtempSync, openSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import net from "node:net";
import path from "node:path";
import { fileURLToPath } from "node:url";

export const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "..", "..");
const children = new Set();

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
 * not a pipe: reading every access-log line would cost the load generator (this
 * process) CPU that no production log shipper takes from the client.
 */
export function startProcess(file, { env = {}, ready, nodeArgs = [], timeoutMs = 90_000, heapProbe = false }) {
  const logDir = mkdtempSync(path.join(tmpdir(), "keyway-bench-log-"));
  const logFile = path.join(logDir, "stdout.log");
  const stdout = openSync(logFile, "w");
  // The soak's probe (test/helpers/heap-after-gc.cjs): on SIGUSR2, a full collection, then the heap in use on fd 3.
  const probeArgs = heapProbe ? ["--expose-gc", "--require", path.join(root, "test", "helpers", "heap-after-gc.cjs")] : [];
  const child = spawn(process.execPath, [...probeArgs, ...nodeArgs, path.join(root, file)], {
    cwd: root,
    env: { PATH: process.env.PATH, HOME: process.env.HOME, ...env },
    stdio: ["ignore", stdout, "pipe", ...(heapProbe ? ["pipe"] : [])],
  });
  /** MB of heap in use right after a full collection, and the resident set. */
  const heapAfterGc = () =>
    new Promise((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error("no heap answer within 5 s")), 5000);
      child.stdio[3].once("data", (chunk) => {
        clearTimeout(timer);
        const [heap, rss] = String(chunk).trim().split(" ").map(Number);
        resolve({ heap: heap / 2 ** 20, rss: rss / 2 ** 20 });
      });
      child.kill("SIGUSR2");
    });
  closeSync(stdout);
  children.add(child);
  const exited = new Promise((resolve) => child.on("exit", (code, signal) => (children.delete(child), resolve(code ?? signal))));
  let err = "";
  child.stderr.on("data", (chunk) => (err = (err + chunk).slice(-4000)));
  const output = () => readFileSync(logFile, "utf8");
  return new Promise((resolve, reject) => {
    const started = Date.now();
    let exitCode;
    exited.then((code) => (exitCode = code));
    const poll = setInterval(() => {
      const out = output();
      const match = ready.exec(out);
      if (match) {
        clearInterval(poll);
        resolve({
          pid: child.pid,
          url: match[1],
          heapAfterGc,
          stop: async () => {
            if (child.exitCode === null) child.kill("SIGTERM");
            const forced = setTimeout(() => child.kill("SIGKILL"), 15_000);
            await exited;
            clearTimeout(forced);
            rmSync(logDir, { recursive: true, force: true });
          },
        });
      } else if (exitCode !== undefined || Date.now() - started > timeoutMs) {
        clearInterval(poll);
        if (exitCode === undefined) child.kill("SIGKILL");
        rmSync(logDir, { recursive: true, force: true });
        reject(new Error(`${file} ${exitCode === undefined ? `did not start within ${timeoutMs} ms` : `exited (${exitCode}) before it was ready`}: ${out.slice(-2000)}${err}`));
      }
    }, 50);
  });
}

/** Kills whatever is still running (on error or Ctrl-C); only children this process started. */
export function killChildren() {
  for (const child of children) child.kill("SIGKILL");
}

/** CPU seconds (user + system, all threads) a process has used so far, from /proc/<pid>/stat. */
export function cpuSeconds(pid) {
  const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
  // Fields after the parenthesised command name; utime and stime are fields 14 and 15.
  const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
  return (Number(fields[11]) + Number(fields[12])) / CLOCK_TICKS;
}

// Linux's USER_HZ is 100 on every mainstream architecture; getconf would only add a subprocess.
const CLOCK_TICKS = 100;
