import { createHashingQueue, HashingOverloaded, type HashingQueueOptions } from "../../src/auth/hashing-queue";
import { HASHING_QUEUE_LIMITS, hashingConcurrency } from "../../src/auth/password";
import { clientLimitKey, hashingLineKey } from "../../src/auth/rate-limits";

/** A task that runs until `finish()` is called, recording when it starts. */
function controlled(started: string[], name: string) {
  let finish!: (value: string) => void;
  let fail!: (error: Error) => void;
  const done = new Promise<string>((resolve, reject) => ((finish = resolve), (fail = reject)));
  return { task: () => (started.push(name), done), finish: () => finish(name), fail: () => fail(new Error(name)) };
}

const settle = () => new Promise((resolve) => setImmediate(resolve));
const roomy: HashingQueueOptions = { concurrency: 2, maxQueued: 100, maxQueuedPerClient: 100, maxWaitMs: 60_000 };

describe("the line's bounds and keys (README: Overload, Behind proxies)", () => {
  it("keeps the documented bounds: 8 waiting per client, 64 per hashing slot, 2 s of waiting", () => {
    expect(HASHING_QUEUE_LIMITS).toEqual({ maxQueuedPerClient: 8, queuedPerSlot: 64, maxWaitMs: 2000 });
  });

  it("counts IPv4 per address and IPv6 per /64 for limits, per /48 for turns in the line", () => {
    expect(clientLimitKey("203.0.113.7")).toBe("203.0.113.7");
    expect(clientLimitKey("::ffff:203.0.113.7")).toBe("203.0.113.7");
    expect(clientLimitKey("2001:db8:1:2:aaaa::1")).toBe(clientLimitKey("2001:db8:1:2:bbbb::9"));
    expect(clientLimitKey("2001:db8:1:2::1")).not.toBe(clientLimitKey("2001:db8:1:3::1"));
    expect(hashingLineKey("2001:db8:1:2::1")).toBe(hashingLineKey("2001:db8:1:ffff::1"));
    expect(hashingLineKey("2001:db8:1::1")).not.toBe(hashingLineKey("2001:db8:2::1"));
    expect(hashingLineKey("203.0.113.7")).not.toBe(hashingLineKey("203.0.113.8"));
    expect(clientLimitKey(null)).toBe("unknown");
    expect(clientLimitKey("not an address")).toBe("unknown");
  });
});

describe("hashingConcurrency", () => {
  it("leaves one core to the event loop, shares the rest among workers, and always hashes on at least one", () => {
    expect(hashingConcurrency(1)).toBe(1);
    expect(hashingConcurrency(2)).toBe(1);
    expect(hashingConcurrency(4)).toBe(3);
    expect(hashingConcurrency(8)).toBe(7);
    expect(hashingConcurrency(8, 2)).toBe(3);
    expect(hashingConcurrency(8, 7)).toBe(1);
    expect(hashingConcurrency(2, 4)).toBe(1);
  });
});

