// Every table behind its store, over one Prisma client: what the services are given.
import { createPrismaAccountStore } from "../account/account.prisma-store";
import type { AccountStore } from "../account/account.store";
import type { Database } from "./client";
import { createPrismaMfaStore } from "../mfa/mfa.prisma-store";
import type { MfaStore } from "../mfa/mfa.store";
import { createPrismaPasskeyStore } from "../mfa/passkey.prisma-store";
import type { PasskeyStore } from "../mfa/passkey.store";
import { createPrismaSessionStore } from "../session/session.prisma-store";
import type { SessionStore } from "../session/session.store";
import { createPrismaSigningKeyStore } from "../token/signing-key.prisma-store";
import type { SigningKeyStore } from "../token/signing-key.store";
import { createPrismaUserStore } from "../users/user.prisma-store";
import type { UserStore } from "../users/user.store";

export interface Stores {
  users: UserStore;
  sessions: SessionStore;
  signingKeys: SigningKeyStore;
  /** Links mailed to users, and the outbox. */
  accounts: AccountStore;
  /** TOTP factors, recovery codes and login challenges. */
  mfa: MfaStore;
  /** Passkeys and their challenges. */
  passkeys: PasskeyStore;
}

/** Prisma for everything, but the hot path's few statements on `sql` (statements.ts). */
export function createPrismaStores({ prisma, sql }: Pick<Database, "prisma" | "sql">): Stores {
  return {
    users: createPrismaUserStore(prisma, sql),
    sessions: createPrismaSessionStore(prisma, sql),
    signingKeys: createPrismaSigningKeyStore(prisma),
    accounts: createPrismaAccountStore(prisma),
    mfa: createPrismaMfaStore(prisma),
    passkeys: createPrismaPasskeyStore(prisma),
  };
}
