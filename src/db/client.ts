// Opens keyway's database: an embedded PGlite by default, PostgreSQL when a URL is
// given. Both run the same schema and migrations through Prisma driver adapters.
import { access, mkdir, rm } from "node:fs/promises";
import path from "node:path";
import { PGlite } from "@electric-sql/pglite";
import { PrismaPg } from "@prisma/adapter-pg";
import type { SqlDriverAdapterFactory, SqlMigrationAwareDriverAdapterFactory } from "@prisma/driver-adapter-utils";
import { Pool } from "pg";
import { PrismaPGlite } from "pglite-prisma-adapter";
import { DEFAULT_DATABASE_POOL_SIZE } from "../config";
import { PrismaClient } from "../generated/prisma/client";
import { createPgEngineFactory, createPgliteEngineFactory } from "./adapters";
import { DataDirError, fileSystemReason } from "./data-dir";
import { lockPgliteDirectory } from "./pglite-lock";
import type { SqlRunner, Statement } from "./statements";

export type DatabaseKind = "pglite" | "postgres";

export interface DatabaseOptions {
  /** `postgres://` or `postgresql://`; unset opens the embedded PGlite in `${dataDir}/pglite`. */
  url?: string;
  dataDir: string;
  /** PostgreSQL only: most pooled connections (default 10). */
  poolMax?: number;
  /** PostgreSQL only: how long to wait for a connection before failing (default 2000 ms). */
  connectionTimeoutMs?: number;
  /**
   * PostgreSQL only: how long a query may wait for its answer before it fails and its
   * connection is dropped (default 5000 ms). Bounds a request whose connection dies
   * without a reset (a frozen server, a lost network path) where nothing else would.
   */
  queryTimeoutMs?: number;
  /**
   * PostgreSQL only: server-side `statement_timeout` for Prisma Client's connections
   * (default: the server's). Migrations run without it.
   */
  statementTimeoutMs?: number;
}

export interface Database {
  kind: DatabaseKind;
  prisma: PrismaClient;
  /** The hot path's prepared statements (statements.ts), on Prisma's own driver. */
  sql: SqlRunner;
  /** Whether the database answers `SELECT 1` within a second; never throws. */
  ping(): Promise<boolean>;
  /** Disconnects Prisma and closes PGlite or the pool; safe to call more than once. */
  close(): Promise<void>;
}

/** "cached plan must not change result type": a prepared statement outlived a change to its table. */
const CACHED_PLAN_CHANGED = "0A000";
const DEFAULT_CONNECTION_TIMEOUT_MS = 2000;
const DEFAULT_QUERY_TIMEOUT_MS = 5000;
const PING_TIMEOUT_MS = 1000;
// Creating a new embedded database (initdb) takes seconds; reopening, well under one.
const PGLITE_OPEN_TIMEOUT_MS = 60_000;

// The schema engine's adapter factory stays off the public interface.
const engineFactories = new WeakMap<Database, SqlMigrationAwareDriverAdapterFactory>();

// PGlite is a single-process PostgreSQL: two instances on one directory corrupt it.
// This refuses a second open within the process; pglite-lock.ts, across processes.
const openPgliteDirs = new Set<string>();

export async function openDatabase(options: DatabaseOptions): Promise<Database> {
  return options.url === undefined ? openPglite(options) : openPostgres(options.url, options);
}

/** The adapter factory the schema engine migrates `db` through. */
export function getEngineAdapterFactory(db: Database): SqlMigrationAwareDriverAdapterFactory {
  const factory = engineFactories.get(db);
  if (!factory) throw new Error("getEngineAdapterFactory: this Database was not created by openDatabase");
  return factory;
}

async function openPglite(options: DatabaseOptions): Promise<Database> {
  const dir = path.resolve(options.dataDir, "pglite");
  if (openPgliteDirs.has(dir)) {
    throw new Error(`openDatabase: the embedded database in ${dir} is already open in this process`);
  }
  openPgliteDirs.add(dir);
  let unlock: (() => Promise<void>) | null = null;
  // PG_VERSION is written by initdb; without it the directory is not a database yet.
  const fresh = await access(path.join(dir, "PG_VERSION")).then(
    () => false,
    () => true,
  );
  try {
    await mkdir(dir, { recursive: true });
    unlock = await lockPgliteDirectory(dir);
    const opening = PGlite.create({ dataDir: dir });
    // A directory left behind by a process that never closed it has been seen to
    // hang the next open; failing with a message beats a server that never starts.
    const client = await withTimeout(
      opening,
      PGLITE_OPEN_TIMEOUT_MS,
      `openDatabase: the embedded database in ${dir} did not open within ${PGLITE_OPEN_TIMEOUT_MS / 1000} s`,
    ).catch((error: unknown) => {
      opening.then((late) => late.close()).catch(() => {});
      throw error;
    });
    // PGlite runs one query at a time, and waits for a transaction Prisma holds to end.
    const sql: SqlRunner = {
      query: async <Row>(statement: { text: string }, values: readonly unknown[]) =>
        (await client.query<Row>(statement.text, [...values])).rows,
    };
    return createDatabase("pglite", new PrismaPGlite(client), createPgliteEngineFactory(client), sql, async () => {
      await client.close();
      await unlock?.();
      openPgliteDirs.delete(dir);
    });
  } catch (error) {
    openPgliteDirs.delete(dir);
    await unlock?.();
    if (error instanceof DataDirError) throw error;
    // A database that was never fully created (a full disk mid-initdb) would break the
    // next start once the disk has room again; an existing one is never touched.
    if (fresh) await rm(dir, { recursive: true, force: true }).catch(() => undefined);
    const reason = fileSystemReason(error);
    if (reason)
      throw new DataDirError(`the embedded database in ${dir} could not be ${fresh ? "created" : "opened"}: ${reason}`);
    throw error;
  }
}

