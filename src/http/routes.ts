// Operational routes: liveness, readiness, metrics and the public keys.
import type { FastifyInstance } from "fastify";
import type { KeySet } from "../token/keys";
import type { Metrics } from "../metrics";

export interface OperationalRoutesOptions {
  keys: KeySet;
  metrics: Metrics;
  /** Whether the database answers; never throws. */
  isDatabaseReady(): Promise<boolean>;
  /** Redis is shared state, not a dependency: its state is reported, never a reason for 503. */
  redisState(): "up" | "down" | "disabled";
  /** False when /metrics has a listener of its own (METRICS_PORT). */
  serveMetrics: boolean;
}

export function registerOperationalRoutes(app: FastifyInstance, options: OperationalRoutesOptions): void {
  app.get("/healthz", async () => ({ status: "ok" }));

  app.get("/readyz", async (_request, reply) => {
    const database = (await options.isDatabaseReady()) ? "up" : "down";
    return reply
      .code(database === "up" ? 200 : 503)
      .send({ status: database === "up" ? "ok" : "unavailable", database, redis: options.redisState() });
  });

  if (options.serveMetrics) registerMetricsRoute(app, options.metrics);

  app.get("/.well-known/jwks.json", async (_request, reply) => {
    // keyway/subgraph refetches when this runs out: 15 s sees a new key at least once before it signs
    // (published ≥ 25 s ahead) and stops trusting a key that left within 15 s.
    return reply.header("cache-control", "public, max-age=15").send(options.keys.jwks());
  });
}

export function registerMetricsRoute(app: FastifyInstance, metrics: Metrics): void {
  app.get("/metrics", async (_request, reply) => {
    const body = await metrics.registry.metrics();
    return reply.type(metrics.registry.contentType).send(body);
  });
}
