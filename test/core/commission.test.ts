import { describe, expect, it } from 'vitest';
import {
  addMonthsUTC,
  computeCommission,
  type CommissionInput,
  type CommissionResult,
  type RewardDraft,
} from '../../src/core/commission.js';
import { MoneyError } from '../../src/core/money.js';
import type { CommissionSettings, ProgramRules } from '../../src/core/program.js';

const OCCURRED = new Date('2024-03-10T12:00:00.000Z');
const JUST_AFTER = new Date('2024-03-10T12:00:05.000Z');
const DAY = 86_400_000;

type ProgramPatch = Partial<Omit<ProgramRules, 'commission'>> & { commission?: Partial<CommissionSettings> };

function program(patch: ProgramPatch = {}): ProgramRules {
  const { commission, ...rest } = patch;
  return {
    id: 'prog_1',
    type: 'affiliate',
    attributionModel: 'customer',
    currency: 'USD',
    isCurrency: true,
    reviewPeriodDays: 0,
    ...rest,
    commission: { type: 'percent', value: '30', rules: [], lifetime: { kind: 'all' }, ...commission },
  };
}

function input(patch: Partial<CommissionInput> = {}): CommissionInput {
  return {
    amount: { minor: 9999n, currency: 'USD' },
    product: { id: 'prod_basic', type: 'subscription' },
    partnerKey: 'alice',
    occurredAt: OCCURRED,
    customerFirstPaymentAt: null,
    now: JUST_AFTER,
    ...patch,
  };
}

const pay = (minor: bigint, currency: string) => ({ amount: { minor, currency } });

type Basis = [type: 'percent' | 'fixed', value: string, rule: 'default' | number];
type Expected =
  | { reason: Exclude<CommissionResult['reason'], null> }
  | {
      amount: string;
      units: string;
      basis: Basis;
      isCurrency?: boolean; // default true
      status?: RewardDraft['status']; // default 'ok'
      reviewEndsAt?: Date | null; // default null
    };

type Case = { label: string; program?: ProgramPatch; input?: Partial<CommissionInput>; expected: Expected };

function expectedResult(e: Expected): CommissionResult {
  if ('reason' in e) return { rewards: [], reason: e.reason };
  const [type, value, rule] = e.basis;
  return {
    rewards: [
      {
        amount: e.amount,
        units: e.units,
        isCurrency: e.isCurrency ?? true,
        status: e.status ?? 'ok',
        reviewEndsAt: e.reviewEndsAt ?? null,
        basis: { type, value, rule },
      },
    ],
    reason: null,
  };
}

const pct = (value: string) => ({ commission: { type: 'percent' as const, value } });
const fixed = (value: string, currency = 'USD') => ({ currency, commission: { type: 'fixed' as const, value } });

// Rules used by the precedence cases. Payment product: prod_basic / subscription; partner: alice.
const byType = { type: 'percent', value: '11', product_type: 'subscription' } as const;
const byId = { type: 'percent', value: '12', product_id: 'prod_basic' } as const;
const byIdAndType = { type: 'percent', value: '13', product_id: 'prod_basic', product_type: 'subscription' } as const;
const byPartner = { type: 'percent', value: '14', partner: 'alice' } as const;
const byPartnerAndId = { type: 'percent', value: '16', partner: 'alice', product_id: 'prod_basic' } as const;
const byOtherPartnerAndId = { type: 'percent', value: '99', partner: 'bob', product_id: 'prod_basic' } as const;
const otherProductId = { type: 'percent', value: '98', product_id: 'prod_other' } as const;

const monthsProgram = (months: number) => ({ commission: { lifetime: { kind: 'months' as const, months } } });
const at = (iso: string) => new Date(iso);

