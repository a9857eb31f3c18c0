// Throttling of the unauthenticated entry points: every signUp/login/refreshToken
// call counts per client address, and failed logins count per account and address.
//
// Where the counts live: Redis when configured (shared by every instance); else,
// with WORKERS > 1, the cluster primary through Node's IPC (shared by the workers
// of this instance, so workers do not multiply the limits); else this process.
import type Redis from "ioredis";
import ipaddr from "ipaddr.js";
import {
  RateLimiterCluster,
  RateLimiterClusterMaster,
  RateLimiterMemory,
  RateLimiterRedis,
  RateLimiterRes,
  type RateLimiterAbstract,
} from "rate-limiter-flexible";
import type { RateLimit } from "../config-values";

export type LimitResult = { ok: true } | { ok: false; retryAfterSeconds: number };

export interface AuthRateLimits {
  /** Counts one auth call from this address (null: not known), refused or not. */
  consumeAuthCall(ip: string | null): Promise<LimitResult>;
  /**
   * Counts one password attempt for this account from this address before it is
   * verified; a success clears the count. Checking first and counting failures
   * afterwards would let concurrent guesses all pass the check before any is counted.
   */
  consumeLoginAttempt(email: string, ip: string | null): Promise<LimitResult>;
  clearLoginFailures(email: string, ip: string | null): Promise<void>;
  /** Gives back an attempt refused before its password was checked (hashing was saturated). */
  refundLoginAttempt(email: string, ip: string | null): Promise<void>;
  /**
   * Counts one second-factor code for this account, from any address: a separate count
   * from passwords', which a right password must never clear (else knowing the password
   * would buy endless guesses at the code). A right code clears it.
   */
  consumeSecondFactorAttempt(userId: string): Promise<LimitResult>;
  clearSecondFactorFailures(userId: string): Promise<void>;
  /** Counts one mail of `purpose` (reset, verification, …) to this address, from whichever client. */
  consumeMailToAddress(purpose: string, email: string): Promise<LimitResult>;
  /** Gives back one counted mail that was not sent after all (its change did not happen). */
  refundMailToAddress(purpose: string, email: string): Promise<void>;
}

export interface AuthRateLimitsOptions {
  loginAttempts: RateLimit;
  authCallsPerIp: RateLimit;
  /** Mails of one purpose to one address; unset: unlimited. */
  mailsPerAddress?: RateLimit;
  /** Counts shared by every instance; while Redis fails, counts fall back to `local`. */
  redis?: SharedLimitStore;
  /** "cluster" in a worker process: count in the cluster primary (see startClusterLimits). Default "memory". */
  local?: "memory" | "cluster";
}

export interface SharedLimitStore {
  client: Redis;
  keyPrefix: string;
  /** False while Redis is down or hung: count locally at once instead of waiting for a timeout. */
  available(): boolean;
}

/** How long a worker waits for the primary's count before counting on its own. */
const CLUSTER_TIMEOUT_MS = 1000;

/**
 * Runs in the cluster primary before the workers fork: it holds the counts every
 * worker's "cluster" limiter asks for.
 */
export function startClusterLimits(): void {
  new RateLimiterClusterMaster();
}

/**
 * The key an address is counted under. IPv6 hosts usually own a whole /64, so
 * counting each address apart would let one host rotate through billions of them.
 * Addresses keyway could not establish share one key: they come only from a
 * broken or hostile proxy chain, never from a client behind a working one.
 */
export function clientLimitKey(ip: string | null, ipv6PrefixLength: 48 | 64 = 64): string {
  if (ip === null || !ipaddr.isValid(ip)) return "unknown";
  const address = ipaddr.parse(ip);
  if (address instanceof ipaddr.IPv4) return address.toString();
  if (address.isIPv4MappedAddress()) return address.toIPv4Address().toString();
  const groups = ipv6PrefixLength / 16;
  return `${address.parts
    .slice(0, groups)
    .map((part) => part.toString(16))
    .join(":")}::/${ipv6PrefixLength}`;
}

/**
 * Whose turn it is in the hashing line (hashing-queue.ts). Coarser than the limits
 * for IPv6: a /48 is what a site (or a free tunnel) gets, so one attacker cannot
 * take many places in the line by spreading over its /64s.
 */
export const hashingLineKey = (ip: string | null): string => clientLimitKey(ip, 48);

