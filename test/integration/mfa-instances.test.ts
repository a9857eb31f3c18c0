// Second factors across two instances on one PostgreSQL, sharing Redis: a login
// challenge issued by one completes on the other, a passkey registered on one
// signs in on the other, wrong codes count per account whichever instance and
// address they come from, and two completions racing with one challenge and one
// code, one on each instance, sign in once.
import { generateKeyPairSync, randomUUID } from "node:crypto";
import { print } from "graphql";
import { generate } from "otplib";
import {
  CompleteLoginDocument,
  ConfirmTotpEnrollmentDocument,
  FinishPasskeyLoginDocument,
  FinishPasskeyRegistrationDocument,
  StartPasskeyLoginDocument,
  StartPasskeyRegistrationDocument,
  StartTotpEnrollmentDocument,
} from "../generated/operations";
import { LOGIN, signUp, tokensOf, type Account } from "../helpers/auth";
import { createTestDatabase, type TestDatabase } from "../helpers/database";
import { callGraphQL, errorOf, type GraphQLResponse } from "../helpers/http";
import { startTestServer, TestClock, type TestServer } from "../helpers/server";
import { SoftAuthenticator } from "../helpers/webauthn";

jest.setTimeout(60_000);

const LOGIN_ATTEMPTS = 4;
const ORIGIN = "https://accounts.example.test";
const JWT_PRIVATE_KEY = generateKeyPairSync("ec", { namedCurve: "P-256" })
  .privateKey.export({ type: "pkcs8", format: "pem" })
  .toString();
// 10 s into a 30-second step, so codes computed now stay in their step while a test runs.
const clock = new TestClock(Math.floor(Date.now() / 30_000) * 30_000 + 10_000);

let database: TestDatabase;
let a: TestServer;
let b: TestServer;

beforeAll(async () => {
  database = await createTestDatabase({ kind: "postgres" });
  const env = {
    JWT_PRIVATE_KEY,
    APP_URL: `${ORIGIN}/account`,
    REDIS_URL: "redis://127.0.0.1:6379",
    REDIS_KEY_PREFIX: `keyway-mfa-${randomUUID()}:`,
    LOGIN_ATTEMPTS_LIMIT: `${LOGIN_ATTEMPTS}/15m`,
    AUTH_IP_LIMIT: "100000/1m",
    // Every peer is a proxy here, so each request may name its own client address.
    TRUST_PROXY: "127.0.0.1",
  };
  a = await startTestServer({ database, env, clock });
  b = await startTestServer({ database, env, clock });
  // Counting in memory would pass the per-instance part of this suite and fail the rest: demand Redis.
  for (const instance of [a, b]) expect(await instance.services.redis!.settled()).toBe("up");
});
afterAll(async () => {
  await a?.stop();
  await b?.stop();
  await database?.drop();
});

const call = (
  instance: TestServer,
  query: string,
  variables: Record<string, unknown> = {},
  accessToken?: string,
  ip?: string,
) => callGraphQL(instance.url, query, { variables, accessToken, headers: ip ? { "x-forwarded-for": ip } : {} });
const codeAt = (secret: string, steps = 0) => generate({ secret, epoch: Math.floor(clock.now() / 1000) + steps * 30 });

/** An account enrolled on instance `a`; the clock moved a step on, so the enrolling code is spent. */
async function enrolled(): Promise<Account & { secret: string; recoveryCodes: string[] }> {
  const account = await signUp(a.url);
  const started = await call(a, print(StartTotpEnrollmentDocument), {}, account.accessToken);
  const { secret } = started.body.data!.startTotpEnrollment as { secret: string };
  const confirmed = await call(
    a,
    print(ConfirmTotpEnrollmentDocument),
    { code: await codeAt(secret) },
    account.accessToken,
  );
  const recoveryCodes = confirmed.body.data?.confirmTotpEnrollment as string[];
  expect(recoveryCodes).toHaveLength(10);
  clock.advance(30);
  return { ...account, secret, recoveryCodes };
}

async function challengeFrom(instance: TestServer, account: Account): Promise<string> {
  const response = await call(instance, LOGIN, { input: { email: account.email, password: account.password } });
  expect(errorOf(response)).toMatchObject({ reason: "MFA_REQUIRED" });
  return response.body.errors![0].extensions!.challenge as string;
}

const complete = (instance: TestServer, challenge: string, code: string, ip?: string) =>
  call(instance, print(CompleteLoginDocument), { challenge, code }, undefined, ip);
