// A throwaway PostgreSQL cluster a test owns: its own directory, port and
// postmaster, so fault tests can stop and crash it without touching the machine's
// shared server on 5432. Built from Debian's binaries in /usr/lib/postgresql/*/bin.
import { execFile } from "node:child_process";
import { existsSync, readdirSync } from "node:fs";
import { chown, mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import path from "node:path";
import { promisify } from "node:util";
import { Client } from "pg";
import { freePort } from "./net";

const run = promisify(execFile);
const DEBIAN_ROOT = "/usr/lib/postgresql";
// PostgreSQL refuses to run as root; as root we hand the cluster to this user.
const SERVER_USER = "postgres";

export type StopMode = "fast" | "immediate";

export interface PgCluster {
  /** `postgres://postgres@127.0.0.1:<port>/postgres`, trust auth. */
  url: string;
  port: number;
  /** Whether the postmaster runs right now (as far as this helper started and stopped it). */
  readonly running: boolean;
  /** Starts the postmaster and waits until it accepts connections. */
  start(): Promise<void>;
  /** `fast` disconnects clients and shuts down cleanly; `immediate` is a crash (recovery on next start). */
  stop(mode?: StopMode): Promise<void>;
  restart(mode?: StopMode): Promise<void>;
  /** Stops the server (immediately) and removes every file; safe to call more than once. */
  destroy(): Promise<void>;
}

/** The newest Debian PostgreSQL with initdb and pg_ctl; throws naming what is missing. */
export function findPostgresBinaries(): string {
  const versions = existsSync(DEBIAN_ROOT)
    ? readdirSync(DEBIAN_ROOT)
        .filter((name) => /^\d+$/.test(name))
        .sort((a, b) => Number(b) - Number(a))
    : [];
  const bin = versions
    .map((version) => path.join(DEBIAN_ROOT, version, "bin"))
    .find((dir) => existsSync(path.join(dir, "initdb")) && existsSync(path.join(dir, "pg_ctl")));
  if (!bin) {
    throw new Error(
      `pg-cluster: no PostgreSQL server binaries (initdb, pg_ctl) in ${DEBIAN_ROOT}/<version>/bin; ` +
        "install Debian's postgresql package to run the fault suite",
    );
  }
  return bin;
}

export async function createPgCluster(): Promise<PgCluster> {
  const bin = findPostgresBinaries();
  const asRoot = process.getuid?.() === 0;
  const root = await mkdtemp(path.join(tmpdir(), "keyway-pg-"));
  const dataDir = path.join(root, "data");
  const logFile = path.join(root, "server.log");
  const port = await freePort();
  let running = false;
  let destroyed = false;

  const asServer = async (tool: string, args: string[]) => {
    const command = path.join(bin, tool);
    const [file, argv] = asRoot ? ["runuser", ["-u", SERVER_USER, "--", command, ...args]] : [command, args];
    try {
      await run(file, argv, { timeout: 60_000 });
    } catch (error) {
      const { stderr, stdout } = error as { stderr?: string; stdout?: string };
      throw new Error(`pg-cluster: ${tool} ${args[0] ?? ""} failed: ${(stderr || stdout || String(error)).trim()}`, {
        cause: error,
      });
    }
  };

  try {
    if (asRoot) {
      const { stdout } = await run("id", ["-u", SERVER_USER]);
      const { stdout: gid } = await run("id", ["-g", SERVER_USER]);
      await chown(root, Number(stdout.trim()), Number(gid.trim()));
    }
    await asServer("initdb", [
      "-D",
      dataDir,
      "-U",
      "postgres",
      "--auth=trust",
      "--no-sync",
      "-E",
      "UTF8",
      "--no-instructions",
    ]);
  } catch (error) {
    await rm(root, { recursive: true, force: true });
    throw error;
  }

  // Sockets in our own directory: the shared server's /var/run/postgresql stays untouched.
  const serverOptions = [
    `-p ${port}`,
    "-c listen_addresses=127.0.0.1",
    `-c unix_socket_directories=${root}`,
    "-c fsync=off",
    "-c synchronous_commit=off",
    "-c full_page_writes=off",
    "-c max_connections=100",
  ].join(" ");

  const cluster: PgCluster = {
    url: `postgres://postgres@127.0.0.1:${port}/postgres`,
    port,
    get running() {
      return running;
    },
    async start() {
      if (destroyed) throw new Error("pg-cluster: start after destroy");
      await asServer("pg_ctl", ["start", "-D", dataDir, "-l", logFile, "-o", serverOptions, "-w", "-t", "60"]);
      running = true;
      await waitForConnections(cluster.url);
    },
    async stop(mode = "fast") {
      await asServer("pg_ctl", ["stop", "-D", dataDir, "-m", mode, "-w", "-t", "60"]);
      running = false;
    },
    async restart(mode = "fast") {
      await cluster.stop(mode);
      await cluster.start();
    },
    async destroy() {
      if (destroyed) return;
      destroyed = true;
      if (running) await cluster.stop("immediate").catch(() => undefined);
      await rm(root, { recursive: true, force: true });
    },
  };
  return cluster;
}

/** Resolves once a client can connect and run a query (pg_ctl -w can return a hair early). */
export async function waitForConnections(url: string, timeoutMs = 30_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const client = new Client({ connectionString: url, connectionTimeoutMillis: 1000 });
    client.on("error", () => undefined);
    try {
      await client.connect();
      await client.query("SELECT 1");
      return;
    } catch (error) {
      if (Date.now() > deadline)
        throw new Error(`pg-cluster: ${url} accepted no connection within ${timeoutMs} ms: ${String(error)}`, {
          cause: error,
        });
      await new Promise((resolve) => setTimeout(resolve, 25));
    } finally {
      await client.end().catch(() => undefined);
    }
  }
}