export function createAuthRateLimits(options: AuthRateLimitsOptions): AuthRateLimits {
  const limiter = (name: string, limit: RateLimit): Counter => {
    const local = localLimiter(options.local ?? "memory", name, limit);
    return options.redis ? sharedLimiter(options.redis, local, name, limit) : local;
  };
  const perIp = limiter("auth-ip", options.authCallsPerIp);
  const loginFailures = limiter("login-fail", options.loginAttempts);
  const loginKey = (email: string, ip: string | null) => `${email}|${clientLimitKey(ip)}`;
  const mails = options.mailsPerAddress ? limiter("mail-to", options.mailsPerAddress) : null;
  const secondFactorFailures = limiter("mfa-fail", options.loginAttempts);
  return {
    consumeAuthCall: (ip) => consume(perIp, clientLimitKey(ip)),
    consumeLoginAttempt: (email, ip) => consume(loginFailures, loginKey(email, ip)),
    async clearLoginFailures(email, ip) {
      await loginFailures.delete(loginKey(email, ip));
    },
    async refundLoginAttempt(email, ip) {
      await loginFailures.reward(loginKey(email, ip), 1);
    },
    consumeSecondFactorAttempt: (userId) => consume(secondFactorFailures, userId),
    async clearSecondFactorFailures(userId) {
      await secondFactorFailures.delete(userId);
    },
    consumeMailToAddress: async (purpose, email) => (mails ? consume(mails, `${purpose}|${email}`) : { ok: true }),
    async refundMailToAddress(purpose, email) {
      await mails?.reward(`${purpose}|${email}`, 1);
    },
  };
}

/** The operations the auth flows need from a limiter. */
interface Counter {
  consume(key: string): Promise<RateLimiterRes>;
  reward(key: string, points: number): Promise<RateLimiterRes>;
  delete(key: string): Promise<boolean>;
}

function memoryLimiter(keyPrefix: string, limit: RateLimit): RateLimiterMemory {
  return new RateLimiterMemory({ keyPrefix, points: limit.points, duration: limit.durationSeconds });
}

function localLimiter(kind: "memory" | "cluster", name: string, limit: RateLimit): RateLimiterAbstract & Counter {
  const memory = memoryLimiter(name, limit);
  if (kind === "memory") return memory;
  const shared = new RateLimiterCluster({
    keyPrefix: name,
    points: limit.points,
    duration: limit.durationSeconds,
    timeoutMs: CLUSTER_TIMEOUT_MS,
  });
  // A primary that does not answer (busy, or gone while the worker drains) must not
  // fail a login: this worker counts on its own until it answers again.
  const guarded = Object.create(shared) as RateLimiterAbstract & Counter;
  guarded.consume = (key) =>
    shared.consume(key).catch((error: unknown) => {
      // rate-limiter-flexible refuses with a RateLimiterRes, not an Error; callers read it as such.
      if (error instanceof RateLimiterRes) throw error;
      return memory.consume(key);
    });
  guarded.reward = (key, points) => shared.reward(key, points).catch(() => memory.reward(key, points));
  guarded.delete = (key) => shared.delete(key).catch(() => memory.delete(key));
  return guarded;
}

/** Redis while it is available; otherwise, and for any command that fails, the local counts. */
function sharedLimiter(
  store: SharedLimitStore,
  local: RateLimiterAbstract & Counter,
  name: string,
  limit: RateLimit,
): Counter {
  const shared = new RateLimiterRedis({
    storeClient: store.client,
    keyPrefix: `${store.keyPrefix}${name}`,
    points: limit.points,
    duration: limit.durationSeconds,
    rejectIfRedisNotReady: true,
    insuranceLimiter: local,
  });
  const pick = () => (store.available() ? shared : local);
  return {
    consume: (key) => pick().consume(key),
    reward: (key, points) => pick().reward(key, points),
    delete: (key) => pick().delete(key),
  };
}

async function consume(limiter: Counter, key: string): Promise<LimitResult> {
  try {
    await limiter.consume(key);
    return { ok: true };
  } catch (rejection) {
    if (rejection instanceof RateLimiterRes) return refusal(rejection);
    throw rejection;
  }
}

const refusal = (state: RateLimiterRes): LimitResult => ({
  ok: false,
  retryAfterSeconds: Math.max(1, Math.ceil(state.msBeforeNext / 1000)),
});
