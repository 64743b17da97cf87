import { describe, expect, it } from 'vitest';
import { reducedReward, refundedTotal, type KnownRefund } from '../../src/core/refund.js';

const id = (n: number): KnownRefund => ({ amountMinor: BigInt(n), cumulative: false });
const running = (n: number): KnownRefund => ({ amountMinor: BigInt(n), cumulative: true });
const full: KnownRefund = { amountMinor: null, cumulative: false };

describe('refundedTotal', () => {
  it.each<[string, KnownRefund[], number, boolean]>([
    ['no refunds', [], 0, false],
    ['one partial refund', [id(1500)], 1500, false],
    ['two partial refunds add up', [id(1500), id(2000)], 3500, false],
    ['partials reaching the amount are a full refund', [id(1500), id(3400)], 4900, true],
    ['more than the amount is capped', [id(4000), id(4000)], 4900, true],
    ['a whole-payment refund', [full], 4900, true],
    ['a running total alone', [running(1500)], 1500, false],
    ['a running total and the same refund by id count once', [running(1500), id(1500)], 1500, false],
    ['by id first, running total after: still once', [id(1500), running(1500)], 1500, false],
    ['running totals only raise the total', [running(2500), running(1500)], 2500, false],
    ['a later refund known only by id adds beyond the running total', [running(1500), id(1500), id(1000)], 2500, false],
    ['a running total ahead of the ids wins', [id(1500), running(2500)], 2500, false],
    ['a running total of the whole amount deletes', [running(4900)], 4900, true],
  ])('%s', (_label, known, total, isFull) => {
    expect(refundedTotal(4900n, known)).toEqual({ refundedMinor: BigInt(total), full: isFull });
  });
});

describe('reducedReward', () => {
  it.each([
    ['nothing refunded keeps the reward', '14.7', 0n, '14.7'],
    ['a third refunded keeps two thirds, exact to the reward scale', '14.7', 1633n, '9.8'],
    ['half of a three-decimal reward, rounded half to even', '29.997', 2450n, '14.998'],
    ['all refunded leaves nothing', '14.7', 4900n, '0'],
  ])('%s', (_label, original, refunded, expected) => {
    expect(reducedReward({ amount: original, units: 'USD', isCurrency: true }, 4900n, refunded)).toBe(expected);
  });
});
