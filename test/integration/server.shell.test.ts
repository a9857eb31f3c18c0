// The HTTP shell around the auth core: operational routes, the JWKS, Apollo's CSRF
// prevention, the shape of every error, and the access log.
import { randomUUID } from "node:crypto";
import { createLocalJWKSet, jwtVerify, type JSONWebKeySet } from "jose";
import { DEFAULT_PASSWORD, LOGIN, LOGOUT, REFRESH_TOKEN, SESSIONS, signUp, uniqueEmail } from "../helpers/auth";
import { callGraphQL } from "../helpers/http";
import { startTestServer, type TestServer } from "../helpers/server";

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

interface RawResponse {
  status: number;
  headers: Headers;
  text: string;
}

async function request(url: string, init: RequestInit = {}): Promise<RawResponse> {
  const response = await fetch(url, init);
  return { status: response.status, headers: response.headers, text: await response.text() };
}

const getGraphQL = (baseUrl: string, query: string, headers: Record<string, string> = {}) =>
  request(`${baseUrl}/graphql?query=${encodeURIComponent(query)}`, { headers });

interface GraphQLBody {
  data?: unknown;
  errors?: Array<{ message: string; extensions?: Record<string, unknown> }>;
}

/** Parses a GraphQL answer and checks the contract for every error in it: a code, no stack trace. */
function expectCodedErrors(response: RawResponse): GraphQLBody {
  expect(response.headers.get("content-type")).toMatch(/^application\/json/);
  const body = JSON.parse(response.text) as GraphQLBody;
  expect(body.errors?.length).toBeGreaterThan(0);
  for (const error of body.errors ?? []) {
    expect(error.extensions?.code).toEqual(expect.any(String));
    expect(error.extensions?.code).not.toBe("INTERNAL_SERVER_ERROR");
  }
  expect(response.text).not.toMatch(/stacktrace/i);
  expect(response.text).not.toMatch(/\bat \S+ \(|node_modules|\.ts:\d+/);
  return body;
}

interface AccessLogLine {
  msg?: string;
  reqId?: string;
  method?: string;
  path?: string;
  status?: number;
  durationMs?: number;
  operation?: string;
}

const requestLines = (server: TestServer): AccessLogLine[] =>
  server.logs.map((line) => JSON.parse(line) as AccessLogLine).filter((line) => line.msg === "request");

/** The access log is written once the response has gone out, so it can trail the client a little. */
async function waitForRequestLines(
  server: TestServer,
  match: (line: AccessLogLine) => boolean,
  count = 1,
): Promise<AccessLogLine[]> {
  const deadline = Date.now() + 2000;
  for (;;) {
    const lines = requestLines(server).filter(match);
    if (lines.length >= count || Date.now() > deadline) return lines;
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}

describe("the HTTP shell", () => {
  let server: TestServer;
  beforeAll(async () => {
    server = await startTestServer();
  });
  afterAll(async () => {
    await server?.stop();
  });

  describe("operational routes", () => {
    it("answers /healthz with 200", async () => {
      const response = await request(`${server.url}/healthz`);
      expect(response.status).toBe(200);
      expect(response.headers.get("content-type")).toMatch(/^application\/json/);
    });

    it("answers /readyz with 200 while the database answers", async () => {
      const response = await request(`${server.url}/readyz`);
      expect(response.status).toBe(200);
      expect(JSON.parse(response.text)).toMatchObject({ database: "up" });
    });

    it("serves Prometheus text with per-route request counts and process metrics", async () => {
      await request(`${server.url}/healthz`);
      await callGraphQL(server.url, "query Shell { __typename }");
      const unknownPath = `/no-such-route-${randomUUID()}`;
      await request(`${server.url}${unknownPath}`);

      const metricsUrl = `${server.url}/metrics`;
      // The request counter is bumped after each response; give the last one a moment.
      await waitForRequestLines(server, (line) => line.path === unknownPath);
      const response = await request(metricsUrl);
      expect(response.status).toBe(200);
      expect(response.headers.get("content-type")).toMatch(/^text\/plain/);
      expect(response.text).toMatch(/^# TYPE keyway_http_requests_total counter$/m);
      expect(response.text).toMatch(
        /^keyway_http_requests_total\{(?=[^}]*method="GET")(?=[^}]*route="\/healthz")(?=[^}]*status="200")[^}]*\} [1-9]\d*$/m,
      );
      expect(response.text).toMatch(
        /^keyway_http_requests_total\{(?=[^}]*method="POST")(?=[^}]*route="\/graphql")[^}]*\} [1-9]\d*$/m,
      );
      expect(response.text).toMatch(
        /^keyway_http_request_duration_seconds_bucket\{[^}]*route="\/healthz"[^}]*\} \d+$/m,
      );
      expect(response.text).toMatch(/^process_cpu_user_seconds_total \d/m);
      expect(response.text).toMatch(/^process_resident_memory_bytes \d/m);
      // Unmatched URLs must not become label values: one series per request would exhaust Prometheus.
      expect(response.text).not.toContain(unknownPath);
    });
  });

  describe("the JWKS and access tokens", () => {
    it("publishes exactly one public ES256 key with kid, alg and use", async () => {
      const response = await request(`${server.url}/.well-known/jwks.json`);
      expect(response.status).toBe(200);
      expect(response.headers.get("content-type")).toMatch(/^application\/json/);
      const jwks = JSON.parse(response.text) as { keys: Array<Record<string, unknown>> };
      expect(jwks.keys).toHaveLength(1);
      const [key] = jwks.keys;
      expect(key).toMatchObject({
        kty: "EC",
        crv: "P-256",
        alg: "ES256",
        use: "sig",
        kid: expect.any(String),
        x: expect.any(String),
        y: expect.any(String),
      });
      expect(String(key?.kid).length).toBeGreaterThan(0);
      for (const privateMember of ["d", "p", "q", "dp", "dq", "qi", "k"]) expect(key).not.toHaveProperty(privateMember);
    });

    it("issues access tokens that an independent library verifies against the JWKS", async () => {
      const account = await signUp(server.url);
      const jwks = JSON.parse((await request(`${server.url}/.well-known/jwks.json`)).text) as JSONWebKeySet;

      const { payload, protectedHeader } = await jwtVerify(account.accessToken, createLocalJWKSet(jwks), {
        issuer: "keyway",
        audience: "keyway",
        typ: "at+jwt",
        algorithms: ["ES256"],
      });
      expect(protectedHeader).toMatchObject({ alg: "ES256", typ: "at+jwt", kid: jwks.keys[0]?.kid });
      expect(payload.sub).toBe(account.userId);
      expect(payload.jti).toMatch(UUID);
      expect(payload.exp! - payload.iat!).toBe(900);
      expect(Math.abs(payload.iat! - Date.now() / 1000)).toBeLessThan(30);
      // Nothing but the contract's claims: no email, no secret.
      expect(Object.keys(payload).sort()).toEqual([
        "amr",
        "aud",
        "auth_time",
        "email_verified",
        "exp",
        "iat",
        "iss",
        "jti",
        "roles",
        "scope",
        "sid",
        "sub",
      ]);

      // `sid` is the Session.id clients see.
      const sessions = await callGraphQL<{ sessions: Array<{ id: string; current: boolean }> }>(server.url, SESSIONS, {
        accessToken: account.accessToken,
      });
      const current = sessions.body.data?.sessions.find((session) => session.current);
      expect(current?.id).toBeDefined();
      expect(payload.sid).toBe(current?.id);
    });
  });

  describe("CSRF prevention", () => {
    it("refuses a text/plain POST without a preflight header, before executing it", async () => {
      const account = await signUp(server.url);
      const response = await request(`${server.url}/graphql`, {
        method: "POST",
        headers: { "content-type": "text/plain", cookie: account.cookie },
        body: JSON.stringify({ query: LOGOUT }),
      });
      expect(response.status).toBe(400);
      const body = expectCodedErrors(response);
      expect(body.errors?.[0]?.message).toMatch(/CSRF/);
      expect(body.data).toBeUndefined();

      // Had `logout` run, the session would be over and its refresh token refused.
      const refreshed = await callGraphQL(server.url, REFRESH_TOKEN, { cookie: account.cookie });
      expect(refreshed.body.errors).toBeUndefined();
      expect(refreshed.body.data).toMatchObject({ refreshToken: { accessToken: expect.any(String) } });
    });

    it("refuses a GET query without a preflight header", async () => {
      const response = await getGraphQL(server.url, "{me{id}}");
      expect(response.status).toBe(400);
      const body = expectCodedErrors(response);
      expect(body.errors?.[0]?.message).toMatch(/CSRF/);
      expect(body.data).toBeUndefined();
    });

    it.each(["apollo-require-preflight", "x-apollo-operation-name"])(
      "runs a GET query that carries %s",
      async (header) => {
        const anonymous = await getGraphQL(server.url, "{me{id}}", { [header]: "Me" });
        expect(anonymous.status).toBe(200);
        const body = expectCodedErrors(anonymous);
        // Executed: the resolver's own refusal, not a transport one.
        expect(body.errors?.[0]?.extensions).toMatchObject({ code: "UNAUTHENTICATED", reason: "TOKEN_MISSING" });

        const account = await signUp(server.url);
        const authenticated = await getGraphQL(server.url, "{me{id}}", {
          [header]: "Me",
          authorization: `Bearer ${account.accessToken}`,
        });
        expect(authenticated.status).toBe(200);
        expect(JSON.parse(authenticated.text)).toEqual({ data: { me: { id: account.userId } } });
      },
    );

    it("refuses a mutation over GET, even with the preflight header, without running it", async () => {
      const account = await signUp(server.url);
      const response = await getGraphQL(server.url, "mutation { logout }", {
        "apollo-require-preflight": "true",
        cookie: account.cookie,
      });
      expect([400, 405]).toContain(response.status);
      const body = expectCodedErrors(response);
      expect(body.data).toBeUndefined();

      const refreshed = await callGraphQL(server.url, REFRESH_TOKEN, { cookie: account.cookie });
      expect(refreshed.body.errors).toBeUndefined();
      expect(refreshed.body.data).toMatchObject({ refreshToken: { accessToken: expect.any(String) } });
    });
  });

  describe("errors", () => {
    const post = (body: string, contentType = "application/json") =>
      request(`${server.url}/graphql`, { method: "POST", headers: { "content-type": contentType }, body });

    it("answers a malformed JSON body with 400 and a coded GraphQL error", async () => {
      const response = await post('{"query": "{ me { id } }"');
      expect(response.status).toBe(400);
      expectCodedErrors(response);
    });

    it("answers an unknown field with 400 GRAPHQL_VALIDATION_FAILED", async () => {
      const response = await post(JSON.stringify({ query: "{ me { id passwordHash } }" }));
      expect(response.status).toBe(400);
      expect(expectCodedErrors(response).errors?.[0]?.extensions?.code).toBe("GRAPHQL_VALIDATION_FAILED");
    });

    it("answers a syntax error with 400 GRAPHQL_PARSE_FAILED", async () => {
      const response = await post(JSON.stringify({ query: "{ me { id " }));
      expect(response.status).toBe(400);
      expect(expectCodedErrors(response).errors?.[0]?.extensions?.code).toBe("GRAPHQL_PARSE_FAILED");
    });

    it("answers variables of the wrong type with a coded error below 500", async () => {
      const response = await post(
        JSON.stringify({ query: LOGIN, variables: { input: { email: 42, password: ["x"] } } }),
      );
      expect(response.status).toBeLessThan(500);
      expect(response.status).toBeGreaterThanOrEqual(400);
      expect(expectCodedErrors(response).errors?.[0]?.extensions?.code).toBe("BAD_USER_INPUT");
    });

    it("answers a body without a query, and a batch, with coded errors", async () => {
      for (const body of ["{}", JSON.stringify([{ query: "{ __typename }" }, { query: "{ __typename }" }])]) {
        const response = await post(body);
        expect(response.status).toBe(400);
        expectCodedErrors(response);
      }
    });

    it("refuses an oversized body as JSON, not HTML", async () => {
      const response = await post(JSON.stringify({ query: `{ __typename }${" ".repeat(300 * 1024)}` }));
      expect(response.status).toBe(413);
      expectCodedErrors(response);
    });

    it("keeps stack traces out of errors raised while executing", async () => {
      const response = await post(JSON.stringify({ query: "{ me { id } }" }));
      expect(response.status).toBe(200);
      expect(expectCodedErrors(response).errors?.[0]?.extensions).toEqual({
        code: "UNAUTHENTICATED",
        reason: "TOKEN_MISSING",
      });
    });

    it.each(["GET", "POST"])("answers an unknown route (%s) with a JSON 404", async (method) => {
      const response = await request(`${server.url}/no/such/route`, {
        method,
        ...(method === "POST" ? { body: "{}", headers: { "content-type": "application/json" } } : {}),
      });
      expect(response.status).toBe(404);
      expect(response.headers.get("content-type")).toMatch(/^application\/json/);
      expect(response.text).not.toMatch(/<html|<!doctype/i);
      expect(() => JSON.parse(response.text) as unknown).not.toThrow();
    });
  });

  describe("the access log", () => {
    it("writes one JSON line per request with method, path (no query string), status and duration", async () => {
      const path = `/access-log-${randomUUID()}`;
      await request(`${server.url}${path}?secret=do-not-log-me`);
      const lines = await waitForRequestLines(server, (line) => line.path === path);
      expect(lines).toHaveLength(1);
      expect(lines[0]).toMatchObject({ method: "GET", path, status: 404, durationMs: expect.any(Number) });
      expect(lines[0]?.durationMs).toBeGreaterThanOrEqual(0);
      expect(server.logs.join("\n")).not.toContain("do-not-log-me");
      for (const line of server.logs) expect(() => JSON.parse(line) as unknown).not.toThrow();
    });

    it("names the operation from the document when the request gives no operationName", async () => {
      const account = await signUp(server.url, uniqueEmail("logged"), DEFAULT_PASSWORD);
      const before = requestLines(server).filter((line) => line.operation === "Login").length;
      // LOGIN is `mutation Login(...)`; callGraphQL sends no operationName field unless asked.
      const response = await callGraphQL(server.url, LOGIN, {
        variables: { input: { email: account.email, password: account.password } },
      });
      expect(response.body.errors).toBeUndefined();

      const lines = await waitForRequestLines(server, (line) => line.operation === "Login", before + 1);
      expect(lines).toHaveLength(before + 1);
      expect(lines[lines.length - 1]).toMatchObject({
        method: "POST",
        path: "/graphql",
        status: 200,
        operation: "Login",
        durationMs: expect.any(Number),
      });
      expect(server.logs.join("\n")).not.toContain(account.password);
    });

    it("names the operation picked by operationName among several", async () => {
      const name = `Picked${randomUUID().replace(/-/g, "").slice(0, 8)}`;
      await callGraphQL(server.url, `query Other { __typename } query ${name} { __typename }`, { operationName: name });
      const lines = await waitForRequestLines(server, (line) => line.operation === name);
      expect(lines).toHaveLength(1);
      expect(lines[0]).toMatchObject({ path: "/graphql", status: 200 });
    });
  });
});

describe("readiness when the database goes away", () => {
  let server: TestServer;
  beforeAll(async () => {
    server = await startTestServer();
  });
  afterAll(async () => {
    await server?.stop();
  });

  it("turns /readyz to 503 while /healthz stays 200", async () => {
    expect((await request(`${server.url}/readyz`)).status).toBe(200);
    await server.database.close();

    const ready = await request(`${server.url}/readyz`);
    expect(ready.status).toBe(503);
    expect(ready.headers.get("content-type")).toMatch(/^application\/json/);
    expect(JSON.parse(ready.text)).toMatchObject({ database: "down" });
    expect((await request(`${server.url}/healthz`)).status).toBe(200);
  });
});