const reasonOf = (response: GraphQLResponse) => errorOf(response)?.reason ?? errorOf(response)?.code;

it("completes on one instance the challenge the other issued", async () => {
  const user = await enrolled();
  const challenge = await challengeFrom(a, user);
  const signedIn = tokensOf(await complete(b, challenge, await codeAt(user.secret)), "completeLogin");
  expect(signedIn.userId).toBe(user.userId);
  // Used on b, it is used on a too.
  expect(reasonOf(await complete(a, challenge, await codeAt(user.secret, 1)))).toBe("MFA_INVALID");
});

it("counts wrong codes per account across instances and client addresses, in Redis", async () => {
  const user = await enrolled();
  const challenge = await challengeFrom(a, user);
  for (let attempt = 0; attempt < LOGIN_ATTEMPTS; attempt++) {
    const instance = attempt % 2 === 0 ? a : b;
    expect(reasonOf(await complete(instance, challenge, "000000", `203.0.113.${attempt + 1}`))).toBe("MFA_INVALID");
  }
  // The right code, from yet another address on either instance: the account's guesses are spent.
  for (const instance of [a, b])
    expect(reasonOf(await complete(instance, challenge, await codeAt(user.secret), "198.51.100.7"))).toBe(
      "RATE_LIMITED",
    );
  const keys = await a.services.redis!.client.keys(`${a.config.redisKeyPrefix}*`);
  expect(keys.length).toBeGreaterThan(0);
});

describe("two completions racing with one challenge, one on each instance, sign in once", () => {
  it.each([
    // One code: the loser may be stopped by the code's own single use.
    [
      "the same TOTP code",
      (user: { secret: string; recoveryCodes: string[] }) => [codeAt(user.secret), codeAt(user.secret)],
    ],
    // Two right codes: only the challenge's single use can stop the loser.
    [
      "a TOTP code and a recovery code",
      (user: { secret: string; recoveryCodes: string[] }) => [
        codeAt(user.secret),
        Promise.resolve(user.recoveryCodes[0]),
      ],
    ],
  ])("with %s", async (_label, codesOf) => {
    for (let round = 0; round < 3; round++) {
      const user = await enrolled();
      const challenge = await challengeFrom(a, user);
      const [first, second] = await Promise.all(codesOf(user));
      const sessionsBefore = await a.database.prisma.session.count({ where: { userId: user.userId } });
      const answers = await Promise.all([complete(a, challenge, first), complete(b, challenge, second)]);
      expect(answers.filter((answer) => errorOf(answer) === undefined)).toHaveLength(1);
      expect(answers.map(reasonOf).filter(Boolean)).toEqual(["MFA_INVALID"]);
      expect(await a.database.prisma.session.count({ where: { userId: user.userId } })).toBe(sessionsBefore + 1);
    }
  });
});

it("signs in on one instance with a passkey registered on the other; a replay on either is refused", async () => {
  const account = await signUp(a.url);
  const device = new SoftAuthenticator({ origin: ORIGIN });
  const options = await call(a, print(StartPasskeyRegistrationDocument), {}, account.accessToken);
  const created = device.register(options.body.data!.startPasskeyRegistration as string);
  const finished = await call(
    b,
    print(FinishPasskeyRegistrationDocument),
    { response: JSON.stringify(created) },
    account.accessToken,
  );
  expect(finished.body.errors).toBeUndefined();

  // Options from one instance, the answer to the other: the challenge lives in the shared database.
  const first = await call(b, print(StartPasskeyLoginDocument));
  const signedIn = await call(a, print(FinishPasskeyLoginDocument), {
    response: JSON.stringify(device.authenticate(first.body.data!.startPasskeyLogin as string)),
  });
  expect(errorOf(signedIn)).toBeUndefined();

  const loginOptions = await call(b, print(StartPasskeyLoginDocument));
  const assertion = JSON.stringify(device.authenticate(loginOptions.body.data!.startPasskeyLogin as string));
  const answers = await Promise.all([
    call(a, print(FinishPasskeyLoginDocument), { response: assertion }),
    call(b, print(FinishPasskeyLoginDocument), { response: assertion }),
  ]);
  expect(answers.filter((answer) => errorOf(answer) === undefined)).toHaveLength(1);
  expect(answers.map(reasonOf).filter(Boolean)).toEqual(["PASSKEY_INVALID"]);
});
