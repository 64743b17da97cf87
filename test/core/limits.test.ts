// The pure holds and caps: the same mailbox, the refund-rate share compared exactly, caps that cut
// and then pay nothing, each in the reward's own currency.
import { describe, expect, it } from 'vitest';
import type { RewardDraft } from '../../src/core/commission.js';
import { applyLimits, countPayment, emptyStats, sameMailbox } from '../../src/core/limits.js';
import { CapSettings, DEFAULT_COMMISSION, FraudSettings, type ProgramRules } from '../../src/core/program.js';

const program = (fraud: unknown = {}, caps: unknown = {}): ProgramRules => ({
  id: 'p',
  type: 'affiliate',
  attributionModel: 'customer',
  currency: 'USD',
  isCurrency: true,
  reviewPeriodDays: 0,
  commission: DEFAULT_COMMISSION,
  fraud: FraudSettings.parse(fraud),
  caps: CapSettings.parse(caps),
});
const draft = (amount: string, units = 'USD'): RewardDraft => ({
  amount,
  units,
  isCurrency: true,
  status: 'ok',
  reviewEndsAt: null,
  basis: { type: 'percent', value: '20', rule: 'default' },
});
const facts = { partner: { id: 'pa', key: 'PA', email: 'Ann@Example.com' }, customerId: 'c1', payerEmail: 'buyer@example.com', currency: 'USD', occurredAt: new Date('2026-11-05T00:00:00Z') };

describe('limits', () => {
  it.each([
    ['ann@example.com', 'Ann@Example.com', true],
    ['ann+shop@example.com', 'ann@example.com', true],
    ['ann@example.org', 'ann@example.com', false],
    ['anna@example.com', 'ann@example.com', false],
    ['', 'ann@example.com', false],
  ])('sameMailbox(%s, %s) = %s', (a, b, same) => expect(sameMailbox(a, b)).toBe(same));

  it('a refunded share above the rate holds, at the rate does not, below min_payments does not', () => {
    const p = program({ refund_rate_hold: { rate: '0.25', min_payments: 4 } });
    const stats = emptyStats();
    for (let i = 0; i < 4; i++) countPayment(stats, 'pa', 'USD', 1000n);
    stats.refunds.get('pa|USD')!.refundedMinor = 1000n; // exactly a quarter
    expect(applyLimits(p, draft('5'), facts, stats).holdReason).toBeNull();
    stats.refunds.get('pa|USD')!.refundedMinor = 1001n;
    expect(applyLimits(p, draft('5'), facts, stats)).toMatchObject({ holdReason: 'refund_rate', draft: { status: 'review_period', reviewEndsAt: null } });
    // the share is taken in the payment's currency: EUR refunds say nothing of USD
    expect(applyLimits(p, draft('5'), { ...facts, currency: 'EUR' }, stats).holdReason).toBeNull();
    const few = emptyStats();
    for (let i = 0; i < 3; i++) countPayment(few, 'pa', 'USD', 1000n);
    few.refunds.get('pa|USD')!.refundedMinor = 3000n;
    expect(applyLimits(p, draft('5'), facts, few).holdReason).toBeNull();
  });

  it('caps cut exactly, then leave nothing, per customer and per month, in the reward’s units only', () => {
    const p = program({}, { max_per_customer: { USD: '10.005' }, max_per_partner_per_month: { USD: '12' } });
    const stats = emptyStats();
    expect(applyLimits(p, draft('6.5'), facts, stats)).toMatchObject({ draft: { amount: '6.5' }, cappedFrom: null });
    expect(applyLimits(p, draft('6.5'), facts, stats)).toMatchObject({ draft: { amount: '3.505' }, cappedFrom: '6.5' });
    expect(applyLimits(p, draft('6.5'), facts, stats)).toMatchObject({ draft: null, cappedFrom: '6.5' });
    // another customer: only the month's cap is left (12 - 10.005)
    expect(applyLimits(p, draft('6.5'), { ...facts, customerId: 'c2' }, stats)).toMatchObject({ draft: { amount: '1.995' } });
    expect(applyLimits(p, draft('6.5', 'EUR'), facts, stats)).toMatchObject({ draft: { amount: '6.5' }, cappedFrom: null });
    // another month
    expect(applyLimits(p, draft('2'), { ...facts, customerId: 'c3', occurredAt: new Date('2026-12-01T00:00:00Z') }, stats).draft?.amount).toBe('2');
  });

  it('a self-referral is held unless the program turns it off', () => {
    const self = { ...facts, payerEmail: 'ann+x@example.com' };
    expect(applyLimits(program(), draft('5'), self, emptyStats()).holdReason).toBe('self_referral');
    expect(applyLimits(program({ self_referral_hold: false }), draft('5'), self, emptyStats()).holdReason).toBeNull();
  });
});
