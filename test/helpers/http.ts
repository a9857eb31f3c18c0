// Calling a running keyway over real HTTP, as clients do. Every password and token
// that passes through is recorded for the end-of-run log search (log-capture.ts).
import { recordPasswords, recordSecret } from "./log-capture";

export interface GraphQLResponse<T = Record<string, unknown>> {
  status: number;
  body: { data?: T | null; errors?: Array<{ message: string; extensions?: Record<string, unknown> }> };
  headers: Headers;
  /** Raw Set-Cookie lines of this response. */
  setCookies: string[];
}

export interface GraphQLCallOptions {
  variables?: Record<string, unknown>;
  headers?: Record<string, string>;
  accessToken?: string;
  cookie?: string;
  operationName?: string;
}

export async function callGraphQL<T = Record<string, unknown>>(
  baseUrl: string,
  query: string,
  options: GraphQLCallOptions = {},
): Promise<GraphQLResponse<T>> {
  const headers: Record<string, string> = { "content-type": "application/json", ...options.headers };
  if (options.accessToken) headers.authorization = `Bearer ${options.accessToken}`;
  if (options.cookie) headers.cookie = options.cookie;
  recordPasswords(options.variables);
  recordSecret(/^bearer ([\w-]+\.[\w-]+\.[\w-]+)$/i.exec(headers.authorization ?? "")?.[1]);
  const response = await fetch(`${baseUrl}/graphql`, {
    method: "POST",
    headers,
    body: JSON.stringify({ query, variables: options.variables, operationName: options.operationName }),
  });
  const text = await response.text();
  const result = {
    status: response.status,
    body: JSON.parse(text),
    headers: response.headers,
    setCookies: response.headers.getSetCookie(),
  };
  recordTokens(result);
  return result;
}

function recordTokens(response: GraphQLResponse): void {
  recordSecret(response.headers.get("x-refresh-token"));
  for (const line of response.setCookies) recordSecret(parseSetCookie(line).value);
  for (const payload of Object.values(response.body.data ?? {})) {
    if (payload && typeof payload === "object" && "accessToken" in payload) recordSecret(String(payload.accessToken));
  }
}

export interface ParsedCookie {
  name: string;
  value: string;
  attributes: Record<string, string | true>;
}

export function parseSetCookie(line: string): ParsedCookie {
  const [pair = "", ...rest] = line.split(";").map((part) => part.trim());
  const eq = pair.indexOf("=");
  const attributes: Record<string, string | true> = {};
  for (const attribute of rest) {
    const at = attribute.indexOf("=");
    if (at === -1) attributes[attribute.toLowerCase()] = true;
    else attributes[attribute.slice(0, at).toLowerCase()] = attribute.slice(at + 1);
  }
  return { name: pair.slice(0, eq), value: pair.slice(eq + 1), attributes };
}

/** The first error's code and reason, for compact assertions. */
export function errorOf(response: GraphQLResponse): { code?: unknown; reason?: unknown } | undefined {
  const error = response.body.errors?.[0];
  return error ? { code: error.extensions?.code, reason: error.extensions?.reason } : undefined;
}