const cases: Case[] = [
  // ---- percent, in the payment's currency ----
  { label: '30% of 99.99 USD is 29.997', expected: { amount: '29.997', units: 'USD', basis: ['percent', '30', 'default'] } },
  {
    label: '20% of 100.00 EUR is 20 EUR',
    program: pct('20'),
    input: pay(10000n, 'EUR'),
    expected: { amount: '20', units: 'EUR', basis: ['percent', '20', 'default'] },
  },
  {
    label: 'lower-case payment code "eur" is reported as EUR',
    program: pct('20'),
    input: pay(2550n, 'eur'),
    expected: { amount: '5.1', units: 'EUR', basis: ['percent', '20', 'default'] },
  },
  {
    label: '10% of 5000 JPY is 500 JPY',
    program: pct('10'),
    input: pay(5000n, 'JPY'),
    expected: { amount: '500', units: 'JPY', basis: ['percent', '10', 'default'] },
  },
  {
    label: '15% of 3333 KRW is 499.95 KRW',
    program: pct('15'),
    input: pay(3333n, 'KRW'),
    expected: { amount: '499.95', units: 'KRW', basis: ['percent', '15', 'default'] },
  },
  {
    label: '12.5% of 12.345 BHD is 1.543125',
    program: pct('12.5'),
    input: pay(12345n, 'BHD'),
    expected: { amount: '1.543125', units: 'BHD', basis: ['percent', '12.5', 'default'] },
  },
  {
    label: '7% of 1.000 KWD is 0.07',
    program: pct('7'),
    input: pay(1000n, 'KWD'),
    expected: { amount: '0.07', units: 'KWD', basis: ['percent', '7', 'default'] },
  },
  {
    label: '33.333% of 1.0000 CLF is 0.33333',
    program: pct('33.333'),
    input: pay(10000n, 'CLF'),
    expected: { amount: '0.33333', units: 'CLF', basis: ['percent', '33.333', 'default'] },
  },
  {
    label: '5% of 0.0001 CLF is 0.000005',
    program: pct('5'),
    input: pay(1n, 'CLF'),
    expected: { amount: '0.000005', units: 'CLF', basis: ['percent', '5', 'default'] },
  },
  {
    label: '0.1% of 0.01 USD is 0.00001',
    program: pct('0.1'),
    input: pay(1n, 'USD'),
    expected: { amount: '0.00001', units: 'USD', basis: ['percent', '0.1', 'default'] },
  },
  {
    label: '33.333% of 100.00 USD is 33.333',
    program: pct('33.333'),
    input: pay(10000n, 'USD'),
    expected: { amount: '33.333', units: 'USD', basis: ['percent', '33.333', 'default'] },
  },
  {
    label: '12.50% of 80.00 USD is 10 (basis keeps "12.50")',
    program: pct('12.50'),
    input: pay(8000n, 'USD'),
    expected: { amount: '10', units: 'USD', basis: ['percent', '12.50', 'default'] },
  },
  {
    label: '100% of 0.01 USD is 0.01',
    program: pct('100'),
    input: pay(1n, 'USD'),
    expected: { amount: '0.01', units: 'USD', basis: ['percent', '100', 'default'] },
  },
  {
    label: 'percent in a EUR program on a GBP payment is paid in GBP',
    program: { currency: 'EUR', ...pct('10') },
    input: pay(1999n, 'GBP'),
    expected: { amount: '1.999', units: 'GBP', basis: ['percent', '10', 'default'] },
  },

  // ---- fixed, in the program's currency ----
  {
    label: 'fixed 5 USD on a 99.99 USD payment is 5 USD',
    program: fixed('5'),
    expected: { amount: '5', units: 'USD', basis: ['fixed', '5', 'default'] },
  },
  {
    label: 'fixed 0.5 USD is 0.5',
    program: fixed('0.5'),
    expected: { amount: '0.5', units: 'USD', basis: ['fixed', '0.5', 'default'] },
  },
  {
    label: 'fixed 12.50 EUR on a 5000 JPY payment is 12.5 EUR',
    program: fixed('12.50', 'EUR'),
    input: pay(5000n, 'JPY'),
    expected: { amount: '12.5', units: 'EUR', basis: ['fixed', '12.50', 'default'] },
  },
  {
    label: 'fixed 500 JPY on a 10.00 USD payment is 500 JPY',
    program: fixed('500', 'JPY'),
    input: pay(1000n, 'USD'),
    expected: { amount: '500', units: 'JPY', basis: ['fixed', '500', 'default'] },
  },
  {
    label: 'fixed 0.125 KWD on a 20.00 EUR payment is 0.125 KWD',
    program: fixed('0.125', 'KWD'),
    input: pay(2000n, 'EUR'),
    expected: { amount: '0.125', units: 'KWD', basis: ['fixed', '0.125', 'default'] },
  },
  {
    label: 'fixed 3 in a program configured as "usd" is reported as USD',
    program: fixed('3', 'usd'),
    expected: { amount: '3', units: 'USD', basis: ['fixed', '3', 'default'] },
  },

  // ---- rule precedence: partner 4, product_id 2, product_type 1; ties → first listed ----
  {
    label: 'a product_type rule overrides the default',
    program: { commission: { rules: [byType] } },
    input: pay(10000n, 'USD'),
    expected: { amount: '11', units: 'USD', basis: ['percent', '11', 0] },
  },
  {
    label: 'product_id beats product_type, whatever the order',
    program: { commission: { rules: [byType, byId] } },
    input: pay(10000n, 'USD'),
    expected: { amount: '12', units: 'USD', basis: ['percent', '12', 1] },
  },
  {
    label: 'product_id + product_type beats product_id alone',
    program: { commission: { rules: [byId, byIdAndType, byType] } },
    input: pay(10000n, 'USD'),
    expected: { amount: '13', units: 'USD', basis: ['percent', '13', 1] },
  },
  {
    label: 'partner beats product_id + product_type',
    program: { commission: { rules: [byIdAndType, byPartner] } },
    input: pay(10000n, 'USD'),
    expected: { amount: '14', units: 'USD', basis: ['percent', '14', 1] },
  },
  {
    label: 'partner + product_id beats partner alone',
    program: { commission: { rules: [byPartner, byPartnerAndId, byIdAndType] } },
    input: pay(10000n, 'USD'),
    expected: { amount: '16', units: 'USD', basis: ['percent', '16', 1] },
  },
  {
    label: 'tie between two product_type rules: the first listed wins',
    program: { commission: { rules: [otherProductId, { ...byType, value: '21' }, { ...byType, value: '22' }] } },
    input: pay(10000n, 'USD'),
    expected: { amount: '21', units: 'USD', basis: ['percent', '21', 1] },
  },
  {
    label: 'a rule for another partner does not match (falls back to product_type)',
    program: { commission: { rules: [byOtherPartnerAndId, byType] } },
    input: pay(10000n, 'USD'),
    expected: { amount: '11', units: 'USD', basis: ['percent', '11', 1] },
  },
  {
    label: 'a product rule does not match a payment without a product',
    program: { commission: { rules: [byId, byType, byIdAndType] } },
    input: { ...pay(10000n, 'USD'), product: undefined },
    expected: { amount: '30', units: 'USD', basis: ['percent', '30', 'default'] },
  },
  {
    label: 'a fixed rule in a percent program pays in the program currency',
    program: {
      currency: 'EUR',
      commission: { rules: [{ type: 'fixed', value: '7.25', product_type: 'subscription' }] },
    },
    input: pay(10000n, 'USD'),
    expected: { amount: '7.25', units: 'EUR', basis: ['fixed', '7.25', 0] },
  },

  // ---- non-monetary programs ----
  {
    label: '10% of 49.00 USD is 4.9 points',
    program: { currency: 'points', isCurrency: false, ...pct('10') },
    input: pay(4900n, 'USD'),
    expected: { amount: '4.9', units: 'points', isCurrency: false, basis: ['percent', '10', 'default'] },
  },
  {
    label: '10% of 5000 JPY is 500 points',
    program: { currency: 'points', isCurrency: false, ...pct('10') },
    input: pay(5000n, 'JPY'),
    expected: { amount: '500', units: 'points', isCurrency: false, basis: ['percent', '10', 'default'] },
  },
  {
    label: '12.5% of 12.345 BHD is 1.543125 points',
    program: { currency: 'points', isCurrency: false, ...pct('12.5') },
    input: pay(12345n, 'BHD'),
    expected: { amount: '1.543125', units: 'points', isCurrency: false, basis: ['percent', '12.5', 'default'] },
  },
  {
    label: 'fixed 25 credits on a 99.99 USD payment is 25 credits',
    program: { isCurrency: false, ...fixed('25', 'credits') },
    expected: { amount: '25', units: 'credits', isCurrency: false, basis: ['fixed', '25', 'default'] },
  },

  // ---- lifetime ----
  {
    label: 'lifetime all: a customer paying for 5 years is still rewarded',
    input: { customerFirstPaymentAt: at('2019-01-01T00:00:00Z') },
    expected: { amount: '29.997', units: 'USD', basis: ['percent', '30', 'default'] },
  },
  {
    label: 'lifetime first: the first payment is rewarded',
    program: { commission: { lifetime: { kind: 'first' } } },
    expected: { amount: '29.997', units: 'USD', basis: ['percent', '30', 'default'] },
  },
  {
    label: 'lifetime first: a repeat payment is not',
    program: { commission: { lifetime: { kind: 'first' } } },
    input: { customerFirstPaymentAt: at('2024-03-10T11:59:59Z') },
    expected: { reason: 'lifetime_first_only' },
  },
  {
    label: 'lifetime 12 months: the first payment itself is rewarded',
    program: monthsProgram(12),
    expected: { amount: '29.997', units: 'USD', basis: ['percent', '30', 'default'] },
  },
  {
    label: 'lifetime 12 months: 11 months in is rewarded',
    program: monthsProgram(12),
    input: { customerFirstPaymentAt: at('2023-04-10T12:00:00Z') },
    expected: { amount: '29.997', units: 'USD', basis: ['percent', '30', 'default'] },
  },
  {
    label: 'lifetime 12 months: exactly 12 months later is rewarded (boundary included)',
    program: monthsProgram(12),
    input: { customerFirstPaymentAt: at('2023-03-10T12:00:00Z') },
    expected: { amount: '29.997', units: 'USD', basis: ['percent', '30', 'default'] },
  },
  {
    label: 'lifetime 12 months: 1 ms past 12 months is expired',
    program: monthsProgram(12),
    input: { customerFirstPaymentAt: at('2023-03-10T11:59:59.999Z') },
    expected: { reason: 'lifetime_expired' },
  },
  {
    label: 'lifetime 1 month: Jan 31 → Feb 29 (leap year) is the last day',
    program: monthsProgram(1),
    input: { customerFirstPaymentAt: at('2024-01-31T10:00:00Z'), occurredAt: at('2024-02-29T10:00:00Z') },
    expected: { amount: '29.997', units: 'USD', basis: ['percent', '30', 'default'] },
  },
  {
    label: 'lifetime 1 month: Jan 31 → Feb 29 one ms later is expired',
    program: monthsProgram(1),
    input: { customerFirstPaymentAt: at('2024-01-31T10:00:00Z'), occurredAt: at('2024-02-29T10:00:00.001Z') },
    expected: { reason: 'lifetime_expired' },
  },
  {
    label: 'lifetime 1 month: Jan 31 2023 → Mar 1 2023 is expired (Feb 28 is the end)',
    program: monthsProgram(1),
    input: { customerFirstPaymentAt: at('2023-01-31T00:00:00Z'), occurredAt: at('2023-03-01T00:00:00Z') },
    expected: { reason: 'lifetime_expired' },
  },
  {
    label: 'lifetime 3 months: Nov 30 2023 → Feb 29 2024 (year rollover, clamped) is rewarded',
    program: monthsProgram(3),
    input: { customerFirstPaymentAt: at('2023-11-30T23:00:00Z'), occurredAt: at('2024-02-29T23:00:00Z') },
    expected: { amount: '29.997', units: 'USD', basis: ['percent', '30', 'default'] },
  },

  // ---- review period ----
  {
    label: 'review period 0: ok, no end date',
    program: { reviewPeriodDays: 0 },
    expected: { amount: '29.997', units: 'USD', basis: ['percent', '30', 'default'], reviewEndsAt: null },
  },
  {
    label: 'review period 30 days: held until occurredAt + 30 days',
    program: { reviewPeriodDays: 30 },
    expected: {
      amount: '29.997',
      units: 'USD',
      basis: ['percent', '30', 'default'],
      status: 'review_period',
      reviewEndsAt: at('2024-04-09T12:00:00Z'),
    },
  },
  {
    label: 'review period 30 days: 1 ms before the end it is still held',
    program: { reviewPeriodDays: 30 },
    input: { now: at('2024-04-09T11:59:59.999Z') },
    expected: {
      amount: '29.997',
      units: 'USD',
      basis: ['percent', '30', 'default'],
      status: 'review_period',
      reviewEndsAt: at('2024-04-09T12:00:00Z'),
    },
  },
  {
    label: 'review period 30 days: exactly at the end it is ok',
    program: { reviewPeriodDays: 30 },
    input: { now: at('2024-04-09T12:00:00Z') },
    expected: {
      amount: '29.997',
      units: 'USD',
      basis: ['percent', '30', 'default'],
      reviewEndsAt: at('2024-04-09T12:00:00Z'),
    },
  },
  {
    label: 'review period 14 days: an old event replayed late is ok at once',
    program: { reviewPeriodDays: 14 },
    input: { now: at('2025-01-01T00:00:00Z') },
    expected: {
      amount: '29.997',
      units: 'USD',
      basis: ['percent', '30', 'default'],
      reviewEndsAt: at('2024-03-24T12:00:00Z'),
    },
  },

  // ---- nothing to pay ----
  { label: 'no partner: nothing', input: { partnerKey: null }, expected: { reason: 'no_partner' } },
  {
    label: 'no partner comes before not rewardable',
    input: { partnerKey: null, rewardable: false },
    expected: { reason: 'no_partner' },
  },
  { label: 'not rewardable: nothing', input: { rewardable: false }, expected: { reason: 'not_rewardable' } },
  { label: 'credited partner archived: nothing', input: { partnerArchived: true }, expected: { reason: 'partner_archived' } },
  { label: 'paying customer archived: nothing', input: { customerArchived: true }, expected: { reason: 'customer_archived' } },
  {
    label: 'no partner comes before archived',
    input: { partnerKey: null, partnerArchived: true, customerArchived: true },
    expected: { reason: 'no_partner' },
  },
  {
    label: 'archived comes before not rewardable',
    input: { partnerArchived: true, rewardable: false },
    expected: { reason: 'partner_archived' },
  },
  {
    label: 'rewardable true explicitly: rewarded',
    input: { rewardable: true },
    expected: { amount: '29.997', units: 'USD', basis: ['percent', '30', 'default'] },
  },
  { label: 'zero payment: nothing', input: pay(0n, 'USD'), expected: { reason: 'zero_amount' } },
  {
    label: 'zero payment in a fixed program: nothing',
    program: fixed('5'),
    input: pay(0n, 'USD'),
    expected: { reason: 'zero_amount' },
  },
  {
    label: 'a 0% rule (product excluded): nothing',
    program: { commission: { rules: [{ ...byType, value: '0' }] } },
    expected: { reason: 'zero_amount' },
  },

  // ---- huge amounts, exact ----
  {
    label: '30% of 9_000_000_000_000_000 USD minor is 27000000000000',
    input: pay(9_000_000_000_000_000n, 'USD'),
    expected: { amount: '27000000000000', units: 'USD', basis: ['percent', '30', 'default'] },
  },
  {
    label: '33.333% of 9_000_000_000_000_001 USD minor is 29999700000000.0033333',
    program: pct('33.333'),
    input: pay(9_000_000_000_000_001n, 'USD'),
    expected: { amount: '29999700000000.0033333', units: 'USD', basis: ['percent', '33.333', 'default'] },
  },
  {
    label: '33.333% of 9_000_000_000_000_000 JPY is 2999970000000000',
    program: pct('33.333'),
    input: pay(9_000_000_000_000_000n, 'JPY'),
    expected: { amount: '2999970000000000', units: 'JPY', basis: ['percent', '33.333', 'default'] },
  },
  {
    label: '12.5% of 9223372036854775.807 BHD (max bigint) is 1152921504606846.975875',
    program: pct('12.5'),
    input: pay(9_223_372_036_854_775_807n, 'BHD'),
    expected: { amount: '1152921504606846.975875', units: 'BHD', basis: ['percent', '12.5', 'default'] },
  },
  {
    label: '0.000000000001% of 0.01 USD is 0.0000000000000001',
    program: pct('0.000000000001'),
    input: pay(1n, 'USD'),
    expected: { amount: '0.0000000000000001', units: 'USD', basis: ['percent', '0.000000000001', 'default'] },
  },
  {
    label: 'fixed 999999999999999.999999999999 USD is exact',
    program: fixed('999999999999999.999999999999'),
    expected: {
      amount: '999999999999999.999999999999',
      units: 'USD',
      basis: ['fixed', '999999999999999.999999999999', 'default'],
    },
  },
];

