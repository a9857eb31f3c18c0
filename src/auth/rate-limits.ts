// Throttling of the unauthenticated entry points: every signUp/login/refreshToken
// call counts per client IP, and failed logins count per account and IP.
import type Redis from "ioredis";
import { RateLimiterMemory, RateLimiterRedis, RateLimiterRes, type RateLimiterAbstract } from "rate-limiter-flexible";
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
  redis?: { client: Redis; keyPrefix: string };
}

export function createAuthRateLimits(options: AuthRateLimitsOptions): AuthRateLimits {
  const limiter = (name: string, limit: RateLimit) => (options.redis ? redisLimiter(options.redis, name, limit) : memoryLimiter(name, limit));
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

function memoryLimiter(keyPrefix: string, limit: RateLimit): RateLimiterMemory {
  return new RateLimiterMemory({ keyPrefix, points: limit.points, duration: limit.durationSeconds });
}

function redisLimiter(redis: { client: Redis; keyPrefix: string }, name: string, limit: RateLimit): RateLimiterAbstract {
  return new RateLimiterRedis({
    storeClient: redis.client,
    keyPrefix: `${redis.keyPrefix}${name}`,
    points: limit.points,
    duration: limit.durationSeconds,
    // Not ready means "answer from memory now", not "wait for Redis".
    rejectIfRedisNotReady: true,
    insuranceLimiter: memoryLimiter(name, limit),
  });
}

async function consume(limiter: RateLimiterAbstract, key: string): Promise<LimitResult> {
  try {
    await limiter.consume(key);
    return { ok: true };
  } catch (rejection) {
    if (rejection instanceof RateLimiterRes) return refusal(rejection);
    throw rejection;
  }
}

const refusal = (state: RateLimiterRes): LimitResult => ({ ok: false, retryAfterSeconds: Math.max(1, Math.ceil(state.msBeforeNext / 1000)) });
