// Mail through the outbox, delivered over real SMTP (test/helpers/smtp.ts): an
// SMTP outage delays mail and fails no request; a link superseded while its mail
// waited is given up rather than sent dead; two instances on one PostgreSQL send
// every mail exactly once; a claim whose holder died is taken over after its lease.
import { randomUUID } from "node:crypto";
import { performance } from "node:perf_hooks";
import { NEW_PASSWORD, metric, requestPasswordReset, resetPassword } from "../helpers/accounts";
import { DEFAULT_PASSWORD, login, signUp, uniqueEmail } from "../helpers/auth";
import { createTestDatabase, type TestDatabase } from "../helpers/database";
import { TestClock, startTestServer, type TestServer } from "../helpers/server";
import { startTestSmtp, type ReceivedMail, type TestSmtp } from "../helpers/smtp";

jest.setTimeout(60_000);

/** The request only queues a row: far below one retry (1 s), let alone nodemailer's 10 s timeouts. */
const PROMPT_MS = 1000;
const RESET_SUBJECT = "Reset your password";
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/** Polls `check` until it holds; fails with `what` after `timeoutMs`. */
async function until(what: string, check: () => Promise<boolean> | boolean, timeoutMs = 15_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`not within ${timeoutMs} ms: ${what}`);
    await sleep(50);
  }
}

const isResetTo = (email: string) => (mail: ReceivedMail) =>
  mail.to.includes(email) && mail.subject === RESET_SUBJECT && mail.token !== null;

let smtp: TestSmtp;
beforeAll(async () => {
  smtp = await startTestSmtp();
});
afterAll(() => smtp?.stop());

describe("one instance, its SMTP server down and back", () => {
  let server: TestServer;
  beforeAll(async () => {
    server = await startTestServer({ env: { SMTP_URL: smtp.url, MAIL_RETRY_BASE: "1", MAIL_POLL_INTERVAL: "1" } });
  });
  afterAll(() => server?.stop());
  afterEach(() => smtp.up().catch(() => undefined)); // a failed test leaves the server up for the next

  const queuedFor = (email: string) =>
    server.database.prisma.mail.count({ where: { recipient: email, sentAt: null, discardedAt: null } });

  it("answers at once, retries while SMTP is down, and delivers a working link once it is back", async () => {
    const account = await signUp(server.url);
    await smtp.down();
    const retriedBefore = await metric(server.url, "keyway_mails_retried_total", 'kind="password-reset"');
    const started = performance.now();
    const answer = await requestPasswordReset(server.url, account.email);
    const ms = performance.now() - started;
    expect(answer.status).toBe(200);
    expect(answer.body).toEqual({ data: { requestPasswordReset: true } });
    expect(ms).toBeLessThan(PROMPT_MS);

    // At least two failed attempts: the worker keeps trying, with backoff, while the mail stays queued.
    await until("two retries", async () => {
      const retried = await metric(server.url, "keyway_mails_retried_total", 'kind="password-reset"');
      return retried >= retriedBefore + 2;
    });
    expect(await metric(server.url, "keyway_mails_queued")).toBeGreaterThanOrEqual(1);
    expect(await queuedFor(account.email)).toBe(1);
    expect(smtp.to(account.email)).toEqual([]);

    await smtp.up();
    const mail = await smtp.waitFor(isResetTo(account.email), 15_000);
    const signedIn = await resetPassword(server.url, mail.token!);
    expect(signedIn.userId).toBe(account.userId);
    await expect(login(server.url, account.email, NEW_PASSWORD)).resolves.toMatchObject({ userId: account.userId });
    // The reset's notice follows, and the outbox empties.
    await smtp.waitFor(
      (received) => received.to.includes(account.email) && received.subject === "Your password was reset",
    );
    await until("the outbox empty", async () => (await metric(server.url, "keyway_mails_queued")) === 0);
    expect(smtp.to(account.email).filter(isResetTo(account.email))).toHaveLength(1);
  });

  it("gives up a mail whose link a newer request ended before it could be sent, and sends only the newer", async () => {
    const account = await signUp(server.url);
    const prisma = server.database.prisma;
    const resetMails = () =>
      prisma.mail.findMany({
        where: { recipient: account.email, kind: "password-reset" },
        orderBy: { createdAt: "asc" },
      });
    const failedBefore = await metric(server.url, "keyway_mails_failed_total", 'kind="password-reset"');
    await smtp.down();
    expect((await requestPasswordReset(server.url, account.email)).body.data).toEqual({ requestPasswordReset: true });
    // The first link's mail was tried (and failed) before the second request voids its link.
    await until("the first mail tried", async () => (await resetMails()).some((mail) => mail.attempts >= 1));
    expect((await requestPasswordReset(server.url, account.email)).body.data).toEqual({ requestPasswordReset: true });
    await until("the second mail queued", async () => (await resetMails()).length === 2);

    await smtp.up();
    const mail = await smtp.waitFor(isResetTo(account.email), 15_000);
    await until("both mails settled", async () => (await queuedFor(account.email)) === 0);
    await sleep(200); // a second mail already on the wire would land now
    expect(smtp.to(account.email).filter(isResetTo(account.email))).toEqual([mail]);
    const [first, second] = await resetMails();
    expect(first).toMatchObject({ sentAt: null, lastError: "its link ended before it was sent" });
    expect(first?.discardedAt).toBeInstanceOf(Date);
    expect(second).toMatchObject({ discardedAt: null });
    expect(second?.sentAt).toBeInstanceOf(Date);
    expect(mail.messageId).toBe(`<${second?.id}@keyway>`);
    expect(await metric(server.url, "keyway_mails_failed_total", 'kind="password-reset"')).toBe(failedBefore + 1);
    await expect(resetPassword(server.url, mail.token!)).resolves.toMatchObject({ userId: account.userId });
  });
});

