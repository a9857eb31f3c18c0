// autocannon, wrapped: every benchmark checks each GraphQL answer (a 200 with
// `errors` is a failure, not a fast request) and can hand each connection its
// own credentials through a per-connection context.

// From bench/package.json, installed by ./ensure-deps.mjs, which every entry point imports first.
const { default: autocannon } = await import("autocannon");

/**
 * Runs autocannon against one URL. `headersFor(context)` gives each request its
 * headers and `bodyFor(context)`, if given, its body instead of `body`;
 * `onAnswer(status, body, headers, context)` sees the answer to that
 * same request (the same `context` object: autocannon hands a fresh one to every
 * request of a connection) and returns false for a failure.
 */
export function load({
  url,
  connections,
  seconds,
  body,
  bodyFor,
  headersFor = () => ({}),
  onAnswer = defaultCheck,
  overallRate,
}) {
  let failures = 0;
  const options = {
    url,
    connections,
    duration: seconds,
    ...(overallRate ? { overallRate } : {}),
    requests: [
      {
        method: "POST",
        body,
        setupRequest(request, context) {
          return {
            ...request,
            ...(bodyFor ? { body: bodyFor(context) } : {}),
            headers: { "content-type": "application/json", ...headersFor(context) },
          };
        },
        onResponse(status, responseBody, context, headers) {
          if (onAnswer(status, responseBody, headers, context) === false) failures++;
        },
      },
    ],
  };
  return new Promise((resolve, reject) =>
    autocannon(options, (error, result) => {
      if (error) return reject(error);
      resolve({
        requestsPerSecond: result.requests.average,
        completed: result.requests.total,
        p50: result.latency.p50,
        p99: result.latency.p99,
        failures: failures + result.errors + result.timeouts + result.non2xx,
      });
    }),
  );
}

const defaultCheck = (status, body) => status === 200 && !body.includes('"errors"');

export async function gql(url, query, { variables, headers = {} } = {}) {
  const send = () =>
    fetch(url, {
      method: "POST",
      headers: { "content-type": "application/json", ...headers },
      body: JSON.stringify({ query, variables }),
    });
  // fetch keeps the connection of an earlier call; after a long benchmark it may
  // reuse it just as the server's keep-alive timeout (72 s) closes it. Such a
  // request never reached the server, so it is sent once more on a new one.
  const response = await send().catch((error) =>
    error.cause?.code === "UND_ERR_SOCKET" ? send() : Promise.reject(error),
  );
  const answer = await response.json();
  if (answer.errors) throw new Error(`${url}: ${JSON.stringify(answer.errors)}`);
  return { data: answer.data, headers: response.headers };
}
