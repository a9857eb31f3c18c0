// Password hashing: argon2id at OWASP's parameters (m = 19 MiB, t = 2, p = 1).
// @node-rs/argon2 computes on libuv's thread pool (4 threads unless
// UV_THREADPOOL_SIZE says otherwise), off the event loop — but on a machine with
// fewer cores than that, a login storm would keep every core hashing and starve
// the event loop that serves everyone else. So at most one hash per core but one
// runs at a time, and the rest wait their turn in order.
import { hash, verify, type Options } from "@node-rs/argon2";
import { randomBytes } from "node:crypto";
import { availableParallelism } from "node:os";

// `Algorithm` is a const enum in the package's typings; 2 is Argon2id.
const ARGON2ID = 2 as Options["algorithm"];
export const PASSWORD_HASH_OPTIONS: Options = { algorithm: ARGON2ID, memoryCost: 19456, timeCost: 2, parallelism: 1 };

/** Argon2 computations at once: one core stays free for the event loop, and at least one hashes. */
export const MAX_CONCURRENT_HASHES = Math.max(1, availableParallelism() - 1);

/** Runs at most `max` tasks at once; the others start in arrival order as slots free up. */
export function limitConcurrency(max: number): <T>(task: () => Promise<T>) => Promise<T> {
  let running = 0;
  const waiting: Array<() => void> = [];
  return async (task) => {
    if (running < max) running++;
    // A finishing task hands its slot straight to the next in line, so `running` stays as it is.
    else await new Promise<void>((start) => waiting.push(start));
    try {
      return await task();
    } finally {
      const next = waiting.shift();
      if (next) next();
      else running--;
    }
  };
}

const hashing = limitConcurrency(MAX_CONCURRENT_HASHES);

export const hashPassword = (password: string): Promise<string> => hashing(() => hash(password, PASSWORD_HASH_OPTIONS));

export interface PasswordVerifier {
  /** Verifies against the stored hash, or — for an unknown account — against a decoy with the same cost. */
  verifyPassword(password: string, storedHash: string | null): Promise<boolean>;
}

export async function createPasswordVerifier(): Promise<PasswordVerifier> {
  const decoy = await hashPassword(randomBytes(24).toString("base64url"));
  return {
    async verifyPassword(password, storedHash) {
      try {
        // Known and unknown accounts wait in the same line, so queueing tells them apart no more than hashing does.
        const matches = await hashing(() => verify(storedHash ?? decoy, password));
        return matches && storedHash !== null;
      } catch {
        return false;
      }
    },
  };
}
