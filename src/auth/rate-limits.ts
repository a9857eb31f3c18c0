// Throttling of the unauthenticated entry points: every signUp/login/refreshToken
// call counts per client IP, and failed logins count per account and IP.
import { RateLimiterMemory, RateLimiterRes, type RateLimiterAbstract } from "rate-limiter-flexible";
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
}

export function createAuthRateLimits(options: AuthRateLimitsOptions): AuthRateLimits {
  const perIp = memoryLimiter("auth-ip", options.authCallsPerIp);
  const loginFailures = memoryLimiter("login-fail", options.loginAttempts);
  const loginKey = (email: string, ip: string) => `${email}|${ip}`;
  return {
    consumeAuthCall: (ip) => consume(perIp, ip),
    consumeLoginAttempt: (email, ip) => consume(loginFailures, loginKey(email, ip)),
    async clearLoginFailures(email, ip) {
      await loginFailures.delete(loginKey(email, ip));
    },
  };
}

function memoryLimiter(keyPrefix: string, limit: RateLimit): RateLimiterAbstract {
  return new RateLimiterMemory({ keyPrefix, points: limit.points, duration: limit.durationSeconds });
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
