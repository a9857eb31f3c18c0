// Throttling of the unauthenticated entry points: every signUp/login/refreshToken
// call counts per client IP, and failed logins count per account and IP.
import type Redis from "ioredis";
import { RateLimiterMemory, RateLimiterRedis, RateLimiterRes } from "rate-limiter-flexible";
import type { RateLimit } from "../config-values";

export type LimitResult = { ok: true } | { ok: false; retryAfterSeconds: number };

export interface AuthRateLimits {
  /** Counts one auth call from this IP, refused or not. */
  consumeAuthCall(ip: string): Promise<LimitResult>;
  /**
   * Counts one password attempt for this account from this IP before it is verified;
   * a success clears the count. Checking first and counting failures afterwards would
   * let concurrent guesses all pass the check before any of them is counted.
   */
  consumeLoginAttempt(email: string, ip: string): Promise<LimitResult>;
  clearLoginFailures(email: string, ip: string): Promise<void>;
}

export interface AuthRateLimitsOptions {
  loginAttempts: RateLimit;
  authCallsPerIp: RateLimit;
  /** Counts shared by every instance; while Redis fails, each instance counts on its own. */
  redis?: SharedLimitStore;
}

export interface SharedLimitStore {
  client: Redis;
  keyPrefix: string;
  /** False while Redis is down or hung: count in memory at once instead of waiting for a timeout. */
  available(): boolean;
}

export function createAuthRateLimits(options: AuthRateLimitsOptions): AuthRateLimits {
  const limiter = (name: string, limit: RateLimit) => (options.redis ? sharedLimiter(options.redis, name, limit) : memoryLimiter(name, limit));
  const perIp = limiter("auth-ip", options.authCallsPerIp);
  const loginFailures = limiter("login-fail", options.loginAttempts);
  const loginKey = (email: string, ip: string) => `${email}|${ip}`;
  return {
    consumeAuthCall: (ip) => consume(perIp, ip),
    consumeLoginAttempt: (email, ip) => consume(loginFailures, loginKey(email, ip)),
    async clearLoginFailures(email, ip) {
      await loginFailures.delete(loginKey(email, ip));
    },
  };
}

/** The two operations the auth flows need from a limiter. */
interface Counter {
  consume(key: string): Promise<RateLimiterRes>;
  delete(key: string): Promise<boolean>;
}

function memoryLimiter(keyPrefix: string, limit: RateLimit): RateLimiterMemory {
  return new RateLimiterMemory({ keyPrefix, points: limit.points, duration: limit.durationSeconds });
}

/** Redis while it is available; otherwise, and for any command that fails, the same in-memory counts. */
function sharedLimiter(store: SharedLimitStore, name: string, limit: RateLimit): Counter {
  const local = memoryLimiter(name, limit);
  const shared = new RateLimiterRedis({
    storeClient: store.client,
    keyPrefix: `${store.keyPrefix}${name}`,
    points: limit.points,
    duration: limit.durationSeconds,
    rejectIfRedisNotReady: true,
    insuranceLimiter: local,
  });
  const pick = () => (store.available() ? shared : local);
  return { consume: (key) => pick().consume(key), delete: (key) => pick().delete(key) };
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

const refusal = (state: RateLimiterRes): LimitResult => ({ ok: false, retryAfterSeconds: Math.max(1, Math.ceil(state.msBeforeNext / 1000)) });
