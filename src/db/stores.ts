// Every table behind its store, over one Prisma client: what the services are given.
import type { PrismaClient } from "../generated/prisma/client";
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
}

export function createPrismaStores(prisma: PrismaClient): Stores {
  return {
    users: createPrismaUserStore(prisma),
    sessions: createPrismaSessionStore(prisma),
    signingKeys: createPrismaSigningKeyStore(prisma),
  };
}