describe('computeCommission', () => {
  it.each(cases)('$label', ({ program: p, input: i, expected }) => {
    expect(computeCommission(program(p), input(i))).toStrictEqual(expectedResult(expected));
  });

  it('has at least 30 table cases', () => {
    expect(cases.length).toBeGreaterThanOrEqual(30);
  });

  it('throws MoneyError for an unknown payment currency, even with nobody to credit', () => {
    for (const partnerKey of ['alice', null]) {
      const run = () => computeCommission(program(), input({ ...pay(100n, 'ZZZ'), partnerKey }));
      expect(run).toThrow(MoneyError);
      expect(run).toThrow(/unknown currency code "ZZZ"/);
    }
  });

  it('throws MoneyError for an unknown program currency', () => {
    expect(() => computeCommission(program(fixed('5', 'QQQ')), input())).toThrow(MoneyError);
  });

  it('counts MGA in ISO 4217 hundredths, not base-5 subunits', () => {
    const result = computeCommission(program(), input(pay(1000n, 'MGA')));
    expect(result.rewards[0]?.amount).toBe('3');
    expect(result.rewards[0]?.units).toBe('MGA');
  });

  it('does not mutate its inputs and returns fresh dates', () => {
    const p = program({ reviewPeriodDays: 3 });
    const i = input();
    const snapshot = () => JSON.stringify({ p, i }, (_k, v: unknown) => (typeof v === 'bigint' ? String(v) : v));
    const before = snapshot();
    const result = computeCommission(p, i);
    expect(snapshot()).toBe(before);
    expect(result.rewards[0]?.reviewEndsAt).not.toBe(i.occurredAt);
    expect(i.occurredAt.toISOString()).toBe('2024-03-10T12:00:00.000Z');
  });
});