describe("the argon2 line (createHashingQueue)", () => {
  it("runs at most `concurrency` tasks at once and starts one client's rest in arrival order", async () => {
    const queue = createHashingQueue(roomy);
    const started: string[] = [];
    const [a, b, c, d] = ["a", "b", "c", "d"].map((name) => controlled(started, name));
    const results = [a, b, c, d].map((t) => queue.run("one", t.task));
    await settle();
    expect(started).toEqual(["a", "b"]);
    expect(queue.waiting).toBe(2);
    b.finish();
    await settle();
    expect(started).toEqual(["a", "b", "c"]);
    a.finish();
    c.finish();
    d.finish();
    await expect(Promise.all(results)).resolves.toEqual(["a", "b", "c", "d"]);
  });

  it("frees the slot of a task that fails", async () => {
    const queue = createHashingQueue({ ...roomy, concurrency: 1 });
    const started: string[] = [];
    const [a, b] = ["a", "b"].map((name) => controlled(started, name));
    const first = queue.run("one", a.task);
    const second = queue.run("one", b.task);
    a.fail();
    await expect(first).rejects.toThrow("a");
    await settle();
    expect(started).toEqual(["a", "b"]);
    b.finish();
    await expect(second).resolves.toBe("b");
    // The slot is free again: a new task starts at once.
    const c = controlled(started, "c");
    void queue.run("one", c.task);
    expect(started).toEqual(["a", "b", "c"]);
    c.finish();
  });

  it("serves clients in turn: a client's one waiting call goes ahead of a flood's later ones", async () => {
    const queue = createHashingQueue({ ...roomy, concurrency: 1 });
    const started: string[] = [];
    const flood = Array.from({ length: 5 }, (_, i) => controlled(started, `flood${i}`));
    const genuine = controlled(started, "genuine");
    const running = flood.map((t) => queue.run("flooder", t.task));
    running.push(queue.run("genuine", genuine.task));
    await settle();
    expect(started).toEqual(["flood0"]);
    flood[0].finish();
    await settle();
    // The flooder was first in line, so it is served once; then it goes to the back.
    expect(started).toEqual(["flood0", "flood1"]);
    flood[1].finish();
    await settle();
    // The genuine client's turn, ahead of flood2..flood4 that arrived before it.
    expect(started).toEqual(["flood0", "flood1", "genuine"]);
    for (const t of [...flood, genuine]) t.finish();
    await Promise.all(running);
  });

  it("refuses at once past a client's bound of waiting calls", async () => {
    const queue = createHashingQueue({ concurrency: 1, maxQueued: 100, maxQueuedPerClient: 2, maxWaitMs: 60_000 });
    const started: string[] = [];
    const tasks = Array.from({ length: 4 }, (_, i) => controlled(started, `t${i}`));
    const accepted = [tasks[0], tasks[1], tasks[2]].map((t) => queue.run("a", t.task)); // one runs, two wait
    const refused = queue.run("a", tasks[3].task);
    await expect(refused).rejects.toBeInstanceOf(HashingOverloaded);
    await expect(refused).rejects.toMatchObject({ retryAfterSeconds: 60 });
    expect(queue.waiting).toBe(2);
    for (const t of tasks) t.finish();
    await Promise.all(accepted);
    expect(started).toEqual(["t0", "t1", "t2"]);
  });

  it("when the line is full, a newcomer takes the newest place of the longest line; equal lines refuse it", async () => {
    const queue = createHashingQueue({ concurrency: 1, maxQueued: 3, maxQueuedPerClient: 10, maxWaitMs: 60_000 });
    const started: string[] = [];
    const task = (name: string) => controlled(started, name);
    const a = ["a0", "a1", "a2", "a3"].map(task);
    const aRuns = a.map((t) => queue.run("a", t.task)); // a0 runs; a1..a3 fill the line
    const b = task("b");
    const bRun = queue.run("b", b.task); // a3 gives way
    await expect(aRuns[3]).rejects.toBeInstanceOf(HashingOverloaded);
    const c = task("c");
    const cRun = queue.run("c", c.task); // a (2 waiting) gives way again: a2
    await expect(aRuns[2]).rejects.toBeInstanceOf(HashingOverloaded);
    expect(queue.waiting).toBe(3); // a1, b, c: one each
    const d = task("d");
    await expect(queue.run("d", d.task)).rejects.toBeInstanceOf(HashingOverloaded);
    for (const t of [...a, b, c, d]) t.finish();
    await Promise.all([aRuns[0], aRuns[1], bRun, cRun]);
    expect(started).toEqual(["a0", "a1", "b", "c"]);
  });

  it("refuses a call that could not start within maxWaitMs, and never starts it later", async () => {
    jest.useFakeTimers();
    try {
      const queue = createHashingQueue({ concurrency: 1, maxQueued: 10, maxQueuedPerClient: 10, maxWaitMs: 2000 });
      const started: string[] = [];
      const [slow, late] = ["slow", "late"].map((name) => controlled(started, name));
      const first = queue.run("a", slow.task);
      const second = queue.run("b", late.task);
      jest.advanceTimersByTime(1999);
      expect(queue.waiting).toBe(1);
      jest.advanceTimersByTime(1);
      await expect(second).rejects.toMatchObject({ name: "HashingOverloaded", retryAfterSeconds: 2 });
      expect(queue.waiting).toBe(0);
      slow.finish();
      await first;
      expect(started).toEqual(["slow"]);
    } finally {
      jest.useRealTimers();
    }
  });
});
