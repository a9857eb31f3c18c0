// The one reader of the environment. Every variable of the contract is read here
// once, validated, and handed down as a frozen object; all problems are reported
// together so an operator can fix them in one pass.
import { readFileSync } from "node:fs";
import path from "node:path";
import { parseAuthzFile } from "./authz/authz-file";
import { DEFAULT_AUTHZ_MODEL, type AuthzModel } from "./authz/model";
import {
  parseWholeNumber,
  parseBoolean,
  parseDuration,
  parseOrigins,
  parsePort,
  parseRateLimit,
  parseSubgraphs,
  parseTrustProxy,
  type Parsed,
  type RateLimit,
  type SubgraphEndpoint,
} from "./config-values";

export type RuntimeEnv = "development" | "production" | "test";

export interface Config {
  env: RuntimeEnv;
  port: number;
  host: string;
  /** Unset: the embedded PGlite under `dataDir/pglite`. */
  databaseUrl: string | undefined;
  /** PostgreSQL only: most connections each process keeps open (DATABASE_POOL_SIZE). */
  databasePoolSize: number;
  dataDir: string;
  accessTokenTtl: number;
  refreshTokenTtl: number;
  sessionIdleTtl: number;
  refreshReuseGrace: number;
  jwt: {
    /** PEM from JWT_PRIVATE_KEY(_FILE); unset in development means "generate one into dataDir". */
    privateKeyPem: string | undefined;
    issuer: string;
    audience: string;
  };
  cookie: { secure: boolean; name: string };
  corsOrigins: string[];
  allowSignup: boolean;
  loginAttemptsLimit: RateLimit;
  authIpLimit: RateLimit;
  trustProxy: boolean | number | string[];
  redisUrl: string | undefined;
  /** Namespaces keys and the revocation channel, so several deployments can share one Redis. */
  redisKeyPrefix: string;
  /** How often each instance reads sessions ended elsewhere from the database. */
  revocationPollInterval: number;
  /** How long ended and expired sessions are kept (for reuse detection and audit) before they are purged. */
  sessionRetention: number;
  /** How often one instance purges them. */
  housekeepingInterval: number;
  /** Worker processes on one port (Node's cluster); 1 runs in this process. */
  workers: number;
  subgraphs: SubgraphEndpoint[];
  /** Roles → scopes and the named policies, from AUTHZ_FILE (unset: the default mapping, no policies). */
  authz: AuthzModel;
  logLevel: string;
  /** Serve the demo web client at /demo. */
  demo: boolean;
  /** Set: /metrics is served on this port (and METRICS_HOST) instead of the public one. */
  metricsPort: number | undefined;
  /** Where the metrics port binds; defaults to HOST. */
  metricsHost: string;
  /** Mail for account recovery and verification (README "Mail"). */
  mail: MailConfig;
  /** Passkeys (README "Second factors and passkeys"). */
  webauthn: WebAuthnConfig;
  /** Settings that work but weaken a production deployment; main.ts logs each at start-up. */
  warnings: string[];
}

export interface MailConfig {
  /** `smtp://` or `smtps://`; unset (development and tests only): mails are written to `dataDir/outbox/` as .eml files. */
  smtpUrl: string | undefined;
  from: string;
  /** Base of the links in mails (the demo page by default); the token travels in the fragment. */
  appUrl: string;
  passwordResetTtl: number;
  emailVerificationTtl: number;
  /** Mails of one kind one address may be sent (reset requests beyond it are dropped silently). */
  addressLimit: RateLimit;
  /** How often each instance looks for mail to send when none was queued here. */
  pollInterval: number;
  /** Seconds before the first retry of a mail the SMTP server refused; each retry doubles it (capped at 15 min). */
  retryBase: number;
}

export interface WebAuthnConfig {
  /** The relying party id: the domain passkeys are bound to (WEBAUTHN_RP_ID; default the host of APP_URL). */
  rpId: string;
  /** The name browsers show when a passkey is made: JWT_ISSUER. */
  rpName: string;
  /** Origins whose pages may use passkeys (WEBAUTHN_ORIGINS; default the origin of APP_URL). */
  origins: string[];
}

