// Small parsers for configuration values. Each returns a value or a message that
// says what was accepted, so config.ts can report every problem at once.
import { isIP } from "node:net";

export type Parsed<T> = { ok: true; value: T } | { ok: false; accepts: string };

const DURATION_UNITS: Record<string, number> = { s: 1, m: 60, h: 3600, d: 86400 };

export const DURATION_ACCEPTS =
  "whole seconds (900) or a number with one unit s/m/h/d (30s, 15m, 12h, 30d), above zero";

/** Integer seconds, or a number with one unit: `30s`, `15m`, `12h`, `30d`. */
export function parseDuration(raw: string): Parsed<number> {
  const match = /^(\d{1,9})([smhd]?)$/.exec(raw.trim());
  const accepts = DURATION_ACCEPTS;
  if (!match) return { ok: false, accepts };
  const seconds = Number(match[1]) * (DURATION_UNITS[match[2] || "s"] ?? 1);
  return seconds > 0 ? { ok: true, value: seconds } : { ok: false, accepts };
}

export interface RateLimit {
  points: number;
  durationSeconds: number;
}

/** `count/duration`, e.g. `10/15m`. */
export function parseRateLimit(raw: string): Parsed<RateLimit> {
  const accepts = "a count and a window, like 10/15m or 600/1m";
  const [count, window, ...rest] = raw.trim().split("/");
  if (rest.length > 0 || !count || !window || !/^\d{1,9}$/.test(count)) return { ok: false, accepts };
  const duration = parseDuration(window);
  const points = Number(count);
  if (!duration.ok || points < 1) return { ok: false, accepts };
  return { ok: true, value: { points, durationSeconds: duration.value } };
}

export function parseBoolean(raw: string): Parsed<boolean> {
  const value = raw.trim().toLowerCase();
  if (["true", "1", "yes", "on"].includes(value)) return { ok: true, value: true };
  if (["false", "0", "no", "off"].includes(value)) return { ok: true, value: false };
  return { ok: false, accepts: "true or false" };
}

export function parsePort(raw: string): Parsed<number> {
  const value = Number(raw.trim());
  return /^\d{1,5}$/.test(raw.trim()) && value <= 65535
    ? { ok: true, value }
    : { ok: false, accepts: "a port number from 0 to 65535" };
}

/** A parser of whole numbers of `what` from `min` to `max`, written with at most as many digits as `max`. */
export function parseWholeNumber(min: number, max: number, what: string): (raw: string) => Parsed<number> {
  const digits = new RegExp(`^\\d{1,${String(max).length}}$`);
  return (raw) => {
    const value = Number(raw);
    return digits.test(raw.trim()) && value >= min && value <= max
      ? { ok: true, value }
      : { ok: false, accepts: `a whole number of ${what} from ${min} to ${max}` };
  };
}

/**
 * Whose `X-Forwarded-For` to believe: `true`/`false` (only those words), a hop
 * count (`1`: the one proxy in front; the client is the address it appended), or a
 * comma-separated list of proxy addresses/CIDRs. A number is never a boolean here:
 * `1` read as `true` would take the left-most entry, which the client writes.
 */
export function parseTrustProxy(raw: string): Parsed<boolean | number | string[]> {
  const value = raw.trim().toLowerCase();
  if (value === "true") return { ok: true, value: true };
  if (value === "false") return { ok: true, value: false };
  if (/^\d{1,2}$/.test(value)) return { ok: true, value: Number(value) };
  const list = splitList(raw);
  return list.length > 0 && list.every(isAddressOrCidr)
    ? { ok: true, value: list }
    : { ok: false, accepts: "true, false, a hop count (0-99), or a comma-separated list of IP addresses/CIDRs" };
}

/** Dotted-quad IPv4 or IPv6, optionally with a prefix length that fits it ("100" or "0x7f.1" are not addresses here). */
function isAddressOrCidr(entry: string): boolean {
  const [address = "", prefix, ...rest] = entry.split("/");
  const family = isIP(address);
  if (family === 0 || rest.length > 0) return false;
  return prefix === undefined || (/^\d{1,3}$/.test(prefix) && Number(prefix) <= (family === 4 ? 32 : 128));
}

/** Exact origins (`https://app.example.com`); wildcards are refused because credentials are allowed. */
export function parseOrigins(raw: string): Parsed<string[]> {
  const accepts = "a comma-separated list of origins like https://app.example.com (no wildcards, no paths)";
  const origins = splitList(raw);
  for (const origin of origins) {
    let url: URL;
    try {
      url = new URL(origin);
    } catch {
      return { ok: false, accepts };
    }
    if (!["http:", "https:"].includes(url.protocol) || url.origin !== origin) return { ok: false, accepts };
  }
  return { ok: true, value: origins };
}

export interface SubgraphEndpoint {
  name: string;
  url: string;
}

export function parseSubgraphs(raw: string): Parsed<SubgraphEndpoint[]> {
  const accepts = "name=url pairs separated by commas, like notes=http://127.0.0.1:4001/graphql";
  const result: SubgraphEndpoint[] = [];
  for (const pair of splitList(raw)) {
    const eq = pair.indexOf("=");
    const name = pair.slice(0, eq).trim();
    const url = pair.slice(eq + 1).trim();
    if (eq < 1 || !/^[A-Za-z][A-Za-z0-9_-]*$/.test(name) || !/^https?:\/\//.test(url)) return { ok: false, accepts };
    if (result.some((entry) => entry.name === name)) return { ok: false, accepts: `${accepts}, each name once` };
    result.push({ name, url });
  }
  return { ok: true, value: result };
}

export function splitList(raw: string): string[] {
  return raw
    .split(",")
    .map((entry) => entry.trim())
    .filter((entry) => entry.length > 0);
}