async function openPostgres(url: string, options: DatabaseOptions): Promise<Database> {
  if (!/^postgres(ql)?:\/\//.test(url)) {
    // The URL itself stays out of the message: it usually carries a password.
    throw new Error("openDatabase: url must start with postgres:// or postgresql://");
  }
  const connection = {
    connectionString: url,
    connectionTimeoutMillis: options.connectionTimeoutMs ?? DEFAULT_CONNECTION_TIMEOUT_MS,
  };
  const pool = new Pool({
    ...connection,
    max: options.poolMax ?? DEFAULT_DATABASE_POOL_SIZE,
    statement_timeout: options.statementTimeoutMs,
    query_timeout: options.queryTimeoutMs ?? DEFAULT_QUERY_TIMEOUT_MS,
  });
  // An idle connection dropped by the server emits "error" on the pool, which would
  // crash the process without a listener; the next query reports the outage instead.
  pool.on("error", () => {});
  // Readiness asks whether PostgreSQL answers, not whether the pool has a free
  // connection: under load every pooled connection can be busy for longer than
  // the ping may take, which would pull a healthy instance out of rotation.
  const pingPool = new Pool({
    ...connection,
    max: 1,
    connectionTimeoutMillis: PING_TIMEOUT_MS,
    query_timeout: PING_TIMEOUT_MS,
  });
  pingPool.on("error", () => {});
  const ping = () => withTimeout(pingPool.query("SELECT 1"), PING_TIMEOUT_MS, "ping timed out");
  // A migration that changes a column a prepared statement returns makes PostgreSQL
  // refuse its cached plan (0A000) on every connection that prepared it; a new name
  // prepares it afresh on each, so a running instance recovers on its next query.
  let preparedGeneration = 0;
  const run = <Row>(statement: Statement, values: readonly unknown[]) =>
    pool.query<Row & object>({
      name: `${statement.name}_${preparedGeneration}`,
      text: statement.text,
      values: [...values],
    });
  const sql: SqlRunner = {
    async query<Row>(statement: Statement, values: readonly unknown[]) {
      try {
        return (await run<Row>(statement, values)).rows;
      } catch (error) {
        if ((error as { code?: unknown }).code !== CACHED_PLAN_CHANGED) throw error;
        preparedGeneration++;
        return (await run<Row>(statement, values)).rows;
      }
    },
  };
  // Migrations get connections of their own, free of the application's statement timeout.
  return createDatabase(
    "postgres",
    new PrismaPg(pool),
    createPgEngineFactory(connection),
    sql,
    () => Promise.all([pool.end(), pingPool.end()]).then(() => undefined),
    ping,
  );
}

function createDatabase(
  kind: DatabaseKind,
  clientAdapter: SqlDriverAdapterFactory,
  engineFactory: SqlMigrationAwareDriverAdapterFactory,
  sql: SqlRunner,
  closeDriver: () => Promise<void>,
  /** Defaults to `SELECT 1` through Prisma. */
  ping?: () => Promise<unknown>,
): Database {
  const prisma = new PrismaClient({ adapter: clientAdapter });
  let closing: Promise<void> | undefined;
  const query = ping ?? (() => withTimeout(prisma.$queryRaw`SELECT 1`, PING_TIMEOUT_MS, "ping timed out"));
  const db: Database = {
    kind,
    prisma,
    sql,
    ping: () =>
      closing
        ? Promise.resolve(false)
        : query().then(
            () => true,
            () => false,
          ),
    close() {
      closing ??= prisma.$disconnect().finally(closeDriver);
      return closing;
    },
  };
  engineFactories.set(db, engineFactory);
  return db;
}

function withTimeout<T>(work: Promise<T>, ms: number, message: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(message)), ms);
  });
  return Promise.race([work, timeout]).finally(() => clearTimeout(timer));
}
