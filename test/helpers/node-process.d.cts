// Types for node-process.cjs (plain CommonJS, shared with the .mjs benchmarks and soak).
import type { ChildProcess } from "node:child_process";

export const ROOT: string;
export const KEYWAY_LISTENING: RegExp;

export interface StartNodeOptions {
  args?: string[];
  nodeArgs?: string[];
  /** The child's whole environment: nothing of this process's is added. */
  env?: NodeJS.ProcessEnv;
  heapProbe?: boolean;
  stdout?: "memory" | "file";
  stderr?: "pipe" | "inherit";
  onOutput?: (text: string) => void;
}

export interface NodeProcess {
  child: ChildProcess;
  pid: number | undefined;
  /** The exit code once every pipe is drained; null after a signal. */
  exited: Promise<number | null>;
  output(): { stdout: string; stderr: string };
  waitFor(
    pattern: RegExp,
    options?: { timeoutMs?: number; everyMs?: number; label?: string },
  ): Promise<RegExpExecArray>;
  heapAfterGc(): Promise<{ heap: number; rss: number }>;
  stop(options?: { forceAfterMs?: number | null }): Promise<number | null>;
}

export function startNode(file: string, options?: StartNodeOptions): NodeProcess;
export function killAll(): void;
