// One Prometheus registry per server, so several servers in one process (tests)
// do not collide on metric names.
import { collectDefaultMetrics, Counter, Gauge, Histogram, Registry } from "prom-client";
import type { AuthCall, AuthEvents } from "./auth/auth-events";

export interface Metrics {
  registry: Registry;
  httpRequests: Counter<"method" | "route" | "status">;
  authzRefusals: Counter<"code">;
  httpDuration: Histogram<"method" | "route">;
}

export interface MetricsSources {
  /** The auth core's security events, counted by outcome and reason. */
  events?: AuthEvents;
  /** 1 up, 0 down, absent when Redis is not configured. */
  redisUp?: () => number;
  revokedSessions: () => number;
  /** The mail worker's outcomes, and how many mails wait in the outbox (read from the database at each scrape). */
  mail?: {
    subscribe(listener: (kind: string, outcome: "sent" | "retried" | "failed") => void): () => void;
    queued(): Promise<number>;
  };
  /** Labels on every series, e.g. the worker's id under WORKERS. */
  defaultLabels?: Record<string, string>;
}

export function createMetrics(sources: MetricsSources): Metrics {
  const registry = new Registry();
  if (sources.defaultLabels) registry.setDefaultLabels(sources.defaultLabels);
  collectDefaultMetrics({ register: registry });
  if (sources.redisUp) {
    const redisUp = sources.redisUp;
    new Gauge({
      name: "keyway_redis_up",
      help: "1 while Redis answers (shared limits and revocations), 0 while keyway falls back to in-process state",
      registers: [registry],
      collect() {
        this.set(redisUp());
      },
    });
  }
  new Gauge({
    name: "keyway_revoked_sessions",
    help: "Ended sessions whose access tokens this instance refuses without a database round trip",
    registers: [registry],
    collect() {
      this.set(sources.revokedSessions());
    },
  });
  if (sources.events) countAuthEvents(sources.events, registry);
  if (sources.mail) countMail(sources.mail, registry);
  return {
    registry,
    httpRequests: new Counter({
      name: "keyway_http_requests_total",
      help: "HTTP requests by method, route and status code",
      labelNames: ["method", "route", "status"],
      registers: [registry],
    }),
    authzRefusals: new Counter({
      name: "keyway_authz_refused_fields_total",
      help: "fields the authorization directives took out of operations, by code (UNAUTHENTICATED, FORBIDDEN)",
      labelNames: ["code"],
      registers: [registry],
    }),
    httpDuration: new Histogram({
      name: "keyway_http_request_duration_seconds",
      help: "HTTP request latency by method and route",
      labelNames: ["method", "route"],
      buckets: [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5],
      registers: [registry],
    }),
  };
}

/** Labels are reasons and codes from closed lists, so the series stay few. */
function countAuthEvents(events: AuthEvents, registry: Registry): void {
  const counter = (name: string, help: string, labelNames: string[]) =>
    new Counter({ name, help, labelNames, registers: [registry] });
  const logins = counter(
    "keyway_logins_total",
    "login calls by outcome (success, invalid_credentials, rate_limited, …)",
    ["outcome"],
  );
  const refreshes = counter(
    "keyway_refreshes_total",
    "refreshToken calls by outcome (success, refresh_token_reused, refresh_token_invalid, …)",
    ["outcome"],
  );
  const calls = counter("keyway_auth_calls_total", "signUp, logout, logoutAll and revokeSession calls by outcome", [
    "call",
    "outcome",
  ]);
  const mfa = counter(
    "keyway_mfa_total",
    "second-factor events (enroll, confirm, disable, challenge, complete, step_up, passkey_register, passkey_remove, passkey_login, reset) by outcome",
    ["event", "outcome"],
  );
  const ended = counter("keyway_sessions_ended_total", "sessions ended, by reason", ["reason"]);
  const rejected = counter("keyway_token_rejections_total", "presented access tokens refused, by reason", ["reason"]);
  const roleChanges = counter("keyway_role_changes_total", "roles granted or revoked (changes only), by change", [
    "change",
  ]);
  const usersDisabled = counter("keyway_users_disabled_total", "accounts disabled (changes only)", []);
  const adminCalls = counter(
    "keyway_admin_calls_total",
    "admin API calls (users, grantRole, revokeRole, disableUser) by outcome (success, forbidden, bad_user_input, …)",
    ["call", "outcome"],
  );
  events.subscribe((event) => {
    if (event.type === "users.listed") return; // counted among the admin calls
    if (event.type === "mfa.reset") {
      mfa.inc({ event: "reset", outcome: event.changed ? "success" : "none" });
      return;
    }
    if (event.type === "auth.call") {
      const mfaEvent = MFA_EVENTS[event.call];
      if (mfaEvent) mfa.inc({ event: mfaEvent, outcome: event.outcome });
      // A right first factor of a user with TOTP: a challenge issued.
      if (event.outcome === "mfa_required") mfa.inc({ event: "challenge", outcome: "success" });
    }
    if (event.type === "role.changed") {
      if (event.changed) roleChanges.inc({ change: event.change });
    } else if (event.type === "user.disabled") {
      if (event.changed) usersDisabled.inc();
    } else if (event.type === "admin.call") adminCalls.inc({ call: event.call, outcome: event.outcome });
    else if (event.type === "token.rejected") rejected.inc({ reason: event.reason });
    else if (event.type === "sessions.ended") ended.inc({ reason: event.reason }, event.sessionIds.length);
    else if (event.call === "login") logins.inc({ outcome: event.outcome });
    else if (event.call === "refreshToken") refreshes.inc({ outcome: event.outcome });
    else calls.inc({ call: event.call, outcome: event.outcome });
  });
}

const MFA_EVENTS: Partial<Record<AuthCall, string>> = {
  startTotpEnrollment: "enroll",
  confirmTotpEnrollment: "confirm",
  disableTotp: "disable",
  completeLogin: "complete",
  stepUp: "step_up",
  finishPasskeyRegistration: "passkey_register",
  removePasskey: "passkey_remove",
  finishPasskeyLogin: "passkey_login",
};

function countMail(mail: NonNullable<MetricsSources["mail"]>, registry: Registry): void {
  const outcomes = {
    sent: new Counter({
      name: "keyway_mails_sent_total",
      help: "mails the SMTP server (or the development outbox) accepted, by kind",
      labelNames: ["kind"],
      registers: [registry],
    }),
    retried: new Counter({
      name: "keyway_mails_retried_total",
      help: "mail deliveries that failed and were put back for a retry, by kind",
      labelNames: ["kind"],
      registers: [registry],
    }),
    failed: new Counter({
      name: "keyway_mails_failed_total",
      help: "mails given up on (their link ended or expired, or delivery kept failing past their lifetime), by kind",
      labelNames: ["kind"],
      registers: [registry],
    }),
  };
  mail.subscribe((kind, outcome) => outcomes[outcome].inc({ kind }));
  new Gauge({
    name: "keyway_mails_queued",
    help: "mails (and reset requests) in the outbox not yet sent or given up, on every instance together",
    registers: [registry],
    async collect() {
      // A database that does not answer leaves the last value rather than failing the scrape.
      const queued = await mail.queued().catch(() => null);
      if (queued !== null) this.set(queued);
    },
  });
}
