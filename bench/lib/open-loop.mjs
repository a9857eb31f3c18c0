// Load at a constant arrival rate (open loop): requests start on schedule whether or
// not earlier ones have been answered, and each latency counts from when its request
// was due, so a stall shows as the latency of every request it delayed, not as fewer
// requests (what a closed loop such as autocannon's reports: coordinated omission).

/** Requests in flight at most; past it an arrival is counted as dropped rather than started. */
const MAX_IN_FLIGHT = 4000;

/**
 * `kinds`: { name: { share, send } }, where send() makes one request and resolves
 * true for a right answer. Arrivals are spread over the kinds by share, at random.
 * Resolves, per kind, { completed, failures, dropped, requestsPerSecond, p50, p99 }
 * once every started request has finished: `completed` and the rate (over the
 * arrival window) count right answers only, and so do the latencies — a refusal
 * answered at once must not lower them; `failures` counts the rest and the dropped.
 */
export async function openLoop({ rate, seconds, kinds }) {
  const entries = Object.entries(kinds);
  const totalShare = entries.reduce((sum, [, kind]) => sum + kind.share, 0);
  const results = Object.fromEntries(
    entries.map(([name]) => [name, { completed: 0, failures: 0, dropped: 0, latencies: [] }]),
  );
  const pick = () => {
    let roll = Math.random() * totalShare;
    for (const [name, kind] of entries) if ((roll -= kind.share) < 0) return name;
    return entries[0][0];
  };
  const inFlight = new Set();
  const begun = performance.now();
  let started = 0;
  while (performance.now() - begun < seconds * 1000) {
    const due = Math.floor(((performance.now() - begun) / 1000) * rate);
    for (; started < due; started++) {
      const name = pick();
      const result = results[name];
      if (inFlight.size >= MAX_IN_FLIGHT) {
        result.dropped++;
        continue;
      }
      const dueAt = begun + (started / rate) * 1000;
      const request = kinds[name]
        .send()
        .catch(() => false)
        .then((ok) => {
          if (ok) {
            result.completed++;
            result.latencies.push(performance.now() - dueAt);
          } else result.failures++;
          inFlight.delete(request);
        });
      inFlight.add(request);
    }
    await new Promise((resolve) => setTimeout(resolve, 2));
  }
  await Promise.all(inFlight);
  return Object.fromEntries(
    Object.entries(results).map(([name, { completed, failures, dropped, latencies }]) => {
      latencies.sort((a, b) => a - b);
      const at = (q) =>
        latencies.length ? latencies[Math.min(latencies.length - 1, Math.floor(q * latencies.length))] : NaN;
      return [
        name,
        {
          completed,
          failures: failures + dropped,
          dropped,
          requestsPerSecond: completed / seconds,
          p50: Math.round(at(0.5)),
          p99: Math.round(at(0.99)),
        },
      ];
    }),
  );
}

/** One POST of a GraphQL body; true for a 200 without errors. `onAnswer(response, text)` may add its own check. */
export async function post(url, body, headers, onAnswer) {
  const response = await fetch(url, {
    method: "POST",
    headers: { "content-type": "application/json", ...headers },
    body,
  });
  const text = await response.text();
  if (response.status !== 200 || text.includes('"errors"')) return false;
  return onAnswer ? onAnswer(response, text) : true;
}
