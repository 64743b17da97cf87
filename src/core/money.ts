// Money as integer minor units of an ISO 4217 currency, and exact decimals for rewards.
// The currency table and the scaled arithmetic come from dinero.js (bigint calculator):
// no hand-typed exponents, no floats anywhere.
import {
  dinero,
  type Dinero,
  multiply,
  toDecimal,
  toSnapshot,
  add,
  subtract,
  compare,
  transformScale,
  halfEven,
} from 'dinero.js/bigint';
import * as iso4217 from 'dinero.js/bigint/currencies';

export type Currency = { code: string; base: bigint; exponent: bigint };
export type Decimal = Dinero<bigint>;

export class MoneyError extends Error {
  constructor(
    readonly code: 'unknown_currency' | 'invalid_amount' | 'too_many_decimals' | 'amount_out_of_range',
    message: string,
  ) {
    super(message);
    this.name = 'MoneyError';
  }
}

// dinero.js models MGA and MRU by their base-5 subunits; ISO 4217 (and every gateway's minor
// units) count them in hundredths. Everything here is decimal, so take ISO's 2.
const CURRENCIES: ReadonlyMap<string, Currency> = new Map(
  Object.values(iso4217 as Record<string, Currency>).map((c) => [
    c.code,
    c.base === 10n ? c : { code: c.code, base: 10n, exponent: 2n },
  ]),
);

// Postgres bigint holds up to 9223372036854775807; keep every stored amount inside it.
export const MAX_MINOR = 9_223_372_036_854_775_807n;

export function isCurrencyCode(code: string): boolean {
  return CURRENCIES.has(code.toUpperCase());
}

/** The ISO 4217 currency for a code, case-insensitive (`usd` as Stripe sends it works). */
export function currency(code: string): Currency {
  const c = CURRENCIES.get(code.toUpperCase());
  if (!c) throw new MoneyError('unknown_currency', `unknown currency code "${code}"`);
  return c;
}

/** A unit that is not money (points, credits): whole numbers, compared by name. */
export function unit(name: string): Currency {
  return { code: name, base: 10n, exponent: 0n };
}

/** Currency when the code is ISO 4217, else a non-monetary unit. */
export function unitOrCurrency(code: string, isCurrency: boolean): Currency {
  return isCurrency ? currency(code) : unit(code);
}

export function exponent(code: string): number {
  return Number(currency(code).exponent);
}

const DECIMAL_RE = /^(-)?(\d+)(?:\.(\d+))?$/;

/**
 * Parse a decimal string in major units into a scaled bigint, exactly.
 * Trailing zeros beyond `maxScale` are accepted ("59.000" USD is 5900); other extra digits are not.
 */
function parseScaled(value: string, maxScale: number): { amount: bigint; scale: number } {
  const m = DECIMAL_RE.exec(value.trim());
  if (!m) throw new MoneyError('invalid_amount', `"${value}" is not a decimal number`);
  const [, sign, whole, fraction = ''] = m;
  const trimmed = fraction.replace(/0+$/, '');
  if (trimmed.length > maxScale) {
    throw new MoneyError('too_many_decimals', `"${value}" has more than ${maxScale} decimal places`);
  }
  const digits = `${whole}${trimmed.padEnd(maxScale, '0')}`;
  const amount = BigInt(digits) * (sign ? -1n : 1n);
  return { amount, scale: maxScale };
}

function checkRange(minor: bigint, value: string): bigint {
  if (minor > MAX_MINOR || minor < -MAX_MINOR) {
    throw new MoneyError('amount_out_of_range', `"${value}" is too large`);
  }
  return minor;
}

/** "12.345" BHD → 12345n; "5000" JPY → 5000n; "1.5" JPY → too_many_decimals. */
export function toMinorUnits(value: string | number, code: string): bigint {
  return toMinorOf(value, currency(code));
}

/** The same for any currency or unit (a unit such as points counts in whole units). */
export function toMinorOf(value: string | number, cur: Currency): bigint {
  const text = typeof value === 'number' ? numberToText(value) : value;
  const { amount } = parseScaled(text, Number(cur.exponent));
  return checkRange(amount, text);
}

