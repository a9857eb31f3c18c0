// The line password hashes wait in. argon2 is deliberately expensive, so a few
// clients sending logins as fast as their limits allow (unknown emails are hashed
// too) could keep every hashing slot busy; an unbounded line would then make every
// genuine login wait without end while sockets and memory grow. So the line is
// bounded, and past a bound a call is refused at once:
//   - in length per client, so no client holds many places;
//   - in length overall; when it is full, a newcomer takes the place of the newest
//     call of the client with the longest line, so a flood from many clients still
//     cannot shut out one with a single login;
//   - in waiting time, so whoever gets in is answered promptly.
// Clients are served in turn (round robin by client key), so a client with one
// login waiting goes ahead of a flood's tenth.
export interface HashingQueueOptions {
  /** Hashes running at once. */
  concurrency: number;
  /** Calls waiting at most, all clients together. */
  maxQueued: number;
  /** Calls one client may have waiting. */
  maxQueuedPerClient: number;
  /** A call that could not start within this many ms is refused. */
  maxWaitMs: number;
}

/** The line is full, or this call waited too long; the caller answers RATE_LIMITED. */
export class HashingOverloaded extends Error {
  override name = "HashingOverloaded";
  constructor(readonly retryAfterSeconds: number) {
    super("password hashing is saturated");
  }
}

export interface HashingQueue {
  run<T>(client: string, task: () => Promise<T>): Promise<T>;
  /** Calls waiting now (not running). */
  readonly waiting: number;
}

interface Waiting {
  start(): void;
  refuse(error: HashingOverloaded): void;
  timer: NodeJS.Timeout;
}

export function createHashingQueue(options: HashingQueueOptions): HashingQueue {
  // Insertion order is the round-robin order: a served client moves to the back.
  const lines = new Map<string, Waiting[]>();
  let running = 0;
  let waiting = 0;
  const retryAfter = () => Math.max(1, Math.ceil(options.maxWaitMs / 1000));

  const remove = (client: string, entry: Waiting) => {
    const line = lines.get(client);
    const at = line?.indexOf(entry) ?? -1;
    if (!line || at === -1) return;
    line.splice(at, 1);
    waiting--;
    if (line.length === 0) lines.delete(client);
  };

  /** A finishing call hands its slot to the next client in turn, so `running` stays as it is. */
  const handOver = () => {
    const next = lines.entries().next();
    if (next.done) {
      running--;
      return;
    }
    const [client, line] = next.value;
    const entry = line.shift()!;
    waiting--;
    lines.delete(client);
    if (line.length > 0) lines.set(client, line);
    clearTimeout(entry.timer);
    entry.start();
  };

  const execute = async <T>(task: () => Promise<T>): Promise<T> => {
    try {
      return await task();
    } finally {
      handOver();
    }
  };

  /** Refuses the newest call of the longest line if it is longer than `client`'s would be; false if none is. */
  const makeRoomFor = (client: string): boolean => {
    let longest: [string, Waiting[]] | null = null;
    for (const entry of lines) if (!longest || entry[1].length > longest[1].length) longest = entry;
    const own = lines.get(client)?.length ?? 0;
    if (!longest || longest[1].length <= own + 1) return false;
    const evicted = longest[1].pop()!;
    waiting--;
    clearTimeout(evicted.timer);
    evicted.refuse(new HashingOverloaded(retryAfter()));
    return true;
  };

  /** Resolves when a finishing call hands this one its slot; refuses past a bound. */
  const wait = (client: string): Promise<void> => {
    const line = lines.get(client) ?? [];
    if (line.length >= options.maxQueuedPerClient) return Promise.reject(new HashingOverloaded(retryAfter()));
    if (waiting >= options.maxQueued && !makeRoomFor(client))
      return Promise.reject(new HashingOverloaded(retryAfter()));
    return new Promise<void>((start, refuse) => {
      const entry: Waiting = {
        start,
        refuse,
        timer: setTimeout(() => {
          remove(client, entry);
          refuse(new HashingOverloaded(retryAfter()));
        }, options.maxWaitMs),
      };
      line.push(entry);
      waiting++;
      lines.set(client, line);
    });
  };

  return {
    run(client, task) {
      // A free slot starts the task now, in the caller's tick.
      if (running < options.concurrency) {
        running++;
        return execute(task);
      }
      return wait(client).then(() => execute(task));
    },
    get waiting() {
      return waiting;
    },
  };
}
