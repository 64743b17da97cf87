// Program settings: what a merchant configures, validated once at every boundary (API, env, DB).
import { z } from 'zod';

export const PROGRAM_TYPES = ['affiliate', 'refer_a_friend'] as const;
export const ATTRIBUTION_MODELS = ['customer', 'transaction'] as const;

export const DecimalString = z
  .string()
  .regex(/^\d{1,15}(\.\d{1,12})?$/, 'a non-negative decimal such as "30" or "12.50"');

/** The largest percent a commission may pay: all of the sale. */
export const MAX_PERCENT = 100n;
/**
 * The largest fixed commission, in the program's currency (or unit): far above any real reward, low
 * enough that a typo (a value in minor units, extra zeros) is refused instead of paid.
 */
export const MAX_FIXED = 1_000_000n;

/** Whether a DecimalString is above a whole-number bound, compared exactly (digits, never floats). */
export function decimalAbove(value: string, max: bigint): boolean {
  const [whole = '', fraction = ''] = value.split('.');
  const w = BigInt(whole);
  return w > max || (w === max && /[1-9]/.test(fraction));
}

const rateFields = {
  type: z.enum(['percent', 'fixed']),
  value: DecimalString,
};

/** A percent is at most all of the sale; a fixed amount at most MAX_FIXED. */
const bounded = (r: { type: 'percent' | 'fixed'; value: string }, ctx: z.RefinementCtx) => {
  if (!DecimalString.safeParse(r.value).success) return;
  if (r.type === 'percent' && decimalAbove(r.value, MAX_PERCENT)) {
    ctx.addIssue({ code: 'custom', path: ['value'], message: `the value of a percent commission is at most ${MAX_PERCENT}` });
  }
  if (r.type === 'fixed' && decimalAbove(r.value, MAX_FIXED)) {
    ctx.addIssue({
      code: 'custom',
      path: ['value'],
      message: `the value of a fixed commission is at most ${MAX_FIXED} (in the program's currency or unit)`,
    });
  }
};

export const CommissionRate = z.object(rateFields).superRefine(bounded);
export type CommissionRate = z.infer<typeof CommissionRate>;

const ruleFields = {
  ...rateFields,
  product_id: z.string().min(1).optional(),
  product_type: z.string().min(1).optional(),
  partner: z.string().min(1).optional(),
};

/**
 * An override. The most specific matching rule wins: a partner match counts 4, a product_id 2,
 * a product_type 1; ties go to the rule listed first.
 */
export const CommissionRule = z
  .object(ruleFields)
  .superRefine(bounded)
  .refine((r) => r.product_id || r.product_type || r.partner, {
    message: 'a rule names a product_id, a product_type or a partner',
  });
export type CommissionRule = z.infer<typeof CommissionRule>;

export const Lifetime = z.discriminatedUnion('kind', [
  z.object({ kind: z.literal('all') }),
  z.object({ kind: z.literal('first') }),
  z.object({ kind: z.literal('months'), months: z.number().int().min(1).max(1200) }),
]);
export type Lifetime = z.infer<typeof Lifetime>;

export const CommissionSettings = z
  .object({
    ...rateFields,
    rules: z.array(CommissionRule).max(500).default([]),
    lifetime: Lifetime.default({ kind: 'all' }),
  })
  .superRefine(bounded);
export type CommissionSettings = z.infer<typeof CommissionSettings>;

/**
 * Settings as stored: the shape, with the defaults added since, but not the bounds, so a program
 * saved before a bound existed still loads (and pays what its merchant set) until it is changed.
 */
export const StoredCommissionSettings: z.ZodType<CommissionSettings, unknown> = z.object({
  ...rateFields,
  rules: z.array(z.object(ruleFields)).max(500).default([]),
  lifetime: Lifetime.default({ kind: 'all' }),
});

export const DEFAULT_COMMISSION: CommissionSettings = {
  type: 'percent',
  value: '20',
  rules: [],
  lifetime: { kind: 'all' },
};

/** A currency code (or the program's unit name) → an amount: limits never convert between currencies. */
const PerUnit = z.record(z.string().trim().min(1).max(32), DecimalString);

const CapFields = {
  /** The most a partner earns from one customer, all its payments together. */
  max_per_customer: PerUnit.optional(),
  /** The most a partner earns in a calendar month (UTC) of the payments' dates. */
  max_per_partner_per_month: PerUnit.optional(),
};

/** Caps on rewards, for the program and per partner (a partner's own cap replaces the program's). */
export const CapSettings = z.object({
  ...CapFields,
  partners: z.record(z.string().min(1).max(255), z.object(CapFields)).default({}),
});
export type CapSettings = z.infer<typeof CapSettings>;

/** Holds that protect the merchant: such rewards wait in review until released or rejected. */
export const FraudSettings = z.object({
  /** Hold a reward whose payer's email is the credited partner's own (case- and +tag-insensitive). */
  self_referral_hold: z.boolean().default(true),
  /** Hold new rewards of a partner whose refunded share of the last `days` exceeds `rate`. */
  refund_rate_hold: z
    .object({
      rate: DecimalString.refine((v) => !decimalAbove(v, 1n), 'a share between 0 and 1, such as "0.25"'),
      days: z.number().int().min(1).max(365).default(30),
      /** Fewer payments than this in the window are too few to judge. */
      min_payments: z.number().int().min(1).max(100_000).default(3),
    })
    .nullable()
    .default(null),
});
export type FraudSettings = z.infer<typeof FraudSettings>;

export const DEFAULT_FRAUD: FraudSettings = FraudSettings.parse({});
export const DEFAULT_CAPS: CapSettings = CapSettings.parse({});

/** What the pure core needs to know about a program. */
export type ProgramRules = {
  id: string;
  type: (typeof PROGRAM_TYPES)[number];
  attributionModel: (typeof ATTRIBUTION_MODELS)[number];
  /** Currency (ISO 4217) of fixed rewards, or the unit name when `isCurrency` is false. */
  currency: string;
  isCurrency: boolean;
  reviewPeriodDays: number;
  commission: CommissionSettings;
  /** Absent: the defaults (self-referral held, no refund-rate hold, no caps). */
  fraud?: FraudSettings;
  caps?: CapSettings;
};