/** 12345n BHD → "12.345"; 5000n JPY → "5000"; -5n USD → "-0.05". */
export function fromMinorUnits(minor: bigint, code: string): string {
  return minorText(minor, Number(currency(code).exponent));
}

/**
 * Minor units as decimal text with `exponent` decimals, by placing the point in the digits (what
 * dinero's toDecimal gives, without its objects: the API formats two amounts of every row it lists).
 */
function minorText(minor: bigint, exponent: number): string {
  if (exponent === 0) return minor.toString();
  const negative = minor < 0n;
  const digits = (negative ? -minor : minor).toString().padStart(exponent + 1, '0');
  return `${negative ? '-' : ''}${digits.slice(0, -exponent)}.${digits.slice(-exponent)}`;
}

/** A JSON number given as an amount: only accept it when its decimal text is exact. */
function numberToText(value: number): string {
  if (!Number.isFinite(value)) throw new MoneyError('invalid_amount', `${value} is not a finite number`);
  const text = String(value);
  if (/e/i.test(text)) throw new MoneyError('invalid_amount', `${text} is outside the exact range`);
  return text;
}

// ---- exact decimals (rewards) ----

/** A decimal of any scale in a currency or unit: "29.997" USD is fine for a reward. */
export function decimal(value: string | number, cur: Currency): Decimal {
  const text = typeof value === 'number' ? numberToText(value) : value;
  const fraction = DECIMAL_RE.exec(text.trim())?.[3] ?? '';
  const scale = Math.max(Number(cur.exponent), fraction.replace(/0+$/, '').length);
  const { amount } = parseScaled(text, scale);
  return dinero({ amount, currency: cur, scale: BigInt(scale) });
}

export function minorToDecimal(minor: bigint, cur: Currency): Decimal {
  return dinero({ amount: minor, currency: cur });
}

/** value × percent / 100, exactly (full scale kept): 30% of 99.99 is 29.997. */
export function percentOf(value: Decimal, percent: string): Decimal {
  const { amount, scale } = parseScaled(percent, Math.max(0, (percent.split('.')[1] ?? '').length));
  return multiply(value, { amount, scale: BigInt(scale + 2) });
}

/** The share `part / whole` of a value, to the value's scale, rounded half to even. */
export function shareOf(value: Decimal, part: bigint, whole: bigint): Decimal {
  if (whole <= 0n) throw new MoneyError('invalid_amount', 'share of a zero whole');
  if (part <= 0n) return multiply(value, 0n);
  if (part >= whole) return value;
  const { amount, currency: cur, scale } = toSnapshot(value);
  return dinero({ amount: divideHalfEven(amount * part, whole), currency: cur, scale });
}

/** n / d for a positive d, rounded half to even. */
function divideHalfEven(n: bigint, d: bigint): bigint {
  const q = n / d;
  const r = n % d;
  const twice = (r < 0n ? -r : r) * 2n;
  if (twice < d || (twice === d && q % 2n === 0n)) return q;
  return n < 0n ? q - 1n : q + 1n;
}

export function sum(values: Decimal[], cur: Currency): Decimal {
  return values.reduce((acc, v) => add(acc, v), dinero({ amount: 0n, currency: cur }));
}

/** A decimal string with no needless trailing zeros: "29.997", "5", "0.5". */
export function decimalText(value: Decimal): string {
  const text = toDecimal(value);
  return text.includes('.') ? text.replace(/\.?0+$/, '') : text;
}

/** Round to a given number of decimals, half to even. */
export function roundTo(value: Decimal, scale: number): Decimal {
  return transformScale(value, BigInt(scale), halfEven);
}

export function isZero(value: Decimal): boolean {
  return toSnapshot(value).amount === 0n;
}

export function currencyOf(value: Decimal): string {
  return toSnapshot(value).currency.code;
}

/** a − b, exactly (same currency or unit). */
export function minus(a: Decimal, b: Decimal): Decimal {
  return subtract(a, b);
}

/** a + b, exactly (same currency or unit). */
export function plus(a: Decimal, b: Decimal): Decimal {
  return add(a, b);
}

/** -1, 0 or 1 as a is below, equal to or above b (same currency or unit). */
export function compareDecimal(a: Decimal, b: Decimal): -1 | 0 | 1 {
  return compare(a, b) as -1 | 0 | 1;
}
