// Starts a Node program of this repository (keyway's dist/main.js, a baseline server)
// in a child process, with only the environment it is given. The one way the tests
// (test/helpers/process.ts), the benchmarks (bench/lib/processes.mjs) and the soak
// (test/load/soak.mjs) start servers; plain CommonJS, so that ts-jest's CommonJS and
// the .mjs scripts load the same file.
const { spawn } = require("node:child_process");
const { closeSync, mkdtempSync, openSync, readFileSync, rmSync } = require("node:fs");
const { tmpdir } = require("node:os");
const path = require("node:path");

const ROOT = path.resolve(__dirname, "..", "..");
const running = new Set();

/**
 * `stdout: "memory"` keeps everything the child writes, handing each chunk to
 * `onOutput` as well (the tests' log capture). `stdout: "file"` sends its stdout to a
 * file instead of a pipe: a load generator that read every access-log line would
 * spend CPU no production log shipper takes from the client.
 */
function startNode(file, options = {}) {
  const {
    args = [],
    nodeArgs = [],
    env = {},
    heapProbe = false,
    stdout = "memory",
    stderr = "pipe",
    onOutput = () => undefined,
  } = options;
  const logDir = stdout === "file" ? mkdtempSync(path.join(tmpdir(), "keyway-process-")) : null;
  const logFile = logDir && path.join(logDir, "stdout.log");
  const stdoutTarget = logFile ? openSync(logFile, "w") : "pipe";
  // heap-after-gc.cjs: on SIGUSR2, a full collection, then the heap in use on fd 3.
  const probeArgs = heapProbe ? ["--expose-gc", "--require", path.join(__dirname, "heap-after-gc.cjs")] : [];
  const child = spawn(process.execPath, [...probeArgs, ...nodeArgs, path.resolve(ROOT, file), ...args], {
    cwd: ROOT,
    env,
    stdio: [stdout === "file" ? "ignore" : "pipe", stdoutTarget, stderr, ...(heapProbe ? ["pipe"] : [])],
  });
  if (logFile) closeSync(stdoutTarget);
  running.add(child);

  let out = "";
  let err = "";
  if (!logFile) child.stdout.on("data", (chunk) => ((out += chunk), onOutput(String(chunk))));
  // A file-mode caller wants only the end of stderr, for an error message.
  if (child.stderr)
    child.stderr.on(
      "data",
      (chunk) => ((err = logFile ? (err + chunk).slice(-4000) : err + chunk), logFile || onOutput(String(chunk))),
    );
  // "close", not "exit": only then has every line the child wrote to its pipes been read.
  const exited = new Promise((resolve) => child.on("close", (code) => (running.delete(child), resolve(code))));
  const output = () => ({ stdout: logFile ? readFileSync(logFile, "utf8") : out, stderr: err });
  const removeLog = () => logDir && rmSync(logDir, { recursive: true, force: true });

  /** Resolves with `pattern`'s match on stdout; kills the child if it never comes. */
  function waitFor(pattern, { timeoutMs = 60_000, everyMs = 100, label = file } = {}) {
    const started = Date.now();
    return new Promise((resolve, reject) => {
      const poll = () => {
        const match = pattern.exec(output().stdout);
        if (match) return resolve(match);
        const ended = child.exitCode !== null || child.signalCode !== null;
        if (ended || Date.now() - started > timeoutMs) {
          if (!ended) child.kill("SIGKILL");
          const { stdout: text, stderr: errors } = output();
          removeLog();
          const why = ended
            ? `exited (${child.exitCode ?? child.signalCode}) before it was ready`
            : `did not start within ${timeoutMs} ms`;
          return reject(new Error(`${label} ${why}: ${errors}${text.slice(-2000)}`));
        }
        setTimeout(poll, everyMs);
      };
      poll();
    });
  }

  /** MB of heap in use right after a full collection, and the resident set (heapProbe only). */
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

  /** SIGTERM, then SIGKILL if still running after `forceAfterMs` (null: never); resolves with the exit code. */
  async function stop({ forceAfterMs = 15_000 } = {}) {
    if (child.exitCode === null && child.signalCode === null) child.kill("SIGTERM");
    const forced = forceAfterMs === null ? undefined : setTimeout(() => child.kill("SIGKILL"), forceAfterMs);
    const code = await exited;
    clearTimeout(forced);
    removeLog();
    return code;
  }

  return { child, pid: child.pid, exited, output, waitFor, heapAfterGc, stop };
}

/** Kills whatever this process started and is still running (on error or Ctrl-C). */
function killAll() {
  for (const child of running) child.kill("SIGKILL");
}

/** The line keyway logs once it accepts connections; the first group is its URL. */
const KEYWAY_LISTENING = /"url":"([^"]+)"[^\n]*"msg":"keyway is listening"/;

module.exports = { ROOT, startNode, killAll, KEYWAY_LISTENING };