describe("a claim whose holder died", () => {
  const LEASE_S = 5;
  let clock: TestClock;
  let server: TestServer;
  beforeAll(async () => {
    clock = new TestClock();
    server = await startTestServer({ clock, env: { SMTP_URL: smtp.url, MAIL_POLL_INTERVAL: "1" } });
  });
  afterAll(() => server?.stop());

  it("holds the mail until the lease ends, then the worker sends it", async () => {
    const account = await signUp(server.url);
    // Queued 10 s ahead of the worker's clock, so only the "dead" claim below can take it first.
    const queuedAt = new Date(clock.now() + 10_000);
    await server.stores.accounts.queueResetRequest(account.email, queuedAt, new Date(queuedAt.getTime() + 3_600_000));
    const claimed = await server.stores.accounts.claimMails(10, queuedAt, LEASE_S * 1000, randomUUID());
    expect(claimed.map((mail) => mail.recipient)).toEqual([account.email]);

    clock.advance(12); // due to the worker now, but held by the claim until queuedAt + 5 s
    await server.services.mail.drain();
    await sleep(1500); // and a poll of its own
    expect(smtp.to(account.email)).toEqual([]);
    expect(await server.database.prisma.mail.findUnique({ where: { id: claimed[0].id } })).toMatchObject({
      attempts: 1,
      sentAt: null,
      discardedAt: null,
    });

    clock.advance(4); // the lease has lapsed: the next poll takes the request over
    const mail = await smtp.waitFor(isResetTo(account.email), 10_000);
    await expect(resetPassword(server.url, mail.token!)).resolves.toMatchObject({ userId: account.userId });
    expect(smtp.to(account.email).filter(isResetTo(account.email))).toHaveLength(1);
  });
});

describe("two instances on one PostgreSQL", () => {
  const USERS = 30;
  let database: TestDatabase;
  let instances: TestServer[];
  beforeAll(async () => {
    database = await createTestDatabase({ kind: "postgres" });
    const env = { SMTP_URL: smtp.url, MAIL_POLL_INTERVAL: "1", AUTH_IP_LIMIT: "100000/1m" };
    instances = [await startTestServer({ database, env }), await startTestServer({ database, env })];
  });
  afterAll(async () => {
    for (const instance of instances ?? []) await instance.stop();
    await database?.drop();
  });

  it(`delivers ${USERS} reset mails requested across both exactly once each`, async () => {
    const on = (i: number) => instances[i % 2];
    // Straight into the store: thirty sign-ups at once would queue on the hashing line, and add nothing here.
    const passwordHash = await instances[0].services.passwords.hash(DEFAULT_PASSWORD, "test");
    const accounts = await Promise.all(
      Array.from({ length: USERS }, async () => {
        const user = await instances[0].stores.users.create({ email: uniqueEmail("outbox"), passwordHash });
        return user!;
      }),
    );
    const answers = await Promise.all(accounts.map((account, i) => requestPasswordReset(on(i).url, account.email)));
    for (const answer of answers) expect(answer.body).toEqual({ data: { requestPasswordReset: true } });
    // Both workers at once, on top of the wake-ups and polls, so their claims contend.
    await Promise.all(instances.map((instance) => instance.services.mail.drain()));
    const emails = new Set(accounts.map((account) => account.email));
    const resets = () => smtp.mails.filter((mail) => mail.subject === RESET_SUBJECT && emails.has(mail.to[0]));
    await until("every reset mail", () => new Set(resets().map((mail) => mail.to[0])).size === USERS);
    await until(
      "the outbox empty",
      async () => (await instances[0].database.prisma.mail.count({ where: { sentAt: null, discardedAt: null } })) === 0,
    );
    await sleep(500); // a duplicate already on the wire would land now

    const received = resets();
    expect(received.every((mail) => mail.to.length === 1 && mail.token !== null)).toBe(true);
    expect(new Set(received.map((mail) => mail.messageId)).size).toBe(received.length);
    const perRecipient: Record<string, number> = {};
    for (const mail of received) perRecipient[mail.to[0]] = (perRecipient[mail.to[0]] ?? 0) + 1;
    expect(perRecipient).toEqual(Object.fromEntries([...emails].map((email) => [email, 1])));
    // Each mail counted as sent by exactly one instance.
    const sent = await Promise.all(
      instances.map((instance) => metric(instance.url, "keyway_mails_sent_total", 'kind="password-reset"')),
    );
    expect(sent[0] + sent[1]).toBe(USERS);
  });
});
