import { describe, expect, it } from 'vitest';
import { planAmountCorrection, type CorrectionFacts } from '../../src/core/plan-correction.js';
import type { ProgramRules } from '../../src/core/program.js';

const program: ProgramRules = {
  id: 'prog_1',
  type: 'affiliate',
  attributionModel: 'customer',
  currency: 'USD',
  isCurrency: true,
  reviewPeriodDays: 0,
  commission: { type: 'percent', value: '20', rules: [], lifetime: { kind: 'all' } },
};
const NOW = new Date('2026-03-02T00:00:00Z');

function facts(patch: Partial<CorrectionFacts> & { refundedMinor?: bigint } = {}): CorrectionFacts {
  const { refundedMinor, ...rest } = patch;
  return {
    transaction: { currency: 'USD', isCurrency: true, refundedMinor: refundedMinor ?? 0n, productId: null, productType: null, createdAt: new Date('2026-03-01T00:00:00Z') },
    referrerKey: 'PARTNER_A',
    customerFirstPaymentAt: null,
    liveRewardIds: ['7'],
    ...rest,
  };
}

describe('an amount correction', () => {
  it.each([
    ['the live reward takes the new amount', facts(), 2000n, { reason: null, deleted: [], updateId: '7', amount: '4' }],
    ['a reward is made when none stands', facts({ liveRewardIds: [] }), 2000n, { reason: null, deleted: [], updateId: null, amount: '4' }],
    ['what is refunded still reduces it, in proportion', facts({ refundedMinor: 500n }), 2000n, { reason: null, deleted: [], updateId: '7', amount: '3' }],
    ['an amount of zero earns nothing: the live rewards are deleted', facts({ liveRewardIds: ['7', '9'] }), 0n, { reason: 'zero_amount', deleted: ['7', '9'], updateId: undefined, amount: undefined }],
    ['nobody credited: nothing earned, nothing to delete', facts({ referrerKey: null, liveRewardIds: [] }), 2000n, { reason: 'no_partner', deleted: [], updateId: undefined, amount: undefined }],
  ] as const)('%s', (_label, f, amountMinor, expected) => {
    const plan = planAmountCorrection(program, f, amountMinor, NOW);
    expect(plan.reason).toBe(expected.reason);
    expect(plan.deleted).toEqual(expected.deleted);
    expect(plan.reward?.updateId).toBe(expected.updateId);
    expect(plan.reward?.amount).toBe(expected.amount);
  });
});
