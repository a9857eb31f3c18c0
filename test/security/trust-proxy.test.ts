// TRUST_PROXY decides whose X-Forwarded-For keyway believes, and so where limits
// count a caller and what Session.ip and the audit log record. A hop count is a
// hop count: with one load balancer in front (TRUST_PROXY=1) the client is the
// address that balancer appended, never the left-most entry, which the client writes.
import { callGraphQL, errorOf } from "../helpers/http";
import { DEFAULT_PASSWORD, LOGIN, SESSIONS, signUp, uniqueEmail } from "../helpers/auth";
import { startForwardingProxy, type TestProxy } from "../helpers/proxy";
import { startTestServer, type TestServer } from "../helpers/server";

jest.setTimeout(120_000);

const wrongLogin = (url: string, email: string, forwardedFor: string) =>
  callGraphQL(url, LOGIN, {
    variables: { input: { email, password: "wrong password!" } },
    headers: { "x-forwarded-for": forwardedFor },
  });

describe("TRUST_PROXY=1 behind one real proxy hop", () => {
  let server: TestServer;
  let proxy: TestProxy;

  beforeAll(async () => {
    server = await startTestServer({ env: { TRUST_PROXY: "1", LOGIN_ATTEMPTS_LIMIT: "10/15m" } });
    proxy = await startForwardingProxy(server.url);
  });
  afterAll(async () => {
    await proxy?.close();
    await server?.stop();
  });

  it("limits 50 failed logins for one account although every one claims another X-Forwarded-For", async () => {
    const { email } = await signUp(proxy.url, uniqueEmail("rotating"), DEFAULT_PASSWORD, {
      headers: { "x-forwarded-for": "198.51.100.1" },
    });
    const codes: unknown[] = [];
    for (let i = 0; i < 50; i++) codes.push(errorOf(await wrongLogin(proxy.url, email, `203.0.113.${i + 1}`))?.code);
    // 10 wrong passwords are answered as such; from the 11th on the account+address pair is limited.
    expect(codes.slice(0, 10).every((code) => code === "UNAUTHENTICATED")).toBe(true);
    expect(codes.slice(10).filter((code) => code === "RATE_LIMITED").length).toBe(40);
  });

  it("counts AUTH_IP_LIMIT for the proxy-appended address whatever the client claims", async () => {
    const limited = await startTestServer({ env: { TRUST_PROXY: "1", AUTH_IP_LIMIT: "20/1m" } });
    const limitedProxy = await startForwardingProxy(limited.url);
    try {
      const codes: unknown[] = [];
      for (let i = 0; i < 50; i++)
        codes.push(errorOf(await wrongLogin(limitedProxy.url, uniqueEmail("spray"), `203.0.113.${i + 1}`))?.code);
      expect(codes.slice(0, 20)).toEqual(Array(20).fill("UNAUTHENTICATED"));
      expect(codes.slice(20)).toEqual(Array(30).fill("RATE_LIMITED"));
    } finally {
      await limitedProxy.close();
      await limited.stop();
    }
  });

  it("records the proxy-appended address, not the client's claim, on the session", async () => {
    const account = await signUp(proxy.url, uniqueEmail("recorded"), DEFAULT_PASSWORD, {
      headers: { "x-forwarded-for": "198.51.100.77" },
    });
    const response = await callGraphQL(proxy.url, SESSIONS, { accessToken: account.accessToken });
    expect((response.body.data?.sessions as Array<{ ip: string }>)[0]?.ip).toBe("127.0.0.1");
  });
});

describe("the client address each TRUST_PROXY form derives (Fastify's rules: a hop count, a list, true)", () => {
  // keyway is reached directly (socket 127.0.0.1) with this chain: client, then two proxies.
  const chain = "203.0.113.7, 198.51.100.2, 192.0.2.9";
  const cases: Array<[string, string]> = [
    ["false", "127.0.0.1"],
    ["0", "127.0.0.1"],
    ["1", "192.0.2.9"],
    ["2", "198.51.100.2"],
    ["3", "203.0.113.7"],
    ["9", "203.0.113.7"],
    ["127.0.0.1", "192.0.2.9"],
    ["127.0.0.0/8, 192.0.2.0/24", "198.51.100.2"],
    ["127.0.0.1,192.0.2.9,198.51.100.0/24", "203.0.113.7"],
    ["true", "203.0.113.7"],
  ];

  it.each(cases)("TRUST_PROXY=%s → Session.ip %s", async (trustProxy, expected) => {
    const server = await startTestServer({ env: { TRUST_PROXY: trustProxy } });
    try {
      const account = await signUp(server.url, uniqueEmail("derived"), DEFAULT_PASSWORD, {
        headers: { "x-forwarded-for": chain },
      });
      const response = await callGraphQL(server.url, SESSIONS, { accessToken: account.accessToken });
      expect((response.body.data?.sessions as Array<{ ip: string }>)[0]?.ip).toBe(expected);
    } finally {
      await server.stop();
    }
  });
});

