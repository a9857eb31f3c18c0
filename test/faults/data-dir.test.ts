// DATA_DIR read-only or on a full disk at start-up: keyway exits once, non-zero,
// with one line naming the directory, and leaves nothing behind that breaks the
// next start once the condition clears. We run as root, for whom chmod does not
// make a directory read-only, so the conditions are real mounts: a read-only bind
// mount and tiny tmpfs file systems. Without the right to mount, the file skips,
// except in CI (REQUIRE_MOUNTS=1), where it fails.
import { mkdtemp, readdir, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import path from "node:path";
import { runKeyway, startKeyway, stopKeyway } from "../helpers/process";
import { bindReadOnly, mountsAvailable, mountTmpfs, resizeTmpfs, unmount, unmountAll } from "../helpers/mounts";

const EXIT_WITHIN_MS = 60_000;
const suite = mountsAvailable("the DATA_DIR faults") ? describe : describe.skip;

jest.setTimeout(90_000);

/** Starts keyway on `dataDir` and waits for it to give up; what it printed and how it exited. */
async function failedStart(dataDir: string): Promise<{ code: number | null; stderr: string; stdout: string }> {
  const run = runKeyway({ DATA_DIR: dataDir });
  const timer = setTimeout(() => run.child.kill("SIGKILL"), EXIT_WITHIN_MS);
  const code = await run.exited.finally(() => clearTimeout(timer));
  return { code, ...run.output() };
}

/** The one line a failed start may print, and nothing that looks like a stack trace. */
function expectOneClearLine(
  output: { code: number | null; stderr: string; stdout: string },
  dir: string,
  reason: RegExp,
): void {
  expect(output.code).not.toBe(0);
  expect(output.code).not.toBeNull(); // null: it hung and was killed
  const lines = output.stderr.split("\n").filter(Boolean);
  expect(lines).toHaveLength(1);
  expect(lines[0]).toMatch(/^keyway: failed to start: /);
  expect(lines[0]).toContain(dir);
  expect(lines[0]).toMatch(reason);
  expect(output.stdout).not.toMatch(/\n\s+at /);
  expect(output.stdout).not.toMatch(/"level":50/); // no error-level log on top of the line
}

suite("DATA_DIR that cannot take writes at start-up", () => {
  let root: string;

  beforeAll(async () => {
    root = await mkdtemp(path.join(tmpdir(), "keyway-datadir-"));
  });

  afterEach(() => unmountAll());

  afterAll(async () => {
    unmountAll();
    if (root) await rm(root, { recursive: true, force: true });
  });

  test("a read-only DATA_DIR: one line naming it", async () => {
    const source = await mkdtemp(path.join(root, "source-"));
    const dataDir = await mkdtemp(path.join(root, "readonly-"));
    bindReadOnly(source, dataDir);

    expectOneClearLine(await failedStart(dataDir), dataDir, /read-only file system/);
    unmount(dataDir);
    // Nothing could be written, so a later start finds the directory as it was (the
    // full-disk case below shows such a start working).
    expect(await readdir(source)).toEqual([]);
  });

  test("a disk too full for the write probe: one line naming DATA_DIR, nothing left behind", async () => {
    const dataDir = await mkdtemp(path.join(root, "tiny-"));
    mountTmpfs(dataDir, "32k");

    expectOneClearLine(await failedStart(dataDir), dataDir, /no space left on device/);
    expect(await readdir(dataDir)).toEqual([]);
  });

  test("a disk that fills up while the embedded database is created: one line, no half-created database", async () => {
    const dataDir = await mkdtemp(path.join(root, "full-"));
    // Room for the probe, not for initdb (an empty PGlite database takes tens of MB).
    mountTmpfs(dataDir, "2m");

    expectOneClearLine(await failedStart(dataDir), path.join(dataDir, "pglite"), /no space left on device/);
    expect(await readdir(dataDir)).toEqual([]);

    // Once there is room, the same directory starts normally: nothing partial was left to trip over.
    resizeTmpfs(dataDir, "256m");
    const keyway = await startKeyway({ DATA_DIR: dataDir });
    expect(await stopKeyway(keyway)).toBe(0);
    expect((await readdir(dataDir)).sort()).toEqual(["keys", "pglite"]);
  });
});
