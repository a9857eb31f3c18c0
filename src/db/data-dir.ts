// DATA_DIR at start-up: prove it takes writes before anything is created in it,
// and turn file-system failures (Node's and PGlite's) into one line an operator
// can act on, instead of a stack trace or "[object Object]".
import { randomBytes } from "node:crypto";
import { mkdir, open, rm } from "node:fs/promises";
import path from "node:path";

export class DataDirError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "DataDirError";
  }
}

const REASONS: Record<string, string> = {
  EROFS: "read-only file system",
  ENOSPC: "no space left on device",
  EDQUOT: "disk quota exceeded",
  EACCES: "permission denied",
  EPERM: "operation not permitted",
  ENOTDIR: "a path component is not a directory",
  EIO: "input/output error",
};

// PGlite's in-memory file system (Emscripten) throws ErrnoError objects that carry
// only Emscripten's own errno numbers, not Error instances with codes.
const EMSCRIPTEN_ERRNO: Record<number, string> = {
  2: "EACCES",
  19: "EDQUOT",
  29: "EIO",
  51: "ENOSPC",
  54: "ENOTDIR",
  63: "EPERM",
  69: "EROFS",
};

/** The file-system reason behind `error` (its code and a plain phrase), if it is one. */
export function fileSystemReason(error: unknown): string | undefined {
  if (!error || typeof error !== "object") return undefined;
  const { code, errno, name } = error as { code?: unknown; errno?: unknown; name?: unknown };
  const resolved =
    typeof code === "string"
      ? code
      : name === "ErrnoError" && typeof errno === "number"
        ? EMSCRIPTEN_ERRNO[errno]
        : undefined;
  return resolved && REASONS[resolved] ? `${REASONS[resolved]} (${resolved})` : undefined;
}

/**
 * Creates `dir` if needed and writes, syncs and removes a probe file in it. Read-only
 * and full file systems fail here, naming the directory, before a half-created
 * database or key could be left behind.
 */
export async function ensureWritableDataDir(dir: string): Promise<void> {
  const probe = path.join(dir, `.keyway-write-probe-${randomBytes(6).toString("hex")}`);
  try {
    await mkdir(dir, { recursive: true });
    const handle = await open(probe, "wx");
    try {
      // Some bytes, synced: a full disk may accept an empty file and refuse the first block.
      await handle.write(randomBytes(64 * 1024));
      await handle.sync();
    } finally {
      await handle.close();
    }
  } catch (error) {
    // A recursive mkdir reports a file in the way as EEXIST, which reads as if all were well.
    const notDirectory = (error as { code?: unknown }).code === "EEXIST";
    const reason = notDirectory ? "not a directory (ENOTDIR)" : (fileSystemReason(error) ?? describe(error));
    throw new DataDirError(`DATA_DIR ${dir} is not writable: ${reason}`);
  } finally {
    await rm(probe, { force: true }).catch(() => undefined);
  }
}

function describe(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}
