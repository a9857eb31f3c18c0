// Small file systems for fault tests: a tmpfs of a given size (a disk that fills
// up) and a read-only bind mount. Both need root (CAP_SYS_ADMIN). CI demands them
// (.ci/run sets REQUIRE_MOUNTS=1, so a machine that cannot mount fails there);
// elsewhere the suites that need them are skipped with the reason. Every mount
// made here is tracked so `unmountAll()` can undo them even after a failed test.
import { execFileSync } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";

const mounted: string[] = [];

function mount(args: string[]): void {
  execFileSync("mount", args, { stdio: ["ignore", "ignore", "pipe"] });
}

/** Whether the mount suites can run; throws when CI demands mounts this process cannot make. */
export function mountsAvailable(suite: string): boolean {
  const reason = mountReason();
  if (!reason) return true;
  if (process.env.REQUIRE_MOUNTS === "1") throw new Error(`REQUIRE_MOUNTS=1 but ${suite} cannot run: ${reason}`);
  console.warn(`Skipping ${suite}: ${reason} (CI sets REQUIRE_MOUNTS=1 to fail instead).`);
  return false;
}

/** Undefined when this process may mount; otherwise why not. */
function mountReason(): string | undefined {
  if (process.getuid?.() !== 0) return "mounting needs root";
  const probe = mkdtempSync(path.join(tmpdir(), "keyway-mount-probe-"));
  try {
    mount(["-t", "tmpfs", "-o", "size=64k", "tmpfs", probe]);
    execFileSync("umount", [probe]);
    return undefined;
  } catch (error) {
    return `mount -t tmpfs failed: ${String((error as { stderr?: Buffer }).stderr ?? error).trim()}`;
  } finally {
    rmSync(probe, { recursive: true, force: true });
  }
}

/** Mounts a tmpfs of `size` (e.g. "2m") on `dir`. */
export function mountTmpfs(dir: string, size: string): void {
  mount(["-t", "tmpfs", "-o", `size=${size},mode=0755`, "tmpfs", dir]);
  mounted.push(dir);
}

/** Grows (or shrinks) a tmpfs mounted by mountTmpfs. */
export function resizeTmpfs(dir: string, size: string): void {
  mount(["-o", `remount,size=${size}`, dir]);
}

/** Makes `dir` a read-only view of `source`. */
export function bindReadOnly(source: string, dir: string): void {
  mount(["--bind", source, dir]);
  mounted.push(dir);
  mount(["-o", "remount,bind,ro", dir]);
}

export function unmount(dir: string): void {
  const index = mounted.lastIndexOf(dir);
  if (index === -1) return;
  // Lazy: a process killed mid-write may still hold a file open in it.
  execFileSync("umount", ["-l", dir]);
  mounted.splice(index, 1);
}

export function unmountAll(): void {
  for (const dir of [...mounted].reverse()) {
    try {
      unmount(dir);
    } catch {
      // reported by the test that failed; keep undoing the rest
    }
  }
}
