// The client's address as far as keyway can know it. Behind proxies that comes
// from X-Forwarded-For, which only the configured proxies may speak for; whatever
// it yields is checked, because a trusted chain can still carry a value the
// client wrote (TRUST_PROXY=true believes every entry).
import { isIP } from "node:net";
import type { FastifyServerOptions } from "fastify";
import ipaddr from "ipaddr.js";

/** The longest address keyway stores (Session.ip). */
const MAX_ADDRESS_LENGTH = 64;

/**
 * Fastify's trustProxy for the configured value. Fastify 5 refuses a bare hop count
 * (it cannot tell the proxy from a client that reached keyway directly), so the
 * hop count becomes the classic rule: the `hops` nearest addresses are proxies and
 * the next one is the client. README says when a hop count is safe.
 */
export function trustProxyOption(value: boolean | number | string[]): FastifyServerOptions["trustProxy"] {
  if (typeof value === "number") return (_address: string, hop: number) => hop < value;
  return value;
}

/** Some proxies append `a.b.c.d:port` or `[v6]:port`; the port says nothing about the client. */
const WITH_PORT = /^(?:\[([0-9A-Fa-f:.]+)\](?::\d{1,5})?|(\d{1,3}(?:\.\d{1,3}){3}):\d{1,5})$/;

/** A well-formed IP address in canonical form (IPv4-mapped IPv6 as IPv4, any port dropped), or null. */
export function canonicalAddress(raw: string | undefined): string | null {
  if (!raw || raw.length > MAX_ADDRESS_LENGTH) return null;
  const ported = WITH_PORT.exec(raw);
  const bare = ported ? (ported[1] ?? ported[2]) : raw;
  if (isIP(bare) === 0) return null;
  let address = ipaddr.parse(bare);
  if (address instanceof ipaddr.IPv6 && address.isIPv4MappedAddress()) address = address.toIPv4Address();
  const text = address.toString();
  return text.length <= MAX_ADDRESS_LENGTH ? text : null;
}
