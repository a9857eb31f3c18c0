// The auth core wired from configuration and stores: token, session and account
// services, shared state between instances, background work. The composition
// root (keyway.ts) builds it for the server, the tests and the CLI alike.
import cluster from "node:cluster";
import { AccountService } from "./account/account.service";
import { UserAdminService } from "./admin/user-admin.service";
import { createAuthEvents, writeAuditLog, type AuthEvents } from "./auth/auth-events";
import { AuthService, USER_CACHE_TTL_MS } from "./auth/auth.service";
import { createCallerIdentifier, type IdentifyCaller } from "./auth/caller";
import { createPasswordHasher, type PasswordHasher } from "./auth/password";
import { createAuthRateLimits } from "./auth/rate-limits";
import { createLiveGrants, type LiveGrants } from "./authz/live-grants";
import { RoleService } from "./authz/role.service";
import type { Config } from "./config";
import type { Stores } from "./db/stores";
import type { RefreshCookieOptions } from "./http/cookies";
import type { Logger } from "./logger";
import { createSecondFactorGate } from "./mfa/challenge";
import { MfaService } from "./mfa/mfa.service";
import { PasskeyService } from "./mfa/passkeys";
import { startMailWorker, type MailOutcome, type MailWorker } from "./mail/mail-worker";
import { createMailTransport } from "./mail/transport";
import { startHousekeeping } from "./session/housekeeping";
import { createRevocationList, type RevocationList } from "./session/revocation-list";
import { SessionService } from "./session/session.service";
import { connectRedis, type SharedRedis } from "./shared-state/redis";
import { startChangeFeed, type ChangeFeed } from "./shared-state/change-feed";
import type { AccessTokenOptions } from "./token/access-token";
import { RELOAD_INTERVAL_MS, type RotatingKeySet } from "./token/key-rotation";

export interface ServicesDeps {
  config: Config;
  stores: Stores;
  keys: RotatingKeySet;
  logger: Logger;
  /** Milliseconds since the epoch; tests pass a controllable clock. */
  now?: () => number;
  /** Default true: run the mail worker. False: what is queued waits for an instance that runs one. */
  sendMail?: boolean;
}

export interface Services {
  auth: AuthService;
  /** Granting and revoking roles (audited, counted). */
  roles: RoleService;
  /** What admins do to accounts (list, roles, disable), for the admin API and the CLI alike. */
  admin: UserAdminService;
  /** Password reset and change, email verification and change. */
  accounts: AccountService;
  /** TOTP second factor, recovery codes, login challenges and step-up. */
  mfa: MfaService;
  passkeys: PasskeyService;
  /** Sends the outbox; `onOutcome` listeners (metrics) hear of each attempt. */
  mail: MailWorker & {
    subscribe(listener: (kind: string, outcome: MailOutcome) => void): () => void;
    /** Mails in the outbox not yet sent or given up. */
    queued(): Promise<number>;
  };
  /** argon2 behind the bounded line; the CLI hashes through it too. */
  passwords: PasswordHasher;
  sessions: SessionService;
  revocations: RevocationList;
  /** Security events: the audit log and the auth metrics subscribe. */
  events: AuthEvents;
  accessTokens: AccessTokenOptions;
  /** Who presented which access token: verified, cached, checked against revocations. */
  identifyCaller: IdentifyCaller;
  /** The caller's current grants, for authorization decisions. */
  grants: LiveGrants;
  cookie: RefreshCookieOptions;
  /** Null without REDIS_URL. */
  redis: SharedRedis | null;
  /** Ended sessions and changed users, spread between instances. */
  changes: ChangeFeed<ChangeStreamName>;
  /** Stops background work and disconnects Redis; the database is the caller's. */
  close(): Promise<void>;
}

export type ChangeStreamName = "sessions" | "users";

