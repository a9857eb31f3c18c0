// The composition root: configuration → database (migrated, or checked) → stores
// → signing keys → services, and on top of them the HTTP server. main.ts, the
// tests' server helper and the admin CLI all build keyway through here, so what
// runs in production is what the tests and the operator's commands run.
import type { GraphQLSchema } from "graphql";
import type { Config } from "./config";
import { openDatabase, type Database } from "./db/client";
import { migrateDatabase, readMigrationStatus } from "./db/migrate";
import { createPrismaStores, type Stores } from "./db/stores";
import { buildGraphQLSurface } from "./gateway/surface";
import type { KeywaySchemaDeps } from "./graphql/schema";
import type { Logger } from "./logger";
import { createServer, type KeywayServer } from "./server";
import { createServices, type Services } from "./services";
import { createRotatingKeySet, type RotatingKeySet } from "./token/key-rotation";
import { loadKeySet, type KeySet } from "./token/keys";

export interface KeywayOptions {
  config: Config;
  logger: Logger;
  /** Milliseconds since the epoch; tests pass a controllable clock. */
  now?: () => number;
  /**
   * "apply": run pending migrations first (a server, the tests); "require-current":
   * refuse with PendingMigrationsError (the CLI, which must not change a schema a
   * running keyway serves); "skip": a cluster worker, whose primary migrated.
   */
  migrations: "apply" | "require-current" | "skip";
  /** Default true. False (the CLI): mail is queued for the running instances to send, never sent from here. */
  sendMail?: boolean;
}

export interface Keyway {
  config: Config;
  logger: Logger;
  database: Database;
  stores: Stores;
  keys: RotatingKeySet;
  services: Services;
  now: () => number;
  /** Stops the services' background work, then closes the database. */
  close(): Promise<void>;
}

export class PendingMigrationsError extends Error {
  override name = "PendingMigrationsError";
  constructor(readonly pending: string[]) {
    super(
      `the database schema is not current (${pending.length} pending migration(s)): run \`keyway db:migrate\` first`,
    );
  }
}

export async function openKeyway(options: KeywayOptions): Promise<Keyway> {
  const { config, logger } = options;
  const now = options.now ?? Date.now;
  const database = await openDatabase({
    url: config.databaseUrl,
    dataDir: config.dataDir,
    poolMax: config.databasePoolSize,
  });
  try {
    if (options.migrations === "apply") await applyMigrations(database, logger);
    if (options.migrations === "require-current") {
      const { pending } = await readMigrationStatus(database);
      if (pending.length > 0) throw new PendingMigrationsError(pending);
    }
    const stores = createPrismaStores(database);
    const keys = createRotatingKeySet({
      root: loadRootKeys(config, logger),
      store: stores.signingKeys,
      accessTokenTtlSeconds: config.accessTokenTtl,
      now,
    });
    await keys.reload();
    const services = await createServices({ config, stores, keys, logger, now, sendMail: options.sendMail });
    return {
      config,
      logger,
      database,
      stores,
      keys,
      services,
      now,
      async close() {
        await services.close();
        await database.close();
      },
    };
  } catch (error) {
    await database.close().catch(() => undefined);
    throw error;
  }
}

/** The HTTP server over an opened keyway: its own schema, or the supergraph with SUBGRAPHS. */
export async function createKeywayServer(keyway: Keyway): Promise<KeywayServer> {
  const { config, logger, keys, services, database } = keyway;
  const surface = await buildGraphQLSurface({
    config,
    keys,
    logger,
    resolvers: schemaDepsOf(services),
    now: keyway.now,
  });
  const { gateway } = surface;
  return createServer({
    config,
    database,
    keys,
    logger,
    services,
    now: keyway.now,
    ...surface,
    ...(gateway ? { authorizationRequirements: (schema: GraphQLSchema) => gateway.requirementsOf(schema) } : {}),
  });
}

/** What keyway's resolvers are built with, from the services. */
export const schemaDepsOf = (services: Services): KeywaySchemaDeps => ({
  auth: services.auth,
  events: services.events,
  cookie: services.cookie,
  admin: services.admin,
  accounts: services.accounts,
  mfa: services.mfa,
  passkeys: services.passkeys,
});

export async function applyMigrations(database: Database, logger: Logger): Promise<void> {
  const { applied } = await migrateDatabase(database);
  logger.info(
    { applied, database: database.kind },
    applied.length > 0 ? "migrations applied" : "database schema is current",
  );
}

/** JWT_PRIVATE_KEY, or in development the key kept in DATA_DIR (generated on first use, with a warning). */
export function loadRootKeys(config: Config, logger: Logger): KeySet {
  return loadKeySet({
    privateKeyPem: config.jwt.privateKeyPem,
    dataDir: config.dataDir,
    onGenerated: (file) =>
      logger.warn({ file }, "generated a development signing key; set JWT_PRIVATE_KEY_FILE in production"),
  });
}
