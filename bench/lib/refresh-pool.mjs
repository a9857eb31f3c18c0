// Rotating refresh tokens under load without ever presenting one twice: a pool
// of current refresh tokens, one per session. Each request takes one and puts
// back its successor, so with one request in flight per connection no token is
// used twice (which keyway would rightly treat as theft). Requests still in
// flight when autocannon stops are never answered to us: their tokens are
// presented once more right away, inside keyway's reuse grace window
// (REFRESH_REUSE_GRACE, 10 s), which answers with the session's current token.
import { load } from "./load.mjs";
import { post } from "./open-loop.mjs";

const BODY = JSON.stringify({ query: "mutation { refreshToken { accessToken } }" });

/** `tokens`: the sessions' current refresh tokens; the pool takes them over and keeps them current. */
export function refreshPool(tokens, log = () => {}) {
  // First in, first out: a rotated session goes to the back, so every session takes its turn.
  let idle = [...tokens];
  let head = 0;
  const take = () => {
    if (head === idle.length) return undefined;
    const token = idle[head++];
    if (head > 4096 && head * 2 > idle.length) ((idle = idle.slice(head)), (head = 0));
    return token;
  };
  return {
    get size() {
      return idle.length - head;
    },
    /** One refresh (for bench/lib/open-loop.mjs): true when it rotated; the session stays in the pool either way. */
    async once(url) {
      const token = take();
      if (token === undefined) return false;
      let rotated = null;
      try {
        return await post(url, BODY, { "x-refresh-token": token }, (response) => {
          rotated = response.headers.get("x-refresh-token");
          return rotated !== null;
        });
      } finally {
        idle.push(rotated ?? (await redeem(url, token).catch(() => null)) ?? token);
      }
    },
    /** autocannon load of refreshToken; `options` as load()'s (url, connections, seconds, overallRate). */
    async run(options) {
      const inFlight = new Set();
      try {
        return await load({
          ...options,
          body: BODY,
          headersFor(context) {
            context.token = take() ?? "exhausted.pool";
            inFlight.add(context.token);
            return { "x-refresh-token": context.token };
          },
          onAnswer(status, answer, headers, context) {
            inFlight.delete(context.token);
            const rotated = headers["x-refresh-token"];
            if (status !== 200 || answer.includes('"errors"') || !rotated) {
              if (process.env.BENCH_DEBUG) log(`refresh failed: ${status} ${answer.slice(0, 300)}`);
              return false;
            }
            idle.push(rotated);
            return true;
          },
        });
      } finally {
        for (const token of inFlight) idle.push((await redeem(options.url, token)) ?? token);
      }
    },
  };
}

/** The session's current refresh token, asked for with one it may already have rotated. */
async function redeem(url, token) {
  const response = await fetch(url, {
    method: "POST",
    headers: { "content-type": "application/json", "x-refresh-token": token },
    body: BODY,
  });
  await response.text();
  return response.headers.get("x-refresh-token");
}
