// Run the compiled keyway (dist/main.js) as an operator would, with a clean environment.
import { spawn, type ChildProcess } from "node:child_process";
import path from "node:path";
import { logSink } from "./log-capture";

export const ROOT = path.resolve(__dirname, "../..");

export interface KeywayProcess {
  child: ChildProcess;
  url: string;
  /** Parsed JSON log lines so far. */
  logs: Array<Record<string, unknown>>;
  stderr: () => string;
  exited: Promise<number | null>;
}

/** Environment for a child: nothing from jest (its NODE_OPTIONS would break a plain node). */
export function childEnv(env: Record<string, string>): NodeJS.ProcessEnv {
  return { PATH: process.env.PATH, HOME: process.env.HOME, PORT: "0", LOG_LEVEL: "info", ...env };
}

export function runKeyway(env: Record<string, string>, args: string[] = []): { child: ChildProcess; output: () => { stdout: string; stderr: string }; exited: Promise<number | null> } {
  const child = spawn(process.execPath, [path.join(ROOT, "dist", "main.js"), ...args], { cwd: ROOT, env: childEnv(env) });
  let stdout = "";
  let stderr = "";
  const runLog = logSink("child");
  child.stdout.on("data", (chunk) => ((stdout += chunk), runLog(String(chunk))));
  child.stderr.on("data", (chunk) => ((stderr += chunk), runLog(String(chunk))));
  // "close", not "exit": only then has every line the child wrote to its pipes been read.
  const exited = new Promise<number | null>((resolve) => child.on("close", (code) => resolve(code)));
  return { child, output: () => ({ stdout, stderr }), exited };
}

/** Starts keyway and resolves once it logs that it listens. */
export async function startKeyway(env: Record<string, string>, timeoutMs = 60_000): Promise<KeywayProcess> {
  const run = runKeyway(env);
  const logs = () =>
    run
      .output()
      .stdout.split("\n")
      .filter(Boolean)
      .map((line) => JSON.parse(line) as Record<string, unknown>);
  const started = Date.now();
  for (;;) {
    const listening = logs().find((line) => line.msg === "keyway is listening");
    if (listening) {
      return { child: run.child, url: String(listening.url), get logs() { return logs(); }, stderr: () => run.output().stderr, exited: run.exited };
    }
    if (run.child.exitCode !== null || Date.now() - started > timeoutMs) {
      run.child.kill("SIGKILL");
      throw new Error(`keyway did not start: ${run.output().stderr}${run.output().stdout}`);
    }
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
}

export async function stopKeyway(instance: KeywayProcess): Promise<number | null> {
  instance.child.kill("SIGTERM");
  return instance.exited;
}
