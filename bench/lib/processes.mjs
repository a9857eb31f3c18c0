// Child processes for the benchmarks: keyway from dist/, baseline servers, and
// CPU accounting from /proc. Servers always run in their own process so the
// load generator (this process) and the server compete for the cores as two
// processes would on any shared machine, and their CPU can be told apart.
import { spawn } from "node:child_process";
import { readFileSync } from "node:fs";
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
 * Spawns `node [nodeArgs] file` and resolves once stdout matches `ready`; the
 * first capture group, if any, is returned as `url`. After that stdout is
 * drained unread: scanning per-request log lines would cost the load generator CPU.
 */
export function startProcess(file, { env = {}, ready, nodeArgs = [], timeoutMs = 90_000 }) {
  const child = spawn(process.execPath, [...nodeArgs, path.join(root, file)], {
    cwd: root,
    env: { PATH: process.env.PATH, HOME: process.env.HOME, ...env },
    stdio: ["ignore", "pipe", "pipe"],
  });
  children.add(child);
  const exited = new Promise((resolve) => child.on("exit", (code, signal) => (children.delete(child), resolve(code ?? signal))));
  let out = "";
  let err = "";
  child.stderr.on("data", (chunk) => (err = (err + chunk).slice(-4000)));
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`${file} did not start within ${timeoutMs} ms: ${out}${err}`)), timeoutMs);
    const onData = (chunk) => {
      out += chunk;
      const match = ready.exec(out);
      if (!match) return;
      clearTimeout(timer);
      child.stdout.off("data", onData);
      child.stdout.resume();
      resolve({
        pid: child.pid,
        url: match[1],
        stop: async () => {
          if (child.exitCode === null) child.kill("SIGTERM");
          const forced = setTimeout(() => child.kill("SIGKILL"), 15_000);
          await exited;
          clearTimeout(forced);
        },
      });
    };
    child.stdout.on("data", onData);
    exited.then((code) => (clearTimeout(timer), reject(new Error(`${file} exited (${code}) before it was ready: ${out.slice(-2000)}${err}`))));
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
