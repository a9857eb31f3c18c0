// One process per embedded database. PGlite keeps no lock of its own, and two
// processes writing one directory corrupt it; a lock file beside the directory
// naming the holder's pid lets a second process (another keyway, the CLI) stop
// with a clear message. A lock left by a killed process names a dead pid and is taken over.
import { open, readFile, unlink } from "node:fs/promises";
import { DataDirError } from "./data-dir";

export async function lockPgliteDirectory(dir: string): Promise<() => Promise<void>> {
  const lockFile = `${dir}.lock`;
  for (let attempt = 0; attempt < 2; attempt++) {
    try {
      const handle = await open(lockFile, "wx");
      await handle.writeFile(String(process.pid));
      await handle.close();
      return () => unlink(lockFile).catch(() => undefined);
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== "EEXIST") throw error;
      const holder = Number((await readFile(lockFile, "utf8").catch(() => "")).trim());
      if (holder > 0 && holder !== process.pid && isAlive(holder)) {
        throw new DataDirError(
          `the embedded database in ${dir} is in use by process ${holder}; stop it first (the embedded database admits one process; several need DATABASE_URL)`,
        );
      }
      await unlink(lockFile).catch(() => undefined);
    }
  }
  throw new DataDirError(`could not lock the embedded database in ${dir} (${lockFile})`);
}

function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === "EPERM";
  }
}
