// The composition root of the auth core: storage, token, session and account
// services wired from configuration. main.ts and the tests both go through here.
import cluster from "node:cluster";
import { createAuthEvents, writeAuditLog, type AuthEvents } from "./auth/auth-events";
import { createContextBuilder } from "./auth/context";
import { AuthService } from "./auth/auth.service";
import { createPasswordHasher, type PasswordHasher } from "./auth/password";
import { createAuthRateLimits } from "./auth/rate-limits";
import type { Config } from "./config";
import type { Database } from "./db/client";
import type { Logger } from "./logger";
import { createRevocationList, type RevocationList } from "./session/revocation-list";
import { startHousekeeping } from "./session/housekeeping";
import { createPrismaSessionStore } from "./session/session.prisma-store";
import { SessionService } from "./session/session.service";
import type { AccessTokenOptions } from "./token/access-token";
import { RELOAD_INTERVAL_MS, type RotatingKeySet } from "./token/key-rotation";
import type { KeySet } from "./token/keys";
import { connectRedis, type SharedRedis } from "./shared-state/redis";
import { startRevocationSync, type RevocationSync } from "./shared-state/revocation-sync";

export interface ServicesDeps {
  config: Config;
  database: Database;
  keys: KeySet;
  logger: Logger;
  /** Milliseconds since the epoch; tests pass a controllable clock. */
  now?: () => number;
}

export interface Services {
  auth: AuthService;
  /** argon2 behind the bounded line; the CLI hashes through it too. */
  passwords: PasswordHasher;
  sessions: SessionService;
  revocations: RevocationList;
  /** Security events: the audit log and the auth metrics subscribe. */
  events: AuthEvents;
  accessTokens: AccessTokenOptions;
  buildContext: ReturnType<typeof createContextBuilder>;
  /** Null without REDIS_URL. */
  redis: SharedRedis | null;
  revocationSync: RevocationSync;
  /** Stops background work and disconnects Redis; the database is the caller's. */
  close(): Promise<void>;
}

/** Clock tolerance on top of the access-token lifetime for keeping revocations. */
const REVOCATION_SLACK_MS = 5_000;

export async function createServices(deps: ServicesDeps): Promise<Services> {
  const { config, logger } = deps;
  const now = deps.now ?? Date.now;
  const redis = config.redisUrl ? connectRedis({ url: config.redisUrl, logger }) : null;
  const store = createPrismaSessionStore(deps.database.prisma);
  const events = createAuthEvents();
  writeAuditLog(events, logger);
  let revocationSync: RevocationSync | null = null;
  const revocations = createRevocationList({ retentionMs: config.accessTokenTtl * 1000 + REVOCATION_SLACK_MS, now });
  const sessions = new SessionService({
    store,
    revocations,
    now,
    refreshTokenTtlSeconds: config.refreshTokenTtl,
    idleTtlSeconds: config.sessionIdleTtl,
    reuseGraceSeconds: config.refreshReuseGrace,
    onEnded: (sessionIds, reason) => {
      events.emit({ type: "sessions.ended", reason, sessionIds });
      revocationSync?.publish(sessionIds);
    },
  });
  const accessTokens: AccessTokenOptions = {
    keys: deps.keys,
    issuer: config.jwt.issuer,
    audience: config.jwt.audience,
    ttlSeconds: config.accessTokenTtl,
  };
  const passwords = await createPasswordHasher({ workers: config.workers });
  const auth = new AuthService({
    prisma: deps.database.prisma,
    sessions,
    passwords,
    limits: createAuthRateLimits({
      loginAttempts: config.loginAttemptsLimit,
      authCallsPerIp: config.authIpLimit,
      redis: redis ? { client: redis.client, keyPrefix: `${config.redisKeyPrefix}rl:`, available: () => redis.state() === "up" } : undefined,
      // Workers of one instance count together in the cluster primary (main.ts starts it).
      local: cluster.isWorker ? "cluster" : "memory",
    }),
    accessTokens,
    allowSignup: config.allowSignup,
    now,
  });
  const restored = await sessions.loadRecentlyEnded(config.accessTokenTtl);
  if (restored.count > 0) logger.info({ restored: restored.count }, "restored recently ended sessions into the revocation list");
  const sync = startRevocationSync({
    revocations,
    store,
    redis,
    channel: `${config.redisKeyPrefix}sessions-ended`,
    pollIntervalMs: config.revocationPollInterval * 1000,
    horizon: restored.horizon,
    endedSince: () => sessions.recentlyEndedSince(config.accessTokenTtl),
    logger,
  });
  revocationSync = sync;
  const housekeeping = startHousekeeping({
    prisma: deps.database.prisma,
    logger,
    retentionSeconds: config.sessionRetention,
    idleTtlSeconds: config.sessionIdleTtl,
    intervalSeconds: config.housekeepingInterval,
    now,
  });
  // Keys rotated by `keyway keys:rotate` (on any instance) are read well before they sign.
  const keyReload = isRotating(deps.keys) ? setInterval(() => void reloadKeys(deps.keys as RotatingKeySet, logger), RELOAD_INTERVAL_MS).unref() : null;
  const buildContext = createContextBuilder({ accessTokens, revocations, cookie: config.cookie, auth, events, now, onUnusableAddress: warnUnusableAddress(logger) });
  return {
    auth,
    passwords,
    events,
    sessions,
    revocations,
    accessTokens,
    buildContext,
    redis,
    revocationSync: sync,
    async close() {
      if (keyReload) clearInterval(keyReload);
      await housekeeping.stop();
      await sync.stop();
      await redis?.close();
    },
  };
}

/** At most one line a minute: the operator needs to learn that TRUST_PROXY and the proxy disagree, not every request. */
function warnUnusableAddress(logger: Logger): (raw: string) => void {
  let lastAt = 0;
  return (raw) => {
    if (Date.now() - lastAt < 60_000) return;
    lastAt = Date.now();
    logger.warn({ forwarded: raw.slice(0, 100) }, "no client address could be established from the connection and TRUST_PROXY: these callers share one limit; check what the proxy writes into X-Forwarded-For");
  };
}

const isRotating = (keys: KeySet): keys is RotatingKeySet => typeof (keys as Partial<RotatingKeySet>).reload === "function";

async function reloadKeys(keys: RotatingKeySet, logger: Logger): Promise<void> {
  try {
    await keys.reload();
  } catch (error) {
    // The keys loaded before keep serving; the next interval tries again.
    logger.warn({ err: error }, "could not reload signing keys");
  }
}
