// Password hashing: argon2id at OWASP's parameters (m = 19 MiB, t = 2, p = 1),
// computed on libuv's thread pool so the event loop keeps serving.
import { hash, verify, type Options } from "@node-rs/argon2";
import { randomBytes } from "node:crypto";

// `Algorithm` is a const enum in the package's typings; 2 is Argon2id.
const ARGON2ID = 2 as Options["algorithm"];
export const PASSWORD_HASH_OPTIONS: Options = { algorithm: ARGON2ID, memoryCost: 19456, timeCost: 2, parallelism: 1 };

export const hashPassword = (password: string): Promise<string> => hash(password, PASSWORD_HASH_OPTIONS);

export interface PasswordVerifier {
  /** Verifies against the stored hash, or — for an unknown account — against a decoy with the same cost. */
  verifyPassword(password: string, storedHash: string | null): Promise<boolean>;
}

export async function createPasswordVerifier(): Promise<PasswordVerifier> {
  const decoy = await hashPassword(randomBytes(24).toString("base64url"));
  return {
    async verifyPassword(password, storedHash) {
      try {
        const matches = await verify(storedHash ?? decoy, password);
        return matches && storedHash !== null;
      } catch {
        return false;
      }
    },
  };
}
