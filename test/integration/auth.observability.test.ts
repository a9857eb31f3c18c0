// The auth metrics and the audit log: every security event is counted by
// outcome or reason, and written as one audit line with ids — never secrets.
import { LOGIN, ME, REFRESH_HEADER, REVOKE_SESSION, login, refresh, signUp, DEFAULT_PASSWORD } from "../helpers/auth";
import { callGraphQL } from "../helpers/http";
import { startTestServer, TestClock, type TestServer } from "../helpers/server";

const clock = new TestClock();
let server: TestServer;

beforeAll(async () => {
  server = await startTestServer({ clock, env: { REFRESH_REUSE_GRACE: "5s" } });
});
afterAll(() => server.stop());

async function metric(name: string, labels: string): Promise<number> {
  const text = await (await fetch(`${server.url}/metrics`)).text();
  const line = text.split("\n").find((candidate) => candidate.startsWith(`${name}{${labels}}`));
  return line ? Number(line.split(" ").pop()) : 0;
}

const auditLines = () =>
  server.logs.map((line) => JSON.parse(line) as Record<string, unknown>).filter((line) => line.audit === true);

it("counts logins, refreshes (reuse included), ended sessions and refused tokens, and audits each with ids only", async () => {
  const account = await signUp(server.url, undefined, undefined, { headers: { [REFRESH_HEADER]: "1" } });
  const wrong = await callGraphQL(server.url, LOGIN, {
    variables: { input: { email: account.email, password: "not the password" } },
  });
  expect(wrong.body.errors).toBeDefined();
  const second = await login(server.url, account.email, DEFAULT_PASSWORD, { headers: { [REFRESH_HEADER]: "1" } });

  const rotated = await refresh(server.url, { headers: { [REFRESH_HEADER]: account.refreshToken } });
  clock.advance(6); // past the grace window: presenting the rotated token again is theft
  const reused = await callGraphQL(server.url, "mutation { refreshToken { accessToken } }", {
    headers: { [REFRESH_HEADER]: account.refreshToken },
  });
  expect(reused.body.errors?.[0]?.extensions).toMatchObject({ reason: "REFRESH_TOKEN_REUSED" });

  await callGraphQL(server.url, ME, { headers: { authorization: "Bearer not.a.token" } });
  await callGraphQL(server.url, ME, { headers: { authorization: `Bearer ${rotated.accessToken}` } }); // its session ended by the reuse
  await callGraphQL(server.url, REVOKE_SESSION, {
    variables: { id: second.sessionId },
    headers: { authorization: `Bearer ${second.accessToken}` },
  });

  expect(await metric("keyway_logins_total", 'outcome="success"')).toBe(1);
  expect(await metric("keyway_logins_total", 'outcome="invalid_credentials"')).toBe(1);
  expect(await metric("keyway_refreshes_total", 'outcome="success"')).toBe(1);
  expect(await metric("keyway_refreshes_total", 'outcome="refresh_token_reused"')).toBe(1);
  expect(await metric("keyway_sessions_ended_total", 'reason="REFRESH_TOKEN_REUSED"')).toBe(1);
  expect(await metric("keyway_sessions_ended_total", 'reason="REVOKED"')).toBe(1);
  expect(await metric("keyway_token_rejections_total", 'reason="TOKEN_INVALID"')).toBe(1);
  expect(await metric("keyway_token_rejections_total", 'reason="SESSION_ENDED"')).toBe(1);
  expect(await metric("keyway_auth_calls_total", 'call="signUp",outcome="success"')).toBe(1);

  const events = auditLines().map((line) => line.event);
  expect(events).toEqual([
    "signUp.succeeded",
    "login.refused",
    "login.succeeded",
    "refreshToken.succeeded",
    "refresh_token.reuse_detected",
    "refreshToken.refused",
    "sessions.ended",
    "revokeSession.succeeded",
  ]);
  const byEvent = Object.fromEntries(auditLines().map((line) => [line.event, line]));
  expect(byEvent["login.succeeded"]).toMatchObject({
    userId: account.userId,
    sessionId: second.sessionId,
    ip: "127.0.0.1",
  });
  expect(byEvent["refresh_token.reuse_detected"]).toMatchObject({
    reason: "REFRESH_TOKEN_REUSED",
    sessionIds: [account.sessionId],
  });
  expect(byEvent["sessions.ended"]).toMatchObject({ reason: "REVOKED", sessionIds: [second.sessionId] });
  expect(byEvent["login.refused"]).toMatchObject({ outcome: "invalid_credentials" });

  const audit = JSON.stringify(auditLines());
  for (const secret of [
    account.refreshToken,
    rotated.refreshToken,
    second.refreshToken,
    account.accessToken,
    second.accessToken,
    DEFAULT_PASSWORD,
    "not the password",
    account.email,
  ]) {
    expect(audit).not.toContain(secret);
  }
});
