// Draining: a request already being served when shutdown begins is answered in
// full before the server closes; new connections are refused.
import { BrowserClient } from "../helpers/client";
import { startTestServer, type TestServer } from "../helpers/server";

let server: TestServer;
beforeAll(async () => {
  server = await startTestServer();
});
afterAll(() => server.stop());

it("finishes an in-flight refresh before closing, then accepts nothing", async () => {
  const browser = new BrowserClient(server.url);
  const { user } = await browser.signUp();
  const [session] = await server.database.prisma.session.findMany({ where: { userId: user.id } });

  // Hold the session row (PostgreSQL) or the only connection (PGlite), so the refresh blocks mid-flight.
  let releaseLock!: () => void;
  const held = new Promise<void>((resolve) => (releaseLock = resolve));
  let locked!: () => void;
  const lockTaken = new Promise<void>((resolve) => (locked = resolve));
  const holder = server.database.prisma.$transaction(
    async (tx) => {
      await tx.$queryRaw`SELECT id FROM "Session" WHERE id = ${session.id}::uuid FOR UPDATE`;
      locked();
      await held;
    },
    { timeout: 30_000 },
  );
  await lockTaken;

  const refresh = browser.refresh();
  await new Promise((resolve) => setTimeout(resolve, 300));
  let closed = false;
  const closing = server.server.close().then(() => (closed = true));
  await new Promise((resolve) => setTimeout(resolve, 200));
  expect(closed).toBe(false); // still draining: the refresh has not been answered

  releaseLock();
  await holder;
  const response = await refresh;
  expect(response.status).toBe(200);
  expect(response.body.data?.refreshToken.accessToken).toEqual(expect.any(String));
  const answeredAt = Date.now();
  await closing;
  expect(Date.now() - answeredAt).toBeLessThan(2000); // no lingering keep-alive connection holds shutdown
  await expect(fetch(`${server.url}/healthz`)).rejects.toThrow();
});