describe('addMonthsUTC', () => {
  it.each([
    ['2024-01-31T10:00:00.000Z', 1, '2024-02-29T10:00:00.000Z'],
    ['2023-01-31T10:00:00.000Z', 1, '2023-02-28T10:00:00.000Z'],
    ['2023-11-30T23:59:59.999Z', 3, '2024-02-29T23:59:59.999Z'],
    ['2024-03-31T00:00:00.000Z', 1, '2024-04-30T00:00:00.000Z'],
    ['2024-02-29T00:00:00.000Z', 12, '2025-02-28T00:00:00.000Z'],
    ['2024-05-15T08:30:00.000Z', 1200, '2124-05-15T08:30:00.000Z'],
  ])('%s + %i months is %s', (from, months, to) => {
    expect(addMonthsUTC(new Date(from), months).toISOString()).toBe(to);
  });
});

describe('review period arithmetic', () => {
  it('adds whole days of 24 h in UTC', () => {
    const result = computeCommission(program({ reviewPeriodDays: 1 }), input({ now: new Date(OCCURRED.getTime() + DAY - 1) }));
    expect(result.rewards[0]?.status).toBe('review_period');
    expect(result.rewards[0]?.reviewEndsAt?.toISOString()).toBe('2024-03-11T12:00:00.000Z');
  });
});
