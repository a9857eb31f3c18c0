// Run the compiled keyway (dist/main.js) as an operator would, with a clean environment.
import type { ChildProcess } from "node:child_process";
import { logSink } from "./log-capture";
import { KEYWAY_LISTENING, ROOT, startNode } from "./node-process.cjs";

export { ROOT };

export interface KeywayProcess {
  child: ChildProcess;
  url: string;
  /** Parsed JSON log lines so far. */
  logs: Array<Record<string, unknown>>;
  stderr: () => string;
  exited: Promise<number | null>;
  /** SIGTERM, then SIGKILL if it has not exited within 30 s, so no test leaves a keyway behind. */
  stop: () => Promise<number | null>;
}

/** Environment for a child: nothing from jest (its NODE_OPTIONS would break a plain node). */
export function childEnv(env: Record<string, string>): NodeJS.ProcessEnv {
  return { PATH: process.env.PATH, HOME: process.env.HOME, PORT: "0", LOG_LEVEL: "info", ...env };
}

export function runKeyway(
  env: Record<string, string>,
  args: string[] = [],
): { child: ChildProcess; output: () => { stdout: string; stderr: string }; exited: Promise<number | null> } {
  // Every line goes to the run's log directory too, for the secret scan at the end (test/global-teardown.ts).
  const run = startNode("dist/main.js", { args, env: childEnv(env), onOutput: logSink("child") });
  return { child: run.child, output: () => run.output(), exited: run.exited };
}

/** Starts keyway and resolves once it logs that it listens. */
export async function startKeyway(env: Record<string, string>, timeoutMs = 60_000): Promise<KeywayProcess> {
  const run = startNode("dist/main.js", { env: childEnv(env), onOutput: logSink("child") });
  const [, url] = await run.waitFor(KEYWAY_LISTENING, { timeoutMs, label: "keyway" });
  const logs = () =>
    run
      .output()
      .stdout.split("\n")
      .filter(Boolean)
      .map((line) => JSON.parse(line) as Record<string, unknown>);
  return {
    child: run.child,
    url,
    get logs() {
      return logs();
    },
    stderr: () => run.output().stderr,
    exited: run.exited,
    stop: () => run.stop({ forceAfterMs: 30_000 }),
  };
}

export async function stopKeyway(instance: KeywayProcess): Promise<number | null> {
  return instance.stop();
}
