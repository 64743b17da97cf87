// Commission settings are bounded: a percent pays at most the whole sale, a fixed amount at most
// MAX_FIXED; compared exactly on the decimal text, for the program's rate and for every rule.
import { describe, expect, it } from 'vitest';
import { CommissionRate, CommissionRule, CommissionSettings, MAX_FIXED, MAX_PERCENT, decimalAbove } from '../../src/core/program.js';

const issues = (r: { success: boolean; error?: { issues: { path: PropertyKey[]; message: string }[] } }) =>
  (r.error?.issues ?? []).map((i) => `${i.path.join('.')}: ${i.message}`);

describe('the bounds', () => {
  it('are all of the sale for a percent, and a million for a fixed amount', () => {
    expect(MAX_PERCENT).toBe(100n);
    expect(MAX_FIXED).toBe(1_000_000n);
  });
});

describe('CommissionRate: a percent is at most 100, a fixed amount at most 1000000', () => {
  const PERCENT = 'value: the value of a percent commission is at most 100';
  const FIXED = "value: the value of a fixed commission is at most 1000000 (in the program's currency or unit)";
  it.each([
    ['percent 0', 'percent', '0', null],
    ['percent 20', 'percent', '20', null],
    ['percent 99.999999999999', 'percent', '99.999999999999', null],
    ['percent 100, all of the sale', 'percent', '100', null],
    ['percent 100.000000000000, trailing zeros', 'percent', '100.000000000000', null],
    ['percent 0100, a leading zero', 'percent', '0100', null],
    ['percent 100.000000000001, just above', 'percent', '100.000000000001', PERCENT],
    ['percent 100.1', 'percent', '100.1', PERCENT],
    ['percent 101', 'percent', '101', PERCENT],
    ['percent 1000000, as the issue reported', 'percent', '1000000', PERCENT],
    ['percent with fifteen digits, beyond a double', 'percent', '999999999999999.999999999999', PERCENT],
    ['fixed 0.01', 'fixed', '0.01', null],
    ['fixed 5000', 'fixed', '5000', null],
    ['fixed 1000000, the maximum', 'fixed', '1000000', null],
    ['fixed 1000000.000, trailing zeros', 'fixed', '1000000.000', null],
    ['fixed 1000000.000000000001, just above', 'fixed', '1000000.000000000001', FIXED],
    ['fixed 1000001', 'fixed', '1000001', FIXED],
    ['fixed 100000000, minor units by mistake', 'fixed', '100000000', FIXED],
  ] as const)('%s', (_label, type, value, error) => {
    const r = CommissionRate.safeParse({ type, value });
    expect(issues(r)).toEqual(error ? [error] : []);
  });

  it('leaves malformed values to the decimal check alone', () => {
    expect(issues(CommissionRate.safeParse({ type: 'percent', value: '-5' }))).toEqual(['value: a non-negative decimal such as "30" or "12.50"']);
    expect(issues(CommissionRate.safeParse({ type: 'percent', value: '1e9' }))).toEqual(['value: a non-negative decimal such as "30" or "12.50"']);
  });
});

describe('the bound holds for each rule and for the program commission', () => {
  it.each([
    ['a rule above 100 percent', { type: 'percent', value: '20', rules: [{ partner: 'p', type: 'percent', value: '150' }] }, ['rules.0.value']],
    ['the second rule, fixed above the maximum', { type: 'percent', value: '20', rules: [{ product_id: 'x', type: 'fixed', value: '5' }, { product_type: 'y', type: 'fixed', value: '2000000' }] }, ['rules.1.value']],
    ['the program commission above 100 percent', { type: 'percent', value: '1000000' }, ['value']],
    ['both, each named', { type: 'fixed', value: '1000000.5', rules: [{ partner: 'p', type: 'percent', value: '100.5' }] }, ['rules.0.value', 'value']],
    ['within the bounds', { type: 'fixed', value: '1000000', rules: [{ partner: 'p', type: 'percent', value: '100' }] }, []],
  ])('%s', (_label, settings, paths) => {
    const r = CommissionSettings.safeParse(settings);
    expect((r.error?.issues ?? []).map((i) => i.path.join('.')).sort()).toEqual(paths);
  });

  it('a rule still has to name what it matches', () => {
    expect(issues(CommissionRule.safeParse({ type: 'percent', value: '101' }))).toEqual([
      'value: the value of a percent commission is at most 100',
      ': a rule names a product_id, a product_type or a partner',
    ]);
  });
});

describe('decimalAbove compares the decimal text exactly', () => {
  it.each([
    ['100', 100n, false],
    ['100.0', 100n, false],
    ['100.000000000001', 100n, true],
    ['99.999999999999', 100n, false],
    ['101', 100n, true],
    ['000100', 100n, false],
    // past a double's precision: as a float this equals the bound
    ['1000000.000000000001', 1_000_000n, true],
    ['999999999999999', 1_000_000n, true],
  ] as const)('%s above %s: %s', (value, max, above) => {
    expect(decimalAbove(value, max)).toBe(above);
  });
});
