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
import { toSigningKey, type KeySet, type PublicJwk, type SigningKey } from "./keys";
import { deriveSealKey, seal, unseal } from "./seal";
import type { SigningKeyStore } from "./signing-key.store";

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
  /** The root key set (JWT_PRIVATE_KEY or the development key) the rotated keys are sealed under. */
  readonly root: KeySet;
}

export interface RotatingKeySetOptions {
  root: KeySet;
  store: SigningKeyStore;
  accessTokenTtlSeconds: number;
  now: () => number;
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
    ...rotated
      .filter((entry) => entry.retiredAt === null || now() < entry.retiredAt + window)
      .map((entry) => entry.key),
  ];

  return {
    root,
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
      const rows = await options.store.list();
      rootRetiredAt = rows.find((row) => row.kid === root.signing.kid)?.retiredAt?.getTime() ?? null;
      const next: Scheduled[] = [];
      for (const row of rows) {
        if (row.sealedPrivateKey === null) continue;
        const pem = unsealPrivateKey(row.sealedPrivateKey, root.signing);
        // Sealed under another root (JWT_PRIVATE_KEY was replaced): unusable here, so ignored.
        if (pem === null) continue;
        next.push({
          key: toSigningKey(pem),
          activatesAt: row.activatesAt.getTime(),
          retiredAt: row.retiredAt?.getTime() ?? null,
        });
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

  const { replaces, removed } = await options.store.rotate({
    rootKid,
    key: { kid: key.kid, sealedPrivateKey: sealPrivateKey(pem, options.root.signing), activatesAt },
    deleteRetiredBefore: new Date(at - window),
    canOpen: (sealed) => unsealPrivateKey(sealed, options.root.signing) !== null,
  });
  return {
    kid: key.kid,
    activatesAt,
    replaces,
    replacedVerifiesUntil: new Date(activatesAt.getTime() + window),
    removed,
  };
}

const SEAL_INFO = "keyway signing-key seal v1";

/** The root private key never leaves this process; only a key derived from it seals the others. */
const sealKey = (root: SigningKey): Buffer =>
  deriveSealKey(root.privateKey.export({ format: "der", type: "pkcs8" }), SEAL_INFO);

const sealPrivateKey = (pem: string, root: SigningKey): string => seal(pem, sealKey(root));

const unsealPrivateKey = (sealed: string, root: SigningKey): string | null => unseal(sealed, sealKey(root));
