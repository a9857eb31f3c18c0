import { generateKeyPairSync } from "node:crypto";
import { mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { DEFAULT_AUTHZ_MODEL, scopesFor } from "../../src/authz/model";
import { ConfigError, loadConfig } from "../../src/config";

/** Production needs to know where mail goes; these tests send none. */
const SMTP_URL = "smtp://127.0.0.1:9";
/** Production links must be HTTPS, or keyway warns. */
const APP_URL = "https://app.example.com/account";

const problemsOf = (env: Record<string, string>): string[] => {
  try {
    loadConfig(env, "/srv/keyway");
  } catch (error) {
    if (error instanceof ConfigError) return error.problems;
    throw error;
  }
  return [];
};

describe("loadConfig", () => {
  it("gives the contract's defaults with no environment", () => {
    const config = loadConfig({}, "/srv/keyway");
    expect(config).toMatchObject({
      env: "development",
      port: 4000,
      host: "127.0.0.1",
      databaseUrl: undefined,
      dataDir: "/srv/keyway/data",
      accessTokenTtl: 900,
      refreshTokenTtl: 30 * 86400,
      sessionIdleTtl: 7 * 86400,
      refreshReuseGrace: 10,
      jwt: { issuer: "keyway", audience: "keyway", privateKeyPem: undefined },
      cookie: { secure: false, name: "refresh_token" },
      corsOrigins: [],
      allowSignup: true,
      loginAttemptsLimit: { points: 10, durationSeconds: 900 },
      authIpLimit: { points: 600, durationSeconds: 60 },
      trustProxy: false,
      redisUrl: undefined,
      subgraphs: [],
      logLevel: "info",
    });
    expect(Object.isFrozen(config)).toBe(true);
  });

  it.each([
    ["900", 900],
    ["30s", 30],
    ["15m", 900],
    ["12h", 43200],
    ["30d", 2592000],
  ])("reads ACCESS_TOKEN_TTL=%s as %i seconds", (raw, seconds) => {
    expect(
      loadConfig({ ACCESS_TOKEN_TTL: raw, REFRESH_TOKEN_TTL: "90d", SESSION_IDLE_TTL: "30d" }).accessTokenTtl,
    ).toBe(seconds);
  });

  it("names the variable, the value and what it accepts", () => {
    const [problem] = problemsOf({ ACCESS_TOKEN_TTL: "15x" });
    expect(problem).toContain("ACCESS_TOKEN_TTL");
    expect(problem).toContain('"15x"');
    expect(problem).toMatch(/15m/);
  });

  it("reports every problem at once, one line each", () => {
    const problems = problemsOf({
      PORT: "70000",
      LOGIN_ATTEMPTS_LIMIT: "ten",
      CORS_ORIGINS: "*",
      LOG_LEVEL: "loud",
      DATABASE_URL: "mysql://x",
    });
    expect(problems).toHaveLength(5);
    for (const problem of problems) expect(problem).not.toContain("\n");
  });

  it("reads the mail settings, and refuses production without SMTP_URL", () => {
    expect(loadConfig({}, "/srv/keyway").mail).toEqual({
      smtpUrl: undefined,
      from: "keyway <no-reply@localhost>",
      appUrl: "http://127.0.0.1:4000/demo",
      passwordResetTtl: 3600,
      emailVerificationTtl: 86400,
      addressLimit: { points: 5, durationSeconds: 3600 },
      pollInterval: 2,
      retryBase: 5,
    });
    expect(loadConfig({ PORT: "4100", APP_URL: "https://app.example.com/account/" }).mail.appUrl).toBe(
      "https://app.example.com/account",
    );
    expect(loadConfig({ PORT: "4100" }).mail.appUrl).toBe("http://127.0.0.1:4100/demo");
    expect(problemsOf({ NODE_ENV: "production" }).join("\n")).toMatch(/SMTP_URL is required when NODE_ENV=production/);
    expect(problemsOf({ SMTP_URL: "http://mail.example.com" })).toEqual([
      "SMTP_URL must start with smtp:// or smtps:// and name a host",
    ]);
    // The URL's password never reaches the message.
    expect(problemsOf({ SMTP_URL: "imap://user:s3cret@mail.example.com" }).join()).not.toContain("s3cret");
    expect(problemsOf({ APP_URL: "https://app.example.com/#/account" }).join()).toMatch(/APP_URL=.* is not valid/);
    expect(problemsOf({ APP_URL: "javascript:alert(1)" }).join()).toMatch(/APP_URL=.* is not valid/);
    expect(problemsOf({ APP_URL: "https://app.example.com/account?tab=1" }).join()).toMatch(/APP_URL=.* is not valid/);
    expect(problemsOf({ PASSWORD_RESET_TTL: "0" }).join()).toMatch(/PASSWORD_RESET_TTL/);
  });

  it("takes passkeys' rpId and origins from APP_URL unless set, and refuses origins off the rpId", () => {
    expect(loadConfig({ PORT: "4100" }).webauthn).toEqual({
      rpId: "127.0.0.1",
      rpName: "keyway",
      origins: ["http://127.0.0.1:4100"],
    });
    expect(loadConfig({ APP_URL: "https://app.example.com:8443/account", JWT_ISSUER: "Example" }).webauthn).toEqual({
      rpId: "app.example.com",
      rpName: "Example",
      origins: ["https://app.example.com:8443"],
    });
    const shared = { WEBAUTHN_RP_ID: "Example.com", WEBAUTHN_ORIGINS: "https://app.example.com,https://example.com" };
    expect(loadConfig(shared).webauthn).toMatchObject({
      rpId: "example.com",
      origins: ["https://app.example.com", "https://example.com"],
    });
    expect(problemsOf({ WEBAUTHN_RP_ID: "example.com", WEBAUTHN_ORIGINS: "https://example.com.evil.test" })).toEqual([
      "WEBAUTHN_ORIGINS: https://example.com.evil.test is not on WEBAUTHN_RP_ID example.com (nor a subdomain of it): browsers would refuse its passkeys",
    ]);
    expect(problemsOf({ WEBAUTHN_RP_ID: "example.com", WEBAUTHN_ORIGINS: "https://badexample.com" })).toHaveLength(1);
    expect(problemsOf({ WEBAUTHN_RP_ID: "https://example.com/" }).join()).toMatch(/WEBAUTHN_RP_ID=.* is not valid/);
    expect(problemsOf({ WEBAUTHN_ORIGINS: "https://example.com/path" }).join()).toMatch(
      /WEBAUTHN_ORIGINS=.* is not valid/,
    );
  });

  it("refuses to run in production without a signing key and makes cookies secure there", () => {
    expect(problemsOf({ NODE_ENV: "production" }).join()).toMatch(/JWT_PRIVATE_KEY/);
    const pem = generateKeyPairSync("ec", { namedCurve: "P-256" })
      .privateKey.export({ format: "pem", type: "pkcs8" })
      .toString();
    const config = loadConfig({ NODE_ENV: "production", SMTP_URL, APP_URL, JWT_PRIVATE_KEY: pem });
    expect(config.cookie).toEqual({ secure: true, name: "__Host-refresh_token" });
  });

  it("accepts a PEM whose newlines were flattened to \\n", () => {
    const pem = generateKeyPairSync("ec", { namedCurve: "P-256" })
      .privateKey.export({ format: "pem", type: "pkcs8" })
      .toString();
    expect(loadConfig({ JWT_PRIVATE_KEY: pem.replace(/\n/g, "\\n") }).jwt.privateKeyPem).toBe(pem);
  });

  it("refuses a __Host- cookie without Secure, and an unreadable key file", () => {
    expect(problemsOf({ COOKIE_NAME: "__Host-rt" }).join()).toMatch(/COOKIE_SECURE=true/);
    expect(problemsOf({ JWT_PRIVATE_KEY_FILE: "/nonexistent/key.pem" }).join()).toMatch(/ENOENT/);
  });

  it("parses limits, proxies, origins and subgraphs", () => {
    const config = loadConfig({
      LOGIN_ATTEMPTS_LIMIT: "5/1m",
      TRUST_PROXY: "10.0.0.0/8, 127.0.0.1",
      CORS_ORIGINS: "https://app.example.com,http://localhost:3000",
      SUBGRAPHS: "notes=http://127.0.0.1:4001/graphql",
    });
    expect(config.loginAttemptsLimit).toEqual({ points: 5, durationSeconds: 60 });
    expect(config.trustProxy).toEqual(["10.0.0.0/8", "127.0.0.1"]);
    expect(config.corsOrigins).toEqual(["https://app.example.com", "http://localhost:3000"]);
    expect(config.subgraphs).toEqual([{ name: "notes", url: "http://127.0.0.1:4001/graphql" }]);
    expect(loadConfig({ TRUST_PROXY: "2" }).trustProxy).toBe(2);
    expect(problemsOf({ CORS_ORIGINS: "https://app.example.com/path" })).toHaveLength(1);
    expect(problemsOf({ SUBGRAPHS: "notes=ftp://x" })).toHaveLength(1);
  });

  it("reads the multi-instance settings and refuses workers on the embedded database", () => {
    const config = loadConfig({
      WORKERS: "2",
      DATABASE_URL: "postgres://db/keyway",
      REDIS_URL: "redis://127.0.0.1:6379",
      REDIS_KEY_PREFIX: "prod:",
      REVOCATION_POLL_INTERVAL: "5s",
    });
    expect(config).toMatchObject({
      workers: 2,
      redisUrl: "redis://127.0.0.1:6379",
      redisKeyPrefix: "prod:",
      revocationPollInterval: 5,
    });
    expect(loadConfig({})).toMatchObject({ workers: 1, redisKeyPrefix: "keyway:", revocationPollInterval: 2 });
    expect(problemsOf({ WORKERS: "2" }).join()).toMatch(/WORKERS=2 needs DATABASE_URL/);
    expect(problemsOf({ WORKERS: "0", DATABASE_URL: "postgres://db/k" }).join()).toMatch(/WORKERS="0"/);
    expect(problemsOf({ REDIS_URL: "http://cache" }).join()).toMatch(/REDIS_URL/);
  });

  it("reads the PostgreSQL pool size, 10 unless set, and refuses what is not a count of connections", () => {
    expect(loadConfig({}).databasePoolSize).toBe(10);
    expect(loadConfig({ DATABASE_POOL_SIZE: " 32 " }).databasePoolSize).toBe(32);
    for (const raw of ["0", "1001", "-1", "2.5", "ten"])
      expect(problemsOf({ DATABASE_POOL_SIZE: raw }).join()).toMatch(/DATABASE_POOL_SIZE=.*from 1 to 1000/);
  });

  it("refuses an access token that outlives its session", () => {
    expect(problemsOf({ ACCESS_TOKEN_TTL: "31d" }).join()).toMatch(/shorter than REFRESH_TOKEN_TTL/);
  });

  it("reads TRUST_PROXY's words as booleans and its numbers as hop counts, never a number as a boolean", () => {
    expect(loadConfig({ TRUST_PROXY: "1" }).trustProxy).toBe(1);
    expect(loadConfig({ TRUST_PROXY: "0" }).trustProxy).toBe(0);
    expect(loadConfig({ TRUST_PROXY: "true" }).trustProxy).toBe(true);
    expect(loadConfig({ TRUST_PROXY: " FALSE " }).trustProxy).toBe(false);
    expect(loadConfig({ TRUST_PROXY: "::1, 2001:db8::/32" }).trustProxy).toEqual(["::1", "2001:db8::/32"]);
    for (const bad of ["yes", "on", "-1", "100", "10.0.0.0/99", "10.0.0.300", "proxy.internal"])
      expect(problemsOf({ TRUST_PROXY: bad }).join()).toMatch(/TRUST_PROXY/);
  });

  it("refuses a SESSION_IDLE_TTL shorter than ACCESS_TOKEN_TTL", () => {
    expect(problemsOf({ ACCESS_TOKEN_TTL: "15m", SESSION_IDLE_TTL: "10m" }).join()).toMatch(
      /SESSION_IDLE_TTL \(600s\) must be at least ACCESS_TOKEN_TTL \(900s\)/,
    );
    expect(problemsOf({ ACCESS_TOKEN_TTL: "15m", SESSION_IDLE_TTL: "15m" })).toEqual([]);
  });

  it("warns, in production only, about settings that undo a protection", () => {
    const pem = generateKeyPairSync("ec", { namedCurve: "P-256" })
      .privateKey.export({ format: "pem", type: "pkcs8" })
      .toString();
    const risky = {
      COOKIE_SECURE: "false",
      TRUST_PROXY: "true",
      CORS_ORIGINS: "https://app.example.com,http://app.example.com",
      APP_URL: "http://app.example.com/account",
    };
    const warnings = loadConfig({ NODE_ENV: "production", SMTP_URL, JWT_PRIVATE_KEY: pem, ...risky }).warnings;
    expect(warnings).toHaveLength(5);
    expect(warnings[0]).toMatch(/^COOKIE_SECURE=false in production/);
    expect(warnings[1]).toMatch(/^TRUST_PROXY=true in production/);
    expect(warnings[2]).toMatch(/CORS_ORIGINS lists plain-HTTP origins in production \(http:\/\/app\.example\.com\)/);
    // The passkey origin defaults to APP_URL's, plain HTTP too.
    expect(warnings[3]).toMatch(
      /^WEBAUTHN_ORIGINS lists plain-HTTP origins in production \(http:\/\/app\.example\.com\)/,
    );
    expect(warnings[4]).toMatch(/^APP_URL is plain HTTP in production \(http:\/\/app\.example\.com\/account\)/);
    expect(
      loadConfig({ NODE_ENV: "production", SMTP_URL, JWT_PRIVATE_KEY: pem, APP_URL: "https://10.1.2.3/account" })
        .warnings,
    ).toEqual([expect.stringMatching(/^WEBAUTHN_RP_ID is an IP address \(10\.1\.2\.3\)/)]);
    expect(
      loadConfig({
        NODE_ENV: "production",
        SMTP_URL,
        APP_URL,
        JWT_PRIVATE_KEY: pem,
        TRUST_PROXY: "10.0.0.0/8",
        CORS_ORIGINS: "https://app.example.com",
      }).warnings,
    ).toEqual([]);
    expect(
      loadConfig({ NODE_ENV: "production", SMTP_URL, APP_URL, JWT_PRIVATE_KEY: pem, TRUST_PROXY: "1" }).warnings,
    ).toEqual([expect.stringMatching(/^TRUST_PROXY=1 \(a hop count\) in production/)]);
    expect(
      loadConfig({
        NODE_ENV: "production",
        SMTP_URL,
        APP_URL,
        JWT_PRIVATE_KEY: pem,
        TRUST_PROXY: "10.0.0.0/8,0.0.0.0/0",
      }).warnings,
    ).toEqual([expect.stringMatching(/^TRUST_PROXY=…\/0 in production/)]);
    expect(loadConfig(risky).warnings).toEqual([]);
  });

  it("reads METRICS_PORT", () => {
    expect(loadConfig({}).metricsPort).toBeUndefined();
    expect(loadConfig({ METRICS_PORT: "9464" }).metricsPort).toBe(9464);
    expect(problemsOf({ METRICS_PORT: "http" }).join()).toMatch(/METRICS_PORT/);
  });
});

describe("AUTHZ_FILE", () => {
  const dir = mkdtempSync(path.join(tmpdir(), "keyway-authz-"));
  writeFileSync(path.join(dir, "authz.json"), JSON.stringify({ roles: { editor: ["notes:write"] } }));
  writeFileSync(path.join(dir, "broken.json"), "{ not json");

  it("is the default mapping when unset", () => {
    expect(loadConfig({}, dir).authz).toBe(DEFAULT_AUTHZ_MODEL);
  });

  it("is read relative to the working directory", () => {
    expect(scopesFor(loadConfig({ AUTHZ_FILE: "authz.json" }, dir).authz, ["editor"])).toEqual(["notes:write"]);
  });

  it("reports a file it cannot read or parse beside the other problems", () => {
    expect(problemsOf({ AUTHZ_FILE: path.join(dir, "broken.json"), PORT: "x" })).toEqual([
      expect.stringMatching(/^AUTHZ_FILE=.*broken\.json: not JSON: /),
      expect.stringMatching(/^PORT="x"/),
    ]);
    expect(problemsOf({ AUTHZ_FILE: path.join(dir, "absent.json") })).toEqual([
      `AUTHZ_FILE=${path.join(dir, "absent.json")} cannot be read: ENOENT`,
    ]);
  });
});
