// Passkeys end to end, on a real server and database, with a software
// authenticator (test/helpers/webauthn.ts) standing in for the browser:
// registration on a recent sign-in, usernameless login, step-up admitting a
// gateway @policy field, rename and removal, and every refusal a relying party
// owes — another rpId or origin, no user verification, a challenge reused,
// expired or of the other ceremony, a counter gone back, another user's passkey.
import { randomUUID } from "node:crypto";
import { mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { print } from "graphql";
import { generate } from "otplib";
import {
  ConfirmTotpEnrollmentDocument,
  FinishPasskeyLoginDocument,
  FinishPasskeyRegistrationDocument,
  PasskeysDocument,
  RemovePasskeyDocument,
  RenamePasskeyDocument,
  SecondFactorsDocument,
  StartPasskeyLoginDocument,
  StartPasskeyRegistrationDocument,
  StartTotpEnrollmentDocument,
  StepUpDocument,
} from "../generated/operations";
import { mailKindsTo, metric } from "../helpers/accounts";
import { decodeAccessToken, LOGIN, refresh, signUp, tokensOf, type Account, type Tokens } from "../helpers/auth";
import { callGraphQL, errorOf, parseSetCookie, type GraphQLResponse } from "../helpers/http";
import { startTestServer, TestClock, type TestServer } from "../helpers/server";
import { startVaultSubgraph, type VaultSubgraph } from "../helpers/vault-subgraph";
import { SoftAuthenticator } from "../helpers/webauthn";

const START_REGISTRATION = print(StartPasskeyRegistrationDocument);
const FINISH_REGISTRATION = print(FinishPasskeyRegistrationDocument);
const START_LOGIN = print(StartPasskeyLoginDocument);
const FINISH_LOGIN = print(FinishPasskeyLoginDocument);
const PASSKEYS = print(PasskeysDocument);
const SECOND_FACTORS = print(SecondFactorsDocument);
const RENAME = print(RenamePasskeyDocument);
const REMOVE = print(RemovePasskeyDocument);
const STEP_UP = print(StepUpDocument);

const APP_ORIGIN = "https://app.example.test";
const RP_ID = "app.example.test";

const clock = new TestClock(Math.floor(Date.now() / 30_000) * 30_000 + 10_000);
let keyway: TestServer;
let subgraph: VaultSubgraph;

beforeAll(async () => {
  subgraph = await startVaultSubgraph("fresh_factor");
  const authzFile = path.join(mkdtempSync(path.join(tmpdir(), "keyway-passkeys-")), "authz.json");
  writeFileSync(
    authzFile,
    JSON.stringify({ policies: { fresh_factor: { all: [{ amr: ["otp", "hwk"] }, { maxAuthAge: "5m" }] } } }),
  );
  keyway = await startTestServer({
    clock,
    env: {
      // WEBAUTHN_RP_ID and WEBAUTHN_ORIGINS are left to their defaults: APP_URL's host and origin.
      APP_URL: `${APP_ORIGIN}/account`,
      SUBGRAPHS: `vault=${subgraph.url}`,
      AUTHZ_FILE: authzFile,
      AUTH_IP_LIMIT: "100000/1m",
    },
  });
});
afterAll(async () => {
  await keyway?.stop();
  await subgraph?.stop().catch(() => undefined);
});

const call = (query: string, variables: Record<string, unknown> = {}, accessToken?: string) =>
  callGraphQL(keyway.url, query, { variables, accessToken });
const reasonOf = (response: GraphQLResponse) => errorOf(response)?.reason ?? errorOf(response)?.code;
const nowSeconds = () => Math.floor(clock.now() / 1000);
const authenticator = (behaviour: Partial<ConstructorParameters<typeof SoftAuthenticator>[0]> = {}) =>
  new SoftAuthenticator({ origin: APP_ORIGIN, ...behaviour });

async function registrationOptions(account: Tokens): Promise<string> {
  const started = await call(START_REGISTRATION, {}, account.accessToken);
  const options = started.body.data?.startPasskeyRegistration;
  if (typeof options !== "string") throw new Error(`startPasskeyRegistration failed: ${JSON.stringify(started.body)}`);
  return options;
}

const finishRegistration = (account: Tokens, response: unknown, name?: string) =>
  call(FINISH_REGISTRATION, { response: JSON.stringify(response), name }, account.accessToken);

interface Holder extends Account {
  device: SoftAuthenticator;
  passkeyId: string;
}

/** A signed-up account with one passkey on its own authenticator. */
async function withPasskey(): Promise<Holder> {
  const account = await signUp(keyway.url);
  const device = authenticator();
  const finished = await finishRegistration(account, device.register(await registrationOptions(account)), "laptop");
  const passkey = finished.body.data?.finishPasskeyRegistration as { id: string } | undefined;
  if (!passkey) throw new Error(`finishPasskeyRegistration failed: ${JSON.stringify(finished.body)}`);
  return { ...account, device, passkeyId: passkey.id };
}

/** Turns TOTP on for the account with a code of the test clock's step; its secret. */
async function enrolTotp(account: Tokens): Promise<string> {
  const started = await call(print(StartTotpEnrollmentDocument), {}, account.accessToken);
  const { secret } = started.body.data!.startTotpEnrollment as { secret: string };
  const code = await generate({ secret, epoch: nowSeconds() });
  expect((await call(print(ConfirmTotpEnrollmentDocument), { code }, account.accessToken)).body.errors).toBeUndefined();
  return secret;
}

async function loginOptions(): Promise<string> {
  const started = await call(START_LOGIN);
  expect(started.body.errors).toBeUndefined();
  return started.body.data!.startPasskeyLogin as string;
}

const noticesTo = (email: string) => mailKindsTo(keyway.database, email);

/** Which check refused the last passkey response, as the log line says it (no values the client sent). */
const lastRefusal = (): string => {
  const line = keyway.logs.filter((entry) => entry.includes('"passkey refused"')).at(-1);
  return line ? (JSON.parse(line) as { why: string }).why : "";
};

/** A passkey refusal, and the check that made it: a refusal for another reason would not count. */
async function expectRefused(answer: Promise<GraphQLResponse>, why: RegExp): Promise<void> {
  const before = keyway.logs.length;
  expect(reasonOf(await answer)).toBe("PASSKEY_INVALID");
  expect(keyway.logs.length).toBeGreaterThan(before);
  expect(lastRefusal()).toMatch(why);
}

const finishLogin = (response: unknown) => call(FINISH_LOGIN, { response: JSON.stringify(response) });

describe("registration", () => {
  it("asks for a discoverable, user-verified credential on the configured rpId, and stores what it needs", async () => {
    const account = await signUp(keyway.url);
    const options = JSON.parse(await registrationOptions(account));
    expect(options.rp).toEqual({ id: RP_ID, name: "keyway" });
    expect(options.user).toMatchObject({ name: account.email, id: Buffer.from(account.userId).toString("base64url") });
    expect(options.authenticatorSelection).toMatchObject({ residentKey: "required", userVerification: "required" });
    expect(options.challenge).toMatch(/^[A-Za-z0-9_-]{43}$/);
    expect(options.excludeCredentials).toEqual([]);
    expect(options.timeout).toBe(300_000);

    const device = authenticator({ backedUp: false });
    const finished = await finishRegistration(account, device.register(options), "  YubiKey 5  ");
    expect(finished.body.errors).toBeUndefined();
    const passkey = finished.body.data!.finishPasskeyRegistration as Record<string, unknown>;
    expect(passkey).toMatchObject({ name: "YubiKey 5", lastUsedAt: null, backedUp: false });
    expect(new Date(passkey.createdAt as string).getTime()).toBe(clock.now());

    const row = await keyway.database.prisma.passkey.findUniqueOrThrow({ where: { id: passkey.id as string } });
    expect(row).toMatchObject({
      userId: account.userId,
      credentialId: device.credentials[0].id.toString("base64url"),
      counter: 0n,
      deviceType: "singleDevice",
      backedUp: false,
      transports: ["internal", "hybrid"],
    });
    expect(row.publicKey.length).toBeGreaterThan(64);
    // Listed for the caller, and the next registration asks authenticators holding it not to make another.
    expect((await call(PASSKEYS, {}, account.accessToken)).body.data!.passkeys).toEqual([passkey]);
    const again = JSON.parse(await registrationOptions(account));
    expect(again.excludeCredentials).toEqual([
      { id: row.credentialId, type: "public-key", transports: ["internal", "hybrid"] },
    ]);
    const factors = await call(SECOND_FACTORS, {}, account.accessToken);
    expect(factors.body.data!.secondFactors).toEqual({ totp: false, recoveryCodesLeft: 0, passkeys: [passkey] });
  });

  it("uses each challenge once, for its own user and ceremony, within five minutes", async () => {
    const account = await signUp(keyway.url);
    const other = await signUp(keyway.url);
    const device = authenticator();

    const response = device.register(await registrationOptions(account));
    // Another user cannot finish with this user's challenge (and it is spent by trying).
    expect(reasonOf(await finishRegistration(other, response))).toBe("PASSKEY_INVALID");
    expect(reasonOf(await finishRegistration(account, response))).toBe("PASSKEY_INVALID");

    const fresh = device.register(await registrationOptions(account));
    expect((await finishRegistration(account, fresh)).body.errors).toBeUndefined();
    expect(reasonOf(await finishRegistration(account, fresh))).toBe("PASSKEY_INVALID"); // replayed

    const late = authenticator().register(await registrationOptions(account));
    clock.advance(5 * 60 + 1);
    expect(reasonOf(await finishRegistration(account, late))).toBe("PASSKEY_INVALID");

    // A login challenge does not register, nor a registration's challenge sign in.
    const fromLogin = authenticator().register({
      challenge: JSON.parse(await loginOptions()).challenge,
      rp: { id: RP_ID, name: "keyway" },
      user: { id: Buffer.from(account.userId).toString("base64url"), name: account.email },
    });
    expect(reasonOf(await finishRegistration(account, fromLogin))).toBe("PASSKEY_INVALID");
    const holder = await withPasskey();
    const registrationChallenge = JSON.parse(await registrationOptions(holder)).challenge as string;
    expect(reasonOf(await finishLogin(holder.device.authenticate({ challenge: registrationChallenge })))).toBe(
      "PASSKEY_INVALID",
    );
    expect(await keyway.database.prisma.passkey.count({ where: { userId: account.userId } })).toBe(1);
    expect(await keyway.database.prisma.passkey.count({ where: { userId: other.userId } })).toBe(0);
  });

  it("refuses another rpId, another origin, and a credential made without user verification", async () => {
    const account = await signUp(keyway.url);
    const cases: Array<[SoftAuthenticator, RegExp]> = [
      [authenticator({ rpId: "example.test" }), /RP ID hash/],
      [authenticator({ rpId: "evil.example" }), /RP ID hash/],
      [authenticator({ origin: "https://evil.example" }), /origin/],
      [authenticator({ origin: "http://app.example.test" }), /origin/],
      [authenticator({ userVerified: false }), /could not be verified/],
      [authenticator({ crossOrigin: true }), /cross-origin/],
    ];
    for (const [device, why] of cases)
      await expectRefused(finishRegistration(account, device.register(await registrationOptions(account))), why);
    expect(await keyway.database.prisma.passkey.count({ where: { userId: account.userId } })).toBe(0);
  });

  it("needs a sign-in within ten minutes, as TOTP enrolment does", async () => {
    const account = await signUp(keyway.url);
    clock.advance(10 * 60 + 1);
    expect(errorOf(await call(START_REGISTRATION, {}, account.accessToken))).toEqual({
      code: "FORBIDDEN",
      reason: "POLICY_FAILED",
    });
    expect(errorOf(await call(START_REGISTRATION))?.code).toBe("UNAUTHENTICATED");
  });

  it("refuses malformed responses and names with a code, storing nothing", async () => {
    const account = await signUp(keyway.url);
    await registrationOptions(account);
    for (const response of [
      "",
      "null",
      "[]",
      "{}",
      "not json",
      JSON.stringify({ id: "x", response: {} }),
      "x".repeat(70_000),
    ])
      expect(reasonOf(await call(FINISH_REGISTRATION, { response }, account.accessToken))).toBe("PASSKEY_INVALID");
    expect(await keyway.database.prisma.passkey.count({ where: { userId: account.userId } })).toBe(0);
    // A credential id longer than WebAuthn allows (1023 bytes): the library takes it, keyway does not.
    await expectRefused(
      finishRegistration(
        account,
        authenticator({ credentialIdBytes: 1024 }).register(await registrationOptions(account)),
      ),
      /too large/,
    );
    expect(await keyway.database.prisma.passkey.count({ where: { userId: account.userId } })).toBe(0);
    const longest = authenticator({ credentialIdBytes: 1023 }).register(await registrationOptions(account));
    expect((await finishRegistration(account, longest)).body.errors).toBeUndefined();
    await keyway.database.prisma.passkey.deleteMany({ where: { userId: account.userId } });
    const device = authenticator();
    // A transport the browser would never report is dropped, not stored.
    const odd = authenticator();
    const made = odd.register(await registrationOptions(account)) as { response: { transports: unknown[] } };
    made.response.transports = ["usb", "x".repeat(500), "usb"];
    const kept = await finishRegistration(account, made);
    expect(kept.body.errors).toBeUndefined();
    expect(await keyway.database.prisma.passkey.count({ where: { userId: account.userId } })).toBe(1);
    const oddRow = await keyway.database.prisma.passkey.findFirstOrThrow({ where: { userId: account.userId } });
    expect(oddRow.transports).toEqual(["usb"]);
    await keyway.database.prisma.passkey.deleteMany({ where: { userId: account.userId } });
    const tooLong = await finishRegistration(
      account,
      device.register(await registrationOptions(account)),
      "n".repeat(65),
    );
    expect(errorOf(tooLong)?.code).toBe("BAD_USER_INPUT");
    expect(await keyway.database.prisma.passkey.count({ where: { userId: account.userId } })).toBe(0);
  });
});

describe("login", () => {
  it('signs in with no email typed: a session with amr ["hwk"], the refresh cookie, and the use recorded', async () => {
    const holder = await withPasskey();
    const options = JSON.parse(await loginOptions());
    expect(options).toMatchObject({ rpId: RP_ID, userVerification: "required", timeout: 300_000 });
    expect(options.allowCredentials ?? []).toEqual([]);

    clock.advance(7);
    const response = await finishLogin(holder.device.authenticate(options));
    const tokens = tokensOf(response, "finishPasskeyLogin");
    expect(tokens.userId).toBe(holder.userId);
    expect(tokens.sessionId).not.toBe(holder.sessionId);
    expect(decodeAccessToken(tokens.accessToken)).toMatchObject({ amr: ["hwk"], auth_time: nowSeconds() });
    const cookie = response.setCookies.map(parseSetCookie).find((candidate) => candidate.name === "refresh_token");
    expect(cookie?.attributes.httponly).toBe(true);

    const row = await keyway.database.prisma.passkey.findUniqueOrThrow({ where: { id: holder.passkeyId } });
    expect(row.counter).toBe(1n);
    expect(row.lastUsedAt?.getTime()).toBe(clock.now());
    // The session refreshes like any other, keeping its amr.
    const refreshed = await refresh(keyway.url, { cookie: tokens.cookie });
    expect(decodeAccessToken(refreshed.accessToken).amr).toEqual(["hwk"]);
  });

  it("is not asked for TOTP on top: the passkey is a second factor itself", async () => {
    const holder = await withPasskey();
    await enrolTotp(holder);
    const password = await call(LOGIN, { input: { email: holder.email, password: holder.password } });
    expect(errorOf(password)?.reason).toBe("MFA_REQUIRED");
    const signedIn = tokensOf(
      await finishLogin(holder.device.authenticate(await loginOptions())),
      "finishPasskeyLogin",
    );
    expect(decodeAccessToken(signedIn.accessToken).amr).toEqual(["hwk"]);
  });

  it("refuses a replayed assertion, a counter gone back, another rpId or origin, and no user verification", async () => {
    const holder = await withPasskey();
    const assertion = holder.device.authenticate(await loginOptions());
    tokensOf(await finishLogin(assertion), "finishPasskeyLogin");
    await expectRefused(finishLogin(assertion), /challenge/);

    // A cloned authenticator: its counter is behind the one last seen, or the same.
    holder.device.credentials[0].counter -= 2;
    await expectRefused(finishLogin(holder.device.authenticate(await loginOptions())), /counter/);
    holder.device.credentials[0].counter = 0; // the next use reports 1, the counter stored
    await expectRefused(finishLogin(holder.device.authenticate(await loginOptions())), /counter/);
    holder.device.credentials[0].counter += 5;
    tokensOf(await finishLogin(holder.device.authenticate(await loginOptions())), "finishPasskeyLogin");

    const credential = holder.device.credentials[0];
    const cases: Array<[Partial<ConstructorParameters<typeof SoftAuthenticator>[0]>, RegExp]> = [
      [{ rpId: "evil.example" }, /RP ID hash/],
      [{ origin: "https://evil.example" }, /origin/],
      [{ userVerified: false }, /could not be verified/],
      [{ crossOrigin: true }, /cross-origin/],
    ];
    for (const [behaviour, why] of cases) {
      const device = authenticator({ counterStep: 100, ...behaviour });
      device.credentials.push({ ...credential, rpId: behaviour.rpId ?? credential.rpId });
      await expectRefused(finishLogin(device.authenticate(await loginOptions())), why);
    }
    // An expired challenge.
    const options = await loginOptions();
    clock.advance(5 * 60 + 1);
    await expectRefused(finishLogin(holder.device.authenticate(options)), /challenge/);
    // A right assertion still works after all that.
    tokensOf(await finishLogin(holder.device.authenticate(await loginOptions())), "finishPasskeyLogin");
  });

  it("keeps a counter of 0 at 0 (synced passkeys) and still accepts it", async () => {
    const account = await signUp(keyway.url);
    const device = authenticator({ counterStep: 0 });
    expect(
      (await finishRegistration(account, device.register(await registrationOptions(account)))).body.errors,
    ).toBeUndefined();
    for (let use = 0; use < 2; use++)
      tokensOf(await finishLogin(device.authenticate(await loginOptions())), "finishPasskeyLogin");
    // With no counter to go by, the spent challenge alone stops a replay: at login and at step-up.
    const assertion = device.authenticate(await loginOptions());
    tokensOf(await finishLogin(assertion), "finishPasskeyLogin");
    await expectRefused(finishLogin(assertion), /challenge/);
    const passkeyResponse = JSON.stringify(device.authenticate(await loginOptions()));
    expect((await call(STEP_UP, { passkeyResponse }, account.accessToken)).body.errors).toBeUndefined();
    await expectRefused(call(STEP_UP, { passkeyResponse }, account.accessToken), /challenge/);
    const row = await keyway.database.prisma.passkey.findFirstOrThrow({ where: { userId: account.userId } });
    expect(row.counter).toBe(0n);
  });

  it("records the backup state each use reports", async () => {
    const account = await signUp(keyway.url);
    const device = authenticator({ backedUp: false });
    const finished = await finishRegistration(account, device.register(await registrationOptions(account)));
    const { id } = finished.body.data!.finishPasskeyRegistration as { id: string };
    expect((await keyway.database.prisma.passkey.findUniqueOrThrow({ where: { id } })).backedUp).toBe(false);
    const synced = authenticator({ backedUp: true });
    synced.credentials.push(device.credentials[0]);
    tokensOf(await finishLogin(synced.authenticate(await loginOptions())), "finishPasskeyLogin");
    expect((await keyway.database.prisma.passkey.findUniqueOrThrow({ where: { id } })).backedUp).toBe(true);
  });

  it("refuses an unknown credential, a user handle of another user, a disabled user, and junk", async () => {
    const holder = await withPasskey();
    expect(reasonOf(await finishLogin(authenticator().register(JSON.parse(await registrationOptions(holder)))))).toBe(
      "PASSKEY_INVALID",
    );
    const stranger = authenticator();
    stranger.register(JSON.parse(await registrationOptions(holder))); // made, never sent: keyway does not know it
    expect(reasonOf(await finishLogin(stranger.authenticate(await loginOptions())))).toBe("PASSKEY_INVALID");

    const other = await signUp(keyway.url);
    const forged = holder.device.authenticate(await loginOptions()) as { response: { userHandle: string } };
    forged.response.userHandle = Buffer.from(other.userId).toString("base64url");
    expect(reasonOf(await finishLogin(forged))).toBe("PASSKEY_INVALID");

    for (const response of ["", "{}", "[1]", "nope", JSON.stringify({ id: 5 })])
      expect(reasonOf(await call(FINISH_LOGIN, { response }))).toBe("PASSKEY_INVALID");

    await keyway.services.auth.disableUser(holder.userId);
    const sessions = await keyway.database.prisma.session.count({ where: { userId: holder.userId } });
    expect(reasonOf(await finishLogin(holder.device.authenticate(await loginOptions())))).toBe("PASSKEY_INVALID");
    expect(await keyway.database.prisma.session.count({ where: { userId: holder.userId } })).toBe(sessions);
  });
});

describe("step-up", () => {
  const vault = (accessToken: string) => callGraphQL(keyway.url, "{ open vault }", { accessToken });

  it("gives the current session a fresh auth_time and hwk, admitting a field that asks for a recent factor", async () => {
    const holder = await withPasskey(); // signed up with a password: amr ["pwd"]
    expect(errorOf(await vault(holder.accessToken))).toEqual({ code: "FORBIDDEN", reason: "POLICY_FAILED" });
    clock.advance(60);
    const passkeyResponse = JSON.stringify(holder.device.authenticate(await loginOptions()));
    const stepped = await call(STEP_UP, { passkeyResponse }, holder.accessToken);
    expect(stepped.body.errors).toBeUndefined();
    expect(stepped.setCookies).toEqual([]);
    const accessToken = (stepped.body.data!.stepUp as { accessToken: string }).accessToken;
    expect(decodeAccessToken(accessToken)).toMatchObject({
      sid: holder.sessionId,
      amr: ["pwd", "hwk"],
      auth_time: nowSeconds(),
    });
    expect((await vault(accessToken)).body).toEqual({ data: { open: "open", vault: "gold" } });
    // Replayed, the same answer steps up nothing.
    expect(reasonOf(await call(STEP_UP, { passkeyResponse }, holder.accessToken))).toBe("PASSKEY_INVALID");
    clock.advance(5 * 60 + 1);
    expect(errorOf(await vault(accessToken))).toEqual({ code: "FORBIDDEN", reason: "POLICY_FAILED" });
  });

  it("replaces the second factors proven before, so auth_time dates every factor amr names", async () => {
    const holder = await withPasskey();
    const secret = await enrolTotp(holder);
    clock.advance(30);
    const withCode = await call(STEP_UP, { code: await generate({ secret, epoch: nowSeconds() }) }, holder.accessToken);
    expect(decodeAccessToken((withCode.body.data!.stepUp as { accessToken: string }).accessToken).amr).toEqual([
      "pwd",
      "otp",
      "mfa",
    ]);
    clock.advance(60);
    // The passkey now: the code of a minute ago is no longer what auth_time dates.
    const passkeyResponse = JSON.stringify(holder.device.authenticate(await loginOptions()));
    const withKey = await call(STEP_UP, { passkeyResponse }, holder.accessToken);
    expect(decodeAccessToken((withKey.body.data!.stepUp as { accessToken: string }).accessToken)).toMatchObject({
      amr: ["pwd", "hwk"],
      auth_time: nowSeconds(),
    });
    const session = await keyway.database.prisma.session.findUniqueOrThrow({ where: { id: holder.sessionId } });
    expect(session.amr).toEqual(["pwd", "hwk"]);
  });

  it("counts wrong passkey answers against the account's second-factor limit, as wrong codes are", async () => {
    const holder = await withPasskey();
    for (let attempt = 0; attempt < 10; attempt++)
      expect(reasonOf(await call(STEP_UP, { passkeyResponse: "{}" }, holder.accessToken))).toBe("PASSKEY_INVALID");
    const passkeyResponse = JSON.stringify(holder.device.authenticate(await loginOptions()));
    expect(errorOf(await call(STEP_UP, { passkeyResponse }, holder.accessToken))?.code).toBe("RATE_LIMITED");
  });

  it("refuses another user's passkey", async () => {
    const holder = await withPasskey();
    const other = await signUp(keyway.url);
    const passkeyResponse = JSON.stringify(holder.device.authenticate(await loginOptions()));
    expect(reasonOf(await call(STEP_UP, { passkeyResponse }, other.accessToken))).toBe("PASSKEY_INVALID");
    expect(decodeAccessToken(other.accessToken).amr).toEqual(["pwd"]);
    const session = await keyway.database.prisma.session.findUniqueOrThrow({ where: { id: other.sessionId } });
    expect(session.amr).toEqual(["pwd"]);
  });
});

describe("managing passkeys", () => {
  it("renames and removes only the caller's own; a removed passkey signs no one in", async () => {
    const holder = await withPasskey();
    const other = await signUp(keyway.url);
    const renamed = await call(RENAME, { id: holder.passkeyId, name: "phone" }, holder.accessToken);
    expect(renamed.body.data!.renamePasskey).toMatchObject({ id: holder.passkeyId, name: "phone" });
    expect(errorOf(await call(RENAME, { id: holder.passkeyId, name: "mine" }, other.accessToken))?.code).toBe(
      "BAD_USER_INPUT",
    );
    const cleared = await call(RENAME, { id: holder.passkeyId, name: " " }, holder.accessToken);
    expect(cleared.body.data!.renamePasskey).toMatchObject({ name: null });

    expect((await call(REMOVE, { id: holder.passkeyId }, other.accessToken)).body.data!.removePasskey).toBe(false);
    expect((await call(REMOVE, { id: "not-a-uuid" }, holder.accessToken)).body.data!.removePasskey).toBe(false);
    // Refused removals tell no one, and spend none of the address's notices (MAIL_ADDRESS_LIMIT, 5 an hour):
    // else they could use the budget up and a real change would go unheard of.
    for (let attempt = 0; attempt < 6; attempt++)
      expect((await call(REMOVE, { id: randomUUID() }, holder.accessToken)).body.data!.removePasskey).toBe(false);
    expect(await noticesTo(holder.email)).toEqual(["passkey-added"]);
    expect(await noticesTo(other.email)).toEqual([]);
    expect((await call(REMOVE, { id: holder.passkeyId }, holder.accessToken)).body.data!.removePasskey).toBe(true);
    expect(await noticesTo(holder.email)).toEqual(["passkey-added", "passkey-removed"]);
    expect((await call(PASSKEYS, {}, holder.accessToken)).body.data!.passkeys).toEqual([]);
    expect(reasonOf(await finishLogin(holder.device.authenticate(await loginOptions())))).toBe("PASSKEY_INVALID");
  });

  it("gives the notice back when a registration is refused, so refusals cannot silence the next one", async () => {
    const holder = await withPasskey();
    // A client that ignores excludeCredentials and answers with the id the account already has,
    // more times than MAIL_ADDRESS_LIMIT (5 an hour) allows notices.
    const duplicate = () => authenticator({ credentialId: holder.device.credentials[0].id });
    for (let attempt = 0; attempt < 6; attempt++)
      expect(reasonOf(await finishRegistration(holder, duplicate().register(await registrationOptions(holder))))).toBe(
        "PASSKEY_INVALID",
      );
    const second = await finishRegistration(holder, authenticator().register(await registrationOptions(holder)));
    expect(second.body.errors).toBeUndefined();
    expect(await noticesTo(holder.email)).toEqual(["passkey-added", "passkey-added"]);
  });

  it("allows twenty passkeys to an account, and refuses the next with CONFLICT", async () => {
    const holder = await withPasskey();
    await keyway.database.prisma.passkey.createMany({
      data: Array.from({ length: 19 }, (_, index) => ({
        userId: holder.userId,
        credentialId: `filler-${randomUUID()}-${index}`,
        publicKey: Buffer.alloc(77),
        deviceType: "multiDevice",
        backedUp: true,
      })),
    });
    expect(errorOf(await call(START_REGISTRATION, {}, holder.accessToken))?.code).toBe("CONFLICT");
    expect(await keyway.database.prisma.passkey.count({ where: { userId: holder.userId } })).toBe(20);
  });

  it("needs a recent sign-in to remove one", async () => {
    const holder = await withPasskey();
    clock.advance(10 * 60 + 1);
    expect(errorOf(await call(REMOVE, { id: holder.passkeyId }, holder.accessToken))).toEqual({
      code: "FORBIDDEN",
      reason: "POLICY_FAILED",
    });
    // A step-up with the passkey is a recent sign-in.
    const passkeyResponse = JSON.stringify(holder.device.authenticate(await loginOptions()));
    const stepped = await call(STEP_UP, { passkeyResponse }, holder.accessToken);
    const accessToken = (stepped.body.data!.stepUp as { accessToken: string }).accessToken;
    expect((await call(REMOVE, { id: holder.passkeyId }, accessToken)).body.data!.removePasskey).toBe(true);
  });

  it("are all removed by user:reset-mfa's service call, and counted and audited without secrets", async () => {
    const before = await metric(keyway.url, "keyway_mfa_total", 'event="passkey_login",outcome="success"');
    const registered = await metric(keyway.url, "keyway_mfa_total", 'event="passkey_register",outcome="success"');
    const holder = await withPasskey();
    const assertion = holder.device.authenticate(await loginOptions());
    tokensOf(await finishLogin(assertion), "finishPasskeyLogin");
    expect(await metric(keyway.url, "keyway_mfa_total", 'event="passkey_login",outcome="success"')).toBe(before + 1);
    expect(await metric(keyway.url, "keyway_mfa_total", 'event="passkey_register",outcome="success"')).toBe(
      registered + 1,
    );
    const audit = keyway.logs.filter((line) => line.includes(holder.userId));
    expect(audit.some((line) => line.includes('"event":"finishPasskeyRegistration.succeeded"'))).toBe(true);
    expect(audit.some((line) => line.includes('"event":"finishPasskeyLogin.succeeded"'))).toBe(true);
    const signature = (assertion.response as { signature: string }).signature;
    expect(keyway.logs.some((line) => line.includes(signature))).toBe(false);

    expect(await keyway.services.mfa.resetMfa(holder.userId)).toBe(true);
    expect(await keyway.database.prisma.passkey.count({ where: { userId: holder.userId } })).toBe(0);
    expect(await keyway.services.mfa.resetMfa(holder.userId)).toBe(false);
    // The owner heard of each change, once: a reset with nothing to remove tells nothing.
    expect(await noticesTo(holder.email)).toEqual(["passkey-added", "second-factors-reset"]);
  });
});
