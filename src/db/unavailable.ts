// Whether an error means "the database cannot be reached" (as opposed to a bad
// query): those become SERVICE_UNAVAILABLE with status 503 instead of a masked 500.
const PRISMA_CONNECTION_CODES = new Set(["P1001", "P1002", "P1008", "P1011", "P1017", "P2024"]);
const NODE_CONNECTION_CODES = new Set([
  "ECONNREFUSED",
  "ECONNRESET",
  "ETIMEDOUT",
  "EPIPE",
  "ENOTFOUND",
  "EHOSTUNREACH",
]);
const MESSAGE_HINTS = [
  /connection terminated/i,
  /timeout exceeded when trying to connect/i,
  /Can't reach database server/i,
  /connect ECONNREFUSED/i,
  /Connection terminated unexpectedly/i,
  /the database system is (starting up|shutting down|in recovery mode|not yet accepting connections)/i,
  /terminating connection/i,
  /Client has encountered a connection error/i,
  /Query read timeout/i,
];

/**
 * SQLSTATE classes 08 (connection exception) and 57P0x (the server shutting down or
 * starting), and 53300: the server (or the role) has no connection left for us.
 */
export function isDatabaseUnavailable(error: unknown, depth = 0): boolean {
  if (!error || typeof error !== "object" || depth > 4) return false;
  const { name, code, message, cause, meta } = error as {
    name?: unknown;
    code?: unknown;
    message?: unknown;
    cause?: unknown;
    meta?: { driverAdapterError?: unknown };
  };
  if (name === "PrismaClientInitializationError") return true;
  if (
    typeof code === "string" &&
    (PRISMA_CONNECTION_CODES.has(code) || NODE_CONNECTION_CODES.has(code) || /^(08|57P0|53300$)/.test(code))
  )
    return true;
  if (typeof message === "string" && MESSAGE_HINTS.some((hint) => hint.test(message))) return true;
  // Prisma wraps what the driver adapter saw (e.g. SQLSTATE 57P03 while PostgreSQL
  // recovers after a restart) as P2039 with the original under meta, not cause.
  return isDatabaseUnavailable(cause, depth + 1) || isDatabaseUnavailable(meta?.driverAdapterError, depth + 1);
}
