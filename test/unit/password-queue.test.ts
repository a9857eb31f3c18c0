import { limitConcurrency, MAX_CONCURRENT_HASHES } from "../../src/auth/password";

/** A task that runs until `finish()` is called, recording when it starts. */
function controlled(started: string[], name: string) {
  let finish!: (value: string) => void;
  let fail!: (error: Error) => void;
  const done = new Promise<string>((resolve, reject) => ((finish = resolve), (fail = reject)));
  return { task: () => (started.push(name), done), finish: () => finish(name), fail: () => fail(new Error(name)) };
}

const settle = () => new Promise((resolve) => setImmediate(resolve));

describe("limitConcurrency (the argon2 queue)", () => {
  it("leaves at least one core to the event loop, and hashes on at least one", () => {
    expect(MAX_CONCURRENT_HASHES).toBeGreaterThanOrEqual(1);
  });

  it("runs at most `max` tasks at once and starts the rest in arrival order", async () => {
    const run = limitConcurrency(2);
    const started: string[] = [];
    const [a, b, c, d] = ["a", "b", "c", "d"].map((name) => controlled(started, name));
    const results = [a, b, c, d].map((t) => run(t!.task));
    await settle();
    expect(started).toEqual(["a", "b"]);
    b!.finish();
    await settle();
    expect(started).toEqual(["a", "b", "c"]);
    a!.finish();
    c!.finish();
    d!.finish();
    await expect(Promise.all(results)).resolves.toEqual(["a", "b", "c", "d"]);
  });

  it("frees the slot of a task that fails", async () => {
    const run = limitConcurrency(1);
    const started: string[] = [];
    const [a, b] = ["a", "b"].map((name) => controlled(started, name));
    const first = run(a!.task);
    const second = run(b!.task);
    a!.fail();
    await expect(first).rejects.toThrow("a");
    await settle();
    expect(started).toEqual(["a", "b"]);
    b!.finish();
    await expect(second).resolves.toBe("b");
    // The slot is free again: a new task starts at once.
    const c = controlled(started, "c");
    void run(c.task);
    expect(started).toEqual(["a", "b", "c"]);
    c.finish();
  });
});