export class ConfigError extends Error {
  constructor(readonly problems: string[]) {
    super(`Invalid configuration:\n${problems.map((problem) => `  - ${problem}`).join("\n")}`);
    this.name = "ConfigError";
  }
}

/** Connections per process to PostgreSQL unless DATABASE_POOL_SIZE says otherwise. */
export const DEFAULT_DATABASE_POOL_SIZE = 10;

const LOG_LEVELS = ["fatal", "error", "warn", "info", "debug", "trace", "silent"];

export function loadConfig(env: NodeJS.ProcessEnv = process.env, cwd: string = process.cwd()): Config {
  const problems: string[] = [];
  const read = <T>(name: string, fallback: T, parse: (raw: string) => Parsed<T>): T => {
    const raw = env[name];
    if (raw === undefined || raw.trim() === "") return fallback;
    const parsed = parse(raw);
    if (parsed.ok) return parsed.value;
    problems.push(`${name}=${JSON.stringify(raw)} is not valid: expected ${parsed.accepts}`);
    return fallback;
  };
  const text = (name: string, fallback: string): string => env[name]?.trim() || fallback;

  const nodeEnv = text("NODE_ENV", "development");
  const runtime: RuntimeEnv = nodeEnv === "production" || nodeEnv === "test" ? nodeEnv : "development";
  const production = runtime === "production";

  const databaseUrl = env.DATABASE_URL?.trim() || undefined;
  if (databaseUrl && !/^postgres(ql)?:\/\//.test(databaseUrl)) {
    problems.push(
      `DATABASE_URL must start with postgres:// or postgresql:// (leave it unset for the embedded database)`,
    );
  }

  const accessTokenTtl = read("ACCESS_TOKEN_TTL", 15 * 60, parseDuration);
  const refreshTokenTtl = read("REFRESH_TOKEN_TTL", 30 * 86400, parseDuration);
  const sessionIdleTtl = read("SESSION_IDLE_TTL", 7 * 86400, parseDuration);
  const refreshReuseGrace = read("REFRESH_REUSE_GRACE", 10, (raw) =>
    raw.trim() === "0" ? { ok: true, value: 0 } : parseDuration(raw),
  );
  if (accessTokenTtl >= refreshTokenTtl) {
    problems.push(`ACCESS_TOKEN_TTL (${accessTokenTtl}s) must be shorter than REFRESH_TOKEN_TTL (${refreshTokenTtl}s)`);
  }
  // A session idle longer than its access token lives could never be refreshed in time.
  if (sessionIdleTtl < accessTokenTtl) {
    problems.push(
      `SESSION_IDLE_TTL (${sessionIdleTtl}s) must be at least ACCESS_TOKEN_TTL (${accessTokenTtl}s): a session would end before its client could refresh`,
    );
  }

  const privateKeyPem = readPrivateKey(env, problems);
  if (production && !privateKeyPem) {
    problems.push(
      "JWT_PRIVATE_KEY or JWT_PRIVATE_KEY_FILE is required when NODE_ENV=production (a PEM EC P-256 or RSA private key)",
    );
  }

  const cookieSecure = read("COOKIE_SECURE", production, parseBoolean);
  const cookieName = text("COOKIE_NAME", cookieSecure ? "__Host-refresh_token" : "refresh_token");
  if (!/^[!#$%&'*+\-.^_`|~0-9A-Za-z]+$/.test(cookieName)) {
    problems.push(`COOKIE_NAME=${JSON.stringify(cookieName)} is not a valid cookie name`);
  } else if ((cookieName.startsWith("__Host-") || cookieName.startsWith("__Secure-")) && !cookieSecure) {
    problems.push(
      `COOKIE_NAME=${cookieName} needs COOKIE_SECURE=true (browsers drop __Host-/__Secure- cookies without Secure)`,
    );
  }

  const logLevel = text("LOG_LEVEL", "info").toLowerCase();
  if (!LOG_LEVELS.includes(logLevel))
    problems.push(`LOG_LEVEL=${JSON.stringify(logLevel)} is not valid: expected one of ${LOG_LEVELS.join(", ")}`);

  const redisUrl = env.REDIS_URL?.trim() || undefined;
  if (redisUrl && !/^rediss?:\/\//.test(redisUrl)) problems.push("REDIS_URL must start with redis:// or rediss://");

  const workers = read("WORKERS", 1, parseWholeNumber(1, 64, "worker processes"));
  const databasePoolSize = read(
    "DATABASE_POOL_SIZE",
    DEFAULT_DATABASE_POOL_SIZE,
    parseWholeNumber(1, 1000, "connections"),
  );
  if (workers > 1 && !databaseUrl)
    problems.push(`WORKERS=${workers} needs DATABASE_URL: the embedded database can be opened by one process only`);

  const sessionRetention = read("SESSION_RETENTION", 30 * 86400, parseDuration);
  // Ended sessions must outlive their access tokens: start-up rebuilds the revocation list from them.
  if (sessionRetention < accessTokenTtl)
    problems.push(`SESSION_RETENTION (${sessionRetention} s) must be at least ACCESS_TOKEN_TTL (${accessTokenTtl} s)`);

  const trustProxy = read("TRUST_PROXY", false, parseTrustProxy);
  const corsOrigins = read("CORS_ORIGINS", [], parseOrigins);
  const metricsPort = read<number | undefined>("METRICS_PORT", undefined, parsePort);
  const authz = readAuthzFile(env, cwd, problems);
  const port = read("PORT", 4000, parsePort);
  const mail = readMailConfig(env, { read, text, production, problems, port });
  const issuer = text("JWT_ISSUER", "keyway");
  const webauthn = readWebAuthnConfig({ read, text, problems, appUrl: mail.appUrl, rpName: issuer });
  const warnings = production
    ? productionWarnings({ cookieSecure, trustProxy, corsOrigins, appUrl: mail.appUrl, webauthn })
    : [];

  const config: Config = {
    env: runtime,
    port,
    host: text("HOST", "127.0.0.1"),
    databaseUrl,
    databasePoolSize,
    dataDir: path.resolve(cwd, text("DATA_DIR", "./data")),
    accessTokenTtl,
    refreshTokenTtl,
    sessionIdleTtl,
    refreshReuseGrace,
    jwt: { privateKeyPem, issuer, audience: text("JWT_AUDIENCE", "keyway") },
    cookie: { secure: cookieSecure, name: cookieName },
    corsOrigins,
    allowSignup: read("ALLOW_SIGNUP", true, parseBoolean),
    demo: read("DEMO", false, parseBoolean),
    loginAttemptsLimit: read("LOGIN_ATTEMPTS_LIMIT", { points: 10, durationSeconds: 900 }, parseRateLimit),
    authIpLimit: read("AUTH_IP_LIMIT", { points: 600, durationSeconds: 60 }, parseRateLimit),
    trustProxy,
    redisUrl,
    redisKeyPrefix: text("REDIS_KEY_PREFIX", "keyway:"),
    revocationPollInterval: read("REVOCATION_POLL_INTERVAL", 2, parseDuration),
    sessionRetention,
    housekeepingInterval: read("HOUSEKEEPING_INTERVAL", 3600, parseDuration),
    workers,
    subgraphs: read("SUBGRAPHS", [], parseSubgraphs),
    authz,
    logLevel,
    metricsPort,
    metricsHost: text("METRICS_HOST", text("HOST", "127.0.0.1")),
    mail,
    webauthn,
    warnings,
  };
  if (problems.length > 0) throw new ConfigError(problems);
  return Object.freeze(config);
}

type Reader = <T>(name: string, fallback: T, parse: (raw: string) => Parsed<T>) => T;

function readMailConfig(
  env: NodeJS.ProcessEnv,
  settings: {
    read: Reader;
    text: (name: string, fallback: string) => string;
    production: boolean;
    problems: string[];
    port: number;
  },
): MailConfig {
  const { read, text, problems } = settings;
  const smtpUrl = env.SMTP_URL?.trim() || undefined;
  if (smtpUrl && !/^smtps?:\/\/[^/]/.test(smtpUrl))
    // The URL stays out of the line: it usually carries a password.
    problems.push("SMTP_URL must start with smtp:// or smtps:// and name a host");
  if (!smtpUrl && settings.production)
    problems.push(
      "SMTP_URL is required when NODE_ENV=production (smtp://user:pass@host:587 or smtps://…): without it, password resets and verification mails would never reach anyone",
    );
  const appUrl = read("APP_URL", `http://127.0.0.1:${settings.port}/demo`, parseAppUrl);
  return {
    smtpUrl,
    from: text("MAIL_FROM", "keyway <no-reply@localhost>"),
    appUrl,
    passwordResetTtl: read("PASSWORD_RESET_TTL", 3600, parseDuration),
    emailVerificationTtl: read("EMAIL_VERIFICATION_TTL", 86400, parseDuration),
    addressLimit: read("MAIL_ADDRESS_LIMIT", { points: 5, durationSeconds: 3600 }, parseRateLimit),
    pollInterval: read("MAIL_POLL_INTERVAL", 2, parseDuration),
    retryBase: read("MAIL_RETRY_BASE", 5, parseDuration),
  };
}

/**
 * The relying party of passkeys. Browsers accept an rpId only if it is each origin's
 * host or a domain that host belongs to, so a mismatch is refused here, not at the
 * first registration.
 */
function readWebAuthnConfig(settings: {
  read: Reader;
  text: (name: string, fallback: string) => string;
  problems: string[];
  appUrl: string;
  rpName: string;
}): WebAuthnConfig {
  const { read, text, problems, appUrl } = settings;
  const app = new URL(appUrl);
  const rpId = text("WEBAUTHN_RP_ID", app.hostname).toLowerCase();
  const origins = read("WEBAUTHN_ORIGINS", [app.origin], parseOrigins);
  if (!/^[a-z0-9.:[\]-]+$/.test(rpId) || rpId.startsWith(".") || rpId.endsWith("."))
    problems.push(`WEBAUTHN_RP_ID=${JSON.stringify(rpId)} is not valid: expected a host name like example.com`);
  else
    for (const origin of origins) {
      const host = new URL(origin).hostname;
      if (host !== rpId && !host.endsWith(`.${rpId}`))
        problems.push(
          `WEBAUTHN_ORIGINS: ${origin} is not on WEBAUTHN_RP_ID ${rpId} (nor a subdomain of it): browsers would refuse its passkeys`,
        );
    }
  return { rpId, rpName: settings.rpName, origins };
}

/** An http(s) URL without a fragment: links append a path and `#token=…`. */
function parseAppUrl(raw: string): Parsed<string> {
  const accepts = "an http:// or https:// URL without ?query or #fragment, like https://app.example.com/account";
  try {
    const url = new URL(raw.trim());
    const plainOrTls = url.protocol === "http:" || url.protocol === "https:";
    // Links append a path and a fragment: a query or fragment here would break them.
    if (!plainOrTls || url.hash !== "" || raw.includes("#") || url.search !== "" || raw.includes("?"))
      return { ok: false, accepts };
    return { ok: true, value: url.toString().replace(/\/+$/, "") };
  } catch {
    return { ok: false, accepts };
  }
}

/**
 * Allowed, because a deployment may have its reasons, but said loudly: each of
 * these undoes a protection production otherwise has.
 */
function productionWarnings(settings: {
  cookieSecure: boolean;
  trustProxy: Config["trustProxy"];
  corsOrigins: string[];
  appUrl: string;
  webauthn: WebAuthnConfig;
}): string[] {
  const warnings: string[] = [];
  if (!settings.cookieSecure)
    warnings.push("COOKIE_SECURE=false in production: browsers will send the refresh cookie over plain HTTP");
  const everyone = Array.isArray(settings.trustProxy) && settings.trustProxy.some((entry) => /\/0$/.test(entry));
  if (settings.trustProxy === true || everyone) {
    warnings.push(
      `TRUST_PROXY=${settings.trustProxy === true ? "true" : "…/0"} in production: any X-Forwarded-For is believed, so a client that reaches keyway directly chooses its own address (limits, Session.ip); set the proxies' addresses`,
    );
  } else if (typeof settings.trustProxy === "number" && settings.trustProxy > 0) {
    warnings.push(
      `TRUST_PROXY=${settings.trustProxy} (a hop count) in production: safe only if keyway cannot be reached except through ${settings.trustProxy} prox${settings.trustProxy === 1 ? "y" : "ies"}; a client that reaches it directly chooses its own address. The proxies' addresses or CIDRs are safe either way`,
    );
  }
  const plain = settings.corsOrigins.filter((origin) => origin.startsWith("http://"));
  if (plain.length > 0)
    warnings.push(
      `CORS_ORIGINS lists plain-HTTP origins in production (${plain.join(", ")}): pages served over HTTP can be altered in transit and then call keyway with credentials`,
    );
  if (/^[\d.]+$|:/.test(settings.webauthn.rpId))
    warnings.push(
      `WEBAUTHN_RP_ID is an IP address (${settings.webauthn.rpId}): browsers make passkeys for domain names only; set APP_URL or WEBAUTHN_RP_ID to your domain`,
    );
  const plainPasskeyOrigins = settings.webauthn.origins.filter((origin) => origin.startsWith("http://"));
  if (plainPasskeyOrigins.length > 0)
    warnings.push(
      `WEBAUTHN_ORIGINS lists plain-HTTP origins in production (${plainPasskeyOrigins.join(", ")}): a page altered in transit could use the user's passkeys`,
    );
  if (settings.appUrl.startsWith("http://"))
    warnings.push(
      `APP_URL is plain HTTP in production (${settings.appUrl}): reset and verification links in mails would carry their tokens unencrypted`,
    );
  return warnings;
}

function readPrivateKey(env: NodeJS.ProcessEnv, problems: string[]): string | undefined {
  const inline = env.JWT_PRIVATE_KEY?.trim();
  const file = env.JWT_PRIVATE_KEY_FILE?.trim();
  if (inline && file) {
    problems.push("set only one of JWT_PRIVATE_KEY and JWT_PRIVATE_KEY_FILE");
    return undefined;
  }
  if (inline) {
    // Environments often flatten newlines; accept a PEM with literal "\n" sequences.
    const pem = inline.replace(/\\n/g, "\n");
    if (!pem.includes("PRIVATE KEY-----"))
      problems.push("JWT_PRIVATE_KEY does not look like a PEM private key (-----BEGIN PRIVATE KEY-----)");
    return pem;
  }
  if (file) {
    try {
      return readFileSync(file, "utf8");
    } catch (error) {
      problems.push(
        `JWT_PRIVATE_KEY_FILE=${file} cannot be read: ${(error as NodeJS.ErrnoException).code ?? "unknown error"}`,
      );
    }
  }
  return undefined;
}

/** AUTHZ_FILE read and checked whole: each problem in it is one line, led by the variable and the JSON path. */
function readAuthzFile(env: NodeJS.ProcessEnv, cwd: string, problems: string[]): AuthzModel {
  const file = env.AUTHZ_FILE?.trim();
  if (!file) return DEFAULT_AUTHZ_MODEL;
  let text: string;
  try {
    text = readFileSync(path.resolve(cwd, file), "utf8");
  } catch (error) {
    problems.push(`AUTHZ_FILE=${file} cannot be read: ${(error as NodeJS.ErrnoException).code ?? "unknown error"}`);
    return DEFAULT_AUTHZ_MODEL;
  }
  const parsed = parseAuthzFile(text);
  if (parsed.ok) return parsed.model;
  for (const problem of parsed.problems) problems.push(`AUTHZ_FILE=${file}: ${problem}`);
  return DEFAULT_AUTHZ_MODEL;
}

/** The configuration, or null after writing each problem as one `keyway: …` line to stderr (main and the CLI exit 2). */
export function loadConfigOrReport(): Config | null {
  try {
    return loadConfig();
  } catch (error) {
    if (!(error instanceof ConfigError)) throw error;
    for (const problem of error.problems) process.stderr.write(`keyway: ${problem}\n`);
    return null;
  }
}
