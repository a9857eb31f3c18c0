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
}

export function registerOperationalRoutes(app: FastifyInstance, options: OperationalRoutesOptions): void {
  app.get("/healthz", async () => ({ status: "ok" }));

  app.get("/readyz", async (_request, reply) => {
    const database = (await options.isDatabaseReady()) ? "up" : "down";
    return reply
      .code(database === "up" ? 200 : 503)
      .send({ status: database === "up" ? "ok" : "unavailable", database, redis: options.redisState() });
  });

  app.get("/metrics", async (_request, reply) => {
    const body = await options.metrics.registry.metrics();
    return reply.type(options.metrics.registry.contentType).send(body);
  });

  app.get("/.well-known/jwks.json", async (_request, reply) => {
    // Short caching: verifiers refetch on an unknown kid anyway, and rotation should spread quickly.
    return reply.header("cache-control", "public, max-age=300").send(options.keys.jwks());
  });
}
