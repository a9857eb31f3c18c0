// Signing-key rotation shared by every instance through the database.
//
// The root key (JWT_PRIVATE_KEY, or the development key) is where a deployment
// starts. `keyway keys:rotate` adds a new key, sealed under a key derived from
// the root, that is published at once but signs only from `activatesAt`, after
// every instance has reloaded the set (RELOAD_INTERVAL_MS) — so no instance or
// subgraph ever meets a token whose kid it has not seen. The key it replaces
// stops signing at that moment and keeps verifying until every token it could
// have signed has expired; then it drops out of the JWKS.
import { generateKeyPairSync } from "node:crypto";
import type { PrismaClient } from "../generated/prisma/client";
import { toSigningKey, type KeySet, type PublicJwk, type SigningKey } from "./keys";
import { deriveSealKey, seal, unseal } from "./seal";

/** How often an instance reads the key set; activation waits several of these. */
export const RELOAD_INTERVAL_MS = 5_000;
export const ACTIVATION_DELAY_MS = 6 * RELOAD_INTERVAL_MS;
/** Beyond the access-token lifetime: identity tokens (30 s), clock skew, a late reload. */
const VERIFY_SLACK_MS = 60_000;
/** How long a key verifies after it stopped signing: every token it signed has expired by then. */
const verifyWindowMs = (accessTokenTtlSeconds: number): number => accessTokenTtlSeconds * 1000 + VERIFY_SLACK_MS;

export interface RotatingKeySet extends KeySet {
  /** Reads the rotated keys from the database. */
  reload(): Promise<void>;
}

export interface RotatingKeySetOptions {
  root: KeySet;
  prisma: PrismaClient;
  accessTokenTtlSeconds: number;
  now(): number;
}

interface Scheduled {
  key: SigningKey;
  activatesAt: number;
  /** Null while it is the newest key. */
  retiredAt: number | null;
}

export function createRotatingKeySet(options: RotatingKeySetOptions): RotatingKeySet {
  const { root, now } = options;
  const window = verifyWindowMs(options.accessTokenTtlSeconds);
  let rootRetiredAt: number | null = null;
  let rotated: Scheduled[] = [];

  const rootVerifies = () => rootRetiredAt === null || now() < rootRetiredAt + window;
  const verifying = (): SigningKey[] => [
    ...(rootVerifies() ? [root.signing] : []),
    ...rotated.filter((entry) => entry.retiredAt === null || now() < entry.retiredAt + window).map((entry) => entry.key),
  ];

  return {
    get signing() {
      const active = rotated.filter((entry) => entry.activatesAt <= now());
      return active.at(-1)?.key ?? root.signing;
    },
    find(kid) {
      // The root set also holds older development keys, which verify for as long as they exist.
      if (kid !== root.signing.kid && root.find(kid)) return root.find(kid);
      return verifying().find((key) => key.kid === kid);
    },
    jwks() {
      const keys = new Map<string, PublicJwk>();
      for (const jwk of root.jwks().keys) if (jwk.kid !== root.signing.kid) keys.set(jwk.kid, jwk);
      for (const key of verifying()) keys.set(key.kid, key.publicJwk);
      return { keys: [...keys.values()] };
    },
    async reload() {
      const rows = await options.prisma.signingKey.findMany({ orderBy: { activatesAt: "asc" } });
      rootRetiredAt = rows.find((row) => row.kid === root.signing.kid)?.retiredAt?.getTime() ?? null;
      const next: Scheduled[] = [];
      for (const row of rows) {
        if (row.sealedPrivateKey === null) continue;
        const pem = unsealPrivateKey(row.sealedPrivateKey, root.signing);
        // Sealed under another root (JWT_PRIVATE_KEY was replaced): unusable here, so ignored.
        if (pem === null) continue;
        next.push({ key: toSigningKey(pem), activatesAt: row.activatesAt.getTime(), retiredAt: row.retiredAt?.getTime() ?? null });
      }
      rotated = next;
    },
  };
}

export interface Rotation {
  kid: string;
  activatesAt: Date;
  /** The key that stops signing at `activatesAt`. */
  replaces: string;
  /** When `replaces` leaves the JWKS. */
  replacedVerifiesUntil: Date;
  /** Rotated keys past their verification window, deleted by this rotation. */
  removed: string[];
}

/** Adds a new signing key; run by `keyway keys:rotate`. */
export async function rotateSigningKey(options: RotatingKeySetOptions): Promise<Rotation> {
  const at = options.now();
  const activatesAt = new Date(at + ACTIVATION_DELAY_MS);
  const window = verifyWindowMs(options.accessTokenTtlSeconds);
  const { privateKey } = generateKeyPairSync("ec", { namedCurve: "P-256" });
  const pem = privateKey.export({ format: "pem", type: "pkcs8" }).toString();
  const key = toSigningKey(pem);
  const rootKid = options.root.signing.kid;

  const { replaces, removed } = await options.prisma.$transaction(async (tx) => {
    // Two rotations at once would each retire only what they saw, and the one that
    // committed first would leave a key that never retires: one rotation at a time.
    await tx.$executeRaw`SELECT pg_advisory_xact_lock(${KEY_ROTATION_LOCK}::bigint)`;
    // The newest rotated key this root can open signs now or is about to; without one, the root does.
    const newest = await tx.signingKey.findFirst({ where: { retiredAt: null, sealedPrivateKey: { not: null } }, orderBy: { activatesAt: "desc" } });
    const replaces = newest?.sealedPrivateKey && unsealPrivateKey(newest.sealedPrivateKey, options.root.signing) !== null ? newest.kid : rootKid;
    // Whatever signs now (or is already scheduled to) stops when the new key starts.
    await tx.signingKey.updateMany({ where: { retiredAt: null }, data: { retiredAt: activatesAt } });
    if (replaces === rootKid || !(await tx.signingKey.findUnique({ where: { kid: rootKid } }))) {
      await tx.signingKey.upsert({
        where: { kid: rootKid },
        create: { kid: rootKid, sealedPrivateKey: null, activatesAt: new Date(0), retiredAt: activatesAt },
        update: {},
      });
    }
    await tx.signingKey.create({ data: { kid: key.kid, sealedPrivateKey: sealPrivateKey(pem, options.root.signing), activatesAt } });
    const expired = await tx.signingKey.findMany({
      where: { sealedPrivateKey: { not: null }, retiredAt: { lt: new Date(at - window) } },
      select: { kid: true },
    });
    await tx.signingKey.deleteMany({ where: { kid: { in: expired.map((row) => row.kid) } } });
    return { replaces, removed: expired.map((row) => row.kid) };
  });
  return { kid: key.kid, activatesAt, replaces, replacedVerifiesUntil: new Date(activatesAt.getTime() + window), removed };
}

/** An arbitrary constant naming the rotation's advisory lock among the database's. */
const KEY_ROTATION_LOCK = 7_152_025_002;

const SEAL_INFO = "keyway signing-key seal v1";

/** The root private key never leaves this process; only a key derived from it seals the others. */
const sealKey = (root: SigningKey): Buffer => deriveSealKey(root.privateKey.export({ format: "der", type: "pkcs8" }), SEAL_INFO);

const sealPrivateKey = (pem: string, root: SigningKey): string => seal(pem, sealKey(root));

const unsealPrivateKey = (sealed: string, root: SigningKey): string | null => unseal(sealed, sealKey(root));
