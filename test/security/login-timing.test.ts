// Login tells an unknown email from a wrong password by no time difference in the
// work around the password hash either. accounts.test.ts times real logins, where
// argon2's ~20 ms hides a gap of 2 ms in the 10 % it allows; here argon2 is replaced
// by a hash of constant, negligible cost, so a login is the rest of its work (the
// account read, limits, the line to the hasher, GraphQL) and 10 % of it is a fraction
// of a millisecond: an extra database read for known accounts alone would show.
import { createHash } from "node:crypto";
import { performance } from "node:perf_hooks";
import { LOGIN, signUp, uniqueEmail } from "../helpers/auth";
import { callGraphQL, errorOf } from "../helpers/http";
import { startTestServer, type TestServer } from "../helpers/server";
import { compareTimings } from "../helpers/timing";

/** Counts the fake's verifications, so the test knows both kinds reached the hasher. */
const verified = { calls: 0 };
jest.mock("@node-rs/argon2", () => {
  const digest = (password: string) => `fake$${createHash("sha256").update(password).digest("hex")}`;
  return {
    hash: (password: string) => Promise.resolve(digest(password)),
    verify: (stored: string, password: string) => {
      verified.calls++;
      return Promise.resolve(stored === digest(password));
    },
  };
});

const WRONG_PASSWORD = "not the right password";

let server: TestServer;
beforeAll(async () => {
  server = await startTestServer({ env: { LOGIN_ATTEMPTS_LIMIT: "100000/15m", AUTH_IP_LIMIT: "100000/1m" } });
});
afterAll(() => server?.stop());

it("takes as long for an unknown email as for a wrong password, hashing aside (200 each, within 10%)", async () => {
  const account = await signUp(server.url);
  const time = async (email: string) => {
    const started = performance.now();
    const response = await callGraphQL(server.url, LOGIN, {
      variables: { input: { email, password: WRONG_PASSWORD } },
    });
    const elapsed = performance.now() - started;
    expect(errorOf(response)).toEqual({ code: "UNAUTHENTICATED", reason: "INVALID_CREDENTIALS" });
    return elapsed;
  };
  for (let i = 0; i < 20; i++) {
    await time(uniqueEmail("warm"));
    await time(account.email);
  }
  const before = verified.calls;
  const ratio = await compareTimings({
    names: ["wrong password", "unknown email"],
    measure: [() => time(account.email), () => time(uniqueEmail("ghost"))],
    trials: 200,
    tolerance: 0.1,
  });
  // Every login, of either kind, went through the (fake) hasher: the mock is what ran.
  expect(verified.calls - before).toBeGreaterThanOrEqual(400);
  expect(ratio).toBeGreaterThanOrEqual(0.9);
  expect(ratio).toBeLessThanOrEqual(1.1);
}, 300_000);
