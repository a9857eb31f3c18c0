// PasskeyService with a store that fails: a database error met inside the
// library's verification (the challenge claim) must reach the client as the
// outage it is (503 through the resolvers' translation), not as PASSKEY_INVALID,
// which would tell a user their passkey is wrong while the database is down.
import { randomUUID } from "node:crypto";
import type { AuthService } from "../../src/auth/auth.service";
import type { AuthRateLimits } from "../../src/auth/rate-limits";
import { KeywayError } from "../../src/errors";
import { createLogger } from "../../src/logger";
import type { PasskeyRecord, PasskeyStore } from "../../src/mfa/passkey.store";
import { PasskeyService } from "../../src/mfa/passkeys";
import type { SessionService } from "../../src/session/session.service";
import type { UserStore } from "../../src/users/user.store";
import { SoftAuthenticator } from "../helpers/webauthn";

const ORIGIN = "https://app.example.test";
const outage = Object.assign(new Error("Can't reach database server"), { code: "P1001" });

function serviceWith(store: Partial<PasskeyStore>) {
  const allowed = async () => ({ ok: true as const });
  return new PasskeyService({
    store: store as PasskeyStore,
    users: {} as UserStore,
    auth: {} as AuthService,
    sessions: {} as SessionService,
    limits: { consumeAuthCall: allowed } as unknown as AuthRateLimits,
    webauthn: { rpId: "app.example.test", rpName: "keyway", origins: [ORIGIN] },
    logger: createLogger({ level: "silent" }),
    mailQueued: () => undefined,
    now: () => Date.now(),
  });
}

it("passes a store failure during the challenge claim on as it is", async () => {
  const device = new SoftAuthenticator({ origin: ORIGIN });
  const userId = randomUUID();
  device.register({
    challenge: "c".repeat(43),
    rp: { id: "app.example.test", name: "keyway" },
    user: { id: Buffer.from(userId).toString("base64url"), name: "a@example.test" },
  });
  const passkey = { id: randomUUID(), userId, credentialId: device.credentials[0].id.toString("base64url") };
  // The key is never checked: the claim comes first, and fails.
  const store: Partial<PasskeyStore> = {
    findByCredentialId: async () => ({ ...passkey, publicKey: new Uint8Array(77), counter: 0 }) as PasskeyRecord,
    claimChallenge: async () => {
      throw outage;
    },
  };
  const assertion = JSON.stringify(device.authenticate({ challenge: "A".repeat(43) }));
  await expect(serviceWith(store).verifyStepUp(userId, assertion)).rejects.toBe(outage);

  // The same answer with the store up but the challenge unknown is the client's fault: PASSKEY_INVALID.
  const refused = serviceWith({ ...store, claimChallenge: async () => undefined }).verifyStepUp(userId, assertion);
  await expect(refused).rejects.toBeInstanceOf(KeywayError);
  await expect(refused).rejects.toMatchObject({ extensions: { code: "UNAUTHENTICATED", reason: "PASSKEY_INVALID" } });
});
