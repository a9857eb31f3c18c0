// Password hashing: argon2id at OWASP's parameters (m = 19 MiB, t = 2, p = 1).
// @node-rs/argon2 computes on libuv's thread pool, off the event loop — but on a
// machine with fewer cores than threads, a login storm would keep every core
// hashing and starve the event loop that serves everyone else. So hashes run at
// most one per core but one (shared out among WORKERS), and wait in the bounded,
// fair line of hashing-queue.ts.
import { hash, verify, type Options } from "@node-rs/argon2";
import { randomBytes } from "node:crypto";
import { availableParallelism } from "node:os";
import { createHashingQueue, type HashingQueue, type HashingQueueOptions } from "./hashing-queue";

export { HashingOverloaded } from "./hashing-queue";

// `Algorithm` is a const enum in the package's typings; 2 is Argon2id.
const ARGON2ID = 2 as Options["algorithm"];
export const PASSWORD_HASH_OPTIONS: Options = { algorithm: ARGON2ID, memoryCost: 19456, timeCost: 2, parallelism: 1 };

/** Hashes at once in one process: one core stays free for the event loop, the rest are shared by the workers, and at least one hashes. */
export function hashingConcurrency(cores: number, workers = 1): number {
  return Math.max(1, Math.floor((cores - 1) / workers));
}

/**
 * The line's bounds. A hash takes about 20-30 ms of one core here, so two seconds
 * of waiting is ample for everyone a server of this size can serve, and the
 * contract's 5 s answer holds with room to spare.
 */
export const HASHING_QUEUE_LIMITS = { maxQueuedPerClient: 8, maxWaitMs: 2000, queuedPerSlot: 64 } as const;

export interface PasswordHasher {
  /** A new hash for storage. `client` is whose turn it is in the line (see clientLimitKey). */
  hash(password: string, client: string): Promise<string>;
  /** Verifies against the stored hash, or — for an unknown account — against a decoy with the same cost. */
  verify(password: string, storedHash: string | null, client: string): Promise<boolean>;
}

export interface PasswordHasherOptions {
  /** Default: hashingConcurrency(availableParallelism(), workers). */
  concurrency?: number;
  workers?: number;
  queue?: Partial<HashingQueueOptions>;
}

/** Throws HashingOverloaded when the line is full or a call waited too long. */
export async function createPasswordHasher(options: PasswordHasherOptions = {}): Promise<PasswordHasher> {
  const concurrency = options.concurrency ?? hashingConcurrency(availableParallelism(), options.workers);
  const queue: HashingQueue = createHashingQueue({
    concurrency,
    maxQueued: concurrency * HASHING_QUEUE_LIMITS.queuedPerSlot,
    maxQueuedPerClient: HASHING_QUEUE_LIMITS.maxQueuedPerClient,
    maxWaitMs: HASHING_QUEUE_LIMITS.maxWaitMs,
    ...options.queue,
  });
  const decoy = await hash(randomBytes(24).toString("base64url"), PASSWORD_HASH_OPTIONS);
  return {
    hash: (password, client) => queue.run(client, () => hash(password, PASSWORD_HASH_OPTIONS)),
    async verify(password, storedHash, client) {
      // Known and unknown accounts wait in the same line, so queueing tells them apart no more than hashing does.
      const matches = await queue.run(client, () => verify(storedHash ?? decoy, password).catch(() => false));
      return matches && storedHash !== null;
    },
  };
}
