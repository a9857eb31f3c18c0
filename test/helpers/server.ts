// Start a real keyway on port 0 against a fresh real database (PGlite, or a new
// PostgreSQL database when TEST_DATABASE_URL is set), with captured logs.
import "reflect-metadata";
import { Writable } from "node:stream";
import { loadConfig, type Config } from "../../src/config";
import type { Database } from "../../src/db/client";
import type { Stores } from "../../src/db/stores";
import { createKeywayServer, openKeyway } from "../../src/keyway";
import { createLogger } from "../../src/logger";
import type { KeywayServer } from "../../src/server";
import type { Services } from "../../src/services";
import type { RotatingKeySet } from "../../src/token/key-rotation";
import { createTestDatabase, type TestDatabase } from "./database";
import { logSink, recordSecret } from "./log-capture";

export interface TestServer {
  url: string;
  config: Config;
  database: Database;
  stores: Stores;
  keys: RotatingKeySet;
  server: KeywayServer;
  services: Services;
  /** Every log line the server wrote, as raw JSON text. */
  logs: string[];
  stop(): Promise<void>;
}

export interface TestServerOptions {
  /** Environment variables on top of the test defaults (as an operator would set them). */
  env?: Record<string, string>;
  /** A controllable clock for expiry tests. */
  clock?: TestClock;
  /** Default 0 (any free port). */
  port?: number;
  /** A database shared with other instances (several instances on one PostgreSQL); the caller drops it. Default: a fresh one. */
  database?: TestDatabase;
}

export class TestClock {
  constructor(private current = Date.now()) {}
  now = (): number => this.current;
  advance(seconds: number): void {
    this.current += seconds * 1000;
  }
}

export async function startTestServer(options: TestServerOptions = {}): Promise<TestServer> {
  const shared = options.database !== undefined;
  const testDatabase = options.database ?? (await createTestDatabase());
  const config = loadConfig({
    NODE_ENV: "test",
    DATA_DIR: testDatabase.dataDir,
    LOG_LEVEL: "info",
    ...(testDatabase.url ? { DATABASE_URL: testDatabase.url } : {}),
    ...options.env,
  });
  const logs: string[] = [];
  const runLog = logSink("server");
  for (const line of (options.env?.JWT_PRIVATE_KEY ?? "").split(/\n|\\n/))
    if (!line.startsWith("-----")) recordSecret(line);
  const destination = new Writable({
    write(chunk, _encoding, done) {
      runLog(String(chunk));
      logs.push(...String(chunk).split("\n").filter(Boolean));
      done();
    },
  });
  const logger = createLogger({ level: config.logLevel, destination });
  // The composition root main.ts uses, on this test's database and clock.
  const keyway = await openKeyway({ config, logger, now: options.clock?.now, migrations: "apply" });
  let server: KeywayServer;
  try {
    server = await createKeywayServer(keyway);
  } catch (error) {
    // A start-up refusal (composition, say) is what some tests expect: leave nothing open behind it.
    await keyway.close();
    if (!shared) await testDatabase.drop();
    throw error;
  }
  const url = await server.listen(options.port ?? 0, "127.0.0.1");
  let stopped = false;
  return {
    url,
    config,
    database: keyway.database,
    stores: keyway.stores,
    keys: keyway.keys,
    server,
    services: keyway.services,
    logs,
    async stop() {
      if (stopped) return;
      stopped = true;
      await server.close();
      await keyway.close();
      if (!shared) await testDatabase.drop();
    },
  };
}
