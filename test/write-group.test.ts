import { describe, expect, it } from 'vitest';
import { Group } from '../src/write-group.js';

/** A run that waits until released, noting the groups it was given. */
function gate() {
  const calls: number[][] = [];
  const releases: (() => void)[] = [];
  const run = (items: number[]) => {
    calls.push(items);
    return new Promise<number[]>((resolve) => releases.push(() => resolve(items.map((i) => i * 10))));
  };
  return { calls, run, release: () => releases.shift()?.() };
}
const tick = () => new Promise((r) => setTimeout(r, 5));

describe('Group', () => {
  it('one call at a time: a lone item goes at once, what arrives meanwhile goes together next', async () => {
    const g = gate();
    const group = new Group(g.run, { waitMs: 0, maxInFlight: 1, maxSize: 3 });
    const first = group.add(1);
    expect(g.calls).toEqual([[1]]);
    const rest = [2, 3, 4, 5].map((i) => group.add(i));
    await tick();
    expect(g.calls).toEqual([[1]]); // still waiting for the first call
    g.release();
    expect(await first).toBe(10);
    await tick();
    expect(g.calls).toEqual([[1], [2, 3, 4]]); // at most maxSize together
    g.release();
    await tick();
    expect(g.calls).toEqual([[1], [2, 3, 4], [5]]);
    g.release();
    expect(await Promise.all(rest)).toEqual([20, 30, 40, 50]);
  });

  it('without a limit, items arriving within waitMs go together and calls overlap', async () => {
    const g = gate();
    const group = new Group(g.run, { waitMs: 2 });
    const a = [1, 2].map((i) => group.add(i));
    await tick();
    const b = group.add(3);
    await tick();
    expect(g.calls).toEqual([[1, 2], [3]]);
    g.release();
    g.release();
    expect(await Promise.all([...a, b])).toEqual([10, 20, 30]);
  });

  it('a failed call fails each of its items, and the next call still runs', async () => {
    let n = 0;
    const group = new Group<number, number>(async (items) => {
      if (n++ === 0) throw new Error('down');
      return items;
    }, { waitMs: 0, maxInFlight: 1 });
    const first = group.add(1);
    const second = group.add(2);
    await expect(first).rejects.toThrow('down');
    expect(await second).toBe(2);
  });
});
