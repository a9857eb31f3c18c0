// Steady client load for fault tests: every request is timed and recorded, and a
// hang is cut off (and recorded as such) instead of stalling the test.
import { DEFAULT_PASSWORD, LOGIN, ME, REFRESH_HEADER, REFRESH_TOKEN, signUp } from "./auth";

export type Operation = "login" | "refreshToken" | "me" | "readyz";

export interface Sample {
  op: Operation;
  startedAt: number;
  endedAt: number;
  /** HTTP status, or 0 when no answer came before the cut-off (or the connection failed). */
  status: number;
  code?: string;
  /** Set when the request got no HTTP answer at all. */
  failure?: string;
}

export interface CallResult {
  sample: Sample;
  body?: { data?: Record<string, unknown> | null; errors?: Array<{ extensions?: Record<string, unknown> }> };
  headers?: Headers;
}

export async function timedGraphQL(
  baseUrl: string,
  op: Exclude<Operation, "readyz">,
  query: string,
  init: { variables?: Record<string, unknown>; headers?: Record<string, string>; cutOffMs: number },
): Promise<CallResult> {
  const startedAt = Date.now();
  try {
    const response = await fetch(`${baseUrl}/graphql`, {
      method: "POST",
      headers: { "content-type": "application/json", ...init.headers },
      body: JSON.stringify({ query, variables: init.variables }),
      signal: AbortSignal.timeout(init.cutOffMs),
    });
    const body = (await response.json()) as CallResult["body"];
    const code = body?.errors?.[0]?.extensions?.code;
    return {
      sample: {
        op,
        startedAt,
        endedAt: Date.now(),
        status: response.status,
        code: typeof code === "string" ? code : undefined,
      },
      body,
      headers: response.headers,
    };
  } catch (error) {
    return {
      sample: {
        op,
        startedAt,
        endedAt: Date.now(),
        status: 0,
        failure: (error as Error).name + ": " + (error as Error).message,
      },
    };
  }
}

export function timedMe(baseUrl: string, accessToken: string, cutOffMs: number): Promise<CallResult> {
  return timedGraphQL(baseUrl, "me", ME, { headers: { authorization: `Bearer ${accessToken}` }, cutOffMs });
}

export async function timedReadyz(baseUrl: string, cutOffMs: number): Promise<Sample> {
  const startedAt = Date.now();
  try {
    const response = await fetch(`${baseUrl}/readyz`, { signal: AbortSignal.timeout(cutOffMs) });
    await response.arrayBuffer();
    return { op: "readyz", startedAt, endedAt: Date.now(), status: response.status };
  } catch (error) {
    return { op: "readyz", startedAt, endedAt: Date.now(), status: 0, failure: (error as Error).message };
  }
}

export interface LoadUser {
  email: string;
  /** An access token issued before any fault, kept for calling `me`. */
  accessToken: string;
  /** The user's own client address, sent as X-Forwarded-For: keyway runs with TRUST_PROXY=127.0.0.1 (LOAD_PROXY_ENV). */
  address: string;
}

/** keyway's settings for a load of users at addresses of their own: the test is the proxy in front of it. */
export const LOAD_PROXY_ENV = { TRUST_PROXY: "127.0.0.1" } as const;

/** A client address of its own for the n-th user of a load (10.0.0.0/16). */
export const loadAddress = (n: number): string => `10.0.${(n >> 8) & 255}.${n & 255}`;

/** Signs up `count` load users, each at an address of its own, as real users are. */
export async function signUpLoadUsers(baseUrl: string, count: number): Promise<LoadUser[]> {
  const accounts = await Promise.all(
    Array.from({ length: count }, (_, n) =>
      signUp(baseUrl, undefined, DEFAULT_PASSWORD, {
        headers: { [REFRESH_HEADER]: "1", "x-forwarded-for": loadAddress(n) },
      }).then((account) => ({
        email: account.email,
        accessToken: account.accessToken,
        address: loadAddress(n),
      })),
    ),
  );
  return accounts;
}

/**
 * One virtual user until `stop()` is true: login (cookieless) → refreshToken with the
 * token just received → me with the fresh access token, and `me` with the token
 * issued before the fault. A failed step ends the round; the next round starts over.
 */
export async function runUserLoop(
  baseUrl: string,
  user: LoadUser,
  samples: Sample[],
  stop: () => boolean,
  cutOffMs: number,
): Promise<void> {
  const cookieless = { [REFRESH_HEADER]: "1", "x-forwarded-for": user.address };
  while (!stop()) {
    const early = await timedMe(baseUrl, user.accessToken, cutOffMs);
    samples.push(early.sample);
    const login = await timedGraphQL(baseUrl, "login", LOGIN, {
      variables: { input: { email: user.email, password: DEFAULT_PASSWORD } },
      headers: cookieless,
      cutOffMs,
    });
    samples.push(login.sample);
    const refreshToken = login.headers?.get(REFRESH_HEADER);
    if (login.sample.status !== 200 || !refreshToken) {
      await pause(50); // a refused round should not turn into a tight loop
      continue;
    }
    const rotated = await timedGraphQL(baseUrl, "refreshToken", REFRESH_TOKEN, {
      headers: { [REFRESH_HEADER]: refreshToken, "x-forwarded-for": user.address },
      cutOffMs,
    });
    samples.push(rotated.sample);
    const payload = rotated.body?.data?.refreshToken as { accessToken?: string } | undefined;
    if (rotated.sample.status !== 200 || !payload?.accessToken) continue;
    const me = await timedMe(baseUrl, payload.accessToken, cutOffMs);
    samples.push(me.sample);
  }
}

export function pause(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}
