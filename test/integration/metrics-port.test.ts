// METRICS_PORT moves /metrics to a listener of its own, so a deployment can keep
// login, refusal and revocation counts off the public port and scrape them from a
// private network; the public port then answers /metrics with 404.
import { signUp, uniqueEmail } from "../helpers/auth";
import { startTestServer, type TestServer } from "../helpers/server";

let server: TestServer;
beforeAll(async () => {
  server = await startTestServer({ env: { METRICS_PORT: "0" } });
});
afterAll(() => server?.stop());

it("serves /metrics only on the metrics port", async () => {
  await signUp(server.url, uniqueEmail("metrics"));
  const metricsUrl = server.server.metricsUrl;
  expect(metricsUrl).toMatch(/^http:\/\/127\.0\.0\.1:\d+\/metrics$/);
  expect(new URL(metricsUrl!).port).not.toBe(new URL(server.url).port);
  const scraped = await fetch(metricsUrl!);
  expect(scraped.status).toBe(200);
  expect(await scraped.text()).toMatch(/keyway_auth_calls_total\{call="signUp",outcome="success"\} 1/);
  const publicAnswer = await fetch(`${server.url}/metrics`);
  expect(publicAnswer.status).toBe(404);
  // Nothing else lives on the metrics port.
  expect((await fetch(metricsUrl!.replace(/\/metrics$/, "/graphql"))).status).toBe(404);
});

it("binds the metrics port to METRICS_HOST when it is set", async () => {
  const elsewhere = await startTestServer({ env: { METRICS_PORT: "0", METRICS_HOST: "127.0.0.2" } });
  try {
    expect(elsewhere.server.metricsUrl).toMatch(/^http:\/\/127\.0\.0\.2:\d+\/metrics$/);
    expect((await fetch(elsewhere.server.metricsUrl!)).status).toBe(200);
    const port = new URL(elsewhere.server.metricsUrl!).port;
    await expect(fetch(`http://127.0.0.1:${port}/metrics`)).rejects.toThrow();
  } finally {
    await elsewhere.stop();
  }
});

it("keeps /metrics on the public port when METRICS_PORT is unset", async () => {
  const plain = await startTestServer();
  try {
    expect(plain.server.metricsUrl).toBeNull();
    expect((await fetch(`${plain.url}/metrics`)).status).toBe(200);
  } finally {
    await plain.stop();
  }
});
