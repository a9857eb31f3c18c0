import { interquartileMean } from "../helpers/timing";

describe("interquartileMean", () => {
  it("averages the middle half and ignores the outer quarters", () => {
    expect(interquartileMean([1, 2, 3, 4, 5, 6, 7, 1000])).toBe(4.5);
    expect(interquartileMean([-1000, 10, 20, 30])).toBe(15);
    expect(interquartileMean([7])).toBe(7);
    expect(() => interquartileMean([])).toThrow("no samples");
  });

  it("moves in proportion when samples of two modes trade places, where the median jumps", () => {
    const modes = (fast: number) => [...Array<number>(fast).fill(10), ...Array<number>(100 - fast).fill(20)];
    const median = (values: number[]) => [...values].sort((a, b) => a - b)[Math.floor(values.length / 2)];
    // Four samples out of a hundred move from the slow mode to the fast one.
    expect(median(modes(48)) / median(modes(52))).toBe(2);
    // The middle half (the 26th to the 75th sample) holds 23 fast ones, then 27.
    expect(interquartileMean(modes(48))).toBeCloseTo((23 * 10 + 27 * 20) / 50, 10);
    expect(interquartileMean(modes(52))).toBeCloseTo((27 * 10 + 23 * 20) / 50, 10);
  });
});