describe("IPv6 clients", () => {
  it("are counted per /64: rotating addresses inside one does not escape AUTH_IP_LIMIT, another /64 is another client", async () => {
    const server = await startTestServer({ env: { TRUST_PROXY: "true", AUTH_IP_LIMIT: "3/1m" } });
    try {
      const codes: unknown[] = [];
      for (let i = 1; i <= 5; i++)
        codes.push(errorOf(await wrongLogin(server.url, uniqueEmail("v6"), `2001:db8:7:7::${i.toString(16)}`))?.code);
      expect(codes).toEqual(["UNAUTHENTICATED", "UNAUTHENTICATED", "UNAUTHENTICATED", "RATE_LIMITED", "RATE_LIMITED"]);
      expect(errorOf(await wrongLogin(server.url, uniqueEmail("v6"), "2001:db8:7:8::1"))?.code).toBe("UNAUTHENTICATED");
    } finally {
      await server.stop();
    }
  });
});

describe("an address that is not one", () => {
  let server: TestServer;

  beforeAll(async () => {
    server = await startTestServer({ env: { TRUST_PROXY: "true" } });
  });
  afterAll(() => server?.stop());

  it.each([
    // A well-formed address (a zone id is allowed) too long for the column.
    ["longer than Session.ip", `fe80::1%${"a".repeat(100)}`],
    ["not an address", "a".repeat(300)],
    ["a host name", "proxy.internal"],
  ])("signs up and logs in with %s forwarded, storing no address", async (_label, forwarded) => {
    const email = uniqueEmail("odd-address");
    const account = await signUp(server.url, email, DEFAULT_PASSWORD, { headers: { "x-forwarded-for": forwarded } });
    const again = await callGraphQL(server.url, LOGIN, {
      variables: { input: { email, password: DEFAULT_PASSWORD } },
      headers: { "x-forwarded-for": forwarded },
    });
    expect(again.body.errors).toBeUndefined();
    const sessions = (await callGraphQL(server.url, SESSIONS, { accessToken: account.accessToken })).body.data
      ?.sessions as Array<{ ip: string | null }>;
    expect(sessions).toHaveLength(2);
    expect(sessions.map((session) => session.ip)).toEqual([null, null]);
  });

  it.each([
    ["an IPv4 address with a port", "203.0.113.7:51234", "203.0.113.7"],
    ["an IPv6 address in brackets with a port", "[2001:DB8::1]:443", "2001:db8::1"],
    ["an IPv4-mapped IPv6 address", "::ffff:198.51.100.9", "198.51.100.9"],
  ])("takes %s as the address it names", async (_label, forwarded, expected) => {
    const account = await signUp(server.url, uniqueEmail("ported"), DEFAULT_PASSWORD, {
      headers: { "x-forwarded-for": forwarded },
    });
    const sessions = (await callGraphQL(server.url, SESSIONS, { accessToken: account.accessToken })).body.data
      ?.sessions as Array<{ ip: string | null }>;
    expect(sessions[0]?.ip).toBe(expected);
  });

  it("tells the operator, at most once a minute, that no address could be established", async () => {
    const quiet = await startTestServer({ env: { TRUST_PROXY: "true" } });
    try {
      const warnings = () => quiet.logs.filter((line) => line.includes("no client address could be established"));
      await signUp(quiet.url, uniqueEmail("junk-1"), DEFAULT_PASSWORD, { headers: { "x-forwarded-for": "unknown" } });
      await signUp(quiet.url, uniqueEmail("junk-2"), DEFAULT_PASSWORD, {
        headers: { "x-forwarded-for": "also-unknown" },
      });
      expect(warnings()).toHaveLength(1);
      expect(warnings()[0]).toContain('"forwarded":"unknown"');
    } finally {
      await quiet.stop();
    }
  });

  it("counts every unusable address in one bucket, so rotating garbage does not escape the limit", async () => {
    const limited = await startTestServer({ env: { TRUST_PROXY: "true", AUTH_IP_LIMIT: "5/1m" } });
    try {
      const codes: unknown[] = [];
      for (let i = 0; i < 8; i++)
        codes.push(errorOf(await wrongLogin(limited.url, uniqueEmail("garbage"), `not-an-address-${i}`))?.code);
      expect(codes.slice(0, 5)).toEqual(Array(5).fill("UNAUTHENTICATED"));
      expect(codes.slice(5)).toEqual(Array(3).fill("RATE_LIMITED"));
    } finally {
      await limited.stop();
    }
  });
});
