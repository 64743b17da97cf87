import { dinero, toDecimal } from 'dinero.js/bigint';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import {
  MAX_MINOR,
  MoneyError,
  currency,
  decimal,
  decimalText,
  exponent,
  fromMinorUnits,
  minorToDecimal,
  percentOf,
  shareOf,
  toMinorUnits,
  unit,
} from '../../src/core/money.js';

describe('toMinorUnits: decimal major units → integer minor units', () => {
  it.each([
    ['USD 59.00 is 5900 cents', '59.00', 'USD', 5900n],
    ['USD 0.01 is one cent', '0.01', 'USD', 1n],
    ['USD 59 without decimals', '59', 'USD', 5900n],
    ['USD 59.5 with one decimal', '59.5', 'USD', 5950n],
    ['USD trailing zeros beyond the exponent are exact', '59.000', 'USD', 5900n],
    ['lower-case code as Stripe sends it', '12.34', 'usd', 1234n],
    ['EUR 99.99', '99.99', 'EUR', 9999n],
    ['JPY 5000 has no minor unit', '5000', 'JPY', 5000n],
    ['JPY 5000.00 is still 5000', '5000.00', 'JPY', 5000n],
    ['KRW 39000 has no minor unit', '39000', 'KRW', 39000n],
    ['KWD 1.234 has three decimals', '1.234', 'KWD', 1234n],
    ['BHD 12.345 is 12345 fils', '12.345', 'BHD', 12345n],
    ['BHD 12.3 is 12300 fils', '12.3', 'BHD', 12300n],
    ['CLF 1.2345 has four decimals', '1.2345', 'CLF', 12345n],
    ['zero', '0', 'USD', 0n],
    ['a negative amount (refund lines)', '-59.00', 'USD', -5900n],
    ['surrounding white space is ignored', ' 1.50 ', 'GBP', 150n],
    ['a large amount stays exact', '90071992547409.93', 'USD', 9007199254740993n],
    ['a JSON number with an exact decimal text', 19.99, 'USD', 1999n],
  ])('%s', (_label, value, code, expected) => {
    expect(toMinorUnits(value, code)).toBe(expected);
  });

  it.each([
    ['USD with three significant decimals', '1.005', 'USD', 'too_many_decimals'],
    ['JPY with a fraction', '1.5', 'JPY', 'too_many_decimals'],
    ['KWD with four decimals', '1.2345', 'KWD', 'too_many_decimals'],
    ['an unknown currency code', '1.00', 'XYZ', 'unknown_currency'],
    ['an empty currency code', '1.00', '', 'unknown_currency'],
    ['a comma as decimal separator', '1,50', 'EUR', 'invalid_amount'],
    ['thousands separators', '1,000.00', 'USD', 'invalid_amount'],
    ['exponent notation', '1e3', 'USD', 'invalid_amount'],
    ['an empty amount', '', 'USD', 'invalid_amount'],
    ['a currency symbol', '$5', 'USD', 'invalid_amount'],
    ['NaN as a number', Number.NaN, 'USD', 'invalid_amount'],
    ['a number too large to be exact', 1e21, 'USD', 'invalid_amount'],
    ['more than Postgres bigint holds', '92233720368547758.08', 'USD', 'amount_out_of_range'],
  ])('refuses %s', (_label, value, code, errorCode) => {
    let caught: unknown;
    try {
      toMinorUnits(value, code);
    } catch (err) {
      caught = err;
    }
    expect(caught).toBeInstanceOf(MoneyError);
    expect((caught as MoneyError).code).toBe(errorCode);
  });
});

describe('fromMinorUnits: integer minor units → decimal text', () => {
  it.each([
    ['USD 5900 is 59.00', 5900n, 'USD', '59.00'],
    ['JPY 5000 is 5000', 5000n, 'JPY', '5000'],
    ['KRW 39000 is 39000', 39000n, 'KRW', '39000'],
    ['BHD 12345 is 12.345', 12345n, 'BHD', '12.345'],
    ['KWD 5 is 0.005', 5n, 'KWD', '0.005'],
    ['CLF 12345 is 1.2345', 12345n, 'CLF', '1.2345'],
    ['USD 1 is 0.01', 1n, 'USD', '0.01'],
    ['USD 0 is 0.00', 0n, 'USD', '0.00'],
    ['USD -5 is -0.05', -5n, 'USD', '-0.05'],
    ['KWD -12345 is -12.345', -12345n, 'KWD', '-12.345'],
    ['JPY -5000 is -5000', -5000n, 'JPY', '-5000'],
    ['USD at the bigint limit', MAX_MINOR, 'USD', '92233720368547758.07'],
  ])('%s', (_label, minor, code, expected) => {
    expect(fromMinorUnits(minor, code)).toBe(expected);
  });

  it('writes what dinero.js writes for any amount and exponent', () => {
    fc.assert(
      fc.property(fc.bigInt({ min: -MAX_MINOR, max: MAX_MINOR }), fc.constantFrom('USD', 'JPY', 'KWD', 'CLF', 'ISK'), (minor, code) => {
        expect(fromMinorUnits(minor, code)).toBe(toDecimal(dinero({ amount: minor, currency: currency(code) })));
      }),
    );
  });
});

describe('exact decimals for rewards', () => {
  it('knows the ISO 4217 exponents from the package table', () => {
    expect([exponent('JPY'), exponent('USD'), exponent('KWD'), exponent('CLF'), exponent('ISK')]).toEqual([
      0, 2, 3, 4, 0,
    ]);
    expect(() => currency('ABC')).toThrow(/unknown currency code "ABC"/);
  });

  it('30% of 99.99 USD is 29.997, not a float', () => {
    expect(decimalText(percentOf(minorToDecimal(9999n, currency('USD')), '30'))).toBe('29.997');
  });

  it('12.5% of 12.345 BHD keeps every digit', () => {
    expect(decimalText(percentOf(minorToDecimal(12345n, currency('BHD')), '12.5'))).toBe('1.543125');
  });

  it('0.1 + 0.2 style sums stay exact', () => {
    const usd = currency('USD');
    const a = decimal('0.1', usd);
    const b = decimal('0.2', usd);
    expect(decimalText(shareOf(a, 1n, 1n))).toBe('0.1');
    expect(decimalText(percentOf(decimal('0.3', usd), '100'))).toBe('0.3');
    expect(decimalText(percentOf(b, '50'))).toBe('0.1');
  });

  it('a share of a reward is its exact proportion, rounded half to even at the reward scale', () => {
    const reward = decimal('29.997', currency('USD'));
    expect(decimalText(shareOf(reward, 3400n, 4900n))).toBe('20.814'); // 20.8143…
    expect(decimalText(shareOf(reward, 1500n, 4900n))).toBe('9.183'); // 9.1827…
    expect(decimalText(shareOf(reward, 2450n, 4900n))).toBe('14.998'); // 14.9985: to even
    expect(decimalText(shareOf(decimal('0.03', currency('USD')), 1n, 2n))).toBe('0.02'); // 0.015: to even
    expect(decimalText(shareOf(reward, 0n, 4900n))).toBe('0');
    expect(decimalText(shareOf(reward, 4900n, 4900n))).toBe('29.997');
  });

  it('non-monetary units are whole-number based', () => {
    expect(decimalText(percentOf(decimal('49', unit('points')), '10'))).toBe('4.9');
  });
});
