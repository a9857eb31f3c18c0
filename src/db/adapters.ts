// Driver adapter factories for Prisma's schema engine. Prisma Client uses the stock
// adapters; the engine needs two things they do not give it.
//
// Scripts run whole. pglite-prisma-adapter 0.7.2 does not await `exec`, so a failing
// migration is recorded as applied and its error surfaces as an unhandled rejection;
// @prisma/adapter-pg splits scripts on ";" (breaking literals and function bodies) and
// runs the pieces separately, leaving half a migration behind on failure. Sending the
// whole script as one simple-protocol query is what the native engine does, and
// PostgreSQL runs such a query as one implicit transaction.
//
// A session of its own. The engine takes a session-level advisory lock and never
// unlocks it: the native engine lets its connection close. On a shared pool the lock
// would stay with an idle connection, and every later migration (another instance
// starting) would wait out the engine's 10 s lock timeout, then run unserialised.
import { PGlite } from "@electric-sql/pglite";
import { PrismaPg } from "@prisma/adapter-pg";
import {
  DriverAdapterError,
  type SqlDriverAdapter,
  type SqlMigrationAwareDriverAdapterFactory,
} from "@prisma/driver-adapter-utils";
import type { PoolConfig } from "pg";
import { PrismaPGlite } from "pglite-prisma-adapter";

type ScriptRunner = (script: string) => Promise<unknown>;

interface PostgresErrorFields {
  code: string;
  severity: string;
  message: string;
  detail?: string;
  column?: string;
  hint?: string;
}

function isPostgresError(error: unknown): error is PostgresErrorFields {
  const fields = error as Partial<PostgresErrorFields> | null;
  return typeof fields?.code === "string" && typeof fields.severity === "string";
}

// The engine reports DriverAdapterErrors with the server's code and message;
// anything else would reach it as an opaque "GenericJs" error.
async function runScript(run: ScriptRunner, script: string): Promise<void> {
  try {
    await run(script);
  } catch (error) {
    if (!isPostgresError(error)) throw error;
    throw new DriverAdapterError({
      kind: "postgres",
      code: error.code,
      severity: error.severity,
      message: error.message,
      detail: error.detail,
      column: error.column,
      hint: error.hint,
    });
  }
}

function runScriptsWhole(connection: SqlDriverAdapter, run: ScriptRunner): SqlDriverAdapter {
  connection.executeScript = (script) => runScript(run, script);
  return connection;
}

async function connectPglite(client: PGlite): Promise<SqlDriverAdapter> {
  return runScriptsWhole(await new PrismaPGlite(client).connect(), (script) => client.exec(script));
}

/** PGlite is one session already, so closing the engine's "connection" releases its locks. */
export function createPgliteEngineFactory(client: PGlite): SqlMigrationAwareDriverAdapterFactory {
  const { provider, adapterName } = new PrismaPGlite(client);
  return {
    provider,
    adapterName,
    async connect() {
      const connection = await connectPglite(client);
      connection.dispose = async () => {
        await client.query("SELECT pg_advisory_unlock_all()");
      };
      return connection;
    },
    // The stock shadow database is an in-memory PGlite that is never closed.
    async connectToShadowDb() {
      const shadow = await PGlite.create({ dataDir: "memory://" });
      const connection = await connectPglite(shadow);
      connection.dispose = () => shadow.close();
      return connection;
    },
  };
}

/** Each engine connection is a pool of exactly one connection, ended on dispose. */
export function createPgEngineFactory(config: PoolConfig): SqlMigrationAwareDriverAdapterFactory {
  const inner = new PrismaPg({ ...config, max: 1 });
  const connectWhole = async (connecting: ReturnType<PrismaPg["connect"]>) => {
    const connection = await connecting;
    const pool = connection.underlyingDriver();
    const dispose = connection.dispose.bind(connection);
    // Ending the connection frees the engine's lock only once the server process has
    // gone; unlocking first frees it before the next instance (or check) looks.
    connection.dispose = async () => {
      await pool.query("SELECT pg_advisory_unlock_all()").catch(() => undefined);
      await dispose();
    };
    return runScriptsWhole(connection, (script) => pool.query(script));
  };
  return {
    provider: inner.provider,
    adapterName: inner.adapterName,
    connect: () => connectWhole(inner.connect()),
    connectToShadowDb: () => connectWhole(inner.connectToShadowDb()),
  };
}
