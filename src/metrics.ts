// One Prometheus registry per server, so several servers in one process (tests)
// do not collide on metric names.
import { collectDefaultMetrics, Counter, Gauge, Histogram, Registry } from "prom-client";

export interface Metrics {
  registry: Registry;
  httpRequests: Counter<"method" | "route" | "status">;
  httpDuration: Histogram<"method" | "route">;
}

export interface MetricsSources {
  /** 1 up, 0 down, absent when Redis is not configured. */
  redisUp?: () => number;
  revokedSessions: () => number;
}

export function createMetrics(sources: MetricsSources): Metrics {
  const registry = new Registry();
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
  return {
    registry,
    httpRequests: new Counter({
      name: "keyway_http_requests_total",
      help: "HTTP requests by method, route and status code",
      labelNames: ["method", "route", "status"],
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
