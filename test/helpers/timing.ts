// Comparing the time of two kinds of request, as an attacker probing one request at
// a time would, on a machine that other test files share.

/**
 * The mean of the middle half of the samples. Request times here fall in modes (a
 * commit that waits on the disk or does not, a collection or none); with two modes
 * near half each, the median jumps from one to the other when a few samples move,
 * and a round of identical work read as 0.6 or 1.13. This mean moves in proportion
 * to the samples that moved, and still ignores the slowest and fastest quarter.
 */
export function interquartileMean(values: number[]): number {
  if (values.length === 0) throw new Error("no samples");
  const sorted = [...values].sort((a, b) => a - b);
  const from = Math.floor(sorted.length / 4);
  const middle = sorted.slice(from, Math.max(from + 1, sorted.length - from));
  return middle.reduce((sum, value) => sum + value, 0) / middle.length;
}

export interface TimingComparison {
  /** Names in the log line. */
  names: [string, string];
  /** Times one request of each kind, in milliseconds. */
  measure: [() => Promise<number>, () => Promise<number>];
  /** Requests of each kind per round. */
  trials: number;
  /** The largest accepted |second / first - 1|. */
  tolerance: number;
  /** Runs before each round (new accounts to probe, say); not timed. */
  prepare?: () => Promise<void>;
  /** Rounds at most; every round after the first judges all samples so far. */
  rounds?: number;
}

/**
 * Times both kinds in one shuffled order per round, so drift in the machine's load
 * falls on both alike and what precedes a request is as often of either kind. A round
 * outside the tolerance is followed by another, judged on every sample so far: noise
 * averages out, a real difference stays. Returns second / first of the last judgement.
 */
export async function compareTimings(comparison: TimingComparison): Promise<number> {
  const { names, measure, trials, tolerance, prepare, rounds = 3 } = comparison;
  const samples: [number[], number[]] = [[], []];
  let ratio = Number.NaN;
  for (let round = 0; round < rounds && !(Math.abs(ratio - 1) <= tolerance); round++) {
    await prepare?.();
    const order = [...Array<number>(trials).fill(0), ...Array<number>(trials).fill(1)];
    for (let i = order.length - 1; i > 0; i--) {
      const j = Math.floor(Math.random() * (i + 1));
      [order[i], order[j]] = [order[j], order[i]];
    }
    for (const kind of order) samples[kind].push(await measure[kind]());
    const [first, second] = samples.map(interquartileMean);
    ratio = second / first;
    console.log(
      `${names[1]} / ${names[0]} over ${samples[0].length} trials each so far: interquartile mean ` +
        `${first.toFixed(2)} ms and ${second.toFixed(2)} ms, ratio ${ratio.toFixed(3)} ` +
        `(medians ${median(samples[0]).toFixed(2)} and ${median(samples[1]).toFixed(2)} ms)`,
    );
  }
  return ratio;
}

const median = (values: number[]) => [...values].sort((a, b) => a - b)[Math.floor(values.length / 2)];
