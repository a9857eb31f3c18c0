// Load and fault runs go to this machine only. A PostgreSQL URL is read as pg reads
// it (a `?host=` parameter overrides the URL's host), and a refusal names the host,
// never the URL: it may carry a password.
import { createRequire } from "node:module";

const { parse } = createRequire(import.meta.url)("pg-connection-string");
const LOOPBACK = new Set(["127.0.0.1", "localhost", "::1", "[::1]"]);

/** Throws unless `url` (postgres:// or redis://) connects to this machine. */
export function assertLoopback(url, what) {
  const { host, hostaddr } = url.startsWith("redis") ? { host: new URL(url).hostname } : parse(url);
  if (!LOOPBACK.has(host ?? "") || (hostaddr !== undefined && !LOOPBACK.has(hostaddr)))
    throw new Error(`${what} runs against 127.0.0.1 only, not ${hostaddr ?? (host || "(no host)")}`);
}