/** Clock tolerance on top of the access-token lifetime for keeping revocations. */
const REVOCATION_SLACK_MS = 5_000;
/** Changed users are read by the database's clock if transaction ids go backwards: tolerance for its skew from ours. */
const USER_CHANGE_SLACK_MS = 60_000;

export async function createServices(deps: ServicesDeps): Promise<Services> {
  const { config, logger, stores, keys } = deps;
  const now = deps.now ?? Date.now;
  const redis = config.redisUrl ? connectRedis({ url: config.redisUrl, logger }) : null;
  const events = createAuthEvents();
  writeAuditLog(events, logger);
  let changes: ChangeFeed<ChangeStreamName> | null = null;
  const revocations = createRevocationList({ retentionMs: config.accessTokenTtl * 1000 + REVOCATION_SLACK_MS, now });
  const sessions = new SessionService({
    store: stores.sessions,
    revocations,
    now,
    refreshTokenTtlSeconds: config.refreshTokenTtl,
    idleTtlSeconds: config.sessionIdleTtl,
    reuseGraceSeconds: config.refreshReuseGrace,
    onEnded: (sessionIds, reason) => {
      events.emit({ type: "sessions.ended", reason, sessionIds });
      changes?.publish("sessions", sessionIds);
    },
  });
  const accessTokens: AccessTokenOptions = {
    keys,
    issuer: config.jwt.issuer,
    audience: config.jwt.audience,
    ttlSeconds: config.accessTokenTtl,
  };
  const passwords = await createPasswordHasher({ workers: config.workers });
  const limits = createAuthRateLimits({
    loginAttempts: config.loginAttemptsLimit,
    authCallsPerIp: config.authIpLimit,
    mailsPerAddress: config.mail.addressLimit,
    redis: redis
      ? { client: redis.client, keyPrefix: `${config.redisKeyPrefix}rl:`, available: () => redis.state() === "up" }
      : undefined,
    // Workers of one instance count together in the cluster primary (cluster.ts starts it).
    local: cluster.isWorker ? "cluster" : "memory",
  });
  const auth = new AuthService({
    users: stores.users,
    sessions,
    passwords,
    limits,
    accessTokens,
    authz: config.authz,
    allowSignup: config.allowSignup,
    now,
    secondFactor: createSecondFactorGate(stores.mfa, now),
    onUserChanged: (userId) => changes?.publish("users", [userId]),
  });
  const passkeys = new PasskeyService({
    store: stores.passkeys,
    users: stores.users,
    auth,
    sessions,
    limits,
    webauthn: config.webauthn,
    logger,
    // Called only once requests are served, when the worker below exists.
    mailQueued: () => mailWorker.wake(),
    now,
  });
  const mfa = new MfaService({
    store: stores.mfa,
    users: stores.users,
    auth,
    sessions,
    limits,
    passkeys,
    mailQueued: () => mailWorker.wake(),
    rootKey: keys.root.signing,
    issuer: config.jwt.issuer,
    now,
  });
  const roles = new RoleService({
    users: stores.users,
    events,
    now,
    onUserChanged: (userId) => auth.userChanged(userId),
  });
  const admin = new UserAdminService({ users: stores.users, auth, roles, events });
  const mailListeners = new Set<(kind: string, outcome: MailOutcome) => void>();
  const mailWorker: MailWorker =
    deps.sendMail === false
      ? QUEUE_ONLY
      : startMailWorker({
          store: stores.accounts,
          transport: createMailTransport({
            smtpUrl: config.mail.smtpUrl,
            from: config.mail.from,
            dataDir: config.dataDir,
            logger,
          }),
          appUrl: config.mail.appUrl,
          linkTtl: {
            PASSWORD_RESET: config.mail.passwordResetTtl,
            EMAIL_VERIFICATION: config.mail.emailVerificationTtl,
            EMAIL_CHANGE: config.mail.emailVerificationTtl,
          },
          pollIntervalMs: config.mail.pollInterval * 1000,
          admitResetRequest: async (email) => (await limits.consumeMailToAddress("reset", email)).ok,
          retryBaseMs: config.mail.retryBase * 1000,
          logger,
          now,
          onOutcome: (kind, outcome) => mailListeners.forEach((listener) => listener(kind, outcome)),
        });
  const accounts = new AccountService({
    store: stores.accounts,
    users: stores.users,
    auth,
    sessions,
    passwords,
    limits,
    mail: config.mail,
    mailQueued: () => mailWorker.wake(),
    now,
  });
  const restored = await sessions.loadRecentlyEnded(config.accessTokenTtl);
  if (restored.count > 0)
    logger.info({ restored: restored.count }, "restored recently ended sessions into the revocation list");
  // Nothing is cached yet: users changed before now need not be heard of.
  const usersHorizon = (await stores.users.listChangedSince(new Date(now()))).horizon;
  const feed = startChangeFeed<ChangeStreamName>({
    streams: {
      sessions: {
        what: "ended sessions",
        channel: `${config.redisKeyPrefix}sessions-ended`,
        listFrom: (horizon) => stores.sessions.listEndedFrom(horizon),
        listSince: (since) => stores.sessions.listEndedSince(since),
        horizon: restored.horizon,
        since: () => sessions.recentlyEndedSince(config.accessTokenTtl),
        apply: (sessionIds) => sessionIds.forEach((id) => revocations.add(id)),
      },
      users: {
        what: "changed users",
        channel: `${config.redisKeyPrefix}users-changed`,
        listFrom: (horizon) => stores.users.listChangedFrom(horizon),
        listSince: (since) => stores.users.listChangedSince(since),
        horizon: usersHorizon,
        // A row cached before the change is served for at most the cache's TTL anyway.
        since: () => new Date(now() - USER_CACHE_TTL_MS - USER_CHANGE_SLACK_MS),
        apply: (userIds) => userIds.forEach((id) => auth.forgetUser(id)),
      },
    },
    redis,
    pollIntervalMs: config.revocationPollInterval * 1000,
    logger,
  });
  changes = feed;
  const housekeeping = startHousekeeping({
    sessions: stores.sessions,
    challenges: [stores.mfa, stores.passkeys],
    logger,
    retentionSeconds: config.sessionRetention,
    idleTtlSeconds: config.sessionIdleTtl,
    intervalSeconds: config.housekeepingInterval,
    now,
  });
  // Keys rotated by `keyway keys:rotate` (on any instance) are read well before they sign.
  const keyReload = setInterval(() => void reloadKeys(keys, logger), RELOAD_INTERVAL_MS).unref();
  const identifyCaller = createCallerIdentifier({ accessTokens, revocations, events, now });
  return {
    auth,
    roles,
    admin,
    accounts,
    mfa,
    passkeys,
    mail: {
      ...mailWorker,
      queued: () => stores.accounts.countQueued(),
      subscribe(listener) {
        mailListeners.add(listener);
        return () => mailListeners.delete(listener);
      },
    },
    passwords,
    events,
    sessions,
    revocations,
    accessTokens,
    identifyCaller,
    grants: createLiveGrants({ activeUser: (userId) => auth.activeUser(userId), authz: config.authz }),
    cookie: config.cookie,
    redis,
    changes: feed,
    async close() {
      clearInterval(keyReload);
      await mailWorker.stop();
      await housekeeping.stop();
      await feed.stop();
      await redis?.close();
    },
  };
}

/** Where no mail worker runs (the CLI): queued mail waits in the outbox for an instance that sends it. */
const QUEUE_ONLY: MailWorker = { wake: () => undefined, drain: async () => undefined, stop: async () => undefined };

async function reloadKeys(keys: RotatingKeySet, logger: Logger): Promise<void> {
  try {
    await keys.reload();
  } catch (error) {
    // The keys loaded before keep serving; the next interval tries again.
    logger.warn({ err: error }, "could not reload signing keys");
  }
}
