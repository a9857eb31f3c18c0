// TOTP second factor end to end, on a real server and database: enrolment, login
// with a challenge, codes computed by otplib from the secret at the test clock's
// time (as an authenticator app would), replay, the ±1 step window, throttling,
// challenge expiry and single use, recovery codes, disabling, a password reset, and
// step-up admitting a gateway @policy field that asks for a recent second factor.
import { generateKeyPairSync } from "node:crypto";
import { mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { print } from "graphql";
import { generate } from "otplib";
import { totpSealKey } from "../../src/mfa/mfa.service";
import { toSigningKey } from "../../src/token/keys";
import { unseal } from "../../src/token/seal";
import {
  CompleteLoginDocument,
  ConfirmTotpEnrollmentDocument,
  DisableTotpDocument,
  StartTotpEnrollmentDocument,
  StepUpDocument,
} from "../generated/operations";
import { mailKindsTo, metric, RESET_PASSWORD } from "../helpers/accounts";
import { decodeAccessToken, LOGIN, login, refresh, signUp, tokensOf, type Account, type Tokens } from "../helpers/auth";
import { callGraphQL, errorOf, type GraphQLResponse } from "../helpers/http";
import { startTestServer, TestClock, type TestServer } from "../helpers/server";
import { startVaultSubgraph, type VaultSubgraph } from "../helpers/vault-subgraph";

const START = print(StartTotpEnrollmentDocument);
const CONFIRM = print(ConfirmTotpEnrollmentDocument);
const DISABLE = print(DisableTotpDocument);
const COMPLETE = print(CompleteLoginDocument);
const STEP_UP = print(StepUpDocument);
const LOGIN_ATTEMPTS = 5;

// 10 s into a 30-second step, so a test that advances by whole steps stays clear of the edges.
const clock = new TestClock(Math.floor(Date.now() / 30_000) * 30_000 + 10_000);
let keyway: TestServer;
let subgraph: VaultSubgraph;

beforeAll(async () => {
  subgraph = await startVaultSubgraph("fresh_otp");
  const authzFile = path.join(mkdtempSync(path.join(tmpdir(), "keyway-mfa-")), "authz.json");
  writeFileSync(
    authzFile,
    JSON.stringify({ policies: { fresh_otp: { all: [{ amr: ["otp"] }, { maxAuthAge: "5m" }] } } }),
  );
  keyway = await startTestServer({
    clock,
    env: {
      SUBGRAPHS: `vault=${subgraph.url}`,
      AUTHZ_FILE: authzFile,
      LOGIN_ATTEMPTS_LIMIT: `${LOGIN_ATTEMPTS}/15m`,
      AUTH_IP_LIMIT: "100000/1m",
    },
  });
});
afterAll(async () => {
  await keyway?.stop();
  await subgraph?.stop().catch(() => undefined);
});

/** The code an authenticator app shows for `secret`, `steps` time steps from the test clock's now. */
const codeAt = (secret: string, steps = 0) => generate({ secret, epoch: Math.floor(clock.now() / 1000) + steps * 30 });

const call = (query: string, variables: Record<string, unknown>, accessToken?: string, cookie?: string) =>
  callGraphQL(keyway.url, query, { variables, accessToken, cookie });

interface Enrolled extends Account {
  secret: string;
  recoveryCodes: string[];
}

/** A signed-up account with TOTP enabled; the clock is moved on a step, so the code that confirmed it is spent. */
async function enrolled(): Promise<Enrolled> {
  const account = await signUp(keyway.url);
  const started = await call(START, {}, account.accessToken);
  const { secret } = started.body.data!.startTotpEnrollment as { secret: string };
  const confirmed = await call(CONFIRM, { code: await codeAt(secret) }, account.accessToken);
  const recoveryCodes = confirmed.body.data?.confirmTotpEnrollment as string[];
  if (!recoveryCodes) throw new Error(`confirmTotpEnrollment failed: ${JSON.stringify(confirmed.body)}`);
  clock.advance(30);
  return { ...account, secret, recoveryCodes };
}

/** Logs in with the right password; the answer must be MFA_REQUIRED. Its challenge. */
async function challengeFor(account: Account): Promise<string> {
  const response = await call(LOGIN, { input: { email: account.email, password: account.password } });
  expect(errorOf(response)).toMatchObject({ code: "UNAUTHENTICATED", reason: "MFA_REQUIRED" });
  const challenge = response.body.errors?.[0].extensions?.challenge;
  expect(typeof challenge).toBe("string");
  return challenge as string;
}

const noticesTo = (email: string) => mailKindsTo(keyway.database, email);

const complete = (challenge: string, code: string) => call(COMPLETE, { challenge, code });
const reasonOf = (response: GraphQLResponse) => errorOf(response)?.reason ?? errorOf(response)?.code;
const sessionsOf = (userId: string) => keyway.database.prisma.session.count({ where: { userId } });
const nowSeconds = () => Math.floor(clock.now() / 1000);

describe("enrolment", () => {
  it("starts pending, is replaced by a new start, and is enabled by a right code with ten recovery codes", async () => {
    const account = await signUp(keyway.url);
    const first = await call(START, {}, account.accessToken);
    const { secret: firstSecret, otpauthUrl } = first.body.data!.startTotpEnrollment as Record<string, string>;
    const url = new URL(otpauthUrl);
    expect(url.protocol).toBe("otpauth:");
    expect(url.searchParams.get("secret")).toBe(firstSecret);
    expect(url.searchParams.get("issuer")).toBe("keyway");
    expect(url.host).toBe("totp");
    expect(decodeURIComponent(url.pathname)).toBe(`/keyway:${account.email}`);

    const second = await call(START, {}, account.accessToken);
    const { secret } = second.body.data!.startTotpEnrollment as Record<string, string>;
    expect(secret).not.toBe(firstSecret);
    // The replaced secret's code no longer confirms; pending is not enabled, so login still signs in.
    expect(reasonOf(await call(CONFIRM, { code: await codeAt(firstSecret) }, account.accessToken))).toBe("MFA_INVALID");
    await login(keyway.url, account.email);

    const confirmed = await call(CONFIRM, { code: await codeAt(secret) }, account.accessToken);
    const codes = confirmed.body.data?.confirmTotpEnrollment as string[];
    expect(codes).toHaveLength(10);
    expect(new Set(codes).size).toBe(10);
    for (const code of codes) expect(code).toMatch(/^[A-Z0-9]{4}(-[A-Z0-9]{4}){3}$/);
    // Stored only as hashes.
    const stored = await keyway.database.prisma.recoveryCode.findMany({ where: { userId: account.userId } });
    expect(stored.map((row) => row.codeHash).sort()).toHaveLength(10);
    for (const row of stored) expect(codes.map((code) => code.replace(/-/g, ""))).not.toContain(row.codeHash);

    const again = await call(START, {}, account.accessToken);
    expect(errorOf(again)?.code).toBe("CONFLICT");
    expect(await challengeFor(account)).toMatch(/^[A-Za-z0-9_-]{43}$/);
  });

  it("stores the secret sealed: not the base32 secret, opened by the root key only", async () => {
    const user = await enrolled();
    const row = await keyway.database.prisma.totpFactor.findUniqueOrThrow({ where: { userId: user.userId } });
    expect(row.sealedSecret).not.toContain(user.secret);
    expect(unseal(row.sealedSecret, totpSealKey(keyway.keys.root.signing))).toBe(user.secret);
    const { privateKey } = generateKeyPairSync("ec", { namedCurve: "P-256" });
    const otherRoot = toSigningKey(privateKey.export({ format: "pem", type: "pkcs8" }).toString());
    expect(unseal(row.sealedSecret, totpSealKey(otherRoot))).toBeNull();
  });

  it("needs a session signed in within 10 minutes: an older one (a stolen one, say) cannot put an authenticator on", async () => {
    const account = await signUp(keyway.url);
    const started = await call(START, {}, account.accessToken);
    const { secret } = started.body.data!.startTotpEnrollment as { secret: string };
    clock.advance(10 * 60 + 1); // the access token (15 min) is still good; its sign-in is not recent
    for (const refused of [
      await call(START, {}, account.accessToken),
      await call(CONFIRM, { code: await codeAt(secret) }, account.accessToken),
    ])
      expect(errorOf(refused)).toEqual({ code: "FORBIDDEN", reason: "POLICY_FAILED" });
    // Nothing was enabled: the password alone still signs in.
    const again = await call(LOGIN, { input: { email: account.email, password: account.password } });
    expect(errorOf(again)).toBeUndefined();
  });

  it("a wrong confirmation code is MFA_INVALID and leaves TOTP off", async () => {
    const account = await signUp(keyway.url);
    const { secret } = (await call(START, {}, account.accessToken)).body.data!.startTotpEnrollment as {
      secret: string;
    };
    expect(reasonOf(await call(CONFIRM, { code: await codeAt(secret, 2) }, account.accessToken))).toBe("MFA_INVALID");
    await login(keyway.url, account.email);
  });
});

describe("login with a second factor", () => {
  it("answers MFA_REQUIRED with a challenge and no session; completeLogin signs in with pwd, otp and mfa", async () => {
    const user = await enrolled();
    const before = await sessionsOf(user.userId);
    const response = await call(LOGIN, { input: { email: user.email, password: user.password } });
    expect(response.body.data).toBeNull();
    expect(response.setCookies).toEqual([]);
    expect(response.headers.get("x-refresh-token")).toBeNull();
    const challenge = response.body.errors?.[0].extensions?.challenge as string;
    expect(challenge).toMatch(/^[A-Za-z0-9_-]{43}$/);
    expect(await sessionsOf(user.userId)).toBe(before);
    // Only a hash of the challenge is stored.
    const stored = await keyway.database.prisma.mfaChallenge.findMany({ where: { userId: user.userId } });
    expect(stored.map((row) => row.tokenHash)).not.toContain(challenge);

    const signedIn = tokensOf(await complete(challenge, await codeAt(user.secret)), "completeLogin");
    expect(signedIn.userId).toBe(user.userId);
    const claims = decodeAccessToken(signedIn.accessToken);
    expect(claims.amr).toEqual(["pwd", "otp", "mfa"]);
    expect(claims.auth_time).toBe(nowSeconds());
    expect(await sessionsOf(user.userId)).toBe(before + 1);
    // The refresh token works like any other.
    await refresh(keyway.url, { cookie: signedIn.cookie });

    // Single use: the challenge is spent, even with the next step's code.
    clock.advance(30);
    expect(reasonOf(await complete(challenge, await codeAt(user.secret)))).toBe("MFA_INVALID");
  });

  it("accepts a code once: its replay, on a new challenge in the same step, is MFA_INVALID", async () => {
    const user = await enrolled();
    const code = await codeAt(user.secret);
    tokensOf(await complete(await challengeFor(user), code), "completeLogin");
    const challenge = await challengeFor(user);
    expect(reasonOf(await complete(challenge, code))).toBe("MFA_INVALID");
    // The wrong code left the challenge usable.
    clock.advance(30);
    tokensOf(await complete(challenge, await codeAt(user.secret)), "completeLogin");
  });

  it("accepts codes one step either side, not two, and only steps later than the last one used", async () => {
    const user = await enrolled();
    clock.advance(60); // the step used at enrolment is now three behind
    const challenge = await challengeFor(user);
    expect(reasonOf(await complete(challenge, await codeAt(user.secret, -2)))).toBe("MFA_INVALID");
    expect(reasonOf(await complete(challenge, await codeAt(user.secret, 2)))).toBe("MFA_INVALID");
    tokensOf(await complete(challenge, await codeAt(user.secret, -1)), "completeLogin");
    tokensOf(await complete(await challengeFor(user), await codeAt(user.secret, 1)), "completeLogin");
    // The current step is inside the window but before the last one used.
    expect(reasonOf(await complete(await challengeFor(user), await codeAt(user.secret)))).toBe("MFA_INVALID");
  });

  it("counts wrong codes per account, apart from passwords: a right password buys no more guesses", async () => {
    const user = await enrolled();
    const wrong = await codeAt(user.secret, 5);
    const challenge = await challengeFor(user);
    for (let attempt = 0; attempt < LOGIN_ATTEMPTS - 1; attempt++)
      expect(reasonOf(await complete(challenge, wrong))).toBe("MFA_INVALID");
    // Logging in again with the right password earns a new challenge, but not a fresh count.
    const again = await challengeFor(user);
    expect(reasonOf(await complete(again, wrong))).toBe("MFA_INVALID");
    const limited = await complete(again, await codeAt(user.secret));
    expect(errorOf(limited)?.code).toBe("RATE_LIMITED");
    expect(limited.body.errors?.[0].extensions?.retryAfter).toBeGreaterThan(0);
  });

  it("a right code clears the count of wrong ones", async () => {
    const user = await enrolled();
    const challenge = await challengeFor(user);
    for (let attempt = 0; attempt < LOGIN_ATTEMPTS - 2; attempt++)
      expect(reasonOf(await complete(challenge, "000000"))).toBe("MFA_INVALID");
    tokensOf(await complete(challenge, await codeAt(user.secret)), "completeLogin");
    clock.advance(30);
    const next = await challengeFor(user);
    for (let attempt = 0; attempt < LOGIN_ATTEMPTS - 2; attempt++)
      expect(reasonOf(await complete(next, "000000"))).toBe("MFA_INVALID");
    tokensOf(await complete(next, await codeAt(user.secret)), "completeLogin");
  });

  it("a challenge signs in only the account that earned it", async () => {
    const [owner, other] = [await enrolled(), await enrolled()];
    const challenge = await challengeFor(owner);
    expect(reasonOf(await complete(challenge, await codeAt(other.secret)))).toBe("MFA_INVALID");
    const signedIn = tokensOf(await complete(challenge, await codeAt(owner.secret)), "completeLogin");
    expect(signedIn.userId).toBe(owner.userId);
  });

  it("a challenge expires after five minutes", async () => {
    const user = await enrolled();
    const late = await challengeFor(user);
    const inTime = await challengeFor(user);
    clock.advance(4 * 60 + 50);
    tokensOf(await complete(inTime, await codeAt(user.secret)), "completeLogin");
    clock.advance(11);
    expect(reasonOf(await complete(late, await codeAt(user.secret, 1)))).toBe("MFA_INVALID");
    expect(reasonOf(await complete("not-a-challenge", await codeAt(user.secret, 1)))).toBe("MFA_INVALID");
    // Housekeeping deletes used and expired challenges.
    await keyway.stores.mfa.purgeChallenges(new Date(clock.now()));
    expect(await keyway.database.prisma.mfaChallenge.count({ where: { userId: user.userId } })).toBe(0);
  });

  it("a recovery code signs in once, with amr pwd and mfa (not otp)", async () => {
    const user = await enrolled();
    const [code, other] = user.recoveryCodes;
    const signedIn = tokensOf(await complete(await challengeFor(user), code), "completeLogin");
    expect(decodeAccessToken(signedIn.accessToken).amr).toEqual(["pwd", "mfa"]);
    expect(reasonOf(await complete(await challengeFor(user), code))).toBe("MFA_INVALID");
    // Typed by hand: lower case, without dashes.
    tokensOf(await complete(await challengeFor(user), other.toLowerCase().replace(/-/g, "")), "completeLogin");
  });

  it("a wrong password answers a TOTP user exactly as it answers anyone else", async () => {
    const user = await enrolled();
    const plain = await signUp(keyway.url);
    const wrong = (account: Account) =>
      call(LOGIN, { input: { email: account.email, password: "not the password at all" } });
    const [forTotp, forPlain] = [await wrong(user), await wrong(plain)];
    expect(forTotp.status).toBe(forPlain.status);
    expect(forTotp.body).toEqual(forPlain.body);
    expect(errorOf(forTotp)).toEqual({ code: "UNAUTHENTICATED", reason: "INVALID_CREDENTIALS" });
    expect(forTotp.setCookies).toEqual(forPlain.setCookies);
  });
});

describe("disabling", () => {
  it("needs a right code; then login signs in with the password alone and the codes are gone", async () => {
    const user = await enrolled();
    expect(await noticesTo(user.email)).toEqual(["totp-enabled"]);
    expect(reasonOf(await call(DISABLE, { code: "123456" }, user.accessToken))).toBe("MFA_INVALID");
    expect(await noticesTo(user.email)).toEqual(["totp-enabled"]); // a refused attempt tells nothing
    const disabled = await call(DISABLE, { code: await codeAt(user.secret) }, user.accessToken);
    expect(disabled.body).toEqual({ data: { disableTotp: true } });
    // The owner hears of both changes: an intruder who knows the password cannot turn it off unseen.
    expect(await noticesTo(user.email)).toEqual(["totp-enabled", "totp-disabled"]);
    expect(await keyway.database.prisma.recoveryCode.count({ where: { userId: user.userId } })).toBe(0);
    expect(await keyway.database.prisma.totpFactor.count({ where: { userId: user.userId } })).toBe(0);
    const again = await login(keyway.url, user.email);
    expect(decodeAccessToken(again.accessToken).amr).toEqual(["pwd"]);
  });

  it("takes a recovery code too", async () => {
    const user = await enrolled();
    const disabled = await call(DISABLE, { code: user.recoveryCodes[3] }, user.accessToken);
    expect(disabled.body).toEqual({ data: { disableTotp: true } });
    await login(keyway.url, user.email);
  });
});

describe("password reset of a TOTP user", () => {
  it("sets the password but answers MFA_REQUIRED; the reset's challenge completes with email, otp and mfa", async () => {
    const user = await enrolled();
    const before = await challengeFor(user);
    const link = await keyway.services.accounts.issueResetLink(user.email);
    const token = decodeURIComponent(new URL(link!.url).hash.replace("#token=", ""));
    const newPassword = "an entirely new passphrase";
    const reset = await call(RESET_PASSWORD, { token, newPassword });
    expect(reset.body.data).toBeNull();
    expect(errorOf(reset)).toMatchObject({ code: "UNAUTHENTICATED", reason: "MFA_REQUIRED" });
    expect(reset.setCookies).toEqual([]);
    // Every session ended by the reset, and none started.
    expect(await keyway.services.auth.liveSessions(user.userId)).toEqual([]);
    // The reset committed: the new password is the one that earns a challenge now.
    await challengeFor({ ...user, password: newPassword });
    // A challenge earned with the old password is void.
    expect(reasonOf(await complete(before, await codeAt(user.secret)))).toBe("MFA_INVALID");

    const challenge = reset.body.errors?.[0].extensions?.challenge as string;
    const signedIn = tokensOf(await complete(challenge, await codeAt(user.secret)), "completeLogin");
    expect(decodeAccessToken(signedIn.accessToken).amr).toEqual(["email", "otp", "mfa"]);
  });
});

describe("step-up", () => {
  const vault = (tokens: Tokens) => callGraphQL(keyway.url, "{ open vault }", { accessToken: tokens.accessToken });

  it("refreshes auth_time and amr on the same session, so a policy asking for a recent otp admits the field", async () => {
    const user = await enrolled();
    const signedIn = tokensOf(await complete(await challengeFor(user), await codeAt(user.secret)), "completeLogin");
    expect((await vault(signedIn)).body).toEqual({ data: { open: "open", vault: "gold" } });

    clock.advance(6 * 60); // the access token (15 min) is still good; the second factor is 6 minutes old
    const stale = await vault(signedIn);
    expect(stale.body.data).toEqual({ open: "open", vault: null });
    expect(errorOf(stale)).toEqual({ code: "FORBIDDEN", reason: "POLICY_FAILED" });

    const stepped = await call(STEP_UP, { code: await codeAt(user.secret) }, signedIn.accessToken);
    expect(stepped.body.errors).toBeUndefined();
    // No new refresh token: the session keeps the one its client holds.
    expect(stepped.setCookies).toEqual([]);
    expect(stepped.headers.get("x-refresh-token")).toBeNull();
    const accessToken = (stepped.body.data!.stepUp as { accessToken: string }).accessToken;
    const claims = decodeAccessToken(accessToken);
    expect(claims.sid).toBe(signedIn.sessionId);
    expect(claims.auth_time).toBe(nowSeconds());
    expect(claims.amr).toEqual(["pwd", "otp", "mfa"]);
    const fresh = await vault({ ...signedIn, accessToken });
    expect(fresh.body).toEqual({ data: { open: "open", vault: "gold" } });
    expect(await sessionsOf(user.userId)).toBe(2); // sign-up's and completeLogin's: step-up started none

    // The session's refresh token still rotates, and what it mints carries the step-up.
    const refreshed = await refresh(keyway.url, { cookie: signedIn.cookie });
    expect(decodeAccessToken(refreshed.accessToken).auth_time).toBe(nowSeconds());
  });

  it("gives a password-only session otp and mfa in its amr", async () => {
    const user = await enrolled(); // signed up before enrolling: that session's amr is ["pwd"]
    expect(decodeAccessToken(user.accessToken).amr).toEqual(["pwd"]);
    expect(errorOf(await vault(user))).toEqual({ code: "FORBIDDEN", reason: "POLICY_FAILED" });
    const stepped = await call(STEP_UP, { code: await codeAt(user.secret) }, user.accessToken);
    const accessToken = (stepped.body.data!.stepUp as { accessToken: string }).accessToken;
    expect(decodeAccessToken(accessToken).amr).toEqual(["pwd", "otp", "mfa"]);
    expect((await vault({ ...user, accessToken })).body).toEqual({ data: { open: "open", vault: "gold" } });
    // A refresh of the session keeps what the step-up gave it.
    const refreshed = await refresh(keyway.url, { cookie: user.cookie });
    expect(decodeAccessToken(refreshed.accessToken)).toMatchObject({
      amr: ["pwd", "otp", "mfa"],
      auth_time: nowSeconds(),
    });
  });

  it("counts wrong step-up codes against the account's second-factor limit, as at login", async () => {
    const user = await enrolled();
    for (let attempt = 0; attempt < LOGIN_ATTEMPTS; attempt++)
      expect(reasonOf(await call(STEP_UP, { code: "000000" }, user.accessToken))).toBe("MFA_INVALID");
    // A stolen access token cannot guess its way to a second factor, nor on at login.
    expect(errorOf(await call(STEP_UP, { code: await codeAt(user.secret) }, user.accessToken))?.code).toBe(
      "RATE_LIMITED",
    );
    expect(errorOf(await complete(await challengeFor(user), await codeAt(user.secret)))?.code).toBe("RATE_LIMITED");
  });

  it("refuses a wrong or replayed code, a recovery code, a caller without TOTP, and a code with a passkey response", async () => {
    const user = await enrolled();
    const code = await codeAt(user.secret);
    // The first use works, so the second's refusal can only be the replay.
    expect(errorOf(await call(STEP_UP, { code }, user.accessToken))).toBeUndefined();
    expect(reasonOf(await call(STEP_UP, { code }, user.accessToken))).toBe("MFA_INVALID");
    expect(reasonOf(await call(STEP_UP, { code: "000000" }, user.accessToken))).toBe("MFA_INVALID");
    expect(reasonOf(await call(STEP_UP, { code: user.recoveryCodes[0] }, user.accessToken))).toBe("MFA_INVALID");
    const plain = await signUp(keyway.url);
    expect(reasonOf(await call(STEP_UP, { code: "123456" }, plain.accessToken))).toBe("MFA_INVALID");
    const both = await call(STEP_UP, { code: await codeAt(user.secret, 1), passkeyResponse: "{}" }, user.accessToken);
    expect(errorOf(both)?.code).toBe("BAD_USER_INPUT");
    expect(both.body.errors?.[0].message).toMatch(/either a TOTP code or a passkey response/);
    expect(errorOf(await call(STEP_UP, {}, user.accessToken))?.code).toBe("BAD_USER_INPUT");
    expect(errorOf(await call(STEP_UP, { code: "123456" }))?.code).toBe("UNAUTHENTICATED");
  });
});

describe("audit and metrics", () => {
  it("counts and audits enrolment, challenges, completion and step-up, without codes or secrets", async () => {
    const before = await metric(keyway.url, "keyway_mfa_total", 'event="complete",outcome="success"');
    const challenges = await metric(keyway.url, "keyway_mfa_total", 'event="challenge"');
    const user = await enrolled();
    const code = await codeAt(user.secret);
    tokensOf(await complete(await challengeFor(user), code), "completeLogin");
    expect(await metric(keyway.url, "keyway_mfa_total", 'event="complete",outcome="success"')).toBe(before + 1);
    expect(await metric(keyway.url, "keyway_mfa_total", 'event="challenge"')).toBe(challenges + 1);
    const audit = keyway.logs.filter((line) => line.includes(user.userId));
    expect(audit.some((line) => line.includes('"event":"confirmTotpEnrollment.succeeded"'))).toBe(true);
    expect(audit.some((line) => line.includes('"event":"completeLogin.succeeded"'))).toBe(true);
    expect(keyway.logs.some((line) => line.includes(user.secret))).toBe(false);
    expect(keyway.logs.some((line) => user.recoveryCodes.some((recovery) => line.includes(recovery)))).toBe(false);
  });
});
